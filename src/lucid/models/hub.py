"""The registry of published weights and their download: ``Weights``, ``WeightsEnum``, ``register_weights``.

Registered weights (``MobileNet_V3_Large_Weights.IMAGENET1K_V2``, or ``"IMAGENET1K_V2"``,
``"DEFAULT"``) are torchvision's published ImageNet-1k files, downloaded, cached and hash-checked
through ``torch.hub``. Other models register theirs with `register_weights`.
"""

from __future__ import annotations

import difflib
import enum
import functools
import http.client
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError

import torch

from lucid.checkpoint import CheckpointError
from lucid.errors import LucidError
from lucid.preprocessing import IMAGENET_MEAN, IMAGENET_STD  # re-exported: lucid.models.hub's public names

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Weights",
    "WeightsEnum",
    "MobileNet_V3_Small_Weights",
    "MobileNet_V3_Large_Weights",
    "WeightsUnavailableError",
    "imagenet_categories",
    "register_weights",
    "get_weights",
    "list_weights",
    "default_weights",
    "weights_entry",
    "weights_cache_dir",
    "fetch_weights",
]


class WeightsUnavailableError(LucidError, FileNotFoundError):
    """Registered weights are not in the cache and could not be downloaded (e.g. no network)."""


# --------------------------------------------------------------------------------------------
# Registered weights
# --------------------------------------------------------------------------------------------


@functools.cache
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in classifier output order (torchvision's published list)."""
    from torchvision.models import MobileNet_V3_Large_Weights as TorchvisionWeights

    return tuple(TorchvisionWeights.IMAGENET1K_V1.meta["categories"])


@dataclass(frozen=True)
class Weights:
    """One published set of weights: where it lives, how to check it, and what it was trained for.

    ``sha256_prefix`` is the hash prefix in the file name (torch.hub's convention): a download
    whose SHA-256 does not start with it is rejected.
    """

    model_name: str
    tag: str
    url: str
    sha256_prefix: str
    num_params: int
    acc1: float
    acc5: float
    gflops: float
    file_size_mb: float
    recipe: str
    docs: str
    source: str = "torchvision"
    dataset: str = "ImageNet-1K"
    crop_size: int = 224
    resize_size: int = 256
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if f"-{self.sha256_prefix}." not in self.file_name:
            raise ValueError(f"{self.url}: the file name does not carry the hash prefix {self.sha256_prefix!r}")

    @property
    def file_name(self) -> str:
        """The cached file's name (the URL's last component, hash prefix included)."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def meta(self) -> dict[str, Any]:
        """torchvision-style metadata: class names, metrics, sizes, normalisation, provenance."""
        return {
            "categories": list(imagenet_categories()),
            "num_params": self.num_params,
            "metrics": {self.dataset: {"acc@1": self.acc1, "acc@5": self.acc5}},
            "gflops": self.gflops,
            "file_size_mb": self.file_size_mb,
            "input_size": (3, self.crop_size, self.crop_size),
            "crop_size": self.crop_size,
            "resize_size": self.resize_size,
            "interpolation": self.interpolation,
            "mean": self.mean,
            "std": self.std,
            "min_size": (1, 1),
            "url": self.url,
            "sha256_prefix": self.sha256_prefix,
            "source": self.source,
            "recipe": self.recipe,
            "docs": self.docs,
        }

    def transforms(self) -> Any:
        """The evaluation preprocessing these weights expect (PIL image or uint8/float tensor in)."""
        from torchvision.transforms import InterpolationMode, v2

        return v2.Compose(
            [
                v2.ToImage(),
                v2.Resize(self.resize_size, interpolation=InterpolationMode(self.interpolation), antialias=True),
                v2.CenterCrop(self.crop_size),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(self.mean, self.std),
            ]
        )


class WeightsEnum(enum.Enum):
    """Base of the per-model enums of registered weights; each member wraps a `Weights`."""

    @property
    def entry(self) -> Weights:
        return self.value

    @property
    def url(self) -> str:
        return self.value.url

    @property
    def meta(self) -> dict[str, Any]:
        return self.value.meta

    @property
    def model_name(self) -> str:
        return self.value.model_name

    @property
    def file_name(self) -> str:
        return self.value.file_name

    def transforms(self) -> Any:
        return self.value.transforms()

    def fetch(self, progress: bool = True) -> Path:
        """The local file: from the cache, else downloaded and hash-checked through ``torch.hub``."""
        return fetch_weights(self, progress=progress)

    def get_state_dict(self, progress: bool = True) -> dict[str, torch.Tensor]:
        """The weights converted to lucid's keys: ``model.load_state_dict`` of the preset takes them."""
        # Imported here: the conversion reads files and builds a model, which listing weights never needs.
        from lucid.models.convert import convert_state_dict, read_checkpoint
        from lucid.models.model import MobileNet_V3
        from lucid.models.presets import preset_config, source_constants

        loaded = read_checkpoint(fetch_weights(self, progress=progress))
        loaded.entry = self.value
        constants = source_constants(self.model_name, loaded.format)
        model = MobileNet_V3(preset_config(self.model_name, **constants), model_name=self.model_name)
        return convert_state_dict(loaded, model)

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


_TV_RECIPE = "https://github.com/pytorch/vision/tree/main/references/classification#mobilenetv3-large--small"


class MobileNet_V3_Small_Weights(WeightsEnum):
    """torchvision's published ImageNet-1k weights for ``mobilenet_v3_small``."""

    IMAGENET1K_V1 = Weights(
        model_name="mobilenet_v3_small",
        tag="IMAGENET1K_V1",
        url="https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth",
        sha256_prefix="047dcff4",
        num_params=2_542_856,
        acc1=67.668,
        acc5=87.402,
        gflops=0.057,
        file_size_mb=9.829,
        recipe=_TV_RECIPE,
        docs="torchvision's weights: improve on the paper's results with a simple training recipe.",
    )
    DEFAULT = IMAGENET1K_V1


class MobileNet_V3_Large_Weights(WeightsEnum):
    """torchvision's published ImageNet-1k weights for ``mobilenet_v3_large``."""

    IMAGENET1K_V1 = Weights(
        model_name="mobilenet_v3_large",
        tag="IMAGENET1K_V1",
        url="https://download.pytorch.org/models/mobilenet_v3_large-8738ca79.pth",
        sha256_prefix="8738ca79",
        num_params=5_483_032,
        acc1=74.042,
        acc5=91.340,
        gflops=0.217,
        file_size_mb=21.114,
        recipe=_TV_RECIPE,
        docs="torchvision's weights, trained from scratch with a simple training recipe.",
    )
    IMAGENET1K_V2 = Weights(
        model_name="mobilenet_v3_large",
        tag="IMAGENET1K_V2",
        url="https://download.pytorch.org/models/mobilenet_v3_large-5c1a4163.pth",
        sha256_prefix="5c1a4163",
        num_params=5_483_032,
        acc1=75.274,
        acc5=92.566,
        gflops=0.217,
        file_size_mb=21.107,
        recipe="https://github.com/pytorch/vision/issues/3995#new-recipe-with-reg-tuning",
        docs="torchvision's weights, improved with its new training recipe (evaluated at resize 232).",
        resize_size=232,
    )
    DEFAULT = IMAGENET1K_V2


_WEIGHTS: dict[str, type[WeightsEnum]] = {}


def register_weights(model_name: str, weights_enum: type[WeightsEnum]) -> type[WeightsEnum]:
    """Make ``weights_enum``'s members the registered weights of model ``model_name``."""
    if not (isinstance(weights_enum, type) and issubclass(weights_enum, WeightsEnum)):
        raise TypeError(f"register_weights expects a WeightsEnum subclass, got {weights_enum!r}")
    wrong = [str(m) for m in weights_enum if m.model_name != model_name]
    if wrong:
        raise ValueError(f"weights {wrong} are for another model than {model_name!r}")
    _WEIGHTS[model_name] = weights_enum
    return weights_enum


register_weights("mobilenet_v3_small", MobileNet_V3_Small_Weights)
register_weights("mobilenet_v3_large", MobileNet_V3_Large_Weights)


def _available(model_name: str | None) -> str:
    """``"model: NAME, NAME, DEFAULT; ..."`` for error messages."""
    rows = [
        f"{model}: {', '.join([*(member.name for member in enum_cls), 'DEFAULT'])}"
        for model, enum_cls in _WEIGHTS.items()
        if model_name is None or model == model_name
    ]
    return "; ".join(rows) or "none"


def get_weights(model_name: str, name: str) -> WeightsEnum:
    """Registered weights of ``model_name`` by name: ``"IMAGENET1K_V1"``, ``"DEFAULT"`` or
    ``"MobileNet_V3_Small_Weights.IMAGENET1K_V1"``."""
    if not isinstance(name, str):
        raise TypeError(f"weights name must be a str, got {type(name).__name__}")
    enum_cls = _WEIGHTS.get(model_name)
    if enum_cls is None:
        raise ValueError(
            f"no registered weights for model {model_name!r}{_did_you_mean(model_name, _WEIGHTS)}; "
            "models with registered weights: "
            f"{', '.join(sorted(_WEIGHTS)) or 'none'} (pass a checkpoint file instead)"
        )
    prefix, _, member = name.rpartition(".")
    if prefix and prefix != enum_cls.__name__:
        raise ValueError(f"weights {name!r} are not {model_name}'s; registered: {_available(model_name)}")
    try:
        return enum_cls[member]
    except KeyError:
        raise ValueError(
            f"unknown weights {name!r} for {model_name}{_did_you_mean(member, enum_cls.__members__)}; "
            f"registered: {_available(model_name)}"
        ) from None


def _did_you_mean(name: str, choices: Any) -> str:
    """``" (did you mean 'X'?)"`` for the closest of ``choices`` to ``name`` (case-insensitive), or ``""``."""
    lowered = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def list_weights(model_name: str | None = None) -> list[WeightsEnum]:
    """Every registered weights entry (aliases such as ``DEFAULT`` not repeated), optionally of one model."""
    if model_name is not None and model_name not in _WEIGHTS:
        return []
    models = [model_name] if model_name is not None else sorted(_WEIGHTS)
    return [member for model in models for member in _WEIGHTS[model]]


def default_weights(model_name: str) -> WeightsEnum | None:
    """The ``DEFAULT`` entry of ``model_name``, or None when it has no registered weights."""
    enum_cls = _WEIGHTS.get(model_name)
    return enum_cls.__members__.get("DEFAULT") if enum_cls is not None else None


# --------------------------------------------------------------------------------------------
# Cache and download (torch.hub does the transfer, the temporary file and the hash check)
# --------------------------------------------------------------------------------------------


def weights_cache_dir() -> Path:
    """``$LUCID_HOME/checkpoints`` if set, else torch.hub's (``$TORCH_HOME/hub/checkpoints``).

    torch.hub's folder is where torchvision caches the same files, so a file torchvision has
    already downloaded is found without downloading again.
    """
    home = os.environ.get("LUCID_HOME")
    if home:
        return Path(home).expanduser() / "checkpoints"
    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_entry(weights: WeightsEnum | Weights) -> Weights:
    """The `Weights` record of an enum member (or the record itself)."""
    return weights.value if isinstance(weights, WeightsEnum) else weights


def _download_error(entry: Weights, target: Path, exc: BaseException) -> WeightsUnavailableError:
    if isinstance(exc, HTTPError):
        reason = f"the server answered HTTP {exc.code} ({exc.reason})"
    else:
        reason = f"no network connection? ({exc})"
    factory = entry.model_name
    return WeightsUnavailableError(
        f"could not download {entry.model_name} {entry.tag} from {entry.url}: {reason}. "
        f"Registered weights are downloaded once and cached in {target.parent} (set LUCID_HOME or "
        f"TORCH_HOME to move the cache). Without network, copy {entry.file_name} from a machine "
        f'that has it to {target}, or pass the local file: {factory}(weights="/path/to/{entry.file_name}")'
    )


def fetch_weights(weights: WeightsEnum | Weights, *, progress: bool = True) -> Path:
    """The local path of registered weights: the cached file, else a hash-checked download."""
    entry = weights_entry(weights)
    target = weights_cache_dir() / entry.file_name
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsUnavailableError(
            f"cannot create the weights cache {target.parent}: {exc}; set LUCID_HOME to a writable folder"
        ) from None
    try:
        # Writes to a temporary file beside the target and moves it only after the hash matched.
        torch.hub.download_url_to_file(entry.url, str(target), hash_prefix=entry.sha256_prefix, progress=progress)
    except (URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise _download_error(entry, target, exc) from None
    except RuntimeError as exc:
        if "hash" in str(exc):
            raise CheckpointError(
                f"{entry.url}: the downloaded file failed its hash check ({exc}); nothing was cached"
            ) from None
        raise
    return target

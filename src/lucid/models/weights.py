"""Weights for lucid models: lucid checkpoints, torchvision's and timm's files, registered ImageNet weights.

Three sources load into :class:`~lucid.models.MobileNet_V3`:

* lucid checkpoints (``.safetensors`` with lucid metadata, see :mod:`lucid.checkpoint`);
* torchvision's ``mobilenet_v3_small``/``_large`` state dicts (``features.*``/``classifier.*``);
* timm's ``mobilenetv3_*`` state dicts (``conv_stem``/``blocks.*``/``conv_head``), ``.safetensors`` or ``.pth``.

The source is recognised from its keys. Foreign keys are mapped by walking the lucid model's own
blocks (which have an expand stage, which have squeeze-excite), so every architecture lucid can
build loads from the library that publishes it; every key and shape is checked and everything
that does not fit is reported at once, before anything is copied into the model. ``.pth`` files
are read only with ``torch.load(weights_only=True)``: a pickle that would run code is refused.

Registered weights (``MobileNet_V3_Large_Weights.IMAGENET1K_V2``, or ``"IMAGENET1K_V2"``,
``"DEFAULT"``) are torchvision's published ImageNet-1k files, downloaded, cached and hash-checked
through ``torch.hub``.
"""

from __future__ import annotations

import enum
import functools
import http.client
import os
import pickle
import re
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError

import torch
from torch import nn

from lucid import checkpoint
from lucid.checkpoint import CheckpointError, describe_mismatch
from lucid.models.blocks import _SEBlock
from lucid.models.config import MobileNetV3Config
from lucid.models.model import MobileNet_V3
from lucid.models.presets import LOCKED_FIELDS, preset_config

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SOURCE_CONSTANTS",
    "TF_PORT_CONSTANTS",
    "TIMM_TF_PORTS",
    "source_constants",
    "Weights",
    "WeightsEnum",
    "MobileNet_V3_Small_Weights",
    "MobileNet_V3_Large_Weights",
    "WeightsUnavailableError",
    "LoadedCheckpoint",
    "imagenet_categories",
    "register_weights",
    "get_weights",
    "list_weights",
    "weights_cache_dir",
    "fetch_weights",
    "read_checkpoint",
    "detect_format",
    "convert_state_dict",
    "load_weights",
    "build_with_weights",
    "convert_checkpoint",
    "load_model",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The constants each source's weights were trained with: the network must be built with the
# same ones for the outputs to match (BatchNorm eps enters every normalisation).
SOURCE_CONSTANTS: dict[str, dict[str, Any]] = {
    "torchvision": {"bn_eps": 1e-3},
    "timm": {"bn_eps": 1e-5},  # timm's native mobilenetv3_* weights
}
# timm's ports of TensorFlow weights (tf_mobilenetv3_*) were trained with BatchNorm eps 1e-3 and
# TF's SAME padding. Their keys are those of the native models, so the file cannot tell; timm
# publishes the minimalistic networks only as such ports, so those presets take these constants.
# For another tf_ port pass bn_eps=1e-3, padding="same".
TF_PORT_CONSTANTS: dict[str, Any] = {"bn_eps": 1e-3, "padding": "same"}
TIMM_TF_PORTS = frozenset({"mobilenet_v3_small_minimal", "mobilenet_v3_large_minimal"})

# Where each source keeps its first convolution and its last layer (for the checkpoint's
# in_channels and num_classes, which are needed before the model can be built).
_STEM_KEYS = {"lucid": "conv_first.0.weight", "torchvision": "features.0.0.weight", "timm": "conv_stem.weight"}
_HEAD_KEYS = {"lucid": "fc2.1.weight", "torchvision": "classifier.3.weight", "timm": "classifier.weight"}
_LUCID_STEM = "conv_first.0.weight"
_LUCID_HEAD_MODULE = "fc2.1"
_LUCID_HEAD = ("fc2.1.weight", "fc2.1.bias")


def source_constants(model_name: str | None, fmt: str) -> dict[str, Any]:
    """The config values the weights of source ``fmt`` for ``model_name`` were trained with."""
    if fmt == "timm" and model_name in TIMM_TF_PORTS:
        return dict(TF_PORT_CONSTANTS)
    return dict(SOURCE_CONSTANTS.get(fmt, {}))


class WeightsUnavailableError(FileNotFoundError):
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
    """Base of the per-model enums of registered weights; each member wraps a :class:`Weights`."""

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
        fetch_weights(self, progress=progress)
        return build_with_weights(self.model_name, self).state_dict()

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
            f"no registered weights for model {model_name!r}; models with registered weights: "
            f"{', '.join(sorted(_WEIGHTS)) or 'none'} (pass a checkpoint file instead)"
        )
    prefix, _, member = name.rpartition(".")
    if prefix and prefix != enum_cls.__name__:
        raise ValueError(f"weights {name!r} are not {model_name}'s; registered: {_available(model_name)}")
    try:
        return enum_cls[member]
    except KeyError:
        raise ValueError(
            f"unknown weights {name!r} for {model_name}; registered: {_available(model_name)}"
        ) from None


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


def _as_entry(weights: WeightsEnum | Weights) -> Weights:
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
        f"that has it to {target}, or pass the local file: {factory}(weights=\"/path/to/{entry.file_name}\")"
    )


def fetch_weights(weights: WeightsEnum | Weights, *, progress: bool = True) -> Path:
    """The local path of registered weights: the cached file, else a hash-checked download."""
    entry = _as_entry(weights)
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


# --------------------------------------------------------------------------------------------
# Reading files: safetensors or weights-only pickles, never code
# --------------------------------------------------------------------------------------------


@dataclass
class LoadedCheckpoint:
    """A state dict read from somewhere, with what is known about where it came from."""

    state: dict[str, torch.Tensor]
    format: str
    origin: str
    lucid_meta: dict[str, Any] | None = None
    entry: Weights | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def num_classes(self) -> int | None:
        head = self.state.get(_HEAD_KEYS[self.format])
        return int(head.shape[0]) if head is not None and head.dim() >= 1 else None

    def in_channels(self) -> int | None:
        stem = self.state.get(_STEM_KEYS[self.format])
        return int(stem.shape[1]) if stem is not None and stem.dim() == 4 else None


def _is_safetensors(file: Path) -> bool:
    """safetensors starts with an 8-byte little-endian header length and a JSON header."""
    with open(file, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _read_safetensors(file: Path) -> LoadedCheckpoint:
    """A lucid checkpoint (its metadata says so) or a foreign safetensors state dict, e.g. timm's."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            if any(key.startswith("lucid.") for key in metadata):
                meta = checkpoint.read_metadata(file)
                state = checkpoint.load(file)  # checks the format version and the checksum
                return LoadedCheckpoint(state, "lucid", str(file), lucid_meta=meta, extra=meta["extra"])
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{file}: not a readable safetensors file (truncated or corrupted?): {exc}") from None
    state = _unwrap_state(state, str(file))
    return LoadedCheckpoint(state, detect_format(state, str(file)), str(file))


def _refusal(file: Path, exc: Exception) -> CheckpointError:
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
    what = f" (it references {found.group(1)})" if found else ""
    return CheckpointError(
        f"{file}: refused: the pickle holds Python objects other than tensors and plain containers"
        f"{what}; unpickling them could run code, so lucid reads .pth files only with "
        "torch.load(weights_only=True). A full pickled model or a training checkpoint with "
        "optimizer/argument objects is refused too: save model.state_dict() instead, or, if you "
        "trust the file, load it yourself and pass weights=<state dict>"
    )


def _read_pickle(file: Path) -> Any:
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise _refusal(file, exc) from None
        raise CheckpointError(f"{file}: not a readable PyTorch checkpoint (truncated or corrupted?): {exc}") from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, KeyError) as exc:
        raise CheckpointError(f"{file}: not a readable PyTorch checkpoint (truncated or corrupted?): {exc}") from None


_CONTAINER_KEYS = ("state_dict", "model", "model_state_dict", "module")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def _unwrap_state(obj: Any, origin: str) -> dict[str, torch.Tensor]:
    """The tensors of a state dict, also when saved inside ``{"state_dict": ...}`` or by DDP/compile."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{origin}: expected a state dict (names -> tensors), found a {type(obj).__name__}")
    if not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in _CONTAINER_KEYS:
            if isinstance(obj.get(key), Mapping):
                return _unwrap_state(obj[key], origin)
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad or not obj:
        raise CheckpointError(
            f"{origin}: expected a state dict (names -> tensors); "
            + (f"not tensors: {[str(k) for k in bad[:5]]}" if bad else "it is empty")
        )
    state = {str(k): v for k, v in obj.items()}
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def detect_format(state: Mapping[str, torch.Tensor], origin: str = "state dict") -> str:
    """``"lucid"``, ``"torchvision"`` or ``"timm"``, recognised from the state dict's keys."""
    keys = set(state)
    if "conv_first.0.weight" in keys or any(k.startswith("bottlenecks.") for k in keys):
        return "lucid"
    if "features.0.0.weight" in keys or any(k.startswith("features.") and ".block." in k for k in keys):
        return "torchvision"
    if "conv_stem.weight" in keys or any(k.startswith("blocks.") for k in keys):
        return "timm"
    sample = sorted(keys)[:6]
    raise CheckpointError(
        f"{origin}: unrecognised checkpoint layout: expected lucid (conv_first.*, bottlenecks.*), "
        f"torchvision (features.*, classifier.*) or timm (conv_stem.*, blocks.*) keys; found {sample}"
    )


def read_checkpoint(path: str | os.PathLike[str]) -> LoadedCheckpoint:
    """Read a lucid, torchvision or timm checkpoint file safely and recognise its format."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"no weights file at {file}")
    if _is_safetensors(file):
        return _read_safetensors(file)
    state = _unwrap_state(_read_pickle(file), str(file))
    return LoadedCheckpoint(state, detect_format(state, str(file)), str(file))


def _looks_like_weights_name(text: str) -> bool:
    """``DEFAULT``, ``IMAGENET1K_V1`` or ``MobileNet_V3_Small_Weights.IMAGENET1K_V1``; ``model.pth`` is a file."""
    prefix, dot, member = text.rpartition(".")
    if dot and not prefix.endswith("_Weights"):
        return False
    return re.fullmatch(r"[A-Za-z_]\w*", member) is not None


def resolve_weights(weights: Any, model_name: str | None) -> LoadedCheckpoint:
    """Turn any accepted ``weights=`` value into a state dict with its provenance."""
    if isinstance(weights, LoadedCheckpoint):
        return weights
    if isinstance(weights, (WeightsEnum, Weights)):
        entry = _as_entry(weights)
        if model_name is not None and entry.model_name != model_name:
            raise ValueError(f"weights {weights} are for {entry.model_name}, not for {model_name}")
        loaded = read_checkpoint(fetch_weights(entry))
        loaded.entry = entry
        return loaded
    if isinstance(weights, Mapping):
        state = _unwrap_state(weights, "state dict")
        return LoadedCheckpoint(state, detect_format(state), "state dict")
    if isinstance(weights, (str, os.PathLike)):
        text = os.fspath(weights)
        if not os.path.exists(os.path.expanduser(text)) and _looks_like_weights_name(text):
            if model_name is None:
                raise ValueError(f"registered weights {text!r} need a model name; pass a file instead")
            try:
                entry = get_weights(model_name, text)
            except ValueError as exc:
                raise ValueError(f"{exc} (and there is no file {text!r})") from None
            return resolve_weights(entry, model_name)
        return read_checkpoint(text)
    raise TypeError(
        "weights must be a checkpoint path, a registered name such as 'DEFAULT', a weights entry "
        f"or a state dict, got {type(weights).__name__}"
    )


# --------------------------------------------------------------------------------------------
# Key conversion, written against the lucid model's structure
# --------------------------------------------------------------------------------------------


def _block_roles(block: nn.Module, path: str) -> list[tuple[str, str]]:
    """``[(role, module path)]`` of one inverted bottleneck, in order: expand?, depthwise, se?, project."""
    roles: list[tuple[str, str]] = []
    seen_depthwise = False
    for name, child in block.residual.named_children():
        where = f"{path}.residual.{name}"
        if isinstance(child, _SEBlock):
            roles.append(("se", where))
            continue
        conv = child[0] if isinstance(child, nn.Sequential) and len(child) else None
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"{where}: expected a (conv, norm, ...) stage, found {type(child).__name__}")
        if conv.groups > 1:
            roles.append(("depthwise", where))
            seen_depthwise = True
        else:
            roles.append(("project" if seen_depthwise else "expand", where))
    return roles


def _lucid_blocks(model: MobileNet_V3) -> list[list[tuple[str, str]]]:
    return [_block_roles(block, f"bottlenecks.{i}") for i, block in enumerate(model.bottlenecks)]


def _structure_error(origin: str, fmt: str, found: int, model: MobileNet_V3) -> CheckpointError:
    return CheckpointError(
        f"{origin}: the {fmt} checkpoint has {found} inverted-residual blocks but "
        f"{getattr(model, 'model_name', 'the model')} has {len(model.bottlenecks)}: a different architecture"
    )


def _torchvision_pairs(model: MobileNet_V3, state: Mapping[str, torch.Tensor], origin: str) -> list[tuple[str, str]]:
    """(lucid module, torchvision module) pairs: ``features.{i+1}.block.{j}`` in the block's stage order."""
    blocks = _lucid_blocks(model)
    found = {int(m.group(1)) for k in state if (m := re.match(r"features\.(\d+)\.block\.", k))}
    if found and len(found) != len(blocks):
        raise _structure_error(origin, "torchvision", len(found), model)
    pairs = [("conv_first.0", "features.0.0"), ("conv_first.1", "features.0.1")]
    for i, roles in enumerate(blocks):
        for j, (role, path) in enumerate(roles):
            src = f"features.{i + 1}.block.{j}"
            if role == "se":
                pairs += [(f"{path}.fc1", f"{src}.fc1"), (f"{path}.fc2", f"{src}.fc2")]
            else:
                pairs += [(f"{path}.0", f"{src}.0"), (f"{path}.1", f"{src}.1")]
    last = f"features.{len(blocks) + 1}"
    pairs += [("conv_last.0", f"{last}.0"), ("conv_last.1", f"{last}.1")]
    pairs += [("fc1.0", "classifier.0"), ("fc2.1", "classifier.3")]
    return pairs


# timm's names for the stages of an InvertedResidual (with expand) and a DepthwiseSeparableConv.
_TIMM_IR = {"expand": ("conv_pw", "bn1"), "depthwise": ("conv_dw", "bn2"), "project": ("conv_pwl", "bn3")}
_TIMM_DS = {"depthwise": ("conv_dw", "bn1"), "project": ("conv_pw", "bn2")}


def _timm_blocks(state: Mapping[str, torch.Tensor]) -> list[str]:
    """timm's blocks in order, flattened over its stages (``blocks.{stage}.{index}``)."""
    found = {(int(m.group(1)), int(m.group(2))) for k in state if (m := re.match(r"blocks\.(\d+)\.(\d+)\.", k))}
    return [f"blocks.{s}.{i}" for s, i in sorted(found)]


def _timm_pairs(model: MobileNet_V3, state: Mapping[str, torch.Tensor], origin: str) -> list[tuple[str, str]]:
    """(lucid module, timm module) pairs; timm's last block is the ``conv_last`` ConvBnAct."""
    blocks = _lucid_blocks(model)
    timm_blocks = _timm_blocks(state)
    has_head_block = bool(timm_blocks) and f"{timm_blocks[-1]}.conv.weight" in state
    found = len(timm_blocks) - int(has_head_block)
    if found != len(blocks):
        raise _structure_error(origin, "timm", found, model)
    pairs = [("conv_first.0", "conv_stem"), ("conv_first.1", "bn1")]
    for roles, src in zip(blocks, timm_blocks):
        names = _TIMM_IR if any(role == "expand" for role, _ in roles) else _TIMM_DS
        for role, path in roles:
            if role == "se":
                pairs += [(f"{path}.fc1", f"{src}.se.conv_reduce"), (f"{path}.fc2", f"{src}.se.conv_expand")]
            else:
                conv, norm = names[role]
                pairs += [(f"{path}.0", f"{src}.{conv}"), (f"{path}.1", f"{src}.{norm}")]
    head = timm_blocks[-1] if has_head_block else "blocks.<head>"
    pairs += [("conv_last.0", f"{head}.conv"), ("conv_last.1", f"{head}.bn1")]
    pairs += [("fc1.0", "conv_head"), ("fc2.1", "classifier")]
    return pairs


def _has_module(model: nn.Module, path: str) -> bool:
    try:
        model.get_submodule(path)
    except AttributeError:
        return False
    return True


def _fit(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Reshape a 1x1 convolution's (o, i, 1, 1) weight to a linear (o, i) one, or back; else unchanged."""
    src = tuple(tensor.shape)
    if src == tuple(shape):
        return tensor
    if len(src) == 4 and src[2:] == (1, 1) and src[:2] == tuple(shape):
        return tensor.reshape(shape)
    if len(src) == 2 and len(shape) == 4 and tuple(shape[2:]) == (1, 1) and src == tuple(shape[:2]):
        return tensor.reshape(shape)
    return tensor


def _remap(
    state: Mapping[str, torch.Tensor], model: MobileNet_V3, pairs: list[tuple[str, str]], origin: str, fmt: str
) -> dict[str, torch.Tensor]:
    """Rename a foreign state dict to lucid keys, reporting every missing, unused or mis-shaped tensor."""
    target = model.state_dict()
    adaptable = {_LUCID_STEM, *_LUCID_HEAD}
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []
    mismatched: list[str] = []
    for lucid_module, src_module in pairs:
        if lucid_module == _LUCID_HEAD_MODULE and not _has_module(model, lucid_module):
            # A model without classifier (classifier=False) drops the source's, as timm's num_classes=0.
            used.update(k for k in state if k.startswith(f"{src_module}."))
            continue
        for name in model.get_submodule(lucid_module).state_dict():
            key, src = f"{lucid_module}.{name}", f"{src_module}.{name}"
            if src not in state:
                # num_batches_tracked: a counter older files lack (the model's is kept); a missing
                # classifier is re-initialised with a warning by _adapt.
                if name != "num_batches_tracked" and lucid_module != _LUCID_HEAD_MODULE:
                    missing.append(f"{src} (for {key})")
                continue
            used.add(src)
            out[key] = _fit(state[src], target[key].shape)
            if key not in adaptable and tuple(out[key].shape) != tuple(target[key].shape):
                mismatched.append(
                    f"{src} -> {key}: checkpoint {tuple(state[src].shape)} vs model {tuple(target[key].shape)}"
                )
    unexpected = [k for k in state if k not in used]
    problems = describe_mismatch(missing, unexpected, mismatched, unexpected_label="not used by the model")
    if problems:
        name = getattr(model, "model_name", type(model).__name__)
        raise CheckpointError(f"{origin}: the {fmt} checkpoint does not fit {name}: {problems}")
    return out


def _adapt_stem(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """The stem filters for another input channel count, as timm adapts pretrained stems.

    One channel: the sum over the source's channels, so a grey image gives what the RGB model
    gives on that image replicated to RGB. More channels: the source's channels repeated in
    turn and scaled by ``source / target`` to keep the activations' magnitude.
    """
    source = weight.shape[1]
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_channels // source)
    return weight.repeat(1, repeats, 1, 1)[:, :in_channels] * (source / in_channels)


def _outside_lucid() -> int:
    """The ``stacklevel`` of the first caller outside lucid, so a warning points at the user's line."""
    root = os.path.dirname(checkpoint.__file__)
    frame, level = sys._getframe(2), 2  # the caller of the function that asks
    while frame is not None and frame.f_code.co_filename.startswith(root):
        frame, level = frame.f_back, level + 1
    return level


def _adapt(state: dict[str, torch.Tensor], model: MobileNet_V3, origin: str) -> tuple[dict[str, torch.Tensor], bool]:
    """Re-initialise a head of another class count (with a warning) and adapt the stem's channels."""
    target = model.state_dict()
    stem = state.get(_LUCID_STEM)
    want = target[_LUCID_STEM].shape
    if stem is not None and stem.dim() == 4 and stem.shape[0] == want[0] and stem.shape[2:] == want[2:] \
            and stem.shape[1] != want[1]:
        state[_LUCID_STEM] = _adapt_stem(stem, want[1])
    if _LUCID_HEAD[0] not in target:  # a model without classifier keeps none
        for key in _LUCID_HEAD:
            state.pop(key, None)
        return state, False
    head, want = state.get(_LUCID_HEAD[0]), target[_LUCID_HEAD[0]].shape
    if head is None:
        found = "the checkpoint has no classifier"
    elif head.dim() == 2 and head.shape[1] == want[1] and head.shape[0] != want[0]:
        found = f"the checkpoint's classifier has {head.shape[0]} classes but the model {want[0]}"
    else:
        return state, False  # fits, or a mismatch check_state_dict reports
    for key in _LUCID_HEAD:
        state[key] = target[key]  # the model's own fresh initialisation
    warnings.warn(
        f"{origin}: {found}; loaded every weight except the last layer fc2.1, "
        "which is newly initialised (train it before use)",
        UserWarning,
        stacklevel=_outside_lucid(),
    )
    return state, True


def convert_state_dict(
    state: Mapping[str, torch.Tensor] | LoadedCheckpoint, model: MobileNet_V3
) -> dict[str, torch.Tensor]:
    """A lucid state dict for ``model`` from a lucid, torchvision or timm state dict.

    Every key and shape is checked (a :class:`~lucid.checkpoint.CheckpointError` lists all that
    does not fit); a classifier of another class count is replaced by the model's own (with a
    warning) and the stem adapted to the model's ``in_channels``. ``model`` is not modified.
    """
    loaded = resolve_weights(state, getattr(model, "model_name", None))
    return _convert(loaded, model)[0]


def _convert(loaded: LoadedCheckpoint, model: MobileNet_V3) -> tuple[dict[str, torch.Tensor], bool]:
    fmt, origin = loaded.format, loaded.origin
    if fmt == "lucid":
        converted = dict(loaded.state)
    else:
        pairs_of = _torchvision_pairs if fmt == "torchvision" else _timm_pairs
        converted = _remap(loaded.state, model, pairs_of(model, loaded.state, origin), origin, fmt)
        for key, value in model.state_dict().items():
            if key.endswith("num_batches_tracked"):
                converted.setdefault(key, value)
    converted, replaced = _adapt(converted, model, origin)
    checkpoint.check_state_dict(model, converted, source=f"{origin} ({fmt} checkpoint)")
    return converted, replaced


# --------------------------------------------------------------------------------------------
# Loading into models, and the model's pretrained metadata
# --------------------------------------------------------------------------------------------


def _pretrained_cfg(loaded: LoadedCheckpoint, model: MobileNet_V3, head_replaced: bool) -> dict[str, Any]:
    """What a predictor needs to know about the weights: class names, input size, normalisation."""
    config = model.config
    cfg: dict[str, Any] = {
        "source": loaded.format,
        "weights": loaded.origin,
        "input_size": [config.in_channels, 224, 224],
        "crop_size": 224,
        "resize_size": 256,
        "interpolation": "bilinear",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "categories": None,
    }
    if loaded.entry is not None:
        meta = loaded.entry.meta
        cfg.update({k: meta[k] for k in ("crop_size", "resize_size", "interpolation", "metrics", "url", "num_params")})
        cfg.update(weights=str(get_weights(loaded.entry.model_name, loaded.entry.tag)), source=loaded.entry.source,
                   categories=meta["categories"])
    elif loaded.format == "lucid":
        cfg.update((loaded.lucid_meta or {}).get("pretrained_cfg") or {})
        cfg["source"], cfg["weights"] = "lucid", loaded.origin
        categories = loaded.extra.get("categories", loaded.extra.get("class_names"))
        if categories is not None:
            cfg["categories"] = list(categories)
    elif loaded.num_classes() == 1000:
        # Both libraries' 1000-way heads are ImageNet-1k's classes, in this order.
        cfg["categories"] = list(imagenet_categories())
    if head_replaced:
        cfg.update(categories=None, metrics=None)
    if cfg.get("categories") is not None and len(cfg["categories"]) != model.num_classes:
        cfg["categories"] = None
    if len(cfg["mean"]) != config.in_channels:
        # A grey or multi-band input: one shared normalisation, the RGB values' average.
        cfg["mean"] = [sum(cfg["mean"]) / len(cfg["mean"])] * config.in_channels
        cfg["std"] = [sum(cfg["std"]) / len(cfg["std"])] * config.in_channels
    cfg.update(num_classes=model.num_classes, in_channels=config.in_channels)
    cfg["input_size"] = [config.in_channels, *list(cfg["input_size"])[1:]]
    return cfg


def _load_checked(model: MobileNet_V3, loaded: LoadedCheckpoint) -> MobileNet_V3:
    """Convert, check everything, then copy: a checkpoint that does not fit leaves ``model`` unchanged."""
    state, replaced = _convert(loaded, model)
    model.load_state_dict(state)
    model.pretrained_cfg = _pretrained_cfg(loaded, model, replaced)
    return model


def load_weights(model: MobileNet_V3, weights: Any) -> MobileNet_V3:
    """Load weights (any accepted ``weights=`` value) into an existing lucid model and return it.

    Registered names need ``model.model_name`` to have registered weights. A BatchNorm eps that
    differs from the one the source was trained with is warned about, since outputs then differ.
    """
    if not isinstance(model, MobileNet_V3):
        raise TypeError(f"load_weights expects a lucid MobileNet_V3, got {type(model).__name__}")
    loaded = resolve_weights(weights, getattr(model, "model_name", None))
    trained = source_constants(getattr(model, "model_name", None), loaded.format)
    differ = {k: v for k, v in trained.items() if getattr(model.config, k, v) != v}
    if differ:
        mine = {k: getattr(model.config, k) for k in differ}
        warnings.warn(
            f"the model is built with {mine} but {loaded.format}'s weights were trained with "
            f"{differ}: outputs will differ; build the model with weights= to get the source's constants",
            UserWarning,
            stacklevel=2,
        )
    return _load_checked(model, loaded)


def _same(a: Any, b: Any) -> bool:
    """Equality across a JSON round trip (tuples come back as lists)."""
    normalise = lambda v: [normalise(x) for x in v] if isinstance(v, (list, tuple)) else v  # noqa: E731
    return normalise(a) == normalise(b)


def _lucid_constants(name: str, loaded: LoadedCheckpoint) -> dict[str, Any]:
    """The config fields a lucid checkpoint was built with that differ from preset ``name``'s defaults."""
    config = (loaded.lucid_meta or {}).get("config")
    if not config:
        return {}
    default = preset_config(name).to_dict()
    unknown = sorted(set(config) - set(default))
    if unknown:
        raise CheckpointError(f"{loaded.origin}: unknown config fields {unknown} (written by a newer lucid?)")
    skip = {*LOCKED_FIELDS, "num_classes", "in_channels"}
    constants = {k: v for k, v in config.items() if k not in skip and not _same(v, default[k])}
    stored = (loaded.lucid_meta or {}).get("model_name") or "another architecture"
    mismatch = f"{loaded.origin}: holds {stored}, not {name}; rebuild it with lucid.models.load_model(path)"
    try:
        candidate = preset_config(name, **constants).to_dict()
    except TypeError:  # a field this preset fixes (e.g. width_mult of a literal-width table)
        raise CheckpointError(mismatch) from None
    if any(k in config and not _same(config[k], candidate[k]) for k in LOCKED_FIELDS):
        raise CheckpointError(mismatch)
    return constants


def build_with_weights(name: str, weights: Any, **kwargs: Any) -> MobileNet_V3:
    """Build preset ``name`` with the constants of the weights' source and load the weights.

    ``weights``: a lucid/torchvision/timm checkpoint path, a state dict, a registered name
    (``"IMAGENET1K_V1"``, ``"DEFAULT"``) or entry. ``kwargs`` are config fields and win over the
    source's constants; ``num_classes``/``in_channels`` default to the checkpoint's, and other
    values re-initialise the head (with a warning) or adapt the stem.
    """
    loaded = resolve_weights(weights, name)
    constants = _lucid_constants(name, loaded) if loaded.format == "lucid" else source_constants(name, loaded.format)
    found = {"num_classes": loaded.num_classes(), "in_channels": loaded.in_channels()}
    given = {k: v for k, v in kwargs.items() if not (k in found and v is None)}
    values = {**constants, **{k: v for k, v in found.items() if v is not None}, **given}
    model = MobileNet_V3(preset_config(name, **values))
    model.model_name = name
    return _load_checked(model, loaded)


def convert_checkpoint(
    source: Any, model_name: str, out: str | os.PathLike[str], **kwargs: Any
) -> tuple[Path, MobileNet_V3]:
    """Convert a torchvision/timm/lucid checkpoint (or registered weights) into a lucid checkpoint at ``out``.

    ``kwargs`` are as for :func:`build_with_weights`. Returns the written path and the model.
    """
    model = build_with_weights(model_name, source, **kwargs)
    origin = str(source) if not isinstance(source, Mapping) else "state dict"
    extra = {"converted_from": origin, "source_format": model.pretrained_cfg["source"]}
    return checkpoint.save(model, out, extra=extra), model


def load_model(path: str | os.PathLike[str], **overrides: Any) -> MobileNet_V3:
    """Rebuild the model a lucid checkpoint describes and load its weights.

    ``overrides`` change config fields: ``dropout`` and the like freely; ``num_classes``
    re-initialises the classifier (with a warning) and ``in_channels`` adapts the stem. The
    returned model is in eval mode; ``model.checkpoint_extra`` holds the file's extra metadata
    and ``model.pretrained_cfg`` its weights metadata (class names, normalisation).
    """
    file = Path(path).expanduser()
    meta = checkpoint.read_metadata(file)
    if meta["config"] is None:
        raise CheckpointError(f"{file}: checkpoint has no model config; cannot rebuild the model")
    config = MobileNetV3Config.from_dict({**meta["config"], **overrides})
    model = MobileNet_V3(config)
    model.model_name = meta["model_name"] or model.model_name
    loaded = LoadedCheckpoint(checkpoint.load(file), "lucid", str(file), lucid_meta=meta, extra=meta["extra"])
    _load_checked(model, loaded)
    model.checkpoint_extra = meta["extra"]
    return model.eval()

"""The records of published weights and their download: ``Weights``, ``WeightsEnum``, ``fetch_weights``.

A leaf module: it imports no other part of ``lucid.models``, so every module that describes,
converts or registers weights (``hub``, ``convert``, ``lraspp``, ``ssdlite``) can import it
without an import cycle. The registry of which model has which weights is `lucid.models.hub`.
"""

from __future__ import annotations

import enum
import functools
import http.client
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError

import torch

from lucid.checkpoint import CheckpointError
from lucid.errors import LucidError
from lucid.preprocessing import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "Weights",
    "WeightsEnum",
    "WholeImageWeights",
    "WeightsUnavailableError",
    "imagenet_categories",
    "weights_entry",
    "weights_cache_dir",
    "fetch_weights",
]


class WeightsUnavailableError(LucidError, FileNotFoundError):
    """Registered weights are not in the cache and could not be downloaded (e.g. no network)."""


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@functools.cache
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in classifier output order (torchvision's published list)."""
    from torchvision.models import MobileNet_V3_Large_Weights as TorchvisionWeights

    return tuple(TorchvisionWeights.IMAGENET1K_V1.meta["categories"])


@dataclass(frozen=True, kw_only=True)
class Weights:
    """One published set of weights: where it lives, how to check it, and what it was trained for.

    ``sha256_prefix`` is the hash prefix in the file name (torch.hub's convention): a download
    whose SHA-256 does not start with it is rejected. Fields are given by name.
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

    def published_metrics(self) -> dict[str, float]:
        """The metrics published for these weights on ``dataset``, by torchvision's names."""
        return {"acc@1": self.acc1, "acc@5": self.acc5}

    @property
    def meta(self) -> dict[str, Any]:
        """torchvision-style metadata: class names, metrics, sizes, normalisation, provenance."""
        return {
            "categories": list(imagenet_categories()),
            "num_params": self.num_params,
            "metrics": {self.dataset: self.published_metrics()},
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


@dataclass(frozen=True, kw_only=True)
class WholeImageWeights(Weights):
    """Weights of a model that sees the whole image (segmentation, detection): their own class
    names (``categories``), their task's metrics instead of top-1/top-5 (``acc1``/``acc5`` NaN;
    `published_metrics`), and no centre crop."""

    acc1: float = math.nan
    acc5: float = math.nan
    categories: tuple[str, ...] = ()

    def published_metrics(self) -> dict[str, float]:
        """The task's metrics published for these weights on ``dataset`` (torchvision's names)."""
        return {}

    @property
    def meta(self) -> dict[str, Any]:
        meta = super().meta
        meta.update(
            categories=list(self.categories),
            input_size=(3, self.resize_size, self.resize_size),
            crop_size=None,
        )
        return meta


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
        """The weights converted to lucid's keys: the registered model they are for, built with
        them (its factory converts and checks them), gives its state dict, which that model's
        ``load_state_dict`` takes."""
        from lucid.models.registry import get_model_factory

        return get_model_factory(self.model_name)(weights=self).state_dict()

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


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

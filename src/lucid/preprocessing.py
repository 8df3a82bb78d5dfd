"""The one preprocessing record of lucid: image -> model input, as training, evaluation, weights,
exports and the Predictor all use it.

A model is a function of normalised ``(N, C, H, W)`` float32 tensors; to use it on images one
needs the input size, the resize rule, the channel count, the mean/std it was trained with, and
for drawings the ink polarity of its training data. `Preprocessing` holds exactly that;
checkpoints (``pretrained_cfg`` / ``checkpoint_extra``), exported files (``metadata_props``) and
registered weights carry it, and `model_preprocessing` reads it back from a model.

This module is a leaf: it imports torch, torchvision, numpy and PIL, and nothing of lucid but
`lucid.errors`, so every layer (models, data, train, deploy, segment) can import it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lucid.errors import DataError

# The largest image side lucid resizes to, exports at or builds an input of: above any
# MobileNet-v3 use, below sizes whose tensors would exhaust memory (a 100,000-pixel square
# of 3 channels is 120 GB of float32).
MAX_IMAGE_SIZE = 4096
# The short-side resize before a centre crop of MAX_IMAGE_SIZE (round(4096 / 0.875)): a model
# trained at the largest size records it, and must still load and export.
MAX_RESIZE_SIZE = 4681

__all__ = [
    "MAX_IMAGE_SIZE",
    "MAX_RESIZE_SIZE",
    "CROP_FRACTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INKS",
    "INTERPOLATIONS",
    "KEY_CLASSES",
    "ImageLike",
    "Preprocessing",
    "channel_stats",
    "model_classes",
    "model_preprocessing",
    "border_is_light",
    "normalise_ink",
    "read_classes",
    "read_image",
    "open_image",
    "decoded_size",
    "resize_size_for",
    "write_classes",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
# Polarity of drawings a model was trained on: strokes lighter or darker than their background.
INKS = ("light-on-dark", "dark-on-light")
# Evaluation resizes the short side to size / 0.875, then centre-crops (224 -> 256 -> 224):
# torchvision's and timm's convention for ImageNet classifiers.
CROP_FRACTION = 0.875

# metadata_props keys (values are JSON): what a reader of the ONNX file needs to feed it.
_KEYS = ("image_size", "in_channels", "mean", "std", "resize_size", "interpolation", "ink")
KEY_CLASSES = "classes"


def resize_size_for(image_size: int) -> int:
    """The short-side resize before the centre crop of ``image_size``: ``round(size / 0.875)`` (224 -> 256)."""
    return round(image_size / CROP_FRACTION)


def channel_stats(
    in_channels: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` for an input of ``in_channels``: the given statistics (ImageNet's by default)
    when they have one value per channel, else their average repeated per channel.

    This is lucid's grey-input rule (a grey model normalises with the RGB statistics' average),
    used alike by its weights, training, evaluation and exports.
    """
    return _per_channel(mean, in_channels), _per_channel(std, in_channels)


def _per_channel(values: Sequence[float], channels: int) -> tuple[float, ...]:
    if len(values) == channels:
        return tuple(float(v) for v in values)
    return (sum(values) / len(values),) * channels


ImageLike = str | os.PathLike | np.ndarray | torch.Tensor | Any  # Any: a PIL image


def _positive_int(name: str, value: Any, maximum: int | None = None) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum} pixels, got {value!r}")
    return int(value)


def _floats(name: str, values: Any, count: int) -> tuple[float, ...]:
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = [values] * count
    try:
        result = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {count} numbers (one per input channel), got {values!r}") from None
    if len(result) != count:
        raise ValueError(f"{name} must have one value per input channel ({count}), got {len(result)}: {values!r}")
    return result


def _size_pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"image_size must be an int or (height, width), got {value!r}")
    return (
        _positive_int("image_size height", value[0], MAX_IMAGE_SIZE),
        _positive_int("image_size width", value[1], MAX_IMAGE_SIZE),
    )


@dataclass(frozen=True)
class Preprocessing:
    """Image -> model input: resize, centre-crop, channels, scale to [0, 1], normalise.

    ``resize_size`` is the short side before the centre crop of ``image_size`` (H, W); None
    resizes straight to ``image_size`` (for inputs that are already tight crops, e.g. digits).
    ``ink`` is the polarity of the drawings the model was trained on (``"light-on-dark"`` for the
    digits); when set, calling the record on images inverts those of the other polarity first
    (`normalise_ink`). None: photos, or not recorded.
    """

    image_size: tuple[int, int]
    in_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize_size: int | None = None
    interpolation: str = "bilinear"
    ink: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", _size_pair(self.image_size))
        channels = _positive_int("in_channels", self.in_channels)
        object.__setattr__(self, "in_channels", channels)
        object.__setattr__(self, "mean", _floats("mean", self.mean, channels))
        std = _floats("std", self.std, channels)
        if any(s <= 0 for s in std):
            raise ValueError(f"std values must be positive, got {std}")
        object.__setattr__(self, "std", std)
        if self.resize_size is not None:
            object.__setattr__(self, "resize_size", _positive_int("resize_size", self.resize_size, MAX_RESIZE_SIZE))
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        if self.ink is not None and self.ink not in INKS:
            raise ValueError(f"ink must be one of {', '.join(INKS)} or None, got {self.ink!r}")

    # ---------------------------------------------------------------- (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values of every field (``ink`` only when recorded, so photo models' files
        are as before)."""
        values: dict[str, Any] = {
            "image_size": list(self.image_size),
            "in_channels": self.in_channels,
            "mean": list(self.mean),
            "std": list(self.std),
            "resize_size": self.resize_size,
            "interpolation": self.interpolation,
        }
        if self.ink is not None:
            values["ink"] = self.ink
        return values

    def to_metadata(self) -> dict[str, str]:
        """ONNX ``metadata_props`` entries: one key per field, JSON-encoded values."""
        return {key: json.dumps(value) for key, value in self.to_dict().items()}

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], source: str = "model") -> Preprocessing:
        """Read what `to_metadata` wrote; a file without it is a ValueError naming the keys."""
        missing = [k for k in ("image_size", "in_channels", "mean", "std") if k not in props]
        if missing:
            raise ValueError(
                f"{source} records no lucid preprocessing (metadata keys {missing} missing); export it with "
                "lucid.deploy.export or pass preprocessing=Preprocessing(...)"
            )
        try:
            values = {k: json.loads(props[k]) for k in _KEYS if k in props}
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: preprocessing metadata is not valid JSON: {exc}") from None
        return cls(**values)

    # ---------------------------------------------------------------- images -> input

    def transform(self) -> Any:
        """The torchvision v2 pipeline for one ``(C, H, W)`` image tensor (uint8, or float in [0, 1]).

        The same steps, in the same order, as lucid.train's evaluation transform: resize,
        centre-crop, grey/RGB conversion, scale to float, normalise.
        """
        from torchvision.transforms import v2

        mode = v2.InterpolationMode(self.interpolation)
        steps: list[Any] = []
        if self.resize_size is None:
            steps.append(v2.Resize(list(self.image_size), interpolation=mode, antialias=True))
        else:
            steps += [
                v2.Resize(self.resize_size, interpolation=mode, antialias=True),
                v2.CenterCrop(list(self.image_size)),
            ]
        if self.in_channels == 1:
            steps.append(v2.Grayscale(1))
        elif self.in_channels == 3:
            steps.append(v2.RGB())
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(self.mean), list(self.std))]
        return v2.Compose(steps)

    def __call__(self, images: ImageLike | Sequence[ImageLike]) -> np.ndarray:
        """The ``(N, C, H, W)`` float32 model input for one image or a sequence of images."""
        items = _as_image_list(images)
        if not items:
            raise ValueError("no images given")
        transform = self.transform()
        batch = []
        for item in items:
            image = read_image(item, self.in_channels if self.in_channels in (1, 3) else None)
            _check_channels(image, self.in_channels, item)
            if image.shape[-1] == 0 or image.shape[-2] == 0:
                raise DataError(f"{_describe(item)} is an empty image ({image.shape[-2]}x{image.shape[-1]} pixels)")
            batch.append(transform(normalise_ink(image, self.ink)))
        return torch.stack(batch).numpy()


# ---------------------------------------------------------------------------------------------
# reading images
# ---------------------------------------------------------------------------------------------


def _is_pil(obj: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - torchvision depends on Pillow
        return False
    return isinstance(obj, Image.Image)


def _as_image_list(images: Any) -> list[Any]:
    """One image or many: a 4-d array/tensor is a batch of images, a list/tuple holds images."""
    if isinstance(images, (str, os.PathLike)) or _is_pil(images):
        return [images]
    if isinstance(images, (np.ndarray, torch.Tensor)):
        if images.ndim == 4:
            return list(images)
        return [images]
    if isinstance(images, Iterable):
        return list(images)
    raise TypeError(f"images must be paths, PIL images, arrays or tensors, got {type(images).__name__}")


def _array_to_chw(array: np.ndarray) -> torch.Tensor:
    """numpy convention: uint8 images are (H, W) or (H, W, C); float images are (H, W) or (C, H, W)."""
    if array.ndim == 2:
        return torch.from_numpy(np.ascontiguousarray(array))[None]
    if array.ndim != 3:
        raise ValueError(f"an image array must be 2-d or 3-d, got shape {array.shape}")
    if array.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
    if np.issubdtype(array.dtype, np.floating):  # float16/64 convert to the float32 the model takes
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    raise DataError(f"image arrays must be uint8 (H, W, C) or float (C, H, W), got dtype {array.dtype}")


def _drop_alpha(image: torch.Tensor) -> torch.Tensor:
    """Grey+alpha -> grey, RGBA -> RGB (as PIL's ``convert`` does)."""
    return image[:1] if image.shape[0] == 2 else image[:3] if image.shape[0] == 4 else image


def _describe(item: Any) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    shape = getattr(item, "shape", None)
    return f"{type(item).__name__} of shape {tuple(shape)}" if shape is not None else type(item).__name__


def _check_channels(image: torch.Tensor, channels: int, item: Any) -> None:
    """Grey and RGB images convert into each other; any other count must match the model's."""
    have = image.shape[0]
    if have != channels and not (have in (1, 3) and channels in (1, 3)):
        raise ValueError(f"{_describe(item)} has {have} channels but the model takes {channels}")


def _to_8bit(image: Any) -> Any:
    """An 8-bit PIL image (``L``, ``LA``, ``RGB`` or ``RGBA``) with the same picture."""
    from PIL import Image

    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        array = np.asarray(image)
        if mode == "F":
            array = array.astype(np.float64)
            top = 1.0 if float(np.nanmax(array, initial=0.0)) <= 1.0 else 255.0
            scaled = np.nan_to_num(array) * (255.0 / top)
        elif mode == "I" and int(array.max(initial=0)) <= 255 and int(array.min(initial=0)) >= 0:
            scaled = array.astype(np.float64)  # 8-bit values stored in 32-bit integers
        else:
            scaled = array.astype(np.float64) / 257.0  # 16-bit range 0..65535 -> 0..255
        return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
    if mode in ("P", "PA"):
        return image.convert("RGBA" if "transparency" in image.info or mode == "PA" else "RGB")
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV: PIL's colour conversions


def _flatten(image: Any) -> Any:
    """Composite an image with alpha over a white background."""
    from PIL import Image

    if image.mode not in ("LA", "RGBA"):
        return image
    background = Image.new(image.mode, image.size, (255,) * len(image.mode))
    return Image.alpha_composite(background, image).convert(image.mode[:-1])


def open_image(path_like: str | os.PathLike[str], *, exif: bool = True, min_side: int | None = None) -> Any:
    """Decode an image file into an 8-bit PIL image (``L`` or ``RGB``): the one decoder behind
    training, evaluation, ``lucid predict`` and every exported model's `Predictor`, so one photo
    gives one model input everywhere. ``Image.convert("RGB")`` alone is wrong for several modes:
    16- and 32-bit grey (``I;16``, ``I``) and float (``F``) images are clipped to 255 (a 16-bit PNG
    comes out almost white), and transparent images keep whatever colour hides under alpha 0.
    Here every mode is scaled to 8 bits first, transparency is composited over white (as image
    viewers show it) and, with ``exif``, the EXIF orientation is applied (as viewers show the
    photo). Decoding goes through PIL, as torchvision's ImageFolder loader does (torchvision's own
    ``decode_image`` is deprecated since 0.29 in favour of torchcodec).

    ``min_side``: a JPEG whose shorter side is at least twice that is decoded at a half, a quarter
    or an eighth of its size (libjpeg's scaled decoding, PIL's ``Image.draft``), the smallest
    that keeps the shorter side at ``min_side`` or more. A caller that shrinks the photo anyway
    then decodes a 12-megapixel photo many times faster; it must scale what it measures in the
    photo's pixels by the size it gets. Other formats decode whole.
    """
    from PIL import Image, ImageOps

    path = Path(path_like).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}")
    try:
        with Image.open(path) as opened:
            if min_side is not None and opened.format == "JPEG":
                _draft(opened, min_side)
            image = ImageOps.exif_transpose(opened) if exif else opened
            image.load()
            image = _flatten(_to_8bit(image))
    except Image.DecompressionBombError as exc:
        # PIL's guard against images whose pixel count would exhaust memory (MAX_IMAGE_PIXELS).
        raise DataError(f"{path}: refused, too many pixels to decode safely ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure means the file is unusable
        raise DataError(f"{path}: cannot decode the image ({type(exc).__name__}: {exc})") from None
    return image if image.mode in ("L", "RGB") else image.convert("RGB")


def decoded_size(path_like: str | os.PathLike[str], *, min_side: int | None = None) -> tuple[int, int] | None:
    """The stored ``(width, height)`` `open_image` decodes the file at with ``min_side`` (a JPEG's
    reduced scale included), from its header alone: PIL's ``draft`` only sets the decoder's scale.
    None when the file is not a readable image."""
    from PIL import Image

    try:
        with Image.open(Path(path_like).expanduser()) as opened:
            if min_side is not None and opened.format == "JPEG":
                _draft(opened, min_side)
            return opened.size
    except Exception:  # noqa: BLE001 - an unreadable file is reported by the decoding step
        return None


def _draft(image: Any, min_side: int) -> None:
    """Ask PIL's JPEG decoder for the smallest scale (1/2, 1/4, 1/8) that keeps the shorter side
    at ``min_side`` or more; nothing when even half the size is shorter."""
    width, height = image.size
    scale = min(width, height) / max(1, min_side)
    if scale < 2:
        return
    image.draft(image.mode, (math.ceil(width / scale), math.ceil(height / scale)))


def read_image(image: ImageLike, channels: int | None = None) -> torch.Tensor:
    """A ``(C, H, W)`` tensor (uint8, or float in [0, 1]) from a path, PIL image, array or tensor.

    Files and PIL images go through the one decoder (`open_image`: 8-bit scaling, alpha composited
    over white, EXIF orientation) and, with ``channels`` (1 or 3), PIL's own grey/RGB conversion,
    exactly as training reads them; otherwise grey images stay one channel and colour ones three,
    and `Preprocessing.transform` converts to the model's channels.
    """
    if isinstance(image, (str, os.PathLike)):
        image = open_image(image)
    if _is_pil(image):
        from PIL import ImageOps
        from torchvision.transforms.v2 import functional as F

        given: Any = image
        pil: Any = _flatten(_to_8bit(ImageOps.exif_transpose(given)))
        mode = {1: "L", 3: "RGB"}.get(channels or 0) or (pil.mode if pil.mode in ("L", "RGB") else "RGB")
        return F.pil_to_tensor(pil if pil.mode == mode else pil.convert(mode))
    if isinstance(image, np.ndarray):
        return _drop_alpha(_array_to_chw(image))
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
        if tensor.is_floating_point() and tensor.dtype != torch.float32:
            tensor = tensor.to(torch.float32)  # fp16/bf16/fp64: the transforms and the model take float32
        if tensor.ndim == 2:
            tensor = tensor[None]
        if tensor.ndim != 3:
            raise ValueError(f"an image tensor must be (C, H, W) or (H, W), got shape {tuple(image.shape)}")
        return tensor
    raise TypeError(f"an image must be a path, PIL image, numpy array or tensor, got {type(image).__name__}")


# ---------------------------------------------------------------------------------------------
# what a model knows about its preprocessing
# ---------------------------------------------------------------------------------------------


def _model_in_channels(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "in_channels"):
        return int(config.in_channels)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return int(module.in_channels)
    raise ValueError(f"cannot tell the input channels of {type(model).__name__}; pass in_channels=")


def _sources(model: nn.Module) -> list[Mapping[str, Any]]:
    """Where a lucid model keeps what it was trained with, lowest priority first.

    ``pretrained_cfg``: set when weights are loaded (registered, torchvision, timm, lucid files).
    ``checkpoint_extra``: a training run's record, flat or under ``"data"`` (lucid.train).
    """
    found: list[Mapping[str, Any]] = []
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, Mapping):
        found.append(cfg)
    extra = getattr(model, "checkpoint_extra", None)
    if isinstance(extra, Mapping):
        found.append(extra)
        if isinstance(extra.get("data"), Mapping):
            found.append(extra["data"])
    return found


def _image_size_of(source: Mapping[str, Any]) -> Any:
    for key in ("image_size", "img_size", "crop_size"):
        if source.get(key) is not None:
            return source[key]
    size = source.get("input_size")
    if isinstance(size, (list, tuple)) and len(size) == 3:
        return tuple(size[1:])
    return None


def model_preprocessing(model: nn.Module, **overrides: Any) -> Preprocessing:
    """The preprocessing ``model`` was trained with: recorded values, else ImageNet's conventions.

    Priority: ``overrides`` (None values ignored) > ``model.checkpoint_extra`` (training record)
    > ``model.pretrained_cfg`` (loaded weights) > defaults (224 crop of a 256 resize; ImageNet
    mean/std, their channel average for a grey model).
    """
    unknown = sorted(set(overrides) - set(_KEYS))
    if unknown:
        raise TypeError(f"unknown preprocessing fields {unknown}; expected some of {list(_KEYS)}")
    channels = _model_in_channels(model)
    values: dict[str, Any] = {"in_channels": channels, "interpolation": "bilinear"}
    for source in _sources(model):
        size = _image_size_of(source)
        if size is not None:
            values["image_size"] = size
            values.pop("resize_size", None)  # a new size with an old resize would mis-crop
        for key in ("mean", "std", "resize_size", "interpolation", "ink"):
            if source.get(key) is not None:
                values[key] = source[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["in_channels"] = channels if overrides.get("in_channels") is None else overrides["in_channels"]
    size = _size_pair(values.setdefault("image_size", 224))
    if "resize_size" not in values:
        values["resize_size"] = resize_size_for(min(size))
    mean = np.atleast_1d(values.get("mean", IMAGENET_MEAN)).tolist()
    std = np.atleast_1d(values.get("std", IMAGENET_STD)).tolist()
    values["mean"], values["std"] = channel_stats(values["in_channels"], mean, std)
    return Preprocessing(**values)


def model_classes(model: nn.Module, classes: Sequence[str] | None = None) -> list[str] | None:
    """The class names of ``model``'s outputs: given > training record > weights' categories."""
    chosen: Any = None
    for source in _sources(model):
        for key in ("categories", "classes", "class_names"):
            if source.get(key) is not None:
                chosen = source[key]
                break
    if classes is not None:
        chosen = classes
    if chosen is None:
        return None
    names = [str(c) for c in chosen]
    num_classes = getattr(getattr(model, "config", None), "num_classes", None)
    if num_classes is not None and len(names) != num_classes:
        if classes is not None:
            raise ValueError(f"{len(names)} class names given for a model with {num_classes} outputs")
        return None  # recorded names of another head (e.g. replaced classifier): not this model's
    return names


def write_classes(classes: Sequence[str] | None) -> dict[str, str]:
    """The ``classes`` metadata entry (absent when the names are unknown)."""
    return {} if classes is None else {KEY_CLASSES: json.dumps(list(classes))}


def read_classes(props: Mapping[str, str]) -> list[str] | None:
    """Class names recorded by `write_classes`, or None."""
    if KEY_CLASSES not in props:
        return None
    try:
        names = json.loads(props[KEY_CLASSES])
    except json.JSONDecodeError as exc:
        raise ValueError(f"the model's class-name metadata is not valid JSON: {exc}") from None
    return [str(n) for n in names]


# ---------------------------------------------------------------------------------------------
# ink polarity of drawings
# ---------------------------------------------------------------------------------------------


def _is_light_border(grey: np.ndarray) -> bool:
    """Whether the outer ring (1/8 of each side) of a grey image in [0, 1] is lighter than mid-grey."""
    h, w = grey.shape
    bh, bw = max(1, h // 8), max(1, w // 8)
    ring = np.concatenate([grey[:bh].ravel(), grey[-bh:].ravel(), grey[:, :bw].ravel(), grey[:, -bw:].ravel()])
    return float(ring.mean()) > 0.5


def border_is_light(image: Any) -> bool:
    """Whether the border of a PIL image or ``(C, H, W)`` tensor (uint8, or float in [0, 1]) is light."""
    if isinstance(image, torch.Tensor):
        from torchvision.transforms.v2 import functional as F

        grey = F.rgb_to_grayscale(image[:3]) if image.shape[0] >= 3 else image[:1]
        scale = 255.0 if grey.dtype == torch.uint8 else 1.0
        return _is_light_border(grey[0].to(torch.float32).numpy() / scale)
    return _is_light_border(np.asarray(image.convert("L"), dtype=np.float32) / 255.0)


def normalise_ink(image: Any, ink: str | None) -> Any:
    """Invert a drawing whose background polarity differs from the training data's.

    ``image``: a PIL image or a ``(C, H, W)`` tensor (uint8, or float in [0, 1]). ``ink`` is the
    training data's polarity: ``"light-on-dark"`` (e.g. the digits: white strokes on black) or
    ``"dark-on-light"``; None leaves the image alone. A picture whose border is light given
    ``"light-on-dark"`` (a paint program's black-on-white), or dark given ``"dark-on-light"``, is
    inverted; any other is returned as it is.
    """
    if ink is None:
        return image
    if ink not in INKS:
        raise DataError(f"ink polarity must be light-on-dark or dark-on-light, got {ink!r}")
    if (ink == "light-on-dark") != border_is_light(image):
        return image
    if isinstance(image, torch.Tensor):
        return 255 - image if image.dtype == torch.uint8 else 1.0 - image
    from PIL import ImageOps

    return ImageOps.invert(image.convert("RGB") if image.mode not in ("L", "RGB") else image)

"""Decoding image files for lucid, reading their sizes from headers, choosing the training size,
and the ink polarity of grey line drawings.

Decoding goes through PIL (what torchvision's own folder loader uses), but ``Image.convert("RGB")``
alone is wrong for several modes: 16- and 32-bit grey (``I;16``, ``I``) are clipped to 255, so a
16-bit PNG comes out almost white; float images (``F``) are clipped the same way; transparent
images keep whatever colour hides under alpha 0. `load_image` scales every mode to 8 bits
first and composites transparency over white (as image viewers show it).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lucid.errors import DataError
from lucid.preprocessing import border_is_light, normalise_ink  # ink polarity: one home, re-exported here

__all__ = [
    "MAX_AUTO_SIZE",
    "MIN_TRAIN_SIZE",
    "SIZE_MULTIPLE",
    "SMALL_IMAGE_MAX",
    "SizeChoice",
    "border_is_light",
    "image_size_of",
    "infer_image_size",
    "load_image",
    "normalise_ink",
]

# Images whose typical short side is at most this many pixels get the small-image recipe.
SMALL_IMAGE_MAX = 64
# The stride-32 network sees a 1x1 map at 32 px; smaller photos are upsampled to this size
# (measured against a stride-16 low-resolution variant: docs/training.md, "Small images").
MIN_TRAIN_SIZE = 64
# Without --img-size the training size is capped here (ImageNet's size).
MAX_AUTO_SIZE = 224
# The size is rounded to a multiple of the network's output stride.
SIZE_MULTIPLE = 32
# Header sizes read for the inference (evenly spaced over the sorted file list).
SIZE_SAMPLE = 1000


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


def load_image(path: str | os.PathLike[str], channels: int = 3) -> Any:
    """Decode ``path`` into a PIL image with ``channels`` channels (1: ``L``, 3: ``RGB``).

    Every PIL mode is scaled to 8 bits first (16-bit grey divided by 257, not clipped), palette
    and transparent images are composited over white, and the EXIF orientation is applied.
    Raises `DataError` naming the file when it cannot be decoded.
    """
    from PIL import Image, ImageOps

    if channels not in (1, 3):
        raise DataError(f"image files give 1 (grey) or 3 (RGB) channels; asked for {channels}")
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
            image = _flatten(_to_8bit(image))
    except Exception as exc:  # noqa: BLE001 - any decoder failure means the file is unusable
        raise DataError(f"{path}: cannot decode the image ({type(exc).__name__}: {exc})") from None
    return image.convert("L" if channels == 1 else "RGB")


def image_size_of(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(width, height)`` from the file's header only (no pixel decoding); None if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except Exception:  # noqa: BLE001 - an unreadable file is reported by the decoding step
        return None


class SizeChoice:
    """The training size chosen from the data, with the numbers behind it (``reason``).

    ``size`` is for the standard (stride-32) network; ``native`` is the typical size rounded to a
    multiple of 32 before raising it to 64 (``upsampled`` says it was raised), the size a
    low-resolution (stride-16) network trains at without upsampling."""

    def __init__(self, size: int, typical: int, small: bool, reason: str, native: int | None = None) -> None:
        self.size = size
        self.typical = typical
        self.small = small
        self.reason = reason
        self.native = size if native is None else native

    @property
    def upsampled(self) -> bool:
        return self.native < self.size

    def __repr__(self) -> str:
        return f"SizeChoice(size={self.size}, typical={self.typical}, small={self.small})"


def infer_image_size(files: Sequence[Path], *, cap: int = MAX_AUTO_SIZE) -> SizeChoice:
    """Choose a training size from the images' headers (up to 1,000 evenly spaced files).

    The typical size is the median short side. It is rounded to a multiple of 32 (the network's
    output stride), capped at ``cap`` and, for small photos, raised to 64 so the stride-32
    network still sees a 2x2 map at the end (upsampling, see docs/training.md).
    """
    if not files:
        raise DataError("no image files to read a size from")
    step = max(1, len(files) // SIZE_SAMPLE)
    sizes = [s for s in (image_size_of(p) for p in list(files)[::step][:SIZE_SAMPLE]) if s is not None]
    if not sizes:
        raise DataError(f"none of the {len(files)} image headers could be read (first: {files[0]})")
    typical = int(statistics.median(min(w, h) for w, h in sizes))
    rounded = max(SIZE_MULTIPLE, SIZE_MULTIPLE * round(typical / SIZE_MULTIPLE))
    size = max(MIN_TRAIN_SIZE, min(cap, rounded))
    small = typical <= SMALL_IMAGE_MAX
    spread = f"{min(min(s) for s in sizes)}-{max(min(s) for s in sizes)} px"
    reason = (
        f"median short side {typical} px over {len(sizes)} image headers (range {spread}); "
        f"rounded to a multiple of {SIZE_MULTIPLE}"
        + (f", capped at {cap}" if rounded > cap else "")
        + (
            f", raised to {MIN_TRAIN_SIZE} (upsampled: the stride-32 network needs >= 2x2 at the end)"
            if rounded < MIN_TRAIN_SIZE
            else ""
        )
    )
    return SizeChoice(size, typical, small, reason, native=min(cap, rounded))

"""Decoding image files for lucid (through `lucid.preprocessing.open_image`, the one decoder),
reading their sizes from headers, choosing the training size, and the ink polarity of grey line
drawings.

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
    "header_sizes",
    "image_header",
    "QUARTER_TURNS",
    "shown_size",
    "infer_image_size",
    "load_image",
    "normalise_ink",
    "encoded_suffix",
    "write_encoded",
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


def load_image(path: str | os.PathLike[str], channels: int = 3, *, decode_side: int | None = None) -> Any:
    """Decode ``path`` into a PIL image with ``channels`` channels (1: ``L``, 3: ``RGB``), through
    the one decoder of every lucid path (`lucid.preprocessing.open_image`: every PIL mode scaled to
    8 bits, transparency composited over white, the EXIF orientation applied).
    ``decode_side``: a JPEG whose shorter side is at least twice that decodes at a reduced scale
    that keeps the side at ``decode_side`` or more (``open_image``'s ``min_side``), for a caller
    that shrinks the photo to that side anyway: training, never evaluation or prediction.
    Raises `DataError` naming the file when it cannot be decoded.
    """
    from lucid.preprocessing import open_image

    if channels not in (1, 3):
        raise DataError(f"image files give 1 (grey) or 3 (RGB) channels; asked for {channels}")
    return open_image(path, min_side=decode_side).convert("L" if channels == 1 else "RGB")


EXIF_ORIENTATION = 0x0112  # the EXIF tag of a photo's orientation (1: as stored)


def image_header(path: str | os.PathLike[str]) -> tuple[tuple[int, int], int] | None:
    """The stored ``(width, height)`` and the EXIF orientation (1: none) from the file's header
    only (no pixel decoding); None if it is not a readable image."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size, int(image.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001 - an unreadable file is reported by the decoding step
        return None


# EXIF orientations that turn a photo by a quarter: shown upright, its width and height swap.
QUARTER_TURNS = (5, 6, 7, 8)


def shown_size(stored: tuple[int, int], orientation: int) -> tuple[int, int]:
    """A photo's ``(width, height)`` as shown, from its stored size and EXIF orientation."""
    return (stored[1], stored[0]) if orientation in QUARTER_TURNS else stored


def image_size_of(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(width, height)`` from the file's header only (no pixel decoding); None if unreadable."""
    header = image_header(path)
    return None if header is None else header[0]


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


def header_sizes(files: Sequence[Path]) -> list[tuple[int, int]]:
    """``(width, height)`` of up to `SIZE_SAMPLE` evenly spaced ``files``, from their headers (the
    unreadable left out): enough for a median, and quick on a set of any size. No files, or no
    readable header, is a DataError."""
    if not files:
        raise DataError("no image files to read a size from")
    step = max(1, len(files) // SIZE_SAMPLE)
    sizes = [s for s in (image_size_of(p) for p in list(files)[::step][:SIZE_SAMPLE]) if s is not None]
    if not sizes:
        raise DataError(f"none of the {len(files)} image headers could be read (first: {files[0]})")
    return sizes


def infer_image_size(files: Sequence[Path], *, cap: int = MAX_AUTO_SIZE) -> SizeChoice:
    """Choose a training size from the images' headers (up to 1,000 evenly spaced files).

    The typical size is the median short side. It is rounded to a multiple of 32 (the network's
    output stride), capped at ``cap`` and, for small photos, raised to 64 so the stride-32
    network still sees a 2x2 map at the end (upsampling, see docs/training.md).
    """
    sizes = header_sizes(files)
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


# The opening bytes of the image formats lucid reads from files, and the suffix each is stored under.
_MAGIC = (
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF8", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
)


def encoded_suffix(data: bytes) -> str | None:
    """The file suffix of an encoded image by its opening bytes (JPEG, PNG, GIF, BMP, TIFF,
    WebP), or None for another format."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return next((suffix for magic, suffix in _MAGIC if data.startswith(magic)), None)


def write_encoded(stem: Path, data: bytes, what: str) -> Path:
    """Write an encoded image (a data set's stored file) as ``stem`` + its format's suffix, the
    bytes as they came; a format told by no suffix is decoded and written as PNG. A DataError
    naming ``what`` when the bytes are no image."""
    suffix = encoded_suffix(data)
    if suffix is not None:
        path = stem.with_name(stem.name + suffix)
        path.write_bytes(data)
        return path
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            path = stem.with_name(stem.name + ".png")
            image.save(path)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{what}: {stem.name} holds {len(data)} bytes that are no image ({exc})") from None
    return path

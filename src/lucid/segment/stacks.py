"""Image and mask stacks: multi-page TIFF files that hold a volume's slices, a photo per page,
beside a stack of their masks (ISBI 2012's EM segmentation challenge, the U-Net paper's data:
``train-volume.tif`` + ``train-labels.tif``, 30 slices of 512 x 512; ``test-volume.tif`` has no
labels and is not read). The stacks pair by name (``<name>-volume`` + ``<name>-labels``, or
``-images`` / ``-masks``) and page count.

Each page is written once into the mask cache as a PNG photo and a PNG mask
(`lucid.segment.drawn.cache_folder`, keyed by the stacks), which segmentation then reads as
pairs; the pages are split by seed as one folder of pairs is. Pillow reads the pages (its TIFF
reader walks a multi-page file with ``seek``).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from lucid.errors import DataError
from lucid.segment.drawn import cache_folder, save_mask

__all__ = ["stack_pairs", "stack_files"]

_STACK = re.compile(r"(.+?)[-_ ](volume|images|image|labels|label|masks|mask)", re.IGNORECASE)
_PHOTO_WORDS = ("volume", "images", "image")
_TIFF = (".tif", ".tiff")


def _pages(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as opened:
            return int(getattr(opened, "n_frames", 1))
    except OSError:
        return 0


def stack_files(folder: Path) -> list[tuple[Path, Path]]:
    """The (photo stack, mask stack) pairs of ``folder`` (not walked): multi-page TIFF files named
    ``<name>-volume`` + ``<name>-labels`` of one page count; [] without any."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(_TIFF))
    except OSError:
        return []
    photos: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    for name in names:
        match = _STACK.fullmatch(Path(name).stem)
        if match is not None:
            side = photos if match.group(2).lower() in _PHOTO_WORDS else masks
            side.setdefault(match.group(1).lower(), folder / name)
    pairs = []
    for key in sorted(set(photos) & set(masks)):
        pages = _pages(photos[key])
        if pages > 1 and _pages(masks[key]) == pages:
            pairs.append((photos[key], masks[key]))
    return pairs


def stack_pairs(folder: Path, stacks: list[tuple[Path, Path]] | None = None) -> list[tuple[Path, Path]] | None:
    """Each page of ``folder``'s stacks (``stacks``, else `stack_files`) as a (photo, mask) pair of
    PNG files in the cache, written once; None without stacks. Pages of different sizes are a
    DataError."""
    from PIL import Image

    stacks = stack_files(folder) if stacks is None else stacks
    if not stacks:
        return None
    pairs = []
    for photos, masks in stacks:
        cache = cache_folder(photos, f"stack|{masks.name}|{masks.stat().st_size}|{masks.stat().st_mtime_ns}")
        with Image.open(photos) as photo_stack, Image.open(masks) as mask_stack:
            for page in range(int(getattr(photo_stack, "n_frames", 1))):
                photo_file, mask_file = cache / f"{photos.stem}_{page:04d}.png", cache / f"{masks.stem}_{page:04d}.png"
                if not (photo_file.is_file() and mask_file.is_file()):
                    photo_stack.seek(page)
                    mask_stack.seek(page)
                    if photo_stack.size != mask_stack.size:
                        raise DataError(f"{photos}: page {page} is {photo_stack.size}, its mask {mask_stack.size}")
                    save_mask(mask_file, np.asarray(mask_stack.convert("L")))
                    _save_page(photo_stack, photo_file, photos, page)
                pairs.append((photo_file, mask_file))
    return pairs


def _save_page(stack: Any, target: Path, source: Path, page: int) -> None:
    """The stack's current page as a PNG file (8- or 16-bit grey, or RGB, as stored), written
    through a temporary file renamed into place."""
    if stack.mode not in ("L", "RGB", "I;16", "I;16B", "I;16L", "I"):
        raise DataError(f"{source}: page {page} is of mode {stack.mode}; expected 8- or 16-bit grey or RGB pages")
    page_image = stack.convert("I;16") if stack.mode == "I" else stack.copy()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        page_image.save(tmp, format="PNG")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

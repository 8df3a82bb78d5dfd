"""Segmentation sets stored as numpy ``.npy`` arrays: a photo array beside a mask array of the
same photos, as medical and remote-sensing sets are often shared (``images.npy`` + ``masks.npy``,
``X.npy`` + ``Y.npy``, ``x_train.npy`` + ``y_train.npy`` with ``x_test.npy`` + ``y_test.npy``).

The mask array is the one named so (a word of its name: ``mask``, ``label``, ``gt``, ``y``, ...,
`lucid.data.npyarrays.LABEL_WORDS`), N x H x W (or N x H x W x 1, N x 1 x H x W) of whole
numbers 0..255, the class values, beside exactly one photo array of as many photos of the same
height and width (read as `lucid.data.npyarrays` reads photos: uint8, or floats in [0, 1] or
[0, 255]). A word of the names tells the split (``train``, ``val``, ``test``); without one the
pairs are split by seed. Each pair is written once into lucid's cache as ``<split>/images/`` +
``<split>/masks/`` PNG files, which segmentation then reads as any such folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lucid.data.files import keyed_cache_folder, name_role, written_once
from lucid.data.npyarrays import named_as_labels, npy_arrays, photo_shape, photos_of
from lucid.data.pixels import SMALLEST_SIDE
from lucid.errors import DataError

__all__ = ["has_npy_masks", "npy_masks"]

_CHUNK = 1024


@dataclass(frozen=True, eq=False)
class _Pair:
    """One split's photo array and mask array (memory-mapped), each with its file."""

    photos: tuple[Path, np.ndarray]
    masks: tuple[Path, np.ndarray]


def _mask_side(data: np.ndarray) -> tuple[int, int] | None:
    """(H, W) of each row of a mask array, or None when its rows are no masks."""
    shape = data.shape[1:]
    if len(shape) == 3 and shape[-1] == 1:
        shape = shape[:2]
    elif len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    numeric = data.dtype == np.bool_ or np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)
    if len(shape) != 2 or min(shape) < SMALLEST_SIDE or not numeric:
        return None
    return int(shape[0]), int(shape[1])


def _pairs(folder: Path) -> dict[str, _Pair]:
    """The photo and mask arrays of each split role ``folder``'s names tell ({} unless every
    group of files holds exactly one mask array and one photo array of the same photos)."""
    groups: dict[str | None, list[tuple[Path, np.ndarray]]] = {}
    for path, data in npy_arrays(folder):
        groups.setdefault(name_role(path.stem), []).append((path, data))
    found: dict[str, _Pair] = {}
    for role, group in groups.items():
        masks = [(p, d) for p, d in group if named_as_labels(p) and _mask_side(d) is not None]
        photos = [(p, d) for p, d in group if not named_as_labels(p) and photo_shape(d) is not None]
        if len(masks) != 1 or len(photos) != 1:
            return {}
        (_, mask_data), (_, photo_data) = masks[0], photos[0]
        shape = photo_shape(photo_data)
        if len(mask_data) != len(photo_data) or shape is None or tuple(shape[:2]) != _mask_side(mask_data):
            return {}
        found[role or "train"] = _Pair(photos[0], masks[0])
    return found if "train" in found else {}


def has_npy_masks(folder: Path) -> bool:
    """Whether ``folder`` holds ``.npy`` photo and mask arrays (nothing written)."""
    return bool(_pairs(folder))


def npy_masks(folder: Path) -> tuple[Path, str] | None:
    """The cache folder of ``folder``'s ``.npy`` photos and masks (written once) and a line that
    says what was read; None when ``folder`` holds no such arrays. Mask values that are not whole
    numbers in 0..255 are a DataError naming the file."""
    pairs = _pairs(folder)
    if not pairs:
        return None
    val_role = "val" if "val" in pairs else "test" if "test" in pairs else None
    roles = {"train": "train", **({val_role: "val"} if val_role else {})}
    sources = sorted({path for pair in pairs.values() for path, _ in (pair.photos, pair.masks)})
    target = keyed_cache_folder("arrays", sources, "masks")

    def write(work: Path) -> None:
        from PIL import Image

        for role, written in roles.items():
            pair = pairs[role]
            for part in ("images", "masks"):
                (work / written / part).mkdir(parents=True)
            number = 0
            for photo, mask in zip(photos_of(pair.photos[1], pair.photos[0]), _masks(*pair.masks), strict=True):
                number += 1
                Image.fromarray(photo).save(work / written / "images" / f"{number:07d}.png", compress_level=1)
                Image.fromarray(mask).save(work / written / "masks" / f"{number:07d}.png", compress_level=1)

    cache = written_once(target, write, str(folder))
    train = pairs["train"]
    what = f"photos in {train.photos[0].name}, masks in {train.masks[0].name}"
    if val_role is not None:
        what += f"; {pairs[val_role].photos[0].name} + {pairs[val_role].masks[0].name} validate"
    return cache, what


def _masks(path: Path, data: np.ndarray) -> Iterator[np.ndarray]:
    """Each row of a mask array as an H x W uint8 mask, a chunk of rows at a time."""
    side = _mask_side(data)
    assert side is not None
    for start in range(0, len(data), _CHUNK):
        block = np.asarray(data[start : start + _CHUNK]).reshape(-1, *side)
        if block.dtype != np.uint8:
            whole = block.dtype == np.bool_ or bool(np.all(np.mod(block, 1) == 0))
            if not whole or block.min() < 0 or block.max() > 255:
                raise DataError(
                    f"{path}: mask values must be whole numbers in 0..255 (the classes), found "
                    f"{block.min():g}..{block.max():g}{'' if whole else ' with fractions'}"
                )
            block = block.astype(np.uint8)
        yield from block

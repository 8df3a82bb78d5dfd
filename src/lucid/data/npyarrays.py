"""Photos stored as numpy ``.npy`` files, the arrays people save with ``np.save``:

- a photo array and a label array: Kaggle's Sign Language Digits ``X.npy`` (N x 64 x 64 floats in
  [0, 1]) + ``Y.npy`` (one-hot rows), ``x_train.npy`` + ``y_train.npy`` with ``x_test.npy`` +
  ``y_test.npy``, ``train_images.npy`` + ``train_labels.npy``. A word of the names tells the
  split (``train``, ``val``, ``test``: `lucid.data.files.split_word`); names without one are one
  set, split by seed;
- one array per class, the class its file's name: Quick, Draw!'s ``full_numpy_bitmap_cat.npy``
  (N x 784, each row a 28 x 28 drawing) beside ``..._dog.npy``.

Photos are N x H x W, N x H x W x C or N x C x H x W (C 1 or 3), or N x D rows of a square
photo (D = S x S); uint8, or floats in [0, 1] (scaled by 255) or in [0, 255]. Labels are N whole
numbers (any trailing axes of length 1), N one-hot rows or N class names. Files are opened memory-mapped and
never as pickles (``allow_pickle=False``), read a chunk of rows at a time, and the photos are
written once as PNG files into lucid's cache (`lucid.data.pixels.cached_photos`), then read as
class folders, as the other array formats (`lucid.data.binaries`, `lucid.data.hdf5`) are.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lucid.data.files import FolderLayout, name_role
from lucid.data.pixels import SMALLEST_SIDE, cached_photos
from lucid.errors import DataError

__all__ = [
    "LABEL_WORDS",
    "NPY_SUFFIX",
    "is_labels",
    "labels_of",
    "named_as_labels",
    "npy_arrays",
    "npy_layout",
    "one_hot",
    "photo_shape",
    "photos_of",
]

NPY_SUFFIX = ".npy"
_CHUNK = 4096  # rows converted at a time
_QUICKDRAW_PREFIX = "full_numpy_bitmap_"


def photo_shape(data: np.ndarray) -> tuple[int, ...] | None:
    """Each row's photo shape, (H, W) or (H, W, C), once laid out (channels last, a flat row
    square); None when ``data``'s rows are no photos (this module's docstring says which are)."""
    shape, dtype = data.shape[1:], data.dtype
    if not (dtype == np.uint8 or np.issubdtype(dtype, np.floating)):
        return None
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        return (side, side) if side * side == shape[0] and side >= SMALLEST_SIDE else None
    if len(shape) == 3 and shape[0] in (1, 3) and shape[2] not in (1, 3):
        shape = (shape[1], shape[2], shape[0])  # channels first
    if len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3)):
        return shape if min(shape[:2]) >= SMALLEST_SIDE else None
    return None


def is_labels(data: np.ndarray) -> bool:
    """Whether ``data`` is N class labels: whole numbers (trailing axes of length 1), or one-hot
    rows of 2 or more columns (judged from the first rows)."""
    if data.dtype.kind in "US":  # class names as text (np.save of a list of str)
        return data.ndim >= 1 and all(n == 1 for n in data.shape[1:])
    if data.ndim == 0 or not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        return False
    if all(n == 1 for n in data.shape[1:]):
        return bool(np.all(np.mod(data, 1) == 0))
    return data.ndim == 2 and data.shape[1] >= 2 and one_hot(np.asarray(data[:_CHUNK]))


def one_hot(rows: np.ndarray) -> bool:
    """Whether every row of ``rows`` (N x K) is 0 but for a single 1."""
    return bool(np.isin(rows, (0, 1)).all() and (rows.sum(axis=1) == 1).all())


def photos_of(data: np.ndarray, source: Path) -> Iterator[np.ndarray]:
    """Each row of ``data`` (memory-mapped or not; `photo_shape` not None) as an H x W or
    H x W x 3 uint8 photo, a chunk of rows at a time; floats in [0, 1] are scaled by 255.
    ``source`` names the file in errors."""
    shape = photo_shape(data)
    assert shape is not None
    scale = _scale(data, source)
    channels_first = data.ndim == 4 and data.shape[1] in (1, 3) and data.shape[3] not in (1, 3)
    for start in range(0, len(data), _CHUNK):
        block = np.asarray(data[start : start + _CHUNK])
        if channels_first:
            block = block.transpose(0, 2, 3, 1)
        block = block.reshape(len(block), *shape)
        if scale is not None:
            block = np.clip(np.rint(block.astype(np.float32) * scale), 0, 255).astype(np.uint8)
        for photo in block:
            yield photo[..., 0] if photo.ndim == 3 and photo.shape[2] == 1 else photo


def _scale(data: np.ndarray, source: Path) -> float | None:
    """None for uint8 photos; for floats, 255 when every value lies in [0, 1], else 1 (the values
    already pixels); values outside [0, 255] are a DataError naming the file."""
    if data.dtype == np.uint8:
        return None
    low, high = math.inf, -math.inf
    for start in range(0, len(data), _CHUNK):
        block = np.asarray(data[start : start + _CHUNK])
        low, high = min(low, float(block.min())), max(high, float(block.max()))
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high > 255:
        raise DataError(
            f"{source}: photo values run from {low:g} to {high:g}; expected pixels in [0, 1] or [0, 255] "
            "(normalised arrays cannot be turned back into photos)"
        )
    return 255.0 if high <= 1.0 else 1.0


def labels_of(data: np.ndarray) -> Iterator[str]:
    """Each row's class (`is_labels` holds) in text: its name, the whole number, or a one-hot
    row's column."""
    for start in range(0, len(data), _CHUNK):
        block: Any = np.asarray(data[start : start + _CHUNK])
        values = block.argmax(axis=1) if block.ndim == 2 and block.shape[1] >= 2 else block.reshape(len(block))
        for value in values:
            yield str(value).strip() if block.dtype.kind in "US" else str(int(value))


@dataclass(frozen=True, eq=False)  # compared by identity: its array has no truth value
class _Array:
    """One ``.npy`` file, memory-mapped."""

    path: Path
    data: np.ndarray

    @property
    def count(self) -> int:
        return int(self.data.shape[0]) if self.data.ndim else 0

    def photo_shape(self) -> tuple[int, ...] | None:
        return photo_shape(self.data)

    def is_labels(self) -> bool:
        return is_labels(self.data)

    def photos(self) -> Iterator[np.ndarray]:
        return photos_of(self.data, self.path)


def _open(path: Path) -> _Array | None:
    """``path`` memory-mapped; None for a file that is no plain array (a pickle, a damaged file):
    such a file beside the data is not the data."""
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return _Array(path, data) if isinstance(data, np.ndarray) else None


# Words of a file name that say it holds masks or labels rather than photos (``masks.npy``, ``Y.npy``).
LABEL_WORDS = frozenset(
    ("mask", "masks", "label", "labels", "annotation", "annotations", "seg", "segmentation", "gt", "target",
     "targets", "y", "trimap")
)  # fmt: skip


def named_as_labels(path: Path) -> bool:
    """Whether a word of ``path``'s name (runs of letters) is one of `LABEL_WORDS`."""
    return any(word.lower() in LABEL_WORDS for word in re.findall(r"[A-Za-z]+", path.stem))


def npy_arrays(folder: Path) -> list[tuple[Path, np.ndarray]]:
    """The plain arrays of ``folder``'s ``.npy`` files (not below it), memory-mapped; files that
    are no plain array (a pickle, a damaged file) are left out: beside the data they are not it."""
    arrays = [_open(path) for path in _npy_files(folder)]
    return [(array.path, array.data) for array in arrays if array is not None]


def _npy_files(base: Path) -> list[Path]:
    """The ``.npy`` files at ``base`` itself (not below it), hidden ones left out."""
    try:
        names = sorted(e.name for e in os.scandir(base) if e.is_file())
    except OSError:
        return []
    return [base / n for n in names if n.lower().endswith(NPY_SUFFIX) and not n.startswith(".")]


def _pairs(arrays: list[_Array]) -> dict[str, tuple[_Array, _Array]] | None:
    """The (photos, labels) pair of each split role the names tell (None: one set), or None when
    some group does not hold exactly one photo array and one label array of one length."""
    groups: dict[str | None, list[_Array]] = {}
    for array in arrays:
        groups.setdefault(name_role(array.path.stem), []).append(array)
    found = {}
    for role, group in groups.items():
        labels = [a for a in group if a.is_labels()]
        photos = [a for a in group if a not in labels and a.photo_shape() is not None]
        if len(photos) != 1 or len(labels) != 1 or photos[0].count != labels[0].count:
            return None
        found[role or "train"] = (photos[0], labels[0])
    return found if "train" in found else None


def _class_files(arrays: list[_Array]) -> dict[str, _Array] | None:
    """One photo array per class, the class its file's name (Quick, Draw!'s prefix dropped): two
    files or more, every one of photos of one shape (flat rows: uint8 only)."""
    if len(arrays) < 2 or any(a.photo_shape() is None or a.is_labels() or named_as_labels(a.path) for a in arrays):
        return None  # masks.npy beside images.npy: segmentation's (lucid.segment.npymasks)
    if any(a.data.ndim == 2 and a.data.dtype != np.uint8 for a in arrays):
        return None  # flat rows of floats are as likely features (embeddings) as drawings
    if len({a.photo_shape() for a in arrays}) != 1:
        return None
    return {a.path.stem.removeprefix(_QUICKDRAW_PREFIX): a for a in arrays}


Rows = Callable[[], Iterator[tuple[int, str | None, str, np.ndarray]]]


def npy_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root``'s ``.npy`` photos and labels (this module's docstring) as class folders in the
    cache; None when its ``.npy`` files are neither photo/label pairs nor one photo array per class."""
    base = Path(root).expanduser()
    files = _npy_files(base) if base.is_dir() else []
    arrays = [array for path in files if (array := _open(path)) is not None]
    pairs = _pairs(arrays)
    per_class = None if pairs is not None else _class_files(arrays)
    if pairs is not None:
        rows, labels, val_role = _pair_rows(pairs)
    elif per_class is not None:
        rows, labels, val_role = _class_rows(per_class)
    else:
        return None
    parts = cached_photos(files, "npy", rows, str(base))
    notes = [f"{base}: {labels}, written once as PNG files into {parts['train'].folder.parent}"]
    if val_role is None or "val" not in parts:
        return FolderLayout(parts["train"].folder, "single", parts["train"], None, notes, labels=labels, source=base)
    kind = "train_val" if val_role == "val" else "train_test"
    return FolderLayout(base, kind, parts["train"], parts["val"], notes, f"its {val_role} files", labels)


def _pair_rows(pairs: dict[str, tuple[_Array, _Array]]) -> tuple[Rows, str, str | None]:
    """The rows of photo/label pairs (the training pair, and the validation one, else the test
    one, validating), what labels them in words, and the validating role (None: split by seed)."""
    val_role = "val" if "val" in pairs else "test" if "test" in pairs else None
    roles = [("train", "train"), *([(val_role, "val")] if val_role else [])]
    photos, values = pairs["train"]

    def rows() -> Iterator[tuple[int, str | None, str, np.ndarray]]:
        number = 0
        for role, written in roles:
            role_photos, role_labels = pairs[role]
            for photo, label in zip(role_photos.photos(), labels_of(role_labels.data), strict=True):
                number += 1
                yield number, label, written, photo

    return rows, f"photos in {photos.path.name}, labels in {values.path.name}", val_role


def _class_rows(per_class: dict[str, _Array]) -> tuple[Rows, str, None]:
    """The rows of one photo array per class (split by seed) and what labels them in words."""

    def rows() -> Iterator[tuple[int, str | None, str, np.ndarray]]:
        number = 0
        for name, photos in per_class.items():
            for photo in photos.photos():
                number += 1
                yield number, name, "train", photo

    return rows, f"one array per class ({len(per_class)} .npy files, the class each file's name)", None

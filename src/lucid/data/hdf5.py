"""Photos stored as arrays in HDF5 files, read by h5py (the HDF5 library's Python binding, as
torchvision's ``PCAM`` reads them):

- PatchCamelyon as torchvision downloads it: ``camelyonpatch_level_2_split_train_x.h5`` (``x``: N
  x 96 x 96 x 3) + ``_train_y.h5`` (``y``: N x 1 x 1 x 1), and ``_valid_*`` and ``_test_*``;
- one file of photos and their labels (Galaxy10 DECaLS' ``Galaxy10_DECals.h5``: ``images`` N x
  256 x 256 x 3 and ``ans``).

In each file (or the files of one split, told by a word of their names: ``train``, ``valid``,
``test``) the photos are the one uint8 array of N x H x W (x 1 or 3) and the labels the one
whole-number array of N values (any trailing axes of length 1). The photos are written once as
PNG files into lucid's cache (`lucid.data.pixels.cached_photos`), a thousand rows read at a time,
and read as class folders from there: the training split trains, the validation split (else the
test split) validates, one file is split by seed. A compressed download (``.h5.gz``) is named
with the command that unpacks it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from lucid.data.files import FolderLayout, name_role
from lucid.data.pixels import SMALLEST_SIDE, cached_photos
from lucid.errors import DataError

__all__ = ["HDF5_SUFFIXES", "hdf5_layout"]

HDF5_SUFFIXES = (".h5", ".hdf5", ".he5")
_CHUNK = 1024  # rows read at a time


def _arrays(file: Path) -> list[tuple[str, tuple[int, ...], np.dtype[Any]]]:
    """The arrays of an HDF5 file (at its top level and in its groups), as (name, shape, dtype)."""
    try:
        import h5py
    except ImportError:  # a dependency of lucid's, missing from this environment
        raise DataError(f"{file}: reading HDF5 files needs h5py; pip install h5py") from None

    found: list[tuple[str, tuple[int, ...], np.dtype[Any]]] = []

    def visit(name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset):
            found.append((name, tuple(item.shape), item.dtype))

    try:
        with h5py.File(file, "r") as handle:
            handle.visititems(visit)
    except OSError as exc:
        raise DataError(f"{file}: not a readable HDF5 file ({exc})") from None
    return found


def _is_photos(shape: tuple[int, ...], dtype: np.dtype[Any]) -> bool:
    photo = shape[1:]
    channels_ok = len(photo) == 2 or (len(photo) == 3 and photo[2] in (1, 3))
    return dtype == np.uint8 and channels_ok and min(photo[:2], default=0) >= SMALLEST_SIDE


def _is_labels(shape: tuple[int, ...], dtype: np.dtype[Any]) -> bool:
    return np.issubdtype(dtype, np.integer) and len(shape) >= 1 and all(n == 1 for n in shape[1:])


def _split_arrays(files: list[Path]) -> tuple[tuple[Path, str], tuple[Path, str]] | None:
    """The photo array and the label array of one split's files, each as (file, name), or None
    when they do not hold exactly one of each, of one length."""
    photos, labels = [], []
    for file in files:
        for name, shape, dtype in _arrays(file):
            if _is_photos(shape, dtype):
                photos.append((file, name, shape[0]))
            elif _is_labels(shape, dtype):
                labels.append((file, name, shape[0]))
    if len(photos) != 1:
        return None
    lengths = [label for label in labels if label[2] == photos[0][2]]
    if len(lengths) != 1:
        return None
    return photos[0][:2], lengths[0][:2]


def _hdf5_files(base: Path) -> dict[str | None, list[Path]]:
    """``base``'s HDF5 files by the split their names say (None: no split word); a compressed one
    is a DataError that says how to unpack it (its arrays cannot be read a slice at a time)."""
    try:
        names = sorted(e.name for e in os.scandir(base) if e.is_file())
    except OSError:
        return {}
    packed = [n for n in names if n.lower().endswith(tuple(s + ".gz" for s in HDF5_SUFFIXES))]
    if packed:
        raise DataError(f"{base / packed[0]}: compressed; unpack it first (gunzip {base / packed[0]})")
    by_role: dict[str | None, list[Path]] = {}
    for name in names:
        if name.lower().endswith(HDF5_SUFFIXES) and not name.startswith("."):
            by_role.setdefault(name_role(Path(name).stem), []).append(base / name)
    return by_role


def hdf5_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root``'s HDF5 photos and labels (this module's docstring) as class folders in the cache;
    None when ``root`` holds no HDF5 file of one photo array and one label array per split."""
    base = Path(root).expanduser()
    by_role = _hdf5_files(base) if base.is_dir() else {}
    if not by_role:
        return None
    splits = {role or "train": found for role, files in by_role.items() if (found := _split_arrays(files))}
    if "train" not in splits:
        return None
    val_role = "val" if "val" in splits else "test" if "test" in splits else None
    sources = sorted({file for pair in splits.values() for file, _ in pair})

    def rows() -> Iterator[tuple[int, str | None, str, np.ndarray]]:
        for role in ("train", val_role):
            if role is not None:
                yield from _rows(*splits[role], "val" if role == val_role else "train")

    parts = cached_photos(sources, "hdf5", rows, str(base))
    (photo_file, photo_name), (label_file, label_name) = splits["train"]
    labels = f"photos in the HDF5 array {photo_file.name}:{photo_name}, labels in {label_file.name}:{label_name}"
    notes = [f"{base}: {labels}, written once as PNG files into {parts['train'].folder.parent}"]
    if val_role is None or "val" not in parts:
        return FolderLayout(parts["train"].folder, "single", parts["train"], None, notes, labels=labels, source=base)
    kind = "train_val" if val_role == "val" else "train_test"
    return FolderLayout(base, kind, parts["train"], parts["val"], notes, f"its {val_role} files", labels)


def _rows(photos: tuple[Path, str], labels: tuple[Path, str], role: str) -> Iterator[tuple[int, str, str, np.ndarray]]:
    """Each photo of one split with its label, a `_CHUNK` of rows read at a time."""
    import h5py

    with h5py.File(photos[0], "r") as photo_file, h5py.File(labels[0], "r") as label_file:
        images, values = photo_file[photos[1]], label_file[labels[1]]
        for start in range(0, len(images), _CHUNK):
            block = np.asarray(images[start : start + _CHUNK])
            found = np.asarray(values[start : start + _CHUNK]).reshape(len(block))
            for offset, (photo, label) in enumerate(zip(block, found, strict=True)):
                image = photo[..., 0] if photo.ndim == 3 and photo.shape[2] == 1 else photo
                yield start + offset + 1, str(int(label)), role, image

"""Places365 as torchvision's ``Places365`` downloads it: ``categories_places365.txt`` (``/a/airfield
0``: each class's folder below its letter, and its number), ``places365_train_standard.txt`` (or
``places365_train_challenge.txt``: ``/a/airfield/00000001.jpg 0``) listing the photos in
``data_256/`` (or ``data_large_standard/``), and ``places365_val.txt``
(``Places365_val_00000001.jpg 165``) listing the flat ``val_256/`` (or ``val_large/``).

The classes are named by their folder below the letter (``airfield``,
``apartment_building/outdoor``), as for any letter index of class folders
(`lucid.data.files.class_files`), in the categories file's number order. ``data_256/`` without the
lists is read as such a letter index (split by seed).
"""

from __future__ import annotations

import os
from pathlib import Path

from lucid.data.files import ClassFiles, FolderLayout, child_folder, names_file_text
from lucid.errors import DataError

__all__ = ["CATEGORIES", "places_layout"]

CATEGORIES = "categories_places365.txt"
TRAIN_LISTS = ("places365_train_standard.txt", "places365_train_challenge.txt")
VAL_LIST = "places365_val.txt"
TRAIN_DIRS = ("data_256", "data_large_standard", "data_large", "data_256_standard")
VAL_DIRS = ("val_256", "val_large")
_MAX_LIST_BYTES = 1 << 30  # the training list of 1.8 million photos is 60 MB


def _numbered_lines(file: Path) -> list[tuple[str, int, int]]:
    """A list's ``<path> <number>`` lines as (path, number, line number); a line of another shape
    is a DataError naming it."""
    found = []
    for number, line in enumerate(names_file_text(file, limit=_MAX_LIST_BYTES).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[1].isdigit():
            raise DataError(f"{file}:{number}: expected '<path> <class number>', got {line.strip()!r}")
        found.append((fields[0], int(fields[1]), number))
    return found


def _categories(file: Path) -> dict[int, str]:
    """Class names by number: ``/a/airfield 0`` is ``airfield``, ``/a/apartment_building/outdoor``
    is ``apartment_building/outdoor`` (the path below the letter)."""
    names = {}
    for path, number, _ in _numbered_lines(file):
        parts = [part for part in path.split("/") if part]
        names[number] = "/".join(parts[1:] if len(parts) > 1 and len(parts[0]) == 1 else parts)
    return names


def _listed(folder: Path, file: Path, names: dict[int, str]) -> ClassFiles:
    """The photos ``file`` lists below ``folder`` by class; a class number the categories do not
    name is a DataError, photos that are missing are counted in ``skipped``."""
    files: dict[str, list[Path]] = {name: [] for _, name in sorted(names.items())}
    missing = 0
    for path, number, line in _numbered_lines(file):
        if number not in names:
            raise DataError(f"{file}:{line}: class number {number} is not in {CATEGORIES} (0..{len(names) - 1})")
        photo = folder / path.lstrip("/")
        if os.path.isfile(photo):
            files[names[number]].append(photo)
        else:
            missing += 1
    skipped = [f"{file}: {missing} listed photos are not in {folder}, not used"] if missing else []
    return ClassFiles(folder, {name: found for name, found in files.items() if found}, skipped, "category")


def places_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root`` as torchvision's Places365 download: the training list trains, the validation list
    (when ``val_256/`` is there) validates, else a seeded share; None without its categories file,
    a training list and its photo folder."""
    base = Path(root).expanduser()
    if not (base / CATEGORIES).is_file():
        return None
    train_list = next((base / name for name in TRAIN_LISTS if (base / name).is_file()), None)
    train_dir = child_folder(base, TRAIN_DIRS)
    if train_list is None or train_dir is None:
        return None
    names = _categories(base / CATEGORIES)
    train = _listed(train_dir, train_list, names)
    if not train.count():
        raise DataError(f"{train_list}: none of its photos is in {train_dir}")
    labels = f"Places365: {train_list.name} + {CATEGORIES}"
    val_dir = child_folder(base, VAL_DIRS)
    if val_dir is None or not (base / VAL_LIST).is_file():
        note = f"{base}: {labels}, no {VAL_LIST} + val_256/, so a seeded share validates"
        return FolderLayout(base, "single", train, None, [note, *train.skipped], labels=labels)
    val = _listed(val_dir, base / VAL_LIST, names)
    notes = [f"{base}: {labels}, {VAL_LIST} validating", *train.skipped, *val.skipped]
    return FolderLayout(base, "train_val", train, val, notes, f"{train_list.name} + {VAL_LIST}", labels)

"""Labels kept in MATLAB files, as the classic fine-grained sets ship them.

- Oxford Flowers-102 (`flowers_layout`): ``jpg/image_00001.jpg`` ... with ``imagelabels.mat``
  (one class number per photo) and ``setid.mat`` (the ``trnid``, ``valid`` and ``tstid`` splits);
- Stanford Cars (`cars_layout`): ``cars_train/`` (+ ``cars_test/``) with ``devkit/cars_meta.mat``
  (the class names) and ``devkit/cars_train_annos.mat`` (+ ``cars_test_annos_withlabels.mat``);
- Stanford Dogs' split lists (`mat_lists`): ``lists/train_list.mat`` + ``test_list.mat`` beside
  ``Images/<class>/``, read by `lucid.data.labels.split_names`.

The files are read with ``scipy.io.loadmat`` (scipy comes with scikit-learn, a dependency), as
torchvision's ``Flowers102`` and ``StanfordCars`` read them. A ``.mat`` file of MATLAB's version 5
is data only: reading one runs no code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lucid.data.files import ClassFiles, FolderLayout, child_folder, walk_images
from lucid.errors import DataError

__all__ = ["FLOWERS_FILES", "CARS_META", "MAT_LISTS", "read_mat", "flowers_layout", "cars_layout", "mat_lists"]

FLOWERS_FILES = ("imagelabels.mat", "setid.mat")
FLOWERS_SPLITS = ("trnid", "valid", "tstid")  # setid.mat's training, validation and test image numbers
CARS_META = "cars_meta.mat"
CARS_TRAIN, CARS_TEST = "cars_train_annos.mat", "cars_test_annos_withlabels.mat"
# Stanford Dogs' lists of training and test photos (``lists/``), each a ``file_list`` of class/photo paths.
MAT_LISTS = ("train_list.mat", "test_list.mat")
MATLAB_UNIT = "class (from a MATLAB label file)"
MAX_MAT_BYTES = 200_000_000  # the label files are kilobytes to a few megabytes; a larger one is not one


def read_mat(file: Path, *keys: str) -> dict[str, Any]:
    """The variables ``keys`` of the MATLAB file ``file`` (``squeeze_me``: a 1 x n array is n
    values); a file scipy cannot read, or one without a key, is a DataError naming it."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    size = file.stat().st_size
    if size > MAX_MAT_BYTES:
        raise DataError(f"{file}: {size:,} bytes, too large for a data set's label file (at most {MAX_MAT_BYTES:,})")
    try:
        data = loadmat(file, squeeze_me=True)
    # NotImplementedError: a version 7.3 (HDF5) file, which scipy does not read
    except (MatReadError, OSError, ValueError, TypeError, NotImplementedError) as exc:
        raise DataError(f"{file}: not a readable MATLAB (.mat) file ({type(exc).__name__}: {exc})") from None
    missing = [key for key in keys if key not in data]
    if missing:
        found = sorted(k for k in data if not k.startswith("__"))
        raise DataError(f"{file}: expected the variable(s) {', '.join(missing)}; it holds {', '.join(found) or 'none'}")
    return {key: data[key] for key in keys}


def _values(value: Any) -> list[Any]:
    """A MATLAB array as a list (one value, squeezed to a scalar, as a list of one)."""
    return np.atleast_1d(np.asarray(value, dtype=object)).tolist()


def _numbers(file: Path, name: str, value: Any) -> list[int]:
    try:
        return [int(v) for v in _values(value)]
    except (TypeError, ValueError):
        raise DataError(f"{file}: expected whole numbers in {name}") from None


def _by_class(labelled: Sequence[tuple[Path, int]], names: Sequence[str], folder: Path) -> ClassFiles:
    """``(photo, class number from 1)`` pairs as class files, classes in number order."""
    files: dict[str, list[Path]] = {}
    for photo, number in sorted(labelled, key=lambda item: (item[1], str(item[0]))):
        files.setdefault(names[number - 1], []).append(photo)
    return ClassFiles(folder, files, [], MATLAB_UNIT)


class _PhotoIndex:
    """The photos below ``folder`` (one walk), found by their path below it or their file name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        photos, self.skipped = walk_images(folder)
        self.index = {photo.relative_to(folder).as_posix().lower(): photo for photo in photos}
        self.index.update({photo.name.lower(): photo for photo in photos if photo.name.lower() not in self.index})

    def find(self, names: Sequence[str], source: Path) -> list[Path]:
        """The photos of ``names``; a name with no photo is a DataError naming how many and the first."""
        keys = [name.replace("\\", "/").lower().lstrip("./") for name in names]
        missing = [name for name, key in zip(names, keys, strict=True) if key not in self.index]
        if missing:
            raise DataError(f"{source}: {len(missing)} listed photo(s) are not in {self.folder} (e.g. {missing[:3]})")
        return [self.index[key] for key in keys]


# --------------------------------------------------------------------------------------------
# Oxford Flowers-102


def _flowers_root(base: Path) -> Path | None:
    """``base`` or its ``flowers-102/`` (where torchvision's download puts it) when it holds both
    `FLOWERS_FILES` and a ``jpg/`` folder."""
    for folder in (base, child_folder(base, ("flowers-102", "flowers102", "102flowers"))):
        if folder is not None and all((folder / n).is_file() for n in FLOWERS_FILES) and (folder / "jpg").is_dir():
            return folder
    return None


def _flower_names(count: int) -> list[str]:
    """The 102 class names torchvision's ``Flowers102`` gives, in class-number order (the
    data's files hold only numbers); numbers as names when the count differs."""
    from torchvision.datasets import Flowers102

    names = list(getattr(Flowers102, "classes", []))
    return names if len(names) == count else [str(i) for i in range(1, count + 1)]


def flowers_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """Oxford Flowers-102 (`FLOWERS_FILES` + ``jpg/``): ``trnid`` trains and ``valid`` validates
    (``tstid``, the test split, is not used, said); None when ``root`` is not it."""
    folder = _flowers_root(Path(root).expanduser())
    if folder is None:
        return None
    labels_file, splits_file = (folder / n for n in FLOWERS_FILES)
    labels = _numbers(labels_file, "labels", read_mat(labels_file, "labels")["labels"])
    splits = read_mat(splits_file, *FLOWERS_SPLITS)
    if not labels or min(labels) < 1:
        raise DataError(f"{labels_file}: expected class numbers from 1 in labels")
    names, photos, parts = _flower_names(max(labels)), _PhotoIndex(folder / "jpg"), []
    for key in FLOWERS_SPLITS[:2]:
        ids = _numbers(splits_file, key, splits[key])
        if any(not 1 <= i <= len(labels) for i in ids):
            raise DataError(f"{splits_file}: {key} holds image numbers outside 1..{len(labels)}")
        found = photos.find([f"image_{i:05d}.jpg" for i in ids], splits_file)
        parts.append(_by_class(list(zip(found, [labels[i - 1] for i in ids], strict=True)), names, folder))
    train, val = parts
    train.skipped = photos.skipped  # one walk: its skipped files are said once
    test = len(_values(splits[FLOWERS_SPLITS[2]]))
    notes = [
        f"{folder}: Oxford Flowers-102: {len(train.files)} classes, setid.mat's trnid ({train.count()}) trains and "
        f"valid ({val.count()}) validates; tstid ({test}) is not used"
    ]
    lists, labelled = "split by setid.mat (trnid + valid)", "photos labelled by imagelabels.mat"
    return FolderLayout(folder, "train_val", train, val, notes, lists, labelled)


# --------------------------------------------------------------------------------------------
# Stanford Cars


def _cars_file(base: Path, name: str) -> Path | None:
    return next(
        (f for f in (base / name, base / "devkit" / name, base / "car_devkit" / "devkit" / name) if f.is_file()), None
    )


def _cars_annotations(file: Path) -> list[tuple[str, int]]:
    """``(file name, class number)`` of each record of a Stanford Cars annotation file."""
    try:
        records = np.atleast_1d(read_mat(file, "annotations")["annotations"])  # a struct array: keep its fields
        return [(str(r["fname"]), int(r["class"])) for r in records]
    except (KeyError, IndexError, ValueError, TypeError):
        raise DataError(f"{file}: expected annotations with the fields fname and class") from None


def _cars_split(base: Path, annotations: Path, folder_name: str, names: Sequence[str]) -> ClassFiles:
    """One split of Stanford Cars: the photos its annotation file lists, found below ``folder_name``
    (or below ``base``), by class."""
    records = _cars_annotations(annotations)
    if any(not 1 <= number <= len(names) for _, number in records):
        raise DataError(f"{annotations}: class numbers outside 1..{len(names)} (the classes of {CARS_META})")
    photos = _PhotoIndex(child_folder(base, (folder_name,)) or base)
    found = photos.find([name for name, _ in records], annotations)
    split = _by_class(list(zip(found, [n for _, n in records], strict=True)), names, photos.folder)
    split.skipped = photos.skipped
    return split


def cars_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """Stanford Cars (`CARS_META` + ``cars_train_annos.mat`` in the root or ``devkit/``, the
    photos in ``cars_train/``): validated by ``cars_test/`` when its labels
    (``cars_test_annos_withlabels.mat``) are there, else by a seeded share; None when ``root`` is
    not it."""
    base = Path(root).expanduser()
    meta, train_file = _cars_file(base, CARS_META), _cars_file(base, CARS_TRAIN)
    if meta is None or train_file is None:
        return None
    names = [str(n) for n in _values(read_mat(meta, "class_names")["class_names"])]
    train = _cars_split(base, train_file, "cars_train", names)
    test_file = _cars_file(base, CARS_TEST)
    note = f"{base}: Stanford Cars: {len(train.files)} classes named by {meta.name}, {train.count()} training photos"
    if test_file is None:
        notes = [note + f"; no {CARS_TEST}, so a seeded share of them validates"]
        return FolderLayout(train.folder, "single", train, None, notes, labels=f"photos labelled by {CARS_TRAIN}")
    val = _cars_split(base, test_file, "cars_test", names)
    notes = [note + f", validated by {val.folder.name}/ ({val.count()}, {test_file.name})"]
    lists = f"{train.folder.name}/ + {val.folder.name}/"
    return FolderLayout(base, "train_test", train, val, notes, lists, f"photos labelled by {CARS_TRAIN} + {CARS_TEST}")


# --------------------------------------------------------------------------------------------
# Stanford Dogs


def mat_lists(top: Path) -> tuple[tuple[str, list[str]], tuple[str, list[str]]] | None:
    """Stanford Dogs' lists (`MAT_LISTS` in ``top`` or its ``lists/``): the training and test
    photos' paths below ``Images/`` without their suffix, each with its file; None without them."""
    for place in (top, child_folder(top, ("lists",))):
        if place is None or not all((place / n).is_file() for n in MAT_LISTS):
            continue
        found = []
        for name in MAT_LISTS:
            file = place / name
            paths = [str(p) for p in _values(read_mat(file, "file_list")["file_list"])]
            found.append((str(file), [str(Path(p.replace("\\", "/")).with_suffix("")) for p in paths]))
        return found[0], found[1]
    return None

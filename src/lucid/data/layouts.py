"""Which classification layout a data folder is in (`find_layout`), read once and checked.

Class folders in ``train/`` + ``val/`` (or ``test/``), in ``train/`` alone or in the folder itself;
``images/<class>/`` beside folders without photos (`photo_folder_layout`); and, first, photos
labelled by their names or a table (`lucid.data.labels.labelled_layout`). ``lucid eval`` scores the
folder `evaluation_folder` names.
"""

from __future__ import annotations

import os
from pathlib import Path

from lucid.data.cocolabels import category_files
from lucid.data.files import (
    IMAGE_SUFFIXES,
    TRAIN_SPLITS,
    FolderLayout,
    child_folder,
    class_files,
    has_folders,
    hidden,
    holds_files,
    split_child,
    split_folders,
    split_role,
    subfolders,
    unlabelled_split,
    wrapped_folder,
    wrapped_note,
)
from lucid.data.hub import hub_set
from lucid.data.labels import PHOTO_DIRS, labelled_layout, listed_folder, listed_split, split_class_files
from lucid.data.names import find_class_names, names_folders, renamed
from lucid.data.places import CATEGORIES as PLACES_CATEGORIES
from lucid.errors import DataError

__all__ = ["LAYOUTS", "find_layout", "photo_folder_layout", "evaluation_folder", "unwrapped_root"]

LAYOUTS = (
    "DIR/train/<class>/<image> with DIR/val/<class>/<image> (or valid/, validation/)",
    "DIR/train/<class>/<image> with DIR/test/<class>/<image> (test/ is used for validation)",
    "DIR/<class>/<image> (one folder of class folders, split by --val-fraction; train/ alone is split so too)",
    "photos named by class (DIR/train/cat.1.jpg, DIR/images/Abyssinian_1.jpg: the name before the number)",
    "photos labelled by a table (DIR/train.csv with an image and a label column, the photos below DIR)",
    "photos labelled by MATLAB files (Oxford Flowers-102: jpg/ + imagelabels.mat + setid.mat; Stanford Cars: "
    "cars_train/ + devkit/cars_meta.mat + cars_train_annos.mat)",
    "photos stored as pixel rows of a CSV table (DIR/train.csv: label,pixel0,pixel1,...; Kaggle's MNIST-style "
    "tables, FER-2013's emotion,pixels,Usage)",
    "photos in MNIST's idx files (train-images-idx3-ubyte + train-labels-idx1-ubyte, t10k-*) or CIFAR's batches "
    "(cifar-10-batches-py/, cifar-10-batches-bin/, cifar-100-python/)",
    "a Hugging Face set (data/train-*.parquet + test-*.parquet as huggingface-cli downloads it, or save_to_disk's "
    "train/*.arrow) of an image column and a ClassLabel column",
    "photos stored as HDF5 arrays (PatchCamelyon's camelyonpatch_level_2_split_train_x.h5 + _train_y.h5, Galaxy10's "
    "one file of images and labels)",
    "photos stored as .npy arrays (X.npy + Y.npy, x_train.npy + y_train.npy with x_test.npy + y_test.npy; or one "
    "array per class, Quick, Draw!'s full_numpy_bitmap_cat.npy)",
)


def _layouts_text() -> str:
    return "; ".join(f"({i}) {text}" for i, text in enumerate(LAYOUTS, 1))


def find_layout(root: str | os.PathLike[str], flag: str = "--data") -> FolderLayout:
    """Detect which of `LAYOUTS` ``root`` is, walk it once and check it; class folders named by ids
    take the names a names file gives them (`lucid.data.names`: ``cat_to_name.json``, ``words.txt``).

    Raises `DataError` naming the accepted layouts for anything else, for a
    class without training images, or a validation class that has no training folder.
    """
    layout = _find_layout(root, flag)
    given = Path(root).expanduser()
    names, notes = find_class_names(names_folders(given, layout.root), layout.classes)
    layout.notes += notes
    if names is not None:
        layout.train = renamed(layout.train, names) or layout.train
        layout.val = renamed(layout.val, names)
    return layout


def _find_layout(root: str | os.PathLike[str], flag: str) -> FolderLayout:
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"{flag} {root}: no such folder")  # a mistyped path: the layouts are no help
    inner = _wrapped_classes(base)
    if inner is not None:  # a download's root: README, LICENSE and one folder that holds the data
        layout = _find_layout(inner, flag)
        unused = [f"{f.name}/" for f in subfolders(base) if f != inner]
        note = wrapped_note(base, inner)
        if unused:  # beside unlabelled test photos (`beside_unlabelled`)
            note = f"{base}: reading {inner.name}/ ({', '.join(unused)}: photos without class folders, not used)"
        layout.notes.insert(0, note)
        return layout
    layout = labelled_layout(base) or photo_folder_layout(base, flag) or _class_folders(base, flag, root)
    _check(layout, flag, root)
    for part in (layout.train, layout.val):
        if part is not None and part.skipped:
            layout.notes.append(_skipped_note(part.skipped))
    if layout.train is not None:  # (a validation split's folders say the same)
        layout.notes += layout.train.notes
    return layout


def _class_folders(base: Path, flag: str, root: object) -> FolderLayout:
    """``base`` as class folders: in ``train/`` + ``val/`` (or ``test/``), in ``train/`` alone, or
    directly in ``base``."""
    train_dir, val_dir, notes = _split_roles(base)
    if train_dir is not None and val_dir is not None:
        kind = "train_test" if split_role(val_dir.name) == "test" else "train_val"
        # Class folders, or a list in the folder (Tiny ImageNet's val/, Roboflow's train/_classes.csv).
        train, train_notes = split_class_files(train_dir)
        val, val_notes = split_class_files(val_dir)
        return FolderLayout(base, kind, train, val, notes + train_notes + val_notes)
    if train_dir is not None:
        return _train_alone(base, train_dir, notes, flag, root)
    return FolderLayout(base, "single", class_files(base, data_root=True), None, notes)


def _photo_folder_classes(base: Path, flag: str, root: object) -> FolderLayout | None:
    """``images/<class>/`` beside folders that hold no photos (Food-101: ``images/`` + ``meta/``
    with ``train.txt`` + ``test.txt``; a data set's ``docs/``): the classes are read from
    ``images/``, split by its lists (`split_lists`) or its own split folders, else by seed; the
    folder's siblings are not classes. None when there is no such ``images/``. A folder of
    another name is one when it is the only one with photos (Caltech-101: ``101_ObjectCategories/``
    beside ``Annotations/`` of MATLAB files)."""
    photos = child_folder(base, PHOTO_DIRS) or _only_photo_folder(base)
    if photos is None or not has_folders(photos):
        return None
    try:
        others = [Path(e.path) for e in os.scandir(base) if not hidden(e.name) and e.is_dir()]
    except OSError:
        return None
    if any(holds_files(folder) for folder in others if folder != photos):
        return None  # photos elsewhere too: images/ is one class folder among others
    note = f"{base}: the photos are in {photos.name}/ (the folders beside it hold none)"
    layout = _class_folders(photos, flag, root)
    if layout.kind == "single":
        listed = listed_split(layout.train, note, "photos in class folders")
        if listed is not None:
            return listed
    layout.notes.insert(0, note)
    return layout


def _only_photo_folder(base: Path, most: int = 4) -> Path | None:
    """The one folder of a download's root of two to ``most`` folders that holds photos when the
    others hold none, and it is no split folder (``train/`` beside ``docs/`` is a split); else
    None. A root of more folders (``/usr``) is a classifier's classes, never walked below."""
    inner = subfolders(base)
    if not 2 <= len(inner) <= most:
        return None
    with_photos = [folder for folder in inner if holds_files(folder)]
    if len(with_photos) != 1 or split_role(with_photos[0].name) is not None:
        return None
    return with_photos[0]


def evaluation_folder(root: str | os.PathLike[str], flag: str = "--data") -> tuple[Path, str]:
    """The folder of class folders that ``lucid eval`` scores for ``root``, and what it is: the
    validation split of a split tree as `find_layout` picks it (``val/``, ``valid/``, ...; ``test/``
    beside a ``train/``), ``train/`` when it stands alone (a run on it recorded a seeded held-out
    split of it), read from a download's one folder as training reads it; else ``root`` itself."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"{flag} {root}: no such folder")
    base = unwrapped_root(base)
    train_dir, val_dir, _ = _split_roles(base)
    if val_dir is not None and (train_dir is not None or split_role(val_dir.name) == "val"):
        return val_dir, f"{val_dir.name}/ split"
    if train_dir is not None and not _other_folders(base):
        return train_dir, "folder"
    return base, "folder"


def _split_roles(base: Path) -> tuple[Path | None, Path | None, list[str]]:
    """`split_folders` of a classification root; a validation folder without class folders or a
    list that labels its photos (a Kaggle ``test/`` of unlabelled photos) does not validate."""
    train_dir, val_dir, notes = split_folders(base)
    if val_dir is not None and not has_folders(val_dir) and listed_folder(val_dir) is None:
        notes = [f"{base}: {val_dir.name}/ holds no class folders (unlabelled images?), so it does not validate"]
        val_dir = None
    if train_dir is not None and val_dir is None and not has_folders(train_dir) and listed_folder(train_dir) is None:
        train_dir = None  # images, not class folders: a class named "train" (vehicles) among the others
    return train_dir, val_dir, notes


def _other_folders(base: Path) -> list[str]:
    """The folders of ``base`` that are not split folders (they could be classes)."""
    return sorted(e.name for e in os.scandir(base) if not hidden(e.name) and e.is_dir() and split_role(e.name) is None)


def _train_alone(base: Path, train_dir: Path, notes: list[str], flag: str, root: object) -> FolderLayout:
    """A ``train/`` folder without a validation split: a seeded share of it validates, as for one
    folder of class folders (the layout's root is ``train/``, so ``lucid eval`` re-derives the
    split). Refused when ``base`` also holds other folders, which could be classes."""
    others = _other_folders(base)
    if others:
        raise DataError(
            f"{flag} {root}: has {train_dir.name}/ and other folders ({', '.join(others[:5])}) but no val/ (or "
            f"valid/, test/); expected one of the layouts {_layouts_text()}"
        )
    notes.append(f"{base}: a {train_dir.name}/ folder but no val/ (or valid/, test/): a seeded share of it validates")
    train, listed = split_class_files(train_dir)  # class folders, or a list in it (Roboflow's train/_classes.csv)
    return FolderLayout(train_dir, "single", train, None, notes + listed)


def photo_folder_layout(root: str | os.PathLike[str], flag: str = "--data") -> FolderLayout | None:
    """``root`` as ``images/<class>/`` beside folders without photos (Food-101, split by its
    ``meta/train.txt`` + ``test.txt``); else None. `find_layout` reads it so, and ``lucid eval``
    scores its validation list."""
    base = Path(root).expanduser()
    if not base.is_dir():
        return None
    layout = _photo_folder_classes(base, flag, root)
    if layout is None and base.name.lower() in PHOTO_DIRS and has_folders(base):  # images/ itself
        note = f"{base}: photos in class folders"
        layout = listed_split(class_files(base), note, "photos in class folders")
    return layout


def unwrapped_root(base: Path) -> Path:
    """The folder `find_layout` reads a download's root from: its one data folder, a wrapper's
    wrapper too (Kaggle's folder inside its namesake); ``base`` itself when it is no wrapper."""
    while (inner := _wrapped_classes(base)) is not None:
        base = inner
    return base


def _wrapped_classes(base: Path) -> Path | None:
    """`wrapped_folder` when it has a train/ split or at least two folders of its own
    (``sign-language-digits/images/<class>/``); a real one-class folder is not unwrapped. A
    download's one data folder beside an unlabelled test split (`beside_unlabelled`) is one too."""
    if category_files(base) or (base / PLACES_CATEGORIES).is_file():  # lists that label its one folder's photos
        return None  # (iNaturalist's train2018.json, Places365's categories and lists)
    if hub_set(base) is not None:  # a Hugging Face set's split folders (partial-train/ + test/) are one set
        return None
    inner = None if split_child(base, TRAIN_SPLITS) is not None else wrapped_folder(base) or beside_unlabelled(base)
    if inner is None or split_child(inner, TRAIN_SPLITS) is not None or _wrapped_classes(inner) is not None:
        return inner  # none, a split tree, or a wrapper of one (Kaggle's folder inside its namesake)
    try:
        subfolders = [e for e in os.scandir(inner) if not hidden(e.name) and e.is_dir(follow_symlinks=True)]
    except OSError:
        return None
    # Two folders of classes, or photos labelled other than by folders (FGVC-Aircraft's data/images/ + lists).
    return inner if len(subfolders) >= 2 or labelled_layout(inner) is not None else None


def beside_unlabelled(base: Path) -> Path | None:
    """The one data folder of a download's root that holds it beside unlabelled test photos (New
    Plant Diseases: ``New Plant Diseases Dataset(Augmented)/`` + ``test/test/*.jpg``), else None:
    the test folder is no class (`unlabelled_split`), so the root is that folder's wrapper."""
    folders = subfolders(base)
    unlabelled = [f for f in folders if unlabelled_split(f)]
    rest = [f for f in folders if f not in unlabelled]
    if not unlabelled or len(rest) != 1 or base.resolve().is_relative_to(rest[0].resolve()):
        return None
    try:
        loose = any(e.is_file() and e.name.lower().endswith(IMAGE_SUFFIXES) for e in os.scandir(base))
    except OSError:
        return None
    return None if loose else rest[0]


def _skipped_note(skipped: list[str]) -> str:
    shown = "; ".join(skipped[:5]) + (f"; and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    return f"skipped {len(skipped)} entr{'y' if len(skipped) == 1 else 'ies'}: {shown}"


def _check(layout: FolderLayout, flag: str, root: object) -> None:
    own = layout.kind == "single" and layout.train.folder == Path(str(root)).expanduser()
    where = "the folder" if own else f"{layout.train.folder.name}/"
    if not layout.train.files or not layout.train.count():
        raise DataError(
            f"{flag} {root}: {where} holds no images in class folders (looked for "
            f"{', '.join(IMAGE_SUFFIXES)}); expected one of the layouts {_layouts_text()}"
        )
    empty = [name for name, files in layout.train.files.items() if not files]
    if empty:
        raise DataError(f"{flag} {root}: class folder(s) {empty} in {where} hold no images")
    if layout.val is not None:
        split = layout.val.folder.name
        if not layout.val.count():
            raise DataError(f"{flag} {root}: {split}/ holds no images (looked for .jpg, .png, ... in class folders)")
        only_val = sorted(n for n, f in layout.val.files.items() if f and n not in layout.train.files)
        if only_val:
            raise DataError(
                f"{flag} {root}: class(es) {only_val} appear only in {split}/; every {split} class needs "
                f"training images in {layout.train.folder.name}/"
            )
    elif len(layout.train.files) < 2:
        raise DataError(f"{flag} {root}: one class folder only; a classifier needs at least 2 classes")

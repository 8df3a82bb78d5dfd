"""One walk over a data folder: which image files exist, its split folders, and the held-out split.

Everything that reads user image folders (training, ``lucid eval``, deployment) starts here, so
the files that are checked are exactly the files that are trained on. Which classification layout
a folder is in is `lucid.data.layouts`' job; photos labelled other than by class folders are read
by `lucid.data.labels`. torchvision's
``ImageFolder`` is not used for the walk: it follows symlinks without loop detection, matches name
endings (a hidden file called ``.png`` is an "image") and opens whatever it lists, so a named pipe
called ``pipe.png`` would hang the loader. This walk keeps regular files only, skips hidden
entries, detects symlink loops by the real (device, inode) of every visited folder, and never
opens a file: ``os.stat`` is enough to tell a FIFO, socket or device from a regular file.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from lucid.errors import DataError

__all__ = [
    "cache_home",
    "keyed_cache_folder",
    "IMAGE_SUFFIXES",
    "UNREAD_IMAGE_SUFFIXES",
    "ClassFiles",
    "FolderLayout",
    "SplitFiles",
    "class_files",
    "MASK_DIRS",
    "photos_beside_masks",
    "files_digest",
    "held_out_files",
    "seeded_split",
    "split_files",
    "stratified_split",
    "walk_images",
    "hidden",
    "unlabelled_split",
    "keyed_files",
    "wrapped_folder",
    "wrapped_note",
    "TRAIN_SPLITS",
    "VAL_SPLITS",
    "TEST_SPLITS",
    "child_folder",
    "split_folders",
    "split_child",
    "split_role",
    "split_word",
    "name_role",
    "SPLIT_AFFIXES",
    "read_id_list",
    "voc_split",
    "image_inputs",
    "names_file_text",
    "distinct_names",
    "MAX_NAMES_FILE_BYTES",
    "holds_files",
    "has_folders",
    "subfolders",
]


# What no data set means by its entries: hidden ones (.DS_Store, ._x.jpg, .git/) and the folder macOS's
# zip tool adds beside the data (__MACOSX/, of ._ files): read as a class or a data folder, it was a class
# "of no images" or the second folder that hid a download's one data folder.
OS_ARTEFACTS = ("__MACOSX",)


def hidden(name: str) -> bool:
    """Whether a folder entry named ``name`` is no part of the data: hidden, or an OS artefact."""
    return name.startswith(".") or name in OS_ARTEFACTS


MAX_NAMES_FILE_BYTES = 1_000_000  # a list of class names; a larger file is not one


Item = TypeVar("Item")


# torchvision's list (ImageFolder's IMG_EXTENSIONS), so the same names count as images, plus the
# types Keras's image_dataset_from_directory also reads (.gif) and those Pillow decodes that photo
# folders hold (.jfif from browsers, .avif): a folder of them would otherwise look empty.
IMAGE_SUFFIXES = (
    ".jpg", ".jpeg", ".jfif", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif", ".avif"
)  # fmt: skip
# Image types Pillow does not decode here: said when skipped (other files are ignored quietly).
UNREAD_IMAGE_SUFFIXES = (".heic", ".heif", ".svg", ".jxl", ".raw", ".cr2", ".nef", ".arw", ".dng", ".psd")


def walk_images(
    folder: str | os.PathLike[str], visited: set[tuple[int, int]] | None = None
) -> tuple[list[Path], list[str]]:
    """Every image file under ``folder`` (sorted) and one message per entry that was skipped.

    Kept: regular files (also through symlinks) whose suffix is an image suffix. Skipped, with a
    message: hidden entries (names starting with "."), FIFOs, sockets, devices, broken symlinks,
    symlinked folders already visited (loops) and image types Pillow does not decode (HEIC, SVG,
    camera raw ...). Files with other suffixes (notes, labels) are ignored quietly.
    Nothing is opened, so a named pipe cannot block the walk. ``visited`` holds the (device,
    inode) of folders not to enter (again); the walk adds every folder it enters.
    """
    top = Path(folder)
    found: list[Path] = []
    skipped: list[str] = []
    visited = set() if visited is None else visited
    pending = [top]
    first = True
    while pending:
        current = pending.pop()
        try:
            info = os.stat(current)
        except OSError as exc:
            skipped.append(f"{current}: cannot read the folder ({exc.strerror or exc})")
            continue
        key = (info.st_dev, info.st_ino)
        if first:
            visited.discard(key)  # the folder asked for is walked even when pre-marked
            first = False
        if key in visited:
            skipped.append(f"{current}: folder already visited (symlink loop), skipped")
            continue
        visited.add(key)
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(f"{current}: cannot list the folder ({exc.strerror or exc})")
            continue
        for entry in entries:
            _visit(entry, found, skipped, pending)
    return sorted(found), skipped


def _visit(entry: os.DirEntry, found: list[Path], skipped: list[str], pending: list[Path]) -> None:
    """Sort one folder entry into found files, skipped entries or folders still to walk."""
    path = Path(entry.path)
    if hidden(entry.name):
        if entry.name.lower().endswith(IMAGE_SUFFIXES) or entry.is_dir(follow_symlinks=False):
            skipped.append(f"{path}: hidden, skipped")
        return
    try:
        info = os.stat(path)  # follows symlinks; never opens the file
    except OSError as exc:
        if path.suffix.lower() in IMAGE_SUFFIXES or entry.is_symlink():
            skipped.append(f"{path}: broken link or unreadable entry ({exc.strerror or exc}), skipped")
        return
    if stat.S_ISDIR(info.st_mode):
        pending.append(path)
        return
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        if path.suffix.lower() in UNREAD_IMAGE_SUFFIXES:
            skipped.append(f"{path}: {path.suffix.lower()} images are not read (convert to JPEG or PNG), skipped")
        return
    if not stat.S_ISREG(info.st_mode):
        skipped.append(f"{path}: {_kind(info.st_mode)}, not a regular file, skipped (never opened)")
        return
    found.append(path)


def image_inputs(items: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The images a prediction runs on: each file as given, and each folder's images (walked as a
    training folder is: sorted, nested folders included, hidden and non-image files skipped).

    A path that is neither a file nor a folder, or a folder without images, is a
    `DataError` naming it.
    """
    images: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            found, _ = walk_images(path)
            if not found:
                raise DataError(f"{path}: a folder without images ({', '.join(IMAGE_SUFFIXES)})")
            images += found
        elif path.is_file():
            images.append(path)
        else:
            raise DataError(f"no image file or folder at {path}")
    return images


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


@dataclass
class ClassFiles:
    """The image files of one split folder, by class (class folders in sorted order)."""

    folder: Path
    files: dict[str, list[Path]]
    skipped: list[str] = field(default_factory=list)
    unit: str = "class folder"  # what a class is in the data: a folder, or a name its photos begin with
    notes: list[str] = field(default_factory=list)  # lines for the user that name no skipped entry

    @property
    def classes(self) -> list[str]:
        return list(self.files)

    def count(self) -> int:
        return sum(len(f) for f in self.files.values())

    def samples(self, classes: Sequence[str]) -> tuple[list[Path], list[int]]:
        """``(files, targets)`` with targets indexed by ``classes``; unknown classes raise."""
        index = {name: i for i, name in enumerate(classes)}
        paths, targets = [], []
        for name, files in self.files.items():
            if files and name not in index:
                raise DataError(f"{self.folder}: {self.unit} {name!r} is not among the classes {list(classes)[:10]}")
            paths += files
            targets += [index.get(name, -1)] * len(files)
        return paths, targets


# Folders of segmentation masks, by name (lucid.segment.data pairs them with image folders).
MASK_DIRS = (
    "1st_manual", "manual1", "masks", "mask", "labels", "label", "annotations", "annotation", "annots", "gt", "gts",
    "groundtruth", "ground_truth", "segmentations", "segmentation", "segmentationclass", "segmentationclasspng",
    "masks_png", "category_ids",
)  # fmt: skip  # category_ids: CIHP's Training/Category_ids/ (its Categories/ are the colour copies)
# 1st_manual/, manual1/: the retinal sets' (DRIVE, HRF) hand-drawn vessels, read before their mask/ (the field of view)


def photos_beside_masks(folder: Path) -> Path:
    """A class folder's ``images/`` when it holds that and a mask folder and nothing else (Kaggle's
    COVID-19 Radiography Database: ``COVID/images/`` + ``COVID/masks/``): its masks are not photos
    of the class. Else ``folder`` itself."""
    inner = {f.name.lower(): f for f in subfolders(folder)}
    if len(inner) == 2 and "images" in inner and any(name in MASK_DIRS for name in inner):
        return inner["images"]
    return folder


def class_files(folder: Path, *, data_root: bool = False) -> ClassFiles:
    """One walk of ``folder``: its (non-hidden) sub-folders are the classes, their images the files.

    Images lying directly in ``folder`` (outside any class folder) are reported as skipped. In a
    data root (``data_root``), a validation or test split of photos without class folders
    (`unlabelled_split`) is not a class either, and is reported so.
    """
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None
    files: dict[str, list[Path]] = {}
    skipped: list[str] = []
    loose = masked = beside = 0
    folders = [e for e in entries if not hidden(e.name) and e.is_dir(follow_symlinks=True)]
    # The split folder and every class folder count as visited from the start, so a link back
    # up the tree (train/a/loop -> ..) cannot pull one class's images into another.
    visited = {_key(folder)} | {_key(Path(e.path)) for e in folders}
    for entry in entries:
        if hidden(entry.name):
            continue
        if data_root and entry.is_dir(follow_symlinks=True) and unlabelled_split(Path(entry.path)):
            skipped.append(f"{entry.path}: photos without class folders (unlabelled), not a class")
            continue
        if entry.is_dir(follow_symlinks=True):
            photos = photos_beside_masks(Path(entry.path))
            found, notes = walk_images(photos, visited)
            masks = masks_beside_photos(found)
            files[entry.name] = [path for path in found if path not in masks] if masks else found
            skipped += notes
            masked += photos != Path(entry.path)
            beside += len(masks)
        elif entry.name.lower().endswith(IMAGE_SUFFIXES):
            loose += 1
    if len(files) >= 2 and all(_LETTER.fullmatch(name) for name in files) and _letter_index(folder, files):
        files = _classes_below_letters(folder, files)
    if loose:
        skipped.append(f"{folder}: {loose} image(s) outside any class folder, skipped")
    if masked:
        skipped.append(f"{folder}: {masked} class folder(s) hold images/ beside a mask folder; the masks are not read")
    if beside:
        skipped.append(f"{folder}: {beside} mask(s) beside their photos (x_mask.png), not read as photos")
    nested = _nested_note(folder, files)
    return ClassFiles(folder, files, skipped, notes=[nested] if nested else [])


def _nested_note(folder: Path, files: dict[str, list[Path]]) -> str | None:
    """A line saying so when every class folder holds its photos in two or more folders of its
    own (iNaturalist's ``Plants/400/``): the top-level folders are still the classes, as in
    torchvision's ``ImageFolder``, but the inner folders may be the classes meant."""
    inner: dict[str, set[str]] = {}
    for name, paths in files.items():
        parts = {_first_folder(p, folder / name) for p in paths}
        if "" in parts or len(parts) < 2:
            return None
        inner[name] = parts
    if len(inner) < 2:
        return None
    first = next(iter(inner))
    shown = ", ".join(f"{first}/{part}/" for part in sorted(inner[first])[:2])
    return (
        f"{folder}: each class folder holds folders of photos ({shown} ...); the {len(inner)} top-level folders are "
        f"the classes, each with its inner folders' photos (as torchvision's ImageFolder); to train on the "
        f"inner folders, pass one class folder as --data"
    )


def _first_folder(path: Path, class_folder: Path) -> str:
    """The folder ``path`` lies in below ``class_folder`` ("" for a photo directly in it, or not below it)."""
    try:
        parts = path.relative_to(class_folder).parts
    except ValueError:
        return ""
    return parts[0] if len(parts) > 1 else ""


_LETTER = re.compile(r"[a-z0-9]", re.IGNORECASE)  # SUN397's and Places365's a/ ... z/ above the classes


def _letter_index(folder: Path, by_letter: dict[str, list[Path]]) -> bool:
    """Whether folders of one letter or digit each are an index of the classes below them (SUN397's
    ``a/abbey/``, Places365's ``data_256/a/airfield/``): no photo lies in a letter folder itself,
    and every folder below one begins with its letter. A letter's own photos (``A/x.jpg``: a sign
    alphabet) or other folders below it (``A/user1/``) keep the letters as the classes."""
    for letter, photos in by_letter.items():
        for photo in photos:
            parts = photo.relative_to(folder / letter).parts
            if len(parts) < 2 or not parts[0].lower().startswith(letter.lower()):
                return False
    return any(by_letter.values())


def _classes_below_letters(folder: Path, by_letter: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """The classes of a letter index (`_letter_index`): the folders that hold photos, named by their
    path below the letter (``abbey``, ``apartment_building/outdoor``, as torchvision's ``SUN397``
    and ``Places365`` name them)."""
    classes: dict[str, list[Path]] = {}
    for letter, photos in by_letter.items():
        for photo in photos:
            classes.setdefault("/".join(photo.relative_to(folder / letter).parts[:-1]), []).append(photo)
    return dict(sorted(classes.items()))


_MASK_BESIDE = re.compile(r"(.+?)(?:_masks?|-mask)(?:_\d+)?")  # x_mask.png, x_mask_1.png (BUSI), x-mask.png


def masks_beside_photos(files: Sequence[Path]) -> set[Path]:
    """The files of ``files`` that are masks of a photo beside them: named as the photo plus
    ``_mask`` (``_masks``, ``-mask``, with a number for a second mask: BUSI's ``benign (2)_mask_1.png``)
    in the same folder. A classifier of such class folders reads the photos alone."""
    named = [path for path in files if "mask" in path.name.lower()]  # most folders hold none: no more work
    if not named:
        return set()
    stems = {(path.parent, path.stem.lower()) for path in files}
    found = set()
    for path in named:
        match = _MASK_BESIDE.fullmatch(path.stem.lower())
        if match is not None and (path.parent, match.group(1)) in stems:
            found.add(path)
    return found


def _key(path: Path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


@dataclass
class FolderLayout:
    """A data folder as found: ``kind`` is ``"train_val"``, ``"train_test"`` or ``"single"``;
    ``train`` holds the training files (all files for ``"single"``), ``val`` the validation
    split folder's (None for ``"single"``: the split is drawn with `stratified_split`)."""

    root: Path
    kind: str
    train: ClassFiles
    val: ClassFiles | None
    notes: list[str] = field(default_factory=list)
    lists: str | None = None  # the lists or tables that split it, when they did (`labelled_layout`)
    labels: str | None = None  # where the labels come from when not from class folders
    # The folder the user named when ``root`` is one lucid wrote its photos into (a cache folder).
    source: Path | None = None

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    @property
    def named(self) -> Path:
        """The folder that names this data in the run's lines and record: ``source`` when the
        photos are files written for it into lucid's cache, else ``root`` (over whose files,
        relative to it, a held-out split is drawn either way)."""
        return self.source or self.root

    def describe(self) -> str:
        """How the files are split, in words, for the run's data line."""
        if self.val is None:
            return self.labels or "one folder of class folders"
        if self.lists is not None:
            return f"{self.labels}, {self.lists}"
        split = f"{self.train.folder.name}/ + {self.val.folder.name}/"
        split += f" ({self.val.folder.name}/ used for validation)" if self.kind == "train_test" else ""
        return f"{self.labels}: {split}" if self.labels else split


def holds_files(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES, limit: int = 500) -> bool:
    """Whether ``folder``'s tree holds a (non-hidden) file with one of ``suffixes`` among its
    first ``limit`` files: a cheap look, not a walk of a large tree."""
    seen = 0
    for _, _, names in os.walk(folder):
        if any(name.lower().endswith(suffixes) and not name.startswith(".") for name in names):
            return True
        seen += len(names)
        if seen >= limit:
            return False
    return False


def keyed_files(folder: Path, files: Iterable[Path], partner: str) -> dict[str, Path]:
    """``files`` keyed by their path below ``folder`` without the suffix, lower-cased: how a photo
    finds its mask or its annotation file. Two files of one key (``a.png`` and ``a.jpg``,
    ``A.png`` and ``a.PNG``) are a DataError naming both, since only one of them could pair with
    its ``partner`` ("mask", "annotation")."""
    keyed: dict[str, Path] = {}
    for path in files:
        key = path.relative_to(folder).with_suffix("").as_posix().lower()
        if key in keyed:
            first, second = (p.relative_to(folder).as_posix() for p in (keyed[key], path))
            raise DataError(
                f"{folder}: {first} and {second} have one name, so only one of them could pair with its {partner}; "
                "keep one of them"
            )
        keyed[key] = path
    return keyed


def wrapped_folder(base: Path) -> Path | None:
    """The one sub-folder of a download's root that holds only that folder and files such as a
    README or LICENSE (``bccd-download/BCCD/``), else None. Each task's layout finder reads the
    sub-folder when ``base`` itself is not one of its layouts, and says so (`wrapped_note`)."""
    try:
        entries = [e for e in os.scandir(base) if not hidden(e.name)]
        folders = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=True)]
        if len(folders) != 1 or any(e.name.lower().endswith(IMAGE_SUFFIXES) for e in entries):
            return None
        inner = folders[0]
        # Not a link to base or above it: reading it would walk in circles.
        return None if base.resolve().is_relative_to(inner.resolve()) else inner
    except OSError:
        return None


def wrapped_note(base: Path, inner: Path) -> str:
    """The line that says the data was read from ``base``'s one folder ``inner``."""
    return f"{base}: its one folder {inner.name}/ holds the data; reading {inner}"


# Split folders, by role; names match in any case (``Train/``, ``Valid/``). Every task's layout
# finder reads them from here, so one data root splits alike for classification, segmentation and
# detection. Roboflow and Kaggle exports name the validation split ``valid/``.
TRAIN_SPLITS = ("train", "training")
VAL_SPLITS = ("val", "valid", "validation")
TEST_SPLITS = ("test", "testing")


def child_folder(folder: Path | None, names: Sequence[str]) -> Path | None:
    """The sub-folder of ``folder`` whose name (any case) is the first of ``names`` present; hidden
    folders never count, and an unreadable ``folder`` has none."""
    if folder is None:
        return None
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
        children = {e.name.lower(): Path(e.path) for e in entries if not hidden(e.name) and e.is_dir()}
    except OSError:
        return None
    return next((children[n.lower()] for n in names if n.lower() in children), None)


# Words a split folder's name may add to the split's (Kaggle: training_set/, seg_train/, test_data/).
SPLIT_AFFIXES = ("set", "data", "dataset", "images", "imgs", "split", "seg", "zip")  # zip: Kaggle's train_zip/train/


def _names_split(name: str, names: Sequence[str]) -> bool:
    """Whether the folder ``name`` is one of ``names``, alone or with `SPLIT_AFFIXES` words, or
    with a year (COCO's and Ultralytics' ``train2017`` + ``val2017``)."""
    wanted = {n.lower() for n in names}
    words = [re.sub(r"(?<=[a-z])(19|20)\d\d$", "", w) for w in re.split(r"[-_ .]+", name.lower()) if w]
    return any(w in wanted for w in words) and all(w in wanted or w in SPLIT_AFFIXES for w in words)


def unlabelled_split(folder: Path) -> bool:
    """Whether ``folder`` is a validation or test split of photos without class folders (Kaggle's
    ``test/`` of unlabelled photos, or ``test/test/``): neither a class of a classifier nor its
    validation."""
    if split_role(folder.name) not in ("val", "test"):
        return False
    inner = subfolders(folder)
    if len(inner) == 1 and split_role(inner[0].name) == split_role(folder.name):  # test/test/, test_zip/test/
        folder = inner[0]
    return not has_folders(folder)


def split_role(name: str) -> str | None:
    """``"train"``, ``"val"`` or ``"test"`` for a split folder's name (`split_child`'s rule), else None."""
    roles = (("train", TRAIN_SPLITS), ("val", VAL_SPLITS), ("test", TEST_SPLITS))
    return next((role for role, names in roles if _names_split(name, names)), None)


_LETTERS = re.compile(r"[A-Za-z]+")


def split_word(name: str) -> str | None:
    """The first run of letters in a file's name that names a split (`split_role`), as written:
    ``train2018`` gives ``train``, ``iwildcam2020_train_annotations`` ``train``, ``cifar10-test``
    ``test``; None when no word does."""
    return next((word for word in _LETTERS.findall(name) if split_role(word) is not None), None)


def name_role(name: str) -> str | None:
    """The split role (`split_role`) a word of a file's name tells (`split_word`): ``x_test``
    gives ``"test"``, ``images`` None."""
    word = split_word(name)
    return None if word is None else split_role(word)


def split_child(folder: Path | None, names: Sequence[str]) -> Path | None:
    """`child_folder`, else the sub-folder whose name is one of ``names`` with only `SPLIT_AFFIXES`
    words around it (``training_set``, ``seg_train``; a class such as ``train_station`` is not
    one); a split folder that only holds one split folder of its role (Kaggle's
    ``training_set/training_set/<class>/``, an unpacked ``train_zip/train/``) is read from there."""
    found = child_folder(folder, names)
    if found is None and folder is not None:
        try:
            candidates = sorted(e.name for e in os.scandir(folder) if not hidden(e.name) and e.is_dir())
        except OSError:
            candidates = []
        found = next((folder / name for name in candidates if _names_split(name, names)), None)
    if found is not None:
        entries = [e for e in os.scandir(found) if not hidden(e.name)]
        if len(entries) == 1 and entries[0].is_dir() and _names_split(entries[0].name, names):
            return Path(entries[0].path)
    return found


def split_folders(
    folder: Path, usable: Callable[[Path], bool] = lambda _: True
) -> tuple[Path | None, Path | None, list[str]]:
    """The training and validation split folders of ``folder`` that ``usable`` accepts (each None
    when absent): `TRAIN_SPLITS`, and `VAL_SPLITS` or, without one, `TEST_SPLITS` (`split_child`:
    any case, Kaggle's affixes). The notes say when a test folder validates or, beside a
    validation folder, is left unused."""

    def pick(names: Sequence[str]) -> Path | None:
        found = split_child(folder, names)
        return found if found is not None and usable(found) else None

    train, val, test = pick(TRAIN_SPLITS), pick(VAL_SPLITS), pick(TEST_SPLITS)
    notes = []
    if val is None and test is not None:
        val = test
        notes.append(f"{folder}: no val/ folder, so {test.name}/ is used as the validation split")
    elif train is not None and val is not None and test is not None:
        notes.append(f"{folder}: {val.name}/ is the validation split; {test.name}/ is not used")
    return train, val, notes


def cache_home() -> Path:
    """Where lucid keeps what it derives from data (drawn masks, photos of pixel tables):
    ``$LUCID_HOME`` if set, else ``$XDG_CACHE_HOME/lucid`` (``~/.cache/lucid``)."""
    home = os.environ.get("LUCID_HOME")
    if home:
        return Path(home).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "lucid"


def keyed_cache_folder(kind: str, sources: Iterable[Path], extra: str) -> Path:
    """``cache_home()/kind/<key>``: the folder of what lucid writes once from ``sources``, keyed by
    their paths, sizes and modification times and by ``extra`` (what else decides the files), so
    a changed source is written again into a new folder."""
    token = "|".join(f"{p.resolve()}|{p.stat().st_size}|{p.stat().st_mtime_ns}" for p in sources) + f"|{extra}"
    return cache_home() / kind / hashlib.sha256(token.encode()).hexdigest()[:16]


def written_once(target: Path, write: Callable[[Path], None], what: str) -> Path:
    """``target``, a cache folder that ``write`` fills (given an empty folder) the first time it is
    asked for: written into a temporary folder beside it and renamed into place, so a folder
    there is whole, and a failed write leaves nothing. ``what`` names the data in errors."""
    if target.is_dir():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise DataError(
            f"cannot write the files of {what} into {target.parent} ({exc.strerror or exc}); set LUCID_HOME "
            "to a writable folder"
        ) from None
    try:
        write(work)
        os.rename(work, target)
    except OSError as exc:
        if not target.is_dir():  # else another process wrote the same files first
            raise DataError(f"cannot write the files of {what} into {target.parent} ({exc.strerror or exc})") from None
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)  # a failed write, or another process's rename won
    return target


def file_head(path: Path, size: int = 1 << 20) -> bytes:
    """The first ``size`` bytes of ``path`` (b"" when it cannot be read): how a format is told
    from its opening without reading a large file whole."""
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def file_holds(path: Path, needle: bytes, chunk: int = 1 << 22) -> bool:
    """Whether ``path`` holds the bytes ``needle`` anywhere, read a chunk at a time and stopped at
    the first one (False when it cannot be read): a large JSON file's content told without
    parsing it. Remembered by the file's size and time, as several readers ask of one file."""
    try:
        stat = path.stat()
    except OSError:
        return False
    return _file_holds(str(path.resolve()), stat.st_size, stat.st_mtime_ns, needle, chunk)


@functools.lru_cache(maxsize=256)
def _file_holds(path: str, size: int, mtime: int, needle: bytes, chunk: int) -> bool:
    try:
        with open(path, "rb") as handle:
            tail = b""
            while block := handle.read(chunk):
                if needle in tail + block:
                    return True
                tail = block[-len(needle) :]
    except OSError:
        return False
    return False


def subfolders(folder: Path) -> list[Path]:
    """``folder``'s non-hidden sub-folders, sorted; none when it cannot be read."""
    try:
        return sorted(Path(e.path) for e in os.scandir(folder) if not hidden(e.name) and e.is_dir())
    except OSError:
        return []


def has_folders(folder: Path) -> bool:
    try:
        return any(not hidden(e.name) and e.is_dir() for e in os.scandir(folder))
    except OSError:
        return False


def read_id_list(file: Path) -> list[str]:
    """The image ids of a Pascal VOC ``ImageSets`` list: the first word of each non-empty line."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a readable list of image ids ({exc})") from None
    return [line.split()[0] for line in lines if line.strip()]


def voc_split(
    root: Path, lists: str, every: Callable[[], list[str]], unit: str, first: Sequence[str] = ()
) -> tuple[list[str], list[str] | None, str, list[str]]:
    """Pascal VOC's split of ``root`` from ``ImageSets/<lists>/`` (``Main`` for boxes,
    ``Segmentation`` for masks): ``(train ids, validation ids, description, notes)``. ``val.txt``
    validates (else ``test.txt``, said); ``train.txt`` trains, else ``trainval.txt`` or every id
    (``every()``) less the validation ids. Without a validation list the ids are
    returned with None, for the caller's seeded split. ``unit`` names the ids' files in the
    plural ("annotations", "masks"). ``first`` names training lists read before ``train.txt``
    (DeepLab's ``train_aug.txt``)."""
    folder = child_folder(child_folder(root, ("ImageSets",)), (lists,))
    found = {
        n: folder / f"{n}.txt"
        for n in (*first, "train", "val", "test", "trainval")
        if folder and (folder / f"{n}.txt").is_file()
    }
    notes: list[str] = []
    val_name = "val" if "val" in found else "test" if "test" in found else None
    train_name = next((n for n in (*first, "train", "trainval") if n in found), None)
    if val_name is not None:
        if val_name == "test":
            notes.append(f"{root}: no ImageSets/{lists}/val.txt, so test.txt is used as the validation split")
        val = read_id_list(found[val_name])
        if train_name is not None and train_name != "trainval":
            train = read_id_list(found[train_name])
            if train_name != "train":
                return train, val, f"Pascal VOC: {train_name}.txt ({len(train)}) + {val_name}.txt ({len(val)})", notes
            return train, val, f"Pascal VOC: train.txt ({len(train)}) + {val_name}.txt ({len(val)})", notes
        held = set(val)
        pool = read_id_list(found["trainval"]) if train_name else every()
        train = [i for i in pool if i not in held]
        source = "trainval.txt" if train_name else f"the other {unit}"
        return (
            train,
            val,
            f"Pascal VOC: {source} less {val_name}.txt ({len(train)}) + {val_name}.txt ({len(val)})",
            notes,
        )
    if train_name is not None:
        ids = read_id_list(found[train_name])
        return ids, None, f"Pascal VOC: {train_name}.txt ({len(ids)}), no val.txt: split by seed", notes
    ids = every()
    return ids, None, f"Pascal VOC: {len(ids)} {unit}, no ImageSets/{lists} lists: split by seed", notes


def names_file_text(file: Path, limit: int = MAX_NAMES_FILE_BYTES) -> str:
    """The UTF-8 text of a small file of class names (``classes.txt``, ``data.yaml``,
    ``class_dict.csv``); a DataError naming the file, and the line of a byte that is not UTF-8."""
    size = file.stat().st_size
    if size > limit:
        raise DataError(f"{file}: {size:,} bytes, too large for a list of class names (at most {limit:,})")
    data = file.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"{file}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8") from None


def distinct_names(names: list[str], file: Path) -> list[str]:
    """``names`` read from ``file``, refused by the file when one repeats (two class ids would
    share a name, and its metrics)."""
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{file}: class names must be distinct; repeated: {', '.join(repeated[:5])}")
    return names


def files_digest(root: Path, files: Sequence[Path]) -> str:
    """SHA-256 of the sorted relative paths: identifies the file list a split was drawn from."""
    names = sorted(Path(os.path.relpath(p, root)).as_posix() for p in files)
    return hashlib.sha256("\n".join(names).encode("utf-8", "surrogateescape")).hexdigest()


def stratified_split(targets: Sequence[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Seeded, stratified ``(train_indices, val_indices)``: each class gives ``round(fraction * n)``
    of its items (at least 1 when it has 2 or more) to validation. Depends only on the order of
    ``targets``, ``fraction`` and ``seed``, so `lucid.train.evaluate` re-derives it exactly."""
    if not 0 < fraction < 1:
        raise DataError(f"--val-fraction must be in (0, 1), got {fraction!r}")
    generator = torch.Generator().manual_seed(seed)
    by_class: dict[int, list[int]] = {}
    for index, target in enumerate(targets):
        by_class.setdefault(int(target), []).append(index)
    train, val = [], []
    for target in sorted(by_class):
        items = by_class[target]
        order = torch.randperm(len(items), generator=generator).tolist()
        take = min(max(round(fraction * len(items)), 1 if len(items) >= 2 else 0), len(items) - 1)
        val += [items[i] for i in order[:take]]
        train += [items[i] for i in order[take:]]
    return sorted(train), sorted(val)


def seeded_split(
    items: Sequence[Item], fraction: float, seed: int, unit: str = "item"
) -> tuple[list[Item], list[Item]]:
    """Seeded ``(train, val)`` of ``items``, each in the items' order: ``round(fraction * n)`` of
    them (at least one, never all) validate. For data without one class per item (boxes, masks),
    where a stratified split has nothing to stratify by. ``unit`` names an item in the errors."""
    if not 0 < fraction < 1:
        raise DataError(f"--val-fraction must be in (0, 1), got {fraction!r}")
    if len(items) < 2:
        raise DataError(f"{len(items)} usable {unit}(s): at least 2 are needed to train and validate")
    take = min(max(round(fraction * len(items)), 1), len(items) - 1)
    chosen = set(torch.randperm(len(items), generator=torch.Generator().manual_seed(seed))[:take].tolist())
    return [x for i, x in enumerate(items) if i not in chosen], [x for i, x in enumerate(items) if i in chosen]


@dataclass
class SplitFiles:
    """The training and validation files of a data folder, with the split's record (stored in
    checkpoints as ``extra.data.split``, so ``lucid eval`` can re-derive the same held-out set)."""

    classes: list[str]
    train_files: list[Path]
    train_targets: list[int]
    val_files: list[Path]
    val_targets: list[int]
    record: dict[str, Any]  # JSON data, stored in checkpoints


def split_files(layout: FolderLayout, val_fraction: float, seed: int) -> SplitFiles:
    """Training and validation files: the split folders as given, or for one folder of class
    folders a seeded stratified ``val_fraction`` split, recorded with a digest of the file list."""
    classes = layout.classes
    files, targets = layout.train.samples(classes)
    if layout.val is not None:
        val_files, val_targets = layout.val.samples(classes)
        record: dict[str, Any] = {"layout": layout.kind, "val_folder": layout.val.folder.name}
        return SplitFiles(classes, files, targets, val_files, val_targets, record)
    train_idx, val_idx = stratified_split(targets, val_fraction, seed)
    single_record: dict[str, Any] = {
        "layout": "single",
        "seed": seed,
        "val_fraction": val_fraction,
        "stratified": True,
        "files": len(files),
        "digest": files_digest(layout.root, files),
    }
    return SplitFiles(
        classes,
        [files[i] for i in train_idx],
        [targets[i] for i in train_idx],
        [files[i] for i in val_idx],
        [targets[i] for i in val_idx],
        single_record,
    )


def held_out_files(layout: FolderLayout, record: Mapping[str, Any], flag: str = "--data") -> SplitFiles:
    """Re-derive the held-out split ``record`` describes on a single-folder ``layout``; refuse
    with `DataError` when the folder's files are not the ones split then."""
    files, _ = layout.train.samples(layout.classes)
    digest = files_digest(layout.root, files)
    if digest != record.get("digest"):
        raise DataError(
            f"{flag} {layout.root}: the folder changed since training ({record.get('files')} image files were "
            f"split then, {len(files)} are there now, or their names differ), so the held-out images cannot be "
            "re-derived; evaluate on an explicit folder of held-out images instead"
        )
    return split_files(layout, float(record["val_fraction"]), int(record["seed"]))

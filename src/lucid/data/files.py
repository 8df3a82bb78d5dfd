"""One walk over a data folder: which image files exist, in which layout, and the held-out split.

Everything that reads user image folders (training, ``lucid eval``, deployment) starts here, so
the files that are checked are exactly the files that are trained on. torchvision's
``ImageFolder`` is not used for the walk: it follows symlinks without loop detection, matches name
endings (a hidden file called ``.png`` is an "image") and opens whatever it lists, so a named pipe
called ``pipe.png`` would hang the loader. This walk keeps regular files only, skips hidden
entries, detects symlink loops by the real (device, inode) of every visited folder, and never
opens a file: ``os.stat`` is enough to tell a FIFO, socket or device from a regular file.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from lucid.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "LAYOUTS",
    "ClassFiles",
    "FolderLayout",
    "SplitFiles",
    "class_files",
    "files_digest",
    "find_layout",
    "held_out_files",
    "seeded_split",
    "split_files",
    "stratified_split",
    "walk_images",
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
    "SPLIT_AFFIXES",
    "evaluation_folder",
    "read_id_list",
    "voc_split",
    "image_inputs",
    "names_file_text",
    "distinct_names",
    "MAX_NAMES_FILE_BYTES",
    "PHOTO_DIRS",
    "TRAIN_LISTS",
    "VAL_LISTS",
    "name_classes",
    "named_layout",
    "split_lists",
    "split_names",
    "labelled_layout",
    "photo_folder_layout",
    "holds_files",
    "table_layout",
    "read_label_table",
    "LabelTable",
]

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

LAYOUTS = (
    "DIR/train/<class>/<image> with DIR/val/<class>/<image> (or valid/, validation/)",
    "DIR/train/<class>/<image> with DIR/test/<class>/<image> (test/ is used for validation)",
    "DIR/<class>/<image> (one folder of class folders, split by --val-fraction; train/ alone is split so too)",
    "photos named by class (DIR/train/cat.1.jpg, DIR/images/Abyssinian_1.jpg: the name before the number)",
    "photos labelled by a table (DIR/train.csv with an image and a label column, the photos below DIR)",
)


def _layouts_text() -> str:
    return "; ".join(f"({i}) {text}" for i, text in enumerate(LAYOUTS, 1))


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
    if entry.name.startswith("."):
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


def class_files(folder: Path) -> ClassFiles:
    """One walk of ``folder``: its (non-hidden) sub-folders are the classes, their images the files.

    Images lying directly in ``folder`` (outside any class folder) are reported as skipped.
    """
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None
    files: dict[str, list[Path]] = {}
    skipped: list[str] = []
    loose = 0
    folders = [e for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=True)]
    # The split folder and every class folder count as visited from the start, so a link back
    # up the tree (train/a/loop -> ..) cannot pull one class's images into another.
    visited = {_key(folder)} | {_key(Path(e.path)) for e in folders}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=True):
            files[entry.name], notes = walk_images(Path(entry.path), visited)
            skipped += notes
        elif entry.name.lower().endswith(IMAGE_SUFFIXES):
            loose += 1
    if loose:
        skipped.append(f"{folder}: {loose} image(s) outside any class folder, skipped")
    return ClassFiles(folder, files, skipped)


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

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    def describe(self) -> str:
        """How the files are split, in words, for the run's data line."""
        if self.val is None:
            return self.labels or "one folder of class folders"
        if self.lists is not None:
            return f"{self.labels}, {self.lists}"
        split = f"{self.train.folder.name}/ + {self.val.folder.name}/"
        split += f" ({self.val.folder.name}/ used for validation)" if self.kind == "train_test" else ""
        return f"{self.labels}: {split}" if self.labels else split


def find_layout(root: str | os.PathLike[str], flag: str = "--data") -> FolderLayout:
    """Detect which of `LAYOUTS` ``root`` is, walk it once and check it.

    Raises `DataError` naming the accepted layouts for anything else, for a
    class without training images, or a validation class that has no training folder.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"{flag} {root}: no such folder (expected one of the layouts {_layouts_text()})")
    inner = _wrapped_classes(base)
    if inner is not None:  # a download's root: README, LICENSE and one folder that holds the data
        layout = find_layout(inner, flag)
        layout.notes.insert(0, wrapped_note(base, inner))
        return layout
    layout = labelled_layout(base) or photo_folder_layout(base, flag) or _class_folders(base, flag, root)
    _check(layout, flag, root)
    for part in (layout.train, layout.val):
        if part is not None and part.skipped:
            layout.notes.append(_skipped_note(part.skipped))
    return layout


def _class_folders(base: Path, flag: str, root: object) -> FolderLayout:
    """``base`` as class folders: in ``train/`` + ``val/`` (or ``test/``), in ``train/`` alone, or
    directly in ``base``."""
    train_dir, val_dir, notes = _split_roles(base)
    if train_dir is not None and val_dir is not None:
        kind = "train_test" if split_role(val_dir.name) == "test" else "train_val"
        return FolderLayout(base, kind, class_files(train_dir), class_files(val_dir), notes)
    if train_dir is not None:
        return _train_alone(base, train_dir, notes, flag, root)
    return FolderLayout(base, "single", class_files(base), None, notes)


def _photo_folder_classes(base: Path, flag: str, root: object) -> FolderLayout | None:
    """``images/<class>/`` beside folders that hold no photos (Food-101: ``images/`` + ``meta/``
    with ``train.txt`` + ``test.txt``; a data set's ``docs/``): the classes are read from
    ``images/``, split by its lists (`split_lists`) or its own split folders, else by seed; the
    folder's siblings are not classes. None when there is no such ``images/``."""
    photos = child_folder(base, PHOTO_DIRS)
    if photos is None or not _has_folders(photos):
        return None
    try:
        others = [Path(e.path) for e in os.scandir(base) if not e.name.startswith(".") and e.is_dir()]
    except OSError:
        return None
    if any(holds_files(folder) for folder in others if folder != photos):
        return None  # photos elsewhere too: images/ is one class folder among others
    note = f"{base}: the photos are in {photos.name}/ (the folders beside it hold none)"
    layout = _class_folders(photos, flag, root)
    if layout.kind == "single":
        listed = _listed_split(layout.train, note, "photos in class folders")
        if listed is not None:
            return listed
    layout.notes.insert(0, note)
    return layout


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
        entries = [e for e in os.scandir(base) if not e.name.startswith(".")]
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
        children = {e.name.lower(): Path(e.path) for e in entries if not e.name.startswith(".") and e.is_dir()}
    except OSError:
        return None
    return next((children[n.lower()] for n in names if n.lower() in children), None)


# Words a split folder's name may add to the split's (Kaggle: training_set/, seg_train/, test_data/).
SPLIT_AFFIXES = ("set", "data", "dataset", "images", "imgs", "split", "seg")


def _names_split(name: str, names: Sequence[str]) -> bool:
    """Whether the folder ``name`` is one of ``names``, alone or with `SPLIT_AFFIXES` words."""
    wanted = {n.lower() for n in names}
    words = [w for w in re.split(r"[-_ .]+", name.lower()) if w]
    return any(w in wanted for w in words) and all(w in wanted or w in SPLIT_AFFIXES for w in words)


def split_role(name: str) -> str | None:
    """``"train"``, ``"val"`` or ``"test"`` for a split folder's name (`split_child`'s rule), else None."""
    roles = (("train", TRAIN_SPLITS), ("val", VAL_SPLITS), ("test", TEST_SPLITS))
    return next((role for role, names in roles if _names_split(name, names)), None)


def split_child(folder: Path | None, names: Sequence[str]) -> Path | None:
    """`child_folder`, else the sub-folder whose name is one of ``names`` with only `SPLIT_AFFIXES`
    words around it (``training_set``, ``seg_train``; a class such as ``train_station`` is not
    one); a split folder that only repeats its own name one level down (Kaggle's
    ``training_set/training_set/<class>/``) is read from there."""
    found = child_folder(folder, names)
    if found is None and folder is not None:
        try:
            candidates = sorted(e.name for e in os.scandir(folder) if not e.name.startswith(".") and e.is_dir())
        except OSError:
            candidates = []
        found = next((folder / name for name in candidates if _names_split(name, names)), None)
    if found is not None:
        inner = child_folder(found, (found.name,))
        if inner is not None and len([e for e in os.scandir(found) if not e.name.startswith(".")]) == 1:
            return inner
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


def evaluation_folder(root: str | os.PathLike[str], flag: str = "--data") -> tuple[Path, str]:
    """The folder of class folders that ``lucid eval`` scores for ``root``, and what it is: the
    validation split of a split tree as `find_layout` picks it (``val/``, ``valid/``, ...; ``test/``
    beside a ``train/``), ``train/`` when it stands alone (a run on it recorded a seeded held-out
    split of it), read from a download's one folder as training reads it; else ``root`` itself."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"{flag} {root}: no such folder")
    base = _wrapped_classes(base) or base
    train_dir, val_dir, _ = _split_roles(base)
    if val_dir is not None and (train_dir is not None or split_role(val_dir.name) == "val"):
        return val_dir, f"{val_dir.name}/ split"
    if train_dir is not None and not _other_folders(base):
        return train_dir, "folder"
    return base, "folder"


def _split_roles(base: Path) -> tuple[Path | None, Path | None, list[str]]:
    """`split_folders` of a classification root; a validation folder without class folders (a
    Kaggle ``test/`` of unlabelled photos) does not validate."""
    train_dir, val_dir, notes = split_folders(base)
    if val_dir is not None and not _has_folders(val_dir):
        notes = [f"{base}: {val_dir.name}/ holds no class folders (unlabelled images?), so it does not validate"]
        val_dir = None
    if train_dir is not None and val_dir is None and not _has_folders(train_dir):
        train_dir = None  # images, not class folders: a class named "train" (vehicles) among the others
    return train_dir, val_dir, notes


def _other_folders(base: Path) -> list[str]:
    """The folders of ``base`` that are not split folders (they could be classes)."""
    return sorted(
        e.name for e in os.scandir(base) if not e.name.startswith(".") and e.is_dir() and split_role(e.name) is None
    )


def _has_folders(folder: Path) -> bool:
    try:
        return any(not e.name.startswith(".") and e.is_dir() for e in os.scandir(folder))
    except OSError:
        return False


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
    return FolderLayout(train_dir, "single", class_files(train_dir), None, notes)


# A photo's class in its name: the words before a closing number (Kaggle's Dogs vs. Cats:
# cat.12.jpg; Oxford-IIIT Pet: Abyssinian_100.jpg, american_bulldog_12.jpg; "dog (3).jpg").
_NAMED_PHOTO = re.compile(r"(.*?[^\W\d_].*?)[\s._-]*\(?\d+\)?")
# First words that cameras, phones and tools give every photo (IMG_0042.jpg, DSC_0001.jpg,
# IMG_20240101_123456.jpg): such a "class" says nothing of what the photo shows.
_FILE_WORDS = frozenset(
    ("img", "image", "images", "photo", "pic", "picture", "dsc", "dscn", "dscf", "pxl", "mvimg", "frame", "screenshot",
     "scan", "file", "gopr", "vid")
)  # fmt: skip
# The folder that holds a data set's photos beside its other files (Oxford-IIIT Pet: images/ + annotations/).
PHOTO_DIRS = ("images", "image", "imgs", "img", "photos", "jpegimages")
# Lists of photo names that split them (Oxford-IIIT Pet's annotations/trainval.txt + test.txt), by role.
TRAIN_LISTS, VAL_LISTS = ("trainval.txt", "train.txt"), ("val.txt", "test.txt")
NAMED_UNIT = "class (named by its photos)"
NAMED = "photos named by class"


def name_classes(folder: Path | None) -> ClassFiles | None:
    """The photos of ``folder`` by the class their names begin with (``cat.12.jpg`` is a ``cat``),
    or None unless ``folder`` holds photos and no folders, every photo's name is words then a
    number, the words are not a camera's (``IMG_0042.jpg``), and they name at least two classes
    of at least two photos each."""
    if folder is None or _has_folders(folder):
        return None
    photos, skipped = walk_images(folder)
    files: dict[str, list[Path]] = {}
    for photo in photos:
        match = _NAMED_PHOTO.fullmatch(photo.stem)
        if match is None or re.split(r"[\W_]+", match.group(1))[0].lower() in _FILE_WORDS:
            return None
        files.setdefault(match.group(1), []).append(photo)
    if len(files) < 2 or min(len(f) for f in files.values()) < 2:
        return None
    return ClassFiles(folder, dict(sorted(files.items())), skipped, NAMED_UNIT)


def named_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root`` as photos named by class (`name_classes`), else None. Read: a ``train/`` of them
    (with a ``val/`` or ``test/`` of them; a ``test/`` of unlabelled photos, as Kaggle's Dogs vs.
    Cats has, does not validate), an ``images/`` folder of them beside other files (Oxford-IIIT
    Pet), split by its ``trainval.txt`` + ``test.txt`` lists (beside it or in ``annotations/``),
    or ``root`` itself. Without a validation folder or lists a seeded share validates."""
    base = Path(root).expanduser()
    train_dir = split_child(base, TRAIN_SPLITS)
    if train_dir is not None:
        train = name_classes(train_dir)
        return None if train is None else _named_splits(base, train)
    photos_dir = child_folder(base, PHOTO_DIRS)
    found = name_classes(photos_dir if photos_dir is not None else base)
    if found is None:
        return None
    note = f"{found.folder}: photos named by class ({len(found.files)} classes: the words before each name's number)"
    return _listed_split(found, note) or FolderLayout(found.folder, "single", found, None, [note], labels=NAMED)


def _named_splits(base: Path, train: ClassFiles) -> FolderLayout:
    """A ``train/`` of photos named by class, with a validation folder of them if there is one."""
    notes = [f"{train.folder}: photos named by class ({len(train.files)} classes: the words before each name's number)"]
    val_dir = split_child(base, VAL_SPLITS) or split_child(base, TEST_SPLITS)
    val = name_classes(val_dir)
    if val is not None and val_dir is not None:
        kind = "train_test" if split_role(val_dir.name) == "test" else "train_val"
        return FolderLayout(base, kind, train, val, notes, labels=NAMED)
    if val_dir is not None:
        notes.append(
            f"{base}: the photos in {val_dir.name}/ are not named by class (unlabelled?), so it does not validate"
        )
    notes.append(
        f"{base}: {train.folder.name}/ but no labelled val/ (or valid/, test/): a seeded share of it validates"
    )
    return FolderLayout(train.folder, "single", train, None, notes, labels=NAMED)


def split_lists(folder: Path) -> tuple[Path, Path] | None:
    """The (training, validation) lists of photo names for the photos in ``folder``: `TRAIN_LISTS`
    and `VAL_LISTS` in the data root (``folder``'s parent for an ``images/`` folder), its
    ``annotations/`` (Oxford-IIIT Pet) or its ``meta/`` (Food-101)."""
    top = folder.parent if folder.name.lower() in PHOTO_DIRS else folder
    for place in (top, child_folder(top, ("annotations",)), child_folder(top, ("meta",))):
        if place is None:
            continue
        train = next((place / n for n in TRAIN_LISTS if (place / n).is_file()), None)
        val = next((place / n for n in VAL_LISTS if (place / n).is_file()), None)
        if train is not None and val is not None:
            return train, val
    return None


def _listed_split(found: ClassFiles, note: str, labels: str = NAMED) -> FolderLayout | None:
    """``found`` split by the lists beside it (`split_names`: a name is a photo's path below the
    photo folder or its file name, without the suffix: Food-101's ``apple_pie/1005649``,
    Oxford-IIIT Pet's ``Abyssinian_100``); None without lists. A listed name without its photo,
    or one in both lists, is a DataError; photos in no list are not used."""
    listed = split_names(found.folder)
    if listed is None:
        return None
    by_name: dict[str, tuple[str, Path]] = {}
    stems: dict[str, list[tuple[str, Path]]] = {}
    for label, photos in found.files.items():
        for photo in photos:
            by_name[photo.relative_to(found.folder).with_suffix("").as_posix().lower()] = (label, photo)
            stems.setdefault(photo.stem.lower(), []).append((label, photo))
    by_name.update({stem: entries[0] for stem, entries in stems.items() if len(entries) == 1 and stem not in by_name})
    parts = []
    for source, listed_names in listed:
        names = list(dict.fromkeys(n.lower() for n in listed_names))
        missing = [n for n in names if n not in by_name]
        if missing:
            raise DataError(
                f"{source}: {len(missing)} listed photo(s) are not in {found.folder} (e.g. {missing[:3]}); "
                f"expected the names of its photos without their suffix"
            )
        files: dict[str, list[Path]] = {}
        for name in names:
            label, photo = by_name[name]
            files.setdefault(label, []).append(photo)
        parts.append(ClassFiles(found.folder, {k: sorted(v) for k, v in sorted(files.items())}, [], found.unit))
    train, val = parts
    (train_source, _), (val_source, _) = listed
    both = {p for f in train.files.values() for p in f} & {p for f in val.files.values() for p in f}
    if both:
        raise DataError(f"{train_source} and {val_source} both list {len(both)} photo(s) (e.g. {sorted(both)[0].name})")
    train.skipped = found.skipped
    train_name, val_name = Path(train_source).name, Path(val_source).name
    notes = [f"{note}, split by {train_name} ({train.count()}) + {val_name} ({val.count()})"]
    unlisted = found.count() - train.count() - val.count()
    if unlisted:
        notes.append(f"{found.folder}: {unlisted} photos are in neither list and are not used")
    kind = "train_test" if "test" in val_name.lower() else "train_val"
    return FolderLayout(found.folder, kind, train, val, notes, f"{train_name} + {val_name}", labels)


def split_names(folder: Path) -> tuple[tuple[str, list[str]], tuple[str, list[str]]] | None:
    """The names of the training and validation photos of ``folder``, each with where they were
    read: `split_lists`, else CUB-200-2011's ``images.txt`` (``<id> <path>``) with
    ``train_test_split.txt`` (``<id> <1 trains, 0 tests>``) at the data root; None without them."""
    lists = split_lists(folder)
    if lists is not None:
        return (str(lists[0]), read_id_list(lists[0])), (str(lists[1]), read_id_list(lists[1]))
    top = folder.parent if folder.name.lower() in PHOTO_DIRS else folder
    paths, flags = top / "images.txt", top / "train_test_split.txt"
    if not (paths.is_file() and flags.is_file()):
        return None
    by_id = dict(_two_words(paths))
    trains = dict(_two_words(flags))
    missing = sorted(set(by_id) - set(trains))
    if missing or any(flag not in ("0", "1") for flag in trains.values()):
        raise DataError(f"{flags}: expected '<id> 1' (trains) or '<id> 0' (tests) for every id of {paths.name}")
    names = {flag: [str(Path(by_id[i]).with_suffix("")) for i in by_id if trains[i] == flag] for flag in ("1", "0")}
    return (f"{flags}: 1", names["1"]), (f"{flags}: 0", names["0"])


def _two_words(file: Path) -> list[tuple[str, str]]:
    """The first two words of each non-empty line of ``file``; a line with fewer is a DataError."""
    pairs = []
    for line, text in enumerate(names_file_text(file, MAX_TABLE_BYTES).splitlines(), 1):
        words = text.split()
        if not words:
            continue
        if len(words) < 2:
            raise DataError(f"{file}:{line}: expected two words, an id and its value, got {text!r}")
        pairs.append((words[0], words[1]))
    return pairs


# A table that labels photos, one row each (Kaggle: train.csv, labels.csv, trainLabels.csv,
# HAM10000_metadata.csv): the column naming the photo and the one naming its class, by header.
PHOTO_COLUMNS = (
    "image", "image_id", "imageid", "image_name", "filename", "file_name", "file", "fname", "path", "image_path",
    "img", "id", "id_code", "name",
)  # fmt: skip
LABEL_COLUMNS = (
    "label", "labels", "class", "class_name", "classname", "category", "target", "breed", "species", "diagnosis",
    "dx", "label_name", "class_id", "y",
)  # fmt: skip
# Columns of a box table (detection's): its rows are boxes, not labels of photos.
BOX_COLUMNS = ("xmin", "ymin", "xmax", "ymax", "bbox", "x_min", "y_min", "x1", "y1")
UNLABELLED_TABLES = ("submission",)  # a competition's answer sheet (sample_submission.csv): no labels
MAX_TABLE_BYTES = 200_000_000


@dataclass
class LabelTable:
    """A table's labels: ``rows`` ``(photo name, class)`` in file order, and its columns' names."""

    file: Path
    photo_column: str
    label_column: str
    rows: list[tuple[str, str]]


def read_label_table(file: Path) -> LabelTable | None:
    """The ``(photo, class)`` rows of a CSV table that labels photos, or None when ``file`` is not
    one: its header has no photo column (`PHOTO_COLUMNS`) or no class column (`LABEL_COLUMNS`, or
    the one other column of a two-column table), or it holds boxes (`BOX_COLUMNS`). A row
    without a photo or a class is skipped; a file that is not CSV text is a DataError naming it."""
    import csv
    import io

    if file.stat().st_size > MAX_TABLE_BYTES:
        return None
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:  # the header decides before the rows are read
            first = next(csv.reader([handle.readline()]), [])
            header = [column.strip().lower() for column in first]
            if not header or any(column in BOX_COLUMNS for column in header) or _box_sides(header):
                return None
            rows = [first, *csv.reader(io.StringIO(handle.read(), newline=""))]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{file}: not a readable CSV table ({exc})") from None
    if len(rows) < 2:
        return None
    photo = next((header.index(c) for c in PHOTO_COLUMNS if c in header), None)
    if photo is None:
        return None
    others = [i for i in range(len(header)) if i != photo]
    label = next((header.index(c) for c in LABEL_COLUMNS if c in header and header.index(c) != photo), None)
    if label is None and len(others) == 1:
        label = others[0]  # Kaggle's id,has_cactus: the one other column is the class
    if label is None:
        return _one_hot_table(file, rows, photo, others)
    found = [
        (row[photo].strip(), row[label].strip())
        for row in rows[1:]
        if len(row) > max(photo, label) and row[photo].strip() and row[label].strip()
    ]
    return LabelTable(file, rows[0][photo].strip(), rows[0][label].strip(), found) if _one_class_each(found) else None


def _one_hot_table(file: Path, rows: list[list[str]], photo: int, others: list[int]) -> LabelTable | None:
    """A table of one column per class with 1 in the photo's class and 0 in the others (ISIC
    2018's ``image,MEL,NV,BCC,...`` ground truth), as ``(photo, class)`` rows; else None."""
    names = [rows[0][i].strip() for i in others]
    found = []
    for row in rows[1:]:
        if len(row) <= max(photo, *others) or not row[photo].strip():
            continue
        try:
            values = [float(row[i]) for i in others]
        except ValueError:
            return None
        if sorted(values) != [0.0] * (len(values) - 1) + [1.0]:
            return None
        found.append((row[photo].strip(), names[values.index(1.0)]))
    if len(others) < 2 or not found or not _one_class_each(found):
        return None
    return LabelTable(file, rows[0][photo].strip(), "one column per class", found)


def _box_sides(header: Sequence[str]) -> bool:
    """Whether a header names a box by its corner and size (``x, y, w, h``): a box table's."""
    return {"x", "y"} <= set(header) and ({"w", "h"} <= set(header) or {"width", "height"} <= set(header))


def _one_class_each(rows: Sequence[tuple[str, str]]) -> bool:
    """Whether ``rows`` give each photo one class, as a classifier's labels do: not several
    (a table of objects or masks per photo), not file names (image + mask pairs), and not nearly
    one class per photo (a measurement or an encoded mask)."""
    classes: dict[str, str] = {}
    for name, label in rows:
        if classes.setdefault(name, label) != label or label.lower().endswith(IMAGE_SUFFIXES):
            return False
    return bool(classes) and len(set(classes.values())) * 2 <= len(classes)


def _table_files(base: Path) -> tuple[LabelTable | None, LabelTable | None]:
    """The training and validation label tables at ``base``: a table named for the validation
    split (``val.csv``, ``valid.csv``, else a labelled ``test.csv``) validates; ``train.csv``, else
    any other (``labels.csv``, ``trainLabels.csv`` ...), trains. Answer sheets are not read."""
    try:
        files = sorted(Path(e.path) for e in os.scandir(base) if e.is_file() and e.name.lower().endswith(".csv"))
    except OSError:
        return None, None
    tables: list[tuple[str | None, LabelTable]] = []
    for file in files:
        if file.name.startswith(".") or any(w in file.stem.lower() for w in UNLABELLED_TABLES):
            continue
        table = read_label_table(file)
        if table is not None:
            tables.append((split_role(file.stem), table))

    def first(role: str | None) -> LabelTable | None:
        return next((table for found, table in tables if found == role), None)

    return first("train") or first(None), first("val") or first("test")


def _photo_index(folder: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """The photos below ``folder`` by every name a table may give them: the path below ``folder``
    with and without its suffix, the file name and the stem (lower-cased); and the walk's notes."""
    photos, skipped = walk_images(folder)
    index: dict[str, list[Path]] = {}
    for photo in photos:
        relative = photo.relative_to(folder).as_posix().lower()
        for key in dict.fromkeys((relative, relative.rsplit(".", 1)[0], photo.name.lower(), photo.stem.lower())):
            index.setdefault(key, []).append(photo)
    return index, skipped


def _table_classes(table: LabelTable, folder: Path, index: Mapping[str, list[Path]]) -> tuple[ClassFiles, list[str]]:
    """``table``'s photos found in ``index`` by class; a photo listed twice with two classes, or a
    name that several photos have, is a DataError; photos not found are counted in the notes."""
    files: dict[str, list[Path]] = {}
    seen: dict[Path, str] = {}
    missing: list[str] = []
    for name, label in table.rows:
        key = name.replace("\\", "/").lower().lstrip("./")
        found = index.get(key, [])
        if len(found) > 1:
            shown = ", ".join(p.relative_to(folder).as_posix() for p in found[:2])
            raise DataError(f"{table.file}: {name!r} names several photos below {folder} ({shown}); give their paths")
        if not found:
            missing.append(name)
            continue
        if seen.get(found[0], label) != label:
            raise DataError(f"{table.file}: {name!r} is labelled both {seen[found[0]]!r} and {label!r}")
        if found[0] not in seen:
            seen[found[0]] = label
            files.setdefault(label, []).append(found[0])
    numeric = all(label.lstrip("-").isdigit() for label in files)
    order = sorted(files, key=lambda label: (int(label), label) if numeric else (0, label))
    notes = []
    if missing:
        notes.append(
            f"{table.file}: {len(missing)} listed photo(s) are not below {folder} and are not used (e.g. {missing[:3]})"
        )
    unit = f"class (from {table.file.name})"
    return ClassFiles(folder, {label: sorted(files[label]) for label in order}, [], unit), notes


def table_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root`` as photos labelled by a CSV table beside them (`read_label_table`: Kaggle's
    ``train.csv`` + ``train_images/``, ``labels.csv`` + ``train/``, CIFAR-10's ``trainLabels.csv`` +
    ``train/1.png``, HAM10000's ``HAM10000_metadata.csv`` + its photo folders), else None. The
    photos are looked up below the training folder (``train/``, ``train_images/``) when there is
    one, else below ``root``, by path, file name or name without suffix. A validation table
    (``val.csv``) validates; else a seeded, stratified share does. A table none of whose photos
    are found is not this layout; one whose photos are mostly (over half) not found is a
    DataError naming the table."""
    base = Path(root).expanduser()
    train_dir = split_child(base, TRAIN_SPLITS)
    if train_dir is not None and _has_folders(train_dir):
        return None  # train/<class>/: the folders label the photos (a table beside them is metadata)
    train_table, val_table = _table_files(base)
    if train_table is None:
        return None
    folder = train_dir or base
    index, skipped = _photo_index(folder)
    train, notes = _table_classes(train_table, folder, index)
    if not train.count():
        return None  # its names are not these photos' (a class-folder set's notes, say)
    if train.count() * 2 < len(train_table.rows):
        raise DataError(
            f"{train_table.file}: labels {len(train_table.rows)} photos by its column {train_table.photo_column!r}, "
            f"but {len(train_table.rows) - train.count()} of them are not below {folder}"
        )
    train.skipped = skipped
    labels = f"photos labelled by {train_table.file.name} ({train_table.label_column!r})"
    notes.insert(0, f"{base}: {labels}: {len(train.files)} classes, {train.count()} photos in {folder.name}/")
    if val_table is None:
        return FolderLayout(base, "single", train, None, notes, labels=labels)
    val_folder = split_child(base, VAL_SPLITS) or split_child(base, TEST_SPLITS) or folder
    val, val_notes = _table_classes(
        val_table, val_folder, index if val_folder == folder else _photo_index(val_folder)[0]
    )
    kind = "train_test" if split_role(val_table.file.stem) == "test" else "train_val"
    lists = f"{train_table.file.name} + {val_table.file.name}"
    return FolderLayout(base, kind, train, val, notes + val_notes, lists, labels)


def labelled_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root`` as photos labelled other than by class folders: named by class (`named_layout`)
    or listed in a CSV table (`table_layout`); else None."""
    return named_layout(root) or table_layout(root)


def photo_folder_layout(root: str | os.PathLike[str], flag: str = "--data") -> FolderLayout | None:
    """``root`` as ``images/<class>/`` beside folders without photos (Food-101, split by its
    ``meta/train.txt`` + ``test.txt``); else None. `find_layout` reads it so, and ``lucid eval``
    scores its validation list."""
    base = Path(root).expanduser()
    if not base.is_dir():
        return None
    layout = _photo_folder_classes(base, flag, root)
    if layout is None and base.name.lower() in PHOTO_DIRS and _has_folders(base):  # images/ itself
        note = f"{base}: photos in class folders"
        layout = _listed_split(class_files(base), note, "photos in class folders")
    return layout


def read_id_list(file: Path) -> list[str]:
    """The image ids of a Pascal VOC ``ImageSets`` list: the first word of each non-empty line."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a readable list of image ids ({exc})") from None
    return [line.split()[0] for line in lines if line.strip()]


def voc_split(
    root: Path, lists: str, every: Callable[[], list[str]], unit: str
) -> tuple[list[str], list[str] | None, str, list[str]]:
    """Pascal VOC's split of ``root`` from ``ImageSets/<lists>/`` (``Main`` for boxes,
    ``Segmentation`` for masks): ``(train ids, validation ids, description, notes)``. ``val.txt``
    validates (else ``test.txt``, said); ``train.txt`` trains, else ``trainval.txt`` or every id
    (``every()``) less the validation ids. Without a validation list the ids are
    returned with None, for the caller's seeded split. ``unit`` names the ids' files in the
    plural ("annotations", "masks")."""
    folder = child_folder(child_folder(root, ("ImageSets",)), (lists,))
    found = {
        n: folder / f"{n}.txt"
        for n in ("train", "val", "test", "trainval")
        if folder and (folder / f"{n}.txt").is_file()
    }
    notes: list[str] = []
    val_name = "val" if "val" in found else "test" if "test" in found else None
    train_name = "train" if "train" in found else "trainval" if "trainval" in found else None
    if val_name is not None:
        if val_name == "test":
            notes.append(f"{root}: no ImageSets/{lists}/val.txt, so test.txt is used as the validation split")
        val = read_id_list(found[val_name])
        if train_name == "train":
            train = read_id_list(found["train"])
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


def _wrapped_classes(base: Path) -> Path | None:
    """`wrapped_folder` when it has a train/ split or at least two folders of its own
    (``sign-language-digits/images/<class>/``); a real one-class folder is not unwrapped."""
    inner = None if split_child(base, TRAIN_SPLITS) is not None else wrapped_folder(base)
    if inner is None or split_child(inner, TRAIN_SPLITS) is not None:
        return inner
    try:
        subfolders = [e for e in os.scandir(inner) if not e.name.startswith(".") and e.is_dir(follow_symlinks=True)]
    except OSError:
        return None
    return inner if len(subfolders) >= 2 else None


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

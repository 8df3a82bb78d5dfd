"""Photos labelled other than by class folders, for classification.

- by their names (`named_layout`: Kaggle's Dogs vs. Cats ``train/cat.1.jpg``, Oxford-IIIT Pet's
  ``images/Abyssinian_1.jpg``), split by the lists beside them (`split_names`: Pet's
  ``trainval.txt`` + ``test.txt``, Food-101's ``meta/``, CUB-200-2011's id files);
- by a CSV table (`table_layout`, the table read by `lucid.data.tables`);
- by a data set's MATLAB files (`lucid.data.matfiles`: Oxford Flowers-102, Stanford Cars);
- a split folder by a list in it (`listed_folder`: Tiny ImageNet's ``val/images/`` +
  ``val/val_annotations.txt``, Roboflow's ``train/_classes.csv`` + ``valid/_classes.csv``).

`lucid.data.layouts.find_layout` tries these (`labelled_layout`) before class folders.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from lucid.data.binaries import binary_layout, hub_layout
from lucid.data.cocolabels import coco_labels_layout
from lucid.data.files import (
    IMAGE_SUFFIXES,
    MASK_DIRS,
    TEST_SPLITS,
    TRAIN_SPLITS,
    VAL_SPLITS,
    ClassFiles,
    FolderLayout,
    child_folder,
    class_files,
    has_folders,
    hidden,
    names_file_text,
    read_id_list,
    split_child,
    split_role,
    subfolders,
    walk_images,
)
from lucid.data.hdf5 import hdf5_layout
from lucid.data.matfiles import cars_layout, flowers_layout, mat_lists
from lucid.data.npyarrays import npy_layout
from lucid.data.pixels import pixel_layout
from lucid.data.places import places_layout
from lucid.data.studio import read_studio_choices, upload_name
from lucid.data.tables import (
    MAX_TABLE_BYTES,
    UNLABELLED_TABLES,
    LabelTable,
    read_label_table,
    read_word_table,
    run_table_files,
)
from lucid.errors import DataError

__all__ = [
    "PHOTO_DIRS",
    "scan_slice_id",
    "TRAIN_LISTS",
    "VAL_LISTS",
    "NAMED",
    "NAMED_UNIT",
    "name_classes",
    "named_layout",
    "split_lists",
    "split_names",
    "listed_split",
    "table_layout",
    "labelled_layout",
    "listed_folder",
    "split_class_files",
    "photo_index",
    "indexed",
    "word_roles",
    "label_lists_layout",
]

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
# A data set's split lists; DTD's labels/ holds ten numbered splits (train1.txt + val1.txt ...): the first is read.
TRAIN_LISTS, VAL_LISTS = ("trainval.txt", "train.txt", "train1.txt"), ("val.txt", "test.txt", "val1.txt", "test1.txt")
VAL_ALONE = ("valid.txt", "val.txt")  # a validation list without a training one: the photos it omits train
NAMED_UNIT = "class (named by its photos)"
NAMED = "photos named by class"


def name_classes(folder: Path | None) -> ClassFiles | None:
    """The photos of ``folder`` by the class their names begin with (``cat.12.jpg`` is a ``cat``),
    or None unless ``folder`` holds photos and no folders, every photo's name is words then a
    number, the words are not a camera's (``IMG_0042.jpg``) nor all a split's (``train_0.jpg``),
    and they name at least two classes of at least two photos each."""
    if folder is None or has_folders(folder):
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
    if all(split_role(name) is not None for name in files):
        return None  # train_0.jpg, val_0.jpg (SKU-110K): named by split, not by class
    return ClassFiles(folder, dict(sorted(files.items())), skipped, NAMED_UNIT)


def named_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root`` as photos named by class (`name_classes`), else None. Read: a ``train/`` of them
    (with a ``val/`` or ``test/`` of them; a ``test/`` of unlabelled photos, as Kaggle's Dogs vs.
    Cats has, does not validate), an ``images/`` folder of them beside other files (Oxford-IIIT
    Pet), split by its ``trainval.txt`` + ``test.txt`` lists (beside it or in ``annotations/``),
    or ``root`` itself. Without a validation folder or lists a seeded share validates."""
    base = Path(root).expanduser()
    if run_table_files(base) or run_table_files(base.parent):
        return None  # a table of their masks (Kaggle's EncodedPixels) here or above: segmentation data
    train_dir = split_child(base, TRAIN_SPLITS)
    if train_dir is not None:
        train = name_classes(train_dir)
        return None if train is None else _named_splits(base, train)
    photos_dir = child_folder(base, PHOTO_DIRS)
    found = name_classes(photos_dir if photos_dir is not None else base)
    if found is None or (photos_dir is not None and _masks_beside(base, found)):
        return None
    note = f"{found.folder}: photos named by class ({len(found.files)} classes: the words before each name's number)"
    return listed_split(found, note) or FolderLayout(found.folder, "single", found, None, [note], labels=NAMED)


def _masks_beside(base: Path, found: ClassFiles, most: int = 200) -> bool:
    """Whether a mask folder beside the photos (`MASK_DIRS`) holds, for four in five of them, a
    file named as the photo (``x.png``, or with a tag: ``x_P.png``): image/mask pairs (fast.ai's
    CamVid: ``images/0001TP_006690.png`` + ``labels/0001TP_006690_P.png``), whose names tell a
    recording, not a class. Oxford-IIIT Pet keeps its trimaps a level down, so it stays named photos."""
    masks = child_folder(base, MASK_DIRS)
    if masks is None or masks == found.folder:
        return False
    try:
        stems = {Path(e.name).stem.lower() for e in os.scandir(masks) if e.is_file() and not e.name.startswith(".")}
    except OSError:
        return False
    keys = stems | {re.split(r"[_-][^_-]*$", stem)[0] for stem in stems}  # x_P -> x
    photos = [p.stem.lower() for files in found.files.values() for p in files][:most]
    return sum(stem in keys for stem in photos) * 5 >= len(photos) * 4


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
    ``annotations/`` (Oxford-IIIT Pet), its ``meta/`` (Food-101) or its ``labels/`` (DTD)."""
    top = folder.parent if folder.name.lower() in PHOTO_DIRS else folder
    for place in (top, *(child_folder(top, (name,)) for name in ("annotations", "meta", "labels"))):
        if place is None:
            continue
        train = next((place / n for n in TRAIN_LISTS if (place / n).is_file()), None)
        val = next((place / n for n in VAL_LISTS if (place / n).is_file()), None)
        if train is not None and val is not None:
            return train, val
    return None


def listed_split(found: ClassFiles, note: str, labels: str = NAMED) -> FolderLayout | None:
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
        names = list(dict.fromkeys(_list_key(n) for n in listed_names))
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
    read: `split_lists`, else a validation list alone (`VAL_ALONE`: the photos it omits train),
    else CUB-200-2011's ``images.txt`` (``<id> <path>``) with
    ``train_test_split.txt`` (``<id> <1 trains, 0 tests>``) at the data root, else Stanford Dogs'
    ``lists/train_list.mat`` + ``test_list.mat`` (`lucid.data.matfiles.mat_lists`); None without them."""
    lists = split_lists(folder)
    if lists is not None:
        return (str(lists[0]), read_id_list(lists[0])), (str(lists[1]), read_id_list(lists[1]))
    top = folder.parent if folder.name.lower() in PHOTO_DIRS else folder
    alone = next((top / name for name in VAL_ALONE if (top / name).is_file()), None)
    if alone is not None:  # fast.ai's CamVid: images/ + labels/ + valid.txt; the other photos train
        val = read_id_list(alone)
        held = {_list_key(name) for name in val}
        rest = [p.relative_to(folder).with_suffix("").as_posix() for p in walk_images(folder)[0]]
        rest = [name for name in rest if name.lower() not in held and Path(name).name.lower() not in held]
        return (f"{folder} (the photos {alone.name} does not list)", rest), (str(alone), val)
    paths, flags = top / "images.txt", top / "train_test_split.txt"
    if not (paths.is_file() and flags.is_file()):
        return mat_lists(top)
    by_id = dict(_two_words(paths))
    trains = dict(_two_words(flags))
    missing = sorted(set(by_id) - set(trains))
    if missing or any(flag not in ("0", "1") for flag in trains.values()):
        raise DataError(f"{flags}: expected '<id> 1' (trains) or '<id> 0' (tests) for every id of {paths.name}")
    names = {flag: [str(Path(by_id[i]).with_suffix("")) for i in by_id if trains[i] == flag] for flag in ("1", "0")}
    return (f"{flags}: 1", names["1"]), (f"{flags}: 0", names["0"])


def _list_key(name: str) -> str:
    """A listed photo name as lists are matched: lower-cased, without an image suffix."""
    path = Path(name.replace("\\", "/"))
    return (path.with_suffix("") if path.suffix.lower() in IMAGE_SUFFIXES else path).as_posix().lower()


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


# CSV tables (JSON lines too: ImageFolder's metadata.jsonl); Label Studio's JSON exports of choices (lucid.data.studio)
TABLE_SUFFIXES = (".csv", ".jsonl", ".json")


def _table_files(base: Path) -> tuple[LabelTable | None, LabelTable | None]:
    """The training and validation label tables at ``base``: a table named for the validation
    split (``val.csv``, ``valid.csv``, else a labelled ``test.csv``) validates; ``train.csv``, else
    any other (``labels.csv``, ``trainLabels.csv``, a Label Studio export ...), trains. Answer
    sheets are not read."""
    try:
        files = sorted(
            Path(e.path) for e in os.scandir(base) if e.is_file() and e.name.lower().endswith(TABLE_SUFFIXES)
        )
    except OSError:
        return None, None
    tables: list[tuple[str | None, LabelTable]] = []
    for file in files:
        if file.name.startswith(".") or any(w in file.stem.lower() for w in UNLABELLED_TABLES):
            continue
        table = read_studio_choices(file) if file.suffix.lower() == ".json" else read_label_table(file)
        if table is not None:
            tables.append((split_role(file.stem), table))

    def first(role: str | None) -> LabelTable | None:
        return next((table for found, table in tables if found == role), None)

    return first("train") or first(None), first("val") or first("test")


def photo_index(folder: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """The photos below ``folder`` by every name a table may give them: the path below ``folder``
    with and without its suffix, the file name and the stem (lower-cased), a scan slice's id
    (`scan_slice_id`); and the walk's notes."""
    photos, skipped = walk_images(folder)
    index: dict[str, list[Path]] = {}
    for photo in photos:
        relative = photo.relative_to(folder).as_posix().lower()
        keys = [relative, relative.rsplit(".", 1)[0], photo.name.lower(), photo.stem.lower()]
        scan = scan_slice_id(photo)
        for key in dict.fromkeys([*keys, *([scan] if scan else [])]):
            index.setdefault(key, []).append(photo)
    return index, skipped


_SCAN_SLICE = re.compile(r"(slice_\d+)_\d+_\d+_[\d.]+_[\d.]+")


def scan_slice_id(photo: Path) -> str | None:
    """The id UW-Madison's GI Tract table gives a scan slice (``case123_day20_slice_0001``) for
    its file ``case123/case123_day20/scans/slice_0001_266_266_1.50_1.50.png`` (the slice's size
    and pixel spacing in its name); None for any other photo."""
    match = _SCAN_SLICE.fullmatch(photo.stem.lower())
    if match is None or photo.parent.name.lower() != "scans":
        return None
    return f"{photo.parent.parent.name.lower()}_{match.group(1)}"


def indexed(index: Mapping[str, list[Path]], name: str) -> list[Path]:
    """The photos ``index`` (`photo_index`) holds under a table's ``name``: by its path, else (a
    URL or another machine's absolute path) by its file name when one photo has it, else by the
    name Label Studio's upload had before it was stored (`lucid.data.studio.upload_name`)."""
    key = name.replace("\\", "/").lower().lstrip("./")
    found = index.get(key, [])
    if not found and "/" in key:
        found = index.get(key.rsplit("/", 1)[1], [])
        found = found if len(found) == 1 else []  # by name alone only when one photo has it
    own = upload_name(key) if not found else None
    return index.get(own, []) if own is not None else found


def _table_classes(table: LabelTable, folder: Path, index: Mapping[str, list[Path]]) -> tuple[ClassFiles, list[str]]:
    """``table``'s photos found in ``index`` by class; a photo listed twice with two classes, or a
    name that several photos have, is a DataError; photos not found are counted in the notes."""
    files: dict[str, list[Path]] = {}
    seen: dict[Path, str] = {}
    missing: list[str] = []
    for name, label in table.rows:
        found = indexed(index, name)
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
    if train_dir is not None and has_folders(train_dir):
        return None  # train/<class>/: the folders label the photos (a table beside them is metadata)
    train_table, val_table = _table_files(base)
    if train_table is None:
        return None
    folder = train_dir or base
    index, skipped = photo_index(folder)
    train, notes = _table_classes(train_table, folder, index)
    if not train.count():
        return None  # its names are not these photos' (a class-folder set's notes, say)
    if train.count() * 2 < len(train_table.rows):
        raise DataError(
            f"{train_table.file}: labels {len(train_table.rows)} photos by its column {train_table.photo_column!r}, "
            f"but {len(train_table.rows) - train.count()} of them are not below {folder}"
        )
    train.skipped = skipped
    if train_table.unlabelled:
        notes.append(
            f"{train_table.file}: {train_table.unlabelled} rows name no class (all zeros); their photos are not used"
        )
    labels = f"photos labelled by {train_table.file.name} ({train_table.label_column!r})"
    notes.insert(0, f"{base}: {labels}: {len(train.files)} classes, {train.count()} photos in {folder.name}/")
    if val_table is None:
        return FolderLayout(base, "single", train, None, notes, labels=labels)
    val_folder = split_child(base, VAL_SPLITS) or split_child(base, TEST_SPLITS) or folder
    val, val_notes = _table_classes(
        val_table, val_folder, index if val_folder == folder else photo_index(val_folder)[0]
    )
    kind = "train_test" if split_role(val_table.file.stem) == "test" else "train_val"
    lists = f"{train_table.file.name} + {val_table.file.name}"
    return FolderLayout(base, kind, train, val, notes + val_notes, lists, labels)


LABEL_LIST_ROLES = ("trainval", "train", "val", "test")  # the last word of a labelling split list's name


def label_lists_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """A folder of photos (``images/``, no class folders) labelled by split lists beside it of
    ``<photo> <class>`` lines, the photo named without its suffix and the class the rest of the
    line (FGVC-Aircraft's ``data/images/`` + ``images_variant_trainval.txt`` + ``images_variant_test.txt``:
    ``1025794 707-320``), else None. Lists of one prefix pair up: ``trainval`` with ``test``, else
    ``train`` with ``val`` (or ``test``); of several labellings (Aircraft's variant, family and
    manufacturer) the one with the most classes is read, as torchvision's default is the finest."""
    base = Path(root).expanduser()
    photos = child_folder(base, PHOTO_DIRS)
    if photos is None or has_folders(photos):
        return None
    found = []
    for prefix, roles in _label_lists(base).items():
        trains = roles.get("trainval") or roles.get("train")
        vals = roles.get("test") if "trainval" in roles else (roles.get("val") or roles.get("test"))
        if trains is not None and vals is not None:
            found.append((len({label for _, label in trains.rows}), prefix, trains, vals))
    if not found:
        return None
    _, prefix, train_table, val_table = max(found, key=lambda item: item[0])
    index, skipped = photo_index(photos)
    train, notes = _table_classes(train_table, photos, index)
    val, val_notes = _table_classes(val_table, photos, index)
    if not train.count():
        return None
    train.skipped = skipped
    lists = f"{train_table.file.name} + {val_table.file.name}"
    labels = "photos labelled by lists of '<photo> <class>' lines"
    others = [p for _, p, _, _ in found if p != prefix]
    if others:
        notes.append(f"{base}: labelled by the {prefix} lists, the most classes ({', '.join(others)} not used)")
    kind = "train_test" if val_table.file.stem.lower().endswith("test") else "train_val"
    return FolderLayout(base, kind, train, val, notes + val_notes, lists, labels)


def _label_lists(base: Path) -> dict[str, dict[str, LabelTable]]:
    """The text lists of ``base`` named ``<prefix>_<role>.txt`` (`LABEL_LIST_ROLES`) whose lines
    label photos (`read_word_table` with names without suffix), by prefix and role."""
    lists: dict[str, dict[str, LabelTable]] = {}
    try:
        files = sorted(Path(e.path) for e in os.scandir(base) if e.is_file() and e.name.lower().endswith(".txt"))
    except OSError:
        return lists
    for file in files:
        prefix, _, role = file.stem.lower().rpartition("_")
        if role in LABEL_LIST_ROLES and prefix and (table := read_word_table(file, suffixed=False)) is not None:
            lists.setdefault(prefix, {})[role] = table
    return lists


def labelled_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root`` as photos labelled other than by class folders: by a data set's MATLAB files
    (`lucid.data.matfiles`: Oxford Flowers-102, Stanford Cars), named by class (`named_layout`),
    listed in a CSV table (`table_layout`) or in split lists of ``<photo> <class>`` lines
    (`label_lists_layout`: FGVC-Aircraft) or in COCO-style category files
    (`lucid.data.cocolabels`: iNaturalist, Herbarium, iWildCam) or Places365's lists
    (`lucid.data.places`), stored in a table as pixel rows
    (`lucid.data.pixels.pixel_layout`: Kaggle's MNIST-style tables) or in binary files
    (`lucid.data.binaries.binary_layout`: MNIST, CIFAR, STL-10, SVHN, .npz archives; HDF5 arrays,
    `lucid.data.hdf5`; .npy arrays, `lucid.data.npyarrays`; Hugging Face's Parquet files,
    `lucid.data.binaries.hub_layout`); else None."""
    readers = (
        flowers_layout,
        cars_layout,
        named_layout,
        table_layout,
        label_lists_layout,
        coco_labels_layout,
        places_layout,
        pixel_layout,
        binary_layout,
        hdf5_layout,
        npy_layout,
        hub_layout,
    )
    for reader in readers:
        layout = reader(root)
        if layout is not None:
            return layout
    return None


LIST_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl")  # the files a split folder's label list may be


def listed_folder(folder: Path, most: int = 8) -> tuple[ClassFiles, list[str]] | None:
    """A split folder's photos labelled by a list in it rather than by class folders: Tiny
    ImageNet's ``val/images/*.JPEG`` + ``val/val_annotations.txt`` (photo, class, box per line), or a
    CSV label table (`read_label_table`) beside the photos; with the notes of photos it lists that
    are missing. None when ``folder`` has class folders (several sub-folders, or one that is not a
    photo folder such as ``images/``) or none of its first ``most`` lists labels most of the photos
    it names. A validation folder's table may also lie a few folders above it (`_split_tables_above`)."""
    inner = subfolders(folder)
    if len(inner) > 1 or (inner and inner[0].name.lower() not in PHOTO_DIRS):
        return None
    try:
        lists = sorted(
            Path(e.path) for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(LIST_SUFFIXES)
        )
    except OSError:
        return None
    own = [f for f in lists if not f.name.startswith(".")][:most]
    for file in own + _split_tables_above(folder):
        csv_table = read_label_table(file, first_word=True) if file.suffix.lower() in (".csv", ".jsonl") else None
        table = csv_table or read_word_table(file)
        if table is None:
            continue
        index, skipped = photo_index(folder)
        found, notes = _table_classes(table, folder, index)
        if found.count() and found.count() * 2 >= len(table.rows):
            found.skipped = skipped
            said = f"{folder}: photos labelled by {file.name}: {found.count()} in {len(found.files)} classes"
            if table.unlabelled:
                notes.append(f"{file}: {table.unlabelled} rows name no class (all zeros); their photos are not used")
            return found, [said, *notes]
    return None


def _split_tables_above(folder: Path, levels: int = 4) -> list[Path]:
    """The CSV tables in the ``levels`` folders above a validation or test split folder whose name
    names that split: Kaggle's ImageNet keeps ``LOC_val_solution.csv`` beside ``ILSVRC/``, four
    levels above the flat ``ILSVRC/Data/CLS-LOC/val/`` it labels."""
    role = split_role(folder.name)
    if role not in ("val", "test"):
        return []
    found = []
    for place in list(folder.parents)[:levels]:
        try:
            tables = sorted(Path(e.path) for e in os.scandir(place) if e.is_file() and e.name.lower().endswith(".csv"))
        except OSError:
            continue
        found += [t for t in tables if not hidden(t.name) and role in word_roles(t.stem)]
    return found


def word_roles(name: str) -> set[str]:
    """The splits the words of ``name`` name (``LOC_val_solution``: val)."""
    return {role for word in re.split(r"[-_ .]+", name.lower()) if (role := split_role(word)) is not None}


def split_class_files(folder: Path) -> tuple[ClassFiles, list[str]]:
    """A split folder's photos by class, and notes: by the list in it (`listed_folder`), else by
    its class folders (`lucid.data.files.class_files`)."""
    return listed_folder(folder) or (class_files(folder), [])

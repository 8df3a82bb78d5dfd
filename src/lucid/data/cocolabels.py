"""Photos labelled by COCO-style JSON files of one category per photo: the format of the FGVC
competitions' sets (iNaturalist 2017-2021's ``train2018.json`` + ``val2018.json`` beside
``train_val2018/``, Herbarium's ``train/metadata.json`` or ``train_metadata.json``, iWildCam's
``iwildcam2020_train_annotations.json``, FGVCx Fungi's ``train.json`` + ``val.json``).

Each file holds an ``images`` list (``id``, ``file_name``), an ``annotations`` list (``image_id``,
``category_id``, and no ``bbox``: a file with boxes is detection's) and ``categories`` (``id`` and
``name``, Herbarium 2022's ``scientificName``). A photo's class is its annotation's category;
photos without one (a test file) are not read, and a photo annotated with two categories is
left out and counted. The classes keep the categories' id order. torchvision's ``INaturalist``
reads the same photos by their nested folders (``Plantae/Abies concolor/``), which name the
classes less surely than the files do.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from lucid.data.files import (
    ClassFiles,
    FolderLayout,
    file_head,
    file_holds,
    hidden,
    name_role,
    split_role,
    subfolders,
)
from lucid.errors import DataError

__all__ = ["category_files", "coco_labels_layout", "is_category_file"]

_MOST_FILES = 12  # JSON files looked at in one folder


def is_category_file(path: Path) -> bool:
    """Whether ``path`` is a COCO-style JSON file of categories per photo: its opening is an object
    with an ``images`` list of ``file_name``s, it names ``category_id``s and ``categories``, and
    no ``bbox`` is anywhere in it (read to its end, a chunk at a time: its ``annotations`` may
    come last)."""
    head = file_head(path).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{") or re.search(rb'"images"\s*:\s*\[', head) is None:
        return False
    if b'"file_name"' not in head or b'"segments_info"' in head:
        return False
    if file_holds(path, b'"bbox"'):  # first: a detection file's boxes come early, its categories last
        return False
    return file_holds(path, b'"category_id"') and file_holds(path, b'"categories"')


def _role(file: Path) -> str | None:
    """A file's split from a word of its name (``train2018``, ``iwildcam2020_train_annotations``),
    else from its folder's (Herbarium 2021's ``train/metadata.json``)."""
    return name_role(file.stem) or split_role(file.parent.name)


def category_files(root: Path) -> dict[str, Path]:
    """The category files of ``root`` (at it or in ``annotations/``; in a split folder its
    ``metadata.json``, Herbarium 2021's, as such a folder may hold many photos) by split role; a
    file whose role its name does not say trains."""
    places = [root, *(f for f in subfolders(root) if f.name.lower() in ("annotations", "metadata"))]
    candidates = []
    for place in places:
        try:
            names = sorted(e.name for e in os.scandir(place) if e.is_file() and e.name.lower().endswith(".json"))
        except OSError:
            continue
        candidates += [place / n for n in names if not hidden(n)][:_MOST_FILES]
    candidates += [
        f / "metadata.json" for f in subfolders(root) if split_role(f.name) and (f / "metadata.json").is_file()
    ]
    found: dict[str, Path] = {}
    for file in candidates:
        if is_category_file(file):
            found.setdefault(_role(file) or "train", file)
    return found


def _category_name(category: dict[str, Any]) -> str:
    for key in ("name", "scientificName", "scientific_name"):
        if category.get(key):
            return str(category[key])
    return str(category["id"])


def _read(file: Path) -> tuple[list[tuple[int, str]], dict[int, str], dict[int, int], int]:
    """A file's categories (id, name) in id order, its photos (id -> file name), each photo's one
    category (id -> category id) and the count of photos annotated with two categories."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        categories = sorted((int(c["id"]), _category_name(c)) for c in data.get("categories") or [])
        photos = {int(i["id"]): str(i["file_name"]) for i in data["images"]}
        labels: dict[int, set[int]] = {}
        for annotation in data.get("annotations") or []:
            labels.setdefault(int(annotation["image_id"]), set()).add(int(annotation["category_id"]))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{file}: not a readable COCO-style file of categories ({type(exc).__name__}: {exc})") from None
    single = {image: next(iter(found)) for image, found in labels.items() if len(found) == 1}
    return categories, photos, single, sum(len(found) > 1 for found in labels.values())


def _photo_base(root: Path, file: Path, name: str) -> Path:
    """The folder the file names its photos below: the data root, the file's own folder, or one of
    the root's folders (iWildCam's ``train/`` holds the ``file_name``s); a DataError naming the
    first photo when none holds it."""
    for base in (root, file.parent, *subfolders(root)):
        if (base / name).is_file():
            return base
    raise DataError(f"{file}: its photo {name!r} is in none of {root}, {file.parent} or the folders of {root}")


def _class_files(root: Path, file: Path, names: dict[int, str], skipped: Counter[str]) -> ClassFiles:
    categories, photos, labels, ambiguous = _read(file)
    names.update((cid, name) for cid, name in categories if cid not in names)
    listed = [(image, photos[image]) for image in sorted(labels) if image in photos]
    if not listed:
        raise DataError(f"{file}: no photo has a category")
    base = _photo_base(root, file, listed[0][1])
    files: dict[str, list[Path]] = {names[cid]: [] for cid, _ in categories}
    for image, name in listed:
        photo = base / name
        if labels[image] not in names:
            skipped["photos of a category the file does not list"] += 1
        elif not photo.is_file():
            skipped["listed photos that are missing"] += 1
        else:
            files[names[labels[image]]].append(photo)
    skipped["photos annotated with two categories (left out)"] += ambiguous
    return ClassFiles(base, {name: found for name, found in files.items() if found}, [], "category")


def coco_labels_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root``'s photos labelled by category files (`category_files`): the training file trains,
    the validation file (else a labelled test file) validates, one file is split by seed; None
    without such a file."""
    base = Path(root).expanduser()
    files = category_files(base) if base.is_dir() else {}
    if "train" not in files:
        return None
    names: dict[int, str] = {}
    skipped: Counter[str] = Counter()
    train = _class_files(base, files["train"], names, skipped)
    val_role = next((role for role in ("val", "test") if role in files), None)
    labels = f"photos labelled by the COCO-style categories of {files['train'].name}"
    notes = [f"{base}: {labels}" + (f" + {files[val_role].name}" if val_role else ", split by seed")]
    val = None if val_role is None else _class_files(base, files[val_role], names, skipped)
    notes += [f"{base}: {count} {what}" for what, count in sorted(skipped.items()) if count]
    if val is None or val_role is None:
        return FolderLayout(base, "single", train, None, notes, labels=labels)
    kind = "train_val" if val_role == "val" else "train_test"
    return FolderLayout(base, kind, train, val, notes, f"{files['train'].name} + {files[val_role].name}", labels)

"""Class masks drawn from outlines: COCO segmentation files (Roboflow's "COCO Segmentation" export,
COCO's ``instances_*.json``), YOLO segmentation labels (Ultralytics' ``class x1 y1 x2 y2 ...``
polygons, Roboflow's "YOLOv8" segmentation export), LabelMe's JSON files and Supervisely projects
(polygons with holes, and bitmaps), so a data set that ships outlines rather than mask images
trains as one; and from one mask image per object (Kaggle's Data Science Bowl 2018: their union
is one class), so a data set of object masks trains as one of class masks.

Segmentation reads mask files. A COCO file's objects (polygons, or COCO's run-length masks for
crowds) are drawn once into one PNG class mask per photo, in a cache outside the data folder
(`mask_cache_dir`: the data may be read-only), keyed by the annotation file's path, size and
modification time, so a changed file is drawn again. The drawing is faster-coco-eval's
(``annToMask``, ``frPyObjects`` + ``decode``: pycocotools' API; the same library scores
detection), not lucid's own. Value 0 is the background and the i-th class with objects is value
i (COCO: by category id; YOLO: class id i-1; LabelMe: by name; Supervisely: meta.json's order;
object masks: 1, ``foreground``); larger objects are drawn first, so a small object lying on a
larger one stays visible.

COCO panoptic segmentation (``annotations/panoptic_*.json`` + one segment PNG per photo, its RGB
the segment id ``R + 256 G + 256² B``) is read as semantic segmentation: each segment's
category is its pixels' class, value k the k-th category by id (0..K-1: its stuff categories
cover the scene, so there is no background class), and unlabelled pixels (segment id 0, or an id
the photo's ``segments_info`` does not list) the void value 255, ignored by training and metrics.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import os
import re
import tempfile
import warnings
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lucid.data.files import IMAGE_SUFFIXES, child_folder, distinct_names, keyed_files, walk_images
from lucid.data.images import image_header
from lucid.detect.data import coco_files, labelme_sources, supervisely_datasets, supervisely_split, yolo_sources
from lucid.detect.formats import (
    SUPERVISELY_META,
    read_labelme_shapes,
    read_supervisely_annotation,
    read_supervisely_meta,
    supervisely_classes,
)
from lucid.errors import DataError
from lucid.segment.coding import BINARY_NAMES, DEFAULT_IGNORE_INDEX

__all__ = [
    "DrawnMasks",
    "coco_masks",
    "yolo_masks",
    "labelme_masks",
    "object_masks",
    "object_mask_folder",
    "supervisely_masks",
    "panoptic_masks",
    "panoptic_files",
    "has_outlines",
    "has_supervisely_outlines",
    "mask_cache_dir",
    "BACKGROUND",
]

# EXIF orientations that turn a photo a quarter: its upright width and height swap.
QUARTER_TURNS = (5, 6, 7, 8)

BACKGROUND = "background"  # value 0 of a drawn mask: no object


@dataclass
class DrawnMasks:
    """The (photo, drawn mask) pairs of a COCO segmentation data set: ``val`` is None when it has
    no validation file (a seeded split then); ``names`` name the values 1..K, 0 the background.
    Without ``background`` (COCO panoptic: its stuff categories cover the scene) ``names`` name
    the values 0..K-1 and unlabelled pixels hold the void value 255; ``colours``, when given, are
    the classes' own colours (for drawing predictions)."""

    train: list[tuple[Path, Path]]
    val: list[tuple[Path, Path]] | None
    names: list[str]
    description: str
    notes: list[str] = field(default_factory=list)
    background: bool = True
    colours: list[tuple[int, int, int]] = field(default_factory=list)


def mask_cache_dir() -> Path:
    """``$LUCID_HOME/masks`` if set, else ``$XDG_CACHE_HOME/lucid/masks`` (``~/.cache/lucid/masks``)."""
    home = os.environ.get("LUCID_HOME")
    if home:
        return Path(home).expanduser() / "masks"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "lucid" / "masks"


def coco_masks(root: Path) -> DrawnMasks | None:
    """``root``'s COCO files (`lucid.detect.data.coco_files`) drawn as class masks, or None when
    there are none or their objects have no outlines (boxes only: detection data)."""
    files = coco_files(root)
    if not files:
        return None
    first = files.get("train") or next(iter(files.values()))
    documents = {file: _load(file) for file, _ in files.values()}  # each (large) file parsed once
    if not _has_outlines(documents[first[0]]):
        return None
    val_role = "val" if "val" in files else "test" if "test" in files else None
    names = _category_names(documents)
    notes = []
    if "train" in files and val_role is not None:
        train = _drawn_pairs(*files["train"], names, documents)
        val: list[tuple[Path, Path]] | None = _drawn_pairs(*files[val_role], names, documents)
        description = f"COCO segmentation: {_short(root, files['train'][0])} + {_short(root, files[val_role][0])}"
        if val_role == "test":
            notes.append(f"{root}: no validation annotations, so the test set ({files['test'][0].name}) validates")
    else:
        train, val = _drawn_pairs(*first, names, documents), None
        description = f"COCO segmentation: {_short(root, first[0])}"
    notes.append(
        f"{root}: masks drawn from the COCO outlines into {mask_cache_dir()} ({len(names)} classes + background)"
    )
    return DrawnMasks(train, val, [name for _, name in names], description, notes)


def has_outlines(root: Path, head: int = 1 << 20) -> bool:
    """Whether ``root``'s COCO files seem to outline their objects, judged from the first ``head``
    bytes of one (large files are not parsed here): a non-empty ``segmentation``; or its YOLO
    labels hold polygons, or its LabelMe files outline shapes (the first few files read)."""
    files = coco_files(root)
    if not files:
        sources = yolo_sources(root)
        if sources is not None:
            return _yolo_outlines(sources[0])
        labelme = labelme_sources(root)
        return labelme is not None and _labelme_outlines(labelme[0])
    file = (files.get("train") or next(iter(files.values())))[0]
    try:
        with file.open("rb") as handle:
            text = handle.read(head)
    except OSError:
        return False
    return re.search(rb'"segmentation"\s*:\s*(\[\s*\[|\{)', text) is not None


def _short(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _load(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{file}: not a readable COCO JSON file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{file}: expected a COCO JSON object with 'images', 'annotations' and 'categories'")
    return data


def _has_outlines(data: dict[str, Any]) -> bool:
    """Whether a COCO file's objects carry outlines (``segmentation`` polygons or run-length masks)."""
    return any(isinstance(a, dict) and a.get("segmentation") for a in data.get("annotations") or [])


def _category_names(documents: dict[Path, dict[str, Any]]) -> list[tuple[int, str]]:
    """``(category id, name)`` of the categories with objects in any of the COCO ``documents``, by
    id: value i+1 of a drawn mask is the i-th. Roboflow's data-set-name category (no objects) is
    not a class."""
    names: dict[int, str] = {}
    used: set[int] = set()
    for data in documents.values():
        names.update({int(c["id"]): str(c["name"]) for c in data.get("categories") or []})
        used.update(int(a["category_id"]) for a in data.get("annotations") or [] if "category_id" in a)
    unknown = sorted(used - set(names))
    if unknown:
        raise DataError(f"COCO annotations use category ids {unknown[:5]} that no 'categories' entry names")
    if len(used) >= 255:
        raise DataError(f"{len(used)} COCO categories; 8-bit masks hold at most 254 classes and a void value")
    return [(i, names[i]) for i in sorted(used)]


def _drawn_pairs(
    file: Path, folders: list[Path], names: list[tuple[int, str]], documents: dict[Path, dict[str, Any]]
) -> list[tuple[Path, Path]]:
    """Each photo of ``file`` (its parsed ``documents[file]``, found in ``folders``) with its drawn
    mask; a photo that is missing is a DataError naming it (its mask would teach nothing)."""
    from faster_coco_eval import COCO

    value = {category: index + 1 for index, (category, _) in enumerate(names)}
    stat = file.stat()
    source = f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{sorted(value.items())}"
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    cache = mask_cache_dir() / key
    with warnings.catch_warnings():  # its note on annotation id 0 concerns matching in evaluation, not drawing
        warnings.filterwarnings("ignore", message="Found annotation id 0")
        coco = COCO(documents[file])
    pairs = []
    for image_id, image in sorted(coco.imgs.items()):
        photo = _photo(str(image["file_name"]), folders)
        if photo is None:
            raise DataError(f"{file}: the photo {image['file_name']!r} is in none of {[str(f) for f in folders[:2]]}")
        mask = cache / f"{image_id}.png"
        if not mask.is_file():
            _save(mask, _draw(coco, image_id, image, value))
        pairs.append((photo, mask))
    return pairs


def _photo(name: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        for candidate in (folder / name, folder / Path(name).name):
            if candidate.is_file():
                return candidate
    return None


def _draw(coco: Any, image_id: int, image: dict[str, Any], value: dict[int, int]) -> np.ndarray:
    """One photo's class mask: background 0, each object's category value, larger objects first."""
    mask = np.zeros((int(image["height"]), int(image["width"])), dtype=np.uint8)
    objects = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])) if a.get("segmentation")]
    for annotation in sorted(objects, key=lambda a: -float(a.get("area") or 0)):
        mask[coco.annToMask(annotation) > 0] = value[int(annotation["category_id"])]
    return mask


def _save(path: Path, mask: np.ndarray) -> None:
    """Write a mask PNG through a temporary file renamed into place: a reader never sees half a
    mask. Not fsynced as checkpoints are: a lost cache file is drawn again."""
    from PIL import Image

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise DataError(
            f"cannot write the drawn masks into {path.parent} ({exc.strerror or exc}); set LUCID_HOME to a "
            "writable folder"
        ) from None
    os.close(fd)
    try:
        Image.fromarray(mask, mode="L").save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# COCO panoptic segmentation

PANOPTIC_PREFIX = "panoptic_"  # COCO's annotations/panoptic_train2017.json + panoptic_train2017/


def panoptic_files(root: Path) -> dict[str, Path]:
    """``root``'s COCO panoptic files by role (``train``/``val``/``test``/``all``, the first of a
    role by name), judged by name only: ``annotations/panoptic_*.json`` (COCO's
    ``panoptic_train2017.json``; panopticapi's ``panoptic_coco_categories.json`` is not one)."""
    annotations = child_folder(root, ("annotations",))
    if annotations is None:
        return {}
    found: dict[str, Path] = {}
    for file in sorted(annotations.glob(f"{PANOPTIC_PREFIX}*.json")):
        split = file.stem[len(PANOPTIC_PREFIX) :]
        if "categories" not in split.lower() and file.is_file():
            found.setdefault(_split_role(split), file)
    return found


def _split_role(split: str) -> str:
    """The role a COCO file's split names (``train2017``: train); ``trainval`` and others: all."""
    lowered = split.lower()
    if "trainval" in lowered:
        return "all"
    return next((role for role in ("train", "val", "test") if role in lowered), "all")


def panoptic_masks(root: Path) -> DrawnMasks | None:
    """``root``'s COCO panoptic files (`panoptic_files`) read as class masks, cached as drawn
    masks are; None without any. Value k is the k-th category by id, unlabelled pixels the void
    value 255 (no background class: `DrawnMasks.background` False). ``panoptic_train*`` trains and
    ``panoptic_val*`` validates, else one file is split by seed."""
    files = panoptic_files(root)
    if not files:
        return None
    documents = {file: _panoptic_document(file) for file in files.values()}
    categories = _panoptic_categories(documents)
    value = {category: index for index, (category, _, _) in enumerate(categories)}
    val_role = "val" if "val" in files else "test" if "test" in files else None
    notes: list[str] = []
    if "train" in files and val_role is not None:
        train = _panoptic_pairs(root, files["train"], documents[files["train"]], value, notes)
        val: list[tuple[Path, Path]] | None = _panoptic_pairs(
            root, files[val_role], documents[files[val_role]], value, notes
        )
        description = f"COCO panoptic: {_short(root, files['train'])} + {_short(root, files[val_role])}"
        if val_role == "test":
            notes.append(f"{root}: no validation annotations, so the test set ({files['test'].name}) validates")
    else:
        first = files.get("train") or next(iter(files.values()))
        train, val = _panoptic_pairs(root, first, documents[first], value, notes), None
        description = f"COCO panoptic: {_short(root, first)}"
    notes.append(
        f"{root}: class masks derived from the COCO panoptic segments into {mask_cache_dir()} ({len(categories)} "
        f"categories by id as classes 0..{len(categories) - 1}; unlabelled pixels void, {DEFAULT_IGNORE_INDEX})"
    )
    colours = [colour for _, _, colour in categories if colour is not None]
    return DrawnMasks(
        train,
        val,
        [name for _, name, _ in categories],
        description,
        notes,
        background=False,
        colours=colours if len(colours) == len(categories) else [],
    )


def _panoptic_document(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{file}: not a readable COCO panoptic JSON file ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations")):
        raise DataError(
            f"{file}: expected a COCO panoptic JSON object with 'categories', 'images' and 'annotations' (one per "
            "image, with its 'file_name' PNG and 'segments_info')"
        )
    return data


def _panoptic_categories(
    documents: dict[Path, dict[str, Any]],
) -> list[tuple[int, str, tuple[int, int, int] | None]]:
    """``(category id, name, colour)`` of every category the panoptic ``documents`` declare, by
    id (value k of a derived mask is the k-th): the declared list, not only the categories with
    segments, so the classes do not depend on which photos a split holds."""
    found: dict[int, tuple[str, tuple[int, int, int] | None]] = {}
    for file, data in documents.items():
        for number, category in enumerate(data.get("categories") or [], 1):
            try:
                identifier, name = int(category["id"]), str(category["name"])
            except (KeyError, TypeError, ValueError):
                raise DataError(
                    f"{file}: category {number} has no integer 'id' and 'name': {category!r:.100}"
                ) from None
            found.setdefault(identifier, (name, _colour(category.get("color"))))
    first = next(iter(documents))
    if not found:
        raise DataError(f"{first}: no 'categories': a COCO panoptic file names its categories")
    if len(found) > DEFAULT_IGNORE_INDEX:
        raise DataError(f"{len(found)} COCO panoptic categories; 8-bit masks hold at most 255 classes and a void value")
    ordered = sorted(found.items())
    distinct_names([name for _, (name, _) in ordered], first)
    return [(identifier, name, colour) for identifier, (name, colour) in ordered]


def _colour(value: Any) -> tuple[int, int, int] | None:
    """A category's ``color`` ``[r, g, b]``, or None when it has none."""
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in value):
        return value[0], value[1], value[2]
    return None


def _segment_folder(root: Path, file: Path) -> Path:
    """The folder of ``file``'s segment PNGs: ``panoptic_train2017/`` beside it (COCO's
    ``annotations/``) or at ``root``; still zipped, or absent, is a DataError saying so."""
    for folder in dict.fromkeys((file.parent / file.stem, root / "annotations" / file.stem, root / file.stem)):
        if folder.is_dir():
            return folder
    zipped = file.with_suffix(".zip")
    if zipped.is_file():
        raise DataError(f"{file}: its segment PNGs are still zipped in {zipped}; unzip it (into {file.parent})")
    raise DataError(f"{file}: no folder of its segment PNGs ({file.stem}/ beside it or in {root})")


def _panoptic_pairs(
    root: Path, file: Path, data: dict[str, Any], value: dict[int, int], notes: list[str]
) -> list[tuple[Path, Path]]:
    """Each annotated photo of the panoptic ``file`` (its parsed ``data``) with its class mask,
    derived from its segment PNG into a cache keyed by the file's path, size and time and by the
    PNG's size and time. A missing photo or PNG is a DataError naming it; photos without an
    annotation are not used, counted in ``notes``."""
    split = file.stem[len(PANOPTIC_PREFIX) :]
    segments_dir = _segment_folder(root, file)
    folders = [root / split, root / "images" / split, root / "images", root]
    try:
        images = {int(image["id"]): str(image["file_name"]) for image in data["images"]}
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{file}: every 'images' entry needs an integer 'id' and a 'file_name'") from None
    stat = file.stat()
    source = f"panoptic|{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{sorted(value.items())}"
    cache = mask_cache_dir() / hashlib.sha256(source.encode()).hexdigest()[:16]
    read: dict[int, tuple[str, dict[int, int]]] = {}
    for number, annotation in enumerate(data["annotations"], 1):
        try:
            image_id, png = int(annotation["image_id"]), str(annotation["file_name"])
            segments = {int(s["id"]): int(s["category_id"]) for s in annotation["segments_info"]}
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{file}: annotation {number} is not a panoptic one ('image_id', 'file_name' and 'segments_info' of "
                f"'id' and 'category_id'): {annotation!r:.120}"
            ) from None
        if image_id not in images:
            raise DataError(f"{file}: annotation {number} ({png}) is of image id {image_id}, which 'images' lacks")
        if image_id in read:
            raise DataError(f"{file}: image id {image_id} ({images[image_id]}) has two annotations")
        unknown = sorted(set(segments.values()) - set(value))
        if unknown:
            raise DataError(
                f"{file}: {png} has segments of category ids {unknown[:5]} that no 'categories' entry names"
            )
        read[image_id] = (png, segments)
    pairs = []
    for image_id, (png, segments) in sorted(read.items()):
        photo = _photo(images[image_id], folders)
        if photo is None:
            raise DataError(f"{file}: the photo {images[image_id]!r} is in none of {[str(f) for f in folders[:2]]}")
        found = _photo(png, [segments_dir])
        if found is None:
            raise DataError(
                f"{file}: the segment PNG {png!r} of the photo {images[image_id]!r} is not in {segments_dir}"
            )
        png_stat = found.stat()
        stamp = hashlib.sha256(f"{png_stat.st_size}|{png_stat.st_mtime_ns}".encode()).hexdigest()[:8]
        mask = cache / f"{image_id}-{stamp}.png"
        if not mask.is_file():
            _save(mask, _panoptic_classes(found, photo, segments, value))
        pairs.append((photo, mask))
    unannotated = len(set(images) - set(read))
    if unannotated:
        notes.append(f"{file}: {unannotated} photos have no panoptic annotation and are not used")
    return pairs


def _panoptic_classes(png: Path, photo: Path, segments: dict[int, int], value: dict[int, int]) -> np.ndarray:
    """The class mask of one segment PNG (segment id ``R + 256 G + 256² B``): each listed
    segment's category value, the void value 255 for id 0 and ids ``segments`` does not list; a
    PNG of another size than its photo (as shown or as stored) is a DataError naming both."""
    from PIL import Image

    try:
        with Image.open(png) as opened:
            rgb = np.asarray(opened.convert("RGB")).astype(np.int64)
    except OSError as exc:
        raise DataError(f"{png}: not a readable segment PNG ({exc})") from None
    height, width = rgb.shape[:2]
    upright, stored = _photo_sizes(photo)
    if (width, height) not in (upright, stored):
        raise DataError(
            f"{png}: segment PNG is {width}x{height} but its photo {photo} is {upright[0]}x{upright[1]} "
            "(width x height); they must be the same size"
        )
    ids = rgb[..., 0] + (rgb[..., 1] << 8) + (rgb[..., 2] << 16)
    known = np.array(sorted(i for i in segments if i != 0), dtype=np.int64)
    if not len(known):
        return np.full((height, width), DEFAULT_IGNORE_INDEX, dtype=np.uint8)
    classes = np.array([value[segments[int(i)]] for i in known], dtype=np.uint8)
    position = np.clip(np.searchsorted(known, ids), 0, len(known) - 1)
    return np.where(known[position] == ids, classes[position], DEFAULT_IGNORE_INDEX).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# YOLO segmentation labels


def yolo_masks(root: Path) -> DrawnMasks | None:
    """``root``'s YOLO labels (`lucid.detect.data.yolo_sources`) drawn as class masks when they
    hold polygons (``class x1 y1 x2 y2 x3 y3 ...``, fractions of the photo), else None (boxes:
    detection data). Value i+1 is class id i, named by ``data.yaml``/``classes.txt``. A photo
    without a label file is all background."""
    sources = yolo_sources(root)
    if sources is None:
        return None
    train_folders, val_folders, names = sources
    if not _yolo_outlines(train_folders):
        return None
    largest = max(
        (line[0] for pair in [*train_folders, *(val_folders or [])] for line in _label_lines(pair)), default=-1
    )
    if names is None:
        names = [f"class_{i}" for i in range(largest + 1)]
    elif largest >= len(names):
        raise DataError(f"{root}: YOLO labels use class id {largest}, but the names file names {len(names)} classes")
    if len(names) >= 255:
        raise DataError(f"{len(names)} YOLO classes; 8-bit masks hold at most 254 classes and a void value")
    train = [pair for folders in train_folders for pair in _yolo_drawn(*folders)]
    val = None if val_folders is None else [pair for folders in val_folders for pair in _yolo_drawn(*folders)]
    shown = ", ".join(f"{_short(root, images)} + {_short(root, labels)}" for images, labels in train_folders)
    notes = [f"{root}: masks drawn from the YOLO polygons into {mask_cache_dir()} ({len(names)} classes + background)"]
    return DrawnMasks(train, val, names, f"YOLO segmentation: {shown}", notes)


def _yolo_outlines(folders: list[tuple[Path, Path]], files: int = 20) -> bool:
    """Whether the first label files hold polygons (more than a box's four numbers after the class)."""
    for _, labels in folders:
        texts = (t for t in sorted(labels.rglob("*.txt")) if t.name != "classes.txt")
        for seen, text in enumerate(texts):
            if seen >= files:
                break
            if any(len(line[1]) > 4 for line in _polygons(text)):
                return True
    return False


def _label_lines(pair: tuple[Path, Path]) -> list[tuple[int, list[float]]]:
    return [line for text in sorted(pair[1].rglob("*.txt")) if text.name != "classes.txt" for line in _polygons(text)]


def _polygons(text: Path) -> list[tuple[int, list[float]]]:
    """The ``(class id, [x1, y1, x2, y2, ...])`` lines of a YOLO label file (fractions); a line
    that is not numbers is a DataError naming the file and line."""
    found = []
    for number, line in enumerate(text.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            found.append((int(fields[0]), [float(v) for v in fields[1:]]))
        except ValueError:
            raise DataError(f"{text}:{number}: expected a class id and numbers, got {line.strip()!r}") from None
    return found


def _yolo_drawn(images: Path, labels: Path) -> list[tuple[Path, Path]]:
    """Each photo of ``images`` with its mask drawn from its label file in ``labels``."""
    photos = keyed_files(images, walk_images(images)[0], "label file")
    texts = {p.relative_to(labels).with_suffix("").as_posix().lower(): p for p in labels.rglob("*.txt")}
    pairs = []
    for key, photo in sorted(photos.items()):
        text = texts.get(key)
        width, height = _upright_size(photo)  # labels are drawn on the photo as it is shown, upright
        mask = _cached(text or photo, f"yolo|{photo}|{width}x{height}", key)
        if not mask.is_file():
            lines = _polygons(text) if text is not None else []
            shapes = [(class_id + 1, _pixels(values, width, height)) for class_id, values in lines]
            _save(mask, _draw_outlines(width, height, shapes))
        pairs.append((photo, mask))
    return pairs


def _upright_size(photo: Path) -> tuple[int, int]:
    """``(width, height)`` of ``photo`` as it is shown (its EXIF orientation applied)."""
    return _photo_sizes(photo)[0]


def _photo_sizes(photo: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(width, height)`` of ``photo`` as it is shown (its EXIF orientation applied) and as stored."""
    header = image_header(photo)
    if header is None:
        raise DataError(f"{photo}: not a readable image")
    (width, height), orientation = header
    return ((height, width) if orientation in QUARTER_TURNS else (width, height)), (width, height)


def _pixels(values: list[float], width: int, height: int) -> list[float]:
    """A YOLO line's numbers in pixels: a polygon's ``x1 y1 x2 y2 ...``, or a box's ``cx cy w h``
    as its four corners."""
    if len(values) == 4:
        cx, cy, w, h = values
        values = [cx - w / 2, cy - h / 2, cx + w / 2, cy - h / 2, cx + w / 2, cy + h / 2, cx - w / 2, cy + h / 2]
    return [v * (width if i % 2 == 0 else height) for i, v in enumerate(values)]


def _cached(source: Path, extra: str, name: str) -> Path:
    """The cache file of the mask drawn for ``name`` from ``source`` (its path, size and time)."""
    stat = source.stat()
    token = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{extra}"
    return mask_cache_dir() / hashlib.sha256(token.encode()).hexdigest()[:16] / f"{Path(name).name}.png"


def _draw_outlines(width: int, height: int, shapes: list[tuple[int, list[float]]]) -> np.ndarray:
    """A class mask of ``(value, [x1, y1, x2, y2, ...])`` outlines in pixels, the larger first."""
    from faster_coco_eval.core import mask as coco_mask

    drawn = np.zeros((height, width), dtype=np.uint8)
    kept = [(value, points) for value, points in shapes if len(points) >= 6]
    rles = [coco_mask.frPyObjects([points], height, width)[0] for _, points in kept]
    areas = [float(coco_mask.area(rle)) for rle in rles]
    for index in sorted(range(len(kept)), key=lambda i: -areas[i]):
        drawn[coco_mask.decode(rles[index]) > 0] = kept[index][0]
    return drawn


# --------------------------------------------------------------------------------------------
# LabelMe JSON

LABELME_BACKGROUND = ("_background_", "background")  # labelme2voc's class 0: drawn as background


def labelme_masks(root: Path) -> DrawnMasks | None:
    """``root``'s LabelMe files (`lucid.detect.data.labelme_sources`) drawn as class masks when
    they outline anything (polygons, rectangles, circles), else None. The classes are the labels
    in name order, value 1..K (a ``_background_`` label is the background). A photo without a
    JSON file is all background."""
    sources = labelme_sources(root)
    if sources is None:
        return None
    train_folders, val_folders = sources
    read = {folders: _labelme_files(*folders) for folders in [*train_folders, *(val_folders or [])]}
    labels = sorted(
        {shape.label for files in read.values() for _, shapes in files.values() for shape in shapes if shape.outline()}
    )
    labels = [label for label in labels if label.lower() not in LABELME_BACKGROUND]
    if not labels:
        return None
    if len(labels) >= 255:
        raise DataError(f"{len(labels)} LabelMe labels; 8-bit masks hold at most 254 classes and a void value")
    value = {label: index + 1 for index, label in enumerate(labels)}
    train = [pair for folders in train_folders for pair in _labelme_drawn(*folders, read[folders], value)]
    val = None if val_folders is None else [p for f in val_folders for p in _labelme_drawn(*f, read[f], value)]
    notes = [
        f"{root}: masks drawn from the LabelMe shapes into {mask_cache_dir()} ({len(labels)} classes + background)"
    ]
    shown = ", ".join(_short(root, images) for images, _ in train_folders)
    return DrawnMasks(train, val, labels, f"LabelMe JSON: {shown}", notes)


def _labelme_outlines(folders: list[tuple[Path, Path]], files: int = 5) -> bool:
    """Whether the first LabelMe files outline a shape (a polygon, rectangle or circle)."""
    from lucid.detect.formats import is_labelme_json

    for _, jsons in folders:
        found = (f for f in sorted(jsons.rglob("*.json")) if not f.name.startswith(".") and is_labelme_json(f))
        for seen, file in enumerate(found):
            if seen >= files:
                break
            if any(shape.outline() for shape in read_labelme_shapes(file)[2]):
                return True
    return False


def _labelme_files(images: Path, jsons: Path) -> dict[Path, tuple[Path | None, list[Any]]]:
    """Each photo of ``images`` with its LabelMe file in ``jsons`` (by name, or the photo the file
    names) and its shapes; a photo without one has none."""
    from lucid.detect.formats import is_labelme_json

    photos = keyed_files(images, walk_images(images)[0], "LabelMe file")
    by_name = {photo.name.lower(): photo for photo in photos.values()}
    found: dict[Path, tuple[Path | None, list[Any]]] = {photo: (None, []) for photo in photos.values()}
    for file in sorted(jsons.rglob("*.json")):
        if file.name.startswith(".") or not is_labelme_json(file):
            continue
        named, _, shapes = read_labelme_shapes(file)
        key = file.relative_to(jsons).with_suffix("").as_posix().lower()
        photo = photos.get(key) or (by_name.get(named.lower()) if named else None)
        if photo is not None:
            found[photo] = (file, shapes)
    return found


def _labelme_drawn(
    images: Path, jsons: Path, files: dict[Path, tuple[Path | None, list[Any]]], value: dict[str, int]
) -> list[tuple[Path, Path]]:
    """Each photo with its mask drawn from its LabelMe shapes (pixels of the photo as shown)."""
    pairs = []
    for photo, (file, shapes) in sorted(files.items()):
        width, height = _upright_size(photo)
        mask = _cached(file or photo, f"labelme|{photo}|{width}x{height}|{sorted(value.items())}", photo.stem)
        if not mask.is_file():
            outlines = [
                (value.get(shape.label, 0), [c for point in shape.outline() for c in point]) for shape in shapes
            ]
            _save(mask, _draw_outlines(width, height, outlines))
        pairs.append((photo, mask))
    return pairs


# --------------------------------------------------------------------------------------------
# One mask image per object (Kaggle's Data Science Bowl 2018)

OBJECT_MASK_SPLITS = ("stage1_train",)  # DSB's training folder; its stage1_test/ has no masks
OBJECT_MASKS_LOOK = 20  # photo folders looked at to recognise the layout (its name test is cheap)
# Lossless, as lucid.segment.data.MASK_SUFFIXES (not imported: that module imports this one).
OBJECT_MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".gif")


def object_masks(root: Path) -> DrawnMasks | None:
    """``root``'s photo folders (`object_mask_folder`: ``<id>/images/<id>.png`` +
    ``<id>/masks/*.png``, one black-and-white mask per object) with the union of each photo's
    masks drawn into one cached class mask: one class (`lucid.segment.coding.BINARY_NAMES`'
    ``foreground``, value 1) on the background 0; None when ``root`` is not laid out so. Photo
    folders without masks are not used (counted in a note); no split: a seeded one."""
    base = object_mask_folder(root)
    if base is None:
        return None
    pairs, unmasked = [], 0
    for folder in _subfolders(base):
        images, masks = child_folder(folder, ("images",)), child_folder(folder, ("masks",))
        if images is None:
            continue  # not a photo folder
        files = [m for m in walk_images(masks)[0] if m.suffix.lower() in OBJECT_MASK_SUFFIXES] if masks else []
        if not files:
            unmasked += 1
            continue
        pairs.append(_object_union(folder, images, files))
    notes = []
    if base != root:
        others = [f"{f.name}/" for f in _subfolders(root) if f != base]
        notes.append(f"{root}: reading {base.name}/" + (f"; {', '.join(others)} not used" if others else ""))
    if unmasked:
        notes.append(
            f"{base}: {unmasked} photo folders have no masks/ folder or no masks (PNG, BMP, TIFF, GIF) in it: not used"
        )
    notes.append(
        f"{base}: one mask image per object; each photo's objects drawn as one class ({BINARY_NAMES[1]}) "
        f"into {mask_cache_dir()}"
    )
    description = f"one mask per object: {_short(root, base) if base != root else '.'}/<id>/images + masks/"
    return DrawnMasks(pairs, None, [BINARY_NAMES[1]], description, notes)


def object_mask_folder(root: Path, look: int = OBJECT_MASKS_LOOK) -> Path | None:
    """The folder of ``root`` that holds one folder per photo, each ``<id>/images/<id>.<image>`` +
    ``<id>/masks/`` (``root`` itself, else DSB's ``stage1_train/``), judged from the names in its
    first ``look`` folders (a photo named as its folder: split folders' ``train/images/`` are
    not); None when there is none."""
    for base in (root, child_folder(root, OBJECT_MASK_SPLITS)):
        if base is not None and any(_object_folder(f) for f in _subfolders(base)[:look]):
            return base
    return None


def _subfolders(folder: Path) -> list[Path]:
    """``folder``'s non-hidden sub-folders, sorted; none when it cannot be read."""
    try:
        return sorted(Path(e.path) for e in os.scandir(folder) if not e.name.startswith(".") and e.is_dir())
    except OSError:
        return []


def _object_folder(folder: Path) -> bool:
    """Whether ``folder`` is a photo folder: ``images/<its name>.<image>`` beside a ``masks/`` folder."""
    images = child_folder(folder, ("images",))
    if images is None or child_folder(folder, ("masks",)) is None:
        return False
    try:
        names = [e.name for e in os.scandir(images) if e.is_file()]
    except OSError:
        return False
    return any(Path(n).stem.lower() == folder.name.lower() and n.lower().endswith(IMAGE_SUFFIXES) for n in names)


def _object_union(folder: Path, images: Path, masks: list[Path]) -> tuple[Path, Path]:
    """The photo of ``images`` (its one image) with the cached union of its object ``masks``; a
    mask not of the photo's size is a DataError naming both."""
    photos = walk_images(images)[0]
    if len(photos) != 1:
        raise DataError(f"{images}: expected the one photo of {folder.name}, got {len(photos)} images")
    photo = photos[0]
    stamp = [f"{m.name}:{s.st_size}:{s.st_mtime_ns}" for m in masks for s in (m.stat(),)]
    mask = _cached(photo, f"objects|{masks[0].parent.resolve()}|{';'.join(stamp)}", photo.stem)
    if not mask.is_file():
        _save(mask, _union(photo, masks))
    return photo, mask


def _union(photo: Path, masks: list[Path]) -> np.ndarray:
    """Value 1 where any of ``masks`` is not black, 0 elsewhere, at the photo's size (as shown, or
    as stored when the masks are of that size)."""
    from PIL import Image

    upright, stored = _photo_sizes(photo)
    drawn: np.ndarray | None = None
    for file in masks:
        try:
            with Image.open(file) as opened:
                size, objects = opened.size, np.asarray(opened.convert("L")) > 0
        except OSError as exc:
            raise DataError(f"{file}: not a readable mask image ({exc})") from None
        if size not in (upright, stored) or (drawn is not None and drawn.shape != objects.shape):
            raise DataError(
                f"{file}: mask is {size[0]}x{size[1]} but its photo {photo} is {upright[0]}x{upright[1]} "
                "(width x height); "
                "each object's mask must be the photo's size"
            )
        drawn = objects if drawn is None else np.logical_or(drawn, objects)
    assert drawn is not None  # masks is never empty
    return drawn.astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Supervisely projects

SUPERVISELY_OUTLINES = ("polygon", "bitmap")  # geometry types drawn into masks; rectangles are boxes
SUPERVISELY_CLASS_SHAPES = (*SUPERVISELY_OUTLINES, "any")  # a class of shape "any" may hold either


def supervisely_masks(root: Path) -> DrawnMasks | None:
    """A Supervisely project (``meta.json`` + dataset folders of ``img/x.jpg`` + ``ann/x.jpg.json``)
    drawn as class masks: value i+1 is meta.json's i-th class of shape polygon, bitmap or any;
    polygons (their ``interior`` rings are holes) drawn by faster-coco-eval, bitmaps (base64 of a
    zlib-compressed PNG placed at its ``origin``) decoded by PIL, larger objects first. Rectangles
    (boxes) and other geometry are skipped, counted in a note; a project of rectangles only is
    detection data (DataError). None when ``root`` is not a Supervisely project. Datasets named
    ``train`` + ``val`` (``valid``, else ``test``) split it, else a seeded split of them all."""
    datasets = supervisely_datasets(root)
    if not datasets:
        return None
    names, others = supervisely_classes(root / SUPERVISELY_META, SUPERVISELY_CLASS_SHAPES)
    if not names:
        raise DataError(
            f"{root / SUPERVISELY_META}: no class of shape polygon, bitmap or any, only boxes and other shapes "
            f"({', '.join(others)}): detection data (lucid train --task detect)"
        )
    if len(names) >= 255:
        raise DataError(f"{len(names)} Supervisely classes; 8-bit masks hold at most 254 classes and a void value")
    chosen, given, notes = supervisely_split(root, datasets)
    if others:
        notes.append(f"{root}: meta.json's classes of other shapes outline nothing, not used: {', '.join(others)}")
    value = {name: index + 1 for index, name in enumerate(names)}
    kinds: Counter[str] = Counter()
    read = [_supervisely_drawn(dataset, value, kinds) for dataset in chosen]
    if not any(kinds[kind] for kind in SUPERVISELY_OUTLINES):
        raise DataError(
            f"{root}: a Supervisely project without polygons or bitmaps ({_counted(kinds) or 'no objects'}): "
            "boxes are detection data (lucid train --task detect)"
        )
    skipped = Counter({kind: count for kind, count in kinds.items() if kind not in SUPERVISELY_OUTLINES})
    if skipped:
        notes.append(
            f"{root}: {skipped.total()} Supervisely objects are not polygons or bitmaps, skipped ({_counted(skipped)})"
        )
    notes.append(
        f"{root}: masks drawn from the Supervisely outlines into {mask_cache_dir()} ({len(names)} classes + background)"
    )
    train = read[0] if given else [pair for pairs in read for pair in pairs]
    description = "Supervisely: " + " + ".join(f"{d.name}/" for d in chosen)
    return DrawnMasks(train, read[1] if given else None, names, description, notes)


def _counted(kinds: Counter[str]) -> str:
    """``rectangle 3, point 1``: each geometry type with its count."""
    return ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))


def has_supervisely_outlines(root: Path, files: int = 5) -> bool:
    """Whether ``root`` is a Supervisely project with outlines to draw: meta.json declares a class
    of shape polygon or bitmap, or of shape any and the first ``files`` annotations of a dataset
    hold a polygon or bitmap (a project of rectangles is detection's)."""
    datasets = supervisely_datasets(root)
    if not datasets:
        return False
    try:
        shapes = {shape for _, shape in read_supervisely_meta(root / SUPERVISELY_META)}
    except DataError:
        return False
    if shapes & set(SUPERVISELY_OUTLINES):
        return True
    if "any" not in shapes:
        return False
    for dataset in datasets:
        ann = child_folder(dataset, ("ann",)) or dataset
        for file in sorted(ann.rglob("*.json"))[:files]:
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if re.search(r'"geometryType"\s*:\s*"(polygon|bitmap)"', text):
                return True
    return False


def _supervisely_drawn(dataset: Path, value: dict[str, int], kinds: Counter[str]) -> list[tuple[Path, Path]]:
    """Each photo of a dataset folder (``img/x.jpg``) with its mask drawn from ``ann/x.jpg.json``
    (a photo without one is all background), its objects counted in ``kinds`` by geometry type
    (every run, drawn or cached); an annotation without its photo is a DataError."""
    images, ann = child_folder(dataset, ("img",)) or dataset, child_folder(dataset, ("ann",)) or dataset
    photos = {p.relative_to(images).as_posix().lower(): p for p in walk_images(images)[0]}
    files: dict[Path, Path | None] = dict.fromkeys(photos.values())
    for found in sorted(ann.rglob("*.json")):
        name = found.relative_to(ann).as_posix()
        if found.name.startswith("."):
            continue
        photo = photos.get(name.lower().removesuffix(".json"))
        if photo is None:
            raise DataError(f"{found}: its photo {name[: -len('.json')]} is not in {images}")
        files[photo] = found
    pairs = []
    for photo in sorted(files):
        file = files[photo]
        data = read_supervisely_annotation(file) if file is not None else {"objects": []}
        objects = _supervisely_objects(file, data, value, kinds) if file is not None else []
        width, height = _supervisely_size(photo, file, data.get("size"))
        mask = _cached(file or photo, f"supervisely|{photo}|{width}x{height}|{sorted(value.items())}", photo.name)
        if not mask.is_file():
            _save(mask, _draw_objects(file, objects, width, height))
        pairs.append((photo, mask))
    return pairs


def _supervisely_objects(
    file: Path, data: dict[str, Any], value: dict[str, int], kinds: Counter[str]
) -> list[tuple[int, int, dict[str, Any]]]:
    """The ``(class value, object's number in the file, object)`` of an annotation's polygons and
    bitmaps (the number for errors), every object counted
    in ``kinds`` by geometry type (rectangles, boxes, are not kept). A polygon or bitmap of a class
    meta.json does not name as an outline class is a DataError naming it."""
    kept = []
    for number, obj in enumerate(data["objects"], 1):
        kind = str(obj.get("geometryType") or "no geometryType") if isinstance(obj, dict) else "not an object"
        kinds[kind] += 1
        if kind not in SUPERVISELY_OUTLINES:
            continue
        title = str(obj.get("classTitle"))
        if title not in value:
            raise DataError(
                f"{file}: object {number} is a {kind} of class {title!r}; meta.json's outline classes are "
                f"{list(value)[:10]}"
            )
        kept.append((value[title], number, obj))
    return kept


def _supervisely_size(photo: Path, file: Path | None, size: Any) -> tuple[int, int]:
    """``(width, height)`` a photo's mask is drawn at: the annotation's stated size when it is the
    photo's as shown or as stored (read_pair pairs either), else the photo's as shown; a stated
    size that is neither is a DataError naming both."""
    upright, stored = _photo_sizes(photo)
    width, height = (size.get("width"), size.get("height")) if isinstance(size, dict) else (None, None)
    if not (isinstance(width, int) and isinstance(height, int)):
        return upright
    if (width, height) in (upright, stored):
        return width, height
    raise DataError(
        f"{file}: states its photo is {width}x{height} but {photo} is {upright[0]}x{upright[1]} (width x height)"
    )


def _draw_objects(
    file: Path | None, objects: list[tuple[int, int, dict[str, Any]]], width: int, height: int
) -> np.ndarray:
    """A class mask of Supervisely polygons and bitmaps (``(value, number, object)``), the larger first."""
    shapes = [(value, _object_pixels(file, number, obj, width, height)) for value, number, obj in objects]
    drawn = np.zeros((height, width), dtype=np.uint8)
    for value, pixels in sorted(shapes, key=lambda shape: -int(shape[1].sum())):
        drawn[pixels] = value
    return drawn


def _object_pixels(file: Path | None, number: int, obj: dict[str, Any], width: int, height: int) -> np.ndarray:
    """The ``(height, width)`` boolean pixels of one polygon (less its holes) or bitmap."""
    try:
        if obj["geometryType"] == "bitmap":
            return _bitmap_pixels(obj["bitmap"]["data"], obj["bitmap"]["origin"], width, height)
        points = obj["points"]
        rings = [points["exterior"], *(points.get("interior") or [])]
        flat = [[float(c) for x, y in ring for c in (x, y)] for ring in rings]
    except (KeyError, TypeError, ValueError, binascii.Error, zlib.error, OSError) as exc:
        raise DataError(
            f"{file}: object {number} is not a Supervisely polygon (points.exterior [[x, y], ...]) or bitmap "
            f"(bitmap.data: base64 of a zlib-compressed PNG, bitmap.origin [x, y]): {type(exc).__name__} {exc}"
        ) from None
    from faster_coco_eval.core import mask as coco_mask

    if len(flat[0]) < 6:  # fewer than three points outline nothing
        return np.zeros((height, width), dtype=bool)
    pixels = coco_mask.decode(coco_mask.frPyObjects(flat[:1], height, width)[0]) > 0
    for hole in flat[1:]:
        if len(hole) >= 6:
            pixels &= coco_mask.decode(coco_mask.frPyObjects([hole], height, width)[0]) == 0
    return pixels


def _bitmap_pixels(data: str, origin: Any, width: int, height: int) -> np.ndarray:
    """A Supervisely bitmap (base64 of a zlib-compressed PNG whose alpha, else whose non-zero
    pixels, are the object) placed with its top-left corner at ``origin`` ``[x, y]``, clipped to
    the photo."""
    from PIL import Image

    # A bitmap is at most the photo: a PNG of it holds at most 8 bytes a pixel (16-bit RGBA) plus
    # its rows' filter bytes and headers, so more than that is refused before it is inflated
    # further (a zlib bomb would fill the memory).
    limit = 8 * width * height + (1 << 16)
    inflate = zlib.decompressobj()
    png = inflate.decompress(base64.b64decode(data, validate=True), limit)
    if inflate.unconsumed_tail:
        raise ValueError(f"the bitmap inflates to more than {limit:,} bytes, more than a {width}x{height} photo's")
    with Image.open(io.BytesIO(png)) as opened:
        if opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info:
            bits = np.asarray(opened.convert("RGBA"))[..., 3] > 0
        else:
            array = np.asarray(opened)
            bits = (array != 0).any(axis=-1) if array.ndim == 3 else array != 0
    left, top = (int(v) for v in origin)
    pixels = np.zeros((height, width), dtype=bool)
    rows, cols = bits.shape
    y0, x0, y1, x1 = max(top, 0), max(left, 0), min(top + rows, height), min(left + cols, width)
    if y0 < y1 and x0 < x1:
        pixels[y0:y1, x0:x1] = bits[y0 - top : y1 - top, x0 - left : x1 - left]
    return pixels

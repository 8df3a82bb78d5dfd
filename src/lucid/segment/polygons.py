"""Class masks drawn from outlines: COCO segmentation files (Roboflow's "COCO Segmentation" export,
COCO's ``instances_*.json``), YOLO segmentation labels (Ultralytics' ``class x1 y1 x2 y2 ...``
polygons, Roboflow's "YOLOv8" segmentation export), LabelMe's JSON files, Supervisely projects
(polygons with holes, and bitmaps), VGG Image Annotator's (VIA) files of regions (the Mask R-CNN
balloon set's) and CVAT's XML, so a data set that ships outlines rather than mask images trains
as one.

Segmentation reads mask files. A COCO file's objects (polygons, or COCO's run-length masks for
crowds) are drawn once into one PNG class mask per photo, in the cache of `lucid.segment.drawn`
(outside the data folder), keyed by the annotation file's path, size and modification time, so
a changed file is drawn again. The drawing is faster-coco-eval's
(``annToMask``, ``frPyObjects`` + ``decode``: pycocotools' API; the same library scores
detection), not lucid's own. Value 0 is the background and the i-th class with objects is value
i (COCO: by category id; YOLO: class id i-1; LabelMe, VIA and CVAT: by name; Supervisely: meta.json's
order; object masks: 1, ``foreground``); larger objects are drawn first, so a small object lying on a
larger one stays visible.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from lucid.data.files import child_folder, file_head, keyed_files, walk_images
from lucid.detect.data import (
    coco_files,
    labelme_sources,
    photo_finder,
    region_notes,
    region_sources,
    subset_split,
    supervisely_datasets,
    supervisely_split,
    yolo_label_files,
    yolo_sources,
)
from lucid.detect.formats import (
    SUPERVISELY_META,
    RegionFile,
    coco_file_name,
    read_json,
    read_labelme_shapes,
    read_region_file,
    read_supervisely_annotation,
    read_supervisely_meta,
    read_yolo_lines,
    region_file_kind,
    supervisely_classes,
)
from lucid.errors import DataError
from lucid.segment.drawn import (
    DrawnMasks,
    cache_folder,
    cached_mask,
    listed_file,
    mask_cache_dir,
    photo_sizes,
    save_mask,
    short_path,
    upright_size,
)

__all__ = [
    "coco_masks",
    "yolo_masks",
    "labelme_masks",
    "supervisely_masks",
    "region_masks",
    "has_outlines",
    "has_supervisely_outlines",
]


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
        description = (
            f"COCO segmentation: {short_path(root, files['train'][0])} + {short_path(root, files[val_role][0])}"
        )
        if val_role == "test":
            notes.append(f"{root}: no validation annotations, so the test set ({files['test'][0].name}) validates")
    else:
        train, val = _drawn_pairs(*first, names, documents), None
        description = f"COCO segmentation: {short_path(root, first[0])}"
    notes.append(
        f"{root}: masks drawn from the COCO outlines into {mask_cache_dir()} ({len(names)} classes + background)"
    )
    return DrawnMasks(train, val, [name for _, name in names], description, notes)


def has_outlines(root: Path, head: int = 1 << 20) -> bool:
    """Whether ``root``'s COCO files seem to outline their objects, judged from the first ``head``
    bytes of one (large files are not parsed here): a non-empty ``segmentation``; or its YOLO
    labels hold polygons, or its LabelMe files outline shapes (the first few files read), or its
    VIA or CVAT files outline regions (`_region_outlines`)."""
    files = coco_files(root)
    if not files:
        sources = yolo_sources(root)
        if sources is not None:
            return _yolo_outlines(sources[0])
        labelme = labelme_sources(root)
        if labelme is not None:
            return _labelme_outlines(labelme[0])
        regions = region_sources(root)
        return regions is not None and _region_outlines(regions[0][0], head)
    file = (files.get("train") or next(iter(files.values())))[0]
    try:
        with file.open("rb") as handle:
            text = handle.read(head)
    except OSError:
        return False
    return re.search(rb'"segmentation"\s*:\s*(\[\s*\[|\{)', text) is not None


def _load(file: Path) -> dict[str, Any]:
    data = read_json(file)
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
    cache = cache_folder(file, str(sorted(value.items())))
    with warnings.catch_warnings():  # its note on annotation id 0 concerns matching in evaluation, not drawing
        warnings.filterwarnings("ignore", message="Found annotation id 0")
        coco = COCO(documents[file])
    pairs = []
    for image_id, image in sorted(coco.imgs.items()):
        name = coco_file_name(image)
        photo = listed_file(name, folders)
        if photo is None:
            raise DataError(f"{file}: the photo {name!r} is in none of {[str(f) for f in folders[:2]]}")
        mask = cache / f"{image_id}.png"
        if not mask.is_file():
            save_mask(mask, _draw(coco, image_id, image, value))
        pairs.append((photo, mask))
    return pairs


def _draw(coco: Any, image_id: int, image: dict[str, Any], value: dict[int, int]) -> np.ndarray:
    """One photo's class mask: background 0, each object's category value, larger objects first."""
    mask = np.zeros((int(image["height"]), int(image["width"])), dtype=np.uint8)
    objects = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=[image_id])) if a.get("segmentation")]
    for annotation in sorted(objects, key=lambda a: -float(a.get("area") or 0)):
        mask[coco.annToMask(annotation) > 0] = value[int(annotation["category_id"])]
    return mask


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
    shown = ", ".join(f"{short_path(root, images)} + {short_path(root, labels)}" for images, labels in train_folders)
    notes = [f"{root}: masks drawn from the YOLO polygons into {mask_cache_dir()} ({len(names)} classes + background)"]
    return DrawnMasks(train, val, names, f"YOLO segmentation: {shown}", notes)


def _yolo_outlines(folders: list[tuple[Path, Path]], files: int = 20) -> bool:
    """Whether the first label files hold polygons (more than a box's four numbers after the class)."""
    for images, labels in folders:
        texts = sorted(yolo_label_files(images, labels).values())
        for seen, text in enumerate(texts):
            if seen >= files:
                break
            if any(len(line[1]) > 4 for line in read_yolo_lines(text)):
                return True
    return False


def _label_lines(pair: tuple[Path, Path]) -> list[tuple[int, list[float]]]:
    return [line for text in sorted(yolo_label_files(*pair).values()) for line in read_yolo_lines(text)]


def _yolo_drawn(images: Path, labels: Path) -> list[tuple[Path, Path]]:
    """Each photo of ``images`` with its mask drawn from its label file in ``labels``."""
    photos = keyed_files(images, walk_images(images)[0], "label file")
    texts = yolo_label_files(images, labels, photos)
    pairs = []
    for key, photo in sorted(photos.items()):
        text = texts.get(key)
        width, height = upright_size(photo)  # labels are drawn on the photo as it is shown, upright
        mask = cached_mask(text or photo, f"yolo|{photo}|{width}x{height}", key)
        if not mask.is_file():
            lines = read_yolo_lines(text) if text is not None else []
            shapes = [(class_id + 1, _pixels(values, width, height)) for class_id, values in lines]
            save_mask(mask, _draw_outlines(width, height, shapes))
        pairs.append((photo, mask))
    return pairs


def _pixels(values: list[float], width: int, height: int) -> list[float]:
    """A YOLO line's numbers in pixels: a polygon's ``x1 y1 x2 y2 ...``, or a box's ``cx cy w h``
    as its four corners."""
    if len(values) == 4:
        cx, cy, w, h = values
        values = [cx - w / 2, cy - h / 2, cx + w / 2, cy - h / 2, cx + w / 2, cy + h / 2, cx - w / 2, cy + h / 2]
    return [v * (width if i % 2 == 0 else height) for i, v in enumerate(values)]


def _draw_outlines(
    width: int,
    height: int,
    shapes: list[tuple[int, list[float]]],
    placed: list[tuple[int, np.ndarray]] | None = None,
) -> np.ndarray:
    """A class mask of ``(value, [x1, y1, x2, y2, ...])`` outlines in pixels and of ``placed``
    ``(value, pixels)`` regions given as pixels, the larger first."""
    from faster_coco_eval.core import mask as coco_mask

    drawn = np.zeros((height, width), dtype=np.uint8)
    kept = [(value, points) for value, points in shapes if len(points) >= 6]
    rles = [coco_mask.frPyObjects([points], height, width)[0] for _, points in kept]
    regions: list[tuple[float, int, Any]] = [
        (float(coco_mask.area(r)), v, r) for r, (v, _) in zip(rles, kept, strict=True)
    ]
    regions += [(float(pixels.sum()), v, pixels) for v, pixels in placed or []]
    for _, value, region in sorted(regions, key=lambda item: -item[0]):
        drawn[(coco_mask.decode(region) > 0) if isinstance(region, dict) else region] = value
    return drawn


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
    shown = ", ".join(short_path(root, images) for images, _ in train_folders)
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
        width, height = upright_size(photo)
        mask = cached_mask(file or photo, f"labelme|{photo}|{width}x{height}|{sorted(value.items())}", photo.stem)
        if not mask.is_file():
            outlines = [
                (value.get(shape.label, 0), [c for point in shape.outline() for c in point]) for shape in shapes
            ]
            save_mask(mask, _draw_outlines(width, height, outlines))
        pairs.append((photo, mask))
    return pairs


def region_masks(root: Path) -> DrawnMasks | None:
    """``root``'s VIA, CVAT or Label Studio files (`lucid.detect.data.region_sources`:
    ``train/via_region_data.json`` + ``val/``, one file, or CVAT's ``annotations.xml`` + ``images/``,
    split by its subsets when they name train and validation) drawn as class masks when they
    outline regions (polygons, circles, ellipses; rectangles are drawn too), else None: rectangles
    alone, and Create ML's files, are boxes (detection's). The classes are the labels (VIA: the region attribute's
    values) in name order, value 1..K; VIA regions without one are one class
    (`lucid.detect.formats.ONE_CLASS`). Photos the files do not list are not used, and listed
    photos that are missing are left out, both said."""
    sources = region_sources(root)
    if sources is None or not _region_outlines(sources[0][0]):
        return None
    paths, notes = sources
    files = [read_region_file(path) for path in paths]
    labels = sorted({shape.label for f in files for shapes in f.shapes.values() for shape in shapes})
    if len(labels) >= 255:
        raise DataError(
            f"{len(labels)} classes in {files[0].kind} files; 8-bit masks hold at most 254 and a void value"
        )
    value = {label: index + 1 for index, label in enumerate(labels)}
    parts = [(f, sorted(f.shapes)) for f in files]
    subsets = subset_split(files[0]) if len(files) == 1 else None
    if subsets is not None:
        parts = [(files[0], names) for names in subsets[:2]]
        notes.append(subsets[2])
    drawn = [_region_pairs(file, names, value) for file, names in parts]
    missing = [short_path(root, path) for _, _, lost in drawn for path in lost]
    unlisted = len(set().union(*(photos for _, photos, _ in drawn)) - {p for pairs, _, _ in drawn for p, _ in pairs})
    notes += region_notes(root, files)
    kind = files[0].kind
    if missing:
        notes.append(f"{root}: {len(missing)} photos the {kind} files list are missing, not used (e.g. {missing[0]})")
    if unlisted:
        notes.append(f"{root}: {unlisted} photos are in no {kind} file, so they are not used")
    notes.append(
        f"{root}: masks drawn from the {kind} regions into {mask_cache_dir()} ({len(labels)} classes + background)"
    )
    description = f"{kind}: " + " + ".join(short_path(root, f.path) for f in files)
    description += ", split by its subsets" if subsets is not None else ""
    val = drawn[1][0] if len(drawn) > 1 else None
    return DrawnMasks(drawn[0][0], val, labels, description, notes)


def _region_pairs(
    file: RegionFile, names: list[str], value: dict[str, int]
) -> tuple[list[tuple[Path, Path]], set[Path], list[Path]]:
    """The (photo, drawn mask) pairs of the photos ``names`` of one VIA or CVAT ``file``, found
    below its folder by path or file name; every photo there, and the named photos that are missing."""
    photos = keyed_files(file.path.parent, walk_images(file.path.parent)[0], f"{file.kind} file")
    find = photo_finder(photos, file.aliases)
    pairs, missing = [], []
    for name in names:
        photo = find(name)
        if photo is None:
            missing.append(file.path.parent / name)
        else:
            pairs.append((photo, _region_mask(file.path, photo, file.shapes[name], value)))
    return pairs, set(photos.values()), missing


def _region_outlines(file: Path, head: int = 1 << 20) -> bool:
    """Whether a VIA, CVAT or Label Studio file's first ``head`` bytes hold a region that outlines an
    area (a polygon, circle or ellipse; a file of rectangles alone holds boxes)."""
    kind = region_file_kind(file)
    if kind not in ("VIA JSON", "CVAT XML", "Label Studio JSON"):
        return False
    text = file_head(file, head)
    if kind == "CVAT XML":
        return re.search(rb"<(polygon|ellipse|mask)\b", text) is not None
    if kind == "Label Studio JSON":
        return re.search(rb'"(polygon|ellipse|brush)labels"|"type"\s*:\s*"(polygon|ellipse|brush)"', text) is not None
    return re.search(rb'"name"\s*:\s*"(polygon|circle|ellipse)"', text) is not None


def _region_mask(file: Path, photo: Path, shapes: list[Any], value: dict[str, int]) -> Path:
    """The cached class mask of one photo's VIA, CVAT or Label Studio regions (pixels of the photo
    as shown): outlines drawn, CVAT's masks placed, the larger first."""
    width, height = upright_size(photo)
    mask = cached_mask(file, f"regions|{photo}|{width}x{height}|{sorted(value.items())}", photo.stem)
    if not mask.is_file():
        outlines = [(value[s.label], [c for point in s.outline() for c in point]) for s in shapes if s.bits is None]
        placed = [(value[s.label], s.bits.placed(width, height)) for s in shapes if s.bits is not None]
        save_mask(mask, _draw_outlines(width, height, outlines, placed))
    return mask


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
        mask = cached_mask(file or photo, f"supervisely|{photo}|{width}x{height}|{sorted(value.items())}", photo.name)
        if not mask.is_file():
            save_mask(mask, _draw_objects(file, objects, width, height))
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
    upright, stored = photo_sizes(photo)
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

"""Detection sets as the Hugging Face Hub stores them (`lucid.data.hub`): a row holds a photo and
its objects, the boxes and their classes in one column (``cppe-5``'s and Roboflow's exports'
``objects``: ``{"bbox": [[x, y, w, h], ...], "category": [0, ...]}``, or a list of such dicts),
or in top-level list columns (``bbox`` + ``category``). ``ClassLabel`` names the classes.

The Hub has no one box format: COCO's ``[x, y, width, height]`` is the convention the
``transformers`` detection guides use and the one most sets follow, but some store corners. The
format is read from the data: boxes whose "corners" would be reversed are widths, boxes that
as widths would reach past their photos are corners; values all within 0..1 are fractions of the
photo. When nothing tells, COCO's is taken, and a note says so.

The photos are written once into lucid's cache as they are stored; the boxes are read from the
files each time (one column of numbers, quick to read), so nothing else is cached.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lucid.data.files import split_role, subfolders
from lucid.data.hub import HubSet, class_label_names, hub_set, image_bytes, unpacked
from lucid.data.images import image_header, write_encoded
from lucid.detect.formats import RawImage, RawObject
from lucid.errors import DataError

__all__ = [
    "BOX_KEYS",
    "CLASS_KEYS",
    "METADATA",
    "BoxColumns",
    "box_columns",
    "hub_boxes",
    "metadata_boxes",
    "metadata_files",
]

BOX_KEYS = ("bbox", "bboxes", "boxes", "box")
CLASS_KEYS = ("category", "categories", "category_id", "label", "labels", "class", "classes")
_OVERHANG = 1.0  # pixels a box may reach past its photo and still fit it (a rounding, not another box format)


@dataclass
class BoxColumns:
    """Where a row keeps its photo and objects: ``column`` the struct (or list of structs) column
    of the objects, None when the boxes and classes are top-level columns; ``box`` and ``label``
    the fields (or columns) of the boxes and their classes (None: one class); ``names`` the
    ``ClassLabel`` names."""

    photo: str
    column: str | None
    box: str
    label: str | None
    names: list[str] | None

    def columns(self) -> list[str]:
        if self.column is not None:
            return [self.column]
        return [self.box] + ([self.label] if self.label is not None else [])


def _fields(feature: Any) -> dict[str, Any] | None:
    """The sub-features of a struct feature (a dict of features, a ``Sequence``/``List`` of one,
    or a one-item list of one), else None."""
    if isinstance(feature, list) and len(feature) == 1:
        return _fields(feature[0])
    if not isinstance(feature, dict):
        return None
    if "_type" not in feature:
        return feature
    if feature["_type"] in ("Sequence", "List", "LargeList"):
        return _fields(feature.get("feature"))
    return None


def _pick(keys: Sequence[str], fields: dict[str, Any]) -> str | None:
    lowered = {name.lower(): name for name in fields}
    return next((lowered[key] for key in keys if key in lowered), None)


def box_columns(hub: HubSet) -> BoxColumns | None:
    """How ``hub``'s rows hold photos and boxes, or None when they hold one photo and no boxes."""
    images = hub.image_columns()
    if len(images) != 1:
        return None
    for name, feature in hub.features.items():
        fields = _fields(feature)
        if fields is None or name == images[0]:
            continue
        box = _pick(BOX_KEYS, fields)
        if box is not None:
            label = _pick(CLASS_KEYS, fields)
            names = class_label_names(fields[label]) if label is not None else None
            return BoxColumns(images[0], name, box, label, names)
    box = _pick(BOX_KEYS, hub.features)
    if box is None or _fields(hub.features[box]) is not None:
        return None
    label = _pick(CLASS_KEYS, hub.features)
    names = class_label_names(hub.features[label]) if label is not None else None
    return BoxColumns(images[0], None, box, label, names)


def _objects(cell: Any, box: str, label: str | None, where: str) -> list[tuple[Any, Any]]:
    """The (box, class) pairs of a row's objects, whether a dict of lists or a list of dicts."""
    if cell is None:
        return []
    if isinstance(cell, list):  # a list of objects, each a dict
        return [(obj.get(box), obj.get(label) if label else None) for obj in cell]
    boxes = cell.get(box) or []
    labels = (cell.get(label) if label else None) or [None] * len(boxes)
    if not isinstance(labels, list):
        labels = [labels] * len(boxes)
    if len(labels) != len(boxes):
        raise DataError(f"{where}: {len(boxes)} boxes but {len(labels)} classes ({box}, {label})")
    return list(zip(boxes, labels, strict=True))


def _four_numbers(box: Any, where: str) -> tuple[float, float, float, float]:
    if not isinstance(box, (list, tuple)) or len(box) != 4 or any(not isinstance(v, (int, float)) for v in box):
        raise DataError(f"{where}: a box of 4 numbers expected, got {box!r}")
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


@dataclass
class _Row:
    photo: Path
    size: tuple[int, int] | None
    objects: list[tuple[tuple[float, float, float, float], Any]]  # a box and its class (a name, a number or None)


Found = tuple[dict[str, list[RawImage]], list[str] | None, str, list[str]]


def hub_boxes(root: Path) -> Found | None:
    """``root``'s Hugging Face photos (written once into the cache) and boxes by split role, the
    class names (None: the boxes' own), what was read and notes; None when ``root`` holds no
    Hugging Face set of photos and boxes."""
    hub = hub_set(root)
    columns = None if hub is None else box_columns(hub)
    if hub is None or columns is None:
        return None
    photos = _photos(hub, columns)
    if not photos:
        raise DataError(f"--data {root}: {hub.describe()} holds no photos in its column {columns.photo!r}")
    rows = {role: list(_rows(hub, role, columns, photos)) for role in hub.splits}
    where = f"{columns.column!r}" if columns.column else f"columns {columns.box!r} + {columns.label!r}"
    what = f"{hub.describe()}, photos in column {columns.photo!r}, boxes in {where}"
    cache = photos[next(iter(photos))].parent.parent
    return _found(root, rows, columns.names, what, f"the photos written once as files into {cache}", hub.files()[0])


def _found(
    root: Path, rows: dict[str, list[_Row]], names: list[str] | None, what: str, written: str, source: Path
) -> Found:
    """The photos and boxes of each split role, the class names, what was read and notes, from the
    rows as read: the box format decided over all of them (`_box_format`); whole-number classes
    without names are ``class_0`` ..."""
    every = [obj for found in rows.values() for row in found for obj in row.objects]
    if names is None and all(isinstance(label, int) for _, label in every):
        names = [f"class_{i}" for i in range(max((int(label) for _, label in every), default=-1) + 1)]
    reading, note = _box_format([row for found in rows.values() for row in found])
    images = {role: [_raw(row, reading, names, source) for row in found] for role, found in rows.items()}
    what = f"{what} ({reading})"
    notes = [f"{root}: {what}" + (f", {written}" if written else "")]
    if note:
        notes.append(f"{root}: {note}")
    return images, names, what, notes


def _photos(hub: HubSet, columns: BoxColumns) -> dict[tuple[str, int], Path]:
    """Each row's photo in the cache, by (split role, row number)."""

    def write(work: Path) -> None:
        for role in hub.splits:
            (work / role).mkdir()
            for number, row in enumerate(hub.rows(role, [columns.photo]), 1):
                data = image_bytes(row[columns.photo], hub.root)
                if data is not None:
                    write_encoded(work / role / f"{number:07d}", data, f"{hub.root}: {role} row {number}")

    cache = unpacked(hub, f"photos|{columns.photo}", write, str(hub.root))
    found = {}
    for role in hub.splits:
        for entry in os.scandir(cache / role):
            stem = entry.name.partition(".")[0]
            if stem.isdigit():
                found[role, int(stem)] = Path(entry.path)
    return found


def _rows(hub: HubSet, role: str, columns: BoxColumns, photos: dict[tuple[str, int], Path]) -> Iterator[_Row]:
    for number, row in enumerate(hub.rows(role, columns.columns()), 1):
        photo = photos.get((role, number))
        if photo is None:
            continue  # a row without a photo
        cell = row[columns.column] if columns.column is not None else row
        where = f"{hub.root}: {role} row {number}"
        objects = [
            (_four_numbers(box, where), label) for box, label in _objects(cell, columns.box, columns.label, where)
        ]
        header = image_header(photo)
        yield _Row(photo, None if header is None else header[0], objects)


# How four numbers may read as a box, in the order preferred where several fit: COCO's (the Hub's
# usual), corners (Pascal VOC's, torchvision's), the centre and sides (YOLO's).
XYWH, CORNERS, CENTRE = "x, y, width, height", "corners", "centre x, centre y, width, height"
BOX_READINGS = (XYWH, CORNERS, CENTRE)
_FRACTION_SLACK = 1e-3  # fractions written with a few decimals may pass 1 by a rounding


def _box_format(rows: Sequence[_Row]) -> tuple[str, str | None]:
    """How the set's boxes read (`BOX_READINGS`, in pixels or as fractions) and a note when the
    data could not tell: the first reading under which every box fits its photo (sides not
    negative, inside the photo where its size is known), else the one that fewest boxes misfit."""
    boxes = [box for row in rows for box, _ in row.objects]
    fractions = bool(boxes) and all(0.0 <= v <= 1.0 for box in boxes for v in box)
    misfits = {kind: sum(_misfits(row, kind, fractions) for row in rows) for kind in BOX_READINGS}
    fitting = [kind for kind in BOX_READINGS if misfits[kind] == 0]
    kind = fitting[0] if fitting else min(BOX_READINGS, key=lambda k: misfits[k])
    unit = "fractions" if fractions else "pixels"
    if boxes and len(fitting) > 1:
        named = "COCO's [x, y, width, height]" if kind == XYWH else kind
        others = " and as ".join(fitting[1:])
        return f"{kind}, {unit}", f"the boxes read as {named} (the Hub's usual format; as {others} they fit too)"
    return f"{kind}, {unit}", None


def _misfits(row: _Row, kind: str, fractions: bool) -> int:
    """How many of ``row``'s boxes, read as ``kind``, have a negative side or reach past its photo
    (where its size is known)."""
    if row.size is None:
        width, height, slack = math.inf, math.inf, 0.0
    else:
        (width, height), slack = ((1.0, 1.0), _FRACTION_SLACK) if fractions else (row.size, _OVERHANG)
    count = 0
    for box, _ in row.objects:
        x0, y0, x1, y1 = _corners(box, kind)
        if x1 < x0 or y1 < y0 or x0 < -slack or y0 < -slack or x1 > width + slack or y1 > height + slack:
            count += 1
    return count


def _corners(box: tuple[float, float, float, float], kind: str) -> tuple[float, float, float, float]:
    """``box`` read as ``kind``, as corners ``x0, y0, x1, y1``."""
    a, b, c, d = box
    if kind == CORNERS:
        return a, b, c, d
    if kind == CENTRE:
        return a - c / 2, b - d / 2, a + c / 2, b + d / 2
    return a, b, a + c, b + d


def _raw(row: _Row, reading: str, names: list[str] | None, source: Path) -> RawImage:
    objects = []
    for box, label in row.objects:
        corners = _corners(box, next(kind for kind in BOX_READINGS if reading.startswith(kind)))
        if names is not None and isinstance(label, int) and 0 <= label < len(names):
            name = names[label]
        elif label is None:
            name = "object"
        else:
            name = str(label)
        objects.append(RawObject(name, corners))
    return RawImage(row.photo, objects, source, None, reading.endswith("fractions"))


METADATA = ("metadata.jsonl",)  # the ``datasets`` ImageFolder's file of each photo's features, as JSON lines


def metadata_files(root: Path) -> dict[str, Path]:
    """The ImageFolder ``metadata.jsonl`` files of ``root``'s split folders (``train/``,
    ``validation/``, ``test/``) by role, else ``root``'s own (role ``""``: split by seed); only
    files whose first line gives a photo's boxes (`_metadata_keys`)."""
    found: dict[str, Path] = {}
    for folder in subfolders(root):
        role = split_role(folder.name)
        file = next((folder / n for n in METADATA if (folder / n).is_file()), None)
        if role is not None and file is not None and _metadata_keys(file) is not None:
            found.setdefault(role, file)
    if not found:
        file = next((root / n for n in METADATA if (root / n).is_file()), None)
        if file is not None and _metadata_keys(file) is not None:
            found[""] = file
    return found


def _metadata_keys(file: Path) -> tuple[str | None, str, str | None] | None:
    """Where a metadata file's lines keep the boxes: (the objects key or None for top-level
    lists, the box key, the class key), judged from its first line; None when it names no
    ``file_name`` or no boxes."""
    try:
        with file.open(encoding="utf-8") as handle:
            line = json.loads(handle.readline())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(line, dict) or "file_name" not in line:
        return None
    for key, value in line.items():
        fields = value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else value
        if isinstance(fields, dict) and (box := _pick(BOX_KEYS, fields)) is not None:
            return key, box, _pick(CLASS_KEYS, fields)
    box = _pick(BOX_KEYS, line)
    return None if box is None else (None, box, _pick(CLASS_KEYS, line))


def metadata_boxes(root: Path) -> Found | None:
    """``root``'s photos and boxes as the ``datasets`` library's ImageFolder takes them for
    detection: ``metadata.jsonl`` beside the photos (in each split folder), a line per photo of its
    ``file_name`` and ``objects`` (``{"bbox": [[x, y, w, h], ...], "categories": [0, ...]}``); None
    without such a file."""
    files = metadata_files(root)
    if not files:
        return None
    rows = {role: _metadata_rows(file) for role, file in files.items()}
    shown = " + ".join(file.relative_to(root).as_posix() for file in files.values())
    return _found(root, rows, None, f"ImageFolder metadata: {shown}", "", next(iter(files.values())))


def _metadata_rows(file: Path) -> list[_Row]:
    keys = _metadata_keys(file)
    assert keys is not None
    column, box, label = keys
    rows = []
    with file.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            where = f"{file}:{number}"
            try:
                line = json.loads(text)
                photo = file.parent / str(line["file_name"])
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(
                    f"{where}: expected a JSON object with a file_name ({type(exc).__name__}: {exc})"
                ) from None
            cell = line.get(column) if column is not None else line
            objects = [(_four_numbers(b, where), c) for b, c in _objects(cell, box, label, where)]
            header = image_header(photo)
            rows.append(_Row(photo, None if header is None else header[0], objects))
    return rows

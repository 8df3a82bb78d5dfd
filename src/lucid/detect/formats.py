"""Box annotation files as people ship them: Pascal VOC XML, COCO JSON, YOLO text, CSV tables, LabelMe
JSON, Supervisely's JSON, and the one-file-per-split JSON of VGG Image Annotator (VIA) and Create ML.

Each reader turns one file into `RawObject` boxes (class name, ``x1 y1 x2 y2``, the
difficult/crowd flag) exactly as the file states them: nothing is clipped, dropped or renamed
here, so `lucid.detect.data` can count every flaw it then repairs or skips. A file that
cannot be parsed at all is a `DataError` naming the file and the cause.

Coordinate conventions, as the formats define them:

- VOC ``<bndbox>``: ``xmin ymin xmax ymax`` in pixels, read as given (no ``- 1``: torchvision
  and current toolkits read them as box edges);
- COCO ``bbox``: ``[x, y, width, height]`` in pixels, turned into ``x1 y1 x2 y2``;
- YOLO: ``class cx cy w h`` as fractions of the photo's width and height (``normalised`` boxes,
  scaled by `lucid.detect.data` once the photo's size is read); a line of more than four
  numbers after the class is a polygon (YOLO segmentation labels) and gives its bounding box;
- LabelMe JSON (one file per photo): each shape's ``points`` in pixels, its box their bounds;
- CSV (Roboflow's "Tensorflow Object Detection CSV", Kaggle tables, Open Images'): a header
  naming the photo (``filename``, ``image_id`` ...), the class (optional: one class without it)
  and the box as ``xmin ymin xmax ymax``, a ``bbox`` column ``[x, y, w, h]`` (Global Wheat's) or
  ``x y w h``, one row per box, in any column order; in pixels, or fractions of the photo's size
  when every coordinate lies in 0..1 (Open Images); ``width`` and ``height`` when given;
- Supervisely: ``meta.json`` declares the classes with their shapes (`read_supervisely_meta`),
  and each ``ann/x.jpg.json`` lists objects (`read_supervisely_annotation`) whose
  ``points.exterior`` are pixels; segmentation (`lucid.segment.polygons`) reads the same files;
- VIA JSON (``via_region_data.json``, ``via_export_json.json``, a ``via_project*.json``): each
  photo's regions, ``rect`` ``x y width height``, ``polygon`` ``all_points_x``/``all_points_y``,
  ``circle`` and ``ellipse`` (centre, radii, turn) in pixels; the class is a region attribute;
- Create ML JSON (Roboflow's ``_annotations.createml.json``): a list of photos, each box's
  ``coordinates`` ``x y`` its centre and ``width height``, in pixels;
- Label Studio's JSON and JSON-MIN exports: each region's ``x y width height`` (its top-left
  corner and size, turned by ``rotation`` degrees about that corner), polygon ``points`` and
  ellipse centre and radii, all in percent of the photo's ``original_width`` and ``original_height``.
"""

from __future__ import annotations

import json
import math
import os
import re
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lucid.data.cocolabels import is_category_file
from lucid.data.files import IMAGE_SUFFIXES, distinct_names, file_holds, names_file_text
from lucid.data.studio import task_photo, task_results, upload_name
from lucid.errors import DataError

__all__ = [
    "RawObject",
    "RawImage",
    "VocFile",
    "CocoFile",
    "read_voc_xml",
    "read_coco_json",
    "read_labelme_json",
    "read_labelme_shapes",
    "LabelMeShape",
    "is_labelme_json",
    "is_coco_json",
    "coco_file_name",
    "read_yolo_labels",
    "read_yolo_lines",
    "read_yolo_names",
    "BoxTable",
    "box_table_columns",
    "headerless_box_rows",
    "read_box_csv",
    "unknown_class",
    "YOLO_NAME_FILES",
    "SUPERVISELY_META",
    "read_json",
    "read_supervisely_meta",
    "supervisely_classes",
    "read_supervisely_annotation",
    "RegionFile",
    "region_file_kind",
    "read_region_file",
    "via_class_key",
    "CREATEML_ROBOFLOW",
    "WIDER_CLASS",
    "read_wider_boxes",
    "VIA_NAMES",
    "ONE_CLASS",
]

Box = tuple[float, float, float, float]
# Class names of YOLO labels: Ultralytics' YAML, labelImg's classes.txt, darknet's obj.names (or coco.names),
# Roboflow's "YOLO Darknet" export's _darknet.labels.
YOLO_NAME_FILES = (
    "data.yaml", "data.yml", "dataset.yaml", "classes.txt", "obj.names", "_darknet.labels", "coco.names", "voc.names",
)  # fmt: skip
SUPERVISELY_META = "meta.json"  # a Supervisely project's classes, beside its dataset folders


def unknown_class(kind: str, value: object) -> str:
    """The placeholder name of a class id the data does not name (never a real class name)."""
    return f"<{kind} {value}>"


@dataclass(frozen=True)
class RawObject:
    """One box as its file states it. ``difficult``: VOC's difficult flag or COCO's iscrowd."""

    name: str
    box: Box
    difficult: bool = False


@dataclass
class RawImage:
    """One photo and its boxes as read from its annotation file.

    ``source`` is that file (None: the photo has no annotation file); ``declared_size`` the
    ``(width, height)`` the file states, if any; ``normalised``: boxes are fractions of the size.
    """

    image: Path
    objects: list[RawObject] = field(default_factory=list)
    source: Path | None = None
    declared_size: tuple[int, int] | None = None
    normalised: bool = False


@dataclass
class VocFile:
    """What one VOC XML file says: the photo's file name, its size and the boxes."""

    filename: str | None
    size: tuple[int, int] | None
    objects: list[RawObject]


def _text(element: ElementTree.Element, tag: str) -> str | None:
    child = element.find(tag)
    return None if child is None or child.text is None else child.text.strip()


def _number(element: ElementTree.Element, tag: str, path: Path) -> float:
    text = _text(element, tag)
    try:
        return float(text) if text is not None else math.nan
    except ValueError:
        raise DataError(f"{path}: <{tag}> must be a number, got {text!r}") from None


def read_voc_xml(path: str | os.PathLike[str]) -> VocFile:
    """The photo name, size and boxes of a Pascal VOC XML file (``<object>`` with ``<name>``,
    ``<bndbox>`` and an optional ``<difficult>``). An unparsable file, or an object without a
    name or box, is a `DataError` naming the file."""
    file = Path(path)
    try:
        root = ElementTree.parse(file).getroot()
    except (ElementTree.ParseError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a readable VOC XML file ({exc})") from None
    if root.tag != "annotation":
        raise DataError(f"{file}: expected a VOC <annotation> element, got <{root.tag}>")
    objects = []
    for number, element in enumerate(root.iter("object"), 1):
        name, box = _text(element, "name"), element.find("bndbox")
        if not name or box is None:
            raise DataError(f"{file}: <object> {number} has no <name> or no <bndbox>")
        coordinates = tuple(_number(box, tag, file) for tag in ("xmin", "ymin", "xmax", "ymax"))
        difficult = (_text(element, "difficult") or "0") not in ("0", "false", "False")
        objects.append(RawObject(name, (coordinates[0], coordinates[1], coordinates[2], coordinates[3]), difficult))
    return VocFile(_text(root, "filename"), _voc_size(root, file), objects)


@dataclass(frozen=True)
class MaskBits:
    """A region given as pixels rather than an outline (CVAT's ``<mask>``): ``counts``, the run
    lengths of 0s and 1s (0s first) over its ``width x height`` box row by row, the box's
    top-left pixel at ``left, top``. numpy decodes them: COCO's run-length masks (faster-coco-eval)
    count column by column, so CVAT's rows would come out transposed."""

    left: int
    top: int
    width: int
    height: int
    counts: tuple[int, ...]

    def pixels(self) -> np.ndarray:
        """The box's pixels, ``(height, width)`` booleans."""
        values = np.arange(len(self.counts)) % 2 == 1
        return np.repeat(values, self.counts).reshape(self.height, self.width)

    def placed(self, width: int, height: int) -> np.ndarray:
        """The region's pixels on a ``width x height`` photo, clipped to it."""
        canvas = np.zeros((height, width), dtype=bool)
        y0, x0 = max(self.top, 0), max(self.left, 0)
        y1, x1 = min(self.top + self.height, height), min(self.left + self.width, width)
        if y0 < y1 and x0 < x1:
            canvas[y0:y1, x0:x1] = self.pixels()[y0 - self.top : y1 - self.top, x0 - self.left : x1 - self.left]
        return canvas


@dataclass(frozen=True)
class BrushBits:
    """A Label Studio brush region: ``data``, the bytes of its ``rle`` (thi.ng's rle-pack of the
    brush layer's RGBA pixels, ``width x height`` of the photo it was drawn on; the alpha channel
    is the region). Decoded only when drawn (`placed`): a brush of a large photo takes a second."""

    width: int
    height: int
    data: tuple[int, ...]
    where: str  # the file and task, for errors

    def placed(self, width: int, height: int) -> np.ndarray:
        """The brush's pixels on a ``width x height`` photo (nearest-neighbour scaled from the
        photo it was drawn on when their sizes differ)."""
        values = unpack_rle(self.data, self.width * self.height * 4, self.where)
        pixels = values.reshape(self.height, self.width, 4)[..., 3] > 0
        if (width, height) == (self.width, self.height):
            return pixels
        from PIL import Image

        scaled = Image.fromarray(pixels.astype(np.uint8) * 255).resize((width, height), Image.Resampling.NEAREST)
        return np.asarray(scaled) > 0


def unpack_rle(data: Sequence[int], count: int, where: str) -> np.ndarray:
    """The ``count`` values of thi.ng's rle-pack stream ``data`` (Label Studio's brush ``rle``), as
    its decoder reads it, bits most significant first: 32 bits the number of values, 5 bits the
    word size less one, four 4-bit run-length field sizes less one; then records of a repeat bit,
    2 bits choosing a field size and that many bits, the run's length less one, and either one
    word repeated or that many words. Written here: Label Studio's converter is not a dependency."""
    try:
        stream = _BitStream(bytes(data))
        total, word = stream.read(32), stream.read(5) + 1
        sizes = [stream.read(4) + 1 for _ in range(4)]
        if total != count:
            raise ValueError(f"it holds {total} values, not the {count} of its photo's RGBA pixels")
        values = np.zeros(total, dtype=np.uint32)
        at = 0
        while at < total:
            repeat = stream.read(1)
            end = at + 1 + stream.read(sizes[stream.read(2)])
            if end > total:
                raise ValueError(f"a run ends at value {end}, past its {total}")
            if repeat:
                values[at:end] = stream.read(word)
            else:
                values[at:end] = [stream.read(word) for _ in range(end - at)]
            at = end
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"{where}: not a Label Studio brush rle ({exc})") from None
    return values


class _BitStream:
    """Bits of ``data``, most significant first, read a field at a time."""

    def __init__(self, data: bytes) -> None:
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)) + ord("0")
        self.text = bits.tobytes().decode("ascii")
        self.at = 0

    def read(self, size: int) -> int:
        if self.at + size > len(self.text):
            raise ValueError("it ends before its last value")
        value = int(self.text[self.at : self.at + size], 2)
        self.at += size
        return value


@dataclass
class LabelMeShape:
    """One LabelMe shape: its ``label``, ``kind`` (``rectangle``, ``polygon``, ``circle``, ``line``,
    ``point`` ...) and ``points`` in pixels. VIA's and Create ML's regions are read into the same
    kinds (`read_region_file`), so detection boxes and segmentation draws them all alike; a
    ``mask`` (CVAT's) holds its pixels in ``bits`` and its box's corners in ``points``; a
    ``brush`` (Label Studio's) its pixels in ``bits`` only, so it gives detection no box."""

    label: str
    kind: str
    points: list[tuple[float, float]]
    bits: MaskBits | BrushBits | None = None

    def outline(self) -> list[tuple[float, float]]:
        """The shape's outline as a polygon: a rectangle's four corners, a circle as 32 points
        on it (centre, a point on it), a polygon's points; others (lines, points) have none."""
        if self.kind == "rectangle" and len(self.points) == 2:
            (x1, y1), (x2, y2) = self.points
            return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
        if self.kind == "circle" and len(self.points) == 2:
            (cx, cy), (ex, ey) = self.points
            radius = math.hypot(ex - cx, ey - cy)
            steps = [2 * math.pi * k / 32 for k in range(32)]
            return [(cx + radius * math.cos(a), cy + radius * math.sin(a)) for a in steps]
        return list(self.points) if self.kind in ("polygon", "") and len(self.points) >= 3 else []

    def box(self) -> Box:
        """The box around the shape (around the circle for a circle)."""
        points = self.outline() if self.kind == "circle" else self.points
        xs, ys = [x for x, _ in points], [y for _, y in points]
        return min(xs), min(ys), max(xs), max(ys)


def read_labelme_shapes(path: str | os.PathLike[str]) -> tuple[str | None, tuple[int, int] | None, list[LabelMeShape]]:
    """The photo name (``imagePath``), size (``imageWidth``, ``imageHeight``) and shapes of a
    LabelMe JSON file. A file that is not LabelMe's, or a shape without a label or points, is a
    `DataError` naming the file."""
    file = Path(path)
    data = read_json(file)
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise DataError(f"{file}: not a LabelMe JSON file (no list of 'shapes')")
    shapes = []
    for number, shape in enumerate(data["shapes"], 1):
        try:
            name = str(shape["label"]).strip()
            points = [(float(x), float(y)) for x, y in shape["points"]]
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{file}: shape {number} has no label or no [x, y] points") from None
        if not name or not points:
            raise DataError(f"{file}: shape {number} has no label or no points")
        shapes.append(LabelMeShape(name, str(shape.get("shape_type") or "polygon"), points))
    width, height = _int_or_none(data.get("imageWidth")), _int_or_none(data.get("imageHeight"))
    filename = data.get("imagePath")
    photo = Path(str(filename).replace("\\", "/")).name if filename else None
    return photo, ((width, height) if width and height else None), shapes


def read_labelme_json(path: str | os.PathLike[str]) -> VocFile:
    """The photo name, size and boxes of a LabelMe JSON file (`read_labelme_shapes`): a
    rectangle, polygon, line or point gives the box around its points, a circle (centre, a point
    on it) the box around it."""
    name, size, shapes = read_labelme_shapes(path)
    return VocFile(name, size, [RawObject(shape.label, shape.box()) for shape in shapes])


def is_labelme_json(path: Path) -> bool:
    """Whether ``path`` is a LabelMe JSON file: its opening bytes name ``shapes`` (not parsed whole)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(65536)
    except OSError:
        return False
    return b'"shapes"' in head and head.lstrip().startswith(b"{")


def is_coco_json(path: Path, head: int = 1 << 20) -> bool:
    """Whether ``path`` is a COCO instances file, judged from its first ``head`` bytes (such files
    can be large, and their ``annotations`` may come last): an object with an ``images`` list
    whose entries have a ``file_name`` (or LVIS's ``coco_url``), and no panoptic ``segments_info``;
    its ``annotations`` (a file that lists photos alone labels nothing) are not categories alone
    (`lucid.data.cocolabels.is_category_file`)."""
    try:
        with path.open("rb") as handle:
            text = handle.read(head)
    except OSError:
        return False
    text = text.lstrip(b"\xef\xbb\xbf \t\r\n")
    return (
        text.startswith(b"{")
        and re.search(rb'"images"\s*:\s*\[', text) is not None
        and (b'"file_name"' in text or b'"coco_url"' in text)
        and b'"segments_info"' not in text
        and file_holds(path, b'"annotations"')  # a list of photos alone (COCO's image_info_test) labels nothing
        and not is_category_file(path)  # a category per photo, no boxes: iNaturalist's files are a classifier's
    )


def _voc_size(root: ElementTree.Element, file: Path) -> tuple[int, int] | None:
    """``(width, height)`` of ``<size>``; None when absent or zero (some tools write 0)."""
    size = root.find("size")
    if size is None:
        return None
    width, height = _number(size, "width", file), _number(size, "height", file)
    if not (width > 0 and height > 0):
        return None
    return int(width), int(height)


@dataclass
class CocoFile:
    """A COCO instances file: ``categories`` (id -> name), ``images`` (id -> (file_name, width,
    height)) and each image's boxes. ``dropped`` names categories left out (see `read_coco_json`)."""

    path: Path
    categories: dict[int, str]
    images: dict[int, tuple[str, int | None, int | None]]
    boxes: dict[int, list[RawObject]]
    dropped: list[str] = field(default_factory=list)


def read_json(file: Path) -> Any:
    """The JSON document of ``file``; one that cannot be read or parsed is a DataError naming it."""
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{file}: not a readable JSON file ({exc})") from None


def read_supervisely_meta(file: Path) -> list[tuple[str, str]]:
    """The ``(title, shape)`` of each class a Supervisely project's ``meta.json`` declares, in its
    order (``shape``: rectangle, polygon, bitmap, any, point ...); a file that is not one is a
    DataError naming it. Detection keeps the classes that give boxes, segmentation those that
    outline regions."""
    data = read_json(file)
    classes = data.get("classes") if isinstance(data, dict) else None
    if not isinstance(classes, list) or not all(isinstance(c, dict) and "title" in c for c in classes):
        raise DataError(
            f"{file}: expected Supervisely's meta.json, a list of 'classes' each with a 'title' and a 'shape'"
        )
    return [(str(c["title"]), str(c.get("shape"))) for c in classes]


def supervisely_classes(file: Path, shapes: Sequence[str]) -> tuple[list[str], list[str]]:
    """The classes a project's ``meta.json`` declares with one of ``shapes`` (detection: those
    that give boxes; segmentation: those that outline regions), in its order, and the others,
    each with its shape (``road (bitmap)``), for the note that says they are not used."""
    classes = read_supervisely_meta(file)
    kept = [title for title, shape in classes if shape in shapes]
    return kept, [f"{title} ({shape})" for title, shape in classes if shape not in shapes]


def read_supervisely_annotation(file: Path) -> dict[str, Any]:
    """One Supervisely annotation (``ann/x.jpg.json``): a dict with its list of ``objects`` (and
    usually the photo's ``size``); anything else is a DataError naming the file."""
    data = read_json(file)
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise DataError(f"{file}: expected a Supervisely annotation with a list of 'objects'")
    return data


def read_coco_json(path: str | os.PathLike[str]) -> CocoFile:
    """The categories, images and boxes of a COCO instances JSON file.

    Roboflow's exports add their data set's name as a category that no box uses and that is the
    ``supercategory`` of every real one; such a category is dropped (and named in ``dropped``).
    A box whose ``category_id`` is not among the categories keeps a placeholder name, so the
    caller counts it as an unknown class.
    """
    file = Path(path)
    data = read_json(file)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{file}: expected a COCO object with 'images', 'annotations' and 'categories' lists")
    try:
        categories = {int(c["id"]): str(c["name"]) for c in data.get("categories", [])}
        images = {
            int(i["id"]): (coco_file_name(i), _int_or_none(i.get("width")), _int_or_none(i.get("height")))
            for i in data["images"]
        }
        boxes: dict[int, list[RawObject]] = {}
        for ann in data.get("annotations", []):
            x, y, w, h = (float(v) for v in ann["bbox"])
            category = int(ann["category_id"])
            name = categories.get(category, unknown_class("category id", category))
            obj = RawObject(name, (x, y, x + w, y + h), bool(ann.get("iscrowd", 0)))
            boxes.setdefault(int(ann["image_id"]), []).append(obj)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{file}: not a COCO instances file ({type(exc).__name__}: {exc})") from None
    dropped = _unused_parent_categories(data.get("categories", []), boxes)
    named = [f"{categories.pop(category)!r} (id {category})" for category in dropped]
    return CocoFile(file, categories, images, boxes, named)


def coco_file_name(image: dict[str, Any]) -> str:
    """A COCO image entry's photo: its ``file_name``; LVIS names none, only the ``coco_url`` of the
    COCO photo it annotates (``http://images.cocodataset.org/train2017/000000391895.jpg``), whose
    folder and name (``train2017/000000391895.jpg``) say where COCO's download keeps it (LVIS's
    validation photos are in COCO's ``train2017/`` and ``val2017/`` both). A KeyError without either."""
    if "file_name" in image:
        return str(image["file_name"])
    parts = str(image["coco_url"]).rstrip("/").split("/")
    return "/".join(parts[-2:])


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


def _unused_parent_categories(categories: list[dict[str, Any]], boxes: dict[int, list[RawObject]]) -> list[int]:
    """Ids of categories no box uses whose name is another category's supercategory (Roboflow)."""
    used = {obj.name for objects in boxes.values() for obj in objects}
    parents = {str(c.get("supercategory")) for c in categories}
    return [int(c["id"]) for c in categories if str(c["name"]) not in used and str(c["name"]) in parents]


def read_yolo_lines(path: str | os.PathLike[str]) -> list[tuple[int, list[float]]]:
    """The ``(class id, numbers)`` of each line of a YOLO label file, as fractions of the photo:
    a box's ``cx cy w h`` or a polygon's ``x1 y1 x2 y2 x3 y3 ...`` (Ultralytics' segmentation
    labels). Detection takes each line's box, segmentation draws its polygon. A line that is
    neither is a `DataError` naming the file and line."""
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a readable YOLO label file ({exc})") from None
    found = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        try:
            index, values = int(float(fields[0])), [float(v) for v in fields[1:]]
        except ValueError:
            values = []
        if len(values) != 4 and (len(values) < 6 or len(values) % 2):
            raise DataError(
                f"{file}:{number}: expected 'class cx cy w h' or a polygon 'class x1 y1 x2 y2 x3 y3 ...' (fractions "
                f"of the photo), got {line!r}"
            )
        found.append((index, values))
    return found


def read_yolo_labels(path: str | os.PathLike[str], names: list[str]) -> list[RawObject]:
    """The boxes of one YOLO label file (`read_yolo_lines`, normalised ``x1 y1 x2 y2``), class ids
    named by ``names``; a class id outside ``names`` keeps a placeholder name (counted later as an
    unknown class)."""
    return [
        RawObject(names[index] if 0 <= index < len(names) else unknown_class("class id", index), _yolo_box(values))
        for index, values in read_yolo_lines(path)
    ]


def _yolo_box(values: list[float]) -> Box:
    """``x1 y1 x2 y2`` (fractions) of ``cx cy w h``, or of a polygon's points."""
    if len(values) == 4:
        cx, cy, w, h = values
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    xs, ys = values[0::2], values[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def read_yolo_names(folder: Path) -> tuple[list[str], Path] | None:
    """The class names of a YOLO data set and the file they came from: ``data.yaml``'s ``names``
    (a list, or a dict of id -> name) or one name per line of ``classes.txt``; None without one."""
    for name in YOLO_NAME_FILES:
        file = folder / name
        if not file.is_file():
            continue
        if file.suffix in (".yaml", ".yml"):
            return distinct_names(_yaml_names(file), file), file
        lines = names_file_text(file).splitlines()
        return distinct_names([line.strip() for line in lines if line.strip()], file), file
    return None


def _yaml_names(file: Path) -> list[str]:
    import yaml

    text = names_file_text(file)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DataError(f"{file}: not a readable YAML file ({exc})") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        try:
            ordered = sorted((int(k), str(v)) for k, v in names.items())
        except ValueError:
            ordered = []
        if [k for k, _ in ordered] == list(range(len(ordered))) and ordered:
            return [v for _, v in ordered]
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    raise DataError(f"{file}: expected 'names:' as a list of class names or a dict 0: name, 1: name ..., got {names!r}")


# CSV box tables: the header names each column; the first name present of each list is used.
CSV_PHOTO = (
    "filename", "file_name", "file", "image", "image_name", "image_id", "imageid", "img", "path", "image_path",
    "filepath", "fname", "frame",
)  # fmt: skip  # frame: Udacity's CrowdAI labels.csv (xmin,xmax,ymin,ymax,Frame,Label,Preview URL)
CSV_CLASS = (
    "class", "label", "class_name", "category", "name", "cell_type", "labels", "labelname", "label_name", "class_label",
)  # fmt: skip
CSV_BOX = {
    "xmin": ("xmin", "x_min", "x1"),
    "ymin": ("ymin", "y_min", "y1"),
    "xmax": ("xmax", "x_max", "x2"),
    "ymax": ("ymax", "y_max", "y2"),
}
# A box as its corner and size: one "[x, y, w, h]" column (Kaggle's Global Wheat) or four columns.
CSV_BBOX = ("bbox", "bbox_xywh", "box")
# makesense.ai's CSV export: label_name, bbox_x, bbox_y, bbox_width, bbox_height, image_name, image_width, image_height.
CSV_XYWH = {
    "x": ("x", "bbox_x"),
    "y": ("y", "bbox_y"),
    "w": ("w", "bbox_w", "bbox_width", "width"),
    "h": ("h", "bbox_h", "bbox_height", "height"),
}
CSV_SIZE = ("width", "height")
ONE_CLASS = "object"  # the class of a table without a class column: every box is one kind of object
# keras-retinanet's CSV has no header: path,x1,y1,x2,y2,class_name (SKU-110K adds the photo's width and height).
HEADERLESS_COLUMNS = ("filename", "xmin", "ymin", "xmax", "ymax", "class", "width", "height")


def headerless_box_rows(rows: Sequence[Sequence[str]]) -> bool:
    """Whether ``rows`` (a table's first lines) are keras-retinanet's header-less box rows: a photo
    name, four numbers and a class word (a row of a photo without boxes leaves them empty), at
    least one with a box."""
    boxed = 0
    for row in rows:
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if len(cells) < 6 or not cells[0].lower().endswith(IMAGE_SUFFIXES):
            return False
        if not any(cells[1:6]):
            continue  # keras-retinanet's "path,,,,," : a photo without boxes
        try:
            [float(v) for v in cells[1:5]]
        except ValueError:
            return False
        if not cells[5] or _is_number(cells[5]):
            return False
        boxed += 1
    return boxed > 0


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class BoxTable:
    """What one CSV box table says: each photo's boxes and, when stated, its ``(width, height)``,
    keyed by the photo's name as the table writes it; ``normalised``: every coordinate is a
    fraction of the photo's size (Open Images' tables)."""

    boxes: dict[str, list[RawObject]]
    sizes: dict[str, tuple[int, int]]
    normalised: bool = False


def box_table_columns(header: list[str]) -> dict[str, str] | None:
    """The columns of a CSV box table by role from its ``header``, or None when it is not one (a
    table of labels without boxes, say): ``photo``; the box as ``xmin`` ... ``ymax``, else
    ``bbox`` (``[x, y, w, h]``), else ``x``, ``y``, ``w``, ``h``; ``class`` when present (without
    one every box is `ONE_CLASS`); ``width``/``height`` of the photo beside corner columns."""
    names = {h.strip().lower(): h for h in header if h}

    def first(choices: tuple[str, ...]) -> str | None:
        return next((names[c] for c in choices if c in names), None)

    photo = first(CSV_PHOTO)
    if photo is None:
        return None
    roles = {"photo": photo}
    corners = {role: first(choices) for role, choices in CSV_BOX.items()}
    sides = {role: first(choices) for role, choices in CSV_XYWH.items()}
    if all(corners.values()):
        roles.update({role: str(column) for role, column in corners.items()})
        roles.update({size: names[size] for size in CSV_SIZE if size in names})
    elif first(CSV_BBOX) is not None:
        roles["bbox"] = str(first(CSV_BBOX))
        roles.update({size: names[size] for size in CSV_SIZE if size in names})
    elif all(sides.values()):
        roles.update({role: str(column) for role, column in sides.items()})
    else:
        return None
    found = first(tuple(c for c in CSV_CLASS if names.get(c) != photo))
    if found is not None:
        roles["class"] = found
    return roles


def _row_box(row: list[str], at: dict[str, int]) -> Box:
    """The ``x1 y1 x2 y2`` of one table row, from whichever box columns the table has."""
    if "xmin" in at:
        x1, y1, x2, y2 = (float(row[at[c]]) for c in CSV_BOX)
        return x1, y1, x2, y2
    if "bbox" in at:
        values = json.loads(row[at["bbox"]])
        if not isinstance(values, list) or len(values) != 4:
            raise ValueError(values)
        x, y, w, h = (float(v) for v in values)
    else:
        x, y, w, h = (float(row[at[c]]) for c in CSV_XYWH)
    return x, y, x + w, y + h


def read_box_csv(path: str | os.PathLike[str]) -> BoxTable:
    """The boxes of a CSV box table (`box_table_columns`): a header that is not one, a row whose
    coordinates are not numbers, or a file that is not UTF-8 text is a `DataError` naming it.
    A table whose coordinates all lie in 0..1 gives fractions of each photo's size."""
    import csv
    import io

    file = Path(path)
    try:
        rows = list(csv.reader(io.StringIO(file.read_text(encoding="utf-8-sig"), newline="")))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{file}: not a readable CSV table of boxes ({exc})") from None
    if rows and box_table_columns(rows[0]) is None and headerless_box_rows(rows[:20]):
        rows = [list(HEADERLESS_COLUMNS[: len(rows[0])]), *rows]  # keras-retinanet's, SKU-110K's: no header
    columns = box_table_columns(rows[0]) if rows else None
    if columns is None:
        raise DataError(
            f"{file}: expected a header naming the photo (filename, image_id ...) and the box (xmin, ymin, xmax, "
            "ymax; bbox; or x, y, w, h) columns"
        )
    index = {h: i for i, h in enumerate(rows[0])}
    at = {role: index[header] for role, header in columns.items()}
    table = BoxTable({}, {})
    largest = 0.0
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        roles = [at[c] for c in (*CSV_BOX, *CSV_XYWH, "bbox", "class") if c in at]
        if row[at["photo"]].strip() and not any(row[i].strip() for i in roles if i < len(row)):
            table.boxes.setdefault(row[at["photo"]].strip(), [])  # keras-retinanet's "path,,,,,": no boxes
            continue
        try:
            photo = row[at["photo"]].strip()
            box = _row_box(row, at)
            size = tuple(int(float(row[at[c]])) for c in CSV_SIZE if c in at)
            name = row[at["class"]].strip() if "class" in at else ONE_CLASS
        except (IndexError, ValueError, TypeError):
            raise DataError(f"{file}:{number}: expected a photo name and a numeric box, got {row}") from None
        largest = max(largest, *(abs(v) for v in box))
        table.boxes.setdefault(photo, []).append(RawObject(name, box))
        if len(size) == 2 and size[0] > 0 and size[1] > 0:
            table.sizes[photo] = (size[0], size[1])
    table.normalised = 0 < largest <= 1.0
    return table


# --------------------------------------------------------------------------------------------
# One JSON file of every photo's regions: VGG Image Annotator (VIA) and Apple's Create ML

CREATEML_ROBOFLOW = "_annotations.createml.json"  # Roboflow's "CreateML JSON" export, one per split folder
VIA_NAMES = ("via_region_data.json", "via_export_json.json")  # VIA 2's export names; projects: via_project*.json
# The VIA region attribute that names the classes, when regions carry several: the first present of these.
VIA_CLASS_KEYS = ("class", "label", "name", "type", "category", "object", "class_name", "classname", "species")
_ELLIPSE_POINTS = 32  # the polygon an ellipse is drawn as (LabelMe's circles likewise)


@dataclass
class RegionFile:
    """One VIA or Create ML file: each photo's shapes keyed by the photo's name as the file writes
    it (a Create ML box is a ``rectangle``); ``kind`` (``VIA JSON``, ``CreateML JSON``) for notes;
    ``class_key``: the VIA region attribute read as the class (None: every region is `ONE_CLASS`,
    or Create ML's labels); ``skipped``: regions left out, by reason (no class value, a shape that
    is no region); ``subsets``: each photo's subset where the file names one (CVAT's),
    ``sizes`` the photo sizes it states, and ``aliases`` a second name to look for (Label Studio
    stores an upload as ``1a2b3c4d-photo.jpg``; the user's folder holds ``photo.jpg``)."""

    path: Path
    kind: str
    shapes: dict[str, list[LabelMeShape]]
    class_key: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    subsets: dict[str, str] = field(default_factory=dict)  # photo name -> its subset (CVAT's Train, Validation)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # photo name -> (width, height) the file states
    aliases: dict[str, str] = field(default_factory=dict)  # photo name -> the name to look for when it is missing

    def boxes(self) -> dict[str, list[RawObject]]:
        """Each photo's boxes: the box around each shape (`LabelMeShape.box`); brushes give none."""
        return {
            name: [RawObject(s.label, s.box()) for s in shapes if s.kind != "brush"]
            for name, shapes in self.shapes.items()
        }


def region_file_kind(path: Path, head: int = 65536) -> str | None:
    """``VIA JSON``, ``CreateML JSON``, ``CVAT XML`` or ``Label Studio JSON`` when ``path``'s opening
    bytes look like one (the file is not parsed here: such files hold a whole split), else None. VIA: an object whose
    entries have ``filename`` and ``regions`` (a project file: ``_via_img_metadata``); Create ML: a
    list of entries with ``image`` and ``annotations``; CVAT for images: ``<annotations>`` of
    ``<meta>`` and ``<image>`` elements (a VOC file's root is ``<annotation>``); Label Studio: a list
    naming a rectangle, polygon or ellipse region type."""
    try:
        with path.open("rb") as handle:
            text = handle.read(head).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return None
    if text.startswith(b"{") and (b"_via_img_metadata" in text or (b'"filename"' in text and b'"regions"' in text)):
        return "VIA JSON"
    if text.startswith(b"[") and re.search(
        rb'"(rectangle|polygon|ellipse|brush)labels"|"type"\s*:\s*"(rectangle|polygon|ellipse|brush)"', text
    ):
        return "Label Studio JSON"  # its tasks hold "annotations" and "data": {"image"} too, so it is asked first
    studio = b'"data"' in text and b'"result"' in text  # a Label Studio export of other answers (choices, text)
    if text.startswith(b"[") and b'"image"' in text and b'"annotations"' in text and not studio:
        return "CreateML JSON"
    if text.startswith(b"<") and b"<annotations>" in text and (b"<image " in text or b"<meta>" in text):
        return "CVAT XML"
    return None


def read_region_file(path: str | os.PathLike[str]) -> RegionFile:
    """The shapes of a VIA, Create ML, CVAT or Label Studio file (`region_file_kind`); one that is
    none of them, or whose entries lack their fields, is a `DataError` naming the file and the entry."""
    file = Path(path)
    kind = region_file_kind(file)
    if kind == "CreateML JSON":
        return _read_createml(file)
    if kind == "VIA JSON":
        return _read_via(file)
    if kind == "CVAT XML":
        return _read_cvat(file)
    if kind == "Label Studio JSON":
        return _read_label_studio(file)
    raise DataError(
        f"{file}: expected a VIA JSON file (entries with 'filename' and 'regions'), a CreateML JSON list "
        "(entries with 'image' and 'annotations'), a CVAT for images XML file (<annotations> of <image>) "
        "or a Label Studio JSON export (tasks with 'data' and 'annotations')"
    )


def _read_createml(file: Path) -> RegionFile:
    """Create ML's list of ``{"image", "annotations": [{"label", "coordinates": {x, y, width,
    height}}]}``: ``x y`` the box's centre in pixels (Create ML's default anchor, Roboflow's export)."""
    data = read_json(file)
    shapes: dict[str, list[LabelMeShape]] = {}
    if not isinstance(data, list):
        raise DataError(f"{file}: expected a CreateML JSON list of photos, got a {type(data).__name__}")
    for number, entry in enumerate(data, 1):
        try:
            name = str(entry["image"])
            found = shapes.setdefault(name, [])
            for annotation in entry.get("annotations") or []:
                where = annotation["coordinates"]
                cx, cy, w, h = (float(where[k]) for k in ("x", "y", "width", "height"))
                corners = [(cx - w / 2, cy - h / 2), (cx + w / 2, cy + h / 2)]
                found.append(LabelMeShape(str(annotation["label"]).strip(), "rectangle", corners))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DataError(
                f"{file}: entry {number} is not a photo's boxes (expected 'image' and 'annotations' of 'label' and "
                "'coordinates' x, y, width, height)"
            ) from None
    return RegionFile(file, "CreateML JSON", shapes)


# Label Studio's region types read as shapes; the types that are no region of the photo are not counted.
STUDIO_SHAPES = {
    "rectanglelabels": "rectangle", "rectangle": "rectangle", "polygonlabels": "polygon", "polygon": "polygon",
    "ellipselabels": "ellipse", "ellipse": "ellipse", "brushlabels": "brush", "brush": "brush",
}  # fmt: skip
_STUDIO_NO_REGION = (
    "choices",
    "textarea",
    "rating",
    "taxonomy",
    "number",
    "datetime",
    "relation",
    "pairwise",
    "ranker",
)


def _read_label_studio(file: Path) -> RegionFile:
    """Label Studio's JSON export (tasks, each naming its photo in ``data`` and holding
    ``annotations`` of ``result`` regions) or its JSON-MIN export (one entry per photo, the
    regions' fields inline). Of a task's annotations the ground truth's, else the first that was
    not cancelled, is read; a task without one is not labelled, so its photo is in no file (said
    by the caller). Brushes, key points and lines outline no region and are counted."""
    data = read_json(file)
    if not isinstance(data, list):
        raise DataError(f"{file}: expected a Label Studio JSON list of tasks, got a {type(data).__name__}")
    shapes: dict[str, list[LabelMeShape]] = {}
    aliases: dict[str, str] = {}
    skipped: Counter[str] = Counter()
    for number, task in enumerate(data, 1):
        name = task_photo(_mapping(task))
        if name is None:
            raise DataError(f"{file}: task {number} names no photo (expected 'data' with an 'image' path or URL)")
        regions = _studio_regions(_mapping(task))
        if regions is None:
            continue
        found = shapes.setdefault(name, [])
        if (own := upload_name(name)) is not None:
            aliases[name] = own
        for kind, value, region in regions:
            try:
                shape = _studio_shape(kind, value, region, f"{file}: task {number} ({name})")
            except (KeyError, TypeError, ValueError):
                raise DataError(
                    f"{file}: task {number} ({name}) has a {kind} region without its numbers ({dict(value)})"
                ) from None
            if isinstance(shape, str):
                skipped[shape] += 1
            elif shape is not None:
                found.append(shape)
    return RegionFile(file, "Label Studio JSON", shapes, None, dict(sorted(skipped.items())), aliases=aliases)


def _studio_regions(task: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any], Mapping[str, Any]]] | None:
    """A task's regions as (type, value, region): the counted annotation's ``result`` items
    (`lucid.data.studio.task_results`), or a JSON-MIN entry's lists of inline regions (the type is
    the labels key they hold). None when the task is not labelled."""
    if "data" not in task:
        inline = [r for v in task.values() if isinstance(v, list) for r in v if isinstance(r, dict)]
        return [(_min_kind(r), r, r) for r in inline]
    results = task_results(task)
    return None if results is None else [(str(r.get("type", "")), _mapping(r.get("value")), r) for r in results]


def _min_kind(region: Mapping[str, Any]) -> str:
    """A JSON-MIN region's type: the ``...labels`` key it holds, else its geometry's shape."""
    named = next((key for key in region if key.endswith("labels")), None)
    if named is not None:
        return named
    return "polygon" if "points" in region else "ellipse" if "radiusX" in region else "rectangle"


def _studio_shape(
    kind: str, value: Mapping[str, Any], region: Mapping[str, Any], where: str = ""
) -> LabelMeShape | str | None:
    """One Label Studio region as a shape in pixels, or why it is left out (a note's words); None
    for a result that is no region (a choice, a text), which is not counted."""
    shape = STUDIO_SHAPES.get(kind)
    if kind in _STUDIO_NO_REGION:
        return None
    if shape is None:
        return f"{kind} shapes"
    labels = value.get(kind) if kind.endswith("labels") else [ONE_CLASS]
    if not isinstance(labels, list) or len(labels) != 1:
        return "no single label"
    if not region.get("original_width") or not region.get("original_height"):
        return "no original_width and original_height"  # percent of an unknown size (Label Studio before 1.0)
    width, height = float(region["original_width"]), float(region["original_height"])
    sx, sy = width / 100, height / 100
    label, turn = str(labels[0]).strip(), math.radians(float(value.get("rotation") or 0.0))
    if shape == "brush":
        if value.get("format", "rle") != "rle" or not isinstance(value.get("rle"), list):
            return "brushes without an rle"
        size = (int(region["original_width"]), int(region["original_height"]))
        return LabelMeShape(label, "brush", [], BrushBits(*size, tuple(value["rle"]), f"{where}, a brush of {label!r}"))
    if shape == "polygon":
        points = [(float(x) * sx, float(y) * sy) for x, y in value["points"]]
        return LabelMeShape(label, "polygon", points) if len(points) >= 3 else "polygons of under 3 points"
    x, y = float(value["x"]) * sx, float(value["y"]) * sy
    if shape == "ellipse":
        rx, ry = float(value["radiusX"]) * sx, float(value["radiusY"]) * sy
        return _ellipse(label, x, y, rx, ry, turn)
    w, h = float(value["width"]) * sx, float(value["height"]) * sy
    if not turn:
        return LabelMeShape(label, "rectangle", [(x, y), (x + w, y + h)])
    cos, sin = math.cos(turn), math.sin(turn)
    corners = [(x + dx * cos - dy * sin, y + dx * sin + dy * cos) for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    return LabelMeShape(label, "polygon", corners)  # turned about its top-left corner, as Label Studio turns it


def _read_via(file: Path) -> RegionFile:
    """VIA 1 or 2 annotations (an export, or a project file's ``_via_img_metadata``): each entry's
    ``filename`` and ``regions`` (a list, or VIA 1's dict), each region's ``shape_attributes``
    (``rect``, ``polygon``, ``circle``, ``ellipse``; ``polyline`` and ``point`` outline no region)
    and ``region_attributes``, one of which names the class (`via_class_key`)."""
    data = read_json(file)
    entries = data.get("_via_img_metadata", data) if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise DataError(f"{file}: expected a VIA JSON object of photos, each with 'filename' and 'regions'")
    photos: list[tuple[str, list[dict[str, Any]]]] = []
    for key, entry in entries.items():
        regions = entry.get("regions") if isinstance(entry, dict) else None
        regions = list(regions.values()) if isinstance(regions, dict) else regions
        if not isinstance(entry, dict) or "filename" not in entry or not isinstance(regions, list):
            raise DataError(f"{file}: entry {key!r} has no 'filename' and 'regions' list (not a VIA photo)")
        photos.append((str(entry["filename"]), [r for r in regions if isinstance(r, dict)]))
    key = via_class_key([_mapping(r.get("region_attributes")) for _, regions in photos for r in regions])
    options = _via_option_names(data, key)
    skipped: Counter[str] = Counter()
    shapes: dict[str, list[LabelMeShape]] = {}
    for name, regions in photos:
        found = shapes.setdefault(name, [])
        for region in regions:
            label = ONE_CLASS if key is None else _via_label(_mapping(region.get("region_attributes")), key, options)
            outline = _mapping(region.get("shape_attributes"))
            shape = None if label is None else _via_shape(outline, label, file, name)
            if label is None:
                skipped[f"no single '{key}' value"] += 1
            elif shape is None:
                skipped[f"{outline.get('name', 'unnamed')} shapes"] += 1
            else:
                found.append(shape)
    return RegionFile(file, "VIA JSON", shapes, key, dict(sorted(skipped.items())))


def _mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one (a VIA region's attributes)."""
    return value if isinstance(value, dict) else {}


def via_class_key(attributes: Sequence[Mapping[str, Any]]) -> str | None:
    """The region attribute that names the classes: the one attribute regions give a value, or of
    several the first of `VIA_CLASS_KEYS` (else the one most regions give); None when no region has
    a value (the Mask R-CNN balloon set's: one class)."""
    given: Counter[str] = Counter(k for a in attributes for k, v in a.items() if _via_value(v) is not None)
    if not given:
        return None
    named = [k for wanted in VIA_CLASS_KEYS for k in given if k.strip().lower() == wanted]
    return named[0] if named else given.most_common(1)[0][0]


def _via_value(value: Any) -> str | None:
    """A region attribute's one value: a text, a number, or a checkbox set's one ticked option."""
    if isinstance(value, dict):
        ticked = [str(k).strip() for k, v in value.items() if v]
        return ticked[0] or None if len(ticked) == 1 else None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip() or None
    return None


def _via_option_names(data: Any, key: str | None) -> dict[str, str]:
    """A VIA project's option ids -> names for the class attribute, when every option of it has a
    description (``{"1": "total"}``); else none (the ids are the names)."""
    declared: Any = data.get("_via_attributes") if isinstance(data, dict) else None
    try:
        options = declared["region"][key]["options"]
    except (KeyError, TypeError):
        return {}
    if not isinstance(options, dict) or not all(isinstance(v, str) and v.strip() for v in options.values()):
        return {}
    return {str(k): v.strip() for k, v in options.items()}


def _via_label(attributes: Mapping[str, Any], key: str, options: Mapping[str, str]) -> str | None:
    value = _via_value(attributes.get(key))
    return None if value is None else options.get(value, value)


def _via_shape(shape: Mapping[str, Any], label: str, file: Path, photo: str) -> LabelMeShape | None:
    """One VIA ``shape_attributes`` as a shape in pixels (an ellipse as a polygon on it); None for
    a shape that outlines no region (``point``, ``polyline``)."""
    kind = shape.get("name")
    try:
        if kind == "rect":
            x, y, w, h = (float(shape[k]) for k in ("x", "y", "width", "height"))
            return LabelMeShape(label, "rectangle", [(x, y), (x + w, y + h)])
        if kind == "polygon":
            xs, ys = [float(v) for v in shape["all_points_x"]], [float(v) for v in shape["all_points_y"]]
            points = list(zip(xs, ys, strict=True))
            return LabelMeShape(label, "polygon", points) if len(points) >= 3 else None
        if kind in ("circle", "ellipse"):
            cx, cy = float(shape["cx"]), float(shape["cy"])
            rx, ry = (float(shape["r"]),) * 2 if kind == "circle" else (float(shape["rx"]), float(shape["ry"]))
            return _ellipse(label, cx, cy, rx, ry, float(shape.get("theta") or 0.0))
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{file}: a {kind} region of {photo!r} lacks its numbers ({dict(shape)})") from None
    return None


def _ellipse(label: str, cx: float, cy: float, rx: float, ry: float, turn: float) -> LabelMeShape:
    """An ellipse (centre, radii, turned by ``turn`` radians, clockwise on the photo) as a polygon on it."""
    steps = [2 * math.pi * k / _ELLIPSE_POINTS for k in range(_ELLIPSE_POINTS)]
    points = [
        (cx + rx * math.cos(a) * math.cos(turn) - ry * math.sin(a) * math.sin(turn),
         cy + rx * math.cos(a) * math.sin(turn) + ry * math.sin(a) * math.cos(turn))
        for a in steps
    ]  # fmt: skip
    return LabelMeShape(label, "polygon", points)


def _read_cvat(file: Path) -> RegionFile:
    """CVAT's "CVAT for images 1.1" export (``annotations.xml``): each ``<image name width height
    subset>`` with its ``<box xtl ytl xbr ybr rotation>`` (a turned box's box is around its
    corners), ``<polygon points="x,y;x,y...">`` and ``<ellipse cx cy rx ry>`` in pixels, each named
    by its ``label``, and ``<mask rle left top width height>`` (its pixels; its box the mask's);
    points, polylines and tags outline no region and are counted."""
    try:
        root = ElementTree.parse(file).getroot()
    except (ElementTree.ParseError, OSError) as exc:
        raise DataError(f"{file}: not a readable CVAT XML file ({exc})") from None
    if root.tag != "annotations":
        raise DataError(f"{file}: expected CVAT's <annotations> element, got <{root.tag}>")
    shapes: dict[str, list[LabelMeShape]] = {}
    subsets: dict[str, str] = {}
    sizes: dict[str, tuple[int, int]] = {}
    skipped: Counter[str] = Counter()
    for image in root.iter("image"):
        name = image.get("name")
        if not name:
            raise DataError(f"{file}: an <image id={image.get('id')!r}> has no name")
        found = shapes.setdefault(name, [])
        if image.get("subset"):
            subsets[name] = str(image.get("subset"))
        width, height = _int_or_none(_float(image.get("width"))), _int_or_none(_float(image.get("height")))
        if width and height:
            sizes[name] = (width, height)
        for element in image:
            shape = _cvat_shape(element, file, name)
            if shape is not None:
                found.append(shape)
            elif element.tag not in ("attribute", "tag"):
                skipped[f"{element.tag} shapes"] += 1
    return RegionFile(file, "CVAT XML", shapes, None, dict(sorted(skipped.items())), subsets, sizes)


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _cvat_shape(element: ElementTree.Element, file: Path, photo: str) -> LabelMeShape | None:
    """One CVAT shape element as a shape in pixels; None for one that outlines no region."""
    label = (element.get("label") or "").strip()
    try:
        if element.tag == "box":
            x1, y1, x2, y2 = (float(element.get(k, "")) for k in ("xtl", "ytl", "xbr", "ybr"))
            corners = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
            turn = math.radians(float(element.get("rotation") or 0.0))
            if turn:
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                corners = [
                    (cx + (x - cx) * math.cos(turn) - (y - cy) * math.sin(turn),
                     cy + (x - cx) * math.sin(turn) + (y - cy) * math.cos(turn))
                    for x, y in corners
                ]  # fmt: skip
            return LabelMeShape(label, "polygon", corners)
        if element.tag == "polygon":
            points = [(float(x), float(y)) for x, y in (p.split(",") for p in element.get("points", "").split(";"))]
            return LabelMeShape(label, "polygon", points) if len(points) >= 3 else None
        if element.tag == "ellipse":
            cx, cy, rx, ry = (float(element.get(k, "")) for k in ("cx", "cy", "rx", "ry"))
            return _ellipse(label, cx, cy, rx, ry, 0.0)
        if element.tag == "mask":
            return _cvat_mask(element, label, file, photo)
    except DataError:
        raise  # already names the file and the photo (a DataError is a ValueError)
    except ValueError:
        raise DataError(f"{file}: a <{element.tag}> of {photo!r} lacks its numbers ({dict(element.attrib)})") from None
    return None


def _cvat_mask(element: ElementTree.Element, label: str, file: Path, photo: str) -> LabelMeShape:
    """A CVAT ``<mask rle="..." left top width height>``: its pixels, and its box's corners."""
    left, top, width, height = (int(element.get(k, "")) for k in ("left", "top", "width", "height"))
    counts = tuple(int(c) for c in element.get("rle", "").split(","))
    if width < 1 or height < 1 or min(counts) < 0 or sum(counts) != width * height:
        raise DataError(
            f"{file}: a <mask> of {photo!r} counts {sum(counts)} pixels in its rle; expected its "
            f"{width}x{height} box's {width * height}"
        )
    corners = [(float(left), float(top)), (float(left + width), float(top + height))]
    return LabelMeShape(label, "mask", corners, MaskBits(left, top, width, height, counts))


WIDER_CLASS = "face"  # WIDER FACE's one class


def read_wider_boxes(path: str | os.PathLike[str]) -> dict[str, list[RawObject]]:
    """The faces of a WIDER FACE box file (``wider_face_train_bbx_gt.txt``): for each photo its path
    below ``images/``, the number of faces, then one line per face ``x y w h blur expression
    illumination invalid occlusion pose`` in pixels (a photo of no faces has one line of zeros). A
    face marked invalid is ``difficult``: ignored by training and the mAP, as the benchmark does. A
    file that breaks this pattern is a `DataError` naming the line."""
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a readable WIDER FACE box file ({exc})") from None
    boxes: dict[str, list[RawObject]] = {}
    at = 0
    while at < len(lines):
        name = lines[at].strip()
        if not name:
            at += 1
            continue
        try:
            count = int(lines[at + 1].strip())
            rows = [[float(v) for v in lines[at + 2 + k].split()] for k in range(max(count, 1))]
        except (IndexError, ValueError):
            raise DataError(
                f"{file}:{at + 1}: expected a photo's path, its number of faces and one 'x y w h ...' line per face"
            ) from None
        if not name.lower().endswith(IMAGE_SUFFIXES) or any(len(row) < 4 for row in rows):
            raise DataError(f"{file}:{at + 1}: expected a photo's path then 'x y w h ...' lines, got {name!r}")
        faces = boxes.setdefault(name, [])
        for x, y, w, h, *flags in rows[:count]:
            faces.append(RawObject(WIDER_CLASS, (x, y, x + w, y + h), len(flags) > 3 and flags[3] == 1))
        at += 2 + max(count, 1)
    return boxes

"""Box files of public detection sets that no general format covers, read as their downloads
unpack them:

- VisDrone-DET: ``VisDrone2019-DET-train/images/x.jpg`` + ``annotations/x.txt`` (and ``-val``),
  a line ``left,top,width,height,score,category,truncation,occlusion`` per box, in pixels; the
  categories are numbers, named as VisDrone names them; a score of 0 marks an ignored region (not
  trained on, counted);
- DOTA: ``train/images/P0001.png`` + ``train/labelTxt/P0001.txt`` (or ``labelTxt-v1.0/``), a line
  ``x1 y1 x2 y2 x3 y3 x4 y4 class difficult`` per oriented box after ``imagesource:`` and
  ``gsd:`` header lines; the box is the one around its four corners;
- OIDv4_ToolKit's Open Images: ``Dataset/train/<Class>/x.jpg`` + ``<Class>/Label/x.txt`` of
  ``<Class name> xmin ymin xmax ymax`` lines in pixels; a photo downloaded for two classes lies
  in both folders, and its boxes are pooled;
- CrowdHuman: ``annotation_train.odgt`` + ``annotation_val.odgt`` (a JSON object per line: the
  photo's ``ID`` and its ``gtboxes``, each a person's full-body ``fbox`` ``x y w h``) beside
  ``Images/<ID>.jpg``; ``mask`` boxes are ignored regions (counted), and a person marked
  ``extra.ignore`` is difficult;
- MOTChallenge (MOT17, MOT20): ``train/MOT17-02-FRCNN/img1/000001.jpg`` + ``gt/gt.txt`` (a line
  ``frame,id,left,top,width,height,considered,class,visibility`` per box): the pedestrians
  (class 1) considered by the benchmark are the boxes, other classes and ignored boxes counted;
  MOT17's three copies of each sequence (DPM, FRCNN, SDP: the same frames) are read once; each
  sequence's first half of frames trains and its second half validates, as ByteTrack splits them
  ("MOT17 half"), so no frame validates beside its neighbour;
- SVHN's full numbers (format 1): ``train/1.png`` + ``train/digitStruct.mat`` (and ``test/``),
  each digit's box and label (10 is the digit 0), read by h5py;
- the German Traffic Sign Detection Benchmark: ``FullIJCNN2013/00000.ppm`` + ``gt.txt``
  (``00000.ppm;774;411;815;446;11``), its 43 classes numbered; photos without a line are negatives;
- BDD100K: a JSON list of frames, each ``{"name", "labels": [{"category", "box2d": {x1, y1, x2,
  y2}}]}`` (``labels/bdd100k_labels_images_train.json``, ``labels/det_20/det_train.json``),
  the photos below the root (``images/100k/train/``); lanes and drivable areas (``poly2d``) give
  no box and are counted.

Each reader returns the photos of one split (`RawImage`, the boxes as the files state them) and
counts; `lucid.detect.data` makes them a layout and splits them.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lucid.data.files import (
    IMAGE_SUFFIXES,
    child_folder,
    file_head,
    hidden,
    keyed_files,
    split_role,
    subfolders,
    walk_images,
)
from lucid.detect.formats import RawImage, RawObject
from lucid.errors import DataError

__all__ = [
    "VISDRONE_CLASSES",
    "visdrone_splits",
    "read_visdrone",
    "dota_splits",
    "read_dota",
    "oid_splits",
    "read_oid",
    "bdd_files",
    "read_bdd",
    "crowdhuman_files",
    "read_crowdhuman",
    "mot_sequences",
    "read_mot",
    "photos_by_name",
]

# VisDrone-DET's category numbers (its toolkit's names); 0 is "ignored regions".
VISDRONE_CLASSES = {
    1: "pedestrian", 2: "people", 3: "bicycle", 4: "car", 5: "van", 6: "truck", 7: "tricycle",
    8: "awning-tricycle", 9: "bus", 10: "motor", 11: "others",
}  # fmt: skip
_VISDRONE_LINE = re.compile(r"\s*-?\d+(\s*,\s*-?\d+){7}\s*,?\s*")
_DOTA_HEADERS = ("imagesource:", "gsd:")


def _texts(folder: Path) -> dict[str, Path]:
    """The text files directly in ``folder`` by their name without suffix, lower-cased (as photos are keyed)."""
    try:
        return {
            Path(e.name).stem.lower(): Path(e.path)
            for e in os.scandir(folder)
            if e.is_file() and e.name.lower().endswith(".txt") and not hidden(e.name)
        }
    except OSError:
        return {}


def _first_text_line(folder: Path, most: int = 5) -> tuple[Path, str] | None:
    """The first non-empty line of one of the first ``most`` text files of ``folder`` (not nested)."""
    try:
        texts = sorted(e.path for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(".txt"))
    except OSError:
        return None
    for text in texts[:most]:
        try:
            with open(text, encoding="utf-8-sig") as handle:
                line = next((raw.strip() for raw in handle if raw.strip()), None)
        except (OSError, UnicodeDecodeError):
            continue
        if line is not None:
            return Path(text), line
    return None


def _split_parts(root: Path, is_part: Callable[[Path], bool]) -> dict[str, Path]:
    """The folders of ``root`` (``root`` itself first) that ``is_part`` accepts, by split role
    (the last word of the name: ``VisDrone2019-DET-val``, ``train``); ``root`` alone is "".
    Test parts (VisDrone's ``test-dev``) are left out: their labels are the benchmark's."""
    if is_part(root):
        return {"": root}
    found: dict[str, Path] = {}
    for folder in subfolders(root):
        words = [w for w in re.split(r"[-_ .]+", folder.name.lower()) if w]
        role = next((r for w in reversed(words) if (r := split_role(w)) is not None), None)
        if role in ("train", "val") and role not in found and is_part(folder):
            found[role] = folder
    return found if "train" in found else {}


# ---------------------------------------------------------------------------------------- VisDrone


def _visdrone_part(folder: Path) -> bool:
    """Whether ``folder`` holds ``images/`` and ``annotations/`` of VisDrone's comma-separated lines."""
    annotations = child_folder(folder, ("annotations",))
    if child_folder(folder, ("images",)) is None or annotations is None:
        return False
    first = _first_text_line(annotations)
    return first is not None and _VISDRONE_LINE.fullmatch(first[1]) is not None


def visdrone_splits(root: Path) -> dict[str, Path]:
    """``root``'s VisDrone-DET parts by split (`_split_parts`); {} when it has none."""
    return _split_parts(root, _visdrone_part)


def read_visdrone(folder: Path, ignored: Counter[str]) -> list[RawImage]:
    """The photos of one VisDrone part and their boxes; ignored regions (score 0) counted in
    ``ignored``. A line that is not eight numbers is a DataError naming the file and line."""
    images, annotations = child_folder(folder, ("images",)), child_folder(folder, ("annotations",))
    assert images is not None and annotations is not None

    def read_line(text: Path, number: int, line: str) -> RawObject | None:
        if _VISDRONE_LINE.fullmatch(line) is None:
            raise DataError(
                f"{text}:{number}: expected 'left,top,width,height,score,category,truncation,occlusion', "
                f"got {line.strip()!r}"
            )
        left, top, width, height, score, category = (int(v) for v in line.split(",")[:6])
        if score == 0 or category == 0:
            ignored["VisDrone ignored regions (score 0)"] += 1
            return None
        name = VISDRONE_CLASSES.get(category, str(category))
        return RawObject(name, (left, top, left + width, top + height))

    return _photo_lines(images, annotations, read_line)


def _photo_lines(images: Path, labels: Path, read_line: Callable[[Path, int, str], RawObject | None]) -> list[RawImage]:
    """Each photo of ``images`` with the objects of its text file of the same name in ``labels``,
    read a non-empty line at a time by ``read_line`` (file, line number, line; None passes over
    the line); a photo without a file has no boxes."""
    photos = keyed_files(images, walk_images(images)[0], "annotation")
    texts = _texts(labels)
    found = []
    for key, photo in photos.items():
        text = texts.get(key)
        objects = []
        if text is not None:
            for number, line in enumerate(text.read_text(encoding="utf-8-sig").splitlines(), 1):
                if line.strip() and (obj := read_line(text, number, line)) is not None:
                    objects.append(obj)
        found.append(RawImage(photo, objects, text))
    return found


# ---------------------------------------------------------------------------------------- DOTA


def _dota_labels(folder: Path) -> Path | None:
    """``folder``'s DOTA label folder: ``labelTxt/``, or one named ``labelTxt-v1.0`` (its own
    ``labelTxt/`` inside, as the archive unpacks), holding ``x1 y1 ... x4 y4 class difficult`` lines."""
    for inner in subfolders(folder):
        if not inner.name.lower().startswith("labeltxt"):
            continue
        place = child_folder(inner, ("labelTxt",)) or inner
        first = _first_text_line(place)
        if first is not None and (first[1].startswith(_DOTA_HEADERS) or _dota_object(first[1]) is not None):
            return place
    return None


def _dota_part(folder: Path) -> bool:
    return child_folder(folder, ("images",)) is not None and _dota_labels(folder) is not None


def dota_splits(root: Path) -> dict[str, Path]:
    """``root``'s DOTA parts (``images/`` + ``labelTxt/``) by split; {} when it has none."""
    return _split_parts(root, _dota_part)


def _dota_object(line: str) -> RawObject | None:
    """One DOTA line as the box around its four corners; None when it is not one."""
    fields = line.split()
    if len(fields) < 9:
        return None
    try:
        values = [float(v) for v in fields[:8]]
    except ValueError:
        return None
    xs, ys = values[0::2], values[1::2]
    difficult = len(fields) > 9 and fields[9] == "1"
    return RawObject(fields[8], (min(xs), min(ys), max(xs), max(ys)), difficult)


def read_dota(folder: Path) -> list[RawImage]:
    """The photos of one DOTA part and their boxes; a line that is neither a header nor a box is a
    DataError naming the file and line."""
    images, labels = child_folder(folder, ("images",)), _dota_labels(folder)
    assert images is not None and labels is not None

    def read_line(text: Path, number: int, line: str) -> RawObject | None:
        if line.strip().startswith(_DOTA_HEADERS):
            return None
        obj = _dota_object(line)
        if obj is None:
            raise DataError(
                f"{text}:{number}: expected 'x1 y1 x2 y2 x3 y3 x4 y4 class difficult', got {line.strip()!r}"
            )
        return obj

    return _photo_lines(images, labels, read_line)


# ---------------------------------------------------------------------------------------- OIDv4_ToolKit


def _oid_part(folder: Path) -> bool:
    """Whether ``folder`` holds class folders each with photos and a ``Label/`` folder of text files."""
    classes = subfolders(folder)
    labelled = [
        c for c in classes[:20] if (label := child_folder(c, ("Label",))) is not None and _first_text_line(label)
    ]
    return bool(labelled) and len(labelled) == len(classes[:20])


def oid_splits(root: Path) -> dict[str, Path]:
    """OIDv4_ToolKit's split folders (``Dataset/train/``, ``validation/``) by split, looked for at
    ``root`` and in its ``Dataset/`` or ``OID/Dataset/``; {} when there are none."""
    for place in (root, root / "Dataset", root / "OID" / "Dataset"):
        if place.is_dir() and (found := _split_parts(place, _oid_part)):
            return found
    return {}


def read_oid(folder: Path) -> list[RawImage]:
    """The photos of one OIDv4_ToolKit split, each once, with the boxes of every class folder it
    lies in (``<Class name> xmin ymin xmax ymax``: the last four fields are the box)."""
    pooled: dict[str, RawImage] = {}
    for class_folder in subfolders(folder):
        label = child_folder(class_folder, ("Label",))
        for photo in sorted(
            p for p in class_folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not hidden(p.name)
        ):
            entry = pooled.setdefault(photo.name.lower(), RawImage(photo, [], None))
            text = None if label is None else label / f"{photo.stem}.txt"
            if text is None or not text.is_file():
                continue
            entry.source = entry.source or text
            for number, line in enumerate(text.read_text(encoding="utf-8-sig").splitlines(), 1):
                fields = line.split()
                if not fields:
                    continue
                try:
                    box = tuple(float(v) for v in fields[-4:])
                except ValueError:
                    box = ()
                if len(fields) < 5 or len(box) != 4:
                    raise DataError(
                        f"{text}:{number}: expected '<class name> xmin ymin xmax ymax', got {line.strip()!r}"
                    )
                entry.objects.append(RawObject(" ".join(fields[:-4]), (box[0], box[1], box[2], box[3])))
    return sorted(pooled.values(), key=lambda image: image.image.name)


# ---------------------------------------------------------------------------------------- BDD100K


def bdd_files(root: Path) -> dict[str, Path]:
    """BDD100K's box label files by split: ``labels/`` (or ``labels/det_20/``, or ``root``) JSON
    files whose name ends in their split (``_train``, ``_val``) and whose text opens with a frame
    (``[{"name": ...``) holding ``labels``; {} without a training file."""
    found: dict[str, Path] = {}
    for place in (root, root / "labels", root / "labels" / "det_20", root / "det_20"):
        try:
            files = sorted(e.path for e in os.scandir(place) if e.is_file() and e.name.lower().endswith(".json"))
        except OSError:
            continue
        for file in map(Path, files):
            role = split_role(re.split(r"[-_ .]+", file.stem.lower())[-1])
            if role in ("train", "val") and role not in found and _bdd_head(file):
                found[role] = file
    return found if "train" in found else {}


def _bdd_head(file: Path, head: int = 65536) -> bool:
    text = file_head(file, head).lstrip()
    return re.match(rb'\[\s*\{\s*"name"\s*:', text) is not None and b'"labels"' in text


def read_bdd(file: Path, photos: dict[str, Path], skipped: Counter[str]) -> list[RawImage]:
    """The frames of one BDD100K label file, each found among ``photos`` (by file name; a frame
    whose photo is not there is a missing photo), with its ``box2d`` boxes; labels without one
    (lanes, drivable areas) counted in ``skipped`` by category."""
    try:
        frames = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{file}: not a readable BDD100K label file ({exc})") from None
    if not isinstance(frames, list):
        raise DataError(f"{file}: expected a JSON list of frames, got a {type(frames).__name__}")
    found = []
    for number, frame in enumerate(frames, 1):
        if not isinstance(frame, dict) or not isinstance(frame.get("name"), str):
            raise DataError(f"{file}: frame {number} has no 'name'")
        objects = []
        for label in frame.get("labels") or []:
            box = label.get("box2d") if isinstance(label, dict) else None
            if not isinstance(box, dict):
                category = str(label.get("category", "unnamed")) if isinstance(label, dict) else "unnamed"
                skipped[f"labels without a box2d ({category})"] += 1
                continue
            try:
                corners = (float(box["x1"]), float(box["y1"]), float(box["x2"]), float(box["y2"]))
            except (KeyError, TypeError, ValueError):
                raise DataError(
                    f"{file}: frame {number} ({frame['name']}) has a box2d without x1, y1, x2, y2"
                ) from None
            objects.append(RawObject(str(label.get("category", "object")), corners))
        name = frame["name"]
        photo = photos.get(Path(name).name.lower())
        found.append(RawImage(photo or file.parent / name, objects, file))
    return found


# ---------------------------------------------------------------------------------------- CrowdHuman

CROWDHUMAN_FILES = {"train": "annotation_train.odgt", "val": "annotation_val.odgt"}
CROWDHUMAN_IGNORED = "mask"  # CrowdHuman's tag of a region to ignore (crowds, reflections, posters)


def crowdhuman_files(root: Path) -> dict[str, Path]:
    """CrowdHuman's ``.odgt`` files by split at ``root``; {} without the training one."""
    found = {role: root / name for role, name in CROWDHUMAN_FILES.items() if (root / name).is_file()}
    return found if "train" in found else {}


def read_crowdhuman(file: Path, photos: dict[str, Path], skipped: Counter[str]) -> list[RawImage]:
    """The photos of one ``.odgt`` file (found among ``photos`` by ``<ID>.jpg``) with their
    people's full-body boxes (``fbox``); ``mask`` regions counted in ``skipped``. A line that is
    not such an object is a DataError naming the file and line."""
    found = []
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a readable CrowdHuman .odgt file ({exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            name = f"{entry['ID']}.jpg"
            objects = []
            for box in entry.get("gtboxes") or []:
                if box.get("tag") != "person":
                    skipped[f"CrowdHuman {box.get('tag')} regions (ignored)"] += 1
                    continue
                x, y, w, h = (float(v) for v in box["fbox"])
                ignore = bool((box.get("extra") or {}).get("ignore", 0))
                objects.append(RawObject("person", (x, y, x + w, y + h), ignore))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise DataError(
                f"{file}:{number}: expected a JSON object with 'ID' and 'gtboxes' of 'tag' and 'fbox' [x, y, w, h]"
            ) from None
        found.append(RawImage(photos.get(name.lower(), file.parent / "Images" / name), objects, file))
    return found


# ---------------------------------------------------------------------------------------- MOTChallenge

MOT_PEDESTRIAN = 1  # MOTChallenge's class of a walking or standing person, the one its detection benchmark scores
_MOT_LINE = re.compile(r"\s*-?\d+\s*,\s*-?\d+(\s*,\s*-?[\d.]+(e-?\d+)?){4,7}\s*")


def mot_sequences(root: Path) -> dict[str, Path]:
    """MOTChallenge's annotated sequences (``img1/`` + ``gt/gt.txt``) in ``root/train/`` (or
    ``root`` itself) by name, one per sequence (MOT17's ``-DPM``, ``-FRCNN``, ``-SDP`` copies of
    one sequence are one); {} when there are none."""
    for place in (root / "train", root):
        found: dict[str, Path] = {}
        for folder in subfolders(place) if place.is_dir() else []:
            if not (folder / "gt" / "gt.txt").is_file() or child_folder(folder, ("img1",)) is None:
                continue  # one stat per folder first: a root of 1,000 class folders is looked at cheaply
            base = re.sub(r"-(DPM|FRCNN|SDP)$", "", folder.name, flags=re.IGNORECASE)
            found.setdefault(base, folder)
        if found:
            return dict(sorted(found.items()))
    return {}


def read_mot(sequences: list[Path], skipped: Counter[str]) -> tuple[list[RawImage], list[RawImage]]:
    """The frames of ``sequences`` with their considered pedestrians' boxes, as (the first half of
    each sequence's frames, the second half); other classes and boxes the benchmark does not
    consider are counted in ``skipped``. A gt line that is not numbers is a DataError naming it."""
    first: list[RawImage] = []
    second: list[RawImage] = []
    for sequence in sequences:
        gt = sequence / "gt" / "gt.txt"
        boxes: dict[int, list[RawObject]] = {}
        for number, line in enumerate(gt.read_text(encoding="utf-8-sig").splitlines(), 1):
            if not line.strip():
                continue
            if _MOT_LINE.fullmatch(line) is None:
                raise DataError(
                    f"{gt}:{number}: expected 'frame,id,left,top,width,height,considered,class,visibility', "
                    f"got {line.strip()!r}"
                )
            values = [float(v) for v in line.split(",")]
            frame, (left, top, width, height) = int(values[0]), values[2:6]
            considered = len(values) < 7 or values[6] != 0
            kind = int(values[7]) if len(values) > 7 else MOT_PEDESTRIAN
            if not considered or kind != MOT_PEDESTRIAN:
                skipped["MOTChallenge boxes of other classes or not considered"] += 1
                continue
            boxes.setdefault(frame, []).append(RawObject("pedestrian", (left, top, left + width, top + height)))
        frames = sorted(walk_images(sequence / "img1")[0])
        half = (len(frames) + 1) // 2
        for index, frame_path in enumerate(frames):
            number = int(frame_path.stem) if frame_path.stem.isdigit() else index + 1
            image = RawImage(frame_path, boxes.get(number, []), gt)
            (first if index < half else second).append(image)
    return first, second


def photos_by_name(root: Path) -> dict[str, Path]:
    """The photos below ``root`` by their file name, lower-cased (a name two photos have is left out)."""
    named: dict[str, Path | None] = {}
    for photo in walk_images(root)[0]:
        key = photo.name.lower()
        named[key] = None if key in named else photo
    return {key: photo for key, photo in named.items() if photo is not None}


# ------------------------------------------------------------------------------- SVHN full numbers

SVHN_STRUCT = "digitStruct.mat"  # SVHN format 1: each photo's name and its digits' boxes


def svhn_parts(root: Path) -> dict[str, Path]:
    """The Street View House Numbers' full-number folders (``train/``, ``test/``, each its photos
    and ``digitStruct.mat``) by split role, ``root`` itself as ""; ``extra/`` is not read (200,000
    easier photos, which the benchmark's training split leaves out); {} without a training one."""
    if (root / SVHN_STRUCT).is_file():
        return {"": root}
    found: dict[str, Path] = {}
    for folder in subfolders(root):
        role = split_role(folder.name)
        if role is not None and (folder / SVHN_STRUCT).is_file():
            found.setdefault(role, folder)
    return found if "train" in found else {}


def read_svhn(folder: Path) -> list[RawImage]:
    """The photos of one SVHN folder with their digits' boxes, from its ``digitStruct.mat`` (a
    MATLAB v7.3 file, HDF5 inside: scipy cannot read it, h5py can): per photo its ``name`` and a
    ``bbox`` of ``label``, ``left``, ``top``, ``width`` and ``height`` per digit, in pixels; label
    10 is the digit 0."""
    file = folder / SVHN_STRUCT
    try:
        import h5py
    except ImportError:  # a dependency of lucid's, missing from this environment
        raise DataError(f"{file}: reading MATLAB v7.3 files needs h5py; pip install h5py") from None
    images = []
    try:
        with h5py.File(file, "r") as handle:
            names, boxes = handle["digitStruct/name"], handle["digitStruct/bbox"]
            for index in range(names.shape[0]):
                name = "".join(chr(int(c)) for c in np.asarray(handle[names[index, 0]]).reshape(-1))
                group = handle[boxes[index, 0]]
                digits = {key: _mat_values(handle, group[key]) for key in ("label", "left", "top", "width", "height")}
                objects = [
                    RawObject("0" if int(label) == 10 else str(int(label)), (left, top, left + width, top + height))
                    for label, left, top, width, height in zip(*digits.values(), strict=True)
                ]
                images.append(RawImage(folder / name, objects, file))
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DataError(f"{file}: not SVHN's digitStruct, a MATLAB v7.3 file of names and boxes ({exc})") from None
    return images


def _mat_values(handle: Any, values: Any) -> list[float]:
    """One field of a photo's boxes: a number for a photo of one digit, else references to one number each."""
    if values.shape[0] == 1 and values.dtype != object:
        return [float(np.asarray(values).reshape(-1)[0])]
    return [float(np.asarray(handle[ref]).reshape(-1)[0]) for ref in np.asarray(values).reshape(-1)]


# ----------------------------------------------------------------------------------------- GTSDB

GTSDB_CLASSES = 43  # the German Traffic Sign Benchmarks' classes, 0..42
_GTSDB_LINE = re.compile(r"[^;]+\.(?:ppm|png|jpe?g);\d+;\d+;\d+;\d+;\d+", re.IGNORECASE)


def gtsdb_files(root: Path) -> dict[str, Path]:
    """The German Traffic Sign Detection Benchmark's ``gt.txt`` (``00000.ppm;774;411;815;446;11``:
    photo, left, top, right, bottom, class; no header), at ``root`` or in its one folder
    (``FullIJCNN2013/``), as ``{"": file}``; {} without one."""
    for folder in (root, *subfolders(root)[:4]):
        file = folder / "gt.txt"
        try:
            with file.open(encoding="utf-8-sig") as handle:
                line = next((raw.strip() for raw in handle if raw.strip()), "")
        except (OSError, UnicodeDecodeError):
            continue
        if _GTSDB_LINE.fullmatch(line):
            return {"": file}
    return {}


def read_gtsdb(file: Path) -> list[RawImage]:
    """The photos beside GTSDB's ``gt.txt`` (those without a line hold no sign: negatives) with
    their signs' boxes, the class the number after the box; a line of another shape is a
    DataError naming it."""
    boxes: dict[str, list[RawObject]] = {}
    with file.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            if not _GTSDB_LINE.fullmatch(line.strip()):
                raise DataError(f"{file}:{number}: expected 'photo;left;top;right;bottom;class', got {line.strip()!r}")
            name, left, top, right, bottom, cls = line.strip().split(";")
            boxes.setdefault(name, []).append(RawObject(cls, (float(left), float(top), float(right), float(bottom))))
    photos = sorted(p for p in file.parent.iterdir() if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES))
    listed = {p.name for p in photos}
    missing = [name for name in boxes if name not in listed]
    return [RawImage(p, boxes.get(p.name, []), file) for p in photos] + [
        RawImage(file.parent / name, boxes[name], file) for name in missing
    ]

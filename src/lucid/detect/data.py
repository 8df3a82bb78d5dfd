"""Boxes in: photos with box annotations in the layouts people ship, found without a flag.

`find_detection_layout` recognises (``SPLIT`` folders: ``train``/``training`` train,
``val``/``valid``/``validation`` validate, else ``test`` with a note):

- **Pascal VOC**: ``JPEGImages/`` + ``Annotations/*.xml`` + ``ImageSets/Main/{train,val}.txt``
  (``test.txt`` validates when there is no ``val.txt``; ``trainval.txt`` alone, or no
  ``ImageSets``, is split by seed);
- **VOC XML beside the photos**: ``images/`` + ``annotations/`` (or ``annots/``, ``xml/``), or
  each ``x.xml`` next to ``x.jpg``, optionally inside ``train/`` + ``val/`` split folders;
- **COCO JSON**: ``annotations/instances_*.json`` with the photos in ``train2017/``,
  ``images/train2017/``, ``images/`` ... and Roboflow's ``train/_annotations.coco.json``
  + ``valid/_annotations.coco.json`` beside their photos, and COCO files of other names found by
  their content (Label Studio's ``result.json`` + ``images/``, FiftyOne's ``labels.json`` +
  ``data/``, ``annotations/train.json`` + ``val.json``);
- **YOLO text**: ``images/`` + ``labels/`` (each possibly split into ``train/`` + ``val/``) or
  Roboflow's ``train/images`` + ``train/labels``, class names from ``data.yaml`` or ``classes.txt``;
  or each ``x.txt`` beside ``x.jpg`` (Roboflow's "YOLO Darknet" export, labelImg's files, darknet's
  ``data/obj/`` split by its ``train.txt`` + ``valid.txt`` lists, names in ``obj.names``);
- **CSV boxes**: a table whose header names the photo (``filename``), the class (optional) and
  the box (``xmin ymin xmax ymax``, ``bbox``, or ``x y w h``; in pixels, or fractions):
  Roboflow's ``train/_annotations.csv`` + ``valid/`` beside their photos, ``train.csv`` +
  ``val.csv`` at the root, or one table (split by seed). Photos the tables do not list are not
  used (said): they may be another split's, or unlabelled;
- **LabelMe JSON**: one ``x.json`` per photo (beside it or in ``annotations/``), each shape's box
  the bounds of its points;
- **KITTI 2D objects**: ``training/image_2/`` + ``training/label_2/*.txt`` (or both at the root),
  each line's ``left top right bottom`` a box in pixels (``DontCare`` regions are not a class),
  split by ``ImageSets/train.txt`` + ``val.txt``; ``testing/`` has no labels and is not read;
- **Supervisely**: ``meta.json`` (the classes) + dataset folders of ``img/x.jpg`` +
  ``ann/x.jpg.json``, each rectangle a box and each polygon the box around it (other geometry
  skipped, counted); datasets named ``train`` + ``val`` split it.
- **VIA JSON** (VGG Image Annotator: ``via_region_data.json``, ``via_export_json.json``, a
  ``via_project*.json``) or **Create ML JSON** (Roboflow's ``_annotations.createml.json``): one
  file listing its folder's photos, in ``train/`` + ``val/`` (the Mask R-CNN balloon set's
  layout) or at the root (split by seed); each region's box (rectangles; polygons, circles and
  ellipses the box around them), its class the region attribute that names one (without any,
  one class);
- **CVAT for images XML** (``annotations.xml`` + ``images/``): each ``<box>`` (turned: the box
  around its corners), ``<polygon>`` and ``<ellipse>``'s box, split by the images' ``subset``;
- **WIDER FACE**: ``wider_face_split/wider_face_train_bbx_gt.txt`` + ``WIDER_train/images/`` and
  the val pair; one class, ``face``, invalid faces difficult.

Open Images' ``/m/...`` class ids are named by a ``*class-descriptions*.csv`` beside the box table
or at the root (``class-descriptions-boxable.csv``, ``oidv7-class-descriptions.csv``).

Without split folders a seeded ``val_fraction`` of the photos validates; the record
(`DetectionDataInfo.to_dict`) lists the validation photos, so evaluation rescores exactly them.

Real annotations have flaws. Each kind is repaired or skipped, counted and named in one line of
``info.notes`` (never silently, never a traceback): boxes past the border are clipped to it;
boxes without area are skipped; photos without boxes are kept as negatives; boxes of unknown
classes are skipped; annotated photos that are missing or unreadable are skipped. A file that
cannot be parsed is refused, naming it (`DataError`).

VOC's ``difficult`` and COCO's ``iscrowd`` boxes follow torchvision's COCO reference, which drops
crowd boxes from the training targets and leaves them to COCOeval to ignore: they are not
training targets, and `DetectionDataset.ground_truth` returns them with ``iscrowd`` set,
so `lucid.detect.metrics.coco_metrics` neither rewards nor penalises detections of them.

Photos are decoded by `lucid.preprocessing.open_image`, the reader prediction and every
exported model use, turned upright by their EXIF orientation as viewers (and Ultralytics) show
them, so training sees what `lucid predict` sees. Only a photo whose annotation states its stored,
unrotated size (VOC ``<size>``, COCO ``width``/``height``) was boxed on the stored pixels, and it
is read that way, with a note.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lucid.data.files import (
    IMAGE_SUFFIXES,
    TEST_SPLITS,
    TRAIN_SPLITS,
    VAL_SPLITS,
    child_folder,
    file_head,
    hidden,
    holds_files,
    keyed_files,
    names_file_text,
    read_id_list,
    seeded_split,
    split_child,
    split_folders,
    split_role,
    subfolders,
    voc_split,
    walk_images,
    wrapped_folder,
    wrapped_note,
)
from lucid.data.images import QUARTER_TURNS, image_header, shown_size
from lucid.data.matfiles import mat_lists
from lucid.detect.formats import (
    CREATEML_ROBOFLOW,
    ONE_CLASS,
    SUPERVISELY_META,
    VIA_NAMES,
    WIDER_CLASS,
    RawImage,
    RawObject,
    RegionFile,
    VocFile,
    box_table_columns,
    headerless_box_rows,
    is_coco_json,
    is_labelme_json,
    read_box_csv,
    read_coco_json,
    read_labelme_json,
    read_region_file,
    read_supervisely_annotation,
    read_supervisely_meta,
    read_voc_xml,
    read_wider_boxes,
    read_yolo_labels,
    read_yolo_names,
    region_file_kind,
    supervisely_classes,
)
from lucid.detect.transforms import IOU_CROP_MIN_SCALE, check_image_size, eval_transform, train_transform
from lucid.errors import DataError

__all__ = [
    "LAYOUT_HELP",
    "coco_files",
    "yolo_sources",
    "yolo_label_files",
    "labelme_sources",
    "region_sources",
    "region_file",
    "photo_finder",
    "region_notes",
    "subset_split",
    "supervisely_datasets",
    "supervisely_split",
    "DetectionLayout",
    "DetectionRecord",
    "DetectionDataset",
    "DetectionDataInfo",
    "find_detection_layout",
    "looks_like_detection",
    "detection_datasets",
    "detection_collate",
]

LAYOUT_HELP = (
    "Pascal VOC (JPEGImages/ + Annotations/*.xml + ImageSets/Main/train.txt, val.txt); images/ + "
    "annotations/*.xml (VOC XML), optionally in train/ + val/; COCO JSON (annotations/instances_*.json + "
    "train2017/ ..., or Roboflow's train/_annotations.coco.json + valid/); YOLO text (images/ + labels/, "
    "or train/images + train/labels, with data.yaml or classes.txt); CSV boxes (a header naming filename, "
    "class, xmin, ymin, xmax, ymax: Roboflow's train/_annotations.csv + valid/, or train.csv + val.csv); "
    "LabelMe JSON beside the photos; KITTI (training/image_2 + training/label_2, ImageSets/train.txt + val.txt); "
    "a Supervisely project (meta.json + DATASET/img + DATASET/ann); VIA or Create ML JSON beside the photos "
    "(train/via_region_data.json + val/, or Roboflow's train/_annotations.createml.json + valid/); or CVAT's "
    "annotations.xml + images/; a Label Studio JSON export beside its photos; CUB-200-2011 (images/ + images.txt "
    "+ bounding_boxes.txt); Stanford Dogs (Images/ + Annotation/); WIDER FACE (wider_face_split/ + "
    "WIDER_train/images/); VisDrone-DET (VisDrone2019-DET-train/images + annotations/); DOTA (train/images + "
    "train/labelTxt/); OIDv4_ToolKit (OID/Dataset/train/<Class>/ + Label/); BDD100K (images/100k/ + "
    "labels/bdd100k_labels_images_train.json); CrowdHuman (Images/ + annotation_train.odgt); MOTChallenge "
    "(train/MOT17-02-FRCNN/img1 + gt/gt.txt); SVHN's full numbers (train/ + train/digitStruct.mat); GTSDB "
    "(FullIJCNN2013/ + gt.txt); "
    "or a Hugging Face set (data/train-*.parquet, or save_to_disk's "
    "Arrow files, of an image column and an objects column of bbox + category)"
)
IMAGE_DIRS = ("images", "image", "imgs", "img", "jpegimages", "photos")
XML_DIRS = ("annotations", "annots", "annotation", "xml", "xmls", "labels")
COCO_ROBOFLOW = "_annotations.coco.json"
ROBOFLOW_CSV = "_annotations.csv"
CVAT_XML = "annotations.xml"  # CVAT's "CVAT for images 1.1" export, beside its images/
DUPLICATE_IOU = 0.9  # same-class boxes overlapping this much are named as probable duplicates
# Where a layout that declares its classes declares them, for the run's classes line.
DECLARED_CLASSES = {
    "coco": "the COCO categories",
    "yolo": "the YOLO names",
    "supervisely": "Supervisely's meta.json",
    "wider": "WIDER FACE's one class",
    "hub": "the Hugging Face ClassLabel names",
    "svhn": "SVHN's ten digits",
    "gtsdb": "GTSDB's 43 numbered classes",
}


@dataclass
class DetectionLayout:
    """A data root as found: its layout ``name`` (``voc``, ``voc-xml``, ``coco``, ``yolo``, ``csv``,
    ``labelme``, ``kitti``, ``supervisely``, ``via``, ``createml``, ``cvat``, ``labelstudio``,
    ``wider``, ``visdrone``, ``dota``, ``oid``, ``bdd100k``, ``crowdhuman``, ``mot``, ``svhn``, ``hub``), the photos
    of each split as annotated (``val`` None: no split in the data, drawn by seed), the class names
    the data fixes (COCO categories, YOLO names, Supervisely's meta.json; None where the boxes name
    them: VOC, KITTI ...) and notes."""

    root: Path
    name: str
    description: str
    train: list[RawImage]
    val: list[RawImage] | None
    classes: list[str] | None = None
    notes: list[str] = field(default_factory=list)


def _keyed_photos(folder: Path) -> dict[str, Path]:
    """The photos below ``folder`` (lucid.data's walk) keyed by their path without suffix,
    lower-cased (`lucid.data.files.keyed_files`: two photos of one name are refused)."""
    return keyed_files(folder, walk_images(folder)[0], "annotation")


def _files_below(folder: Path, suffix: str, skip: Iterable[str] = ()) -> dict[str, Path]:
    """The non-hidden ``suffix`` files below ``folder`` keyed like `_keyed_photos`."""
    found = {}
    skipped = {s.lower() for s in skip}
    for path in sorted(folder.rglob(f"*{suffix}")):
        relative = path.relative_to(folder)
        if any(hidden(part) for part in relative.parts) or path.name.lower() in skipped:
            continue
        if path.is_file():
            found[relative.with_suffix("").as_posix().lower()] = path
    return found


def _has_files(folder: Path | None, suffixes: Sequence[str], limit: int = 2000) -> bool:
    """Whether ``folder`` holds (within its first ``limit`` files, nested) a file with one of ``suffixes``."""
    return folder is not None and folder.is_dir() and holds_files(folder, tuple(suffixes), limit)


def _labels_for_photos(images: Path, labels: Path | None, most: int = 20, look: int = 2000) -> bool:
    """Whether ``labels`` holds YOLO label files of ``images``' photos: one of its first ``most``
    text files has a photo of its name at the same place below ``images`` (``labels/train/x.txt``,
    ``images/train/x.jpg``), or among ``images``' first ``look`` photos. DTD's ``labels/`` of
    ``train1.txt`` split lists names no photo, so its ``images/`` + ``labels/`` is no YOLO folder."""
    if labels is None or not labels.is_dir():
        return False
    texts: list[Path] = []
    for folder, _, names in os.walk(labels):
        texts += [Path(folder, n) for n in sorted(names) if n.lower().endswith(".txt") and n != "classes.txt"]
        if len(texts) >= most:
            break
    keys = [t.relative_to(labels).with_suffix("") for t in texts[:most]]
    if any((images / key).with_suffix(s).is_file() for key in keys for s in (".jpg", ".png", ".jpeg", ".JPG")):
        return True
    stems = {key.name.lower() for key in keys}
    seen = 0
    for _, _, names in os.walk(images):
        if any(n.lower().endswith(IMAGE_SUFFIXES) and Path(n).stem.lower() in stems for n in names):
            return True
        seen += len(names)
        if seen >= look:
            break
    return False


# --------------------------------------------------------------------------------------------
# Pascal VOC


@dataclass(frozen=True)
class PerPhotoFiles:
    """A format with one annotation file per photo: its layout ``kind``, its name in notes, the
    files' suffix, the reader of one file, and whether a file of that suffix is one of them."""

    kind: str
    label: str
    suffix: str
    reader: Callable[[Path], VocFile]
    accepts: Callable[[Path], bool]


VOC_FILES = PerPhotoFiles("voc-xml", "VOC XML", ".xml", read_voc_xml, lambda _: True)
LABELME_FILES = PerPhotoFiles("labelme", "LabelMe JSON", ".json", read_labelme_json, is_labelme_json)


def _voc_image(
    xml: Path | None,
    key: str,
    photos: Mapping[str, Path],
    folder: Path,
    reader: Callable[[Path], VocFile] = read_voc_xml,
) -> RawImage:
    """The photo ``key`` (or the one its annotation file names) with the file's boxes; no file: no boxes."""
    if xml is None or not xml.is_file():
        return RawImage(photos.get(key.lower(), folder / f"{key}.jpg"))
    voc = reader(xml)
    photo = photos.get(key.lower())
    if photo is None and voc.filename:
        photo = photos.get(Path(voc.filename).with_suffix("").as_posix().lower(), folder / voc.filename)
    return RawImage(photo or folder / f"{key}.jpg", voc.objects, xml, voc.size)


def _voc_devkit(root: Path) -> DetectionLayout | None:
    """``JPEGImages/`` + ``Annotations/`` + ``ImageSets/Main/*.txt`` (Pascal VOC's own layout)."""
    jpeg, annotations = child_folder(root, ("JPEGImages",)), child_folder(root, ("Annotations",))
    if jpeg is None or annotations is None:
        return None
    photos = _keyed_photos(jpeg)

    def images(ids: list[str]) -> list[RawImage]:
        return [_voc_image(annotations / f"{i}.xml", i, photos, jpeg) for i in ids]

    train, val, description, notes = voc_split(root, "Main", lambda: _xml_ids(annotations), "annotations")
    return DetectionLayout(root, "voc", description, images(train), None if val is None else images(val), None, notes)


def _inner_devkit(root: Path) -> DetectionLayout | None:
    """The one Pascal VOC folder below ``root`` beside other files (the BCCD_Dataset repository:
    ``BCCD/`` beside an example photo, scripts and a ``test.csv`` its script exported): the data
    set's own annotations, read before a CSV beside them, said."""
    devkit = _inner_devkit_folder(root)
    layout = None if devkit is None else _voc_devkit(devkit)
    if layout is not None and devkit is not None:
        note = f"{root}: reading the Pascal VOC folder {devkit.name}/ (the files beside it are not used)"
        layout.notes.insert(0, note)
    return layout


def _inner_devkit_folder(root: Path) -> Path | None:
    """`_inner_devkit`'s folder, judged by names: the one sub-folder with ``JPEGImages/`` and
    ``Annotations/``, when ``root`` is not a plain download wrapper (README + one folder, read
    as such later)."""
    if wrapped_folder(root) is not None:
        return None
    try:
        inner = [Path(e.path) for e in os.scandir(root) if not hidden(e.name) and e.is_dir()]
    except OSError:
        return None
    devkits = [f for f in inner if child_folder(f, ("JPEGImages",)) and child_folder(f, ("Annotations",))]
    return devkits[0] if len(devkits) == 1 else None


def _xml_ids(annotations: Path) -> list[str]:
    """The ids of every ``.xml`` below ``annotations`` (their paths without the suffix)."""
    return [p.relative_to(annotations).with_suffix("").as_posix() for p in _files_below(annotations, ".xml").values()]


def _xml_folders(folder: Path | None, files: PerPhotoFiles = VOC_FILES) -> tuple[Path, Path] | None:
    """The (photos, annotation files) folders of one folder: ``images/`` + ``annotations/``, or
    side by side."""
    if folder is None:
        return None
    images = child_folder(folder, IMAGE_DIRS) or folder
    xml_dir = child_folder(folder, XML_DIRS)
    if xml_dir is not None and _has_annotations(xml_dir, files):
        return images, xml_dir
    return (images, images) if _has_annotations(images, files) else None


def _has_annotations(folder: Path, files: PerPhotoFiles, limit: int = 2000) -> bool:
    """Whether ``folder`` holds (within its first ``limit`` entries, nested) one of ``files``."""
    for seen, path in enumerate(folder.rglob(f"*{files.suffix}")):
        if seen >= limit:
            return False
        if not path.name.startswith(".") and path.is_file():
            return files.accepts(path)
    return False


def _xml_pairs(folders: tuple[Path, Path], files: PerPhotoFiles = VOC_FILES) -> list[RawImage]:
    """Photos and their annotation files: a file without its photo gives a missing photo; a
    photo without one has no boxes."""
    images, xml_dir = folders
    photos = _keyed_photos(images)
    xmls = {key: path for key, path in _files_below(xml_dir, files.suffix).items() if files.accepts(path)}
    found = [_voc_image(xml, key, photos, images, files.reader) for key, xml in xmls.items()]
    # An XML file may find its photo by the file name it states (Oxford-IIIT Pet's annotations/xmls/x.xml
    # names images/x.jpg), so the photos left without one are those no XML file found.
    annotated = {raw.image for raw in found}
    found += [RawImage(photo) for photo in photos.values() if photo not in annotated]
    return sorted(found, key=lambda r: str(r.image))


def _voc_beside(root: Path, files: PerPhotoFiles = VOC_FILES) -> DetectionLayout | None:
    """Annotation files beside the photos (VOC XML, LabelMe JSON), in ``train/`` + ``val/``
    folders or one folder."""
    train_dir, val_dir, notes = split_folders(root, lambda f: _xml_folders(f, files) is not None)
    train = _xml_folders(train_dir, files)
    val = _xml_folders(val_dir, files)
    what = f"{files.label} beside the photos"
    if train is not None and val is not None and train_dir and val_dir:
        description = f"{what}: {train_dir.name}/ + {val_dir.name}/"
        pairs = _xml_pairs(train, files), _xml_pairs(val, files)
        return DetectionLayout(root, files.kind, description, *pairs, None, notes)
    if train is not None and train_dir is not None:
        description = f"{what}: {train_dir.name}/ only, split by seed"
        return DetectionLayout(
            root, files.kind, description, _xml_pairs(train, files), None, None, [_no_val(root, train_dir)]
        )
    top = _xml_folders(root, files)
    if top is None:
        return None
    return DetectionLayout(root, files.kind, f"{what}, split by seed", _xml_pairs(top, files), None)


def labelme_sources(root: Path) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]] | None] | None:
    """``root``'s LabelMe files: the training and validation ``(photos, JSON files)`` folder pairs
    (validation None: no split), found as `find_detection_layout` finds them; None without any.
    Detection reads their boxes; segmentation draws their outlines (`lucid.segment.polygons`)."""
    train_dir, val_dir, _ = split_folders(root, lambda f: _xml_folders(f, LABELME_FILES) is not None)
    train, val = _xml_folders(train_dir, LABELME_FILES), _xml_folders(val_dir, LABELME_FILES)
    if train is not None:
        return [train], None if val is None else [val]
    top = _xml_folders(root, LABELME_FILES)
    return None if top is None else ([top], None)


def _no_val(root: Path, train_dir: Path) -> str:
    return f"{root}: a {train_dir.name}/ folder but no val/ (or valid/, test/): a seeded share of it validates"


# --------------------------------------------------------------------------------------------
# COCO JSON


def _coco_images(json_path: Path, folders: Sequence[Path]) -> tuple[list[RawImage], list[str], list[str]]:
    """The photos of one COCO file (looked for in ``folders``), its category names, dropped ones."""
    coco = read_coco_json(json_path)
    existing = [f for f in folders if f.is_dir()] or [json_path.parent]
    found = []
    for image_id, (file_name, width, height) in sorted(coco.images.items()):
        candidates = [f / file_name for f in existing] + [f / Path(file_name).name for f in existing]
        photo = next((c for c in candidates if c.is_file()), candidates[0])
        size = (width, height) if width and height else None
        found.append(RawImage(photo, coco.boxes.get(image_id, []), json_path, size))
    # Boxes of an image id the file does not list: a photo that is missing.
    found += [
        RawImage(json_path.parent / f"<image id {i}>", b, json_path)
        for i, b in coco.boxes.items()
        if i not in coco.images
    ]
    names = [coco.categories[c] for c in sorted(coco.categories)]
    return found, names, coco.dropped


def _coco_role(name: str) -> str:
    lowered = name.lower()
    if "trainval" in lowered:
        return "all"
    return next((role for role in ("train", "val", "test") if role in lowered), "all")


def coco_files(root: Path) -> dict[str, tuple[Path, list[Path]]]:
    """COCO files by role (``train``/``val``/``test``/``all``) with the folders their photos may be in:
    Roboflow's ``SPLIT/_annotations.coco.json`` (or another COCO file in each split folder), else
    ``annotations/instances_*.json``, else any COCO file in ``annotations/`` or at the root, its
    role from its name (``annotations/train.json`` + ``val.json``; Label Studio's ``result.json`` +
    ``images/``, FiftyOne's ``labels.json`` + ``data/``: one file, split by seed). Detection reads
    their boxes; segmentation draws their polygons (`lucid.segment.polygons`)."""
    found: dict[str, tuple[Path, list[Path]]] = {}
    for names, role in ((TRAIN_SPLITS, "train"), (VAL_SPLITS, "val"), (TEST_SPLITS, "test")):
        role_dir = child_folder(root, names)
        file = None if role_dir is None else _split_coco_file(role_dir)
        if role_dir is not None and file is not None:
            found[role] = (file, [role_dir, role_dir / "images"])
    if found:
        return found
    annotations = child_folder(root, ("annotations",))
    for json_path in sorted(annotations.glob("instances_*.json")) if annotations is not None else []:
        split = json_path.stem[len("instances_") :]
        folders = [root / split, root / "images" / split, root / "images", root]
        found.setdefault(_coco_role(split), (json_path, folders))
    for folder in [f for f in (annotations, root) if f is not None]:
        if found:
            break
        for json_path in _coco_by_content(folder):
            split = json_path.stem
            folders = [root / split, root / "images" / split, root / "images", root / "data", root]
            found.setdefault(_coco_role(split), (json_path, folders))
    return found


def _split_coco_file(folder: Path) -> Path | None:
    """A split folder's COCO file: Roboflow's ``_annotations.coco.json``, else its one JSON file of
    COCO content (`is_coco_json`)."""
    if (folder / COCO_ROBOFLOW).is_file():
        return folder / COCO_ROBOFLOW
    found = _coco_by_content(folder)
    return found[0] if len(found) == 1 else None


def _coco_by_content(folder: Path, most: int = 8) -> list[Path]:
    """The JSON files of ``folder`` (its first ``most``, not below it) whose content is a COCO
    instances file (`is_coco_json`); panoptic and caption files are not."""
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".json" and not hidden(p.name))
    except OSError:
        return []
    skip = ("panoptic", "captions", "person_keypoints")
    return [p for p in files[:most] if p.is_file() and not p.name.lower().startswith(skip) and is_coco_json(p)]


def _coco(root: Path) -> DetectionLayout | None:
    """``annotations/instances_*.json`` (COCO) or Roboflow's ``SPLIT/_annotations.coco.json``."""
    files = coco_files(root)
    if not files:
        return None
    notes = []
    val_role = "val" if "val" in files else "test" if "test" in files else None
    if "train" in files and val_role is not None:
        if val_role == "test":
            notes.append(f"{root}: no validation annotations, so the test set ({files['test'][0].name}) validates")
        elif "test" in files:
            notes.append(f"{root}: {files['val'][0].name} validates; the test set is not used")
        train, names, dropped = _coco_images(*files["train"])
        val, _, _ = _coco_images(*files[val_role])
        description = f"COCO JSON: {_short(root, files['train'][0])} + {_short(root, files[val_role][0])}"
    else:
        json_path, folders = next(iter(files.values()))
        train, names, dropped = _coco_images(json_path, folders)
        val = None
        description = f"COCO JSON: {_short(root, json_path)}, split by seed"
    if dropped:
        notes.append(
            f"{root}: COCO category {', '.join(dropped)} has no boxes and is the others' supercategory "
            "(Roboflow's data set name), not a class"
        )
    return DetectionLayout(root, "coco", description, train, val, names, notes)


def _short(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


# --------------------------------------------------------------------------------------------
# YOLO text


def _yolo_folders(root: Path) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]] | None, list[str]] | None:
    """``(images, labels)`` folder pairs of the training and validation splits (None: no split)."""

    def pair(folder: Path | None) -> tuple[Path, Path] | None:
        images, labels = child_folder(folder, IMAGE_DIRS), child_folder(folder, ("labels",))
        if images is not None and labels is not None and _labels_for_photos(images, labels):
            return images, labels
        return (folder, folder) if folder is not None and side_by_side(folder) else None  # darknet's x.jpg + x.txt

    train_dir, val_dir, notes = split_folders(root, lambda f: pair(f) is not None)
    train, val = pair(train_dir), pair(val_dir)
    if train is not None and val is not None:
        return [train], [val], notes
    if train is not None and train_dir is not None:
        return [train], None, [_no_val(root, train_dir)]
    top = pair(root)
    if top is None:
        return None
    images, labels = top
    image_train, image_val, split_notes = split_folders(images)
    label_train = split_child(labels, TRAIN_SPLITS)
    label_val = split_child(labels, VAL_SPLITS) or split_child(labels, TEST_SPLITS)
    if image_train and image_val and label_train and label_val:
        return [(image_train, label_train)], [(image_val, label_val)], split_notes
    return [top], None, []


def yolo_sources(
    root: Path,
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]] | None, list[str] | None] | None:
    """``root``'s YOLO label folders: the training and validation ``(images, labels)`` folder
    pairs (validation None: no split) and the class names (None without a names file); None when
    it has none. Detection reads their boxes; segmentation draws their polygons
    (`lucid.segment.polygons`)."""
    folders = _yolo_folders(root)
    if folders is None:
        return None
    train, val, _ = folders
    names, _ = _yolo_names(root, [labels for _, labels in [*train, *(val or [])]])
    return train, val, names


def _yolo_names(root: Path, labels: Sequence[Path]) -> tuple[list[str] | None, str]:
    """The class names (``data.yaml`` / ``classes.txt`` at the root or beside the labels) and their file."""
    for folder in (root, *labels, *(f.parent for f in labels)):
        found = read_yolo_names(folder)
        if found is not None:
            return found[0], str(found[1])
    return None, ""


def yolo_label_files(images: Path, labels: Path, photos: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """The YOLO label files of ``labels`` keyed like `_keyed_photos` (their path without suffix,
    lower-cased); where the photos lie beside them (``images`` is ``labels``: darknet's ``x.jpg`` +
    ``x.txt``), only the text files of a photo's name (a ``train.txt`` list or a README is none).
    Detection reads their boxes; segmentation draws their polygons."""
    texts = _files_below(labels, ".txt", skip=("classes.txt",))
    if images != labels:
        return texts
    keys = _keyed_photos(images) if photos is None else photos
    return {key: text for key, text in texts.items() if key in keys}


def _yolo_pairs(images: Path, labels: Path, names: list[str]) -> list[RawImage]:
    """Photos and their label files; a photo without one has no boxes, a label file without its photo
    gives a missing photo. In one folder (darknet's ``x.jpg`` + ``x.txt``) only a text file of a
    photo's name is its labels (a ``train.txt`` list or a README beside them is not)."""
    photos = _keyed_photos(images)
    texts = yolo_label_files(images, labels, photos)
    found = [
        RawImage(photos.get(k, images / f"{k}.jpg"), read_yolo_labels(t, names), t, None, True)
        for k, t in texts.items()
    ]
    found += [RawImage(photo, [], None, None, True) for key, photo in photos.items() if key not in texts]
    return sorted(found, key=lambda r: str(r.image))


# Text files beside darknet's photos that are not a photo's labels.
DARKNET_LISTS = ("train.txt", "valid.txt", "val.txt", "test.txt")


def side_by_side(folder: Path, limit: int = 2000) -> bool:
    """Whether ``folder`` holds photos with YOLO labels beside them (``x.jpg`` + ``x.txt``: darknet's
    ``data/obj/``, Roboflow's "YOLO Darknet" export, labelImg's YOLO files), judged from its first
    ``limit`` entries and the first line of one such text file (a photo's caption is not labels)."""
    photos: set[str] = set()
    texts: dict[str, Path] = {}
    try:
        for count, entry in enumerate(os.scandir(folder)):
            if count >= limit:
                break
            stem, suffix = os.path.splitext(entry.name.lower())
            if hidden(entry.name) or not entry.is_file():
                continue
            if suffix in IMAGE_SUFFIXES:
                photos.add(stem)
            elif suffix == ".txt" and entry.name.lower() not in (*DARKNET_LISTS, "classes.txt"):
                texts[stem] = Path(entry.path)
    except OSError:
        return False
    paired = sorted(photos & set(texts))
    return bool(paired) and _yolo_lines(texts[paired[0]])


def _yolo_lines(file: Path) -> bool:
    """Whether ``file``'s first line is a YOLO label (``class cx cy w h``, or a polygon), or it is empty."""
    try:
        with file.open(encoding="utf-8", errors="replace") as handle:
            first = next((line.split() for line in handle if line.strip()), [])
        numbers = [float(v) for v in first]
    except (OSError, ValueError):
        return False
    return not first or (first[0].isdigit() and (len(numbers) == 5 or (len(numbers) >= 7 and len(numbers) % 2 == 1)))


def _darknet_folder(root: Path) -> Path | None:
    """The folder of darknet's ``x.jpg`` + ``x.txt`` pairs that ``root``'s lists split (AlexeyAB's
    ``data/``: ``obj/`` beside ``obj.names``, ``obj.data``, ``train.txt`` + ``valid.txt``): ``root``
    itself or its one such sub-folder, when a ``train.txt`` at ``root`` lists photos; else None."""
    if not _photo_list(root / "train.txt"):
        return None
    if side_by_side(root):
        return root
    found = [f for f in subfolders(root) if side_by_side(f)]
    return found[0] if len(found) == 1 else None


def _photo_list(file: Path) -> list[str]:
    """The photo names (lower-cased, without their folders) of a darknet list of photo paths; none
    when ``file`` is missing or a line of it is not a photo's path."""
    if not file.is_file():
        return []
    lines = [line.strip() for line in names_file_text(file).splitlines()]
    names = [line.replace("\\", "/").rsplit("/", 1)[-1].lower() for line in lines if line]
    return names if names and all(n.endswith(IMAGE_SUFFIXES) for n in names) else []


def _darknet(root: Path) -> DetectionLayout | None:
    """Darknet's own layout: ``obj/`` of ``x.jpg`` + ``x.txt`` (or the pairs at the root), split by
    the lists of photo paths beside it (``train.txt`` + ``valid.txt``, ``val.txt`` or ``test.txt``;
    each photo found by its file name, as the paths name darknet's own machine), class names from
    ``obj.names``; with ``train.txt`` alone a seeded share validates."""
    folder = _darknet_folder(root)
    if folder is None:
        return None
    names, source = _yolo_names(root, [folder])
    notes = []
    if names is None:
        names = [f"class_{i}" for i in range(_max_class_id([folder]) + 1)]
        notes.append(f"{root}: no obj.names or classes.txt naming the classes, so the class ids are named class_0..")
    pairs = _yolo_pairs(folder, folder, names)
    val_list = next((root / n for n in DARKNET_LISTS[1:] if _photo_list(root / n)), None)
    train_names = set(_photo_list(root / "train.txt"))
    val_names = set(_photo_list(val_list)) - train_names if val_list is not None else set()
    train = [r for r in pairs if r.image.name.lower() in train_names]
    val = [r for r in pairs if r.image.name.lower() in val_names] if val_list is not None else None
    unlisted = len(pairs) - len(train) - len(val or [])
    if unlisted:
        notes.append(f"{root}: {unlisted} photos of {folder.name}/ are in no list, so they are not used")
    lists = "train.txt" + (f" + {val_list.name}" if val_list is not None else ", split by seed")
    description = f"YOLO darknet: {_short(root, folder) if folder != root else '.'}/ by {lists}" + (
        f" ({source})" if source else ""
    )
    return DetectionLayout(root, "yolo", description, train, val, names, notes)


def _max_class_id(labels: Sequence[Path]) -> int:
    top = -1
    for folder in labels:
        for text in _files_below(folder, ".txt", skip=("classes.txt",)).values():
            for line in text.read_text(encoding="utf-8", errors="replace").splitlines():
                fields = line.split()
                if fields and fields[0].lstrip("-").isdigit():
                    top = max(top, int(fields[0]))
    return top


def _yolo(root: Path) -> DetectionLayout | None:
    """YOLO text labels: ``images/`` + ``labels/`` (split inside or not) or ``train/images`` + ``train/labels``."""
    folders = _yolo_folders(root)
    if folders is None:
        return None
    train_pairs, val_pairs, notes = folders
    all_labels = [labels for _, labels in (*train_pairs, *(val_pairs or []))]
    names, source = _yolo_names(root, all_labels)
    if names is None:
        names = [f"class_{i}" for i in range(_max_class_id(all_labels) + 1)]
        notes.append(
            f"{root}: no data.yaml or classes.txt naming the classes, so the class ids are named "
            f"class_0..class_{len(names) - 1}"
        )
    train = [r for images, labels in train_pairs for r in _yolo_pairs(images, labels, names)]
    val = None if val_pairs is None else [r for i, lab in val_pairs for r in _yolo_pairs(i, lab, names)]
    where = " + ".join(_short(root, i) + "/" for i, _ in (*train_pairs, *(val_pairs or [])))
    description = (
        f"YOLO text: {where}" + (", split by seed" if val is None else "") + (f" ({source})" if source else "")
    )
    return DetectionLayout(root, "yolo", description, train, val, names, notes)


# --------------------------------------------------------------------------------------------
# CSV box tables


def _box_table(folder: Path | None) -> Path | None:
    """The CSV box table of ``folder``: Roboflow's ``_annotations.csv``, else the one ``.csv``
    whose header names photos, classes and boxes (`box_table_columns`)."""
    if folder is None or not folder.is_dir():
        return None
    try:
        tables = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and not p.name.startswith("."))
    except OSError:
        return None
    boxes = [t for t in tables if t.is_file() and _is_box_table(t)]
    roboflow = [t for t in boxes if t.name.lower() == ROBOFLOW_CSV]
    if len(roboflow) == 1:
        return roboflow[0]
    if len(boxes) > 1:  # Kaggle's: the annotations beside a sample_submission.csv of the same columns
        boxes = [t for t in boxes if "submission" not in t.name.lower() and _has_rows(t)]
    return boxes[0] if len(boxes) == 1 else None


def _has_rows(file: Path) -> bool:
    """Whether a table has a line after its header (read no further)."""
    try:
        with file.open(encoding="utf-8-sig") as handle:
            handle.readline(65536)
            return any(line.strip() for line in (handle.readline(65536) for _ in range(8)))
    except (OSError, UnicodeDecodeError):
        return False


def _is_box_table(file: Path) -> bool:
    """Whether ``file``'s first line is a box table's header (read alone: tables can be large)."""
    import csv

    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            head = list(csv.reader([handle.readline(65536) for _ in range(20)]))
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return bool(head) and (box_table_columns(head[0]) is not None or headerless_box_rows(head))


def _split_tables(root: Path) -> tuple[Path | None, Path | None]:
    """Box tables at ``root`` (or in its ``annotations/``) named by split (``train.csv`` +
    ``val.csv``, ``valid.csv`` or ``test.csv``, any case; or a name ending in the split's:
    SKU-110K's ``annotations/annotations_train.csv`` + ``annotations_val.csv``), their photos
    somewhere below ``root``."""
    for place in (root, child_folder(root, ("annotations",))):
        if place is None:
            continue
        tables: dict[str, Path] = {}
        for table in sorted(place.glob("*.csv")):
            role = table.stem.lower().rsplit("_", 1)[-1]
            if table.is_file() and role not in tables and _is_box_table(table):
                tables[role] = table
        train = next((tables[n] for n in TRAIN_SPLITS if n in tables), None)
        val = next((tables[n] for n in (*VAL_SPLITS, *TEST_SPLITS) if n in tables), None)
        if train is not None:
            return train, val
    return None, None


def _photo_key(name: str) -> str:
    """A table's photo name as `_keyed_photos` keys photos: its path without an image suffix, lower-cased."""
    path = Path(name.replace("\\", "/"))
    return (path.with_suffix("") if path.suffix.lower() in IMAGE_SUFFIXES else path).as_posix().lower()


def _table_images(table_file: Path, search: Path, photos: Mapping[str, Path]) -> list[RawImage]:
    """Each photo of ``table_file`` with its boxes (`_listed_images`)."""
    table = read_box_csv(table_file)
    return _listed_images(table_file, table.boxes, search, photos, table.sizes, table.normalised)


def photo_finder(photos: Mapping[str, Path], aliases: Mapping[str, str] | None = None) -> Callable[[str], Path | None]:
    """A look-up of the photo a file names (a box table, a VIA, Create ML, CVAT or Label Studio
    file) among ``photos`` (keyed like `_keyed_photos`): by its path, else by its name alone when
    only one photo has it, else by its alias (Label Studio's upload name without its prefix)."""
    by_name: dict[str, Path | None] = {}
    for key, path in photos.items():
        name = key.rsplit("/", 1)[-1]
        by_name[name] = None if name in by_name else path

    def find(name: str) -> Path | None:
        key = _photo_key(name)
        photo = photos.get(key) or by_name.get(key.rsplit("/", 1)[-1])
        alias = (aliases or {}).get(name)
        return photo or (by_name.get(_photo_key(alias).rsplit("/", 1)[-1]) if alias else None)

    return find


def _listed_images(
    file: Path,
    boxes: Mapping[str, list[RawObject]],
    search: Path,
    photos: Mapping[str, Path],
    sizes: Mapping[str, tuple[int, int]] | None = None,
    normalised: bool = False,
    aliases: Mapping[str, str] | None = None,
) -> list[RawImage]:
    """Each photo a file lists with its boxes, found among ``photos`` (`_keyed_photos` of
    ``search``) by `photo_finder`; a name found nowhere is a missing photo."""
    find = photo_finder(photos, aliases)
    found = []
    for name, objects in boxes.items():
        photo = find(name)
        found.append(RawImage(photo or search / name, objects, file, (sizes or {}).get(name), normalised))
    return found


def _csv(root: Path) -> DetectionLayout | None:
    """CSV box tables: Roboflow's ``train/_annotations.csv`` + ``valid/`` (photos beside each
    table), ``train.csv`` + ``val.csv`` at the root, or one table at the root (split by seed)."""
    train_dir, val_dir, notes = split_folders(root, lambda f: _box_table(f) is not None)
    pairs: list[tuple[Path, Path]] = []  # (table, folder its photos are in)
    if train_dir is not None:
        pairs = [(t, d) for d in (train_dir, val_dir) if d is not None and (t := _box_table(d)) is not None]
    else:
        train_table, val_table = _split_tables(root)
        notes = []
        if val_table is not None and val_table.stem.lower().rsplit("_", 1)[-1] in TEST_SPLITS:
            notes.append(f"{root}: no val.csv, so {val_table.name} is used as the validation split")
        if train_table is not None:
            pairs = [(t, root) for t in (train_table, val_table) if t is not None]
        elif (single := _box_table(root)) is not None:
            pairs = [(single, root)]
    if not pairs:
        return None
    photos = {folder: _keyed_photos(folder) for folder in {f for _, f in pairs}}
    read = [_table_images(table, folder, photos[folder]) for table, folder in pairs]
    notes += _named_ids(root, [table.parent for table, _ in pairs], read)
    listed = {r.image for images in read for r in images}
    unlisted = len({p for found in photos.values() for p in found.values()} - listed)
    if unlisted:  # a table lists the photos with boxes; the others may be another split's, or unlabelled
        notes.append(f"{root}: {unlisted} photos are in no box table, so they are not used")
    train, val = read[0], (read[1] if len(read) > 1 else None)
    where = " + ".join(_short(root, table) for table, _ in pairs)
    description = f"CSV boxes: {where}" + (", split by seed" if val is None else "")
    return DetectionLayout(root, "csv", description, train, val, None, notes)


# --------------------------------------------------------------------------------------------
# WIDER FACE

WIDER_FILES = {"train": "wider_face_train_bbx_gt.txt", "val": "wider_face_val_bbx_gt.txt"}


def _wider_parts(root: Path) -> dict[str, tuple[Path, Path]]:
    """WIDER FACE's splits: each role's box file (at the root or in ``wider_face_split/``, as the
    download and Kaggle's copies keep it) and its ``WIDER_train/images/`` (or
    ``WIDER_train/WIDER_train/images/``) folder."""
    found = {}
    for role, name in WIDER_FILES.items():
        file = next((f for f in (root / name, root / "wider_face_split" / name) if f.is_file()), None)
        split = child_folder(root, (f"WIDER_{role}",))
        inner = child_folder(split, (f"WIDER_{role}",)) if split is not None else None
        images = child_folder(inner or split, ("images",)) if split is not None else None
        if file is not None and images is not None:
            found[role] = (file, images)
    return found


def _wider(root: Path) -> DetectionLayout | None:
    """WIDER FACE: ``wider_face_split/wider_face_train_bbx_gt.txt`` + ``WIDER_train/images/<event>/``,
    and the val pair, which validates (without it a seeded share does); one class, ``face``; faces
    marked invalid are difficult (ignored by training and the mAP)."""
    parts = _wider_parts(root)
    if "train" not in parts:
        return None
    read = []
    for role in ("train", "val"):
        if role in parts:
            file, images = parts[role]
            photos = _keyed_photos(images)
            read.append(_listed_images(file, read_wider_boxes(file), images, photos))
    description = "WIDER FACE: " + " + ".join(f"{_short(root, parts[r][0])}" for r in parts)
    val = read[1] if len(read) > 1 else None
    return DetectionLayout(root, "wider", description + ("" if val else ", split by seed"), read[0], val, [WIDER_CLASS])


# --------------------------------------------------------------------------------------------
# One JSON file of every photo's regions: VIA, Create ML


def region_file(folder: Path | None, most: int = 20) -> Path | None:
    """``folder``'s VIA, Create ML or CVAT file (`region_file_kind`): Roboflow's
    ``_annotations.createml.json``, a VIA export name or CVAT's ``annotations.xml`` first, else the
    one JSON or XML file of such content among its first ``most`` (a folder of many JSON or XML
    files holds LabelMe's or VOC's, one per photo)."""
    if folder is None or not folder.is_dir():
        return None
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".json", ".xml") and not hidden(p.name))
    except OSError:
        return None
    known = (CREATEML_ROBOFLOW, *VIA_NAMES, CVAT_XML)
    named = [p for p in files if p.name.lower() in known or p.name.lower().startswith("via_project")]
    found = [p for p in (named or files[:most]) if p.is_file() and region_file_kind(p) is not None]
    return found[0] if len(found) == 1 or (named and found) else None


def _region_boxes(file: Path | None, head: int = 1 << 20) -> bool:
    """Whether a region file (`region_file`) gives boxes: any but a Label Studio export of brushes
    alone (pixels, segmentation's), judged from its first ``head`` bytes."""
    if file is None:
        return False
    if region_file_kind(file) != "Label Studio JSON":
        return True
    text = file_head(file, head)
    return (
        re.search(rb'"(rectangle|polygon|ellipse)labels"|"type"\s*:\s*"(rectangle|polygon|ellipse)"', text) is not None
    )


def region_sources(root: Path) -> tuple[list[Path], list[str]] | None:
    """``root``'s VIA or Create ML files: one per split folder (``train/`` + ``val/``: the first
    trains, the second validates) or one at the root (split by seed), with the notes on the split
    folders; None without one. Detection reads their boxes, segmentation draws their regions."""
    train_dir, val_dir, notes = split_folders(root, lambda f: region_file(f) is not None)
    if train_dir is not None:
        files = [f for d in (train_dir, val_dir) if (f := region_file(d)) is not None]
        return files, notes + ([] if val_dir is not None else [_no_val(root, train_dir)])
    single = region_file(root)
    return None if single is None else ([single], [])


def region_notes(root: Path, files: Sequence[RegionFile], *, boxes: bool = False) -> list[str]:
    """What a note says of VIA and Create ML files: the region attribute read as the class, and the
    regions left out (no class value, a point or line; for ``boxes``, Label Studio's brushes,
    pixels that segmentation draws)."""
    notes = []
    keys = {f.class_key for f in files if f.kind == "VIA JSON"}
    if keys == {None}:
        notes.append(
            f"{root}: the VIA regions carry no attribute that names a class, so all are one class, {ONE_CLASS!r}"
        )
    elif keys:
        shown = ", ".join(repr(k) for k in sorted(k for k in keys if k))
        notes.append(f"{root}: the VIA region attribute {shown} names the classes")
    skipped: Counter[str] = Counter()
    for file in files:
        skipped.update(file.skipped)
        brushes = sum(s.kind == "brush" for shapes in file.shapes.values() for s in shapes) if boxes else 0
        skipped.update({"brushlabels shapes": brushes} if brushes else {})
    if skipped:
        kinds = ", ".join(
            f"{count} with {kind}" if kind.startswith("no ") else f"{count} {kind}" for kind, count in skipped.items()
        )
        notes.append(f"{root}: {skipped.total()} regions are not used ({kinds})")
    return notes


def subset_split(file: RegionFile) -> tuple[list[str], list[str], str] | None:
    """The training and validation photo names of a file that names each photo's subset (CVAT's
    ``subset="Train"`` + ``"Validation"``, or ``"Test"`` without one), and a note; None when its
    subsets do not split it so."""
    roles: dict[str, list[str]] = {}
    for name in file.shapes:
        roles.setdefault(split_role(file.subsets.get(name, "")) or "", []).append(name)
    val_role = "val" if "val" in roles else "test" if "test" in roles else None
    if "train" not in roles or val_role is None:
        return None
    unused = sum(len(names) for role, names in roles.items() if role not in ("train", val_role))
    note = f"{file.path}: its subsets split it ({len(roles['train'])} train, {len(roles[val_role])} validate)"
    return (
        roles["train"],
        roles[val_role],
        note + (f"; {unused} photos of other subsets are not used" if unused else ""),
    )


def _regions(root: Path) -> DetectionLayout | None:
    """VIA, Create ML, CVAT or Label Studio files (`region_sources`), each listing its split's photos, which lie
    beside it (or in a folder below it): the box around each region. One file whose photos name
    their subsets (CVAT's) is split by them."""
    sources = region_sources(root)
    if sources is None:
        return None
    paths, notes = sources
    files = [read_region_file(path) for path in paths]
    photos = {path.parent: _keyed_photos(path.parent) for path in paths}
    parts = [(f, f.boxes()) for f in files]
    subsets = subset_split(files[0]) if len(files) == 1 else None
    if subsets is not None:
        boxes = parts[0][1]
        parts = [(files[0], {name: boxes[name] for name in names}) for names in subsets[:2]]
        notes.append(subsets[2])
    read = [
        _listed_images(f.path, b, f.path.parent, photos[f.path.parent], f.sizes, aliases=f.aliases) for f, b in parts
    ]
    notes += region_notes(root, files, boxes=True)
    listed = {r.image for images in read for r in images}
    unlisted = len({p for found in photos.values() for p in found.values()} - listed)
    if unlisted:
        notes.append(f"{root}: {unlisted} photos are in no {files[0].kind} file, so they are not used")
    train, val = read[0], (read[1] if len(read) > 1 else None)
    where = " + ".join(_short(root, f.path) for f in files)
    description = f"{files[0].kind}: {where}" + (", split by seed" if val is None else "")
    description += ", split by its subsets" if subsets is not None else ""
    layout = files[0].kind.rsplit(" ", 1)[0].replace(" ", "").lower()  # via, createml, cvat, labelstudio
    return DetectionLayout(root, layout, description, train, val, None, notes)


def _class_descriptions(folders: Iterable[Path]) -> tuple[dict[str, str], list[Path]]:
    """Open Images' class names: every ``*class-descriptions*.csv`` in ``folders`` (the box tables'
    own, the root) maps a ``LabelName`` id (``/m/011k07``) to its display name (``Tortoise``);
    and the files read. Such a file's header names no photo, so it is never taken for a box table."""
    names: dict[str, str] = {}
    files = []
    for folder in dict.fromkeys(folders):
        try:
            found = sorted(p for p in folder.iterdir() if _is_class_descriptions(p))
        except OSError:
            continue
        for file in found:
            names.update(_read_class_descriptions(file))
            files.append(file)
    return names, files


def _is_class_descriptions(path: Path) -> bool:
    name = path.name.lower()
    return "class-descriptions" in name and name.endswith(".csv") and not name.startswith(".") and path.is_file()


def _read_class_descriptions(file: Path) -> dict[str, str]:
    """The ``id,name`` rows of an Open Images class-descriptions file (``class-descriptions-boxable.csv``
    has no header, ``oidv7-class-descriptions.csv`` a ``LabelName,DisplayName`` one). A name that two
    ids share gets its id appended (``Pen (/m/0k1tl)``), so their boxes stay two classes."""
    import csv
    import io

    try:
        rows = list(csv.reader(io.StringIO(file.read_text(encoding="utf-8-sig"), newline="")))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{file}: not a readable CSV table of class names ({exc})") from None
    found: dict[str, str] = {}
    for number, row in enumerate(rows, 1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or (number == 1 and cells[0].lower() == "labelname"):
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise DataError(
                f"{file}:{number}: expected 'LabelName,DisplayName' (an id such as /m/011k07, a name), got {row}"
            )
        found[cells[0]] = cells[1]
    shared = Counter(found.values())
    return {label: name if shared[name] == 1 else f"{name} ({label})" for label, name in found.items()}


def _named_ids(root: Path, folders: Sequence[Path], read: Sequence[Sequence[RawImage]]) -> list[str]:
    """Renames in place the class ids of the boxes ``read`` that a class-descriptions file beside the
    tables or at ``root`` names (`_class_descriptions`): the note saying so, naming how many ids keep
    their id (the file does not list them); no file, no note."""
    names, files = _class_descriptions([*folders, root])
    if not files:
        return []
    ids = {obj.name for images in read for raw in images for obj in raw.objects}
    for images in read:
        for raw in images:
            raw.objects = [replace(obj, name=names.get(obj.name, obj.name)) for obj in raw.objects]
    kept = sorted(ids - names.keys())
    shown = ", ".join(kept[:3]) + (" ..." if len(kept) > 3 else "")
    unnamed = f"; {len(kept)} it does not list keep their id ({shown})" if kept else ""
    listed = ", ".join(_short(root, file) for file in files)
    return [f"{root}: class ids named by {listed}: {len(ids) - len(kept)} of the {len(ids)} ids{unnamed}"]


# --------------------------------------------------------------------------------------------
# KITTI


KITTI_FIELDS = "type truncated occluded alpha left top right bottom h w l x y z rotation_y"
KITTI_IGNORED = "DontCare"  # KITTI's regions left unlabelled: not a class


def _kitti_folders(folder: Path | None) -> tuple[Path, Path] | None:
    """The ``(image_2, label_2)`` folders of a KITTI split folder (``training/``), None without labels."""
    images, labels = child_folder(folder, ("image_2",)), child_folder(folder, ("label_2",))
    return (images, labels) if images is not None and labels is not None and _has_files(labels, (".txt",)) else None


def _kitti_split_folder(root: Path) -> Path | None:
    """KITTI's ``training/`` holding ``image_2/`` + ``label_2/``, else ``root`` itself holding them."""
    return next((f for f in (child_folder(root, TRAIN_SPLITS), root) if _kitti_folders(f) is not None), None)


def _read_kitti_labels(file: Path) -> tuple[list[RawObject], int]:
    """The boxes of one KITTI label file (``left top right bottom``, in pixels) and its count of
    ``DontCare`` regions, which are not boxes. A line of other than 15 fields (16 with a score), or
    whose fields after the type are not numbers, is a `DataError` naming the file and line."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: not a readable KITTI label file ({exc})") from None
    objects, ignored = [], 0
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(v) for v in fields[1:]] if len(fields) in (15, 16) else []
        except ValueError:
            values = []
        if not values:
            raise DataError(
                f"{file}:{number}: expected the 15 KITTI fields '{KITTI_FIELDS}' (16 with a score), got {line!r}"
            )
        if fields[0] == KITTI_IGNORED:
            ignored += 1
        else:
            objects.append(RawObject(fields[0], (values[3], values[4], values[5], values[6])))
    return objects, ignored


def _kitti_images(images: Path, labels: Path, ids: Sequence[str] | None = None) -> tuple[list[RawImage], int]:
    """The photos of ``ids`` (None: every label file and photo) with their boxes, and the count of
    ``DontCare`` regions left out. An id without a label file has no boxes; one without its photo is
    a missing photo."""
    photos, texts = _keyed_photos(images), _files_below(labels, ".txt")
    keys = sorted(texts.keys() | photos.keys()) if ids is None else [i.lower() for i in ids]
    found, ignored = [], 0
    for key in keys:
        objects, dontcare = _read_kitti_labels(texts[key]) if key in texts else ([], 0)
        found.append(RawImage(photos.get(key, images / f"{key}.png"), objects, texts.get(key)))
        ignored += dontcare
    return found, ignored


def _kitti_lists(root: Path, split: Path) -> tuple[list[str] | None, list[str] | None]:
    """The ids of ``ImageSets/train.txt`` and ``ImageSets/val.txt`` at ``root`` (else in the ``split``
    folder, ``training/``), each None when absent (KITTI's ``test.txt`` lists the unlabelled
    ``testing/`` photos: never read)."""
    folder = child_folder(root, ("ImageSets",)) or child_folder(split, ("ImageSets",))

    def ids(name: str) -> list[str] | None:
        file = None if folder is None else folder / f"{name}.txt"
        return read_id_list(file) if file is not None and file.is_file() else None

    return ids("train"), ids("val")


CUB_FILES = ("images.txt", "bounding_boxes.txt", "image_class_labels.txt", "classes.txt")  # CUB-200-2011's


def _id_lines(file: Path, fields: int) -> dict[str, list[str]]:
    """A CUB list: ``<id> <field> ...`` per line, keyed by the id; a line of fewer than ``fields``
    words after its id is a DataError naming it. The fields after them stay one (a class name with
    spaces)."""
    found = {}
    for line, text in enumerate(names_file_text(file).splitlines(), 1):
        words = text.split(maxsplit=fields)
        if not words:
            continue
        if len(words) < fields + 1:
            raise DataError(f"{file}:{line}: expected an image id and {fields} field(s), got {text.strip()!r}")
        found[words[0]] = words[1:]
    return found


def _cub(root: Path) -> DetectionLayout | None:
    """CUB-200-2011's box of each photo: ``images.txt`` (``<id> <path below images/>``),
    ``bounding_boxes.txt`` (``<id> x y width height`` in pixels), ``image_class_labels.txt`` and
    ``classes.txt`` (``001.Black_footed_Albatross``), split by ``train_test_split.txt`` (``<id> 1``
    trains, ``0`` tests) when present, else by seed."""
    if not all((root / name).is_file() for name in CUB_FILES) or child_folder(root, ("images",)) is None:
        return None
    paths, boxes = _id_lines(root / "images.txt", 1), _id_lines(root / "bounding_boxes.txt", 4)
    labels, names = _id_lines(root / "image_class_labels.txt", 1), _id_lines(root / "classes.txt", 1)
    images = root / "images"
    found: dict[str, RawImage] = {}
    for key, (path,) in paths.items():
        try:
            x, y, w, h = (float(v) for v in boxes[key])
            name = names[labels[key][0]][0]
        except KeyError:
            lists = ", ".join(CUB_FILES[1:])
            raise DataError(f"{root}: image id {key} ({path}) has no box, class or class name in {lists}") from None
        except ValueError:
            raise DataError(f"{root / 'bounding_boxes.txt'}: image id {key}: expected x y width height") from None
        found[key] = RawImage(images / path, [RawObject(name, (x, y, x + w, y + h))], root / "bounding_boxes.txt")
    split = root / "train_test_split.txt"
    if not split.is_file():
        description = "CUB-200-2011: images.txt + bounding_boxes.txt, split by seed"
        return DetectionLayout(root, "cub", description, list(found.values()), None)
    flags = _id_lines(split, 1)
    train = [image for key, image in found.items() if flags.get(key, ["1"])[0] == "1"]
    val = [image for key, image in found.items() if flags.get(key, ["1"])[0] == "0"]
    description = "CUB-200-2011: images.txt + bounding_boxes.txt, split by train_test_split.txt"
    return DetectionLayout(root, "cub", description, train, val)


def _dogs_annotations(root: Path) -> bool:
    """Whether ``root`` has Stanford Dogs' ``Images/`` beside ``Annotation/<breed>/`` files without a suffix."""
    notes = child_folder(root, ("Annotation",))
    breeds = subfolders(notes) if notes is not None and child_folder(root, ("Images",)) is not None else []
    try:
        first = next((e for e in os.scandir(breeds[0]) if e.is_file() and not hidden(e.name)), None) if breeds else None
    except OSError:
        return False
    return first is not None and not Path(first.name).suffix


def _stanford_dogs(root: Path) -> DetectionLayout | None:
    """Stanford Dogs' boxes: ``Images/<wnid>-<breed>/x.jpg`` with ``Annotation/<wnid>-<breed>/x``
    (VOC XML without a suffix), split by ``lists/train_list.mat`` + ``test_list.mat``
    (`lucid.data.matfiles.mat_lists`) when present, else by seed. Photos without a file are not used."""
    images, notes = child_folder(root, ("Images",)), child_folder(root, ("Annotation",))
    if images is None or notes is None or not _dogs_annotations(root):
        return None
    found: dict[str, RawImage] = {}
    for key, photo in _keyed_photos(images).items():
        xml = notes / photo.relative_to(images).with_suffix("")
        if xml.is_file():
            voc = read_voc_xml(xml)
            found[key] = RawImage(photo, voc.objects, xml, voc.size)
    if not found:
        return None
    lists = mat_lists(root)
    if lists is None:
        description = "Stanford Dogs: Images/ + Annotation/, split by seed"
        return DetectionLayout(root, "stanford-dogs", description, list(found.values()), None)
    (_, train_names), (_, val_names) = lists
    train = [found[k] for k in (n.lower() for n in train_names) if k in found]
    val = [found[k] for k in (n.lower() for n in val_names) if k in found]
    description = "Stanford Dogs: Images/ + Annotation/, split by train_list.mat + test_list.mat"
    return DetectionLayout(root, "stanford-dogs", description, train, val)


def _kitti(root: Path) -> DetectionLayout | None:
    """KITTI 2D objects: ``training/image_2/`` + ``training/label_2/`` (or both at ``root``), split by
    ``ImageSets/train.txt`` + ``val.txt`` (without ``train.txt``, the other labels train), else by
    seed; ``testing/`` has no labels and is not read, said."""
    folder = _kitti_split_folder(root)
    pair = None if folder is None else _kitti_folders(folder)
    if folder is None or pair is None:
        return None
    images, labels = pair
    train_ids, val_ids = _kitti_lists(root, folder)
    where = "" if folder == root else f"{folder.name}/"
    testing = child_folder(root, TEST_SPLITS)
    notes = [] if testing is None else [f"{root}: {testing.name}/ (KITTI's test photos, unlabelled) is not used"]
    if val_ids is None:
        train, ignored = _kitti_images(images, labels, train_ids)
        val, description = None, f"KITTI: {where}image_2 + label_2, split by seed"
        notes.append(f"{root}: no ImageSets/val.txt, so a seeded share of the labelled photos validates")
    else:
        held = {i.lower() for i in val_ids}
        pool = train_ids if train_ids is not None else [k for k in _files_below(labels, ".txt") if k not in held]
        (train, ignored), (val, also) = _kitti_images(images, labels, pool), _kitti_images(images, labels, val_ids)
        ignored += also
        source = "train.txt" if train_ids is not None else "the other labels"
        description = f"KITTI: {where}image_2 + label_2, ImageSets {source} ({len(train)}) + val.txt ({len(val)})"
    if ignored:
        notes.append(f"{root}: {ignored} {KITTI_IGNORED} regions (left unlabelled) are not a class: not used")
    return DetectionLayout(root, "kitti", description, train, val, None, notes)


# --------------------------------------------------------------------------------------------
# Supervisely


SUPERVISELY_BOXES = ("rectangle", "polygon")  # geometry types that give a box (a polygon: its bounds)
SUPERVISELY_CLASS_SHAPES = (*SUPERVISELY_BOXES, "any")  # a class of shape "any" may hold either


def supervisely_datasets(root: Path) -> list[Path]:
    """The dataset folders (each ``img/`` + ``ann/`` of ``.json``) of a Supervisely project: ``root``
    holding ``meta.json``; [] when it is not one."""
    if not (root / SUPERVISELY_META).is_file():
        return []
    folders = subfolders(root)
    return [f for f in folders if child_folder(f, ("img",)) and _has_files(child_folder(f, ("ann",)), (".json",))]


def _supervisely_boxes(root: Path) -> bool:
    """Whether ``root`` is a Supervisely project whose meta.json declares a class of boxes
    (rectangle, or any shape): a project of polygons and bitmaps outlines regions, which is
    segmentation's to claim (``--task detect`` still reads its polygons' bounds)."""
    if not supervisely_datasets(root):
        return False
    try:
        shapes = {shape for _, shape in read_supervisely_meta(root / SUPERVISELY_META)}
    except DataError:
        return True  # claimed, so that reading it names what is wrong with its meta.json
    return bool(shapes & {"rectangle", "any"})


def _read_supervisely_ann(file: Path, skipped: Counter[str]) -> tuple[tuple[int, int] | None, list[RawObject]]:
    """The photo's stated ``(width, height)`` and the boxes of one Supervisely annotation: a
    rectangle's two corners, a polygon's bounds (of its ``exterior``); objects of other geometry
    types are counted in ``skipped`` by type."""
    data = read_supervisely_annotation(file)
    objects = []
    for number, obj in enumerate(data["objects"], 1):
        kind = str(obj.get("geometryType") or "no geometryType") if isinstance(obj, dict) else "not an object"
        if kind not in SUPERVISELY_BOXES:
            skipped[kind] += 1
            continue
        try:
            name, points = str(obj["classTitle"]), [(float(x), float(y)) for x, y in obj["points"]["exterior"]]
        except (KeyError, TypeError, ValueError):
            name, points = "", []
        if not name or not points:
            raise DataError(f"{file}: object {number} has no 'classTitle' or no points.exterior [[x, y], ...]")
        xs, ys = [x for x, _ in points], [y for _, y in points]
        objects.append(RawObject(name, (min(xs), min(ys), max(xs), max(ys))))
    return _stated_size(data.get("size")), objects


def _stated_size(size: Any) -> tuple[int, int] | None:
    """``(width, height)`` of a Supervisely ``{"height": H, "width": W}``; None when absent or not positive."""
    width, height = (size.get("width"), size.get("height")) if isinstance(size, dict) else (None, None)
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        return width, height
    return None


def _supervisely_images(dataset: Path, skipped: Counter[str]) -> list[RawImage]:
    """The photos of one dataset folder (``img/x.jpg`` + ``ann/x.jpg.json``) with their boxes: a photo
    without an annotation has no boxes, an annotation without its photo is a missing photo."""
    images, ann = child_folder(dataset, ("img",)) or dataset, child_folder(dataset, ("ann",)) or dataset
    photos = _keyed_photos(images)
    found = []
    for name, file in _files_below(ann, ".json").items():
        size, objects = _read_supervisely_ann(file, skipped)
        found.append(RawImage(photos.pop(_photo_key(name), images / name), objects, file, size))
    found += [RawImage(photo) for photo in photos.values()]
    return sorted(found, key=lambda r: str(r.image))


def supervisely_split(root: Path, datasets: list[Path]) -> tuple[list[Path], bool, list[str]]:
    """The dataset folders of a Supervisely project to read, whether the first trains and the second
    validates (folders named ``train`` + ``val``, ``valid`` or else ``test``; `split_folders`), and
    the notes. A ``train`` dataset alone is split by seed; without split names every dataset is,
    pooled. Segmentation (`lucid.segment.polygons`) splits the same project alike."""
    train_dir, val_dir, notes = split_folders(root, lambda f: f in datasets)
    if train_dir is not None and val_dir is not None:
        chosen, given = [train_dir, val_dir], True
    elif train_dir is not None:
        chosen, given, notes = [train_dir], False, [_no_val(root, train_dir)]
    else:
        chosen, given, notes = list(datasets), False, []
    unused = [f"{d.name}/" for d in datasets if d not in chosen]
    if unused:
        notes.append(f"{root}: the dataset folders {', '.join(unused)} are not in the split: not used")
    return chosen, given, notes


def _supervisely(root: Path) -> DetectionLayout | None:
    """A Supervisely project: ``meta.json`` (the classes) + dataset folders of ``img/`` + ``ann/``,
    split by the datasets' names (`_supervisely_split`) or by seed."""
    datasets = supervisely_datasets(root)
    if not datasets:
        return None
    classes, other_shapes = supervisely_classes(root / SUPERVISELY_META, SUPERVISELY_CLASS_SHAPES)
    if not classes:
        raise DataError(
            f"{root / SUPERVISELY_META}: no class of shape rectangle or polygon, so no boxes "
            f"({', '.join(other_shapes)})"
        )
    chosen, given, notes = supervisely_split(root, datasets)
    if other_shapes:
        notes.append(f"{root}: meta.json's classes of other shapes give no boxes, not used: {', '.join(other_shapes)}")
    skipped: Counter[str] = Counter()
    read = [_supervisely_images(d, skipped) for d in chosen]
    if skipped:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(skipped.items()))
        notes.append(f"{root}: {skipped.total()} Supervisely objects are not rectangles or polygons, skipped ({kinds})")
    train = read[0] if given else [raw for images in read for raw in images]
    description = "Supervisely: " + " + ".join(f"{d.name}/" for d in chosen) + ("" if given else ", split by seed")
    return DetectionLayout(root, "supervisely", description, train, read[1] if given else None, classes, notes)


# --------------------------------------------------------------------------------------------


def find_detection_layout(root: str | os.PathLike[str]) -> DetectionLayout:
    """Which of the layouts of this module's docstring ``root`` is, with every photo's boxes as the
    files state them. Anything else is a `DataError` naming `LAYOUT_HELP`."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataError(f"--data {folder}: no such folder")
    readers = (
        _voc_devkit, _coco, _darknet, _yolo, _kitti, _supervisely, _wider, _cub, _stanford_dogs, _inner_devkit,
        _regions, _csv, _public_sets, _hub,
    )  # fmt: skip
    for reader in readers:
        layout = reader(folder)
        if layout is not None:
            return layout
    inner = wrapped_folder(folder)
    if inner is not None and looks_like_detection(inner):  # a download's root: README + the data's folder
        layout = find_detection_layout(inner)
        layout.notes.insert(0, wrapped_note(folder, inner))
        return layout
    # Last: XML beside the photos is found below any folder, so before the unwrapping above it
    # read VOCdevkit/ as loose photos and XML files, none paired (JPEGImages/x, Annotations/x).
    layout = _voc_beside(folder) or _voc_beside(folder, LABELME_FILES)
    if layout is not None:
        return layout
    raise DataError(f"--data {folder}: no box annotations found; expected {LAYOUT_HELP}")


def _public_set_parts(root: Path) -> tuple[str, str, dict[str, Path]] | None:
    """Which public set's box files ``root`` holds (`lucid.detect.sets`), as (layout name, its
    name in words, its parts or label files by split); None for none of them."""
    from lucid.detect import sets

    for name, words, finder in (
        ("visdrone", "VisDrone-DET", sets.visdrone_splits),
        ("dota", "DOTA", sets.dota_splits),
        ("oid", "OIDv4_ToolKit's Open Images", sets.oid_splits),
        ("bdd100k", "BDD100K", sets.bdd_files),
        ("crowdhuman", "CrowdHuman", sets.crowdhuman_files),
        ("mot", "MOTChallenge", sets.mot_sequences),
        ("svhn", "SVHN's full numbers", sets.svhn_parts),
        ("gtsdb", "the German Traffic Sign Detection Benchmark", sets.gtsdb_files),
    ):
        parts = finder(root)
        if parts:
            return name, words, parts
    return None


def _public_sets(root: Path) -> DetectionLayout | None:
    """VisDrone-DET, DOTA, OIDv4_ToolKit's Open Images, BDD100K or CrowdHuman as their downloads unpack
    (`lucid.detect.sets`): their training and validation parts, else one part split by seed."""
    from lucid.detect import sets

    found = _public_set_parts(root)
    if found is None:
        return None
    name, words, parts = found
    skipped: Counter[str] = Counter()
    if name == "mot":
        sequences = list(parts.values())
        first, second = sets.read_mot(sequences, skipped)
        notes = [f"{root}: {count} {kind} are not trained on" for kind, count in sorted(skipped.items())]
        notes.append(f"{root}: each sequence's first half of frames trains, its second half validates")
        shown = ", ".join(s.name for s in sequences)
        return DetectionLayout(root, name, f"{words}: {shown}, each split in halves", first, second, None, notes)
    photos = sets.photos_by_name(root) if name in ("bdd100k", "crowdhuman") else {}
    read = {
        "visdrone": lambda part: sets.read_visdrone(part, skipped),
        "dota": sets.read_dota,
        "oid": sets.read_oid,
        "bdd100k": lambda part: sets.read_bdd(part, photos, skipped),
        "crowdhuman": lambda part: sets.read_crowdhuman(part, photos, skipped),
        "svhn": sets.read_svhn,
        "gtsdb": sets.read_gtsdb,
    }[name]
    images = {role: read(part) for role, part in parts.items()}
    shown = " + ".join(_relative(root, part) for part in parts.values() if part != root)
    notes = [f"{root}: {count} {kind} are not trained on" for kind, count in sorted(skipped.items())]
    train, val = images.get("train", images.get("")), images.get("val")
    if val is None and images.get("test"):  # SVHN's test/ is labelled
        val = images["test"]
        notes.append(f"{root}: no validation split, so {_relative(root, parts['test'])}/ validates")
    assert train is not None
    description = f"{words}: {shown or root.name}" + ("" if val is not None else ", split by seed")
    # Sets of numbered classes: each number a class, also one no training photo shows.
    counts = {"svhn": 10, "gtsdb": sets.GTSDB_CLASSES}
    classes = [str(number) for number in range(counts[name])] if name in counts else None
    return DetectionLayout(root, name, description, train, val, classes, notes)


def _hub(root: Path) -> DetectionLayout | None:
    """A Hugging Face set of photos and boxes (`lucid.detect.hubboxes`: Parquet or Arrow files, or
    ImageFolder's ``metadata.jsonl`` beside the photos): its train split trains,
    ``validation`` (else ``test``, said) validates; one split is split by seed."""
    from lucid.detect.hubboxes import hub_boxes, metadata_boxes

    found = hub_boxes(root) or metadata_boxes(root)
    if found is None:
        return None
    images, names, what, notes = found
    val = images.get("val")
    if val is None and images.get("test"):
        val = images["test"]
        notes.append(f"{root}: no validation split, so the test split validates")
    train = images.get("train") or images.get("") or []
    return DetectionLayout(root, "hub", what + ("" if val is not None else ", split by seed"), train, val, names, notes)


def _hub_boxes(folder: Path) -> bool:
    from lucid.data.hub import hub_set
    from lucid.detect.hubboxes import box_columns, metadata_files

    hub = hub_set(folder)
    return (hub is not None and box_columns(hub) is not None) or bool(metadata_files(folder))


def looks_like_detection(root: str | os.PathLike[str]) -> bool:
    """Whether ``root`` holds box annotations in a layout `find_detection_layout` reads, judged
    from folder and file names (VOC XML, COCO JSON, YOLO ``.txt`` labels, KITTI's ``image_2/`` +
    ``label_2/``, Supervisely's ``meta.json`` + ``img/`` + ``ann/``) without parsing a file:
    class folders hold none, and mask folders hold images rather than XML, JSON or text."""
    folder = Path(root).expanduser()
    if not folder.is_dir():
        return False
    if child_folder(folder, ("JPEGImages",)) and _has_files(child_folder(folder, ("Annotations",)), (".xml",)):
        return True
    if _inner_devkit_folder(folder) is not None:
        return True
    if coco_files(folder) or _kitti_split_folder(folder) is not None or _supervisely_boxes(folder):
        return True
    if _box_table(folder) is not None or _split_tables(folder)[0] is not None:
        return True
    candidates = [folder, *(f for f in (child_folder(folder, s) for s in (TRAIN_SPLITS, VAL_SPLITS)) if f)]
    for split in candidates:
        images = child_folder(split, IMAGE_DIRS)
        if images is not None and _labels_for_photos(images, child_folder(split, ("labels",))):
            return True
        if split is not folder and _box_table(split) is not None:
            return True
        if _has_files(child_folder(split, XML_DIRS), (".xml",)):
            return True
        images = child_folder(split, IMAGE_DIRS) or split
        if _has_files(images, (".xml",), limit=200) and walk_images(images)[0]:
            return True
        if _xml_folders(split, LABELME_FILES) is not None or _region_boxes(region_file(split)) or side_by_side(split):
            return True
    if _darknet_folder(folder) is not None or "train" in _wider_parts(folder):
        return True
    if all((folder / name).is_file() for name in CUB_FILES):
        return True
    if _dogs_annotations(folder):
        return True  # Stanford Dogs: Annotation/<breed>/x, XML without a suffix
    if _public_set_parts(folder) is not None:
        return True  # VisDrone, DOTA, OIDv4_ToolKit, BDD100K (lucid.detect.sets)
    if _hub_boxes(folder):
        return True  # a Hugging Face set's Parquet (or Arrow) files of photos and boxes
    inner = wrapped_folder(folder)  # a download's root (README + BCCD/), read from its one folder
    return inner is not None and looks_like_detection(inner)


# --------------------------------------------------------------------------------------------
# flaws: each kind counted, named in one line


class _Tally:
    """Counts of each annotation flaw, with the first few files (or class names) that show it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.counts: dict[str, int] = {}
        self.examples: dict[str, dict[str, int]] = {}

    def add(self, kind: str, example: str | Path, count: int = 1) -> None:
        if isinstance(example, Path):
            example = _relative(self.root, example)
        self.counts[kind] = self.counts.get(kind, 0) + count
        named = self.examples.setdefault(kind, {})
        named[example] = named.get(example, 0) + count

    @classmethod
    def merged(cls, root: Path, tallies: Iterable[_Tally]) -> _Tally:
        """One tally of the counts and examples of ``tallies`` (the two splits'), in their order."""
        whole = cls(root)
        for tally in tallies:
            for kind, named in tally.examples.items():
                for example, count in named.items():
                    whole.add(kind, example, count)
        return whole

    def named(self, kind: str, show: int = 3, counts: bool = False) -> str:
        items = list(self.examples.get(kind, {}).items())
        shown = ", ".join(f"{k} ({n})" if counts else k for k, n in items[:show])
        return shown + (f" and {len(items) - show} more" if len(items) > show else "")

    def notes(self, classes: Sequence[str]) -> list[str]:
        """One line per kind of flaw found, in a fixed order."""
        lines = {
            "missing": "annotated photos are missing, skipped (annotations in {})",
            "unreadable": "photos cannot be read as images, skipped ({})",
            "duplicate": "photos are annotated twice, the second annotation skipped ({})",
            "clipped": "boxes reach past their photo's border, clipped to it (in {})",
            "degenerate": "boxes have no area (zero or negative width or height, or lie outside the photo), "
            "skipped (in {})",
            "unknown": f"boxes of classes not among the {len(classes)} class{'' if len(classes) == 1 else 'es'}, "
            "skipped: {}",
            "difficult": "boxes are marked difficult (VOC) or crowd (COCO): not trained on and ignored by the "
            "mAP, as torchvision's COCO reference does (in {})",
            "size": "annotation files state a photo size that is not the photo's; boxes are read in the photo's "
            "own pixels (in {})",
            "stored": "photos carry an EXIF rotation but their annotations state the stored size: boxes read on "
            "the stored pixels; lucid predict shows such photos upright ({})",
            "overlap": f"pairs of boxes of one class overlap at IoU >= {DUPLICATE_IOU:g}, probably drawn twice; "
            "kept, as nothing tells which is right (in {})",
            "negative": "photos have no boxes, kept as negatives (background only) ({})",
        }
        found = []
        for kind, text in lines.items():
            if self.counts.get(kind):
                found.append(
                    f"{self.root}: {self.counts[kind]} " + text.format(self.named(kind, counts=kind == "unknown"))
                )
        return found


def _relative(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


@dataclass
class _Photo:
    """An annotated photo that exists, with its size as it is read (from its header) and key (path
    below the root); ``upright``: its EXIF orientation is applied when it is decoded."""

    raw: RawImage
    key: str
    width: int
    height: int
    upright: bool = True


SHOWN_NAMES = 30  # class names listed in the data's note; a longer list ends "and N more"


def _reading(raw: RawImage, stored: tuple[int, int], orientation: int) -> tuple[tuple[int, int], bool]:
    """The size the photo is read at and whether it is turned upright: as shown, unless its
    annotation states the stored size where turning would swap width and height."""
    if orientation not in QUARTER_TURNS:
        return stored, True
    shown = shown_size(stored, orientation)
    declared = tuple(raw.declared_size) if raw.declared_size is not None else None
    if declared == stored and stored != shown:
        return stored, False
    return shown, True


def _present(images: Sequence[RawImage], root: Path, tally: _Tally, seen: set[Path]) -> list[_Photo]:
    """The photos that exist and are readable images (their header), each once; the rest counted."""
    found = []
    for raw in images:
        where = raw.source or raw.image
        if not raw.image.is_file():
            tally.add("missing", where)
            continue
        header = image_header(raw.image)
        if header is None:
            tally.add("unreadable", raw.image)
            continue
        resolved = raw.image.resolve()
        if resolved in seen:
            tally.add("duplicate", where)
            continue
        seen.add(resolved)
        size, upright = _reading(raw, *header)
        if not upright:
            tally.add("stored", raw.image)
        if raw.declared_size is not None and tuple(raw.declared_size) != tuple(size):
            tally.add("size", where)
        found.append(_Photo(raw, _relative(root, raw.image), int(size[0]), int(size[1]), upright))
    return found


@dataclass
class DetectionRecord:
    """One photo's usable boxes: ``boxes`` ``(N, 4)`` float32 ``x1 y1 x2 y2`` in the photo's pixels,
    ``labels`` ``(N,)`` int64 (1-based, 0 is background), ``iscrowd`` ``(N,)`` bool (difficult or
    crowd: not trained on, ignored by the mAP); ``key`` is the photo's path below the data root."""

    image: Path
    key: str
    height: int
    width: int
    boxes: np.ndarray
    labels: np.ndarray
    iscrowd: np.ndarray
    upright: bool = True  # decoded with its EXIF orientation applied (`_reading`)


# A box edge this many pixels past the border is the border written with rounding (YOLO's
# fractions with six decimals, COCO's floats), clipped without a note; beyond it, a real overhang.
CLIP_TOLERANCE = 0.5


def _clip(box: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = box
    return min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height)


def _overhangs(box: Sequence[float], clipped: Sequence[float]) -> bool:
    """Whether clipping moved an edge of ``box`` by more than `CLIP_TOLERANCE` pixels."""
    return any(abs(a - b) > CLIP_TOLERANCE for a, b in zip(box, clipped, strict=True))


def _count_overlaps(boxes: list[Any], labels: list[int], where: str | Path, tally: _Tally) -> None:
    """Count pairs of same-class boxes that overlap almost wholly (a box drawn twice)."""
    from torchvision.ops import box_iou

    if len(boxes) < 2:
        return
    overlap = box_iou(torch.tensor(boxes), torch.tensor(boxes)).triu(1) >= DUPLICATE_IOU
    same = torch.tensor(labels)[:, None] == torch.tensor(labels)[None, :]
    pairs = int((overlap & same).sum())
    if pairs:
        tally.add("overlap", where, pairs)


def _record(photo: _Photo, index: Mapping[str, int], tally: _Tally) -> DetectionRecord:
    """The usable boxes of one photo: unknown classes and boxes without area skipped, the rest clipped."""
    boxes, labels, crowd = [], [], []
    where = photo.raw.source or photo.raw.image
    scale = (photo.width, photo.height) * 2 if photo.raw.normalised else (1.0, 1.0, 1.0, 1.0)
    for obj in photo.raw.objects:
        if obj.name not in index:
            tally.add("unknown", repr(obj.name))
            continue
        box = tuple(v * s for v, s in zip(obj.box, scale, strict=True))
        clipped = _clip(box, photo.width, photo.height)
        if not (clipped[2] - clipped[0] > 0 and clipped[3] - clipped[1] > 0):  # NaN fails too
            tally.add("degenerate", where)
            continue
        if _overhangs(box, clipped):
            tally.add("clipped", where)
        if obj.difficult:
            tally.add("difficult", where)
        boxes.append(clipped)
        labels.append(index[obj.name])
        crowd.append(obj.difficult)
    _count_overlaps(boxes, labels, where, tally)
    if not labels:
        tally.add("negative", photo.raw.image if photo.raw.source is None else where)
    return DetectionRecord(
        photo.raw.image,
        photo.key,
        photo.height,
        photo.width,
        np.array(boxes, dtype=np.float32).reshape(-1, 4),
        np.array(labels, dtype=np.int64),
        np.array(crowd, dtype=bool),
        photo.upright,
    )


# --------------------------------------------------------------------------------------------
# the validation split


def _recorded_split(photos: list[_Photo], record: Mapping[str, Any], root: Path) -> tuple[list[_Photo], list[_Photo]]:
    """The split ``record`` lists (its validation photos by key); refused when any is gone."""
    wanted = record.get("val")
    if not isinstance(wanted, list):
        raise DataError(f"a recorded split must list its validation photos ('val'), got {dict(record)}")
    keys = {p.key for p in photos}
    gone = [k for k in wanted if k not in keys]
    if gone:
        raise DataError(
            f"--data {root}: {len(gone)} of the {len(wanted)} validation photos recorded at training are not "
            f"there (e.g. {gone[:3]}); the data changed, so the same validation set cannot be re-created"
        )
    chosen = set(wanted)
    return [p for p in photos if p.key not in chosen], [p for p in photos if p.key in chosen]


def _split(
    layout: DetectionLayout,
    train: list[_Photo],
    val: list[_Photo] | None,
    fraction: float,
    seed: int,
    record: Mapping[str, Any] | None,
) -> tuple[list[_Photo], list[_Photo], dict[str, Any]]:
    """Training and validation photos and the record that re-creates them."""
    if val is not None:
        if record is not None and record.get("kind") == "seeded":
            raise DataError(
                f"--data {layout.root}: the recorded split was drawn by seed, but the data now has split "
                f"folders ({layout.description})"
            )
        return train, val, {"kind": "given", "layout": layout.description}
    if record is not None and record.get("kind") == "seeded":
        train, val = _recorded_split(train, record, layout.root)
        return train, val, {**record, "val": [p.key for p in val]}
    if record is not None:
        raise DataError(
            f"--data {layout.root}: the recorded split used split folders ({record.get('layout')}), "
            "but the data has none now"
        )
    train, val = seeded_split(train, fraction, seed, "photo")
    return train, val, {"kind": "seeded", "val_fraction": fraction, "seed": seed, "val": [p.key for p in val]}


# --------------------------------------------------------------------------------------------
# data sets


class DetectionDataset(Dataset):
    """Photos with boxes. An item is ``(image, target)``: ``image`` uint8 ``(3, S, S)`` after
    ``transform`` (which ends with the square resize), ``target`` a dict of ``boxes``
    (``tv_tensors.BoundingBoxes`` XYXY float32 in the resized image's pixels), ``labels`` (int64,
    1-based), ``image_id`` (the item's index) and ``orig_size`` ``(height, width)`` of the photo.

    Difficult/crowd boxes are not in ``target``; `ground_truth` gives every box in the
    photo's own pixels, for the mAP.

    ``decode_side``: JPEGs whose shorter side is at least twice that are decoded at a half, a
    quarter or an eighth of their size, keeping that side at ``decode_side`` or more
    (`lucid.preprocessing.open_image`), and their boxes scaled with them. The transform shrinks
    every photo to the model's input anyway, so a 12-megapixel phone photo need not be decoded
    and resized at its full size.

    ``resized_to``: the transform is deterministic and gives ``resized_to`` x ``resized_to``
    images (validation's `eval_transform`), so `keep_decoded` keeps a photo larger than that
    already transformed: fewer bytes, and no resize each epoch.
    """

    def __init__(
        self,
        records: Sequence[DetectionRecord],
        transform: Any,
        classes: Sequence[str],
        decode_side: int | None = None,
        resized_to: int | None = None,
    ) -> None:
        self.records = list(records)
        self.transform = transform
        self.classes = list(classes)
        self.decode_side = decode_side
        self.resized_to = resized_to
        # (image, boxes, labels) of the photos `keep_decoded` kept, by index: decoded, or already
        # transformed for the indices in `transformed`; the others decode on each `load`.
        self.decoded: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.transformed: set[int] = set()

    def __len__(self) -> int:
        return len(self.records)

    def decoded_bytes(self, indices: Sequence[int]) -> int:
        """The bytes the photos ``indices`` take kept by `keep_decoded`: 3 a pixel at the size they
        decode at (a JPEG reduced by ``decode_side`` as `lucid.preprocessing.open_image` reduces
        it, read from its header), or at ``resized_to`` squared where that is less."""
        return sum(3 * self._kept_pixels(i) for i in indices)

    def _kept_pixels(self, index: int) -> int:
        """The pixels photo ``index`` takes kept: decoded, or transformed where that is fewer."""
        from lucid.preprocessing import decoded_size

        record = self.records[index]
        reduced = self.decode_side is not None and min(record.height, record.width) >= 2 * self.decode_side
        size = decoded_size(record.image, min_side=self.decode_side) if reduced else None  # else it decodes whole
        pixels = size[0] * size[1] if size is not None else record.height * record.width
        return pixels if self.resized_to is None else min(pixels, self.resized_to**2)

    def keep_decoded(
        self, indices: Sequence[int], *, progress: bool = True, desc: str = "decoding", workers: int | None = None
    ) -> None:
        """Decode the photos ``indices`` once (in forked loader processes, `lucid.data.load_each`)
        and keep them, with their boxes, in memory (those larger than ``resized_to`` already
        transformed): an epoch then decodes nothing. Raises `DataError` naming the photos that do
        not read."""
        from lucid.data.datasets import load_each

        indices = list(indices)
        decoded = load_each(
            self._keep,
            indices,
            progress=progress,
            desc=desc,
            workers=workers,
            what="photo(s) could not be read",
        )
        for index, (image, boxes, labels, transformed) in zip(indices, decoded, strict=True):
            self.decoded[index] = (image, boxes, labels)
            if transformed:
                self.transformed.add(index)

    def load(self, index: int) -> tuple[Any, dict[str, Any]]:
        """The untransformed ``(tv_tensors.Image, {"boxes", "labels"})`` of a photo, crowd boxes left out."""
        kept = self.decoded.get(index) if index not in self.transformed else None
        return _item(*(kept if kept is not None else self._decode(index)))

    def _keep(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
        """Photo ``index`` as `keep_decoded` keeps it: decoded (uint8 image, boxes XYXY float32,
        labels), transformed first where ``resized_to`` is smaller, and whether it was."""
        image, boxes, labels = self._decode(index)
        size = self.resized_to
        if size is None or self.transform is None or size * size >= image.shape[-2] * image.shape[-1]:
            return image, boxes, labels, False
        out, target = self.transform(*_item(image, boxes, labels))
        moved = target["boxes"].as_subclass(torch.Tensor).to(torch.float32)
        return out.as_subclass(torch.Tensor), moved, target["labels"], True

    def _decode(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Photo ``index`` decoded: uint8 ``(3, H, W)``, its boxes (XYXY float32, in the decoded
        pixels) and labels, crowd boxes left out."""
        from torchvision.transforms.v2 import functional as F

        from lucid.preprocessing import open_image

        record = self.records[index]
        image = F.pil_to_tensor(open_image(record.image, exif=record.upright, min_side=self.decode_side))
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1).contiguous()
        height, width = (int(n) for n in image.shape[-2:])
        if (height, width) not in _decoded_sizes(record.height, record.width, reduced=self.decode_side is not None):
            raise DataError(
                f"{record.image}: decoded as {width}x{height} but its header said "
                f"{record.width}x{record.height} (width x height)"
            )
        keep = torch.from_numpy(~record.iscrowd)
        scale = torch.tensor([width / record.width, height / record.height] * 2, dtype=torch.float32)
        return image, torch.from_numpy(record.boxes)[keep] * scale, torch.from_numpy(record.labels)[keep]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        if index in self.transformed:
            image, target = _item(*self.decoded[index])
        else:
            image, target = self.load(index)
            if self.transform is not None:
                image, target = self.transform(image, target)
        record = self.records[index]
        target["boxes"] = target["boxes"].to(torch.float32)
        target["image_id"] = index
        target["orig_size"] = (record.height, record.width)
        return image.as_subclass(torch.Tensor), target

    def ground_truth(self, index: int) -> dict[str, Any]:
        """Every box of item ``index`` in the photo's own pixels: ``boxes`` float32 ``(N, 4)`` XYXY,
        ``labels`` int64 (1-based), ``iscrowd`` bool (ignored by the mAP), ``image_id``, ``orig_size``."""
        record = self.records[index]
        return {
            "boxes": torch.from_numpy(record.boxes.copy()),
            "labels": torch.from_numpy(record.labels.copy()),
            "iscrowd": torch.from_numpy(record.iscrowd.copy()),
            "image_id": index,
            "orig_size": (record.height, record.width),
        }


def _item(image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor) -> tuple[Any, dict[str, Any]]:
    """``(tv_tensors.Image, {"boxes", "labels"})`` of a decoded photo and its boxes."""
    from torchvision import tv_tensors

    height, width = (int(n) for n in image.shape[-2:])
    boxes = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(height, width))
    return tv_tensors.Image(image), {"boxes": boxes, "labels": labels}


def _decoded_sizes(height: int, width: int, reduced: bool) -> set[tuple[int, int]]:
    """The ``(height, width)`` a photo of that header size may decode to: its own, and when a
    reduced decoding was asked for, a half, a quarter or an eighth of it (rounded up, as a JPEG's
    scaled decoding rounds)."""
    return {(height, width)} | ({(-(-height // k), -(-width // k)) for k in (2, 4, 8)} if reduced else set())


def detection_collate(
    batch: Sequence[tuple[torch.Tensor, dict[str, Any]]],
) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """``(images uint8 (N, 3, S, S), [target, ...])``: images of one size stack, box counts differ."""
    if not batch:
        raise DataError("detection_collate: an empty batch")
    shapes = {tuple(image.shape) for image, _ in batch}
    if len(shapes) > 1:
        raise DataError(f"detection_collate: images of one size were expected, got {sorted(shapes)}")
    return torch.stack([image.as_subclass(torch.Tensor) for image, _ in batch]), [target for _, target in batch]


@dataclass
class DetectionDataInfo:
    """What training and evaluation need to know about the data: its layout, classes (no
    background: label ``i`` is ``classes[i - 1]``), sizes, notes, and ``split``: the record that
    re-creates the validation set (for a seeded split, the list of validation photos)."""

    root: str
    layout: str
    classes: list[str]
    train_images: int
    val_images: int
    notes: list[str] = field(default_factory=list)
    image_size: int = 320
    description: str = ""
    split: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Classes plus the background, the count torchvision's SSD head is built for."""
        return len(self.classes) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "layout": self.layout,
            "classes": list(self.classes),
            "train_images": self.train_images,
            "val_images": self.val_images,
            "notes": list(self.notes),
            "image_size": self.image_size,
            "description": self.description,
            "split": dict(self.split),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DetectionDataInfo:
        try:
            return cls(
                str(data["root"]),
                str(data["layout"]),
                [str(c) for c in data["classes"]],
                int(data["train_images"]),
                int(data["val_images"]),
                [str(n) for n in data.get("notes", [])],
                int(data.get("image_size", 320)),
                str(data.get("description", "")),
                dict(data.get("split", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"not a detection data record ({type(exc).__name__}: {exc})") from None


def _classes(given: Sequence[str] | None, layout: DetectionLayout, train: list[_Photo]) -> tuple[list[str], str]:
    """The class names and where they came from: given > the data's (COCO's categories, YOLO's
    names, Supervisely's meta.json) > the training annotations'."""
    if given is not None:
        names, source = [str(c) for c in given], "given"
    elif layout.classes is not None:
        names, source = list(layout.classes), DECLARED_CLASSES.get(layout.name, f"the {layout.name} data")
    else:
        names = sorted({obj.name for photo in train for obj in photo.raw.objects})
        source = "the training annotations"
    if not names:
        raise DataError(f"--data {layout.root}: no class names and no boxes in the training photos")
    if len(set(names)) != len(names):
        raise DataError(f"class names must be unique, got {names}")
    return names, source


def detection_datasets(
    root: str | os.PathLike[str],
    *,
    image_size: int = 320,
    val_fraction: float = 0.2,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    split: Mapping[str, Any] | None = None,
    scoring_only: bool = False,
) -> tuple[DetectionDataset, DetectionDataset, DetectionDataInfo]:
    """The training set (SSD augmentation), the validation set (resize only) and their description.

    ``split`` re-creates a recorded split: `DetectionDataInfo.to_dict` (whose classes are
    then used unless ``classes`` is given) or its ``split`` entry. Without split folders and
    without a record, a seeded ``val_fraction`` of the photos validates. ``scoring_only``: only
    the validation photos are used (``lucid eval``), so the notes name flaws found in them alone;
    a training split's duplicate boxes are no concern of a score.
    """
    size = check_image_size(image_size)
    record: Mapping[str, Any] | None = None
    if split is not None:
        record, classes = _split_record(split, classes)
    layout = find_detection_layout(root)
    # One tally per split: a seeded split's photos are all counted as the training split's
    # while they are checked, since the split is drawn from the photos that are there.
    train_tally, val_tally, seen = _Tally(layout.root), _Tally(layout.root), set[Path]()
    train = _present(layout.train, layout.root, train_tally, seen)
    val = None if layout.val is None else _present(layout.val, layout.root, val_tally, seen)
    train, val, split_record = _split(layout, train, val, val_fraction, seed, record)
    names, source = _classes(classes, layout, train)
    own = list(layout.classes) if classes is not None and layout.classes is not None else names
    index = {name: i for i, name in enumerate(names, 1)}
    train_records = [_record(p, index, train_tally) for p in train]
    val_records = [_record(p, index, val_tally) for p in val]
    tally = val_tally if scoring_only else _Tally.merged(layout.root, (train_tally, val_tally))
    if not any(len(r.labels) for r in train_records):
        hint = "" if set(own) & set(names) else f" (the data's classes {', '.join(own)}; given {', '.join(names)})"
        raise DataError(f"--data {layout.root}: no usable boxes in the {len(train_records)} training photos{hint}")
    if not val_records:
        raise DataError(f"--data {layout.root}: no usable validation photos")
    notes = [f"{layout.root}: {layout.description}: {len(train)} photos train, {len(val)} validate"]
    notes += _class_notes(layout.root, names, source, own) + layout.notes + tally.notes(names)
    info = DetectionDataInfo(  # the root resolved: a checkpoint's record must name the data from any folder
        str(layout.root.resolve()),
        layout.name,
        names,
        len(train),
        len(val),
        notes,
        size,
        layout.description,
        split_record,
    )
    return (
        # Training crops may keep IOU_CROP_MIN_SCALE of each side, so the photo keeps the input's
        # pixels there. Validation decodes whole, as `lucid predict` and every export's Predictor
        # do (`lucid.preprocessing.open_image`), so eval and predict see one input per photo.
        DetectionDataset(train_records, train_transform(size), names, math.ceil(size / IOU_CROP_MIN_SCALE)),
        DetectionDataset(val_records, eval_transform(size), names, resized_to=size),
        info,
    )


def _split_record(
    split: Mapping[str, Any], classes: Sequence[str] | None
) -> tuple[Mapping[str, Any], Sequence[str] | None]:
    """The split record inside ``split`` (a `DetectionDataInfo.to_dict` or its ``split`` entry),
    and the classes to use: ``classes`` when given, else the record's."""
    inner = split.get("split")
    record: Mapping[str, Any] = inner if isinstance(inner, Mapping) else split
    if classes is None and isinstance(split.get("classes"), list):
        classes = split["classes"]
    return record, classes


def _class_notes(root: Path, names: list[str], source: str, own: list[str]) -> list[str]:
    """The run's lines about its classes: how many, from where, the first `SHOWN_NAMES`, and
    how the data's own list (``own``) maps onto ``names`` when it differs."""
    more = len(names) - SHOWN_NAMES
    listed = ", ".join(names[:SHOWN_NAMES]) + (f" and {more} more" if more > 0 else "")
    notes = [f"{len(names)} class{'es' if len(names) != 1 else ''} (from {source}): {listed}"]
    if own != names:  # e.g. lucid eval of a checkpoint on a folder that lists its classes otherwise
        notes.append(
            f"{root}: the data lists its classes as {', '.join(own)}; its boxes are matched by name to the "
            f"{len(names)} classes given ({', '.join(names)}), which name the results"
        )
    return notes

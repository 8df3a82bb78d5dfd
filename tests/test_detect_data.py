"""lucid.detect.data and transforms: every layout, every annotation flaw, the recorded split, the
SSD recipe keeping boxes on their pixels, collate. All data is written here: tiny photos by
Pillow, VOC XML, COCO JSON, YOLO text, CSV tables, LabelMe, KITTI, Supervisely, VIA and Create ML
files by the tests."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision import tv_tensors

from lucid.detect import (
    LAYOUT_HELP,
    SSD_FILL,
    DetectionDataInfo,
    IoUCrop,
    ZoomCropResize,
    detection_collate,
    detection_datasets,
    eval_transform,
    find_detection_layout,
    looks_like_detection,
    train_transform,
)
from lucid.errors import DataError

W, H = 40, 30  # every photo's size (width, height)
Obj = tuple  # (name, x1, y1, x2, y2) or (name, x1, y1, x2, y2, difficult)


def photo(path: Path, box: Sequence[int] | None = None, size: tuple[int, int] = (W, H)) -> Path:
    """A black photo (JPEG or PNG by suffix) with a white rectangle ``x1 y1 x2 y2``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size)
    if box is not None:
        image.paste((255, 255, 255), tuple(box))
    image.save(path)
    return path


def voc_xml(path: Path, filename: str, objects: Sequence[Obj], size: tuple[int, int] = (W, H)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [
        f"<annotation><filename>{filename}</filename><size><width>{size[0]}</width><height>{size[1]}</height>"
        "<depth>3</depth></size>"
    ]
    for name, x1, y1, x2, y2, *flag in objects:
        difficult = int(bool(flag and flag[0]))
        parts.append(
            f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox><xmin>{x1}</xmin>"
            f"<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        )
    path.write_text("".join(parts) + "</annotation>", encoding="utf-8")
    return path


def voc_devkit(root: Path, photos: dict[str, Sequence[Obj]], lists: dict[str, Sequence[str]]) -> Path:
    for key, objects in photos.items():
        photo(root / "JPEGImages" / f"{key}.jpg")
        voc_xml(root / "Annotations" / f"{key}.xml", f"{key}.jpg", objects)
    for name, ids in lists.items():
        (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / "Main" / f"{name}.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
    return root


def cats_and_dogs(count: int = 6) -> dict[str, list[Obj]]:
    return {f"p{i}": [("dog" if i % 2 else "cat", 2, 3, 20, 25)] for i in range(count)}


def coco_json(
    path: Path,
    files: Sequence[str],
    categories: dict[int, str],
    boxes: Sequence[tuple[int, int, list]],
    supercategory: str = "none",
) -> Path:
    """``boxes``: (image index, category id, [x, y, w, h])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "images": [{"id": i + 1, "file_name": f, "width": W, "height": H} for i, f in enumerate(files)],
        "categories": [{"id": k, "name": v, "supercategory": supercategory} for k, v in categories.items()],
        "annotations": [
            {"id": n + 1, "image_id": i + 1, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
            for n, (i, c, b) in enumerate(boxes)
        ],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def yolo_split(images: Path, labels: Path, lines: dict[str, str]) -> None:
    for key, text in lines.items():
        photo(images / f"{key}.jpg")
        labels.mkdir(parents=True, exist_ok=True)
        (labels / f"{key}.txt").write_text(text, encoding="utf-8")


def note(info: DetectionDataInfo, *words: str) -> str:
    """The one note holding every word, failing the test when none or several do."""
    found = [n for n in info.notes if all(w in n for w in words)]
    assert len(found) == 1, (words, info.notes)
    return found[0]


# --------------------------------------------------------------------------------------------
# layouts


def test_voc_devkit_train_val_lists(tmp_path: Path) -> None:
    root = voc_devkit(tmp_path, cats_and_dogs(), {"train": ["p0", "p1", "p2", "p3"], "val": ["p4", "p5"]})
    train, val, info = detection_datasets(root, image_size=64)
    assert (info.layout, info.classes, len(train), len(val)) == ("voc", ["cat", "dog"], 4, 2)
    assert info.split["kind"] == "given"
    assert looks_like_detection(root)


def test_voc_test_list_validates_with_a_note(tmp_path: Path) -> None:
    root = voc_devkit(tmp_path, cats_and_dogs(), {"train": ["p0", "p1", "p2", "p3"], "test": ["p4", "p5"]})
    _, val, info = detection_datasets(root, image_size=64)
    assert len(val) == 2
    note(info, "test.txt is used as the validation split")


@pytest.mark.parametrize(
    ("lists", "train_count", "described"),
    [
        ({"val": ["p4", "p5"]}, 4, "the other annotations less val.txt (4) + val.txt (2)"),
        ({"trainval": [f"p{i}" for i in range(6)], "val": ["p4", "p5"]}, 4, "trainval.txt less val.txt (4)"),
        ({"trainval": ["p0", "p1", "p2"], "test": ["p4", "p5"]}, 3, "trainval.txt less test.txt (3) + test.txt (2)"),
    ],
)
def test_voc_validation_list_without_train_txt_is_the_validation_split(
    tmp_path: Path, lists: dict[str, list[str]], train_count: int, described: str
) -> None:
    """Found: a VOC folder whose ImageSets/Main has val.txt (a test split's ids, as `lucid eval`
    gets them) but no train.txt ignored val.txt and split every annotation by seed. The list
    now validates; trainval.txt, or every other annotation, trains."""
    root = voc_devkit(tmp_path, cats_and_dogs(), lists)
    train, val, info = detection_datasets(root, image_size=64)
    assert sorted(Path(r.key).stem for r in val.records) == ["p4", "p5"] and len(train) == train_count
    assert described in info.description and info.split["kind"] == "given"


def test_voc_trainval_only_is_split_by_seed_and_recorded(tmp_path: Path) -> None:
    root = voc_devkit(tmp_path, cats_and_dogs(10), {"trainval": [f"p{i}" for i in range(10)]})
    _, val, info = detection_datasets(root, image_size=64, val_fraction=0.3, seed=1)
    keys = [r.key for r in val.records]
    assert len(keys) == 3 and info.split["val"] == keys and info.split["kind"] == "seeded"
    again = detection_datasets(root, image_size=64, val_fraction=0.3, seed=1)[1]
    assert [r.key for r in again.records] == keys
    record = json.loads(json.dumps(info.to_dict()))  # what a checkpoint stores
    restored = detection_datasets(root, image_size=64, val_fraction=0.5, seed=99, split=record)
    assert [r.key for r in restored[1].records] == keys and restored[2].classes == info.classes
    assert DetectionDataInfo.from_dict(record) == info
    (root / "JPEGImages" / Path(keys[0]).name).unlink()
    with pytest.raises(DataError, match="the data changed"):
        detection_datasets(root, image_size=64, split=record)


def test_voc_xml_beside_photos_in_split_folders(tmp_path: Path) -> None:
    for split, keys in (("train", "abcd"), ("valid", "ef")):
        for key in keys:
            photo(tmp_path / split / "images" / f"{key}.png")
            voc_xml(tmp_path / split / "annots" / f"{key}.xml", f"{key}.png", [("cell", 1, 1, 9, 9)])
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("voc-xml", ["cell"], 4, 2)
    assert looks_like_detection(tmp_path)


def test_voc_xml_beside_photos_in_unpacked_kaggle_archives(tmp_path: Path) -> None:
    """Kaggle's fruit detection set unpacked in place: ``train_zip/train/`` + ``test_zip/test/``, each
    photo beside its VOC XML: the test split validates (before: both pooled and split by seed)."""
    for split, keys in (("train", "abcd"), ("test", "ef")):
        for key in keys:
            photo(tmp_path / f"{split}_zip" / split / f"{key}.jpg")
            voc_xml(tmp_path / f"{split}_zip" / split / f"{key}.xml", f"{key}.jpg", [("apple", 1, 1, 9, 9)])
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, len(train), len(val)) == ("voc-xml", 4, 2)


def test_voc_xml_next_to_each_photo_split_by_seed(tmp_path: Path) -> None:
    for key in "abcde":
        photo(tmp_path / f"{key}.jpg")
        voc_xml(tmp_path / f"{key}.xml", f"{key}.jpg", [("cell", 1, 1, 9, 9)])
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, len(train), len(val)) == ("voc-xml", 4, 1)


def test_a_voc_folder_beside_loose_files_is_read_before_a_csv_beside_it(tmp_path: Path) -> None:
    """The BCCD_Dataset repository: ``BCCD/`` (Pascal VOC) beside ``example.jpg``, scripts and the
    ``test.csv`` its script exported. The VOC folder and its lists are the data (said); the CSV
    beside it is not read as the one box table."""
    root = tmp_path / "BCCD_Dataset"
    voc_devkit(root / "BCCD", cats_and_dogs(6), {"train": ["p0", "p1", "p2", "p3"], "val": ["p4", "p5"]})
    photo(root / "example.jpg")
    (root / "export.py").write_text("print()")
    _box_table(root / "test.csv", "filename,cell_type,xmin,xmax,ymin,ymax", ["p0.jpg,cat,2,20,3,25"])
    assert looks_like_detection(root)
    train, val, info = detection_datasets(root, image_size=32)
    assert (info.layout, len(train), len(val)) == ("voc", 4, 2)
    assert (
        note(info, "Pascal VOC folder")
        == f"{root}: reading the Pascal VOC folder BCCD/ (the files beside it are not used)"
    )


def test_xml_in_a_folder_below_annotations_finds_its_photo_by_name(tmp_path: Path) -> None:
    """Oxford-IIIT Pet: ``images/x.jpg`` + ``annotations/xmls/x.xml`` (head boxes for the training
    photos only, beside ``trimaps/``): each XML finds its photo by the file name it states, and
    only the photos no XML found are negatives (not "annotated twice")."""
    for key in ("Abyssinian_1", "Abyssinian_2", "beagle_1", "beagle_2", "beagle_3"):
        photo(tmp_path / "images" / f"{key}.jpg")
    for key in ("Abyssinian_1", "beagle_1", "beagle_2"):
        voc_xml(tmp_path / "annotations" / "xmls" / f"{key}.xml", f"{key}.jpg", [("dog", 2, 3, 20, 25)])
    train, val, info = detection_datasets(tmp_path, image_size=32, val_fraction=0.2)
    assert (info.layout, len(train) + len(val)) == ("voc-xml", 5)
    assert (
        sum(len(train.ground_truth(i)["boxes"]) for i in range(len(train)))
        + sum(len(val.ground_truth(i)["boxes"]) for i in range(len(val)))
        == 3
    )
    assert "2 photos have no boxes" in note(info, "no boxes")
    assert not [n for n in info.notes if "annotated twice" in n]


def test_coco_instances_files(tmp_path: Path) -> None:
    categories = {3: "bus", 7: "car"}
    for split, files in (("train2017", ["a.jpg", "b.jpg", "c.jpg"]), ("val2017", ["d.jpg"])):
        for f in files:
            photo(tmp_path / split / f)
        boxes = [(i, 3 + 4 * (i % 2), [2, 3, 10, 5]) for i in range(len(files))]
        coco_json(tmp_path / "annotations" / f"instances_{split}.json", files, categories, boxes)
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("coco", ["bus", "car"], 3, 1)
    truth = train.ground_truth(1)
    assert truth["boxes"].tolist() == [[2.0, 3.0, 12.0, 8.0]] and truth["labels"].tolist() == [2]
    assert looks_like_detection(tmp_path)


def test_lvis_files_name_their_coco_photos_by_url(tmp_path: Path) -> None:
    """LVIS v1 (``lvis_v1_train.json`` + ``lvis_v1_val.json`` beside COCO's ``train2017/`` and
    ``val2017/``): its images name no ``file_name``, only the ``coco_url`` of the COCO photo, whose
    folder says where it is (a validation photo from ``train2017/`` too). Each box is read; the
    outlines draw masks for segmentation alike. Before: "no box annotations found"."""
    from lucid.segment.data import find_layout as segmentation_layout

    categories = {1: "aerosol_can", 2: "air_conditioner"}
    places = {"train": ["train2017/a.jpg", "train2017/b.jpg"], "val": ["val2017/c.jpg", "train2017/d.jpg"]}
    for split, files in places.items():
        for f in files:
            photo(tmp_path / f)
        boxes = [(i, 1 + i % 2, [2, 3, 10, 5]) for i in range(len(files))]
        path = coco_json(tmp_path / "annotations" / f"lvis_v1_{split}.json", files, categories, boxes)
        data = json.loads(path.read_text())
        for image, name in zip(data["images"], files, strict=True):
            del image["file_name"]
            image["coco_url"] = f"http://images.cocodataset.org/{name}"
        for ann in data["annotations"]:
            x, y, w, h = ann["bbox"]
            ann["segmentation"] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
        path.write_text(json.dumps(data))
    assert looks_like_detection(tmp_path)
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("coco", ["aerosol_can", "air_conditioner"], 2, 2)
    assert [r.image.relative_to(tmp_path).as_posix() for r in val.records] == places["val"]
    assert val.ground_truth(1)["boxes"].tolist() == [[2.0, 3.0, 12.0, 8.0]]
    layout = segmentation_layout(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p, _ in layout.val] == places["val"]


def test_roboflow_coco_drops_the_dataset_name_category(tmp_path: Path) -> None:
    categories = {0: "cells", 1: "rbc", 2: "wbc"}
    for split, files in (("train", ["a.jpg", "b.jpg"]), ("valid", ["c.jpg"])):
        for f in files:
            photo(tmp_path / split / f)
        boxes = [(i, 1 + i % 2, [1, 1, 5, 5]) for i in range(len(files))]
        coco_json(tmp_path / split / "_annotations.coco.json", files, categories, boxes, supercategory="cells")
    _, _, info = detection_datasets(tmp_path, image_size=32)
    assert info.classes == ["rbc", "wbc"]
    note(info, "cells", "supercategory")


def test_yolo_flat_with_classes_txt(tmp_path: Path) -> None:
    yolo_split(tmp_path / "images", tmp_path / "labels", {f"p{i}": "0 0.5 0.5 0.5 0.4\n" for i in range(5)})
    (tmp_path / "classes.txt").write_text("leaf\n", encoding="utf-8")
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("yolo", ["leaf"], 4, 1)
    assert val.ground_truth(0)["boxes"].tolist() == [[10.0, 9.0, 30.0, 21.0]]  # 0.5*40 +- 0.25*40 ...
    assert looks_like_detection(tmp_path)


def test_yolo_splits_inside_with_yaml_dict_names(tmp_path: Path) -> None:
    for split in ("train", "val"):
        yolo_split(
            tmp_path / "images" / split, tmp_path / "labels" / split, {f"{split}{i}": "1 .5 .5 .2 .2" for i in range(2)}
        )
    (tmp_path / "data.yaml").write_text("names:\n  0: person\n  1: bike\n", encoding="utf-8")
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.classes, len(train), len(val)) == (["person", "bike"], 2, 2)
    assert train[0][1]["labels"].tolist() == [2]


def test_roboflow_yolo_with_yaml_list(tmp_path: Path) -> None:
    for split in ("train", "valid", "test"):
        yolo_split(tmp_path / split / "images", tmp_path / split / "labels", {f"{split}0": "0 .5 .5 .2 .2"})
    (tmp_path / "data.yaml").write_text("train: ../train/images\nnc: 1\nnames: ['fish']\n", encoding="utf-8")
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("yolo", ["fish"], 1, 1)
    note(info, "valid/ is the validation split; test/ is not used")


def test_yolo_split_folders_named_with_a_year_are_splits(tmp_path: Path) -> None:
    """Ultralytics' COCO layout: ``images/train2017`` + ``images/val2017`` and ``labels/`` alike.
    Before, ``val2017`` was no split name, so its photos were pooled with the training ones and a
    seeded share validated. A class named with a year (``class2017``) is no split."""
    from lucid.data import split_role

    for split, count in (("train2017", 3), ("val2017", 2)):
        yolo_split(
            tmp_path / "images" / split,
            tmp_path / "labels" / split,
            {f"{split}_{i}": "0 .5 .5 .2 .2\n" for i in range(count)},
        )
    (tmp_path / "data.yaml").write_text("names: ['leaf']\n")
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (len(train), len(val)) == (3, 2) and all("val2017" in str(r.image) for r in val.records)
    assert [split_role(n) for n in ("train2017", "val2014", "test2015", "class2017", "2017")] == [
        "train",
        "val",
        "test",
        None,
        None,
    ]


def test_train_folder_without_val_is_split_by_seed(tmp_path: Path) -> None:
    yolo_split(
        tmp_path / "train" / "images", tmp_path / "train" / "labels", {f"p{i}": "0 .5 .5 .2 .2" for i in range(5)}
    )
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, len(train), len(val), info.classes) == ("yolo", 4, 1, ["class_0"])
    note(info, "no val/", "seeded")
    note(info, "no data.yaml or classes.txt")


def test_darknet_pairs_split_by_its_lists_of_photo_paths(tmp_path: Path) -> None:
    """AlexeyAB's darknet layout: ``data/obj/x.jpg`` + ``x.txt`` beside ``obj.names``, ``obj.data``
    and ``train.txt`` + ``valid.txt`` listing photo paths of darknet's own machine: the lists
    split the pairs (by file name), obj.names names the classes, a photo without a text file is
    a negative, and a README beside the pairs is not labels."""
    data = tmp_path / "darknet" / "data"
    for i in range(6):
        photo(data / "obj" / f"p{i}.jpg", (2, 3, 20, 25))
        if i:
            (data / "obj" / f"p{i}.txt").write_text(f"{i % 2} 0.275 0.467 0.45 0.733\n")
    (data / "obj" / "README.txt").write_text("labelled by hand\n")
    (data / "obj.names").write_text("cell\nplatelet\n")
    (data / "obj.data").write_text("classes = 2\ntrain = data/train.txt\nnames = data/obj.names\n")
    (data / "train.txt").write_text("".join(f"/content/darknet/data/obj/p{i}.jpg\n" for i in range(4)))
    (data / "valid.txt").write_text("data/obj/p4.jpg\n")
    assert looks_like_detection(tmp_path / "darknet")
    train, val, info = detection_datasets(tmp_path / "darknet", image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("yolo", ["cell", "platelet"], 4, 1)
    assert "YOLO darknet: obj/ by train.txt + valid.txt" in note(info, "YOLO darknet")
    assert "1 photos of obj/ are in no list" in note(info, "no list")
    boxes = [r.boxes.tolist() for r in train.records]
    assert boxes[0] == [] and all(len(b) == 1 and b[0] == pytest.approx([2, 3, 20, 25], abs=0.02) for b in boxes[1:])
    assert [r.labels.tolist() for r in train.records] == [[], [2], [1], [2]]


def test_yolo_labels_beside_their_photos_in_split_folders_or_one_folder(tmp_path: Path) -> None:
    """Roboflow's "YOLO Darknet" export (``train/`` + ``valid/``, each ``x.jpg`` + ``x.txt`` and
    ``_darknet.labels``) and labelImg's YOLO files (``x.jpg`` + ``x.txt`` + ``classes.txt`` in one
    folder, split by seed); photos with captions in text files beside them are not detection data."""
    for split, count in (("train", 3), ("valid", 2)):
        for i in range(count):
            photo(tmp_path / "roboflow" / split / f"p{i}.jpg")
            (tmp_path / "roboflow" / split / f"p{i}.txt").write_text("0 0.5 0.5 0.25 0.25\n")
        (tmp_path / "roboflow" / split / "_darknet.labels").write_text("wheat\n")
    train, val, info = detection_datasets(tmp_path / "roboflow", image_size=32)
    assert (info.classes, len(train), len(val)) == (["wheat"], 3, 2)
    assert train.records[0].boxes.tolist() == [[15, 11.25, 25, 18.75]]
    for i in range(5):
        photo(tmp_path / "labelimg" / f"p{i}.jpg")
        (tmp_path / "labelimg" / f"p{i}.txt").write_text("1 0.5 0.5 0.25 0.25\n")
    (tmp_path / "labelimg" / "classes.txt").write_text("dog\ncat\n")
    train, val, info = detection_datasets(tmp_path / "labelimg", image_size=32, val_fraction=0.2)
    assert (info.classes, len(train), len(val)) == (["dog", "cat"], 4, 1)
    for i in range(5):
        photo(tmp_path / "captions" / f"p{i}.jpg")
        (tmp_path / "captions" / f"p{i}.txt").write_text("a black square on a white ground\n")
    assert not looks_like_detection(tmp_path / "captions")


def test_wider_face_box_files_and_their_image_folders(tmp_path: Path) -> None:
    """WIDER FACE as downloaded (Kaggle's copy nests ``WIDER_train/WIDER_train/images/``): each
    photo's path, its number of faces, one ``x y w h blur expression illumination invalid
    occlusion pose`` line per face (a line of zeros for none); invalid faces are difficult, the
    val files validate. A file that breaks the pattern is refused naming its line."""
    lines = {"train": [], "val": []}
    for role, count in (("train", 4), ("val", 2)):
        for i in range(count):
            photo(tmp_path / f"WIDER_{role}" / f"WIDER_{role}" / "images" / "0--Parade" / f"{role}{i}.jpg")
            faces = [f"2 3 18 22 0 0 0 {int(i == 1)} 0 0 "] if i else ["0 0 0 0 0 0 0 0 0 0 "]
            lines[role] += [f"0--Parade/{role}{i}.jpg", str(int(i > 0)), *faces]
    (tmp_path / "wider_face_split").mkdir()
    for role, text in lines.items():
        (tmp_path / "wider_face_split" / f"wider_face_{role}_bbx_gt.txt").write_text("\n".join(text) + "\n")
    assert looks_like_detection(tmp_path)
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("wider", ["face"], 4, 2)
    assert sorted(r.boxes.tolist() for r in train.records) == [[], *[[[2, 3, 20, 25]]] * 3]
    assert "2 boxes are marked difficult" in note(info, "difficult")  # one per split
    (tmp_path / "wider_face_split" / "wider_face_train_bbx_gt.txt").write_text("0--Parade/train0.jpg\nthree\n")
    with pytest.raises(DataError, match=r"wider_face_train_bbx_gt\.txt:1: expected a photo's path, its number"):
        detection_datasets(tmp_path)


def _box_table(path: Path, header: str, rows: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_roboflow_csv_tables_beside_their_photos(tmp_path: Path) -> None:
    """Roboflow's "Tensorflow Object Detection CSV": train/ + valid/, each with _annotations.csv
    (one row per box, the photo's size stated) beside its photos; a photo the table does not list
    is not used, and said."""
    header = "filename,width,height,class,xmin,ymin,xmax,ymax"
    rows = {"train": [], "valid": []}
    for i in range(6):
        split = "train" if i < 4 else "valid"
        photo(tmp_path / split / f"p{i}.jpg", (2, 3, 20, 25))
        name = "dog" if i % 2 else "cat"
        rows[split] += [f"p{i}.jpg,{W},{H},{name},2,3,20,25", f"p{i}.jpg,{W},{H},{name},22,5,38,28"]
    for split in rows:
        _box_table(tmp_path / split / "_annotations.csv", header, rows[split])
    photo(tmp_path / "train" / "unlisted.jpg")
    assert looks_like_detection(tmp_path)
    train, val, info = detection_datasets(tmp_path, image_size=64)
    assert (info.layout, info.classes, len(train), len(val)) == ("csv", ["cat", "dog"], 4, 2)
    assert (
        note(info, "1 photos are in no box table") == f"{tmp_path}: 1 photos are in no box table, so they are not used"
    )
    assert train.records[0].boxes.tolist() == [[2, 3, 20, 25], [22, 5, 38, 28]]


def test_kaggle_csv_tables_by_split_and_one_table_split_by_seed(tmp_path: Path) -> None:
    """Kaggle's blood cells: train.csv + test.csv at the root (columns in their own order, photo
    names without a folder) and the photos in images/; one table alone is split by seed. A row
    whose box is not numbers is refused, naming the file and line; a table of labels without
    boxes is nobody's detection data."""
    root = tmp_path / "kaggle"
    header = "cell_type,filename,xmin,xmax,ymin,ymax"
    for i in range(6):
        photo(root / "images" / f"BloodImage_{i:05d}.jpg", (2, 3, 20, 25))
    train = [f"{'WBC' if i % 2 else 'RBC'},BloodImage_{i:05d}.jpg,2,20,3,25" for i in range(4)]
    _box_table(root / "train.csv", header, train)
    _box_table(root / "test.csv", header, [f"WBC,BloodImage_{i:05d}.jpg,2,20,3,25" for i in (4, 5)])
    train_ds, val_ds, info = detection_datasets(root, image_size=64)
    assert (info.layout, info.classes, len(train_ds), len(val_ds)) == ("csv", ["RBC", "WBC"], 4, 2)
    assert note(info, "test.csv is used") == f"{root}: no val.csv, so test.csv is used as the validation split"
    assert train_ds.records[0].boxes.tolist() == [[2, 3, 20, 25]]
    (root / "test.csv").unlink()
    (root / "train.csv").rename(root / "boxes.csv")
    train_ds, val_ds, info = detection_datasets(root, image_size=64, val_fraction=0.25)
    assert (len(train_ds), len(val_ds), info.split["kind"]) == (3, 1, "seeded")
    _box_table(root / "boxes.csv", header, [*train, "RBC,BloodImage_00005.jpg,2,twenty,3,25"])
    with pytest.raises(DataError, match=r"boxes.csv:6: expected a photo name and a numeric box"):
        detection_datasets(root, image_size=64)
    labels = tmp_path / "labels"
    _box_table(labels / "labels.csv", "filename,label", ["a.jpg,cat"])
    photo(labels / "a.jpg")
    assert not looks_like_detection(labels)


def test_a_kaggle_box_table_beside_its_sample_submission(tmp_path: Path) -> None:
    """Kaggle's car detection: ``data/train_solution_bounding_boxes (1).csv`` (``image,xmin,...``,
    no class) beside ``sample_submission.csv`` of the same columns and no rows, the photos in
    ``training_images/`` and unlabelled ones in ``testing_images/``: the annotations are the
    table, found without ``--task``. Before, two box-table headers made it no table at all."""
    from lucid.tasks import task_of_data

    root = tmp_path / "cars" / "data"
    header = "image,xmin,ymin,xmax,ymax"
    for i in range(5):
        photo(root / "training_images" / f"vid_4_{i}.jpg", (2, 3, 20, 25))
    photo(root / "testing_images" / "vid_5_0.jpg")
    _box_table(root / "train_solution_bounding_boxes (1).csv", header, [f"vid_4_{i}.jpg,2,3,20,25" for i in range(5)])
    _box_table(root / "sample_submission.csv", header, [])
    claimed = task_of_data(str(tmp_path / "cars"))
    assert claimed is not None and claimed[0] == "detect"
    train, val, info = detection_datasets(tmp_path / "cars", image_size=64, val_fraction=0.4)
    assert (info.layout, info.classes, len(train), len(val)) == ("csv", ["object"], 3, 2)
    assert "1 photos are in no box table" in note(info, "no box table")


def test_csv_tables_with_box_sizes_one_class_or_fractions(tmp_path: Path) -> None:
    """Kaggle's Global Wheat (``image_id,width,height,bbox,source``: ``[x, y, w, h]`` in one
    column, no class: every box is an ``object``), ``x, y, w, h`` columns (makesense.ai's
    ``bbox_x, bbox_y, bbox_width, bbox_height``), and Open Images' table
    (``ImageID, LabelName, XMin, XMax, YMin, YMax`` as fractions of the photo's size)."""
    from lucid.tasks import task_of_data

    wheat = tmp_path / "wheat"
    for i in range(4):
        photo(wheat / "train" / f"w{i}.jpg", (2, 3, 20, 25))
    rows = [f'w{i},{W},{H},"[2.0, 3.0, 18.0, 22.0]",usask_1' for i in range(4)]
    _box_table(wheat / "train.csv", "image_id,width,height,bbox,source", rows)
    assert looks_like_detection(wheat)
    train, val, info = detection_datasets(wheat, image_size=64, val_fraction=0.25)
    assert (info.layout, info.classes, len(train), len(val)) == ("csv", ["object"], 3, 1)
    assert train.records[0].boxes.tolist() == [[2, 3, 20, 25]]
    sides = tmp_path / "sides"
    for i in range(4):
        photo(sides / f"s{i}.jpg", (2, 3, 20, 25))
    _box_table(sides / "boxes.csv", "image,label,x,y,w,h", [f"s{i}.jpg,car,2,3,18,22" for i in range(4)])
    train, val, info = detection_datasets(sides, image_size=64, val_fraction=0.25)
    assert info.classes == ["car"] and train.records[0].boxes.tolist() == [[2, 3, 20, 25]]
    makesense = tmp_path / "makesense"  # makesense.ai's CSV export (before: no box table, so no task claimed it)
    for i in range(4):
        photo(makesense / f"m{i}.jpg", (2, 3, 20, 25))
    header = "label_name,bbox_x,bbox_y,bbox_width,bbox_height,image_name,image_width,image_height"
    _box_table(makesense / "labels_my-project.csv", header, [f"bee,2,3,18,22,m{i}.jpg,{W},{H}" for i in range(4)])
    train, val, info = detection_datasets(makesense, image_size=64, val_fraction=0.25)
    assert info.classes == ["bee"] and train.records[0].boxes.tolist() == [[2, 3, 20, 25]]
    assert task_of_data(str(makesense))[0] == "detect"  # one box a photo: still boxes, not a classifier's labels
    oid = tmp_path / "open-images"
    for i in range(4):
        photo(oid / "train" / f"0{i}a.jpg", (4, 3, 20, 15))
    header = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax"
    _box_table(oid / "train.csv", header, [f"0{i}a,xclick,/m/0k4j,1,0.1,0.5,0.1,0.5" for i in range(4)])
    train, val, info = detection_datasets(oid, image_size=64, val_fraction=0.25)
    assert info.classes == ["/m/0k4j"] and train.records[0].boxes.tolist() == [[4, 3, 20, 15]]


def test_labelme_json_beside_the_photos(tmp_path: Path) -> None:
    """LabelMe saves ``x.json`` beside ``x.jpg``: a rectangle's box is its two corners, a
    polygon's the bounds of its points, a circle's the square around it; a JSON file that is not
    LabelMe's (a class list) is not an annotation."""
    for i in range(5):
        photo(tmp_path / f"p{i}.jpg", (2, 3, 20, 25))
        shapes = [
            {"label": "cat", "points": [[2, 3], [20, 25]], "shape_type": "rectangle"},
            {"label": "dog", "points": [[22, 5], [38, 5], [30, 28]], "shape_type": "polygon"},
            {"label": "dog", "points": [[30, 15], [30, 20]], "shape_type": "circle"},
        ]
        data = {"version": "5.2.1", "shapes": shapes, "imagePath": f"p{i}.jpg", "imageData": None}
        (tmp_path / f"p{i}.json").write_text(json.dumps({**data, "imageHeight": H, "imageWidth": W}))
    (tmp_path / "classes.json").write_text('["cat", "dog"]')
    assert looks_like_detection(tmp_path)
    train, val, info = detection_datasets(tmp_path, image_size=32, val_fraction=0.2)
    assert (info.layout, info.classes, len(train), len(val)) == ("labelme", ["cat", "dog"], 4, 1)
    assert train.records[0].boxes.tolist() == [[2, 3, 20, 25], [22, 5, 38, 28], [25, 10, 35, 20]]


@pytest.mark.parametrize(
    ("files", "json_path", "prefix", "description"),
    [
        ({"images": 6}, "result.json", "images/", "COCO JSON: result.json, split by seed"),  # Label Studio
        ({"data": 6}, "labels.json", "", "COCO JSON: labels.json, split by seed"),  # FiftyOne
        ({"images/train": 4}, "annotations/train.json", "", "annotations/train.json + annotations/val.json"),
        ({"train": 4}, "train/annotations.json", "", "train/annotations.json + valid/annotations.json"),
    ],
)
def test_coco_files_of_other_names_are_found_by_their_content(
    tmp_path: Path, files: dict[str, int], json_path: str, prefix: str, description: str
) -> None:
    """COCO files named otherwise than COCO's and Roboflow's: Label Studio's ``result.json`` +
    ``images/``, FiftyOne's ``labels.json`` + ``data/``, ``annotations/train.json`` + ``val.json``,
    a split folder's ``annotations.json``; the role is the file's (or its folder's) name. A JSON
    file that is not COCO's (a class list) is not read as one."""
    for folder, count in files.items():
        names = [f"p{i}.jpg" for i in range(count)]
        for name in names:
            photo(tmp_path / folder / name)
        coco_json(
            tmp_path / json_path,
            [prefix + n for n in names],
            {1: "leaf"},
            [(i, 1, [2, 3, 18, 22]) for i in range(count)],
        )
        if "train" in json_path:  # the validation split beside it
            val_folder, val_json = (s.replace("train", "val") for s in (folder, json_path))
            if json_path.startswith("train/"):
                val_folder, val_json = "valid", "valid/annotations.json"
            photo(tmp_path / val_folder / "q0.jpg")
            coco_json(tmp_path / val_json, ["q0.jpg"], {1: "leaf"}, [(0, 1, [2, 3, 18, 22])])
    (tmp_path / "classes.json").write_text('["leaf"]')
    assert looks_like_detection(tmp_path)
    train, val, info = detection_datasets(tmp_path, image_size=32, val_fraction=0.2)
    assert description in note(info, "COCO JSON")
    assert info.classes == ["leaf"] and len(train) + len(val) == (6 if "seed" in description else 5)
    assert train.records[0].boxes.tolist() == [[2, 3, 20, 25]]


def test_coco_boxes_of_unlisted_images_are_missing_photos(tmp_path: Path) -> None:
    files = ["a.jpg", "b.jpg", "c.jpg"]
    for f in files:
        photo(tmp_path / "images" / f)
    coco_json(
        tmp_path / "annotations" / "instances_default.json",
        files,
        {1: "x"},
        [(0, 1, [1, 1, 5, 5]), (7, 1, [1, 1, 5, 5])],
    )
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert len(train) + len(val) == 3
    assert "1 annotated photos are missing" in note(info, "missing", "instances_default.json")


def via_file(path: Path, photos: dict[str, list[tuple[dict, dict]]], project: dict | None = None) -> Path:
    """A VIA 2 export (or, with ``project``'s ``_via_attributes``, a project file) of ``photos``:
    each name's ``(shape_attributes, region_attributes)`` regions."""
    entries = {
        f"{name}{100 + n}": {
            "filename": name,
            "size": 100 + n,
            "regions": [{"shape_attributes": s, "region_attributes": r} for s, r in regions],
            "file_attributes": {},
        }
        for n, (name, regions) in enumerate(photos.items())
    }
    data = entries if project is None else {"_via_settings": {}, "_via_img_metadata": entries, **project}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def rect(x: float, y: float, w: float, h: float) -> dict:
    return {"name": "rect", "x": x, "y": y, "width": w, "height": h}


def polygon(points: Sequence[tuple[float, float]]) -> dict:
    return {"name": "polygon", "all_points_x": [x for x, _ in points], "all_points_y": [y for _, y in points]}


def test_via_files_in_split_folders_give_each_regions_box_and_the_class_attribute(tmp_path: Path) -> None:
    """The Mask R-CNN balloon layout (``train/`` + ``val/``, each a ``via_region_data.json`` beside
    its photos): a rectangle's box is itself, a polygon's, circle's and turned ellipse's the box
    around it; of several region attributes the one named ``type`` is the class; a point or a
    region without a class value is left out, and said."""
    for split, count in (("train", 4), ("val", 2)):
        regions = [
            (rect(2, 3, 18, 22), {"type": "cat", "note": "sitting"}),
            (polygon([(22, 5), (38, 5), (30, 28)]), {"type": "dog", "note": ""}),
            ({"name": "circle", "cx": 30, "cy": 15, "r": 5}, {"type": {"dog": True, "cat": False}}),
            ({"name": "ellipse", "cx": 10, "cy": 15, "rx": 6, "ry": 2, "theta": math.pi / 2}, {"type": "cat"}),
            ({"name": "point", "cx": 3, "cy": 3}, {"type": "cat"}),
            (rect(1, 1, 4, 4), {"note": "unsure"}),
        ]
        names = [f"{split}{i}.jpg" for i in range(count)]
        for name in names:
            photo(tmp_path / "balloon" / split / name)
        via_file(tmp_path / "balloon" / split / "via_region_data.json", {n: regions for n in names})
    photo(tmp_path / "balloon" / "train" / "stray.jpg")
    assert looks_like_detection(tmp_path)
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("via", ["cat", "dog"], 4, 2)
    assert "VIA JSON: train/via_region_data.json + val/via_region_data.json" in note(info, "VIA JSON:")
    boxes = train.records[0].boxes.tolist()
    assert boxes[:3] == [[2, 3, 20, 25], [22, 5, 38, 28], [25, 10, 35, 20]]
    assert boxes[3] == pytest.approx([8, 9, 12, 21], abs=1e-4)  # rx along y once turned a quarter
    assert train.records[0].labels.tolist() == [1, 2, 2, 1]  # 0 is the background
    assert "the VIA region attribute 'type' names the classes" in note(info, "names the classes")
    assert "12 regions are not used (6 with no single 'type' value, 6 point shapes)" in note(info, "regions are not")
    assert "1 photos are in no VIA JSON file" in note(info, "no VIA JSON file")


def test_via_regions_without_attributes_are_one_class_and_projects_name_their_options(tmp_path: Path) -> None:
    """Regions that carry no attribute (the balloon set's) are one class, said; a VIA project file
    reads its ``_via_img_metadata``, VIA 1's regions are a dict, and a dropdown's option ids are
    named by their descriptions when each has one."""
    one = tmp_path / "one"
    for i in range(5):
        photo(one / f"p{i}.jpg")
    regions: dict = {f"p{i}.jpg": [(rect(2, 3, 10, 10), {})] for i in range(5)}
    regions["p0.jpg"] = [(rect(2, 3, 10, 10), [])]  # attributes that are no object: none, not a traceback
    via_file(one / "via_export_json.json", regions)
    train, val, info = detection_datasets(one, image_size=32, val_fraction=0.2)
    assert (info.classes, len(train), len(val)) == (["object"], 4, 1)
    assert "all are one class, 'object'" in note(info, "one class")

    project = tmp_path / "project"
    for i in range(4):
        photo(project / f"p{i}.jpg")
    options = {"region": {"kind": {"type": "dropdown", "options": {"1": "car", "2": "bus"}}}}
    regions = {f"p{i}.jpg": [(rect(2, 3, 10, 10), {"kind": str(1 + i % 2)})] for i in range(4)}
    file = via_file(project / "via_project_4Dec2026_10h12m.json", regions, {"_via_attributes": options})
    data = json.loads(file.read_text())
    first = next(iter(data["_via_img_metadata"].values()))
    first["regions"] = {"0": first["regions"][0]}  # VIA 1
    file.write_text(json.dumps(data))
    train, val, info = detection_datasets(project, image_size=32, val_fraction=0.25)
    assert info.classes == ["bus", "car"] and len(train) + len(val) == 4


def test_createml_files_in_roboflow_split_folders(tmp_path: Path) -> None:
    """Roboflow's "CreateML JSON" export: ``train/_annotations.createml.json`` + ``valid/`` beside
    their photos, each box's ``x y`` its centre; a photo listed with no boxes is a negative."""
    for split, count in (("train", 3), ("valid", 2)):
        entries = []
        for i in range(count):
            photo(tmp_path / split / f"{split}{i}.jpg")
            box = {"label": "cell", "coordinates": {"x": 11, "y": 14, "width": 18, "height": 22}}
            entries.append({"image": f"{split}{i}.jpg", "annotations": [box] if i else []})
        (tmp_path / split / "_annotations.createml.json").write_text(json.dumps(entries))
    assert looks_like_detection(tmp_path)
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("createml", ["cell"], 3, 2)
    assert sorted(r.boxes.tolist() for r in train.records) == [[], [[2, 3, 20, 25]], [[2, 3, 20, 25]]]
    assert "2 photos have no boxes, kept as negatives" in note(info, "negatives")  # one per split


def cvat_xml(path: Path, photos: dict[str, tuple[str, list[str]]]) -> Path:
    """CVAT's "CVAT for images 1.1" export of ``photos``: each name's subset and shape elements."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "<version>1.1</version>", "<meta></meta>"]
    for n, (name, (subset, shapes)) in enumerate(photos.items()):
        lines += [f'<image id="{n}" name="{name}" width="{W}" height="{H}" subset="{subset}">', *shapes, "</image>"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*lines, "</annotations>"]), encoding="utf-8")
    return path


def test_cvat_xml_is_split_by_its_subsets_and_gives_each_shapes_box(tmp_path: Path) -> None:
    """CVAT's "CVAT for images" export (``annotations.xml`` + ``images/``): a box is itself (a
    turned one, the box around its corners), a polygon's and an ellipse's the box around them;
    points and polylines outline nothing, counted; tags are no shapes. Its subsets (Train,
    Validation) split it."""
    shapes = [
        '<box label="cat" occluded="0" xtl="2" ytl="3" xbr="20" ybr="25"><attribute name="a">x</attribute></box>',
        '<polygon label="dog" points="22,5;38,5;30,28"></polygon>',
        '<ellipse label="dog" cx="30" cy="15" rx="5" ry="5"></ellipse>',
        '<box label="cat" xtl="10" ytl="10" xbr="20" ybr="14" rotation="90"></box>',
        '<points label="cat" points="3,3"></points>',
        '<polyline label="dog" points="1,1;5,5"></polyline>',
        '<tag label="cat"></tag>',
    ]
    photos = {f"p{i}.jpg": ("Train" if i < 4 else "Validation", shapes) for i in range(6)}
    for name in photos:
        photo(tmp_path / "images" / name)
    cvat_xml(tmp_path / "annotations.xml", photos)
    assert looks_like_detection(tmp_path)
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("cvat", ["cat", "dog"], 4, 2)
    assert "CVAT XML: annotations.xml, split by its subsets" in note(info, "CVAT XML:")
    boxes = train.records[0].boxes.tolist()
    assert boxes[:3] == [[2, 3, 20, 25], [22, 5, 38, 28], [25, 10, 35, 20]]
    assert boxes[3] == pytest.approx([13, 7, 17, 17], abs=1e-4)  # 10 x 4, turned a quarter about its centre
    assert "12 regions are not used (6 points shapes, 6 polyline shapes)" in note(info, "regions are not")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ('[{"image": "a.jpg", "annotations": [{"label": "x", "coordinates": {"x": 1}}]}]', "entry 1 is not a photo"),
        ('{"a.jpg1": {"filename": "a.jpg", "regions": [{"shape_attributes": {"name": "rect", "x": 1}}]}}', "rect"),
        ('{"a.jpg1": {"filename": "a.jpg", "regions": 3}}', "entry 'a.jpg1' has no 'filename' and 'regions'"),
    ],
)
def test_broken_via_and_createml_files_are_refused_naming_the_file_and_entry(
    tmp_path: Path, text: str, shown: str
) -> None:
    for split in ("train", "val"):
        photo(tmp_path / split / "a.jpg")
        (tmp_path / split / "annotations.json").write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=r"train/annotations\.json: .*" + shown.replace("(", r"\(")):
        detection_datasets(tmp_path)


def kitti_line(kind: str, box: Sequence[float], score: str = "") -> str:
    """One KITTI label line: type, truncated, occluded, alpha, the box, the 3-D size, place and turn."""
    x1, y1, x2, y2 = box
    return f"{kind} 0.00 0 -1.57 {x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f} 1.50 1.60 3.70 1.00 1.50 10.00 0.01 {score}"


def kitti_split(folder: Path, labels: dict[str, Sequence[str]]) -> None:
    """``folder/image_2/ID.png`` + ``folder/label_2/ID.txt`` for each id."""
    for key, lines in labels.items():
        photo(folder / "image_2" / f"{key}.png")
        (folder / "label_2").mkdir(parents=True, exist_ok=True)
        (folder / "label_2" / f"{key}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_kitti_training_folder_split_by_image_sets(tmp_path: Path) -> None:
    """KITTI's object download: training/image_2 + training/label_2, testing/image_2 without labels
    (not read, said), ImageSets/train.txt + val.txt of 6-digit ids. The box is fields 4..7 in
    pixels; DontCare regions are no class; a 16th field (a score) is allowed; classes sorted."""
    from lucid.tasks import task_of_data

    labels = {
        f"{i:06d}": [
            kitti_line("Pedestrian" if i % 2 else "Car", (2.5, 3, 20, 25.25)),
            kitti_line("Cyclist", (22, 5, 38, 28), score="0.9"),
            kitti_line("DontCare", (0, 0, 5, 5)),
        ]
        for i in range(6)
    }
    kitti_split(tmp_path / "training", labels)
    photo(tmp_path / "testing" / "image_2" / "000000.png")
    (tmp_path / "ImageSets").mkdir()
    (tmp_path / "ImageSets" / "train.txt").write_text("000000\n000001\n000002\n000003\n", encoding="utf-8")
    (tmp_path / "ImageSets" / "val.txt").write_text("000004\n000005\n", encoding="utf-8")
    (tmp_path / "ImageSets" / "test.txt").write_text("000000\n", encoding="utf-8")  # testing/'s ids
    assert looks_like_detection(tmp_path)
    assert task_of_data(str(tmp_path)) == (
        "detect",
        f"{tmp_path} holds photos with box annotations: training detection (--task detect)",
    )
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("kitti", ["Car", "Cyclist", "Pedestrian"], 4, 2)
    assert info.split["kind"] == "given" and [Path(r.key).stem for r in val.records] == ["000004", "000005"]
    assert train.records[1].boxes.tolist() == [[2.5, 3.0, 20.0, 25.25], [22.0, 5.0, 38.0, 28.0]]
    assert train.records[1].labels.tolist() == [3, 2]
    assert note(info, "DontCare") == f"{tmp_path}: 6 DontCare regions (left unlabelled) are not a class: not used"
    assert note(info, "testing/") == f"{tmp_path}: testing/ (KITTI's test photos, unlabelled) is not used"
    assert info.description == "KITTI: training/image_2 + label_2, ImageSets train.txt (4) + val.txt (2)"


def test_kitti_flat_without_lists_is_split_by_seed_and_a_val_list_alone_validates(tmp_path: Path) -> None:
    kitti_split(tmp_path, {f"{i:06d}": [kitti_line("Van", (1, 2, 30, 20))] for i in range(5)})
    assert looks_like_detection(tmp_path)
    train, val, info = detection_datasets(tmp_path, image_size=32, val_fraction=0.2)
    assert (info.layout, info.classes, len(train), len(val), info.split["kind"]) == ("kitti", ["Van"], 4, 1, "seeded")
    assert val.records[0].boxes.tolist() == [[1.0, 2.0, 30.0, 20.0]]
    note(info, "no ImageSets/val.txt, so a seeded share of the labelled photos validates")
    (tmp_path / "ImageSets").mkdir()
    (tmp_path / "ImageSets" / "val.txt").write_text("000001\n000003\n", encoding="utf-8")
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert [Path(r.key).stem for r in train.records] == ["000000", "000002", "000004"] and len(val) == 2
    assert info.description == "KITTI: image_2 + label_2, ImageSets the other labels (3) + val.txt (2)"


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("Car 0.00 0 -1.57 2 3 20 25", "'Car 0.00 0 -1.57 2 3 20 25'"),
        (kitti_line("Car", (2, 3, 20, 25)).replace("20.00", "twenty"), "'Car 0.00 0 -1.57 2.00 3.00 twenty"),
    ],
)
def test_kitti_malformed_lines_are_refused_naming_file_and_line(tmp_path: Path, line: str, shown: str) -> None:
    labels = {f"{i:06d}": [kitti_line("Car", (2, 3, 20, 25))] for i in range(3)}
    labels["000001"] = [labels["000001"][0], line]
    kitti_split(tmp_path / "training", labels)
    expected = (
        r"000001\.txt:2: expected the 15 KITTI fields 'type truncated occluded alpha left top right bottom h w l "
        r"x y z rotation_y' \(16 with a score\), got " + shown.replace(".", r"\.")
    )
    with pytest.raises(DataError, match=expected):
        detection_datasets(tmp_path, image_size=32)


@pytest.mark.parametrize(
    ("name", "header"),
    [("class-descriptions-boxable.csv", ""), ("oidv7-class-descriptions-boxable.csv", "LabelName,DisplayName\n")],
)
def test_open_images_class_ids_are_named_by_the_class_descriptions_file(tmp_path: Path, name: str, header: str) -> None:
    """Open Images' box table names classes by id; its class-descriptions file (with or without a
    header) names them. An id it does not list keeps its id, said; the file is neither a second box
    table (one table alone is still found) nor a table of labels for classification."""
    from lucid.tasks import task_of_data

    for i in range(5):
        photo(tmp_path / "images" / f"0{i}a.jpg", (4, 3, 20, 15))
    labels = ["/m/011k07", "/m/0k4j", "/m/09x0r"]
    rows = [f"0{i}a,xclick,{labels[i % 3]},1,0.1,0.5,0.1,0.5" for i in range(5)]
    _box_table(tmp_path / "boxes.csv", "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax", rows)
    (tmp_path / name).write_text(header + '/m/011k07,Tortoise\n/m/0k4j,Car\n/m/0cmf2,"Airplane, jet"\n')
    assert looks_like_detection(tmp_path) and task_of_data(str(tmp_path))[0] == "detect"
    train, val, info = detection_datasets(tmp_path, image_size=64, val_fraction=0.2)
    assert (info.layout, info.classes, len(train), len(val)) == ("csv", ["/m/09x0r", "Car", "Tortoise"], 4, 1)
    first = next(r for r in train.records if r.key == "images/00a.jpg")
    assert first.boxes.tolist() == [[4, 3, 20, 15]] and first.labels.tolist() == [3]
    assert note(info, "class ids named by") == (
        f"{tmp_path}: class ids named by {name}: 2 of the 3 ids; 1 it does not list keep their id (/m/09x0r)"
    )


def test_open_images_class_descriptions_beside_split_tables_name_both_splits(tmp_path: Path) -> None:
    header = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax"
    for split, count in (("train", 3), ("validation", 2)):
        for i in range(count):
            photo(tmp_path / split / f"{split}{i}.jpg")
        rows = [f"{split}{i},xclick,/m/0k4j,1,0.1,0.5,0.1,0.5" for i in range(count)]
        _box_table(tmp_path / split / f"{split}-annotations-bbox.csv", header, rows)
    (tmp_path / "train" / "class-descriptions-boxable.csv").write_text("/m/0k4j,Car\n")
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.classes, len(train), len(val)) == (["Car"], 3, 2)
    assert val.records[0].labels.tolist() == [1]
    note(info, "class ids named by train/class-descriptions-boxable.csv: 1 of the 1 ids")
    (tmp_path / "train" / "class-descriptions-boxable.csv").write_text("/m/0k4j\n")
    with pytest.raises(DataError, match=r"class-descriptions-boxable\.csv:1: expected 'LabelName,DisplayName'"):
        detection_datasets(tmp_path, image_size=32)


def supervisely_ann(path: Path, objects: Sequence[tuple[str, str, list]], size: tuple[int, int] = (W, H)) -> None:
    """``objects``: (class, geometry type, exterior points)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    found = []
    for title, kind, points in objects:
        shape = {"classTitle": title, "geometryType": kind, "tags": []}
        if kind == "bitmap":
            shape["bitmap"] = {"data": "eJwBAAD//wAAAAEAAQ==", "origin": [1, 1]}
        else:
            shape["points"] = {"exterior": points, "interior": []}
        found.append(shape)
    data = {"description": "", "tags": [], "size": {"height": size[1], "width": size[0]}, "objects": found}
    path.write_text(json.dumps(data), encoding="utf-8")


def supervisely_project(root: Path, datasets: dict[str, int]) -> Path:
    """A Supervisely export: meta.json (dog, cat, road: a bitmap class) and ``count`` photos per dataset,
    each with a cat rectangle, a dog polygon, a road bitmap and a point."""
    classes = [{"title": t, "shape": s, "color": "#FF0000"} for t, s in (("dog", "polygon"), ("cat", "rectangle"))]
    classes.append({"title": "road", "shape": "bitmap", "color": "#00FF00"})
    root.mkdir(parents=True, exist_ok=True)
    (root / "meta.json").write_text(json.dumps({"classes": classes, "tags": [], "projectType": "images"}))
    for dataset, count in datasets.items():
        for i in range(count):
            photo(root / dataset / "img" / f"{dataset}{i}.jpg")
            objects = [
                ("cat", "rectangle", [[20, 25], [2, 3]]),
                ("dog", "polygon", [[22, 5], [38, 5], [30, 28]]),
                ("road", "bitmap", []),
                ("cat", "point", [[5, 5]]),
            ]
            supervisely_ann(root / dataset / "ann" / f"{dataset}{i}.jpg.json", objects)
    return root


def test_supervisely_project_split_by_its_dataset_folders(tmp_path: Path) -> None:
    """meta.json declares the classes (in its order, as COCO's categories and YOLO's names are
    used); a rectangle is a box, a polygon gives the box around it; bitmaps and points are
    skipped, counted by type; the bitmap class is named as giving no boxes."""
    from lucid.tasks import task_of_data

    root = supervisely_project(tmp_path / "project", {"train": 4, "val": 2})
    assert looks_like_detection(root) and task_of_data(str(root))[0] == "detect"
    train, val, info = detection_datasets(root, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("supervisely", ["dog", "cat"], 4, 2)
    assert info.description == "Supervisely: train/ + val/" and info.split["kind"] == "given"
    assert note(info, "classes (from") == "2 classes (from Supervisely's meta.json): dog, cat"
    assert train.records[0].boxes.tolist() == [[2, 3, 20, 25], [22, 5, 38, 28]]
    assert train.records[0].labels.tolist() == [2, 1]
    assert note(info, "Supervisely objects") == (
        f"{root}: 12 Supervisely objects are not rectangles or polygons, skipped (bitmap 6, point 6)"
    )
    assert (
        note(info, "other shapes")
        == f"{root}: meta.json's classes of other shapes give no boxes, not used: road (bitmap)"
    )


def test_supervisely_datasets_without_split_names_are_split_by_seed(tmp_path: Path) -> None:
    root = supervisely_project(tmp_path / "project", {"ds0": 3, "ds1": 2})
    photo(root / "ds1" / "img" / "unannotated.jpg")
    train, val, info = detection_datasets(root, image_size=32, val_fraction=0.5)
    assert (len(train), len(val), info.split["kind"]) == (3, 3, "seeded")
    assert info.description == "Supervisely: ds0/ + ds1/, split by seed"
    note(info, "1 photos have no boxes, kept as negatives")
    supervisely_ann(root / "ds0" / "ann" / "ds00.jpg.json", [("cat", "rectangle", [])])
    with pytest.raises(DataError, match=r"ds00\.jpg\.json: object 1 has no 'classTitle' or no points\.exterior"):
        detection_datasets(root, image_size=32)
    (root / "meta.json").write_text(json.dumps({"classes": [{"title": "road", "shape": "bitmap"}]}))
    with pytest.raises(DataError, match=r"meta\.json: no class of shape rectangle or polygon, so no boxes \(road"):
        detection_datasets(root, image_size=32)


def test_kitti_and_supervisely_folder_names_in_class_or_mask_data_stay_unclaimed(tmp_path: Path) -> None:
    """Names KITTI and Supervisely are found by, in data that is not theirs: a class-folder split
    named as KITTI's (training/ + testing/) beside a meta.json, KITTI's semantic benchmark
    (image_2/ + semantic/ masks), and img/ + ann/ folders of PNG masks beside a meta.json."""
    for split in ("training", "testing"):
        for name in ("cat", "dog"):
            photo(tmp_path / "classes" / split / name / "a.jpg")
    (tmp_path / "classes" / "meta.json").write_text('{"classes": []}')
    photo(tmp_path / "semantic" / "training" / "image_2" / "000000.png")
    photo(tmp_path / "semantic" / "training" / "semantic" / "000000.png")
    photo(tmp_path / "masks" / "train" / "img" / "a.jpg")
    photo(tmp_path / "masks" / "train" / "ann" / "a.png")
    (tmp_path / "masks" / "meta.json").write_text('{"classes": []}')
    for name in ("classes", "semantic", "masks"):
        assert not looks_like_detection(tmp_path / name), name
        with pytest.raises(DataError, match="no box annotations found"):
            find_detection_layout(tmp_path / name)


def test_not_detection_data(tmp_path: Path) -> None:
    photo(tmp_path / "cls" / "cat" / "a.jpg")
    photo(tmp_path / "cls" / "dog" / "b.jpg")
    photo(tmp_path / "seg" / "images" / "a.jpg")
    photo(tmp_path / "seg" / "labels" / "a.png")
    photo(tmp_path / "ade" / "images" / "a.jpg")
    photo(tmp_path / "ade" / "annotations" / "a.png")
    for name in ("cls", "seg", "ade"):
        assert not looks_like_detection(tmp_path / name)
        with pytest.raises(DataError, match="no box annotations found") as caught:
            find_detection_layout(tmp_path / name)
        assert LAYOUT_HELP in str(caught.value)
    with pytest.raises(DataError, match="no such folder"):
        detection_datasets(tmp_path / "absent")


# --------------------------------------------------------------------------------------------
# flaws: one note each, naming the count and where


@pytest.fixture
def flawed(tmp_path: Path) -> DetectionDataInfo:
    photos = {
        "ok": [("cat", 2, 2, 20, 20), ("dog", 5, 5, 15, 15)],
        "past": [("cat", -5, 2, 50, 20), ("dog", 5, 5, 15, 40)],  # 2 boxes past the border
        "flat": [("cat", 10, 10, 10, 20), ("cat", 60, 40, 70, 50), ("dog", 2, 2, 20, 20)],  # 2 without area
        "empty": [],
        "bird": [("bird", 1, 1, 9, 9), ("cat", 1, 1, 9, 9)],
        "hard": [("dog", 1, 1, 9, 9, True), ("cat", 3, 3, 30, 25)],
        "twice": [("cat", 2, 2, 20, 20), ("cat", 2, 2, 20, 21)],
    }
    root = voc_devkit(tmp_path, photos, {"train": list(photos)[:5] + ["gone"], "val": ["hard", "twice"]})
    voc_xml(root / "Annotations" / "gone.xml", "gone.jpg", [("cat", 1, 1, 5, 5)])
    voc_xml(root / "Annotations" / "ok.xml", "ok.jpg", photos["ok"], size=(80, 60))  # not the photo's size
    (root / "JPEGImages" / "junk.jpg").write_bytes(b"not a jpeg")
    voc_xml(root / "Annotations" / "junk.xml", "junk.jpg", [("cat", 1, 1, 5, 5)])
    (root / "ImageSets" / "Main" / "train.txt").write_text("\n".join([*list(photos)[:5], "gone", "junk"]))
    return detection_datasets(root, image_size=32, classes=["cat", "dog"])[2]


def test_flaw_boxes_past_the_border_are_clipped(flawed: DetectionDataInfo) -> None:
    assert "2 boxes reach past their photo's border, clipped" in note(flawed, "clipped", "past.xml")


def test_a_yolo_edge_on_the_border_written_with_rounding_is_no_flaw(tmp_path: Path) -> None:
    """Six-decimal fractions put an edge at the border a hair past it (40.00002 px): clipped
    without a note, where an edge 2 px past is noted; Roboflow's exports are full of the first."""
    on_border = "0 0.916667 0.5 0.166667 0.4\n"  # x2 = (0.916667 + 0.0833335) * 40 = 40.00002
    past = "0 0.95 0.5 0.2 0.4\n"  # x2 = 42
    yolo_split(
        tmp_path / "images", tmp_path / "labels", {"p0": on_border, "p1": on_border, "p2": on_border, "p3": past}
    )
    (tmp_path / "classes.txt").write_text("leaf\n", encoding="utf-8")
    train, val, info = detection_datasets(tmp_path, image_size=32, val_fraction=0.25)
    assert "1 boxes reach past their photo's border, clipped" in note(info, "clipped", "p3.txt")
    boxes = [dataset.ground_truth(i)["boxes"] for dataset in (train, val) for i in range(len(dataset))]
    assert all(float(b[:, 2].max()) == W for b in boxes)


def test_the_notes_of_a_scoring_name_the_validation_photos_flaws_only(tmp_path: Path) -> None:
    """Training reports every split's flaws; ``lucid eval`` scores the validation split alone,
    so a box drawn twice in ``train/labels`` is no note of its (the split's flaws still are)."""
    twice, once, past = "0 0.5 0.5 0.5 0.5\n0 0.5 0.5 0.5 0.5\n", "0 0.5 0.5 0.5 0.5\n", "0 0.95 0.5 0.2 0.4\n"
    yolo_split(tmp_path / "train" / "images", tmp_path / "train" / "labels", {"a": twice, "b": once})
    yolo_split(tmp_path / "valid" / "images", tmp_path / "valid" / "labels", {"c": past, "d": once})
    (tmp_path / "classes.txt").write_text("leaf\n", encoding="utf-8")
    run = detection_datasets(tmp_path, image_size=32)[2]
    assert "1 pairs of boxes of one class overlap" in note(run, "overlap", "train/labels/a.txt")
    assert "1 boxes reach past their photo's border" in note(run, "clipped", "valid/labels/c.txt")
    scored = detection_datasets(tmp_path, image_size=32, scoring_only=True)[2]
    assert not [n for n in scored.notes if "overlap" in n], scored.notes
    assert "1 boxes reach past their photo's border" in note(scored, "clipped", "valid/labels/c.txt")
    assert scored.notes[0] == run.notes[0]  # the layout's own line is the same


def test_flaw_boxes_without_area_are_skipped(flawed: DetectionDataInfo) -> None:
    assert "2 boxes have no area" in note(flawed, "skipped", "flat.xml")


def test_flaw_photos_without_boxes_are_negatives(flawed: DetectionDataInfo) -> None:
    assert "1 photos have no boxes, kept as negatives" in note(flawed, "negatives", "empty.xml")


def test_flaw_unknown_classes_are_skipped(flawed: DetectionDataInfo) -> None:
    assert "1 boxes of classes not among the 2 classes, skipped: 'bird' (1)" in note(flawed, "bird")


def test_flaw_missing_photos_are_skipped(flawed: DetectionDataInfo) -> None:
    assert "1 annotated photos are missing, skipped" in note(flawed, "missing", "gone.xml")
    assert flawed.train_images == 5


def test_flaw_unreadable_photos_are_skipped(flawed: DetectionDataInfo) -> None:
    assert "1 photos cannot be read as images, skipped (JPEGImages/junk.jpg)" in note(flawed, "junk")


def test_flaw_stated_size_that_is_not_the_photos(flawed: DetectionDataInfo) -> None:
    assert "1 annotation files state a photo size that is not the photo's" in note(flawed, "ok.xml")


def test_flaw_difficult_boxes_are_recorded(flawed: DetectionDataInfo) -> None:
    assert "1 boxes are marked difficult" in note(flawed, "difficult", "hard.xml")


def test_flaw_duplicate_boxes_are_named(flawed: DetectionDataInfo) -> None:
    assert "1 pairs of boxes of one class overlap" in note(flawed, "twice.xml")


def test_difficult_boxes_are_ground_truth_to_ignore_not_targets(tmp_path: Path) -> None:
    root = voc_devkit(
        tmp_path,
        {"a": [("dog", 1, 1, 9, 9, True), ("dog", 3, 3, 30, 25)], "b": [("dog", 1, 1, 9, 9)]},
        {"train": ["b"], "val": ["a"]},
    )
    _, val, _ = detection_datasets(root, image_size=40)
    truth = val.ground_truth(0)
    assert truth["iscrowd"].tolist() == [True, False] and len(truth["boxes"]) == 2
    target = val[0][1]
    assert target["boxes"][0].tolist() == pytest.approx([3.0, 3 * 40 / H, 30.0, 25 * 40 / H])
    assert len(target["boxes"]) == 1


def test_unreadable_annotation_files_are_refused_naming_them(tmp_path: Path) -> None:
    root = voc_devkit(tmp_path / "voc", cats_and_dogs(4), {"train": ["p0", "p1"], "val": ["p2"]})
    (root / "Annotations" / "p1.xml").write_text("<annotation><object>", encoding="utf-8")
    with pytest.raises(DataError, match=r"p1\.xml: not a readable VOC XML file"):
        detection_datasets(root)
    broken = tmp_path / "coco" / "annotations" / "instances_default.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match=r"instances_default\.json: not a readable JSON file"):
        detection_datasets(tmp_path / "coco")
    yolo_split(tmp_path / "yolo" / "images", tmp_path / "yolo" / "labels", {"a": "0 0.5 0.5\n"})
    with pytest.raises(DataError, match=r"a\.txt:1: expected 'class cx cy w h'"):
        detection_datasets(tmp_path / "yolo")


def test_unknown_yolo_class_ids_are_skipped(tmp_path: Path) -> None:
    yolo_split(tmp_path / "images", tmp_path / "labels", {f"p{i}": "0 .5 .5 .2 .2\n3 .5 .5 .2 .2\n" for i in range(3)})
    (tmp_path / "classes.txt").write_text("leaf\n", encoding="utf-8")
    info = detection_datasets(tmp_path, image_size=32)[2]
    assert "3 boxes of classes not among the 1 class, skipped: '<class id 3>' (3)" in note(info, "class id 3")


# --------------------------------------------------------------------------------------------
# items, transforms, collate


def test_item_format_and_collate(tmp_path: Path) -> None:
    root = voc_devkit(tmp_path, cats_and_dogs(), {"train": ["p0", "p1", "p2", "p3"], "val": ["p4", "p5"]})
    train, val, _ = detection_datasets(root, image_size=48)
    image, target = val[1]
    assert type(image) is torch.Tensor and image.dtype == torch.uint8 and image.shape == (3, 48, 48)
    assert isinstance(target["boxes"], tv_tensors.BoundingBoxes) and target["boxes"].dtype == torch.float32
    assert target["boxes"].format == tv_tensors.BoundingBoxFormat.XYXY
    assert len(target["boxes"]) == 1
    assert target["boxes"][0].tolist() == pytest.approx([2 * 48 / W, 3 * 48 / H, 20 * 48 / W, 25 * 48 / H])
    assert target["labels"].dtype == torch.int64 and target["labels"].tolist() == [2]
    assert (target["image_id"], target["orig_size"]) == (1, (H, W))
    images, targets = detection_collate([train[0], train[1], train[2]])
    assert images.shape == (3, 3, 48, 48) and images.dtype == torch.uint8 and len(targets) == 3


def test_train_transform_keeps_boxes_on_their_pixels() -> None:
    """A white rectangle, its box and a mask of it go through the SSD recipe together: the box
    must stay where the rectangle's pixels went (a pixel of resampling)."""
    image = torch.zeros(3, 60, 80, dtype=torch.uint8)
    image[:, 10:30, 50:75] = 255
    mask = (image[0] > 0).to(torch.uint8)
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[50.0, 10, 75, 30]]), format="XYXY", canvas_size=(60, 80))
    transform = train_transform(64)
    for seed in range(25):
        torch.manual_seed(seed)
        out, target, moved = transform(
            tv_tensors.Image(image), {"boxes": boxes, "labels": torch.tensor([1])}, tv_tensors.Mask(mask)
        )
        assert out.shape == (3, 64, 64)
        if len(target["boxes"]):
            ys, xs = torch.nonzero(moved, as_tuple=True)
            where = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
            assert (where - target["boxes"][0]).abs().max() <= 1.5, seed
    torch.manual_seed(3)
    first = transform(tv_tensors.Image(image), {"boxes": boxes, "labels": torch.tensor([1])})
    torch.manual_seed(3)
    second = transform(tv_tensors.Image(image), {"boxes": boxes, "labels": torch.tensor([1])})
    assert torch.equal(first[0], second[0]) and torch.equal(first[1]["boxes"], second[1]["boxes"])


def test_train_transform_distorts_colours_on_the_model_input_not_the_whole_photo() -> None:
    """The photometric distortion's cost is the input's, not the photo's: it sees the resized
    image (and the zoom-out fill is coloured with the photo, as in Ultralytics' order)."""
    from torchvision.transforms import v2

    image = tv_tensors.Image(torch.full((3, 480, 640), 90, dtype=torch.uint8))
    target = {
        "boxes": tv_tensors.BoundingBoxes(
            torch.tensor([[100.0, 100, 300, 260]]), format="XYXY", canvas_size=(480, 640)
        ),
        "labels": torch.tensor([1]),
    }
    seen = []
    for seed in range(6):
        torch.manual_seed(seed)
        item: tuple = (image, target)
        for step in train_transform(64).transforms:
            if isinstance(step, v2.RandomPhotometricDistort):
                seen.append(tuple(item[0].shape))
            item = step(*item)
        assert item[0].shape == (3, 64, 64)
    assert seen == [(3, 64, 64)] * 6


def _iou_crops(crop: object, draws: int, boxes: torch.Tensor, size: tuple[int, int] = (150, 200)) -> list[dict]:
    """``draws`` crop parameters of ``crop`` (v2's or lucid's) for one photo of ``size`` (h, w) and its ``boxes``."""
    image = tv_tensors.Image(torch.zeros(3, *size, dtype=torch.uint8))
    found = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=size)
    torch.manual_seed(0)
    return [crop.make_params([image, found]) for _ in range(draws)]  # type: ignore[attr-defined]


def _crop_statistics(params: list[dict], size: tuple[int, int] = (150, 200)) -> dict[str, float]:
    """Share of photos kept whole, and the crops' mean width, height and offsets as shares of the photo."""
    crops = [p for p in params if p]
    h, w = size
    return {
        "whole": 1 - len(crops) / len(params),
        "width": sum(p["width"] for p in crops) / len(crops) / w,
        "height": sum(p["height"] for p in crops) / len(crops) / h,
        "left": sum(p["left"] for p in crops) / len(crops) / w,
        "top": sum(p["top"] for p in crops) / len(crops) / h,
    }


@pytest.mark.slow  # ~10 s of draws; the crop's limits stay in the default suite (test_iou_crop_keeps_...)
def test_iou_crop_draws_the_crops_torchvisions_draws() -> None:
    """lucid's vectorised draw and torchvision's one-by-one loop are one sampler: over 1,000
    draws each (seeded, so the test repeats itself), the share of whole photos and the crops' mean
    sides and offsets agree within 0.03 (their standard errors are 0.005-0.014; a minimum
    scale of 0.4 instead of 0.3, or 5 trials instead of 40, moves one of them by 0.05 or more)."""
    from torchvision.transforms import v2

    boxes = torch.tensor([[10.0, 20, 60, 90], [120, 30, 190, 70], [80, 100, 110, 140]])
    theirs = _crop_statistics(_iou_crops(v2.RandomIoUCrop(min_scale=0.3), 1000, boxes))
    ours = _crop_statistics(_iou_crops(IoUCrop(min_scale=0.3), 1000, boxes))
    assert 0.1 < theirs["whole"] < 0.3, theirs
    for key in theirs:
        assert abs(theirs[key] - ours[key]) < 0.03, (key, theirs, ours)


def test_iou_crop_keeps_its_limits_and_a_box_by_the_threshold() -> None:
    """Every crop keeps the aspect-ratio limits, has a box centre strictly inside, and overlaps
    one of those boxes by the one threshold allowed (0.7); the mask marks exactly those boxes."""
    from torchvision.ops import box_iou

    boxes = torch.tensor([[10.0, 20, 60, 90], [120, 30, 190, 70], [80, 100, 110, 140]])
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    for p in _iou_crops(IoUCrop(min_scale=0.3, sampler_options=[0.7]), 60, boxes):
        left, top, width, height = p["left"], p["top"], p["width"], p["height"]
        assert 0.5 <= width / height <= 2.0 and 0 <= left and left + width <= 200 and top + height <= 150
        inside = (
            (left < centres[:, 0])
            & (centres[:, 0] < left + width)
            & (top < centres[:, 1])
            & (centres[:, 1] < top + height)
        )
        assert torch.equal(p["is_within_crop_area"], inside)
        crop = torch.tensor([[left, top, left + width, top + height]], dtype=torch.float32)
        assert box_iou(boxes[inside], crop).max() >= 0.7


def test_iou_crop_leaves_a_photo_without_boxes_whole() -> None:
    """With no box to keep, no crop can qualify: the draw ends on the whole-photo option, as torchvision's does."""
    assert all(p == {} for p in _iou_crops(IoUCrop(min_scale=0.3), 50, torch.zeros(0, 4)))


def _smooth_photo(height: int, width: int, seed: int) -> tuple[tv_tensors.Image, tv_tensors.BoundingBoxes]:
    """A photo of smooth colour (noise at a tenth of the size, resized up) and six boxes on it."""
    from torchvision.transforms.v2 import functional as F

    g = torch.Generator().manual_seed(seed)
    coarse = (torch.rand(3, height // 10, width // 10, generator=g) * 255).to(torch.uint8)
    image = F.resize(coarse, [height, width], antialias=True)
    corner = torch.rand(6, 2, generator=g) * torch.tensor([width * 0.8, height * 0.8])
    sides = torch.rand(6, 2, generator=g) * torch.tensor([width * 0.2, height * 0.2]) + 4
    boxes = tv_tensors.BoundingBoxes(torch.cat([corner, corner + sides], 1), format="XYXY", canvas_size=(height, width))
    return tv_tensors.Image(image), boxes


def test_zoom_crop_resize_gives_what_v2s_zoom_out_crop_and_resize_give() -> None:
    """For the same draws, the one step gives v2's ``pad`` -> ``crop`` -> ``resize``: the same
    boxes, the same image to the bit where the crop lies inside the photo, and where the zoomed-out
    canvas shows, the photo's edge on the nearest output pixel (under 3 grey levels apart on
    average on a smooth photo)."""
    from torchvision.transforms.v2 import functional as F

    step = ZoomCropResize(96)
    image, boxes = _smooth_photo(60, 80, seed=0)
    kinds = set()
    for seed in range(60):
        torch.manual_seed(seed)
        params = step.make_params([image, boxes])
        window = [params[key] for key in ("top", "left", "height", "width")]
        reference = F.resize(F.crop(F.pad(image, params["padding"], fill=list(SSD_FILL)), *window), [96, 96])
        moved = F.crop(F.pad(boxes, params["padding"]), *window)
        if params["is_within_crop_area"] is not None:
            moved[~params["is_within_crop_area"]] = 0
        assert torch.equal(step.transform(boxes, params), F.resize(moved, [96, 96]))
        out = step.transform(image, params)
        assert isinstance(out, tv_tensors.Image) and out.shape == (3, 96, 96) and out.dtype == torch.uint8
        left, top = params["padding"][:2]
        inside = left <= window[1] and top <= window[0] and window[1] + window[3] <= left + 80
        inside = inside and window[0] + window[2] <= top + 60
        kinds.add(inside)
        if inside:
            assert torch.equal(out, reference), seed
        else:
            assert (out.float() - reference.float()).abs().mean() < 3, seed
    assert kinds == {True, False}


def test_zoom_crop_resize_keeps_the_boxes_on_the_photos_pixels() -> None:
    """The image is made apart from the boxes (from the photo's pixels alone): over many draws, a
    white rectangle's pixels must still lie where its box went (within a pixel and a half)."""
    image = torch.zeros(3, 60, 80, dtype=torch.uint8)
    image[:, 10:30, 50:75] = 255
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[50.0, 10, 75, 30]]), format="XYXY", canvas_size=(60, 80))
    step, checked = ZoomCropResize(64), 0
    for seed in range(40):
        torch.manual_seed(seed)
        params = step.make_params([tv_tensors.Image(image), boxes])
        out, moved = step.transform(tv_tensors.Image(image), params), step.transform(boxes, params)
        box = moved[0]
        if (box[2] - box[0]) < 3 or (box[3] - box[1]) < 3:  # cut away or too small to measure
            continue
        ys, xs = torch.nonzero(out[0] > 190, as_tuple=True)
        where = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
        assert (where - box).abs().max() <= 1.5, (seed, where, box)
        checked += 1
    assert checked >= 20


def test_zoom_crop_resize_zooms_out_half_the_photos_onto_the_fill() -> None:
    """torchvision's zoom-out draw at p = 0.5: for one seed, the canvas and the photo's place on it
    that ``v2.RandomZoomOut`` draws; about half the photos get a canvas (1-4x each side); and a
    photo zoomed out with no crop lands at its place on the fill colour."""
    from torchvision.transforms import v2

    step = ZoomCropResize(64)
    image, boxes = _smooth_photo(50, 50, seed=1)
    for seed in range(20):
        torch.manual_seed(seed)
        _, moved = v2.RandomZoomOut(fill=list(SSD_FILL))(image, boxes)
        (height, width), (left, top) = moved.canvas_size, (moved - boxes)[0, :2].round().int().tolist()
        torch.manual_seed(seed)
        assert step.make_params([image, boxes])["padding"] == [left, top, width - 50 - left, height - 50 - top]
    torch.manual_seed(0)
    draws = [step.make_params([image, boxes]) for _ in range(400)]
    zoomed = [d for d in draws if any(d["padding"])]
    assert 0.42 < len(zoomed) / len(draws) < 0.58
    assert all(1 <= (50 + d["padding"][0] + d["padding"][2]) / 50 <= 4 for d in zoomed)
    # A 150x150 canvas with the photo at x 50-100, y 0-50, kept whole and resized to 64: the photo
    # spans x 21.3-42.7 and y 0-21.3 of the output, so pixels 21-42 and 0-20, on the fill.
    from torchvision.transforms.v2 import functional as F

    whole = {"padding": [50, 0, 50, 100], "top": 0, "left": 0, "height": 150, "width": 150, "is_within_crop_area": None}
    out = step.transform(image, whole)
    assert torch.equal(out[:, 0:21, 21:43], F.resize(image, [21, 22], antialias=True))
    out[:, 0:21, 21:43] = torch.tensor(SSD_FILL, dtype=torch.uint8).view(3, 1, 1)
    assert out.eq(torch.tensor(SSD_FILL, dtype=torch.uint8).view(3, 1, 1)).all()


def test_flip_moves_box_with_white_pixels(tmp_path: Path) -> None:
    photo(tmp_path / "a.png", (4, 6, 14, 20))
    from torchvision.transforms import v2

    from lucid.preprocessing import read_image

    image = tv_tensors.Image(read_image(tmp_path / "a.png"))
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[4.0, 6, 14, 20]]), format="XYXY", canvas_size=(H, W))
    for transform in (v2.Compose([v2.RandomHorizontalFlip(1.0), eval_transform(W)]), eval_transform(W)):
        out, target = transform(image, {"boxes": boxes, "labels": torch.tensor([1])})
        x1, y1, x2, y2 = (round(v) for v in target["boxes"][0].tolist())
        white = out[0] > 127
        assert white[y1:y2, x1:x2].float().mean() > 0.95 and white.sum() <= (x2 - x1) * (y2 - y1) + 2 * (x2 - x1)


# --------------------------------------------------------------------------------------------
# one orientation: what training reads is what lucid predict reads


def _turned_photo(path: Path) -> Path:
    """A photo stored 40x30 that viewers show 30x40 (EXIF orientation 6), a white bar on its
    stored left, so on top as shown."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (W, H))
    image.paste((255, 255, 255), (0, 0, 8, H))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(path, exif=exif, quality=95)
    return path


def test_photos_with_an_exif_rotation_are_trained_as_shown(tmp_path: Path) -> None:
    from lucid.preprocessing import read_image

    lines = {f"p{i}": "0 0.5 0.1 1.0 0.2\n" for i in range(5)}  # the bar as shown: full width, on top
    yolo_split(tmp_path / "images", tmp_path / "labels", lines)
    for key in lines:
        _turned_photo(tmp_path / "images" / f"{key}.jpg")
    (tmp_path / "classes.txt").write_text("bar\n", encoding="utf-8")
    train, val, info = detection_datasets(tmp_path, image_size=32)
    record = val.records[0]
    image, _ = val.load(0)
    assert (record.width, record.height, record.upright) == (H, W, True)
    assert torch.equal(image.as_subclass(torch.Tensor), read_image(record.image, 3))  # what predict reads
    assert val.ground_truth(0)["boxes"].tolist() == [[0.0, 0.0, 30.0, 8.0]]
    assert not [n for n in info.notes if "EXIF" in n]


def test_a_box_file_that_states_the_stored_size_is_read_on_the_stored_pixels(tmp_path: Path) -> None:
    root = voc_devkit(tmp_path, cats_and_dogs(), {"train": ["p0", "p1", "p2", "p3"], "val": ["p4", "p5"]})
    _turned_photo(root / "JPEGImages" / "p4.jpg")  # its XML says 40x30, the stored size
    _, val, info = detection_datasets(root, image_size=64)
    record = next(r for r in val.records if r.key.endswith("p4.jpg"))
    assert (record.width, record.height, record.upright) == (W, H, False)
    assert tuple(val.load(val.records.index(record))[0].shape) == (3, H, W)
    note(info, "1 photos carry an EXIF rotation but their annotations state the stored size", "p4.jpg")


# --------------------------------------------------------------------------------------------
# class lists


def _yolo_named(root: Path, names: str) -> Path:
    yolo_split(root / "images", root / "labels", {f"p{i}": f"{i % 2} 0.5 0.5 0.5 0.4\n" for i in range(6)})
    (root / "classes.txt").write_bytes(names.encode("latin-1"))
    return root


def test_given_classes_match_the_datas_by_name_and_the_difference_is_said(tmp_path: Path) -> None:
    root = _yolo_named(tmp_path / "swapped", "dog\ncat\n")  # id 0 is dog here
    _, val, info = detection_datasets(root, image_size=32, classes=["cat", "dog"], val_fraction=0.5)
    for i, record in enumerate(val.records):
        key = int(Path(record.key).stem[1:])
        assert record.labels.tolist() == [2 if key % 2 == 0 else 1], i  # dog is the given second class
    note(info, "lists its classes as dog, cat", "2 classes given (cat, dog)")
    with pytest.raises(DataError, match=r"no usable boxes .* \(the data's classes dog, cat; given chat, chien\)"):
        detection_datasets(root, image_size=32, classes=["chat", "chien"])


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("cat\nd\xf6g\n", r"classes.txt:2: not UTF-8 text \(byte 0xf6\)"),
        ("cat\ncat\n", r"classes.txt: class names must be distinct; repeated: cat"),
    ],
)
def test_a_bad_class_list_is_named_with_its_file(tmp_path: Path, names: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        detection_datasets(_yolo_named(tmp_path / "d", names), image_size=32)


def test_detection_data_given_to_the_other_tasks_is_named_as_detection_data(tmp_path: Path, capsys) -> None:
    from lucid.cli import main
    from lucid.tasks import CalibrationPicks, get_task

    # JPEGImages/ + Annotations/: folder names segmentation's layouts use for images and masks too
    root = voc_devkit(tmp_path / "voc", cats_and_dogs(), {"train": ["p0", "p1", "p2", "p3"], "val": ["p4", "p5"]})
    assert main(["train", "--task", "segment", "--data", str(root), "--out", str(tmp_path / "r")]) == 2
    assert "holds box annotations (.xml files), not masks: detection data" in capsys.readouterr().err
    with pytest.raises(DataError, match="holds photos with box annotations"):
        get_task("classify").calibration_sets(str(root), None, {}, CalibrationPicks(None, None, 0))


def test_a_long_class_list_is_shortened_in_the_note(tmp_path: Path) -> None:
    root = _yolo_named(tmp_path / "many", "\n".join(f"c{i}" for i in range(40)) + "\n")
    _, _, info = detection_datasets(root, image_size=32)
    assert note(info, "40 classes").endswith("c29 and 10 more")


def test_a_download_root_around_the_data_is_read_from_its_one_folder(tmp_path: Path) -> None:
    """``BCCD_Dataset/``: a README beside ``BCCD/`` (the VOC tree): read from BCCD/, said in a note;
    a root with two folders, or whose one folder holds no boxes, is still refused."""
    from drawing_helpers import boxes_folder

    root = tmp_path / "download"
    boxes_folder(root / "BCCD", count=4)
    (root / "README.md").write_text("blood cells")
    layout = find_detection_layout(root)
    assert layout.root == root / "BCCD" and layout.name == "yolo" and len(layout.train) == 4
    assert layout.notes[0] == f"{root}: its one folder BCCD/ holds the data; reading {root / 'BCCD'}"
    (root / "other").mkdir()
    with pytest.raises(DataError, match="no box annotations found"):
        find_detection_layout(root)
    devkit = tmp_path / "VOCdevkit"  # Pascal VOC's own download: VOCdevkit/VOC2012/, its XML apart from the photos
    voc_devkit(devkit / "VOC2012", cats_and_dogs(), {"train": ["p0", "p1", "p2", "p3"], "val": ["p4", "p5"]})
    layout = find_detection_layout(devkit)
    assert layout.root == devkit / "VOC2012" and layout.name == "voc" and all(r.objects for r in layout.train)
    empty = tmp_path / "empty"
    (empty / "inner" / "photos").mkdir(parents=True)
    with pytest.raises(DataError, match="no box annotations found"):
        find_detection_layout(empty)


def test_lucid_train_finds_detection_in_a_download_around_a_voc_tree(tmp_path: Path) -> None:
    """``lucid train --data`` without ``--task`` trains detection on a VOC tree of boxes inside a
    download's root (README + ``BCCD/``; the repository's ``BCCD/`` beside ``scripts/`` and an
    example photo). Before, segmentation claimed the first (``JPEGImages/`` + ``Annotations/`` are
    image and mask folder names) and then stopped on its XML; the second was offered to
    segmentation as well."""
    from lucid.tasks import task_of_data

    tree = {"train": ["p0", "p1", "p2", "p3"], "val": ["p4", "p5"]}
    wrapped = tmp_path / "download"
    voc_devkit(wrapped / "BCCD", cats_and_dogs(), tree)
    (wrapped / "README.md").write_text("blood cells")
    repository = tmp_path / "BCCD_Dataset"
    voc_devkit(repository / "BCCD", cats_and_dogs(), tree)
    (repository / "scripts").mkdir()
    (repository / "scripts" / "split.py").write_text("print(1)\n")
    photo(repository / "example.jpg")
    for root in (wrapped, repository):
        claimed = task_of_data(str(root))
        assert claimed is not None and claimed[0] == "detect" and "--task segment" not in claimed[1], claimed
        assert find_detection_layout(root).root == root / "BCCD"


def _large_photos(root: Path, count: int = 6, size: tuple[int, int] = (1800, 1350)) -> Path:
    """A YOLO layout of large JPEGs, each with a white rectangle and its box (the class "box")."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("box\n")
    width, height = size
    for i in range(count):
        image = Image.new("RGB", size, (20, 20, 30))
        x, y = 200 + 150 * i, 300 + 80 * i
        image.paste((255, 255, 255), (x, y, x + 480, y + 360))
        image.save(root / "images" / f"p{i}.jpg", quality=95)
        line = f"0 {(x + 240) / width:.6f} {(y + 180) / height:.6f} {480 / width:.6f} {360 / height:.6f}"
        (root / "labels" / f"p{i}.txt").write_text(line + "\n")
    return root


def test_large_jpegs_decode_smaller_for_training_with_their_boxes_scaled_to_the_same_pixels(tmp_path: Path) -> None:
    """A training photo far larger than the model input is decoded at a fraction of its size,
    its shorter side >= input / 0.3 (what the IoU crop may keep), and its boxes move with it.
    Validation decodes the photo whole, as lucid predict does, so both give the model one input;
    the mAP's ground truth stays in the photo's own pixels."""
    from lucid.preprocessing import read_image

    train, val, _ = detection_datasets(_large_photos(tmp_path / "big"), image_size=160, val_fraction=0.34, seed=0)
    image, target = train.load(0)
    height, width = image.shape[-2:]
    side = math.ceil(160 / 0.3)
    assert side <= min(height, width) < 2 * side and (width, height) != (1800, 1350)
    rows, cols = torch.nonzero(image[0] > 127, as_tuple=True)
    where = torch.tensor([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], dtype=torch.float32)
    assert (where - target["boxes"][0]).abs().max() <= 1.5
    for dataset in (train, val):
        truth = dataset.ground_truth(0)
        assert truth["orig_size"] == (1350, 1800)
        assert truth["boxes"][0, 2] - truth["boxes"][0, 0] == pytest.approx(480, abs=0.1)
    whole, _ = val.load(0)
    assert torch.equal(whole.as_subclass(torch.Tensor), read_image(val.records[0].image))
    image, target = val[0]
    assert image.shape == (3, 160, 160) and target["orig_size"] == (1350, 1800)


def studio_region(kind: str, value: dict, labels: list[str] | None = None, size: tuple[int, int] = (W, H)) -> dict:
    """One Label Studio result: ``value``'s numbers in percent of ``size``, labelled ``labels``."""
    if labels is not None:
        value = {**value, kind: labels}
    return {"type": kind, "value": value, "original_width": size[0], "original_height": size[1], "from_name": "x"}


def test_label_studio_json_export_gives_each_regions_box_in_pixels(tmp_path: Path) -> None:
    """Label Studio's JSON export beside its photos: percent of ``original_width`` and
    ``original_height`` become pixels; a rectangle turns about its top-left corner; polygons and
    ellipses give the box around them; uploads (``/data/upload/1/1a2b3c4d-p0.jpg``) are found under
    their own names; the ground-truth annotation is read, a cancelled one never; choices are no
    region, brushes are counted; a task without annotations is not labelled."""
    root = tmp_path / "studio"
    regions = [
        studio_region("rectanglelabels", {"x": 5, "y": 10, "width": 45, "height": 73.333}, ["cat"]),
        studio_region("polygonlabels", {"points": [[55, 50 / 3], [95, 50 / 3], [75, 280 / 3]]}, ["dog"]),
        studio_region("ellipselabels", {"x": 75, "y": 50, "radiusX": 12.5, "radiusY": 50 / 3}, ["dog"]),
        studio_region(
            "rectanglelabels", {"x": 25, "y": 100 / 3, "width": 25, "height": 40 / 3, "rotation": 90}, ["cat"]
        ),
        studio_region("brushlabels", {"format": "rle", "rle": [1, 2]}, ["cat"]),
        {"type": "choices", "value": {"choices": ["day"]}, "from_name": "when"},
    ]
    tasks = []
    for i in range(6):
        photo(root / "images" / f"p{i}.jpg")
        image = f"/data/upload/1/{i:08x}-p{i}.jpg" if i % 2 else f"/data/local-files/?d=images/p{i}.jpg"
        wrong = [studio_region("rectanglelabels", {"x": 0, "y": 0, "width": 10, "height": 10}, ["cat"])]
        annotations = [
            {"result": wrong, "was_cancelled": True},
            {"result": regions if i < 5 else [], "ground_truth": False},
            {"result": wrong, "ground_truth": i == 4},
        ]
        tasks.append({"id": i + 1, "data": {"image": image}, "annotations": annotations, "predictions": []})
    photo(root / "images" / "later.jpg")
    tasks.append({"id": 7, "data": {"image": "/data/upload/1/0000000a-later.jpg"}, "annotations": []})
    (root / "project-1-at-2026-12-07-06-40-0f3a1b2c.json").write_text(json.dumps(tasks))
    assert looks_like_detection(root)
    train, val, info = detection_datasets(root, image_size=32, val_fraction=1 / 3)
    assert (info.layout, info.classes, len(train) + len(val)) == ("labelstudio", ["cat", "dog"], 6)
    records = {Path(r.image).name: r for r in [*train.records, *val.records]}
    boxes = records["p1.jpg"].boxes.tolist()
    assert sum(boxes[:3], []) == pytest.approx([2, 3, 20, 25, 22, 5, 38, 28, 25, 10, 35, 20], abs=1e-3)
    assert boxes[3] == pytest.approx([6, 10, 10, 20], abs=1e-3)  # 10 x 4 at (10, 10), turned a quarter about it
    assert records["p1.jpg"].labels.tolist() == [1, 2, 2, 1]
    assert records["p4.jpg"].boxes.tolist() == [[0, 0, 4, 3]]  # the ground truth, not the first
    assert records["p5.jpg"].boxes.tolist() == []  # annotated with no regions: a negative
    assert "4 regions are not used (4 brushlabels shapes)" in note(info, "regions are not")  # p4: its ground truth
    assert "1 photos are in no Label Studio JSON file" in note(info, "no Label Studio")


def test_label_studio_json_min_export_and_its_polygons_as_masks(tmp_path: Path, monkeypatch) -> None:
    """Label Studio's JSON-MIN export (one entry per photo, the regions inline under their control's
    name) reads the same; its polygons are drawn into class masks by segmentation."""
    from lucid.segment import segmentation_datasets

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    entries = []
    for i in range(4):
        photo(tmp_path / f"p{i}.png")
        road = {"points": [[0, 50], [100, 50], [100, 100], [0, 100]], "polygonlabels": ["road"]}
        car = {"x": 10, "y": 40, "width": 20, "height": 20, "rectanglelabels": ["car"]}
        regions = [{**r, "original_width": W, "original_height": H} for r in (road, car)]
        entries.append({"image": f"s3://bucket/photos/p{i}.png", "id": i, "label": regions, "annotator": 1})
    (tmp_path / "export.json").write_text(json.dumps(entries))
    train, val, info = detection_datasets(tmp_path, image_size=32, val_fraction=0.25)
    assert (info.layout, info.classes, len(train), len(val)) == ("labelstudio", ["car", "road"], 3, 1)
    assert sorted(train.records[0].boxes.tolist()) == [[0, 15, 40, 30], [4, 12, 12, 18]]
    seg_train, seg_val, seg_info = segmentation_datasets(tmp_path, crop_size=(H, W), val_fraction=0.25)
    assert seg_info.classes == ["background", "car", "road"] and len(seg_train) + len(seg_val) == 4
    mask = seg_train.load(0)[1]
    assert mask[16].tolist() == [2] * 4 + [1] * 8 + [2] * 28 and set(mask[:12].flatten().tolist()) == {0}


def test_cub_birds_give_each_photo_its_box_split_by_its_list(tmp_path: Path) -> None:
    """CUB-200-2011 as its archive unpacks (``CUB_200_2011/`` beside ``attributes.txt``): each
    photo's one box from ``bounding_boxes.txt`` (``x y width height``), its class from
    ``image_class_labels.txt`` + ``classes.txt``, split by ``train_test_split.txt``. Before: no
    box annotations found (classification's layout, which still claims it first)."""
    from lucid.tasks import task_of_data

    root = tmp_path / "download" / "CUB_200_2011"
    root.mkdir(parents=True)
    (tmp_path / "download" / "attributes.txt").write_text("1 has_bill_shape::dagger\n")
    classes = {"1": "001.Black_footed_Albatross", "2": "002.Laysan_Albatross"}
    lines: dict[str, list[str]] = {"images": [], "boxes": [], "labels": [], "split": []}
    for i in range(1, 9):
        label = "1" if i % 2 else "2"
        path = f"{classes[label]}/bird_{i}.jpg"
        photo(root / "images" / path)
        lines["images"].append(f"{i} {path}")
        lines["boxes"].append(f"{i} 2.0 3.0 18.0 22.0")
        lines["labels"].append(f"{i} {label}")
        lines["split"].append(f"{i} {int(i <= 6)}")
    for name, key in (("images", "images"), ("bounding_boxes", "boxes"), ("image_class_labels", "labels")):
        (root / f"{name}.txt").write_text("\n".join(lines[key]) + "\n")
    (root / "classes.txt").write_text("".join(f"{k} {v}\n" for k, v in classes.items()))
    (root / "train_test_split.txt").write_text("\n".join(lines["split"]) + "\n")
    claimed = task_of_data(str(tmp_path / "download"))
    assert claimed is not None and claimed[0] == "classify" and "--task detect" in claimed[1]
    train, val, info = detection_datasets(tmp_path / "download", image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("cub", list(classes.values()), 6, 2)
    assert train.records[0].boxes.tolist() == [[2, 3, 20, 25]]
    (root / "bounding_boxes.txt").write_text("1 2.0 3.0 18.0\n")
    with pytest.raises(
        DataError, match=r"bounding_boxes.txt:1: expected an image id and 4 field\(s\), got '1 2.0 3.0 18.0'"
    ):
        detection_datasets(tmp_path / "download", image_size=32)


def _boxes_of(images) -> dict[str, list[tuple[str, list[float]]]]:
    return {r.image.name: sorted((o.name, [float(v) for v in o.box]) for o in r.objects) for r in images}


def test_visdrone_parts_give_named_boxes_and_leave_ignored_regions_out(tmp_path: Path) -> None:
    """VisDrone-DET: ``VisDrone2019-DET-train/images/`` + ``annotations/`` of ``left,top,width,height,
    score,category,truncation,occlusion`` lines (and ``-val``): categories named as VisDrone names
    them, score-0 ignored regions counted, not trained on. Before: taken for segmentation (images/
    + annotations/) and refused."""
    from lucid.detect.data import find_detection_layout
    from lucid.tasks import task_of_data

    root = tmp_path / "visdrone"
    for part, count in (("VisDrone2019-DET-train", 3), ("VisDrone2019-DET-val", 1)):
        for i in range(count):
            photo(root / part / "images" / f"0000{i}_00001_d_0000001.jpg")
            (root / part / "annotations").mkdir(parents=True, exist_ok=True)
            lines = ["4,5,10,8,1,4,0,0", "20,2,6,12,1,1,0,1", "1,1,3,3,0,0,0,0,"]
            (root / part / "annotations" / f"0000{i}_00001_d_0000001.txt").write_text("\n".join(lines) + "\n")
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "detect" and "segment" not in claimed[1], claimed
    layout = find_detection_layout(root)
    assert (layout.name, len(layout.train), len(layout.val or [])) == ("visdrone", 3, 1)
    assert _boxes_of(layout.train)["00000_00001_d_0000001.jpg"] == [
        ("car", [4, 5, 14, 13]),
        ("pedestrian", [20, 2, 26, 14]),
    ]
    assert any("4 VisDrone ignored regions (score 0) are not trained on" in note for note in layout.notes)
    train, val, info = detection_datasets(root, image_size=32)
    assert info.classes == ["car", "pedestrian"] and (len(train), len(val)) == (3, 1)
    (root / "VisDrone2019-DET-val" / "annotations" / "00000_00001_d_0000001.txt").write_text(
        "4,5,10,8,1,4,0,0\n4,5,10,8,1,x,0,0\n"
    )
    with pytest.raises(DataError, match=r"00000_00001_d_0000001.txt:2: expected 'left,top,width,height,score,category"):
        find_detection_layout(root)


def test_dota_oriented_boxes_give_the_box_around_their_corners(tmp_path: Path) -> None:
    """DOTA: ``train/images/P0001.png`` + ``train/labelTxt-v1.0/labelTxt/P0001.txt`` (and ``val/``):
    ``imagesource:``/``gsd:`` header lines, then ``x1 y1 ... x4 y4 class difficult``; a turned box's
    box is the one around its corners, and difficult boxes are marked. Before: "class folder(s)
    ['labelTxt'] hold no images"."""
    from lucid.detect.data import find_detection_layout

    root = tmp_path / "dota"
    for split, count in (("train", 3), ("val", 2)):
        for i in range(count):
            photo(root / split / "images" / f"P{i:04d}.png")
            labels = root / split / "labelTxt-v1.0" / "labelTxt"
            labels.mkdir(parents=True, exist_ok=True)
            lines = [
                "imagesource:GoogleEarth",
                "gsd:0.146",
                "10 2 20 8 14 18 4 12 plane 0",
                "1 1 9 1 9 5 1 5 small-vehicle 1",
            ]
            (labels / f"P{i:04d}.txt").write_text("\n".join(lines) + "\n")
    layout = find_detection_layout(root)
    assert (layout.name, len(layout.train), len(layout.val or [])) == ("dota", 3, 2)
    (image,) = [r for r in layout.train if r.image.name == "P0000.png"]
    assert sorted((o.name, o.box, o.difficult) for o in image.objects) == [
        ("plane", (4.0, 2.0, 20.0, 18.0), False),
        ("small-vehicle", (1.0, 1.0, 9.0, 5.0), True),
    ]


def test_oidv4_toolkit_pools_a_photos_boxes_from_its_class_folders(tmp_path: Path) -> None:
    """OIDv4_ToolKit: ``OID/Dataset/train/<Class>/x.jpg`` + ``<Class>/Label/x.txt`` of ``<Class name>
    xmin ymin xmax ymax`` (names with spaces), ``validation/`` alike; a photo downloaded for two
    classes lies in both folders and is one photo with both classes' boxes. Before: its class
    folders trained a classifier."""
    from lucid.detect.data import find_detection_layout
    from lucid.tasks import task_of_data

    root = tmp_path / "OID" / "Dataset"
    for split, count in (("train", 3), ("validation", 1)):
        for i in range(count):
            for cls, box in (("Traffic light", "2.0 3.0 10.5 12.0"), ("Car", "15 4 30 20")):
                photo(root / split / cls / f"{split}{i:03d}.jpg")
                (root / split / cls / "Label").mkdir(exist_ok=True)
                (root / split / cls / "Label" / f"{split}{i:03d}.txt").write_text(f"{cls} {box}\n")
    claimed = task_of_data(str(tmp_path))
    assert claimed is not None and claimed[0] == "detect"
    layout = find_detection_layout(tmp_path)
    assert (layout.name, len(layout.train), len(layout.val or [])) == ("oid", 3, 1)
    assert _boxes_of(layout.train)["train000.jpg"] == [("Car", [15, 4, 30, 20]), ("Traffic light", [2, 3, 10.5, 12])]


def test_bdd100k_frames_give_their_box2d_boxes(tmp_path: Path) -> None:
    """BDD100K: ``labels/bdd100k_labels_images_train.json`` + ``_val.json`` (frames of ``name`` and
    ``labels``), the photos in ``images/100k/train/`` + ``val/``: each ``box2d`` a box named by its
    category; lanes and drivable areas (``poly2d``) counted, not trained on. Before: "one class
    folder only"."""
    from lucid.detect.data import find_detection_layout

    root = tmp_path / "bdd100k"
    for split, count in (("train", 3), ("val", 2)):
        frames = []
        for i in range(count):
            photo(root / "images" / "100k" / split / f"{split}-{i}.jpg")
            labels = [
                {"category": "car", "box2d": {"x1": 2.5, "y1": 3, "x2": 20, "y2": 15}, "id": 1},
                {"category": "traffic light", "box2d": {"x1": 30, "y1": 1, "x2": 33, "y2": 9}, "id": 2},
                {"category": "lane", "poly2d": [{"vertices": [[0, 0], [5, 5]], "closed": False}], "id": 3},
            ]
            frames.append({"name": f"{split}-{i}.jpg", "attributes": {}, "timestamp": 10000, "labels": labels})
        (root / "labels").mkdir(parents=True, exist_ok=True)
        (root / "labels" / f"bdd100k_labels_images_{split}.json").write_text(json.dumps(frames))
    layout = find_detection_layout(root)
    assert (layout.name, len(layout.train), len(layout.val or [])) == ("bdd100k", 3, 2)
    assert _boxes_of(layout.train)["train-0.jpg"] == [("car", [2.5, 3, 20, 15]), ("traffic light", [30, 1, 33, 9])]
    assert any("5 labels without a box2d (lane) are not trained on" in note for note in layout.notes)


def test_crowdai_table_names_its_photos_by_frame(tmp_path: Path) -> None:
    """Udacity's CrowdAI ``labels.csv`` (``xmin,xmax,ymin,ymax,Frame,Label,Preview URL``): ``Frame``
    names the photo. Before: no photo column, so no box table."""
    from lucid.detect.data import find_detection_layout

    rows = ["xmin,xmax,ymin,ymax,Frame,Label,Preview URL"]
    for i in range(4):
        photo(tmp_path / f"147{i}.jpg")
        rows.append(f"5,25,4,20,147{i}.jpg,Car,http://crowdai.com/images/x")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    layout = find_detection_layout(tmp_path)
    assert layout.name == "csv" and _boxes_of(layout.train)["1470.jpg"] == [("Car", [5, 4, 25, 20])]


def test_headerless_keras_retinanet_tables_split_by_their_names(tmp_path: Path) -> None:
    """SKU-110K: ``images/train_0.jpg`` ... + ``annotations/annotations_train.csv`` +
    ``annotations_val.csv`` without a header (keras-retinanet's ``path,x1,y1,x2,y2,class``, SKU
    adding the photo's width and height); a ``path,,,,,`` row is a photo without boxes. Before:
    its ``train_0.jpg`` + ``val_0.jpg`` trained a classifier of the classes "train" and "val"."""
    from lucid.detect.data import find_detection_layout
    from lucid.tasks import task_of_data

    root = tmp_path / "SKU110K_fixed"
    (root / "annotations").mkdir(parents=True)
    for split, count in (("train", 4), ("val", 2), ("test", 2)):
        rows = []
        for i in range(count):
            photo(root / "images" / f"{split}_{i}.jpg")
            rows += [f"{split}_{i}.jpg,2,3,12,14,object,{W},{H}", f"{split}_{i}.jpg,20,5,30,25,object,{W},{H}"]
        rows.append(f"{split}_{count - 1}.jpg,,,,,")
        (root / "annotations" / f"annotations_{split}.csv").write_text("\n".join(rows) + "\n")
    claimed = task_of_data(str(tmp_path))
    assert claimed is not None and claimed[0] == "detect", claimed
    layout = find_detection_layout(root)
    assert (layout.name, len(layout.train), len(layout.val or [])) == ("csv", 4, 2)
    assert _boxes_of(layout.train)["train_0.jpg"] == [("object", [2, 3, 12, 14]), ("object", [20, 5, 30, 25])]
    (root / "annotations" / "annotations_val.csv").write_text("val_0.jpg,2,3,12,14,object\n,,,,,\nval_1.jpg,,,,,\n")
    assert _boxes_of(find_detection_layout(root).val or [])["val_1.jpg"] == []


def test_crowdhuman_odgt_gives_full_body_boxes(tmp_path: Path) -> None:
    """CrowdHuman: ``Images/<ID>.jpg`` + ``annotation_train.odgt`` + ``annotation_val.odgt`` (a JSON
    object per line): each person's full-body ``fbox`` (``x y w h``), ``extra.ignore`` difficult,
    ``mask`` regions counted and not trained on. Before: no box annotations found."""
    from lucid.detect.data import find_detection_layout

    root = tmp_path / "CrowdHuman"
    for split, count in (("train", 3), ("val", 2)):
        lines = []
        for i in range(count):
            photo(root / "Images" / f"27327{i},{split}c15.jpg")
            boxes = [
                {
                    "tag": "person",
                    "fbox": [2, 3, 10, 20],
                    "vbox": [2, 3, 5, 5],
                    "hbox": [4, 3, 3, 3],
                    "extra": {"box_id": 0},
                },
                {"tag": "person", "fbox": [20, 1, 8, 12], "extra": {"box_id": 1, "ignore": 1}},
                {"tag": "mask", "fbox": [30, 20, 5, 5], "extra": {"ignore": 1}},
            ]
            lines.append(json.dumps({"ID": f"27327{i},{split}c15", "gtboxes": boxes}))
        (root / f"annotation_{split}.odgt").write_text("\n".join(lines) + "\n")
    layout = find_detection_layout(root)
    assert (layout.name, len(layout.train), len(layout.val or [])) == ("crowdhuman", 3, 2)
    (image,) = [r for r in layout.train if r.image.name == "273270,trainc15.jpg"]
    assert [(o.name, o.box, o.difficult) for o in image.objects] == [
        ("person", (2.0, 3.0, 12.0, 23.0), False),
        ("person", (20.0, 1.0, 28.0, 13.0), True),
    ]
    assert any("5 CrowdHuman mask regions (ignored) are not trained on" in note for note in layout.notes)
    (root / "annotation_val.odgt").write_text('{"ID": "x"}\nnot json\n')
    with pytest.raises(DataError, match=r"annotation_val.odgt:2: expected a JSON object with 'ID' and 'gtboxes'"):
        find_detection_layout(root)


def test_mot_sequences_split_in_halves_once_per_sequence(tmp_path: Path) -> None:
    """MOT17: ``train/MOT17-02-FRCNN/img1/000001.jpg`` + ``gt/gt.txt`` (``frame,id,left,top,width,
    height,considered,class,visibility``) and its ``-DPM`` / ``-SDP`` copies: each sequence read
    once, its considered pedestrians (class 1) the boxes, other classes and unconsidered boxes
    counted; the first half of each sequence's frames trains, the second half validates. Before:
    no box annotations found."""
    from lucid.detect.data import find_detection_layout

    root = tmp_path / "MOT17"
    for sequence in ("MOT17-02", "MOT17-04"):
        for detector in ("DPM", "FRCNN", "SDP"):
            folder = root / "train" / f"{sequence}-{detector}"
            lines = []
            for frame in range(1, 5):
                photo(folder / "img1" / f"{frame:06d}.jpg")
                lines += [
                    f"{frame},1,{frame},2,10,12,1,1,0.9",
                    f"{frame},2,20,3,5,5,0,1,1.0",
                    f"{frame},3,25,10,8,8,1,3,1.0",
                ]
            (folder / "gt").mkdir()
            (folder / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")
    (root / "test" / "MOT17-01-DPM" / "img1").mkdir(parents=True)
    layout = find_detection_layout(root)
    assert (layout.name, len(layout.train), len(layout.val or [])) == ("mot", 4, 4)
    assert {r.image.parent.parent.name for r in layout.train} == {"MOT17-02-DPM", "MOT17-04-DPM"}
    assert [r.image.name for r in layout.train[:2]] == ["000001.jpg", "000002.jpg"]
    assert [(o.name, o.box) for o in layout.train[1].objects] == [("pedestrian", (2.0, 2.0, 12.0, 14.0))]
    assert any("16 MOTChallenge boxes of other classes or not considered" in note for note in layout.notes)
    gt = root / "train" / "MOT17-02-DPM" / "gt" / "gt.txt"
    gt.write_text(gt.read_text() + "1,x,3\n")
    with pytest.raises(DataError, match=r"gt.txt:13: expected 'frame,id,left,top,width,height,considered"):
        find_detection_layout(root)


def _svhn_struct(path: Path, photos: list[tuple[str, list[tuple[int, float, float, float, float]]]]) -> None:
    """A ``digitStruct.mat`` as MATLAB v7.3 writes SVHN's (HDF5 with references): per photo its
    name (uint16 characters) and a group of ``label``, ``left``, ``top``, ``width``, ``height``, a
    number each for one digit, references to one number each for several."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as handle:
        store = handle.create_group("#refs#")
        count = 0

        def stored(data: np.ndarray):
            nonlocal count
            count += 1
            return store.create_dataset(f"r{count}", data=data).ref

        names, boxes = [], []
        for name, digits in photos:
            names.append(stored(np.array([[ord(c)] for c in name], np.uint16)))
            group = store.create_group(f"g{len(boxes)}")
            for index, key in enumerate(("label", "left", "top", "width", "height")):
                values = [digit[index] for digit in digits]
                if len(values) == 1:
                    group.create_dataset(key, data=np.array([[values[0]]], np.float64))
                else:
                    refs = [stored(np.array([[v]], np.float64)) for v in values]
                    group.create_dataset(key, data=np.array(refs, dtype=h5py.ref_dtype).reshape(-1, 1))
            boxes.append(group.ref)
        struct = handle.create_group("digitStruct")
        struct.create_dataset("name", data=np.array(names, dtype=h5py.ref_dtype).reshape(-1, 1))
        struct.create_dataset("bbox", data=np.array(boxes, dtype=h5py.ref_dtype).reshape(-1, 1))


def test_svhn_full_numbers_digit_boxes(tmp_path: Path) -> None:
    """SVHN format 1 (``train/1.png`` + ``train/digitStruct.mat``, ``test/``, ``extra/``): each digit's
    box from the MATLAB v7.3 file (one digit stored as numbers, several as references), label 10
    the digit 0; test/ validates (said) and extra/ is not read. Before: "no box annotations"."""
    root = tmp_path / "svhn"
    layouts = {
        "train": [
            ("1.png", [(1, 2.0, 3.0, 8.0, 12.0), (10, 12.0, 3.0, 7.0, 12.0)]),
            ("2.png", [(5, 4.0, 5.0, 9.0, 11.0)]),
        ],
        "test": [("1.png", [(9, 6.0, 2.0, 8.0, 14.0), (3, 16.0, 2.0, 8.0, 14.0)])],
        "extra": [("1.png", [(7, 1.0, 1.0, 5.0, 5.0)])],
    }
    for split, photos in layouts.items():
        for name, _ in photos:
            photo(root / split / name)
        _svhn_struct(root / split / "digitStruct.mat", photos)
    assert looks_like_detection(root)
    train, val, info = detection_datasets(root, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == ("svhn", [str(d) for d in range(10)], 2, 1)
    first = train.ground_truth(0)
    assert first["boxes"].tolist() == [[2.0, 3.0, 10.0, 15.0], [12.0, 3.0, 19.0, 15.0]]
    assert [info.classes[i - 1] for i in first["labels"].tolist()] == ["1", "0"]  # 0 is the background
    note(info, "test/ validates")


def test_gtsdb_semicolon_lines_of_boxes(tmp_path: Path) -> None:
    """The German Traffic Sign Detection Benchmark (``FullIJCNN2013/00000.ppm`` + ``gt.txt`` of
    ``00000.ppm;774;411;815;446;11`` lines, no header; the class crops in ``00/`` ... beside):
    each line a box of its numbered class (43 declared), photos without a line kept as negatives,
    a line of another shape named. Before: a classifier of the crop folders."""
    from lucid.tasks import task_of_data

    root = tmp_path / "FullIJCNN2013"
    lines = []
    for i in range(6):
        photo(root / f"{i:05d}.ppm")
        if i < 5:
            lines.append(f"{i:05d}.ppm;{2 + i};3;{12 + i};9;{i % 2 * 11}")
    (root / "gt.txt").write_text("\n".join(lines) + "\n")
    for crop in ("00", "11"):
        photo(root / crop / "00000.ppm")
    claimed = task_of_data(str(tmp_path))
    assert claimed is not None and claimed[0] == "detect"
    train, val, info = detection_datasets(tmp_path, image_size=32)
    assert (info.layout, len(info.classes), len(train) + len(val)) == ("gtsdb", 43, 6)
    records = {r.image.name: r for r in [*train.records, *val.records]}
    assert records["00001.ppm"].boxes.tolist() == [[3.0, 3.0, 13.0, 9.0]]
    assert len(records["00005.ppm"].boxes) == 0
    (root / "gt.txt").write_text("00000.ppm;1;2;3\n")
    with pytest.raises(DataError):
        detection_datasets(tmp_path, image_size=32)
    # A malformed line after good ones is named by its line number.
    (root / "gt.txt").write_text("\n".join([*lines[:3], "00003.ppm;4;3;14", *lines[4:]]) + "\n")
    with pytest.raises(
        DataError, match=r"gt\.txt:4: expected 'photo;left;top;right;bottom;class', got '00003.ppm;4;3;14'"
    ):
        detection_datasets(tmp_path, image_size=32)

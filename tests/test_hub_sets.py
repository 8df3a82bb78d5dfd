"""Data sets as the Hugging Face Hub stores them (Parquet shards, ``save_to_disk`` Arrow files),
read by ``lucid train --data DIR`` for each task as the ``datasets`` library would read them.

The shards are written here as the ``datasets`` library writes them: an ``Image`` column is a
struct of the encoded file's ``bytes`` and its ``path``, and the schema's ``huggingface``
metadata records each column's feature (``ClassLabel`` names)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from cli_helpers import trained_then_rescored
from lucid.data import find_layout
from lucid.errors import DataError

IMAGE = {"_type": "Image"}


def encoded(pixels: np.ndarray, fmt: str = "JPEG") -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def image_cell(data: bytes, name: str) -> dict[str, Any]:
    return {"bytes": data, "path": name}


def table(rows: dict[str, list[Any]], features: dict[str, Any] | None) -> pa.Table:
    """``rows`` as an Arrow table, with the ``huggingface`` schema metadata of ``features``."""
    built = pa.table(rows)
    if features is not None:
        meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
        built = built.replace_schema_metadata(meta)
    return built


def write_parquet(path: Path, rows: dict[str, list[Any]], features: dict[str, Any] | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table(rows, features), path)
    return path


def photos(count: int, size: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]


def class_rows(count: int, seed: int, classes: int = 3) -> tuple[dict[str, list[Any]], list[bytes]]:
    files = [encoded(p) for p in photos(count, 16, seed)]
    cells = [image_cell(data, f"{i}.jpg") for i, data in enumerate(files)]
    return {"img": cells, "label": [i % classes for i in range(count)]}, files


CIFAR_FEATURES = {"img": IMAGE, "label": {"names": ["airplane", "bird", "cat"], "_type": "ClassLabel"}}


def test_parquet_photos_and_class_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CIFAR-10 as ``huggingface-cli download`` leaves it (``plain_text/train-00000-of-00001.parquet``
    + ``test-...``, a hidden ``.cache/``, a README): class folders named by the ``ClassLabel``
    names, the photos' bytes written as they are, the test split validating. Before: "no images"."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "cifar10"
    train, train_files = class_rows(9, 0)
    test, _ = class_rows(6, 1)
    write_parquet(root / "plain_text" / "train-00000-of-00001.parquet", train, CIFAR_FEATURES)
    write_parquet(root / "plain_text" / "test-00000-of-00001.parquet", test, CIFAR_FEATURES)
    (root / ".cache" / "huggingface").mkdir(parents=True)
    (root / "README.md").write_text("# CIFAR-10\n")
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_test",
        ["airplane", "bird", "cat"],
        9,
        6,
    )
    assert layout.train.files["airplane"][0].read_bytes() == train_files[0]
    assert layout.train.files["airplane"][0].suffix == ".jpg"
    assert any("Hugging Face" in note for note in layout.notes)


def test_save_to_disk_arrow_and_plain_label_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``DatasetDict.save_to_disk``'s folders (``train/data-00000-of-00001.arrow`` + its
    ``dataset_info.json``, an Arrow stream), a validation split beside a test one (validation
    validates), PNG bytes, and labels -1 (unlabelled rows) left out. A set without recorded
    features still reads: a struct of ``bytes`` and ``path`` is a photo, ``label`` its class."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "saved"
    features = {"image": IMAGE, "labels": {"names": ["healthy", "rust"], "_type": "ClassLabel"}}
    for split, count in (("train", 6), ("validation", 4), ("test", 2)):
        pixels = photos(count, 12, count)
        rows = {
            "image": [image_cell(encoded(p, "PNG"), f"{i}.png") for i, p in enumerate(pixels)],
            "labels": [i % 2 if split != "test" else -1 for i in range(count)],
        }
        folder = root / split
        folder.mkdir(parents=True)
        built = table(rows, None)
        with pa.OSFile(str(folder / "data-00000-of-00001.arrow"), "wb") as sink:
            with pa.ipc.new_stream(sink, built.schema) as writer:
                writer.write_table(built)
        (folder / "dataset_info.json").write_text(json.dumps({"features": features}))
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "validation", "test"]}))
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_val",
        ["healthy", "rust"],
        6,
        4,
    )
    assert layout.train.files["rust"][0].suffix == ".png"

    plain = tmp_path / "plain"
    rows, _ = class_rows(10, 3)
    write_parquet(plain / "data" / "train-00000-of-00001.parquet", rows, None)
    layout = find_layout(plain)
    assert (layout.kind, layout.classes, layout.train.count()) == ("single", ["0", "1", "2"], 10)


def test_hub_files_of_several_sets_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shards of two configurations (``cifar10/`` and ``cifar100/``) are two data sets: refused in
    one line naming both, not mixed into one; a shard that is no Parquet file is named."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "two"
    for config in ("cifar10", "cifar100"):
        rows, _ = class_rows(4, 0)
        write_parquet(root / config / "train-00000-of-00001.parquet", rows, CIFAR_FEATURES)
    with pytest.raises(DataError, match=r"2 data sets \(cifar10/, cifar100/\); pass one"):
        find_layout(root)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "train-00000-of-00001.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"train-00000-of-00001.parquet: not a readable parquet file"):
        find_layout(broken)


def street(i: int, size: tuple[int, int] = (24, 32)) -> tuple[np.ndarray, np.ndarray]:
    """Photo ``i`` and its mask: a band of class 1 and a block of class 2 on class 0 (road)."""
    mask = np.zeros(size, np.uint8)
    mask[: 6 + i % 5] = 1
    mask[12:20, 4 + i : 14 + i] = 2
    colours = np.array([[90, 90, 90], [70, 130, 180], [220, 20, 60]], np.uint8)
    return colours[mask], mask


def sidewalk(root: Path, count: int, splits: tuple[str, ...] = ("train",)) -> list[np.ndarray]:
    """``segments/sidewalk-semantic`` as downloaded: ``data/<split>-*.parquet`` of ``pixel_values``
    + ``label`` images, and ``id2label.json`` at the root. The masks, in row order."""
    masks = []
    for split in splits:
        pairs = [street(i + 10 * len(masks)) for i in range(count)]
        masks += [mask for _, mask in pairs]
        rows = {
            "pixel_values": [image_cell(encoded(photo, "PNG"), f"{i}.png") for i, (photo, _) in enumerate(pairs)],
            "label": [image_cell(encoded(mask, "PNG"), f"{i}_label.png") for i, (_, mask) in enumerate(pairs)],
        }
        write_parquet(root / "data" / f"{split}-00000-of-00001.parquet", rows, {"pixel_values": IMAGE, "label": IMAGE})
    (root / "id2label.json").write_text(json.dumps({"0": "road", "1": "sky", "2": "person"}))
    return masks


def test_parquet_photo_and_mask_columns_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two image columns are a photo and its mask: segmentation's data, each mask written as it is
    stored, the validation split validating and ``id2label.json`` naming the classes; the set is
    no classifier's. Before: "no images in class folders"."""
    from lucid.segment.data import find_layout as segmentation_layout
    from lucid.segment.data import holds_masks, segmentation_datasets

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "sidewalk"
    masks = sidewalk(root, 4, ("train", "validation"))
    assert holds_masks(root)
    layout = segmentation_layout(root)
    assert (layout.kind, len(layout.train), len(layout.val)) == ("splits", 4, 4)
    assert np.array_equal(np.asarray(Image.open(layout.train[0][1])), masks[0])
    assert np.array_equal(np.asarray(Image.open(layout.val[3][1])), masks[7])
    _, _, info = segmentation_datasets(str(root), crop_size=(16, 16))
    assert info.classes == ["road", "sky", "person"]
    with pytest.raises(DataError):
        find_layout(root)  # one photo and a mask a row: no class to learn


def test_training_on_a_parquet_segmentation_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """``lucid train --data DIR`` without ``--task`` trains segmentation on a Parquet set of one
    split (a seeded share validates), and ``lucid eval --data DIR`` rescores the same held-out rows."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "sidewalk"
    sidewalk(root, 10)
    tiny = ["--crop-size", "16x16", "--batch-size", "2", "--epochs", "1", "--no-progress"]
    said, summary = trained_then_rescored(root, tmp_path / "run", capsys, tiny, "miou", 2, [["--data", str(root)]])
    assert "training segmentation (--task segment)" in said and "Hugging Face" in said
    assert summary["status"] == "finished" and summary["data"]["classes"] == ["road", "sky", "person"]
    # the user's folder names the data, in the lines and the record; the cache only where it is written
    cache = str(tmp_path / "home")
    cached = [line for line in said.splitlines() if cache in line]
    assert cached and all("written once as files into" in line for line in cached)
    assert summary["data"]["root"] == str(root.resolve()) and f"{root}: no validation (or test) split" in said


CPPE_NAMES = ["Coverall", "Face_Shield", "Gloves"]
FLOATS = {"feature": {"dtype": "float32", "_type": "Value"}, "_type": "Sequence"}
SEQUENCE_OF_BOXES = {"feature": FLOATS, "_type": "Sequence"}


def cells(i: int, size: tuple[int, int] = (48, 64)) -> tuple[np.ndarray, list[list[float]], list[int]]:
    """Photo ``i`` (``size`` rows x columns) with two boxes as [x, y, width, height]: a square at
    its left, a wide bar at its bottom right reaching close to the photo's corner."""
    photo = np.full((*size, 3), 30, np.uint8)
    boxes = [[2.0 + i, 4.0, 10.0, 10.0], [30.0, 30.0, 33.0 - i, 17.0]]
    for x, y, w, h in boxes:
        photo[int(y) : int(y + h), int(x) : int(x + w)] = 220
    return photo, boxes, [i % 3, (i + 1) % 3]


def cppe(root: Path, counts: dict[str, int], corners: bool = False) -> dict[str, list[list[list[float]]]]:
    """``cppe-5`` as downloaded: ``data/<split>-*.parquet`` of ``image`` and ``objects`` (a
    ``Sequence`` of dicts, stored as a struct of lists; ``corners``: a list of dicts of
    [x0, y0, x1, y1] boxes, as some sets keep them). The boxes as written, by split."""
    written: dict[str, list[list[list[float]]]] = {}
    for split, count in counts.items():
        made = [cells(i) for i in range(count)]
        written[split] = [boxes for _, boxes, _ in made]
        if corners:
            objects: list[Any] = [
                [{"bbox": [x, y, x + w, y + h], "category": c} for (x, y, w, h), c in zip(boxes, labels, strict=True)]
                for _, boxes, labels in made
            ]
            feature: Any = [{"bbox": {"feature": {"dtype": "float32", "_type": "Value"}, "_type": "Sequence"}}]
            feature[0]["category"] = {"names": CPPE_NAMES, "_type": "ClassLabel"}
        else:
            objects = [{"bbox": boxes, "category": labels} for _, boxes, labels in made]
            feature = {
                "feature": {
                    "bbox": {"feature": {"dtype": "float32", "_type": "Value"}, "length": 4, "_type": "Sequence"},
                    "category": {"names": CPPE_NAMES, "_type": "ClassLabel"},
                },
                "_type": "Sequence",
            }
        rows = {
            "image_id": list(range(count)),
            "image": [image_cell(encoded(photo), f"{i}.jpg") for i, (photo, _, _) in enumerate(made)],
            "objects": objects,
        }
        write_parquet(
            root / "data" / f"{split}-00000-of-00001.parquet",
            rows,
            {"image_id": {"dtype": "int64", "_type": "Value"}, "image": IMAGE, "objects": feature},
        )
    return written


@pytest.mark.parametrize("corners", [False, True])
def test_parquet_photos_and_objects_detect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corners: bool) -> None:
    """A photo column and an ``objects`` column of boxes and ``ClassLabel`` categories are
    detection's: every box equals the one written, whether stored as COCO's [x, y, w, h] (a struct
    of lists) or as corners (a list of dicts; told by the boxes that would reach past the photo
    as widths); the test split validates (said). No classifier or segmentation reads it."""
    from lucid.detect.data import find_detection_layout, looks_like_detection
    from lucid.segment.data import holds_masks

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "cppe-5"
    written = cppe(root, {"train": 5, "test": 3}, corners)
    assert looks_like_detection(root) and not holds_masks(root)
    layout = find_detection_layout(root)
    assert (layout.name, layout.classes, len(layout.train), len(layout.val or [])) == ("hub", CPPE_NAMES, 5, 3)
    for split, images in (("train", layout.train), ("test", layout.val or [])):
        for raw, boxes in zip(images, written[split], strict=True):
            assert [obj.box for obj in raw.objects] == [(x, y, x + w, y + h) for x, y, w, h in boxes]
    assert [obj.name for obj in layout.train[1].objects] == ["Face_Shield", "Gloves"]
    assert any("the test split validates" in note for note in layout.notes)
    assert not any("COCO's" in note for note in layout.notes)  # the boxes told their format
    with pytest.raises(DataError):
        find_layout(root)

    unclear = tmp_path / "unclear"  # boxes that fit as corners and as widths: COCO's, said
    rows = {"image": [image_cell(encoded(cells(0)[0]), "0.jpg")], "bbox": [[[2.0, 2.0, 10.0, 10.0]]]}
    write_parquet(unclear / "train.parquet", rows, {"image": IMAGE, "bbox": SEQUENCE_OF_BOXES})
    layout = find_detection_layout(unclear)
    assert layout.train[0].objects[0].box == (2.0, 2.0, 12.0, 12.0) and layout.classes is None
    assert any("COCO's" in note for note in layout.notes)


def test_centre_boxes_as_fractions_are_told_from_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Boxes stored as YOLO's centre x, centre y, width, height in fractions of the photo (a set
    converted from a YOLO export): read as corners they have negative sides, read as COCO's they
    reach past the photo, so they read as centres, said; before, as COCO's, shifted by half a box."""
    from lucid.detect.data import find_detection_layout

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "yolo-on-the-hub"
    photos, rows = [], []
    for i in range(4):
        photo, boxes, _ = cells(i)  # 48 x 64 photos, the second box reaching close to the corner
        centres = [[(x + w / 2) / 64, (y + h / 2) / 48, w / 64, h / 48] for x, y, w, h in boxes]
        photos.append(image_cell(encoded(photo), f"{i}.jpg"))
        rows.append((boxes, centres))
    table = {"image": photos, "objects": [{"bbox": c, "category": [0, 1]} for _, c in rows]}
    feature = {
        "feature": {"bbox": {"feature": FLOATS["feature"], "length": 4, "_type": "Sequence"}, "category": FLOATS},
        "_type": "Sequence",
    }
    write_parquet(root / "data" / "train-00000-of-00001.parquet", table, {"image": IMAGE, "objects": feature})
    layout = find_detection_layout(root)
    assert any("centre x, centre y, width, height, fractions" in note for note in layout.notes)
    assert layout.val is None and len(layout.train) == 4  # one split: drawn by seed later
    for raw, (boxes, _) in zip(layout.train, rows, strict=True):
        assert raw.normalised
        for obj, (x, y, w, h) in zip(raw.objects, boxes, strict=True):
            expected = (x / 64, y / 48, (x + w) / 64, (y + h) / 48)
            assert obj.box == pytest.approx(expected, abs=1e-6)


def test_training_on_a_parquet_detection_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """``lucid train --data DIR`` without ``--task`` trains detection on a Parquet set, and ``lucid
    eval --data DIR`` rescores the validation split to the same mAP."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "cppe-5"
    cppe(root, {"train": 6, "validation": 2})
    tiny = ["--img-size", "64", "--batch-size", "2", "--epochs", "1", "--no-progress", "--workers", "0"]
    evals = [["--data", str(root), "--tta", "none"]]  # one pass, as each epoch was scored
    said, summary = trained_then_rescored(root, tmp_path / "run", capsys, tiny, "map", 2, evals)
    assert "training detection (--task detect)" in said and "Hugging Face" in said
    assert summary["status"] == "finished" and summary["data"]["classes"] == CPPE_NAMES


def test_the_hub_cache_folder_of_a_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``~/.cache/huggingface/hub/datasets--uoft-cs--cifar10`` as ``load_dataset`` leaves it: the
    files are links in ``snapshots/<commit>/`` to ``blobs/``, and ``refs/main`` names the commit
    (an older snapshot beside it is not read); shards named ``cifar10-train.arrow`` (the
    ``datasets`` cache's) take their split from the word that names one."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "datasets--uoft-cs--cifar10"
    blobs = root / "blobs"
    for commit, count in (
        ("0b2714987fa478483af9968de7c934580d0bb9a2", 9),
        ("1111111111111111111111111111111111111111", 4),
    ):
        for split in ("train", "test"):
            rows, _ = class_rows(count if split == "train" else 3, len(split))
            blob = write_parquet(blobs / f"{commit[:8]}{split}", rows, CIFAR_FEATURES)
            link = root / "snapshots" / commit / "plain_text" / f"{split}-00000-of-00001.parquet"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(blob)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text("0b2714987fa478483af9968de7c934580d0bb9a2")
    layout = find_layout(root)
    assert (layout.kind, layout.train.count(), layout.val.count()) == ("train_test", 9, 3)

    cached = tmp_path / "uoft-cs___cifar10" / "plain_text" / "0.0.0" / "abc"
    for split, count in (("train", 6), ("test", 3)):
        rows, _ = class_rows(count, 5)
        built = table(rows, CIFAR_FEATURES)
        cached.mkdir(parents=True, exist_ok=True)
        with pa.OSFile(str(cached / f"cifar10-{split}.arrow"), "wb") as sink:
            with pa.ipc.new_stream(sink, built.schema) as writer:
                writer.write_table(built)
    for folder in (cached, tmp_path / "uoft-cs___cifar10"):  # the hash folder, or the set's own four above it
        layout = find_layout(folder)
        assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
            "train_test",
            ["airplane", "bird", "cat"],
            6,
            3,
        )


def test_imagefolder_metadata_of_boxes_detects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``datasets`` library's ImageFolder for detection: ``train/metadata.jsonl`` +
    ``validation/`` beside their photos, a line per photo of its ``file_name`` and ``objects``
    (``bbox`` as [x, y, w, h] and ``categories`` numbers): every box as written, the classes
    ``class_0``...; a line whose box is not 4 numbers is named. Before: "no box annotations"."""
    from lucid.detect.data import find_detection_layout, looks_like_detection

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "imagefolder"
    written = {}
    for split, count in (("train", 4), ("validation", 2)):
        folder = root / split
        folder.mkdir(parents=True)
        lines = []
        for i in range(count):
            photo, boxes, labels = cells(i)
            Image.fromarray(photo).save(folder / f"{i:04d}.png")
            lines.append(json.dumps({"file_name": f"{i:04d}.png", "objects": {"bbox": boxes, "categories": labels}}))
        (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
        written[split] = [cells(i)[1] for i in range(count)]
    assert looks_like_detection(root)
    layout = find_detection_layout(root)
    assert (layout.classes, len(layout.train), len(layout.val or [])) == (["class_0", "class_1", "class_2"], 4, 2)
    for raw, boxes in zip(layout.val or [], written["validation"], strict=True):
        assert [obj.box for obj in raw.objects] == [(x, y, x + w, y + h) for x, y, w, h in boxes]
    with (root / "train" / "metadata.jsonl").open("a") as handle:
        handle.write(json.dumps({"file_name": "0000.png", "objects": {"bbox": [[1, 2, 3]], "categories": [0]}}) + "\n")
    with pytest.raises(DataError, match=r"metadata.jsonl:5: a box of 4 numbers expected, got \[1, 2, 3\]"):
        find_detection_layout(root)


def test_a_parquet_file_of_image_bytes_and_text_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Parquet file pandas wrote (no ``datasets`` features): an ``image`` column of encoded files'
    bytes and a ``label`` column of class names, ``train.parquet`` + ``test.parquet``."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "pandas"
    for split, count in (("train", 6), ("test", 3)):
        files = [encoded(p) for p in photos(count, 10, count)]
        write_parquet(
            root / f"{split}.parquet", {"image": files, "label": [["cat", "dog"][i % 2] for i in range(count)]}, None
        )
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_test",
        ["cat", "dog"],
        6,
        3,
    )


def test_imagefolder_metadata_jsonl_labels_a_classifier(tmp_path: Path) -> None:
    """The ``datasets`` library's ImageFolder ``metadata.jsonl`` (``{"file_name": "0.png", "label":
    "cat"}`` per line) in ``train/`` + ``test/`` labels the photos beside it, as its
    ``metadata.csv`` does; a line that is no JSON is named. Before: "no class folders"."""
    root = tmp_path / "imagefolder"
    for split, count in (("train", 6), ("test", 4)):
        folder = root / split
        folder.mkdir(parents=True)
        lines = []
        for i, pixels in enumerate(photos(count, 12, count)):
            Image.fromarray(pixels).save(folder / f"{i}.png")
            lines.append(json.dumps({"file_name": f"{i}.png", "label": ["cat", "dog"][i % 2], "source": "web"}))
        (folder / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_test",
        ["cat", "dog"],
        6,
        4,
    )
    assert layout.train.files["dog"] == [root / "train" / "1.png", root / "train" / "3.png", root / "train" / "5.png"]
    with (root / "train" / "metadata.jsonl").open("a") as handle:
        handle.write("{not json\n")
    with pytest.raises(DataError, match=r"metadata.jsonl:7: not a line of JSON"):
        find_layout(root)


def test_splits_of_other_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Hub's shards of a ``dev`` split validate; an ``unsupervised`` split (unlabelled rows) is not
    read, and said; the Hub's converted ``partial-train/0000.parquet`` (a large set's first rows) trains."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "named"
    for split, count in (("train", 6), ("dev", 3), ("unsupervised", 4)):
        rows, _ = class_rows(count, len(split))
        write_parquet(root / "data" / f"{split}-00000-of-00001-1a2b3c.parquet", rows, CIFAR_FEATURES)
    layout = find_layout(root)
    assert (layout.kind, layout.train.count(), layout.val.count()) == ("train_val", 6, 3)
    assert any("not read: unsupervised" in note for note in layout.notes)

    partial = tmp_path / "converted"
    rows, _ = class_rows(6, 0)
    write_parquet(partial / "plain_text" / "partial-train" / "0000.parquet", rows, CIFAR_FEATURES)
    rows, _ = class_rows(3, 1)
    write_parquet(partial / "plain_text" / "test" / "0000.parquet", rows, CIFAR_FEATURES)
    layout = find_layout(partial)
    assert (layout.kind, layout.train.count(), layout.val.count()) == ("train_test", 6, 3)


def test_a_missing_pyarrow_is_named_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pyarrow (a dependency, but an environment may lack it) a Parquet set is a DataError
    that says what to install, not a traceback; other layouts do not need it."""
    rows, _ = class_rows(4, 0)
    write_parquet(tmp_path / "set" / "train.parquet", rows, CIFAR_FEATURES)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(DataError, match=r"train.parquet: reading Parquet and Arrow files needs pyarrow; pip install"):
        find_layout(tmp_path / "set")

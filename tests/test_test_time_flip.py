"""Test-time flip: `lucid.nn.MirrorAveraged`, detection's `lucid.models.ssdlite.MirroredSSD`,
the run's ``tta`` (the small-photo recipe's default for classification), and ``lucid train`` /
``lucid eval`` / ``lucid predict`` scoring with it alike, for every task."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import lucid
from cli_helpers import main_within
from lucid.data import choose_recipe
from lucid.train import TrainConfig, evaluate, predict, recorded_tta, train, with_tta
from lucid.train.budget import TimeBudgetError
from lucid.train.evaluate import eval_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

COLOURS = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}


def _classifier() -> nn.Module:
    torch.manual_seed(0)
    return lucid.models.mobilenet_v3_small(num_classes=4, width_mult=0.5).eval()


def test_mirror_averaged_is_the_mean_of_an_image_and_its_mirror() -> None:
    model = _classifier()
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = (model(images) + model(images.flip(-1))) / 2
        got = lucid.nn.MirrorAveraged(model)(images)
        mirrored = lucid.nn.MirrorAveraged(model)(images.flip(-1))
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(mirrored, got)  # an image and its mirror now score alike
    assert not torch.allclose(model(images), model(images.flip(-1)))  # they did not before


def test_mirror_averaged_mirrors_dense_outputs_back() -> None:
    """A segmentation map of the mirror is mirrored back, so each pixel's scores stay on it."""
    torch.manual_seed(0)
    dense = nn.Conv2d(3, 2, 3, padding=1)
    images = torch.randn(2, 3, 8, 10)
    with torch.no_grad():
        got = lucid.nn.MirrorAveraged(dense)(images)
        expected = (dense(images) + dense(images.flip(-1)).flip(-1)) / 2
    torch.testing.assert_close(got, expected)
    assert got.shape == (2, 2, 8, 10)


def test_mirror_averaged_refuses_what_it_cannot_average() -> None:
    with pytest.raises(ValueError, match=r"takes a batch of images \(N, C, H, W\), got shape \(3, 32, 32\)"):
        lucid.nn.MirrorAveraged(_classifier())(torch.randn(3, 32, 32))

    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x, x

    with pytest.raises(ValueError, match=r"averages \(N, K\) or \(N, C, H, W\) outputs; the model gave tuple"):
        lucid.nn.MirrorAveraged(Pair())(torch.randn(1, 3, 4, 4))


def test_the_small_recipe_evaluates_with_test_time_flip_by_default() -> None:
    assert choose_recipe(32, True).default_tta == "flip"
    assert choose_recipe(32, True, hflip=0.0).default_tta == "none"  # not trained mirror-invariant
    assert choose_recipe(224, False).default_tta == "none"
    assert "tta" not in choose_recipe(32, True).to_dict()  # the run's choice is recorded once, as extra.tta


def test_a_tta_that_is_not_one_of_the_choices_is_refused() -> None:
    with pytest.raises(ValueError, match=r"tta must be one of flip, none; got 'sideways'"):
        TrainConfig(data="photos", tta="sideways")
    with pytest.raises(ValueError, match=r"--tta flip\) needs an image folder .*digits are not mirror images"):
        TrainConfig(tta="flip")
    with pytest.raises(ValueError, match=r"tta must be one of flip, none; got 'both'"):
        with_tta(_classifier(), "both")


def _photo_folder(root: Path) -> Path:
    """32x32 photos of three colours, with noise: train/ 40 per class, val/ 6 per class."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 40), ("val", 6)):
        for name, colour in COLOURS.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(np.array(colour) + rng.normal(0, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The photo folder and a short default run on it (small recipe: test-time flip), long
    enough for the model to leave chance, where an image and its mirror score apart."""
    root = tmp_path_factory.mktemp("tta")
    data = _photo_folder(root / "photos")
    config = TrainConfig(data=str(data), epochs=5, batch_size=8, out=str(root / "run"), progress=False)
    train(config)
    return data, root / "run"


def _logits(checkpoint: Path, data: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The one-pass and the mirrored logits of the checkpoint on val/, and the targets."""
    from lucid.models.resolve import resolve

    model = resolve(str(checkpoint), None, require_weights=True).model.eval()
    dataset, _ = eval_dataset(model, str(data))
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    targets = torch.tensor([int(dataset[i][1]) for i in range(len(dataset))])
    with torch.no_grad():
        return model(images), model(images.flip(-1)), targets


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_epochs_are_validated_in_one_pass_and_the_best_scored_with_flip_at_the_end(
    small_run: tuple[Path, Path],
) -> None:
    data, run = small_run
    summary = json.loads((run / "summary.json").read_text())
    records = _records(run)
    last = evaluate(str(run / "last.safetensors"), str(data), tta="none")
    assert last.loss == pytest.approx(records[-1]["val_loss"], rel=1e-5)  # the epochs' figures: one pass
    assert last.top1 == pytest.approx(summary["final_val_top1"])
    assert summary["tta"] == "flip"
    best_record = records[summary["best_epoch"] - 1]
    assert summary["best_val_top1_one_pass"] == pytest.approx(best_record["val_top1"])
    best = evaluate(str(run / "best.safetensors"), str(data))  # its recorded flip
    assert best.tta == "flip"
    assert (best.top1, best.loss) == pytest.approx((summary["best_val_top1"], summary["best_val_loss"]), rel=1e-5)
    assert best.loss != pytest.approx(best_record["val_loss"], rel=1e-3)  # the loss tells flip from one pass
    extra = lucid.models.load_model(str(run / "best.safetensors")).checkpoint_extra
    assert (extra["scores_tta"], extra["val_top1"]) == ("flip", pytest.approx(summary["best_val_top1"]))
    assert extra["epoch"] == summary["best_epoch"]
    assert lucid.models.load_model(str(run / "last.safetensors")).checkpoint_extra["scores_tta"] == "none"


def test_a_resumed_run_scores_its_best_epoch_from_best_safetensors(
    small_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, run = small_run
    summary = json.loads((run / "summary.json").read_text())
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    result = train(TrainConfig(resume=str(folder), progress=False))  # nothing left to train
    assert result.epochs == summary["epochs"] and result.best_val_top1 == summary["best_val_top1"]
    assert result.summary["best_val_loss"] == pytest.approx(summary["best_val_loss"], rel=1e-6)
    (folder / "best.safetensors").unlink()
    capsys.readouterr()
    result = train(TrainConfig(resume=str(folder), progress=False))
    assert "best.safetensors is missing or not epoch" in capsys.readouterr().out
    assert result.best_val_top1 == summary["best_val_top1_one_pass"]
    assert "best_val_top1_one_pass" not in result.summary


def test_a_run_saved_before_tta_was_recorded_resumes_in_one_pass(small_run: tuple[Path, Path], tmp_path: Path) -> None:
    from lucid.train.state import STATE_FILE, load_state, save_state

    _, run = small_run
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    state = load_state(folder / STATE_FILE)
    del state["config"]["tta"]
    save_state(folder / STATE_FILE, state)
    result = train(TrainConfig(resume=str(folder), progress=False))
    assert result.summary["tta"] == "none" and result.summary["config"]["tta"] == "none"
    assert result.best_val_top1 == result.history[result.best_epoch - 1]["val_top1"]


@pytest.mark.slow  # ~15 s
def test_a_budget_run_keeps_time_to_score_its_best_epoch(small_run: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = small_run
    start = time.perf_counter()
    config = TrainConfig(data=str(data), time_budget=0.3, batch_size=8, out=str(tmp_path / "run"), progress=False)
    try:
        result = train(config, clock_start=start)
    except TimeBudgetError as exc:
        pytest.skip(f"the machine is too loaded for this budget: {exc}")
    assert time.perf_counter() - start <= 0.3 * 60 * 1.05
    assert result.summary["time_budget"]["closing"] > 0 and result.summary["tta"] == "flip"
    assert "best_val_top1_one_pass" in result.summary


def test_eval_averages_each_image_with_its_mirror(small_run: tuple[Path, Path]) -> None:
    data, run = small_run
    result = evaluate(str(run / "last.safetensors"), str(data))
    assert result.tta == "flip"
    plain, mirrored, targets = _logits(run / "last.safetensors", data)
    averaged = (plain + mirrored) / 2
    assert result.top1 == pytest.approx(float((averaged.argmax(1) == targets).float().mean()))
    assert result.loss == pytest.approx(float(nn.functional.cross_entropy(averaged, targets)), rel=1e-5)
    one_pass = evaluate(str(run / "last.safetensors"), str(data), tta="none")
    assert one_pass.tta == "none"
    assert one_pass.top1 == pytest.approx(float((plain.argmax(1) == targets).float().mean()))
    assert one_pass.loss == pytest.approx(float(nn.functional.cross_entropy(plain, targets)), rel=1e-5)
    assert one_pass.loss != pytest.approx(result.loss, rel=1e-3)
    assert "test-time flip" in result.summary()[0] and "test-time flip" not in one_pass.summary()[0]


def test_predict_averages_as_the_run_validated(small_run: tuple[Path, Path]) -> None:
    data, run = small_run
    photos = sorted((data / "val" / "red").iterdir())[:2]
    plain, mirrored, _ = _logits(run / "last.safetensors", data)  # val/ is sorted: red comes last
    red = list(sorted(COLOURS)).index("red")
    first = red * 6
    expected = ((plain + mirrored) / 2)[first : first + 2].softmax(1)
    for tta, logits in ((None, expected), ("none", plain[first : first + 2].softmax(1))):
        ranked = predict(str(run / "last.safetensors"), [str(p) for p in photos], topk=3, tta=tta)
        for row, probabilities in zip(ranked, logits, strict=True):
            names = sorted(COLOURS)
            got = torch.tensor([dict(row)[name] for name in names])
            torch.testing.assert_close(got, probabilities, rtol=1e-4, atol=1e-5)


def test_the_commands_take_tta(small_run: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    data, run = small_run
    out = tmp_path / "none"
    flags = ["--data", data, "--epochs", "1", "--batch-size", "6", "--no-progress", "--out", out]
    assert main_within("train", *flags, "--tta", "none") == 0
    assert "test-time flip" not in capsys.readouterr().out
    assert evaluate(str(out / "best.safetensors"), str(data)).tta == "none"  # recorded, so eval repeats it
    assert main_within("eval", run / "best.safetensors", "--data", data, "--tta", "none", "--json") == 0
    assert json.loads(capsys.readouterr().out)["tta"] == "none"


# -- every task: the choice is the engine's, each task mirrors its own outputs -----------------------


def test_recorded_tta_reads_the_checkpoint_and_older_classification_records() -> None:
    model = _classifier()
    assert recorded_tta(model) == "none"  # no record: one pass
    model.checkpoint_extra = {"tta": "flip"}
    assert recorded_tta(model) == "flip"
    model.checkpoint_extra = {"data": {"recipe": {"tta": "flip"}}}  # lucid 0.1.0's classification checkpoints
    assert recorded_tta(model) == "flip"
    assert isinstance(with_tta(model, None), lucid.nn.MirrorAveraged)
    assert with_tta(model, "none") is model


def test_every_task_config_takes_tta_and_refuses_other_values() -> None:
    from lucid.detect import DetectConfig
    from lucid.segment import SegmentConfig

    for config_class in (SegmentConfig, DetectConfig):
        assert config_class(data="photos").tta is None  # the task's default
        assert config_class(data="photos", tta="flip").tta == "flip"
        with pytest.raises(ValueError, match=r"tta must be one of flip, none; got 'sideways'"):
            config_class(data="photos", tta="sideways")


def test_mirror_averaged_dense_outputs_follow_the_mirror_exactly() -> None:
    """Test-time flip makes a segmenter mirror-equivariant: the map of the mirrored photo is the
    mirror of the photo's map, to the last bit (one pass is not)."""
    torch.manual_seed(0)
    model = lucid.models.lraspp_mobilenet_v3_small(num_classes=3).eval()
    images = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        averaged = lucid.nn.MirrorAveraged(model)
        assert torch.equal(averaged(images.flip(-1)), averaged(images).flip(-1))
        assert not torch.allclose(model(images.flip(-1)), model(images).flip(-1))


@pytest.fixture(scope="module")
def segment_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from lucid.segment import SegmentConfig, make_shapes_dataset

    root = tmp_path_factory.mktemp("seg-tta")
    data = make_shapes_dataset(root / "shapes", train=4, val=2, size=(32, 40), seed=3)
    config = SegmentConfig(
        data=str(data),
        crop_size=(32, 32),
        batch_size=2,
        epochs=1,
        workers=0,  # tta left unset: flip, the default of a model trained with flips
        out=str(root / "run"),
        progress=False,
    )
    train(config)
    return data, root / "run"


def test_a_segmentation_run_scores_its_best_epoch_with_flip_and_eval_and_predict_repeat_it(
    segment_run: tuple[Path, Path], tmp_path: Path
) -> None:
    from lucid.segment import evaluate_segmentation, predict_masks
    from lucid.segment.data import read_rgb
    from lucid.segment.infer import load_segmentation_source, predict_mask, segmentation_meta

    data, run = segment_run
    checkpoint = run / "best.safetensors"
    (record,) = _records(run)
    summary = json.loads((run / "summary.json").read_text())
    model = load_segmentation_source(str(checkpoint))
    assert model.checkpoint_extra["tta"] == "flip" and model.checkpoint_extra["scores_tta"] == "flip"
    flipped = evaluate_segmentation(str(checkpoint))
    assert flipped.tta == "flip" and "test-time flip" in flipped.summary()[0]
    assert flipped.loss == pytest.approx(summary["best_val_loss"], rel=1e-5)  # the run's result: the flip
    assert (flipped.miou, flipped.pixel_acc) == pytest.approx((summary["best_val_miou"], summary["best_val_pixel_acc"]))
    one_pass = evaluate_segmentation(str(checkpoint), tta="none")
    assert one_pass.tta == "none" and "test-time flip" not in one_pass.summary()[0]
    assert one_pass.loss == pytest.approx(record["val_loss"], rel=1e-5)  # the epoch's figures: one pass
    assert one_pass.miou == pytest.approx(record["val_miou"]) == pytest.approx(summary["best_val_miou_one_pass"])
    assert one_pass.loss != pytest.approx(flipped.loss, rel=1e-4)

    class Summed(nn.Module):  # the two passes by hand: argmax of the sum is argmax of the mean
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return model(x) + model(x.flip(-1)).flip(-1)

    photo = sorted((data / "val" / "images").iterdir())[0]
    with torch.no_grad():
        expected = predict_mask(Summed(), read_rgb(photo), segmentation_meta(model))
    (written,) = predict_masks(str(checkpoint), [photo], tmp_path / "masks")
    assert np.array_equal(np.array(Image.open(written["mask"])), expected)


def _detector() -> nn.Module:
    """A small SSDLite whose scores depend on the photo (a fresh one scores every box alike)."""
    from reference_helpers import randomise_batchnorm

    torch.manual_seed(0)
    model = lucid.models.ssdlite320_mobilenet_v3_small(num_classes=3, image_size=96)
    return randomise_batchnorm(model, weights=True)


def test_mirror_order_pairs_each_default_box_with_its_mirror() -> None:
    from lucid.models.ssdlite import mirror_boxes, mirror_order

    anchors = torch.tensor([[0.0, 0.0, 4.0, 2.0], [6.0, 0.0, 10.0, 2.0], [3.0, 3.0, 7.0, 5.0]])
    order = mirror_order(anchors, 10.0)
    assert order is not None and order.tolist() == [1, 0, 2]
    torch.testing.assert_close(anchors[order], mirror_boxes(anchors, 10.0))
    assert mirror_order(anchors[:2] + 1.0, 10.0) is None  # shifted: not mirror images of each other


def test_mirrored_ssd_averages_each_default_box_with_its_mirror() -> None:
    from torchvision.models.detection.image_list import ImageList

    from lucid.models.ssdlite import MirroredSSD, mirror_boxes, mirror_order

    model = _detector()
    photos = torch.rand(2, 3, 96, 96)  # the model's own size: its resize changes nothing, on either side
    with torch.no_grad():
        batch, sizes = model.preprocess(photos)
        boxes, scores = model.forward_raw(batch)
        mirror, mirror_scores = model.forward_raw(batch.flip(-1))
        maps = list(model.backbone(batch[:1]).values())
        anchors = model.anchor_generator(ImageList(batch[:1], [tuple(batch.shape[-2:])]), maps)[0]
        order = mirror_order(anchors, batch.shape[-1])
        assert order is not None and sorted(order.tolist()) == list(range(len(anchors)))
        mean_boxes = (boxes + mirror_boxes(mirror, batch.shape[-1])[:, order]) / 2
        expected = model.postprocess_raw(mean_boxes, (scores + mirror_scores[:, order]) / 2, sizes)
        got = MirroredSSD(model)(photos)
        mirrored_photos = MirroredSSD(model)(photos.flip(-1))
        one_pass, one_pass_mirrored = model(photos), model(photos.flip(-1))
    for found, wanted, seen_mirrored in zip(got, expected, mirrored_photos, strict=True):
        for key in ("boxes", "scores", "labels"):
            torch.testing.assert_close(found[key], wanted[key])
        # A mirrored photo gives the mirrored detections (one pass does not).
        torch.testing.assert_close(seen_mirrored["scores"], found["scores"])
        torch.testing.assert_close(seen_mirrored["boxes"], mirror_boxes(found["boxes"], 96.0), atol=1e-3, rtol=0)
    assert len(set(got[0]["scores"].tolist())) > 100  # distinct scores: the order above is no accident of ties
    count = min(len(one_pass[0]["scores"]), len(one_pass_mirrored[0]["scores"]))
    assert not torch.allclose(one_pass_mirrored[0]["scores"][:count], one_pass[0]["scores"][:count])


def test_mirrored_ssd_sends_both_passes_to_nms_when_the_boxes_are_not_symmetric() -> None:
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator

    from lucid.models.ssdlite import MirroredSSD, mirror_boxes

    model = _detector()
    low, high = model.anchor_scales
    # Cell centres at multiples of a step that is not the map's: the grid leans to one side.
    model.anchor_generator = DefaultBoxGenerator(
        [[2, 3]] * 6, min_ratio=low, max_ratio=high, steps=[5, 10, 20, 40, 80, 160]
    )
    photos = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        batch, sizes = model.preprocess(photos)
        boxes, scores = model.forward_raw(batch)
        mirror, mirror_scores = model.forward_raw(batch.flip(-1))
        expected = model.postprocess_raw(
            torch.cat((boxes, mirror_boxes(mirror, 96.0)), 1), torch.cat((scores, mirror_scores), 1), sizes
        )
        (got,) = MirroredSSD(model)(photos)
    for key in ("boxes", "scores", "labels"):
        torch.testing.assert_close(got[key], expected[0][key])
    with pytest.raises(TypeError, match="MirroredSSD wraps an SSDLite detector, got MobileNet_V3"):
        MirroredSSD(_classifier())


def test_a_detection_run_scores_its_best_epoch_with_flip_and_eval_and_predict_repeat_it(tmp_path: Path) -> None:
    from drawing_helpers import boxes_folder
    from lucid.detect import DetectConfig, evaluate_detection
    from lucid.detect.infer import predict_boxes

    data = boxes_folder(tmp_path / "shapes")
    config = DetectConfig(
        data=str(data),
        model="ssdlite320_mobilenet_v3_small",
        batch_size=4,
        epochs=2,
        workers=0,  # tta left unset: flip, the default of a detector trained with flips
        out=str(tmp_path / "run"),
        progress=False,
    )
    result = train(config)
    summary = result.summary
    best_record = _records(result.out_dir)[summary["best_epoch"] - 1]
    checkpoint = result.out_dir / "best.safetensors"
    flipped = evaluate_detection(checkpoint)
    assert flipped.tta == "flip" and "test-time flip" in flipped.summary()[0]
    assert (flipped.map, flipped.map50) == pytest.approx((summary["best_val_map"], summary["best_val_map50"]), abs=1e-9)
    assert result.best_val_map == summary["best_val_map"]
    one_pass = evaluate_detection(checkpoint, tta="none")
    assert one_pass.tta == "none"
    assert (one_pass.map, one_pass.map50) == pytest.approx((best_record["val_map"], best_record["val_map50"]), abs=1e-9)
    assert summary["best_val_map_one_pass"] == best_record["val_map"]
    assert (one_pass.map, one_pass.map50) != pytest.approx((flipped.map, flipped.map50), abs=1e-6)
    photo = sorted((data / "images").iterdir())[0]
    found = {
        tta: predict_boxes(checkpoint, [photo], tmp_path / tta, score_threshold=0.0, tta=tta)[0]["detections"]
        for tta in ("flip", "none")
    }
    assert found["flip"] != found["none"]
    default = predict_boxes(checkpoint, [photo], tmp_path / "default", score_threshold=0.0)[0]["detections"]
    assert default == found["flip"]  # the recorded choice


def test_segmentation_commands_take_tta(segment_run: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    data, run = segment_run
    checkpoint = run / "best.safetensors"
    assert main_within("eval", checkpoint, "--tta", "none", "--json") == 0
    assert json.loads(capsys.readouterr().out)["tta"] == "none"
    from lucid.segment.data import read_rgb
    from lucid.segment.infer import load_segmentation_source, predict_mask, segmentation_meta

    photo = sorted((data / "val" / "images").iterdir())[0]
    assert main_within("predict", checkpoint, photo, "--tta", "none", "--out", tmp_path / "masks") == 0
    model = load_segmentation_source(str(checkpoint))
    with torch.no_grad():
        one_pass = predict_mask(model, read_rgb(photo), segmentation_meta(model))
    assert np.array_equal(np.array(Image.open(tmp_path / "masks" / f"{photo.stem}.mask.png")), one_pass)

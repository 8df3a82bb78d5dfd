"""Test-time flip: `lucid.nn.MirrorAveraged`, the small-photo recipe's ``tta``, and ``lucid
train`` / ``lucid eval`` / ``lucid predict`` scoring with it alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import lucid
from cli_helpers import main_within
from lucid.data import choose_recipe
from lucid.train import TrainConfig, evaluate, predict, train, with_tta
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


def test_the_small_recipe_evaluates_with_test_time_flip_unless_told_otherwise() -> None:
    assert choose_recipe(32, True).tta == "flip"
    assert choose_recipe(32, True, hflip=0.0).tta == "none"  # not trained mirror-invariant
    assert choose_recipe(224, False).tta == "none"
    assert choose_recipe(32, True, tta="none").tta == "none"
    assert choose_recipe(224, False, tta="flip").tta == "flip"
    assert "evaluated with test-time flip" in choose_recipe(32, True).describe()
    assert "test-time" not in choose_recipe(224, False).describe()


def test_a_tta_that_is_not_one_of_the_choices_is_refused() -> None:
    with pytest.raises(ValueError, match=r"tta must be one of flip, none; got 'sideways'"):
        choose_recipe(32, True, tta="sideways")
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


def test_a_run_validates_with_its_tta_and_eval_repeats_the_figure(small_run: tuple[Path, Path]) -> None:
    data, run = small_run
    summary = json.loads((run / "summary.json").read_text())
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    result = evaluate(str(run / "last.safetensors"), str(data))
    assert result.tta == "flip"
    assert result.top1 == pytest.approx(summary["final_val_top1"])
    assert result.loss == pytest.approx(last["val_loss"], rel=1e-5)  # the loss tells flip from one pass
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
    photo = sorted((data / "val" / "red").iterdir())[0]
    for command, model, args, when in (
        ("eval", "lraspp_mobilenet_v3_small", [], "evaluating a segment model"),
        ("eval", "ssdlite320_mobilenet_v3_small", [], "evaluating a detect model"),
        ("predict", "lraspp_mobilenet_v3_small", [photo], "predicting with a segment model"),
        ("predict", "ssdlite320_mobilenet_v3_small", [photo], "predicting with a detect model"),
    ):
        assert main_within(command, model, *args, "--tta", "flip") == 2
        assert f"lucid {command}: error: --tta: not used when {when}" in capsys.readouterr().err

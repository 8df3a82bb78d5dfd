"""lucid.preprocessing: the one record (with ink), its defaults, and ink polarity through an ONNX export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from drawing_helpers import draw_digit
from lucid.deploy import Predictor, export
from lucid.preprocessing import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocessing,
    channel_stats,
    model_preprocessing,
    normalise_ink,
    resize_size_for,
)
from lucid.train import TrainConfig, digits_datasets, predict, train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_old_homes_re_export_the_one_record_and_constants() -> None:
    import lucid.deploy.preprocess as deploy_pre
    import lucid.models.hub as hub
    import lucid.segment.data as segment_data
    import lucid.train.data as train_data
    from lucid.data import normalise_ink as data_normalise_ink

    assert deploy_pre.Preprocessing is Preprocessing
    assert data_normalise_ink is normalise_ink
    for module in (deploy_pre, hub, segment_data, train_data):
        assert (module.IMAGENET_MEAN, module.IMAGENET_STD) == (IMAGENET_MEAN, IMAGENET_STD)
    assert train_data.resize_size_for is resize_size_for


def test_imagenet_constants_are_torchvisions() -> None:
    from torchvision.models import MobileNet_V3_Small_Weights

    transforms = MobileNet_V3_Small_Weights.IMAGENET1K_V1.transforms()
    assert tuple(transforms.mean) == IMAGENET_MEAN and tuple(transforms.std) == IMAGENET_STD
    assert resize_size_for(transforms.crop_size[0]) == transforms.resize_size[0]  # 224 -> 256


def test_grey_rule_averages_the_rgb_statistics() -> None:
    mean, std = channel_stats(1)
    assert mean == pytest.approx((sum(IMAGENET_MEAN) / 3,)) and std == pytest.approx((sum(IMAGENET_STD) / 3,))
    assert channel_stats(3) == (IMAGENET_MEAN, IMAGENET_STD)
    mean, std = channel_stats(2, (0.2, 0.4, 0.6), (0.1, 0.1, 0.4))
    assert mean == pytest.approx((0.4, 0.4)) and std == pytest.approx((0.2, 0.2))


def test_ink_round_trips_and_files_without_it_still_load() -> None:
    prep = Preprocessing((16, 16), 1, (0.45,), (0.23,), 18, "bilinear", ink="light-on-dark")
    assert json.loads(prep.to_metadata()["ink"]) == "light-on-dark"
    assert Preprocessing.from_metadata(prep.to_metadata()) == prep
    old = {k: v for k, v in prep.to_metadata().items() if k != "ink"}  # an export from before ink
    assert Preprocessing.from_metadata(old).ink is None
    assert "ink" not in Preprocessing((16, 16), 1, (0.45,), (0.23,)).to_dict()
    with pytest.raises(ValueError, match="ink must be one of light-on-dark, dark-on-light"):
        Preprocessing((16, 16), 1, (0.45,), (0.23,), ink="white")


def test_normalise_ink_treats_tensors_like_pil_images() -> None:
    picture = Image.new("L", (16, 16), 255)
    picture.paste(0, (6, 2, 10, 14))  # dark strokes on white
    tensor = torch.from_numpy(np.asarray(picture).copy())[None]
    flipped_pil = np.asarray(normalise_ink(picture, "light-on-dark"))
    assert np.array_equal(normalise_ink(tensor, "light-on-dark")[0].numpy(), flipped_pil)
    assert normalise_ink(tensor, "dark-on-light") is tensor
    floats = tensor.float() / 255
    assert torch.allclose(normalise_ink(floats, "light-on-dark"), 1 - floats)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("digits") / "run"
    config = TrainConfig(
        epochs=1, limit_train=256, limit_val=32, img_size=16, batch_size=16, out=str(out), progress=False
    )
    return train(config).last_checkpoint


def test_exported_digits_model_records_ink_and_predicts_dark_on_light_digits(tmp_path: Path, digits_run: Path) -> None:
    from lucid.models import load_model

    model = load_model(digits_run)
    assert model_preprocessing(model).ink == "light-on-dark"
    result = export(digits_run, tmp_path / "digits.onnx")
    predictor = Predictor(result.path, threads=1, backend="onnxruntime")
    assert predictor.preprocessing.ink == "light-on-dark"
    indices = digits_datasets(16, seed=0)[1].indices[:4].tolist()  # held-out digits
    light = [draw_digit(tmp_path / f"l{i}.png", i, 32, False) for i in indices]
    dark = [draw_digit(tmp_path / f"d{i}.png", i, 32, True) for i in indices]
    as_light, as_dark = predictor.predict(light, topk=3), predictor.predict(dark, topk=3)
    eager = predict(digits_run, [str(p) for p in light], topk=1)
    for a, b, e in zip(as_light, as_dark, eager, strict=True):
        assert [label for label, _ in a] == [label for label, _ in b]
        assert [p for _, p in a] == pytest.approx([p for _, p in b], abs=1e-5)
        assert a[0][0] == e[0][0]  # the file agrees with the checkpoint's own lucid predict

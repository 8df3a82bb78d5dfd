"""LR-ASPP models: torchvision parity both ways, torchvision's files as weights=, registered weights."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.segmentation import LRASPP_MobileNet_V3_Large_Weights as TVWeights
from torchvision.models.segmentation import lraspp_mobilenet_v3_large as tv_lraspp

import lucid.models as lm
from lucid.checkpoint import CheckpointError
from lucid.models.lraspp import lraspp_from_torchvision, lraspp_to_torchvision
from reference_helpers import assert_close_scaled, randomise_batchnorm


def _torchvision(num_classes: int = 5, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return randomise_batchnorm(tv_lraspp(weights=None, weights_backbone=None, num_classes=num_classes), seed)


@pytest.fixture(scope="module")
def tv_model() -> torch.nn.Module:
    return _torchvision()


def test_registered_and_exported():
    assert {"lraspp_mobilenet_v3_large", "lraspp_mobilenet_v3_small"} <= set(lm.list_models("lraspp_*"))
    model = lm.create_model("lraspp_mobilenet_v3_small", num_classes=3, in_channels=1).eval()
    out = model(torch.randn(2, 1, 40, 56))
    assert out.shape == (2, 3, 40, 56)
    # The paper's LR-ASPP: stride-8 low level, stride-16 (dilated) high level
    assert [level["reduction"] for level in model.feature_info] == [8, 16]


def test_torchvision_to_lucid_outputs_equal(tv_model):
    model = lm.lraspp_mobilenet_v3_large(weights=tv_model.state_dict()).eval()
    assert model.num_classes == 5
    x = torch.randn(2, 3, 75, 98)
    with torch.no_grad():
        assert_close_scaled(model(x), tv_model(x)["out"])


def test_lucid_to_torchvision_outputs_equal():
    torch.manual_seed(1)
    model = randomise_batchnorm(lm.lraspp_mobilenet_v3_large(num_classes=4), seed=7)
    with torch.no_grad():  # random head biases too, so the conversion of every tensor matters
        for conv in (model.head.low_classifier, model.head.high_classifier):
            conv.bias.normal_()
    reference = tv_lraspp(weights=None, weights_backbone=None, num_classes=4).eval()
    reference.load_state_dict(lraspp_to_torchvision(model), strict=True)
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        assert_close_scaled(reference(x)["out"], model(x))
    # and back again: the same tensors
    again = lraspp_from_torchvision(reference.state_dict(), lm.lraspp_mobilenet_v3_large(num_classes=4))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(again[key], value, rtol=0, atol=0)


def test_same_parameter_count_as_torchvision():
    ours = sum(p.numel() for p in lm.lraspp_mobilenet_v3_large().parameters())
    theirs = sum(p.numel() for p in tv_lraspp(weights=None, weights_backbone=None).parameters())
    assert ours == theirs == TVWeights.COCO_WITH_VOC_LABELS_V1.meta["num_params"]


def test_torchvision_pth_file_as_weights(tmp_path, tv_model):
    path = tmp_path / "lraspp.pth"
    torch.save(tv_model.state_dict(), path)
    model = lm.create_model("lraspp_mobilenet_v3_large", weights=str(path)).eval()
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        assert_close_scaled(model(x), tv_model(x)["out"])
    assert model.pretrained_cfg["source"] == "torchvision"


def test_pickled_module_is_refused(tmp_path, tv_model):
    path = tmp_path / "full_model.pth"
    torch.save(tv_model, path)  # a whole pickled module: loading it would run code
    with pytest.raises(CheckpointError, match=r"refused: the pickle holds Python objects.*weights_only=True"):
        lm.lraspp_mobilenet_v3_large(weights=str(path))


def test_other_class_count_keeps_backbone_and_warns(tv_model):
    with pytest.warns(UserWarning, match="newly initialised"):
        model = lm.lraspp_mobilenet_v3_large(num_classes=3, weights=tv_model.state_dict())
    torch.testing.assert_close(
        model.state_dict()["backbone.conv_first.0.weight"], tv_model.state_dict()["backbone.0.0.weight"]
    )
    assert model.head.low_classifier.out_channels == 3


def test_wrong_architecture_is_reported(tv_model):
    with pytest.raises(CheckpointError, match="does not fit"):
        lm.lraspp_mobilenet_v3_small(weights=tv_model.state_dict())


def test_registered_weights_match_torchvision(tmp_path, monkeypatch, tv_model):
    ours = lm.LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1
    theirs = TVWeights.COCO_WITH_VOC_LABELS_V1
    assert ours.url == theirs.url and ours.file_name.endswith(f"-{ours.entry.sha256_prefix}.pth")
    assert ours.meta["categories"] == list(theirs.meta["categories"])
    assert ours.meta["metrics"]["COCO-val2017-VOC-labels"] == theirs.meta["_metrics"]["COCO-val2017-VOC-labels"]
    assert lm.get_weights("lraspp_mobilenet_v3_large", "DEFAULT") is ours
    # A cached file (as torch.hub would have left it) is used without a download.
    monkeypatch.setenv("LUCID_HOME", str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    state = _torchvision(num_classes=21, seed=2).state_dict()
    torch.save(state, tmp_path / "checkpoints" / ours.file_name)
    model = lm.lraspp_mobilenet_v3_large(weights="DEFAULT").eval()
    assert model.num_classes == 21
    assert model.pretrained_cfg["categories"][15] == "person"
    assert model.pretrained_cfg["resize_size"] == 520


def test_small_rejects_registered_names():
    with pytest.raises(ValueError, match="no registered weights"):
        lm.lraspp_mobilenet_v3_small(weights="DEFAULT")

"""The timm-style backbone interface: feature levels, feature extraction, heads and classifiers."""

from __future__ import annotations

import json
import warnings

import pytest
import timm
import torch

import lucid
import lucid.models as models
from lucid.models import MobileNet_V3, MobileNetV3Config, MobileNetV3Features
from reference_helpers import assert_close_scaled, randomise_batchnorm

TIMM_TWINS = {
    "mobilenet_v3_small": "mobilenetv3_small_100",
    "mobilenet_v3_large": "mobilenetv3_large_100",
    "mobilenet_v3_small_minimal": "tf_mobilenetv3_small_minimal_100",
    "mobilenet_v3_large_minimal": "tf_mobilenetv3_large_minimal_100",
    "mobilenet_v3_small_075": "mobilenetv3_small_075",
    "mobilenet_v3_large_075": "mobilenetv3_large_075",
}


# --------------------------------------------------------------------------- feature levels


@pytest.mark.parametrize("name", list(TIMM_TWINS))
def test_feature_levels_match_timm(name):
    reference = timm.create_model(TIMM_TWINS[name], features_only=True)
    model = models.create_model(name)
    assert model.feature_info.channels() == reference.feature_info.channels()
    assert model.feature_info.reduction() == reference.feature_info.reduction() == [2, 4, 8, 16, 32]
    assert all(set(level) == {"module", "num_chs", "reduction"} for level in model.feature_info)


def test_feature_levels_name_semantic_modules():
    small, large = models.mobilenet_v3_small(), models.mobilenet_v3_large()
    assert small.feature_info.module_name() == [
        "conv_first",
        "bottlenecks.0",
        "bottlenecks.2",
        "bottlenecks.7",
        "conv_last",
    ]
    assert large.feature_info.module_name() == [
        "bottlenecks.0",
        "bottlenecks.2",
        "bottlenecks.5",
        "bottlenecks.11",
        "conv_last",
    ]
    named = dict(small.named_modules())
    assert all(level["module"] in named for level in small.feature_info)
    assert small.feature_info.channels(-1) == small.num_features == 576 and large.feature_info.reduction(0) == 2


def test_feature_levels_follow_width_tail_and_dilation():
    model = models.mobilenet_v3_large(width_mult=0.5, reduced_tail=True, dilated=True)
    # make_divisible(c * 0.5, 8) of 16, 24, 40, 112; conv_last = 6 x make_divisible(160 // 2 * 0.5, 8).
    assert model.feature_info.channels() == [8, 16, 24, 56, 240]
    assert model.feature_info.reduction() == [2, 4, 8, 16, 16]


# --------------------------------------------------------------------------- feature extraction


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_features_only_returns_the_multi_scale_maps(name):
    features = models.create_model(name, features_only=True)
    assert isinstance(features, MobileNetV3Features)
    assert features.out_indices == (0, 1, 2, 3, 4)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        maps = features.eval()(x)
    info = features.feature_info
    expected = [(2, c, 224 // r, 224 // r) for c, r in zip(info.channels(), info.reduction(), strict=True)]
    assert [tuple(m.shape) for m in maps] == expected


def test_features_equal_timm_features_given_the_same_weights():
    """Same weights in timm's tf_ minimal network and lucid's (padding="same"): the same five maps."""
    reference = randomise_batchnorm(timm.create_model("tf_mobilenetv3_small_minimal_100"), seed=5)
    model = models.mobilenet_v3_small_minimal(padding="same").eval()
    # Tensors in the same order in both (stem, blocks, head); names differ, shapes up to 1x1 vs Linear.
    model.load_state_dict(
        {
            k: v.reshape(t.shape)
            for (k, t), v in zip(model.state_dict().items(), reference.state_dict().values(), strict=True)
        }
    )
    timm_features = timm.create_model("tf_mobilenetv3_small_minimal_100", features_only=True).eval()
    timm_features.load_state_dict(reference.state_dict(), strict=False)
    x = torch.randn(2, 3, 97, 101, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        expected, got = timm_features(x), model.as_features()(x)
    assert len(got) == len(expected) == 5
    for a, b in zip(got, expected, strict=True):
        assert_close_scaled(a, b)


def test_out_indices_select_levels_and_trim_the_network():
    lucid.manual_seed(0)
    model = randomise_batchnorm(models.mobilenet_v3_small())
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        everything = model.as_features().eval()(x)
        early = models.MobileNetV3Features(model, out_indices=(1, -3)).eval()
        picked = early(x)
    assert early.out_indices == (1, 2) and early.feature_info.channels() == [16, 24]
    assert len(picked) == 2 and all(torch.equal(a, b) for a, b in zip(picked, everything[1:3], strict=True))
    # Only the layers up to bottlenecks.2 are kept, no head, and they are the model's own modules.
    assert len(early.bottlenecks) == 3 and isinstance(early.conv_last, torch.nn.Identity)
    assert early.bottlenecks[2] is model.bottlenecks[2] and early.conv_first is model.conv_first
    assert not any(key.startswith(("fc1", "fc2", "conv_last")) for key in early.state_dict())
    assert set(early.state_dict()) <= set(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(everything[-1], model.forward_features(x))


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"features_only": True, "out_indices": (0, 5)}, ValueError, r"entry 5 is out of range.*5 feature levels"),
        ({"features_only": True, "out_indices": (1, -4)}, ValueError, r"names a feature level twice"),
        ({"features_only": True, "out_indices": ()}, ValueError, r"at least one feature level"),
        ({"features_only": True, "out_indices": 3}, TypeError, r"out_indices must be a sequence of ints, got 3"),
        ({"features_only": True, "out_indices": (1.0,)}, TypeError, r"out_indices must hold ints, got 1\.0"),
        ({"out_indices": (1, 2)}, ValueError, r"out_indices .* needs features_only=True"),
        ({"features_only": 1}, TypeError, r"features_only must be a bool, got 1"),
    ],
)
def test_feature_options_are_validated(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        models.create_model("mobilenet_v3_small", **kwargs)


def test_features_only_needs_a_backbone():
    @models.register_model(name="test_features_plain_module")
    def plain() -> torch.nn.Module:
        return torch.nn.Linear(2, 2)

    with pytest.raises(TypeError, match=r"'test_features_plain_module' \(Linear\) has no as_features"):
        models.create_model("test_features_plain_module", features_only=True)
    with pytest.raises(TypeError, match="MobileNetV3Features expects a MobileNet_V3, got Linear"):
        MobileNetV3Features(torch.nn.Linear(2, 2))


@pytest.mark.parametrize(
    "x, error, pattern",
    [
        (torch.zeros(3, 32, 32), ValueError, r"\(N, C, H, W\).*3-d"),
        (torch.zeros(1, 3, 32, 32), ValueError, r"in_channels=1.*3 channels"),
        (torch.zeros(1, 1, 32, 32, dtype=torch.uint8), TypeError, r"floating-point.*torch\.uint8"),
    ],
)
def test_feature_extractor_checks_its_input(x, error, pattern):
    features = models.create_model("mobilenet_v3_small", features_only=True, in_channels=1)
    with pytest.raises(error, match=pattern):
        features(x)


def test_feature_extractor_scripts_and_exports():
    features = randomise_batchnorm(models.mobilenet_v3_large(dilated=True)).as_features((0, 2, 4))
    x = torch.randn(1, 3, 67, 75)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(features)
    with torch.no_grad():
        expected = features(x)
        for a, b in zip(scripted(x), expected, strict=True):
            torch.testing.assert_close(a, b)
    import io

    import onnxruntime

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(features, (x,), buffer, dynamo=False)
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert len(outputs) == 3
    for got, want in zip(outputs, expected, strict=True):
        assert_close_scaled(torch.from_numpy(got), want)


@pytest.mark.parametrize("out_indices", [(0,), (4,), (1, 2)])
def test_any_level_selection_scripts(out_indices):
    features = randomise_batchnorm(models.mobilenet_v3_small()).as_features(out_indices)
    x = torch.randn(1, 3, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(features)
    with torch.no_grad():
        got, expected = scripted(x), features(x)
    assert len(got) == len(expected) == len(out_indices)
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


# --------------------------------------------------------------------------- heads and classifiers


def test_forward_features_and_head():
    model = randomise_batchnorm(models.mobilenet_v3_small(num_classes=10))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (2, 576, 2, 2)
        pre = model.forward_head(features, pre_logits=True)
        assert pre.shape == (2, model.head_hidden_size) == (2, 1024)
        torch.testing.assert_close(model.forward_head(features), model.fc2(pre))
        torch.testing.assert_close(model(x), model.forward_head(features))


def test_get_classifier_is_the_final_linear():
    model = models.mobilenet_v3_large(num_classes=7)
    classifier = model.get_classifier()
    assert classifier is model.fc2[1]
    assert isinstance(classifier, torch.nn.Linear) and (classifier.in_features, classifier.out_features) == (1280, 7)


def test_reset_classifier_replaces_the_head_and_the_config():
    lucid.manual_seed(0)
    model = models.mobilenet_v3_small().eval()
    old = model.get_classifier()
    model.reset_classifier(37)
    new = model.get_classifier()
    assert new is not old and (new.in_features, new.out_features) == (1024, 37)
    assert model.num_classes == 37 and model.config.num_classes == 37 and model.config.classifier
    # Initialised as at construction: normal(0, 0.01) weights, zero bias; dropout from the config.
    assert torch.count_nonzero(new.bias) == 0 and 0.007 < new.weight.std() < 0.013
    assert model.fc2[0].p == model.config.dropout
    assert not model.fc2.training  # follows the model's mode
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 37)
    # A checkpoint's config rebuilds the same shapes.
    rebuilt = MobileNet_V3(MobileNetV3Config.from_dict(json.loads(json.dumps(model.config.to_dict()))))
    rebuilt.load_state_dict(model.state_dict())


def test_reset_classifier_keeps_dtype_and_device():
    model = models.mobilenet_v3_small().double()
    model.reset_classifier(3)
    assert model.get_classifier().weight.dtype == torch.float64
    pre_logits = torch.randn(2, 1024, dtype=torch.float64)
    assert model.fc2(pre_logits).dtype == torch.float64 and model.fc2(pre_logits).shape == (2, 3)


def test_reset_classifier_zero_gives_pre_logits():
    model = randomise_batchnorm(models.mobilenet_v3_small())
    model.reset_classifier(0)
    assert model.num_classes == 0 and model.config.classifier is False
    assert isinstance(model.get_classifier(), torch.nn.Identity)
    assert not any(key.startswith("fc2") for key in model.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (2, 1024)
        torch.testing.assert_close(out, model.forward_head(model.forward_features(x), pre_logits=True))
    rebuilt = MobileNet_V3(MobileNetV3Config.from_dict(model.config.to_dict())).eval()
    rebuilt.load_state_dict(model.state_dict())
    assert rebuilt.num_classes == 0
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), out)
    model.reset_classifier(5)  # and back
    assert model(x).shape == (2, 5) and model.config.classifier and model.config.num_classes == 5


def test_classifier_false_builds_a_headless_model():
    model = models.mobilenet_v3_small(classifier=False)
    assert model.num_classes == 0 and isinstance(model.fc2, torch.nn.Identity)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1024)


@pytest.mark.parametrize("bad", [-1, 2.0, True, "10", None])
def test_reset_classifier_validates(bad):
    with pytest.raises(ValueError, match=r"num_classes must be an int >= 0 \(0: no classifier\), got"):
        models.mobilenet_v3_small().reset_classifier(bad)


def test_checkpoint_round_trip_of_a_variant(tmp_path):
    """lucid checkpoints store config.to_dict(); variants and reset heads rebuild from it."""
    model = randomise_batchnorm(models.mobilenet_v3_small_minimal(width_mult=0.75, dilated=True, padding="same"))
    model.reset_classifier(4)
    path = lucid.save(model, tmp_path / "variant.safetensors")
    loaded = models.load_model(path)
    assert loaded.config == model.config and loaded.model_name == "mobilenet_v3_small_minimal"
    x = torch.randn(1, 3, 61, 67)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


# --------------------------------------------------------------------------- taps inside blocks


def test_expansion_location_matches_torchvision_ssdlite_c4():
    # torchvision's SSDLite takes its stride-16 map at the expand stage of the block that goes
    # 16 -> 32 (features[13].block[0] of large, features[9].block[0] of small).
    for name, block, width in (("mobilenet_v3_large", 12, 672), ("mobilenet_v3_small", 8, 288)):
        levels = getattr(models, name)().as_features(feature_location="expansion").feature_info
        assert levels[3] == {"module": f"bottlenecks.{block}.residual.0", "num_chs": width, "reduction": 16}
        assert levels.module_name(4) == "conv_last" and levels.reduction() == [2, 4, 8, 16, 32]
    # small's first block is strided without an expand stage: that level stays the stem's output
    small = models.mobilenet_v3_small().as_features(feature_location="expansion").feature_info
    assert small.module_name(0) == "conv_first" and small.module_name(1) == "bottlenecks.1.residual.0"


def test_taps_return_the_stage_outputs():
    lucid.manual_seed(0)
    model = randomise_batchnorm(models.mobilenet_v3_large())
    x = torch.randn(1, 3, 64, 64)
    tap = models.MobileNetV3Features(model, taps=["bottlenecks.2", "bottlenecks.12.residual.0", "conv_last"]).eval()
    assert tap.feature_info.channels() == [24, 672, 960] and tap.feature_info.reduction() == [4, 16, 32]
    with torch.no_grad():
        got = tap(x)
        y = model.bottlenecks[:12](model.conv_first(x))
        expected = model.bottlenecks[12].residual[0](y)
        assert torch.equal(got[1], expected)
        assert torch.equal(got[2], model.forward_features(x))
    # the block's output with a tap equals its plain output
    block = model.bottlenecks[13]
    z = torch.randn(1, 160, 4, 4)
    with torch.no_grad():
        out, inner = block.forward_with_tap(z, 1)
        assert torch.equal(out, block(z)) and inner.shape == (1, 960, 4, 4)


def test_expansion_levels_script():
    features = randomise_batchnorm(models.mobilenet_v3_small()).as_features((2, 3, 4), feature_location="expansion")
    x = torch.randn(1, 3, 64, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(features)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(scripted(x), features(x), strict=True))


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"taps": ["conv_last", "conv_first"]}, r"distinct and in forward order"),
        ({"taps": ["bottlenecks.3.residual.3"]}, r"unknown tap 'bottlenecks.3.residual.3'"),
        ({"taps": ["bottlenecks.3.residual.0", "bottlenecks.3.residual.1"]}, r"two stages inside one block"),
        ({"taps": "conv_last"}, r"non-empty sequence of tap names"),
        ({"taps": ["conv_last"], "out_indices": (1,)}, r"not both"),
        ({"feature_location": "pre_project"}, r"feature_location must be one of 'bottleneck', 'expansion'"),
    ],
)
def test_tap_options_are_validated(kwargs, pattern):
    model = models.mobilenet_v3_small()
    out_indices = kwargs.pop("out_indices", None)
    with pytest.raises(ValueError, match=pattern):
        model.as_features(out_indices, **kwargs)

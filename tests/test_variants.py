"""Variants: width, reduced tail, dilation, minimalistic, timm's width 0.75, TF padding; scripting and export.

Architectures are checked against torchvision and timm objects built here: parameter counts,
tensor shapes in order, and outputs given the same weights.
"""

from __future__ import annotations

import dataclasses
import io
import json
import warnings

import pytest
import timm
import torch
import torchvision

import lucid
import lucid.models as models
from lucid.models import SMALL_BOTTLENECKS, MobileNet_V3, MobileNetV3Config
from reference_helpers import assert_close_scaled, randomise_batchnorm

VARIANT_FIELDS = {
    "width_mult": 1.0,
    "reduced_tail": False,
    "dilated": False,
    "activation": "hardswish",
    "padding": "symmetric",
    "classifier": True,
}
PRESETS = [
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "mobilenet_v3_small_minimal",
    "mobilenet_v3_large_minimal",
    "mobilenet_v3_small_075",
    "mobilenet_v3_large_075",
]
# The timm model with the same architecture as each preset (timm's names, timm's numbers).
TIMM_TWINS = {
    "mobilenet_v3_small": "mobilenetv3_small_100",
    "mobilenet_v3_large": "mobilenetv3_large_100",
    "mobilenet_v3_small_minimal": "tf_mobilenetv3_small_minimal_100",
    "mobilenet_v3_large_minimal": "tf_mobilenetv3_large_minimal_100",
    "mobilenet_v3_small_075": "mobilenetv3_small_075",
    "mobilenet_v3_large_075": "mobilenetv3_large_075",
}
SPEC = (3, 16, 16, True, False, 2, 2)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def copy_by_position(source: torch.nn.Module, target: torch.nn.Module) -> None:
    """Load ``source``'s tensors into ``target`` in order (written for the test).

    torchvision, timm and lucid list a MobileNet-v3's tensors in the same order (stem, then
    per block expand/depthwise/SE/project, head, classifier); only names and the 1x1-conv vs
    Linear shapes differ. Every numel must agree, which checks the architecture tensor by tensor.
    """
    src = list(source.state_dict().values())
    dst = target.state_dict()
    assert len(src) == len(dst), f"{len(src)} tensors vs {len(dst)}"
    state = {}
    for (key, value), other in zip(dst.items(), src, strict=True):
        assert value.numel() == other.numel(), f"{key}: {tuple(value.shape)} vs {tuple(other.shape)}"
        state[key] = other.reshape(value.shape).clone()
    target.load_state_dict(state)


def tiny_config(**fields) -> MobileNetV3Config:
    """A 4-block network exercising expand, SE, residual and two strided stages."""
    table = [SPEC, (3, 72, 24, False, False, 2, 4), (5, 96, 40, True, True, 2, 4), (5, 240, 40, True, True, 1, 4)]
    return MobileNetV3Config(table, 128, num_classes=5, **fields)


# --------------------------------------------------------------------------- config fields


def test_variant_fields_follow_the_documented_six_with_neutral_defaults():
    fields = dataclasses.fields(MobileNetV3Config)
    names = [f.name for f in fields]
    assert names[:6] == ["bottleneck_cfg", "last_channels", "num_classes", "in_channels", "stem_channels", "dropout"]
    assert set(VARIANT_FIELDS) <= set(names[6:])
    config = MobileNetV3Config(SMALL_BOTTLENECKS, 1024)
    assert {name: getattr(config, name) for name in VARIANT_FIELDS} == VARIANT_FIELDS
    assert all(f.kw_only for f in fields if f.name in VARIANT_FIELDS)
    # The defaults build exactly the network without them (lucid 2's small: 2,537,370).
    explicit = MobileNetV3Config(SMALL_BOTTLENECKS, 1024, **VARIANT_FIELDS)
    assert n_params(MobileNet_V3(explicit)) == n_params(MobileNet_V3(config)) == 2_537_370


@pytest.mark.parametrize(
    "field, bad, error, pattern",
    [
        ("width_mult", 0, ValueError, r"width_mult must be a positive finite number, got 0"),
        ("width_mult", -0.5, ValueError, r"width_mult.*-0\.5"),
        ("width_mult", float("inf"), ValueError, r"width_mult.*inf"),
        ("width_mult", True, ValueError, r"width_mult.*True"),
        ("width_mult", "0.75", ValueError, r"width_mult.*'0\.75'"),
        ("reduced_tail", 1, TypeError, r"reduced_tail must be a bool, got 1 \(int\)"),
        ("dilated", "yes", TypeError, r"dilated must be a bool, got 'yes'"),
        ("classifier", None, TypeError, r"classifier must be a bool, got None"),
        ("activation", "swish", ValueError, r"activation must be one of 'hardswish', 'relu'; got 'swish'"),
        ("activation", "ReLU", ValueError, r"activation.*'ReLU'"),
        ("padding", "valid", ValueError, r"padding must be one of 'symmetric', 'same'; got 'valid'"),
        ("padding", 1, ValueError, r"padding.*got 1"),
    ],
)
def test_variant_fields_are_validated(field, bad, error, pattern):
    with pytest.raises(error, match=pattern):
        MobileNetV3Config([SPEC], 64, **{field: bad})


@pytest.mark.parametrize("flag", ["reduced_tail", "dilated"])
def test_tail_options_need_a_strided_block(flag):
    with pytest.raises(ValueError, match=rf"{flag}=True acts on the last stage.*stride 1"):
        MobileNetV3Config([(3, 16, 16, False, False, 1, 4)], 64, **{flag: True})


def test_reduced_tail_cannot_halve_a_single_channel():
    with pytest.raises(ValueError, match=r"reduced_tail=True halves bottleneck_cfg\[1\]\.out_channels=1"):
        MobileNetV3Config([SPEC, (3, 16, 1, False, False, 2, 4)], 64, reduced_tail=True)


def test_width_mult_is_stored_as_float_and_round_trips():
    config = tiny_config(width_mult=1, reduced_tail=True, dilated=True, activation="relu", padding="same")
    assert config.width_mult == 1.0 and isinstance(config.width_mult, float)
    data = json.loads(json.dumps(config.to_dict()))  # what a checkpoint stores
    assert MobileNetV3Config.from_dict(data) == config


@pytest.mark.parametrize(
    "fields",
    [
        {"width_mult": 0.5, "reduced_tail": True, "dilated": True},
        {"activation": "relu", "padding": "same", "classifier": False},
    ],
)
def test_config_dict_rebuilds_the_same_network(fields):
    lucid.manual_seed(0)
    model = randomise_batchnorm(MobileNet_V3(tiny_config(**fields)))
    rebuilt = MobileNet_V3(MobileNetV3Config.from_dict(json.loads(json.dumps(model.config.to_dict())))).eval()
    rebuilt.load_state_dict(model.state_dict())  # strict: same keys and shapes
    x = torch.randn(2, 3, 67, 75)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)


def test_width_one_rounds_nothing():
    table = [(3, 20, 20, True, False, 2, 4), (3, 60, 36, False, True, 2, 4)]  # not multiples of 8
    plain = MobileNet_V3(MobileNetV3Config(table, 100, stem_channels=20))
    explicit = MobileNet_V3(MobileNetV3Config(table, 100, stem_channels=20, width_mult=1.0))
    assert n_params(plain) == n_params(explicit)
    assert explicit.conv_first[0].out_channels == 20 and explicit.bottlenecks[1].residual[-1][0].out_channels == 36


# --------------------------------------------------------------------------- torchvision parity


@pytest.mark.parametrize("arch", ["small", "large"])
@pytest.mark.parametrize(
    "width, reduced_tail, dilated",
    [
        (1.0, False, False),
        (0.75, False, False),
        (0.5, False, False),
        (0.35, False, False),
        (1.0, True, False),
        (0.75, True, True),
    ],
)
def test_parameter_counts_match_torchvision(arch, width, reduced_tail, dilated):
    kwargs = {"width_mult": width, "reduced_tail": reduced_tail, "dilated": dilated}
    reference = getattr(torchvision.models, f"mobilenet_v3_{arch}")(**kwargs)
    model = getattr(models, f"mobilenet_v3_{arch}")(**kwargs)
    assert n_params(model) == n_params(reference)
    assert model.fc1[0].out_features == reference.classifier[0].out_features  # last_channels scaled like torchvision


def test_width_075_counts_are_the_published_numbers():
    # torchvision's width 0.75, computed from its own objects: 1,653,920 / 3,377,576.
    assert n_params(models.mobilenet_v3_small(width_mult=0.75)) == 1_653_920
    assert n_params(models.mobilenet_v3_large(width_mult=0.75)) == 3_377_576


@pytest.mark.parametrize(
    "arch, kwargs",
    [("small", {"width_mult": 0.75, "dilated": True}), ("large", {"reduced_tail": True, "dilated": True})],
)
def test_variants_match_torchvision_outputs(arch, kwargs):
    reference = randomise_batchnorm(getattr(torchvision.models, f"mobilenet_v3_{arch}")(**kwargs), seed=1)
    model = getattr(models, f"mobilenet_v3_{arch}")(**kwargs).eval()
    copy_by_position(reference, model)
    x = torch.randn(2, 3, 97, 83, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert_close_scaled(model(x), reference(x))


def test_dilated_keeps_output_stride_16():
    plain, dilated = models.mobilenet_v3_large(), models.mobilenet_v3_large(dilated=True)
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        assert plain.forward_features(x).shape == (1, 960, 4, 4)
        assert dilated.forward_features(x).shape == (1, 960, 8, 8)
    depthwise = [block.residual[1][0] for block in dilated.bottlenecks[12:]]
    assert all(c.dilation == (2, 2) and c.stride == (1, 1) and c.padding == (4, 4) for c in depthwise)
    assert dilated.bottlenecks[11].residual[1][0].dilation == (1, 1)


# --------------------------------------------------------------------------- presets and timm parity


@pytest.mark.parametrize("name", PRESETS)
def test_presets_match_timm_architecture(name):
    reference = timm.create_model(TIMM_TWINS[name])
    model = models.create_model(name)
    assert n_params(model) == n_params(reference)
    copy_by_position(reference, model)  # shape by shape, in order


def test_minimal_parameter_counts():
    assert n_params(models.mobilenet_v3_small_minimal()) == 2_044_736
    assert n_params(models.mobilenet_v3_large_minimal()) == 3_924_288


@pytest.mark.parametrize("name", ["mobilenet_v3_small_minimal", "mobilenet_v3_large_minimal"])
def test_minimal_has_no_se_no_hardswish_and_3x3_kernels(name):
    model = models.create_model(name)
    modules = list(model.modules())
    assert not any(isinstance(m, models._SEBlock) for m in modules)
    assert not any(isinstance(m, torch.nn.Hardswish) for m in modules)
    assert "HardSwish" not in repr(model)
    assert isinstance(model.conv_first[2], torch.nn.ReLU) and isinstance(model.conv_last[2], torch.nn.ReLU)
    assert isinstance(model.fc1[1], torch.nn.ReLU)
    kernels = {m.kernel_size for m in modules if isinstance(m, torch.nn.Conv2d)}
    assert kernels == {(3, 3), (1, 1)}
    assert model.config.activation == "relu" and model.model_name == name


def _check_same_padding_against_tf_port(name: str, twin: str, sizes: list[tuple[int, int]]) -> None:
    # Drawn from seed 3 whatever the global RNG, and compared in float64, where rounding noise
    # vanishes: the outputs of this deep random network are large (about 100), and float32 noise
    # alone exceeded the tolerance for some draws.
    with torch.random.fork_rng():
        torch.manual_seed(3)
        reference = randomise_batchnorm(timm.create_model(twin), seed=3).double()
    same = models.create_model(name, padding="same").eval()
    symmetric = models.create_model(name).eval()
    copy_by_position(reference, same)
    copy_by_position(reference, symmetric)
    same, symmetric = same.double(), symmetric.double()
    for size in sizes:
        x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        with torch.no_grad():
            expected = reference.forward_features(x)
            assert_close_scaled(same.forward_features(x), expected)
            assert_close_scaled(same(x), reference(x))
            # PyTorch's symmetric padding shifts every strided layer by a pixel: clearly different.
            assert not torch.allclose(symmetric.forward_features(x), expected, rtol=0.05, atol=0.05)


def test_same_padding_reproduces_timm_tf_minimal():
    """timm's tf_ ports use TensorFlow's SAME padding; lucid's padding="same" gives their outputs."""
    _check_same_padding_against_tf_port(
        "mobilenet_v3_small_minimal", "tf_mobilenetv3_small_minimal_100", [(96, 96), (97, 101)]
    )


def test_minimal_accepts_timm_tf_weights(tmp_path):
    """``weights=`` with a timm tf_ minimal state dict builds the TF-padded network and matches timm."""
    reference = randomise_batchnorm(timm.create_model("tf_mobilenetv3_small_minimal_100"), seed=7)
    path = tmp_path / "tf_mobilenetv3_small_minimal_100.pth"
    torch.save(reference.state_dict(), path)
    model = models.mobilenet_v3_small_minimal(weights=path).eval()
    assert model.config.padding == "same" and model.config.activation == "relu"
    backbone = models.create_model("mobilenet_v3_small_minimal", weights=path, features_only=True).eval()
    x = torch.randn(2, 3, 97, 101, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        assert_close_scaled(model(x), reference(x))
        assert_close_scaled(backbone(x)[-1], reference.forward_features(x))


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, twin",
    [
        ("mobilenet_v3_large_minimal", "tf_mobilenetv3_large_minimal_100"),
        ("mobilenet_v3_small_075", "tf_mobilenetv3_small_075"),
        ("mobilenet_v3_large_075", "tf_mobilenetv3_large_075"),
    ],
)
def test_same_padding_reproduces_every_tf_port(name, twin):
    _check_same_padding_against_tf_port(name, twin, [(224, 224), (97, 101)])


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_conv2d_same_follows_tensorflow():
    conv = models.Conv2dSame(2, 3, 3, stride=2, bias=False)
    x = torch.randn(1, 2, 8, 7)
    # TF SAME at stride 2: out = ceil(in / 2); total padding 1 on the 8-axis (bottom only), 2 on the 7-axis.
    expected = torch.nn.functional.conv2d(torch.nn.functional.pad(x, [1, 1, 0, 1]), conv.weight, stride=2)
    torch.testing.assert_close(conv(x), expected)
    assert conv(x).shape == (1, 3, 4, 4)
    # Stride 1 with an even kernel: the same as PyTorch's own padding="same".
    even = models.Conv2dSame(2, 3, 4)
    reference = torch.nn.Conv2d(2, 3, 4, padding="same")
    reference.load_state_dict(even.state_dict())
    torch.testing.assert_close(even(x), reference(x))


def test_same_padding_keeps_names_and_uses_conv2d_same_only_where_needed():
    same, plain = models.mobilenet_v3_small_minimal(padding="same"), models.mobilenet_v3_small_minimal()
    assert list(same.state_dict()) == list(plain.state_dict())
    strided = {name for name, m in same.named_modules() if isinstance(m, models.Conv2dSame)}
    assert strided == {
        "conv_first.0",
        "bottlenecks.0.residual.0.0",
        "bottlenecks.1.residual.1.0",
        "bottlenecks.3.residual.1.0",
        "bottlenecks.8.residual.1.0",
    }
    assert "Conv2dSame(" in repr(same) and "Conv2dSame(" not in repr(plain)


# --------------------------------------------------------------------------- presets, registry, CLI


def test_all_variants_registered_and_listed(capsys):
    assert set(PRESETS) <= set(models.list_models())
    assert set(PRESETS) <= set(models.PRESETS)
    for name in PRESETS:
        factory = models.get_model_factory(name)
        assert factory.__doc__ and "parameters" in factory.__doc__
    from lucid.cli import main

    assert main(["models", "mobilenet_v3_*_minimal"]) == 0
    out = capsys.readouterr().out
    assert "mobilenet_v3_small_minimal" in out and "2,044,736" in out and "3,924,288" in out


def test_preset_last_channels_follow_torchvision():
    small = lambda **kw: models.preset_config("mobilenet_v3_small", **kw).last_channels  # noqa: E731
    large = lambda **kw: models.preset_config("mobilenet_v3_large", **kw).last_channels  # noqa: E731
    assert (small(), small(width_mult=0.75), small(reduced_tail=True), small(width_mult=0.5, reduced_tail=True)) == (
        1024,
        768,
        512,
        256,
    )
    assert (large(), large(width_mult=0.75), large(reduced_tail=True), large(width_mult=1.25)) == (1280, 960, 640, 1600)
    # The config stores the computed width, so a checkpoint rebuilds fc1 as it was.
    assert models.preset_config("mobilenet_v3_small", width_mult=0.75).to_dict()["last_channels"] == 768


@pytest.mark.parametrize("name", ["mobilenet_v3_small_075", "mobilenet_v3_large_075"])
def test_075_presets_fix_their_width(name):
    with pytest.raises(TypeError, match=r"fixes .*width_mult; got width_mult"):
        models.create_model(name, width_mult=0.5)
    with pytest.raises(TypeError, match="stem_channels"):
        models.create_model(name, stem_channels=8)
    assert models.create_model(name, reduced_tail=True, num_classes=3).config.reduced_tail


@pytest.mark.parametrize(
    "x, error, pattern",
    [
        (torch.zeros(1, 32, 32), ValueError, r"\(N, C, H, W\).*3-d"),
        (torch.zeros(1, 3, 32, 32), ValueError, r"in_channels=1.*3 channels"),
        (torch.zeros(1, 1, 32, 32, dtype=torch.int64), TypeError, r"floating-point.*torch\.int64"),
    ],
)
def test_input_checks_hold_for_variants(x, error, pattern):
    model = models.mobilenet_v3_large_minimal(in_channels=1, padding="same", dilated=True, width_mult=0.5)
    with pytest.raises(error, match=pattern):
        model(x)


# --------------------------------------------------------------------------- scripting and export


def _script_matches(model: torch.nn.Module, x: torch.Tensor) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))


@pytest.mark.parametrize(
    "name, kwargs",
    [("mobilenet_v3_small", {}), ("mobilenet_v3_large_minimal", {"padding": "same", "dilated": True})],
)
def test_representative_presets_script(name, kwargs):
    _script_matches(randomise_batchnorm(models.create_model(name, **kwargs)), torch.randn(1, 3, 67, 75))


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("options", [False, True])
def test_every_preset_scripts(name, options):
    kwargs = {"padding": "same", "dilated": True, "reduced_tail": True} if options else {}
    if options and not name.endswith("_075"):  # the _075 tables are already width-scaled
        kwargs["width_mult"] = 0.5
    _script_matches(randomise_batchnorm(models.create_model(name, **kwargs)), torch.randn(1, 3, 67, 75))


@pytest.mark.parametrize(
    "fields",
    [
        {"width_mult": 0.5, "reduced_tail": True, "dilated": True},
        {"activation": "relu", "padding": "same", "classifier": False, "dilated": True},
    ],
)
def test_every_option_scripts(fields):
    _script_matches(randomise_batchnorm(MobileNet_V3(tiny_config(**fields))), torch.randn(2, 3, 61, 70))


def _onnx_outputs(model: torch.nn.Module, x: torch.Tensor, *, dynamo: bool) -> list:
    import onnxruntime

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the Python-side input checks
        if dynamo:
            data = torch.onnx.export(model, (x,), dynamo=True, verbose=False).model_proto.SerializeToString()
        else:
            buffer = io.BytesIO()
            torch.onnx.export(model, (x,), buffer, dynamo=False)
            data = buffer.getvalue()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})


@pytest.mark.parametrize(
    "name, kwargs",
    [("mobilenet_v3_small_minimal", {"padding": "same"}), ("mobilenet_v3_large", {"dilated": True, "width_mult": 0.5})],
)
def test_representative_variants_export_to_onnx(name, kwargs):
    model = randomise_batchnorm(models.create_model(name, **kwargs))
    x = torch.randn(1, 3, 97, 101)
    (got,) = _onnx_outputs(model, x, dynamo=False)
    with torch.no_grad():
        assert_close_scaled(torch.from_numpy(got), model(x))


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("kwargs", [{}, {"padding": "same", "dilated": True, "reduced_tail": True}])
def test_every_variant_exports_with_dynamo(name, kwargs):
    model = randomise_batchnorm(models.create_model(name, **kwargs))
    x = torch.randn(1, 3, 97, 101)
    (got,) = _onnx_outputs(model, x, dynamo=True)
    with torch.no_grad():
        assert_close_scaled(torch.from_numpy(got), model(x))


@pytest.mark.slow
def test_same_padding_exports_with_dynamic_image_size():
    """TF padding is computed from the input size, so one ONNX graph serves every image size."""
    import onnxruntime

    model = randomise_batchnorm(models.mobilenet_v3_small_minimal(padding="same"))
    height, width = torch.export.Dim("height", min=32, max=512), torch.export.Dim("width", min=32, max=512)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model, (torch.randn(1, 3, 96, 96),), dynamo=True, dynamic_shapes={"x": {2: height, 3: width}}
        )
    session = onnxruntime.InferenceSession(program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for size in [(96, 96), (97, 101), (224, 224)]:
        x = torch.randn(1, 3, *size)
        (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        with torch.no_grad():
            assert_close_scaled(torch.from_numpy(got), model(x))

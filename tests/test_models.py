"""MobileNet_V3 and the presets: the seed example, the exact network, and torchvision parity."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision

import lucid
import lucid.models as models
from lucid.models import LARGE_BOTTLENECKS, SMALL_BOTTLENECKS, MobileNet_V3, MobileNetV3Config
from reference_helpers import randomise_batchnorm

ROOT = Path(__file__).resolve().parents[1]


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def seed_model() -> MobileNet_V3:
    config = models.MobileNetV3Config(
        bottleneck_cfg=[
            (3, 16, 16, True, False, 2, 2),
            (3, 72, 24, False, False, 2, 4),
        ],
        last_channels=1024,
        num_classes=10,
        in_channels=1,
    )
    return models.MobileNet_V3(config)


def test_seed_example_verbatim():
    model = seed_model()
    text = repr(model)
    input_tensor = lucid.zeros(1, 1, 224, 224)
    output = model(input_tensor)
    assert output.shape == (1, 10)
    assert n_params(model) == 91_658
    assert text.startswith("MobileNet_V3(") and "HardSwish()" in text and "_SEBlock(" in text
    assert "(hsigmoid): HardSigmoid()" in text and "_InvertedBottleneck_V3(" in text


def test_seed_example_script_prints_model_and_logits():
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "seed_example.py")], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("MobileNet_V3(")
    assert "tensor([[" in result.stdout and result.stdout.count(",") >= 9


@pytest.mark.parametrize(
    "table, last, expected",
    [(SMALL_BOTTLENECKS, 1024, 2_537_370), (LARGE_BOTTLENECKS, 1280, 5_481_198)],
)
def test_six_field_networks_are_lucid2(table, last, expected):
    model = MobileNet_V3(MobileNetV3Config(table, last))
    assert n_params(model) == expected


@pytest.mark.parametrize(
    "factory, expected", [(models.mobilenet_v3_small, 2_542_856), (models.mobilenet_v3_large, 5_483_032)]
)
def test_preset_parameter_counts(factory, expected):
    assert n_params(factory()) == expected


@pytest.mark.parametrize("field", ["bottleneck_cfg", "last_channels", "stem_channels"])
@pytest.mark.parametrize("factory", [models.mobilenet_v3_small, models.mobilenet_v3_large])
def test_presets_lock_architecture_fields(factory, field):
    with pytest.raises(TypeError, match=field):
        factory(**{field: SMALL_BOTTLENECKS if field == "bottleneck_cfg" else 8})


def test_preset_kwargs_reach_the_config():
    model = models.mobilenet_v3_small(num_classes=10, in_channels=1, dropout=0.1)
    assert (model.config.num_classes, model.config.in_channels, model.config.dropout) == (10, 1, 0.1)
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 10)
    with pytest.raises(ValueError, match="num_classes"):
        models.mobilenet_v3_large(num_classes=0)


def test_state_dict_keys_of_spec():
    keys = set(MobileNet_V3(MobileNetV3Config(SMALL_BOTTLENECKS, 1024)).state_dict())
    for key in [
        "conv_first.0.weight",
        "conv_first.1.running_mean",
        "bottlenecks.0.residual.0.0.weight",
        "bottlenecks.0.residual.1.fc1.weight",
        "bottlenecks.0.residual.2.0.weight",
        "bottlenecks.1.residual.0.0.weight",
        "conv_last.0.weight",
        "fc1.0.weight",
        "fc2.1.weight",
    ]:
        assert key in keys, key
    # The first small block has no expand stage, so its stage 0 is the depthwise conv.
    model = models.mobilenet_v3_small()
    assert model.bottlenecks[0].residual[0][0].groups == 16
    assert model.bottlenecks[1].residual[0][0].kernel_size == (1, 1)


def test_structure_of_blocks_and_head():
    model = models.mobilenet_v3_large()
    assert [type(m).__name__ for m in model.bottlenecks] == ["_InvertedBottleneck_V3"] * 15
    first, se_block = model.bottlenecks[0], model.bottlenecks[3]
    assert len(first.residual) == 2 and first.use_residual  # no expand, no SE; 16 -> 16 stride 1
    assert type(se_block.residual[2]).__name__ == "_SEBlock"
    assert se_block.residual[2].fc1.out_features == 24  # _make_divisible(72 // 4, 8)
    assert isinstance(model.conv_last[2], lucid.nn.HardSwish)
    assert model.fc2[0].p == 0.2 and model.fc2[1].in_features == 1280
    # BatchNorm momentum 0.01 everywhere (the paper's decay 0.99), eps 1e-3 on the canonical presets.
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.01 and m.eps == 1e-3 for m in norms)
    six_field = MobileNet_V3(MobileNetV3Config(LARGE_BOTTLENECKS, 1280))
    assert all(m.momentum == 0.01 and m.eps == 1e-5 for m in six_field.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_se_width_rules():
    six = MobileNet_V3(MobileNetV3Config(SMALL_BOTTLENECKS, 1024))
    canonical = models.mobilenet_v3_small()
    assert six.bottlenecks[4].residual[2].fc1.out_features == 60  # 240 // 4
    assert canonical.bottlenecks[4].residual[2].fc1.out_features == 64  # rounded to a multiple of 8
    assert canonical.bottlenecks[7].residual[2].fc1.out_features == 40  # 144 // 4 = 36 -> 40


def test_mid_smaller_than_input_is_rejected():
    with pytest.raises(ValueError, match=r"bottleneck_cfg\[1\].*mid_channels=8"):
        MobileNet_V3(MobileNetV3Config([(3, 16, 16, True, False, 2, 2), (3, 8, 24, False, False, 1, 4)], 64))


def test_config_type_checked():
    with pytest.raises(TypeError, match="MobileNetV3Config"):
        MobileNet_V3({"bottleneck_cfg": SMALL_BOTTLENECKS})


def test_initialisation_follows_torchvision_and_is_seeded():
    lucid.manual_seed(0)
    a = models.mobilenet_v3_small()
    lucid.manual_seed(0)
    b = models.mobilenet_v3_small()
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert torch.count_nonzero(a.fc2[1].bias) == 0 and torch.count_nonzero(a.fc1[0].bias) == 0
    assert 0.005 < a.fc1[0].weight.std() < 0.015  # normal(0, 0.01)
    conv = a.conv_last[0].weight  # kaiming normal, fan_out = 576 * 1 * 1
    assert abs(conv.std().item() - (2 / 576) ** 0.5) < 0.1 * (2 / 576) ** 0.5
    assert torch.equal(a.conv_first[1].weight, torch.ones(16)) and torch.equal(a.conv_first[1].bias, torch.zeros(16))


def _torchvision_to_lucid(tv_state: dict[str, torch.Tensor], lucid_model: MobileNet_V3) -> dict[str, torch.Tensor]:
    """Key mapping written for the test: torchvision's features/classifier -> lucid's names."""
    out: dict[str, torch.Tensor] = {}
    for key, value in tv_state.items():
        parts = key.split(".")
        if parts[0] == "features":
            index = int(parts[1])
            last = len(lucid_model.bottlenecks) + 1
            if index == 0:
                new = "conv_first." + ".".join(parts[2:])
            elif index == last:
                new = "conv_last." + ".".join(parts[2:])
            else:  # features.i.block.j.(0|1).*  /  features.i.block.j.fc1.*
                new = f"bottlenecks.{index - 1}.residual.{parts[3]}." + ".".join(parts[4:])
                if "fc1" in parts or "fc2" in parts:
                    value = value.flatten(1) if value.dim() == 4 else value
        else:  # classifier.0 Linear, .1 Hardswish, .2 Dropout, .3 Linear
            new = {"0": "fc1.0.", "3": "fc2.1."}[parts[1]] + parts[2]
        out[new] = value
    return out


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_presets_match_torchvision_logits(name):
    generator = torch.Generator().manual_seed(1)
    reference = randomise_batchnorm(getattr(torchvision.models, name)(weights=None), seed=1, weights=True)
    model = getattr(models, name)().eval()
    state = _torchvision_to_lucid(reference.state_dict(), model)
    assert set(state) == set(model.state_dict())
    model.load_state_dict(state)
    x = torch.randn(2, 3, 224, 224, generator=generator)
    with torch.no_grad():
        expected, got = reference(x), model(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "x, error, pattern",
    [
        (torch.zeros(1, 224, 224), ValueError, r"\(N, C, H, W\).*3-d"),
        (torch.zeros(2, 1, 1, 32, 32), ValueError, r"\(N, C, H, W\).*5-d"),
        (torch.zeros(1, 3, 64, 64), ValueError, r"in_channels=1.*3 channels"),
        (torch.zeros(1, 1, 64, 64, dtype=torch.int64), TypeError, r"floating-point.*torch\.int64"),
        (torch.zeros(1, 1, 64, 64, dtype=torch.uint8), TypeError, r"torch\.uint8"),
    ],
)
def test_input_errors(x, error, pattern):
    with pytest.raises(error, match=pattern):
        seed_model()(x)


def test_forward_returns_logits_for_any_batch_and_size():
    model = models.mobilenet_v3_small(num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(3, 3, 96, 128)).shape == (3, 7)
        assert model(torch.randn(1, 3, 224, 224, dtype=torch.float64).float()).shape == (1, 7)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_accepts_the_model():
    model = models.mobilenet_v3_small().eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x))


def test_torch_compile_accepts_the_model():
    model = seed_model().eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


def test_training_step_updates_weights():
    model = seed_model()
    before = model.fc2[1].weight.clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 64, 64)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    assert not torch.equal(before, model.fc2[1].weight)


def test_registry():
    assert {"mobilenet_v3_small", "mobilenet_v3_large"} <= set(models.list_models())
    assert models.list_models("*_large") == [n for n in models.list_models() if n.endswith("_large")]
    model = models.create_model("mobilenet_v3_small", num_classes=3)
    assert model.model_name == "mobilenet_v3_small" and model.config.num_classes == 3
    with pytest.raises(ValueError, match="unknown model 'resnet'.*mobilenet_v3_small"):
        models.create_model("resnet")

    @models.register_model(name="tiny_test_net")
    def tiny(num_classes: int = 2) -> MobileNet_V3:
        return MobileNet_V3(MobileNetV3Config([(3, 16, 16, False, False, 2, 4)], 32, num_classes=num_classes))

    assert models.create_model("tiny_test_net").config.num_classes == 2
    with pytest.raises(ValueError, match="already registered"):
        models.register_model(lambda: None, name="tiny_test_net")

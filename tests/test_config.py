"""MobileNetV3Config: fields, defaults, normalisation and every documented validation rule."""

from __future__ import annotations

import dataclasses

import pytest

from lucid.models import MobileNetV3Config

SPEC = (3, 16, 16, True, False, 2, 2)


def make(**overrides):
    values = {"bottleneck_cfg": [SPEC], "last_channels": 1024}
    values.update(overrides)
    return MobileNetV3Config(**values)


def test_documented_fields_order_and_defaults():
    fields = [f for f in dataclasses.fields(MobileNetV3Config)]
    names = [f.name for f in fields]
    assert names[:6] == ["bottleneck_cfg", "last_channels", "num_classes", "in_channels", "stem_channels", "dropout"]
    config = make()
    assert (config.num_classes, config.in_channels, config.stem_channels, config.dropout) == (1000, 3, 16, 0.2)
    # Everything after the six documented fields is keyword-only with a default.
    assert all(f.kw_only for f in fields[6:])
    assert all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING for f in fields[2:])


def test_positional_construction_of_documented_fields():
    config = MobileNetV3Config([SPEC], 512, 10, 1, 8, 0.1)
    assert (config.last_channels, config.num_classes, config.in_channels, config.stem_channels, config.dropout) == (
        512,
        10,
        1,
        8,
        0.1,
    )


def test_lists_are_normalised_to_tuple_of_tuples():
    config = make(bottleneck_cfg=[list(SPEC), [3, 72, 24, False, False, 2, 4]])
    assert config.bottleneck_cfg == (SPEC, (3, 72, 24, False, False, 2, 4))
    assert type(config.bottleneck_cfg) is tuple
    assert all(type(spec) is tuple for spec in config.bottleneck_cfg)
    assert config.specs[0].mid_channels == 16 and config.specs[1].stride == 2


@pytest.mark.parametrize("cfg", [[], ()])
def test_empty_bottleneck_cfg_is_rejected(cfg):
    with pytest.raises(ValueError, match="at least one spec"):
        make(bottleneck_cfg=cfg)


@pytest.mark.parametrize("cfg", [None, 5, "3,16,16"])
def test_bottleneck_cfg_must_be_a_sequence(cfg):
    with pytest.raises(ValueError, match="bottleneck_cfg"):
        make(bottleneck_cfg=cfg)


@pytest.mark.parametrize("spec", [SPEC[:6], SPEC + (1,), (), "3161611"])
def test_spec_must_have_seven_values(spec):
    with pytest.raises(ValueError, match=r"bottleneck_cfg\[0\].*7 values"):
        make(bottleneck_cfg=[spec])


@pytest.mark.parametrize(
    "position, field",
    [(0, "kernel_size"), (1, "mid_channels"), (2, "out_channels"), (5, "stride"), (6, "se_reduction")],
)
@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "3", None])
def test_spec_sizes_are_positive_integers(position, field, bad):
    spec = list(SPEC)
    spec[position] = bad
    with pytest.raises(ValueError) as info:
        make(bottleneck_cfg=[SPEC, spec])
    message = str(info.value)
    assert f"bottleneck_cfg[1].{field}" in message and repr(bad) in message


@pytest.mark.parametrize("position, field", [(3, "use_se"), (4, "use_hswish")])
@pytest.mark.parametrize("bad", [1, 0, "True", None, 1.0])
def test_flags_are_real_booleans(position, field, bad):
    spec = list(SPEC)
    spec[position] = bad
    with pytest.raises(TypeError) as info:
        make(bottleneck_cfg=[spec])
    assert f"bottleneck_cfg[0].{field}" in str(info.value) and repr(bad) in str(info.value)


@pytest.mark.parametrize("field", ["last_channels", "num_classes", "in_channels", "stem_channels"])
@pytest.mark.parametrize("bad", [0, -3, 1.5, True, "8", None])
def test_widths_are_positive_integers(field, bad):
    with pytest.raises(ValueError) as info:
        make(**{field: bad})
    assert field in str(info.value) and repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "0.2", None, True])
def test_dropout_range(bad):
    with pytest.raises(ValueError, match="dropout"):
        make(dropout=bad)


@pytest.mark.parametrize("ok", [0, 0.0, 0.5, 0.999])
def test_dropout_accepted(ok):
    assert make(dropout=ok).dropout == ok


def test_extra_fields_validated():
    with pytest.raises(ValueError, match="se_divisor"):
        make(se_divisor=0)
    with pytest.raises(ValueError, match="bn_eps"):
        make(bn_eps=0.0)
    with pytest.raises(ValueError, match="bn_momentum"):
        make(bn_momentum=1.5)


def test_dict_round_trip_and_unknown_keys():
    config = make(num_classes=10, in_channels=1, se_divisor=8, bn_eps=1e-3)
    data = config.to_dict()
    assert data["bottleneck_cfg"] == [list(SPEC)]
    assert MobileNetV3Config.from_dict(data) == config
    with pytest.raises(ValueError, match="unknown MobileNetV3Config field"):
        MobileNetV3Config.from_dict({**data, "colour": "blue"})


def test_replace_revalidates():
    config = make()
    assert config.replace(num_classes=7).num_classes == 7
    with pytest.raises(ValueError, match="num_classes"):
        config.replace(num_classes=0)

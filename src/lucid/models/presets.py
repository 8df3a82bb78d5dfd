"""The standard MobileNet-v3 networks, as literal rows of the paper's tables 1 and 2, and variants.

The presets are the canonical network of the paper, TF-slim, torchvision, timm and Keras: SE
width rounded to a multiple of 8 and BatchNorm eps 1e-3 (torchvision's training constant), so
published ImageNet weights load. The same tables with lucid's six documented fields alone give
lucid 2's network (``squeeze = mid // se_reduction``).

Variants: every preset takes torchvision's ``width_mult``, ``reduced_tail`` and ``dilated``; the
minimalistic networks (no SE, ReLU only, 3x3 kernels: the paper's section 6 and timm's
``tf_mobilenetv3_*_minimal_100``) and timm's width-0.75 networks (``mobilenetv3_*_075``) are
presets of their own.

This module is data: the tables, the `Preset` records (which also say which constants
each library's published weights for the preset were trained with) and `preset_config`.
The factories that build the networks, with or without weights, live in
`lucid.models.factories`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lucid.models.config import WIDTH_DIVISOR, MobileNetV3Config, make_divisible

__all__ = [
    "Preset",
    "PRESETS",
    "LOCKED_FIELDS",
    "SOURCE_CONSTANTS",
    "TF_PORT_CONSTANTS",
    "TIMM_TF_PORTS",
    "source_constants",
    "alternative_constants",
    "SMALL_BOTTLENECKS",
    "LARGE_BOTTLENECKS",
    "SMALL_MINIMAL_BOTTLENECKS",
    "LARGE_MINIMAL_BOTTLENECKS",
    "SMALL_075_BOTTLENECKS",
    "LARGE_075_BOTTLENECKS",
    "minimal_table",
    "get_preset",
    "preset_config",
]

# (kernel_size, mid_channels, out_channels, use_se, use_hswish, stride, se_reduction)
SMALL_BOTTLENECKS = (
    (3, 16, 16, True, False, 2, 2),
    (3, 72, 24, False, False, 2, 4),
    (3, 88, 24, False, False, 1, 4),
    (5, 96, 40, True, True, 2, 4),
    (5, 240, 40, True, True, 1, 4),
    (5, 240, 40, True, True, 1, 4),
    (5, 120, 48, True, True, 1, 4),
    (5, 144, 48, True, True, 1, 4),
    (5, 288, 96, True, True, 2, 4),
    (5, 576, 96, True, True, 1, 4),
    (5, 576, 96, True, True, 1, 4),
)

LARGE_BOTTLENECKS = (
    (3, 16, 16, False, False, 1, 4),
    (3, 64, 24, False, False, 2, 4),
    (3, 72, 24, False, False, 1, 4),
    (5, 72, 40, True, False, 2, 4),
    (5, 120, 40, True, False, 1, 4),
    (5, 120, 40, True, False, 1, 4),
    (3, 240, 80, False, True, 2, 4),
    (3, 200, 80, False, True, 1, 4),
    (3, 184, 80, False, True, 1, 4),
    (3, 184, 80, False, True, 1, 4),
    (3, 480, 112, True, True, 1, 4),
    (3, 672, 112, True, True, 1, 4),
    (5, 672, 160, True, True, 2, 4),
    (5, 960, 160, True, True, 1, 4),
    (5, 960, 160, True, True, 1, 4),
)

# timm's mobilenetv3_small_075 / mobilenetv3_large_075 (and their tf_ twins): timm scales a width
# by rounding out channels with make_divisible(c * 0.75, 8) and deriving each mid width from the
# block's (scaled) input times the paper's expansion ratio, and keeps fc1 at 1024 / 1280; that is
# not torchvision's width_mult=0.75, so these are literal tables (checked against timm in the tests).
SMALL_075_BOTTLENECKS = (
    (3, 16, 16, True, False, 2, 2),
    (3, 72, 24, False, False, 2, 4),
    (3, 88, 24, False, False, 1, 4),
    (5, 96, 32, True, True, 2, 4),
    (5, 192, 32, True, True, 1, 4),
    (5, 192, 32, True, True, 1, 4),
    (5, 96, 40, True, True, 1, 4),
    (5, 120, 40, True, True, 1, 4),
    (5, 240, 72, True, True, 2, 4),
    (5, 432, 72, True, True, 1, 4),
    (5, 432, 72, True, True, 1, 4),
)

LARGE_075_BOTTLENECKS = (
    (3, 16, 16, False, False, 1, 4),
    (3, 64, 24, False, False, 2, 4),
    (3, 72, 24, False, False, 1, 4),
    (5, 72, 32, True, False, 2, 4),
    (5, 96, 32, True, False, 1, 4),
    (5, 96, 32, True, False, 1, 4),
    (3, 192, 64, False, True, 2, 4),
    (3, 160, 64, False, True, 1, 4),
    (3, 144, 64, False, True, 1, 4),
    (3, 144, 64, False, True, 1, 4),
    (3, 384, 88, True, True, 1, 4),
    (3, 528, 88, True, True, 1, 4),
    (5, 528, 120, True, True, 2, 4),
    (5, 720, 120, True, True, 1, 4),
    (5, 720, 120, True, True, 1, 4),
)


def minimal_table(table: tuple[tuple[Any, ...], ...]) -> tuple[tuple[Any, ...], ...]:
    """The minimalistic form of a table: 3x3 kernels, no SE, ReLU (the paper's section 6).

    Channels and strides stay; ``se_reduction`` stays too (unused without SE) so the row keeps
    its seven values.
    """
    return tuple((3, mid, out, False, False, stride, reduction) for _, mid, out, _, _, stride, reduction in table)


SMALL_MINIMAL_BOTTLENECKS = minimal_table(SMALL_BOTTLENECKS)
LARGE_MINIMAL_BOTTLENECKS = minimal_table(LARGE_BOTTLENECKS)

# Fields a preset fixes: passing one to a preset factory is a TypeError, like an unknown argument.
LOCKED_FIELDS = ("bottleneck_cfg", "last_channels", "stem_channels")

# The canonical network's constants (see the module docstring).
CANONICAL = {"se_divisor": 8, "bn_eps": 1e-3}
# The minimalistic networks also use ReLU outside the blocks (stem, conv_last, fc1), as timm's.
MINIMAL = {**CANONICAL, "activation": "relu"}

# The constants each source's weights were trained with: the network must be built with the
# same ones for the outputs to match (BatchNorm eps enters every normalisation).
SOURCE_CONSTANTS: dict[str, dict[str, Any]] = {
    "torchvision": {"bn_eps": 1e-3},
    "timm": {"bn_eps": 1e-5},  # timm's native mobilenetv3_* weights
}
# timm's ports of TensorFlow weights (tf_mobilenetv3_*) were trained with BatchNorm eps 1e-3 and
# TF's SAME padding. Their keys are those of timm's native models, so a file cannot tell which
# it is: a preset says which kinds timm publishes for it (Preset.timm_weights).
TF_PORT_CONSTANTS: dict[str, Any] = {"bn_eps": 1e-3, "padding": "same"}
_TIMM_KINDS = {"native": SOURCE_CONSTANTS["timm"], "tf": TF_PORT_CONSTANTS}


@dataclass(frozen=True)
class Preset:
    """A named, fixed architecture plus the config defaults it is published with."""

    name: str
    bottleneck_cfg: tuple[tuple[Any, ...], ...]
    last_channels: int
    stem_channels: int = 16
    defaults: Mapping[str, Any] = field(default_factory=lambda: dict(CANONICAL))
    description: str = ""
    # Fields this preset fixes beyond LOCKED_FIELDS (the _075 tables are already width-scaled).
    locked: tuple[str, ...] = ()
    # The kinds of weights timm publishes for this architecture, the one assumed for a timm file
    # first: "native" (mobilenetv3_*, eps 1e-5) and/or "tf" (tf_mobilenetv3_*, TF's constants).
    timm_weights: tuple[str, ...] = ("native", "tf")


PRESETS: dict[str, Preset] = {}


def _add_preset(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


_add_preset(Preset("mobilenet_v3_small", SMALL_BOTTLENECKS, 1024, description="MobileNet-v3 Small (paper table 2)"))
_add_preset(Preset("mobilenet_v3_large", LARGE_BOTTLENECKS, 1280, description="MobileNet-v3 Large (paper table 1)"))
_add_preset(
    Preset(
        "mobilenet_v3_small_minimal",
        SMALL_MINIMAL_BOTTLENECKS,
        1024,
        defaults=MINIMAL,
        description="MobileNet-v3 Small minimalistic: no SE, ReLU, 3x3 (timm tf_mobilenetv3_small_minimal_100)",
        timm_weights=("tf",),
    )
)
_add_preset(
    Preset(
        "mobilenet_v3_large_minimal",
        LARGE_MINIMAL_BOTTLENECKS,
        1280,
        defaults=MINIMAL,
        description="MobileNet-v3 Large minimalistic: no SE, ReLU, 3x3 (timm tf_mobilenetv3_large_minimal_100)",
        timm_weights=("tf",),
    )
)
_add_preset(
    Preset(
        "mobilenet_v3_small_075",
        SMALL_075_BOTTLENECKS,
        1024,
        description="MobileNet-v3 Small at timm's width 0.75 (timm mobilenetv3_small_075)",
        locked=("width_mult",),
    )
)
_add_preset(
    Preset(
        "mobilenet_v3_large_075",
        LARGE_075_BOTTLENECKS,
        1280,
        description="MobileNet-v3 Large at timm's width 0.75 (timm mobilenetv3_large_075)",
        locked=("width_mult",),
        # timm publishes only tf_mobilenetv3_large_075 weights (mobilenetv3_large_075 is untrained).
        timm_weights=("tf",),
    )
)


# Presets whose only published timm weights are TensorFlow ports.
TIMM_TF_PORTS = frozenset(name for name, preset in PRESETS.items() if preset.timm_weights == ("tf",))


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name is a ValueError listing the presets."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(sorted(PRESETS))}") from None


def source_constants(model_name: str | None, fmt: str) -> dict[str, Any]:
    """The config values the weights of source ``fmt`` (``"torchvision"``, ``"timm"``) were trained with.

    For timm, the first kind the preset lists: TF's constants where timm publishes only
    TensorFlow ports (the minimalistic networks, ``mobilenet_v3_large_075``), else the native ones.
    """
    preset = PRESETS.get(model_name or "")
    if fmt == "timm" and preset is not None:
        return dict(_TIMM_KINDS[preset.timm_weights[0]])
    return dict(SOURCE_CONSTANTS.get(fmt, {}))


def alternative_constants(model_name: str | None, fmt: str) -> list[dict[str, Any]]:
    """Other constants a file of source ``fmt`` for ``model_name`` may need (empty: the file is unambiguous).

    timm publishes both native and TF-ported weights of ``mobilenet_v3_small``/``_large``/
    ``_small_075`` under the same keys, so such a file cannot tell which constants it needs.
    """
    preset = PRESETS.get(model_name or "")
    if fmt != "timm" or preset is None:
        return []
    return [dict(_TIMM_KINDS[kind]) for kind in preset.timm_weights[1:]]


def preset_config(name: str, **kwargs: Any) -> MobileNetV3Config:
    """The config of preset ``name`` with ``kwargs`` applied (any field but the locked ones).

    ``width_mult`` and ``reduced_tail`` also set ``last_channels`` the way torchvision does:
    ``make_divisible(last // (2 if reduced_tail else 1) * width_mult, 8)``.
    """
    preset = get_preset(name)
    fixed = LOCKED_FIELDS + preset.locked
    locked = sorted(set(kwargs) & set(fixed))
    if locked:
        raise TypeError(
            f"{name}() fixes {', '.join(fixed)}; got {', '.join(locked)}. "
            "Build a MobileNetV3Config for a custom architecture."
        )
    values = {**preset.defaults, **kwargs}
    config = MobileNetV3Config(
        bottleneck_cfg=preset.bottleneck_cfg,
        last_channels=preset.last_channels,
        stem_channels=preset.stem_channels,
        **values,
    )
    # The config is validated by now, so the fields below are well-typed.
    if config.width_mult != 1.0 or config.reduced_tail:
        last = preset.last_channels // (2 if config.reduced_tail else 1)
        config = config.replace(last_channels=make_divisible(last * config.width_mult, WIDTH_DIVISOR))
    return config

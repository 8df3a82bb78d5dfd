"""The standard MobileNet-v3 networks, as literal rows of the paper's tables 1 and 2, and variants.

The presets are the canonical network of the paper, TF-slim, torchvision, timm and Keras: SE
width rounded to a multiple of 8 and BatchNorm eps 1e-3 (torchvision's training constant), so
published ImageNet weights load. The same tables with lucid's six documented fields alone give
lucid 2's network (``squeeze = mid // se_reduction``).

Variants: every preset takes torchvision's ``width_mult``, ``reduced_tail`` and ``dilated``; the
minimalistic networks (no SE, ReLU only, 3x3 kernels: the paper's section 6 and timm's
``tf_mobilenetv3_*_minimal_100``) and timm's width-0.75 networks (``mobilenetv3_*_075``) are
presets of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lucid.models.config import WIDTH_DIVISOR, MobileNetV3Config, make_divisible
from lucid.models.model import MobileNet_V3
from lucid.models.registry import register_model

__all__ = [
    "Preset",
    "PRESETS",
    "LOCKED_FIELDS",
    "SMALL_BOTTLENECKS",
    "LARGE_BOTTLENECKS",
    "SMALL_MINIMAL_BOTTLENECKS",
    "LARGE_MINIMAL_BOTTLENECKS",
    "SMALL_075_BOTTLENECKS",
    "LARGE_075_BOTTLENECKS",
    "minimal_table",
    "preset_config",
    "build_preset",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "mobilenet_v3_small_minimal",
    "mobilenet_v3_large_minimal",
    "mobilenet_v3_small_075",
    "mobilenet_v3_large_075",
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
    )
)
_add_preset(
    Preset(
        "mobilenet_v3_large_minimal",
        LARGE_MINIMAL_BOTTLENECKS,
        1280,
        defaults=MINIMAL,
        description="MobileNet-v3 Large minimalistic: no SE, ReLU, 3x3 (timm tf_mobilenetv3_large_minimal_100)",
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
    )
)


def _get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(sorted(PRESETS))}") from None


def preset_config(name: str, **kwargs: Any) -> MobileNetV3Config:
    """The config of preset ``name`` with ``kwargs`` applied (any field but the locked ones).

    ``width_mult`` and ``reduced_tail`` also set ``last_channels`` the way torchvision does:
    ``make_divisible(last // (2 if reduced_tail else 1) * width_mult, 8)``.
    """
    preset = _get_preset(name)
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


def build_preset(name: str, *, weights: Any = None, **kwargs: Any) -> MobileNet_V3:
    """Build preset ``name``; with ``weights`` (a file or a registered weights name) load them too."""
    if weights is not None:
        # Weight loading picks constants from the source (e.g. BN eps) before building.
        from lucid.models.weights import build_with_weights

        return build_with_weights(name, weights, **kwargs)
    model = MobileNet_V3(preset_config(name, **kwargs))
    model.model_name = name
    return model


def _preset_factory(name: str, doc: str) -> Callable[..., MobileNet_V3]:
    """A registered factory ``name(num_classes=None, *, weights=None, **kwargs)`` for preset ``name``.

    ``num_classes`` left as None means 1000 for a fresh model and the checkpoint's class count
    when ``weights`` are given (so a fine-tuned 10-class file loads with its own head).
    """

    def factory(num_classes: int | None = None, *, weights: Any = None, **kwargs: Any) -> MobileNet_V3:
        if num_classes is not None:
            kwargs["num_classes"] = num_classes
        return build_preset(name, weights=weights, **kwargs)

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = doc + _COMMON_DOC
    return register_model(factory)


_COMMON_DOC = """

    ``num_classes`` defaults to 1000 (or the checkpoint's count with ``weights``); other keywords
    go to :class:`MobileNetV3Config` except the fixed ``bottleneck_cfg``, ``last_channels`` and
    ``stem_channels`` (TypeError). ``weights`` is a checkpoint path (lucid, torchvision, timm), a
    registered weights name such as ``"DEFAULT"``, or a weights entry.
    """

mobilenet_v3_small = _preset_factory(
    "mobilenet_v3_small",
    """MobileNet-v3 Small: 2,542,856 parameters, about 57 M multiply-adds at 224x224.

    Variants as in torchvision: ``width_mult`` (``last_channels`` scales too), ``reduced_tail``
    (last stage halved), ``dilated`` (output stride 16); also ``padding="same"`` (TF padding)
    and ``classifier=False`` (the model returns pre-logits).""",
)
mobilenet_v3_large = _preset_factory(
    "mobilenet_v3_large",
    """MobileNet-v3 Large: 5,483,032 parameters, about 217 M multiply-adds at 224x224.

    Variants as in torchvision: ``width_mult`` (``last_channels`` scales too), ``reduced_tail``
    (last stage halved), ``dilated`` (output stride 16); also ``padding="same"`` (TF padding)
    and ``classifier=False`` (the model returns pre-logits).""",
)
mobilenet_v3_small_minimal = _preset_factory(
    "mobilenet_v3_small_minimal",
    """MobileNet-v3 Small minimalistic: 2,044,736 parameters; no SE, ReLU only, 3x3 kernels.

    timm's ``tf_mobilenetv3_small_minimal_100`` architecture, ReLU in the stem and head too.
    Its published weights were trained in TensorFlow: build with ``padding="same"`` (and the
    default BN eps 1e-3) for identical outputs; ``weights=`` with timm's file picks both.""",
)
mobilenet_v3_large_minimal = _preset_factory(
    "mobilenet_v3_large_minimal",
    """MobileNet-v3 Large minimalistic: 3,924,288 parameters; no SE, ReLU only, 3x3 kernels.

    timm's ``tf_mobilenetv3_large_minimal_100`` architecture, ReLU in the stem and head too.
    Its published weights were trained in TensorFlow: build with ``padding="same"`` (and the
    default BN eps 1e-3) for identical outputs; ``weights=`` with timm's file picks both.""",
)
mobilenet_v3_small_075 = _preset_factory(
    "mobilenet_v3_small_075",
    """MobileNet-v3 Small at width 0.75 as timm builds it: 2,041,872 parameters.

    timm's ``mobilenetv3_small_075`` / ``tf_mobilenetv3_small_075`` (fc1 stays 1024 wide), so
    their weights fit. torchvision's width 0.75 is ``mobilenet_v3_small(width_mult=0.75)``
    (1,653,920 parameters). ``width_mult`` is fixed here.""",
)
mobilenet_v3_large_075 = _preset_factory(
    "mobilenet_v3_large_075",
    """MobileNet-v3 Large at width 0.75 as timm builds it: 3,993,528 parameters.

    timm's ``mobilenetv3_large_075`` / ``tf_mobilenetv3_large_075`` (fc1 stays 1280 wide), so
    their weights fit. torchvision's width 0.75 is ``mobilenet_v3_large(width_mult=0.75)``
    (3,377,576 parameters). ``width_mult`` is fixed here.""",
)

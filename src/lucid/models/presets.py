"""The standard MobileNet-v3 networks, as literal rows of the paper's tables 1 and 2.

The presets are the canonical network of the paper, TF-slim, torchvision, timm and Keras: SE
width rounded to a multiple of 8 and BatchNorm eps 1e-3 (torchvision's training constant), so
published ImageNet weights load. The same tables with lucid's six documented fields alone give
lucid 2's network (``squeeze = mid // se_reduction``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lucid.models.config import MobileNetV3Config
from lucid.models.model import MobileNet_V3
from lucid.models.registry import register_model

__all__ = [
    "Preset",
    "PRESETS",
    "LOCKED_FIELDS",
    "SMALL_BOTTLENECKS",
    "LARGE_BOTTLENECKS",
    "preset_config",
    "build_preset",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
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

# Fields a preset fixes: passing one to a preset factory is a TypeError, like an unknown argument.
LOCKED_FIELDS = ("bottleneck_cfg", "last_channels", "stem_channels")

# The canonical network's constants (see the module docstring).
CANONICAL = {"se_divisor": 8, "bn_eps": 1e-3}


@dataclass(frozen=True)
class Preset:
    """A named, fixed architecture plus the config defaults it is published with."""

    name: str
    bottleneck_cfg: tuple[tuple[Any, ...], ...]
    last_channels: int
    stem_channels: int = 16
    defaults: Mapping[str, Any] = field(default_factory=lambda: dict(CANONICAL))
    description: str = ""


PRESETS: dict[str, Preset] = {}


def _add_preset(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


_add_preset(Preset("mobilenet_v3_small", SMALL_BOTTLENECKS, 1024, description="MobileNet-v3 Small (paper table 2)"))
_add_preset(Preset("mobilenet_v3_large", LARGE_BOTTLENECKS, 1280, description="MobileNet-v3 Large (paper table 1)"))


def _get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(sorted(PRESETS))}") from None


def preset_config(name: str, **kwargs: Any) -> MobileNetV3Config:
    """The config of preset ``name`` with ``kwargs`` applied (any field but the locked ones)."""
    preset = _get_preset(name)
    locked = sorted(set(kwargs) & set(LOCKED_FIELDS))
    if locked:
        raise TypeError(
            f"{name}() fixes {', '.join(LOCKED_FIELDS)}; got {', '.join(locked)}. "
            "Build a MobileNetV3Config for a custom architecture."
        )
    values = {**preset.defaults, **kwargs}
    return MobileNetV3Config(
        bottleneck_cfg=preset.bottleneck_cfg,
        last_channels=preset.last_channels,
        stem_channels=preset.stem_channels,
        **values,
    )


def build_preset(name: str, *, weights: str | os.PathLike[str] | None = None, **kwargs: Any) -> MobileNet_V3:
    """Build preset ``name``; with ``weights`` (a file or a registered weights name) load them too."""
    if weights is not None:
        # Weight loading picks constants from the source (e.g. BN eps) before building.
        from lucid.models.weights import build_with_weights

        return build_with_weights(name, weights, **kwargs)
    model = MobileNet_V3(preset_config(name, **kwargs))
    model.model_name = name
    return model


@register_model
def mobilenet_v3_small(
    num_classes: int = 1000, *, weights: str | os.PathLike[str] | None = None, **kwargs: Any
) -> MobileNet_V3:
    """MobileNet-v3 Small: 2,542,856 parameters, about 57 M multiply-adds at 224x224.

    ``kwargs`` go to :class:`MobileNetV3Config` (``bottleneck_cfg``, ``last_channels`` and
    ``stem_channels`` are fixed); ``weights`` is a checkpoint path or a registered weights name.
    """
    return build_preset("mobilenet_v3_small", weights=weights, num_classes=num_classes, **kwargs)


@register_model
def mobilenet_v3_large(
    num_classes: int = 1000, *, weights: str | os.PathLike[str] | None = None, **kwargs: Any
) -> MobileNet_V3:
    """MobileNet-v3 Large: 5,483,032 parameters, about 217 M multiply-adds at 224x224.

    ``kwargs`` go to :class:`MobileNetV3Config` (``bottleneck_cfg``, ``last_channels`` and
    ``stem_channels`` are fixed); ``weights`` is a checkpoint path or a registered weights name.
    """
    return build_preset("mobilenet_v3_large", weights=weights, num_classes=num_classes, **kwargs)

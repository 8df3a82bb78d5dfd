"""``lucid.models``: MobileNet-v3, its config, presets and model registry."""

from lucid.models.blocks import _InvertedBottleneck_V3, _SEBlock, make_divisible  # noqa: F401
from lucid.models.config import BottleneckSpec, MobileNetV3Config
from lucid.models.model import MobileNet_V3, init_weights
from lucid.models.presets import (
    LARGE_BOTTLENECKS,
    PRESETS,
    SMALL_BOTTLENECKS,
    build_preset,
    mobilenet_v3_large,
    mobilenet_v3_small,
    preset_config,
)
from lucid.models.registry import create_model, get_model_factory, list_models, register_model
from lucid.models.weights import load_model

__all__ = [
    "BottleneckSpec",
    "MobileNetV3Config",
    "MobileNet_V3",
    "init_weights",
    "make_divisible",
    "PRESETS",
    "SMALL_BOTTLENECKS",
    "LARGE_BOTTLENECKS",
    "build_preset",
    "preset_config",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "register_model",
    "create_model",
    "list_models",
    "get_model_factory",
    "load_model",
]

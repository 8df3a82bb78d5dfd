"""The preset factories (``mobilenet_v3_small(...)`` and friends): build a preset, with weights or without.

Presets are data (`lucid.models.presets`); loading weights is `lucid.models.loading`.
This module joins the two and registers each factory under the preset's name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lucid.models.loading import build_with_weights
from lucid.models.model import MobileNet_V3
from lucid.models.presets import preset_config
from lucid.models.registry import register_model

__all__ = [
    "build_preset",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "mobilenet_v3_small_minimal",
    "mobilenet_v3_large_minimal",
    "mobilenet_v3_small_075",
    "mobilenet_v3_large_075",
]


def build_preset(name: str, *, weights: Any = None, **kwargs: Any) -> MobileNet_V3:
    """Build preset ``name``; with ``weights`` (a file or a registered weights name) load them too.

    With weights, the network takes the constants the weights were trained with (e.g. BatchNorm
    eps, TF padding) unless ``kwargs`` set them.
    """
    if weights is not None:
        return build_with_weights(name, weights, **kwargs)
    return MobileNet_V3(preset_config(name, **kwargs), model_name=name)


_COMMON_DOC = """

    ``num_classes`` defaults to 1000 (or the checkpoint's count with ``weights``); other keywords
    go to `MobileNetV3Config` except the fixed ``bottleneck_cfg``, ``last_channels`` and
    ``stem_channels`` (TypeError). ``weights`` is a checkpoint path (lucid, torchvision, timm), a
    registered weights name such as ``"DEFAULT"``, or a weights entry.
    """


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
    register_model(factory)
    return factory


mobilenet_v3_small = _preset_factory(
    "mobilenet_v3_small",
    """MobileNet-v3 Small: 2,542,856 parameters, about 57 M multiply-adds at 224x224.

    Variants as in torchvision: ``width_mult`` (``last_channels`` scales too), ``reduced_tail``
    (last stage halved), ``dilated`` (output stride 16); also ``padding="same"`` (TF padding)
    and ``classifier=False`` (the model returns pre-logits). A timm file is read as timm's
    native ``mobilenetv3_small_100`` (with a warning that says so); for ``tf_mobilenetv3_small_100``
    pass ``bn_eps=1e-3, padding="same"``.""",
)
mobilenet_v3_large = _preset_factory(
    "mobilenet_v3_large",
    """MobileNet-v3 Large: 5,483,032 parameters, about 217 M multiply-adds at 224x224.

    Variants as in torchvision: ``width_mult`` (``last_channels`` scales too), ``reduced_tail``
    (last stage halved), ``dilated`` (output stride 16); also ``padding="same"`` (TF padding)
    and ``classifier=False`` (the model returns pre-logits). A timm file is read as timm's
    native ``mobilenetv3_large_100`` (with a warning that says so); for ``tf_mobilenetv3_large_100``
    pass ``bn_eps=1e-3, padding="same"``.""",
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
    (1,653,920 parameters). ``width_mult`` is fixed here. A timm file is read as the native
    ``mobilenetv3_small_075`` (with a warning that says so); for ``tf_mobilenetv3_small_075``
    pass ``bn_eps=1e-3, padding="same"``.""",
)
mobilenet_v3_large_075 = _preset_factory(
    "mobilenet_v3_large_075",
    """MobileNet-v3 Large at width 0.75 as timm builds it: 3,993,528 parameters.

    timm's ``mobilenetv3_large_075`` / ``tf_mobilenetv3_large_075`` (fc1 stays 1280 wide), so
    their weights fit. torchvision's width 0.75 is ``mobilenet_v3_large(width_mult=0.75)``
    (3,377,576 parameters). ``width_mult`` is fixed here. timm publishes this network's weights
    only as the TensorFlow port ``tf_mobilenetv3_large_075``, so ``weights=`` with a timm file
    builds it with TF's constants (``bn_eps=1e-3, padding="same"``).""",
)

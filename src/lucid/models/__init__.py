"""``lucid.models``: MobileNet-v3, its config, presets and variants, backbone interface and registry."""

# ``weights``: the public weights API under its original module name.
from lucid.models import weights  # noqa: F401
from lucid.models.blocks import (  # noqa: F401
    Conv2dSame,
    ReachableTapsConv2d,
    _InvertedBottleneck_V3,
    _SEBlock,
    make_divisible,
    use_reachable_taps,
)
from lucid.models.config import BlockLayout, BottleneckSpec, MobileNetV3Config, NetworkLayout
from lucid.models.factories import (
    build_preset,
    mobilenet_v3_large,
    mobilenet_v3_large_075,
    mobilenet_v3_large_minimal,
    mobilenet_v3_small,
    mobilenet_v3_small_075,
    mobilenet_v3_small_minimal,
)
from lucid.models.hub import (
    MobileNet_V3_Large_Weights,
    MobileNet_V3_Small_Weights,
    Weights,
    WeightsEnum,
    WeightsUnavailableError,
    get_weights,
    list_weights,
    register_weights,
)
from lucid.models.loading import build_with_weights, load_model, load_weights
from lucid.models.lowres import mobilenet_v3_small_lowres  # noqa: F401 - registers the low-resolution variant
from lucid.models.lraspp import (
    LRASPP,
    LRASPP_MobileNet_V3_Large_Weights,
    is_segmentation_checkpoint,
    load_segmentation_model,
    lraspp_mobilenet_v3_large,
    lraspp_mobilenet_v3_small,
)
from lucid.models.model import FeatureInfo, MobileNet_V3, MobileNetV3Features, init_weights
from lucid.models.presets import (
    LARGE_075_BOTTLENECKS,
    LARGE_BOTTLENECKS,
    LARGE_MINIMAL_BOTTLENECKS,
    PRESETS,
    SMALL_075_BOTTLENECKS,
    SMALL_BOTTLENECKS,
    SMALL_MINIMAL_BOTTLENECKS,
    preset_config,
)
from lucid.models.registry import create_model, get_model_factory, list_models, register_model
from lucid.models.ssdlite import (
    SSDLite,
    SSDLite320_MobileNet_V3_Large_Weights,
    postprocess_raw,
    ssdlite320_mobilenet_v3_large,
    ssdlite320_mobilenet_v3_small,
    ssdlite_from_torchvision,
    ssdlite_to_torchvision,
)

__all__ = [
    "BottleneckSpec",
    "MobileNetV3Config",
    "BlockLayout",
    "NetworkLayout",
    "MobileNet_V3",
    "MobileNetV3Features",
    "FeatureInfo",
    "Conv2dSame",
    "ReachableTapsConv2d",
    "use_reachable_taps",
    "init_weights",
    "make_divisible",
    "PRESETS",
    "SMALL_BOTTLENECKS",
    "LARGE_BOTTLENECKS",
    "SMALL_MINIMAL_BOTTLENECKS",
    "LARGE_MINIMAL_BOTTLENECKS",
    "SMALL_075_BOTTLENECKS",
    "LARGE_075_BOTTLENECKS",
    "build_preset",
    "preset_config",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "mobilenet_v3_small_minimal",
    "mobilenet_v3_large_minimal",
    "mobilenet_v3_small_075",
    "mobilenet_v3_large_075",
    "register_model",
    "create_model",
    "list_models",
    "get_model_factory",
    "load_model",
    "load_weights",
    "get_weights",
    "list_weights",
    "Weights",
    "WeightsEnum",
    "WeightsUnavailableError",
    "register_weights",
    "build_with_weights",
    "MobileNet_V3_Small_Weights",
    "MobileNet_V3_Large_Weights",
    "LRASPP",
    "LRASPP_MobileNet_V3_Large_Weights",
    "lraspp_mobilenet_v3_large",
    "lraspp_mobilenet_v3_small",
    "load_segmentation_model",
    "is_segmentation_checkpoint",
    "SSDLite",
    "SSDLite320_MobileNet_V3_Large_Weights",
    "ssdlite320_mobilenet_v3_large",
    "ssdlite320_mobilenet_v3_small",
    "ssdlite_from_torchvision",
    "ssdlite_to_torchvision",
    "postprocess_raw",
]

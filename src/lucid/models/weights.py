"""Weights for lucid models: the public weights API under its original module name.

The implementation lives in one module per job; this module re-exports their public names so
``from lucid.models.weights import ...`` keeps working:

* `lucid.models.weights_record`: the records of published weights and their download
  (``Weights``, ``WeightsEnum``, ``fetch_weights``);
* `lucid.models.hub`: the registry of published weights (``register_weights``, ``get_weights``);
* `lucid.models.convert`: reading files safely, recognising and converting foreign
  (torchvision, timm) checkpoints;
* `lucid.models.presets`: the constants each source's weights were trained with;
* `lucid.models.loading`: building and loading models with weights (``load_weights``,
  ``build_with_weights``, ``convert_checkpoint``, ``load_model``).
"""

from __future__ import annotations

from lucid.models.convert import LoadedCheckpoint, convert_state_dict, detect_format, read_checkpoint
from lucid.models.hub import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MobileNet_V3_Large_Weights,
    MobileNet_V3_Small_Weights,
    Weights,
    WeightsEnum,
    WeightsUnavailableError,
    default_weights,
    fetch_weights,
    get_weights,
    imagenet_categories,
    list_weights,
    register_weights,
    weights_cache_dir,
)
from lucid.models.loading import build_with_weights, convert_checkpoint, load_model, load_weights, resolve_weights
from lucid.models.presets import SOURCE_CONSTANTS, TF_PORT_CONSTANTS, TIMM_TF_PORTS, source_constants

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SOURCE_CONSTANTS",
    "TF_PORT_CONSTANTS",
    "TIMM_TF_PORTS",
    "source_constants",
    "Weights",
    "WeightsEnum",
    "MobileNet_V3_Small_Weights",
    "MobileNet_V3_Large_Weights",
    "WeightsUnavailableError",
    "LoadedCheckpoint",
    "imagenet_categories",
    "register_weights",
    "get_weights",
    "list_weights",
    "default_weights",
    "weights_cache_dir",
    "fetch_weights",
    "read_checkpoint",
    "detect_format",
    "convert_state_dict",
    "load_weights",
    "resolve_weights",
    "build_with_weights",
    "convert_checkpoint",
    "load_model",
]

"""The registry of published weights: ``register_weights``, ``get_weights``, ``list_weights``.

Registered weights (``MobileNet_V3_Large_Weights.IMAGENET1K_V2``, or ``"IMAGENET1K_V2"``,
``"DEFAULT"``) are torchvision's published ImageNet-1k files, downloaded, cached and hash-checked
through ``torch.hub``. Other models register theirs with `register_weights`. The records
themselves (``Weights``, ``WeightsEnum``) and the download live in the leaf module
`lucid.models.weights_record`; this module re-exports them.
"""

from __future__ import annotations

import difflib
from typing import Any

import torch

from lucid.models.weights_record import (
    Weights,
    WeightsEnum,
    WeightsUnavailableError,
    fetch_weights,
    imagenet_categories,
    weights_cache_dir,
    weights_entry,
)
from lucid.preprocessing import IMAGENET_MEAN, IMAGENET_STD  # re-exported: lucid.models.hub's public names

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Weights",
    "WeightsEnum",
    "ClassificationWeightsEnum",
    "MobileNet_V3_Small_Weights",
    "MobileNet_V3_Large_Weights",
    "WeightsUnavailableError",
    "imagenet_categories",
    "register_weights",
    "get_weights",
    "list_weights",
    "default_weights",
    "weights_entry",
    "weights_cache_dir",
    "fetch_weights",
]


class ClassificationWeightsEnum(WeightsEnum):
    """Weights of a ``MobileNet_V3`` classifier preset: ``get_state_dict`` converts them to lucid's keys."""

    def get_state_dict(self, progress: bool = True) -> dict[str, torch.Tensor]:
        """The weights converted to lucid's keys: ``model.load_state_dict`` of the preset takes them."""
        # Imported here: the conversion reads files and builds a model, which listing weights never needs.
        from lucid.models.convert import convert_state_dict, read_checkpoint
        from lucid.models.model import MobileNet_V3
        from lucid.models.presets import preset_config, source_constants

        loaded = read_checkpoint(fetch_weights(self, progress=progress))
        loaded.entry = self.value
        constants = source_constants(self.model_name, loaded.format)
        model = MobileNet_V3(preset_config(self.model_name, **constants), model_name=self.model_name)
        return convert_state_dict(loaded, model)


_TV_RECIPE = "https://github.com/pytorch/vision/tree/main/references/classification#mobilenetv3-large--small"


class MobileNet_V3_Small_Weights(ClassificationWeightsEnum):
    """torchvision's published ImageNet-1k weights for ``mobilenet_v3_small``."""

    IMAGENET1K_V1 = Weights(
        model_name="mobilenet_v3_small",
        tag="IMAGENET1K_V1",
        url="https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth",
        sha256_prefix="047dcff4",
        num_params=2_542_856,
        acc1=67.668,
        acc5=87.402,
        gflops=0.057,
        file_size_mb=9.829,
        recipe=_TV_RECIPE,
        docs="torchvision's weights: improve on the paper's results with a simple training recipe.",
    )
    DEFAULT = IMAGENET1K_V1


class MobileNet_V3_Large_Weights(ClassificationWeightsEnum):
    """torchvision's published ImageNet-1k weights for ``mobilenet_v3_large``."""

    IMAGENET1K_V1 = Weights(
        model_name="mobilenet_v3_large",
        tag="IMAGENET1K_V1",
        url="https://download.pytorch.org/models/mobilenet_v3_large-8738ca79.pth",
        sha256_prefix="8738ca79",
        num_params=5_483_032,
        acc1=74.042,
        acc5=91.340,
        gflops=0.217,
        file_size_mb=21.114,
        recipe=_TV_RECIPE,
        docs="torchvision's weights, trained from scratch with a simple training recipe.",
    )
    IMAGENET1K_V2 = Weights(
        model_name="mobilenet_v3_large",
        tag="IMAGENET1K_V2",
        url="https://download.pytorch.org/models/mobilenet_v3_large-5c1a4163.pth",
        sha256_prefix="5c1a4163",
        num_params=5_483_032,
        acc1=75.274,
        acc5=92.566,
        gflops=0.217,
        file_size_mb=21.107,
        recipe="https://github.com/pytorch/vision/issues/3995#new-recipe-with-reg-tuning",
        docs="torchvision's weights, improved with its new training recipe (evaluated at resize 232).",
        resize_size=232,
    )
    DEFAULT = IMAGENET1K_V2


_WEIGHTS: dict[str, type[WeightsEnum]] = {}


def register_weights(model_name: str, weights_enum: type[WeightsEnum]) -> type[WeightsEnum]:
    """Make ``weights_enum``'s members the registered weights of model ``model_name``."""
    if not (isinstance(weights_enum, type) and issubclass(weights_enum, WeightsEnum)):
        raise TypeError(f"register_weights expects a WeightsEnum subclass, got {weights_enum!r}")
    wrong = [str(m) for m in weights_enum if m.model_name != model_name]
    if wrong:
        raise ValueError(f"weights {wrong} are for another model than {model_name!r}")
    _WEIGHTS[model_name] = weights_enum
    return weights_enum


register_weights("mobilenet_v3_small", MobileNet_V3_Small_Weights)
register_weights("mobilenet_v3_large", MobileNet_V3_Large_Weights)


def _available(model_name: str | None) -> str:
    """``"model: NAME, NAME, DEFAULT; ..."`` for error messages."""
    rows = [
        f"{model}: {', '.join([*(member.name for member in enum_cls), 'DEFAULT'])}"
        for model, enum_cls in _WEIGHTS.items()
        if model_name is None or model == model_name
    ]
    return "; ".join(rows) or "none"


def get_weights(model_name: str, name: str) -> WeightsEnum:
    """Registered weights of ``model_name`` by name: ``"IMAGENET1K_V1"``, ``"DEFAULT"`` or
    ``"MobileNet_V3_Small_Weights.IMAGENET1K_V1"``."""
    if not isinstance(name, str):
        raise TypeError(f"weights name must be a str, got {type(name).__name__}")
    enum_cls = _WEIGHTS.get(model_name)
    if enum_cls is None:
        raise ValueError(
            f"no registered weights for model {model_name!r}{_did_you_mean(model_name, _WEIGHTS)}; "
            "models with registered weights: "
            f"{', '.join(sorted(_WEIGHTS)) or 'none'} (pass a checkpoint file instead)"
        )
    prefix, _, member = name.rpartition(".")
    if prefix and prefix != enum_cls.__name__:
        raise ValueError(f"weights {name!r} are not {model_name}'s; registered: {_available(model_name)}")
    try:
        return enum_cls[member]
    except KeyError:
        raise ValueError(
            f"unknown weights {name!r} for {model_name}{_did_you_mean(member, enum_cls.__members__)}; "
            f"registered: {_available(model_name)}"
        ) from None


def _did_you_mean(name: str, choices: Any) -> str:
    """``" (did you mean 'X'?)"`` for the closest of ``choices`` to ``name`` (case-insensitive), or ``""``."""
    lowered = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def list_weights(model_name: str | None = None) -> list[WeightsEnum]:
    """Every registered weights entry (aliases such as ``DEFAULT`` not repeated), optionally of one model."""
    if model_name is not None and model_name not in _WEIGHTS:
        return []
    models = [model_name] if model_name is not None else sorted(_WEIGHTS)
    return [member for model in models for member in _WEIGHTS[model]]


def default_weights(model_name: str) -> WeightsEnum | None:
    """The ``DEFAULT`` entry of ``model_name``, or None when it has no registered weights."""
    enum_cls = _WEIGHTS.get(model_name)
    return enum_cls.__members__.get("DEFAULT") if enum_cls is not None else None

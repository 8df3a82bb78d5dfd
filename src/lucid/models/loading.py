"""Building and loading models with weights: ``weights=`` of the factories, ``load_weights``, ``load_model``.

Any accepted ``weights=`` value (a lucid/torchvision/timm file, a state dict, a registered
name such as ``"DEFAULT"`` or a weights entry) is resolved here into a read checkpoint
(`lucid.models.convert`), the network is built with the constants its source was trained
with (`lucid.models.presets`), and the weights are copied in only once every key and shape
fits. `load_model` rebuilds the network a lucid checkpoint describes after checking its
metadata against its tensors.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lucid import checkpoint
from lucid.checkpoint import CheckpointError
from lucid.models.config import MobileNetV3Config
from lucid.models.convert import (
    LoadedCheckpoint,
    caller_stacklevel,
    convert_loaded,
    from_state_dict,
    read_checkpoint,
)
from lucid.models.hub import (
    Weights,
    WeightsEnum,
    fetch_weights,
    get_weights,
    imagenet_categories,
    weights_entry,
)
from lucid.models.model import MobileNet_V3
from lucid.models.presets import LOCKED_FIELDS, alternative_constants, preset_config, source_constants
from lucid.preprocessing import IMAGENET_MEAN, IMAGENET_STD, MAX_IMAGE_SIZE, MAX_RESIZE_SIZE, channel_stats

__all__ = [
    "resolve_weights",
    "load_weights",
    "build_with_weights",
    "convert_checkpoint",
    "load_model",
    "check_recorded_metadata",
]


def _looks_like_weights_name(text: str) -> bool:
    """``DEFAULT``, ``IMAGENET1K_V1`` or ``MobileNet_V3_Small_Weights.IMAGENET1K_V1``; ``model.pth`` is a file."""
    prefix, dot, member = text.rpartition(".")
    if dot and not prefix.endswith("_Weights"):
        return False
    return re.fullmatch(r"[A-Za-z_]\w*", member) is not None


def resolve_weights(weights: Any, model_name: str | None) -> LoadedCheckpoint:
    """Turn any accepted ``weights=`` value into a state dict with its provenance."""
    if isinstance(weights, LoadedCheckpoint):
        return weights
    if isinstance(weights, (WeightsEnum, Weights)):
        entry = weights_entry(weights)
        if model_name is not None and entry.model_name != model_name:
            raise ValueError(f"weights {weights} are for {entry.model_name}, not for {model_name}")
        loaded = read_checkpoint(fetch_weights(entry))
        loaded.entry = entry
        return loaded
    if isinstance(weights, Mapping):
        return from_state_dict(weights)
    if isinstance(weights, (str, os.PathLike)):
        text = os.fspath(weights)
        if not os.path.exists(os.path.expanduser(text)) and _looks_like_weights_name(text):
            if model_name is None:
                raise ValueError(f"registered weights {text!r} need a model name; pass a file instead")
            try:
                member = get_weights(model_name, text)
            except ValueError as exc:
                raise ValueError(f"{exc} (and there is no file {text!r})") from None
            return resolve_weights(member, model_name)
        return read_checkpoint(text)
    raise TypeError(
        "weights must be a checkpoint path, a registered name such as 'DEFAULT', a weights entry "
        f"or a state dict, got {type(weights).__name__}"
    )


def _training_record(extra: dict[str, Any]) -> dict[str, Any]:
    """The preprocessing a lucid training run recorded once, in the checkpoint's ``extra``, in
    ``pretrained_cfg``'s keys (older checkpoints also carry a copy in their ``pretrained_cfg``)."""
    record = {key: extra[key] for key in ("resize_size", "interpolation", "mean", "std") if extra.get(key) is not None}
    size = extra.get("image_size")
    if size is not None:
        record.update(crop_size=size, input_size=[extra.get("in_channels", 3), size, size])
    return record


def _pretrained_cfg(loaded: LoadedCheckpoint, model: MobileNet_V3, head_replaced: bool) -> dict[str, Any]:
    """What a predictor needs to know about the weights: class names, input size, normalisation."""
    config = model.config
    cfg: dict[str, Any] = {
        "source": loaded.format,
        "weights": loaded.origin,
        "input_size": [config.in_channels, 224, 224],
        "crop_size": 224,
        "resize_size": 256,
        "interpolation": "bilinear",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "categories": None,
    }
    if loaded.entry is not None:
        meta = loaded.entry.meta
        cfg.update({k: meta[k] for k in ("crop_size", "resize_size", "interpolation", "metrics", "url", "num_params")})
        cfg.update(
            weights=str(get_weights(loaded.entry.model_name, loaded.entry.tag)),
            source=loaded.entry.source,
            categories=meta["categories"],
        )
    elif loaded.format == "lucid":
        cfg.update((loaded.lucid_meta or {}).get("pretrained_cfg") or {})
        cfg.update(_training_record(loaded.extra))
        cfg["source"], cfg["weights"] = "lucid", loaded.origin
        categories = loaded.extra.get("categories", loaded.extra.get("class_names"))
        if categories is not None:
            cfg["categories"] = list(categories)
    elif loaded.num_classes() == 1000:
        # Both libraries' 1000-way heads are ImageNet-1k's classes, in this order.
        cfg["categories"] = list(imagenet_categories())
    if head_replaced:
        cfg.update(categories=None, metrics=None)
    if cfg.get("categories") is not None and len(cfg["categories"]) != model.num_classes:
        cfg["categories"] = None
    if len(cfg["mean"]) != config.in_channels:
        # A grey or multi-band input: one shared normalisation, the RGB values' average.
        mean, std = channel_stats(config.in_channels, cfg["mean"], cfg["std"])
        cfg["mean"], cfg["std"] = list(mean), list(std)
    cfg.update(num_classes=model.num_classes, in_channels=config.in_channels)
    cfg["input_size"] = [config.in_channels, *list(cfg["input_size"])[1:]]
    return cfg


def _load_checked(model: MobileNet_V3, loaded: LoadedCheckpoint) -> MobileNet_V3:
    """Convert, check everything, then copy: a checkpoint that does not fit leaves ``model`` unchanged."""
    if loaded.format == "lucid" and loaded.lucid_meta is not None:
        # What the file records about its inputs and classes becomes model.pretrained_cfg: bound it too.
        check_recorded_metadata(loaded.origin, loaded.lucid_meta, loaded.num_classes())
    state, replaced = convert_loaded(loaded, model)
    model.load_state_dict(state)
    model.pretrained_cfg = _pretrained_cfg(loaded, model, replaced)
    return model


def load_weights(model: MobileNet_V3, weights: Any) -> MobileNet_V3:
    """Load weights (any accepted ``weights=`` value) into an existing lucid model and return it.

    Registered names need ``model.model_name`` to have registered weights. A model built with
    other constants (BatchNorm eps, padding) than any its source's weights were trained with is
    warned about, since outputs then differ.
    """
    if not isinstance(model, MobileNet_V3):
        raise TypeError(f"load_weights expects a lucid MobileNet_V3, got {type(model).__name__}")
    loaded = resolve_weights(weights, model.model_name)
    if loaded.format != "lucid":
        trained = source_constants(model.model_name, loaded.format)
        candidates = [trained, *alternative_constants(model.model_name, loaded.format)]
        if not any(_matches(model.config, constants) for constants in candidates):
            differ = {k: v for k, v in trained.items() if getattr(model.config, k) != v}
            mine = {k: getattr(model.config, k) for k in differ}
            others = "".join(f" (or {c})" for c in candidates[1:])
            warnings.warn(
                f"the model is built with {mine} but {loaded.format}'s weights were trained with "
                f"{differ}{others}: outputs will differ; build the model with weights= to get the source's constants",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
    return _load_checked(model, loaded)


def _matches(config: MobileNetV3Config, constants: Mapping[str, Any]) -> bool:
    return all(getattr(config, key) == value for key, value in constants.items())


def _warn_assumed(name: str, loaded: LoadedCheckpoint, assumed: Mapping[str, Any], given: Mapping[str, Any]) -> None:
    """Say which constants were assumed for a file that cannot tell (timm's native vs TF-ported weights)."""
    others = [c for c in alternative_constants(name, loaded.format) if not set(c) <= set(given)]
    if not others or set(assumed) <= set(given):
        return
    alternatives = " or ".join(", ".join(f"{k}={v!r}" for k, v in c.items()) for c in others)
    warnings.warn(
        f"{loaded.origin}: a {loaded.format} checkpoint does not say which constants its weights were "
        f"trained with; built {name} with {dict(assumed)} (timm's native weights). For a TensorFlow "
        f"port (timm's tf_* models) pass {alternatives}",
        UserWarning,
        stacklevel=caller_stacklevel(),
    )


def _same(a: Any, b: Any) -> bool:
    """Equality across a JSON round trip (tuples come back as lists)."""
    return _as_json(a) == _as_json(b)


def _as_json(value: Any) -> Any:
    """``value`` with tuples turned into lists, at every depth."""
    return [_as_json(item) for item in value] if isinstance(value, (list, tuple)) else value


def _lucid_constants(name: str, loaded: LoadedCheckpoint) -> dict[str, Any]:
    """The config fields a lucid checkpoint was built with that differ from preset ``name``'s defaults."""
    config = (loaded.lucid_meta or {}).get("config")
    if not config:
        return {}
    default = preset_config(name).to_dict()
    unknown = sorted(set(config) - set(default))
    if unknown:
        raise CheckpointError(f"{loaded.origin}: unknown config fields {unknown} (written by a newer lucid?)")
    skip = {*LOCKED_FIELDS, "num_classes", "in_channels"}
    constants = {k: v for k, v in config.items() if k not in skip and not _same(v, default[k])}
    stored = (loaded.lucid_meta or {}).get("model_name") or "another architecture"
    mismatch = f"{loaded.origin}: holds {stored}, not {name}; rebuild it with lucid.models.load_model(path)"
    try:
        candidate = preset_config(name, **constants).to_dict()
    except TypeError:  # a field this preset fixes (e.g. width_mult of a literal-width table)
        raise CheckpointError(mismatch) from None
    if any(k in config and not _same(config[k], candidate[k]) for k in LOCKED_FIELDS):
        raise CheckpointError(mismatch)
    return constants


def build_with_weights(name: str, weights: Any, **kwargs: Any) -> MobileNet_V3:
    """Build preset ``name`` with the constants of the weights' source and load the weights.

    ``weights``: a lucid/torchvision/timm checkpoint path, a state dict, a registered name
    (``"IMAGENET1K_V1"``, ``"DEFAULT"``) or entry. ``kwargs`` are config fields and win over the
    source's constants; ``num_classes``/``in_channels`` default to the checkpoint's, and other
    values re-initialise the head (with a warning) or adapt the stem.
    """
    loaded = resolve_weights(weights, name)
    if loaded.format == "lucid":
        constants = _lucid_constants(name, loaded)
    else:
        constants = source_constants(name, loaded.format)
    found = {"num_classes": loaded.num_classes(), "in_channels": loaded.in_channels()}
    given = {k: v for k, v in kwargs.items() if not (k in found and v is None)}
    if loaded.format != "lucid":
        _warn_assumed(name, loaded, constants, given)
    values = {**constants, **{k: v for k, v in found.items() if v is not None}, **given}
    model = MobileNet_V3(preset_config(name, **values), model_name=name)
    return _load_checked(model, loaded)


def convert_checkpoint(
    source: Any, model_name: str, out: str | os.PathLike[str], **kwargs: Any
) -> tuple[Path, MobileNet_V3]:
    """Convert a torchvision/timm/lucid checkpoint (or registered weights) into a lucid checkpoint at ``out``.

    ``kwargs`` are as for `build_with_weights`. Returns the written path and the model.
    """
    model = build_with_weights(model_name, source, **kwargs)
    origin = str(source) if not isinstance(source, Mapping) else "state dict"
    extra = {"converted_from": origin, "source_format": (model.pretrained_cfg or {}).get("source")}
    return checkpoint.save(model, out, extra=extra), model


# Bounds on what a checkpoint may ask lucid to build or to resize to: far above any MobileNet-v3
# (the widest preset layer has 1280 channels, ImageNet-21k 21,843 classes), far below sizes that
# would exhaust memory. The shape check below is exact; these bounds give the clearer message.
MAX_CHANNELS = 1 << 16
MAX_CLASSES = 1 << 20
MAX_BLOCKS = 256
MAX_KERNEL = 31


def load_model(path: str | os.PathLike[str], **overrides: Any) -> MobileNet_V3:
    """Rebuild the model a lucid checkpoint describes and load its weights.

    The metadata is checked before it is trusted: the config must be within bounds and describe
    exactly the file's tensor shapes (checked from the header, on the ``meta`` device, before any
    memory is allocated), recorded image sizes and class names must fit, and the digest covers
    metadata and tensors. A torchvision/timm file gets a message saying what it is and what to use.

    ``overrides`` change config fields: ``dropout`` and the like freely; ``num_classes``
    re-initialises the classifier (with a warning) and ``in_channels`` adapts the stem. The
    returned model is in eval mode; ``model.checkpoint_extra`` holds the file's extra metadata
    and ``model.pretrained_cfg`` its weights metadata (class names, normalisation).
    """
    file = checkpoint.existing_file(path)
    meta = _lucid_metadata(file)
    stored = _stored_config(file, meta)
    name = meta["model_name"] or "mobilenet_v3"
    _check_shapes(file, stored, name)
    check_recorded_metadata(file, meta, stored.num_classes if stored.classifier else None)
    state = checkpoint.load(file)  # the digest over tensors and metadata
    try:
        config = MobileNetV3Config.from_dict({**stored.to_dict(), **overrides}) if overrides else stored
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{file}: the overrides {sorted(overrides)} do not give a valid config: {exc}") from None
    model = MobileNet_V3(config, model_name=name)
    _load_checked(model, LoadedCheckpoint(state, "lucid", str(file), lucid_meta=meta, extra=meta["extra"]))
    model.checkpoint_extra = meta["extra"]
    return model.eval()


def _lucid_metadata(file: Path) -> dict[str, Any]:
    """The lucid metadata, or an error saying what the file is when it is not a lucid checkpoint."""
    try:
        return checkpoint.read_metadata(file)
    except CheckpointError as exc:
        if "not a lucid checkpoint" not in str(exc):
            raise
    loaded = read_checkpoint(file)  # safe (weights-only, size-bounded); raises what it cannot read
    raise CheckpointError(
        f"{file}: a {loaded.format} state dict ({len(loaded.state)} tensors), not a lucid checkpoint; "
        "load_model rebuilds lucid .safetensors checkpoints only. Load it into its architecture with "
        f"lucid.models.{_architecture_hint(loaded)}(weights={str(file)!r}), or convert it once with "
        f"`lucid convert {file} --model {_architecture_hint(loaded)} --out model.safetensors`"
    )


def _architecture_hint(loaded: LoadedCheckpoint) -> str:
    """The preset a foreign file most likely holds, from its block count (15: Large, 11: Small)."""
    pattern = r"features\.(\d+)\.block\." if loaded.format == "torchvision" else r"blocks\.(\d+\.\d+)\."
    blocks = {m.group(1) for key in loaded.state if (m := re.match(pattern, key))}
    if loaded.format == "timm":
        blocks = {b for b in blocks if not any(k.startswith(f"blocks.{b}.conv.") for k in loaded.state)}
    return "mobilenet_v3_small" if len(blocks) == 11 else "mobilenet_v3_large"


def _stored_config(file: Path, meta: Mapping[str, Any]) -> MobileNetV3Config:
    """The checkpoint's config, validated and bounded (nothing is built yet)."""
    data = meta["config"]
    if data is None:
        raise CheckpointError(f"{file}: checkpoint has no model config; cannot rebuild the model")
    try:
        config = MobileNetV3Config.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{file}: the checkpoint's model config is invalid: {exc}") from None
    layout = config.layout()
    widths = [layout.stem_channels, layout.head_channels, config.last_channels, config.in_channels]
    widths += [w for block in layout.blocks for w in (block.mid_channels, block.out_channels, block.se_channels)]
    problems = []
    if len(layout.blocks) > MAX_BLOCKS:
        problems.append(f"{len(layout.blocks)} blocks (at most {MAX_BLOCKS})")
    if max(widths) > MAX_CHANNELS:
        problems.append(f"a layer {max(widths):,} channels wide (at most {MAX_CHANNELS:,})")
    if config.num_classes > MAX_CLASSES:
        problems.append(f"{config.num_classes:,} classes (at most {MAX_CLASSES:,})")
    if max(block.kernel_size for block in layout.blocks) > MAX_KERNEL:
        problems.append(f"a {max(b.kernel_size for b in layout.blocks)}-pixel kernel (at most {MAX_KERNEL})")
    if problems:
        raise CheckpointError(f"{file}: refused: the checkpoint's config asks for {', '.join(problems)}")
    return config


def _check_shapes(file: Path, config: MobileNetV3Config, name: str) -> None:
    """The config must describe exactly the file's tensors: checked on the meta device (no memory)."""
    import torch

    found = checkpoint.tensor_shapes(file)
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in MobileNet_V3(config, model_name=name).state_dict().items()}
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    mismatched = [f"{k}: file {found[k]} vs config {v}" for k, v in expected.items() if k in found and found[k] != v]
    problems = checkpoint.describe_mismatch(missing, unexpected, mismatched)
    if problems and not set(found) & set(expected):
        raise CheckpointError(
            f"{file}: holds a {name} model whose {len(found)} tensors are not a MobileNet_V3 classifier's "
            "(no key in common); load_model rebuilds MobileNet_V3 classifiers. A segmentation checkpoint "
            "loads with lucid.models.load_segmentation_model"
        )
    if problems:
        raise CheckpointError(
            f"{file}: refused: the checkpoint's config does not describe its own tensors (edited or "
            f"damaged metadata): {problems}"
        )


def _size_ok(value: Any, largest: int = MAX_IMAGE_SIZE) -> bool:
    """An image size (int, or a list of two or three ints as in ``input_size``) within bounds."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return bool(values) and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= largest for v in values)


def check_recorded_metadata(file: str | os.PathLike[str], meta: Mapping[str, Any], num_classes: int | None) -> None:
    """Image sizes, class names and normalisation recorded in a lucid checkpoint's ``extra`` and
    ``pretrained_cfg`` must be sane: sizes in 1..MAX_IMAGE_SIZE, class names strings (in ``extra``
    as many as the file's classifier has outputs, ``num_classes``; None: not checked), finite mean/std. Raises
    `CheckpointError` naming ``file``."""
    extra, pretrained = meta["extra"], meta["pretrained_cfg"] or {}
    data = extra.get("data") if isinstance(extra.get("data"), dict) else {}
    for where, record in (("extra", extra), ("extra.data", data), ("pretrained_cfg", pretrained)):
        for key in ("image_size", "img_size", "crop_size", "resize_size", "input_size"):
            value = record.get(key)
            largest = MAX_RESIZE_SIZE if key == "resize_size" else MAX_IMAGE_SIZE
            if value is not None and not _size_ok(value, largest):
                raise CheckpointError(
                    f"{file}: refused: {where}.{key} = {str(value)[:60]} is not an image size in 1..{largest}"
                )
        for key in ("categories", "class_names"):
            names = record.get(key)
            if names is None:
                continue
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise CheckpointError(f"{file}: refused: {where}.{key} must be a list of class names")
            # A stale pretrained_cfg list is dropped on load (see _pretrained_cfg); extra's is what
            # predictors label with, so it must fit.
            if num_classes is not None and where != "pretrained_cfg" and len(names) != num_classes:
                raise CheckpointError(
                    f"{file}: refused: {where}.{key} names {len(names)} classes but the classifier has "
                    f"{num_classes} outputs"
                )
        for key in ("mean", "std"):
            stats = record.get(key)
            if stats is not None and not (
                isinstance(stats, list)
                and stats
                and all(isinstance(v, (int, float)) for v in stats)
                and all(abs(v) < 1e6 for v in stats)
                and (key == "mean" or all(v > 0 for v in stats))
            ):
                raise CheckpointError(f"{file}: refused: {where}.{key} = {str(stats)[:60]} is not a normalisation")

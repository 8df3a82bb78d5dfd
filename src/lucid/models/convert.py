"""Foreign checkpoints: reading files safely, recognising their format, converting their keys.

Three sources load into `MobileNet_V3`:

* lucid checkpoints (``.safetensors`` with lucid metadata, see `lucid.checkpoint`);
* torchvision's ``mobilenet_v3_small``/``_large`` state dicts (``features.*``/``classifier.*``);
* timm's ``mobilenetv3_*`` state dicts (``conv_stem``/``blocks.*``/``conv_head``), ``.safetensors`` or ``.pth``.

The source is recognised from its keys. Foreign keys are mapped by walking the lucid model's own
blocks (which have an expand stage, which have squeeze-excite), so every architecture lucid can
build loads from the library that publishes it; every key and shape is checked and everything
that does not fit is reported at once, before anything is copied into the model. ``.pth`` files
are read only with ``torch.load(weights_only=True)``, after their zip directory was checked for
sizes out of proportion to the file: a pickle that would run code, or a small file that would
inflate to gigabytes, is refused.
"""

from __future__ import annotations

import os
import pickle
import re
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch import nn

from lucid import checkpoint
from lucid.checkpoint import CheckpointError, describe_mismatch
from lucid.models.blocks import SqueezeExcite
from lucid.models.model import MobileNet_V3
from lucid.models.weights_record import Weights, WeightsEnum

__all__ = [
    "FORMATS",
    "LoadedCheckpoint",
    "read_checkpoint",
    "read_state_file",
    "WeightsSource",
    "TorchvisionLayout",
    "source_pretrained_cfg",
    "map_foreign_state",
    "foreign_state",
    "tensor_pairs",
    "torchvision_backbone_pairs",
    "detect_format",
    "unwrap_state",
    "convert_state_dict",
    "convert_loaded",
    "from_state_dict",
    "caller_stacklevel",
    "MAX_INFLATION",
]

FORMATS = ("lucid", "torchvision", "timm")

# Where each source keeps its first convolution and its last layer (for the checkpoint's
# in_channels and num_classes, which are needed before the model can be built).
_STEM_KEYS = {"lucid": "conv_first.0.weight", "torchvision": "features.0.0.weight", "timm": "conv_stem.weight"}
_HEAD_KEYS = {"lucid": "fc2.1.weight", "torchvision": "classifier.3.weight", "timm": "classifier.weight"}
_LUCID_STEM = "conv_first.0.weight"
_LUCID_HEAD_MODULE = "fc2.1"
_LUCID_HEAD = ("fc2.1.weight", "fc2.1.bias")


@dataclass
class LoadedCheckpoint:
    """A state dict read from somewhere, with what is known about where it came from."""

    state: dict[str, torch.Tensor]
    format: str
    origin: str
    lucid_meta: dict[str, Any] | None = None
    entry: Weights | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def num_classes(self) -> int | None:
        head = self.state.get(_HEAD_KEYS[self.format])
        return int(head.shape[0]) if head is not None and head.dim() >= 1 else None

    def in_channels(self) -> int | None:
        stem = self.state.get(_STEM_KEYS[self.format])
        return int(stem.shape[1]) if stem is not None and stem.dim() == 4 else None


def _is_safetensors(file: Path) -> bool:
    """safetensors starts with an 8-byte little-endian header length and a JSON header."""
    with open(file, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _safetensors_state(file: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """The tensors of a safetensors file and, for a lucid checkpoint (its metadata says so), the
    checked lucid metadata (format version and checksum); ``None`` for a foreign file, e.g. timm's."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            if any(key.startswith("lucid.") for key in metadata):
                meta = checkpoint.read_metadata(file)
                return checkpoint.load(file), meta  # checks the format version and the checksum
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{file}: not a readable safetensors file (truncated or corrupted?): {exc}") from None
    return unwrap_state(state, str(file)), None


def _read_safetensors(file: Path) -> LoadedCheckpoint:
    """A lucid checkpoint (its metadata says so) or a foreign safetensors state dict, e.g. timm's."""
    state, meta = _safetensors_state(file)
    if meta is not None:
        return LoadedCheckpoint(state, "lucid", str(file), lucid_meta=meta, extra=meta["extra"])
    return LoadedCheckpoint(state, detect_format(state, str(file)), str(file))


# torch.save writes its zip archives uncompressed, so the tensors take about the file's own size.
# A weights-only .pth whose zip directory declares far more is a decompression bomb; refusing it
# from the directory (zipfile reads only the central directory) costs no memory.
MAX_INFLATION = 4
_INFLATION_SLACK = 1 << 20  # small files: the pickle and the archive's records


def _check_archive_sizes(file: Path) -> None:
    """Refuse a zip-format .pth whose members inflate out of proportion to the file's size."""
    if not zipfile.is_zipfile(file):
        return  # torch's legacy (pre-1.6) format is not compressed: its size is the file's
    try:
        with zipfile.ZipFile(file) as archive:
            declared = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{file}: not a readable PyTorch checkpoint (a broken zip archive: {exc})") from None
    size = file.stat().st_size
    if declared > MAX_INFLATION * size + _INFLATION_SLACK:
        raise CheckpointError(
            f"{file}: refused: the {size:,}-byte archive declares {declared:,} bytes once decompressed "
            f"(more than {MAX_INFLATION}x its size; torch.save writes uncompressed archives), so it was not read"
        )


def _refusal(file: Path, exc: Exception) -> CheckpointError:
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
    what = f" (it references {found.group(1)})" if found else ""
    return CheckpointError(
        f"{file}: refused: the pickle holds Python objects other than tensors and plain containers"
        f"{what}; unpickling them could run code, so lucid reads .pth files only with "
        "torch.load(weights_only=True). A full pickled model or a training checkpoint with "
        "optimizer/argument objects is refused too: save model.state_dict() instead, or, if you "
        "trust the file, load it yourself and pass weights=<state dict>"
    )


def _unreadable(file: Path, exc: Exception) -> CheckpointError:
    """One line for a file torch cannot read: the unpickler's own reason, not torch's advice to
    retry with ``weights_only=False`` (which would run the file's code)."""
    text = str(exc)
    reason = text.partition("WeightsUnpickler error:")[2] or text
    first = next((line.strip() for line in reason.splitlines() if line.strip()), type(exc).__name__)
    return CheckpointError(f"{file}: not a readable PyTorch checkpoint (truncated or corrupted?): {first}")


def _is_torchscript(file: Path) -> bool:
    """Whether ``file`` is a TorchScript archive (``torch.jit.save``: its zip holds ``code/`` and
    ``constants.pkl``), which is a program for ``torch.jit.load``, not a state dict."""
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return any(name.endswith("constants.pkl") for name in names) and any("/code/" in name for name in names)


def _read_pickle(file: Path) -> Any:
    _check_archive_sizes(file)
    if zipfile.is_zipfile(file) and _is_torchscript(file):
        raise CheckpointError(
            f"{file}: a TorchScript program (torch.jit.save, lucid export --format torchscript), for "
            "torch.jit.load and LibTorch; lucid reads checkpoints (.safetensors, state-dict .pth) and runs "
            ".onnx, .xml and .pte exports"
        )
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc) or "Unsupported class" in str(exc):
            raise _refusal(file, exc) from None  # a real pickle of Python objects
        raise _unreadable(file, exc) from None
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, KeyError, RecursionError) as exc:
        raise _unreadable(file, exc) from None


_CONTAINER_KEYS = ("state_dict", "model", "model_state_dict", "module")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def unwrap_state(obj: Any, origin: str) -> dict[str, torch.Tensor]:
    """The tensors of a state dict, also when saved inside ``{"state_dict": ...}`` or by DDP/compile."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{origin}: expected a state dict (names -> tensors), found a {type(obj).__name__}")
    if not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in _CONTAINER_KEYS:
            if isinstance(obj.get(key), Mapping):
                return unwrap_state(obj[key], origin)
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad or not obj:
        raise CheckpointError(
            f"{origin}: expected a state dict (names -> tensors); "
            + (f"not tensors: {[str(k) for k in bad[:5]]}" if bad else "it is empty")
        )
    state = {str(k): v for k, v in obj.items()}
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def detect_format(state: Mapping[str, torch.Tensor], origin: str = "state dict") -> str:
    """``"lucid"``, ``"torchvision"`` or ``"timm"``, recognised from the state dict's keys."""
    keys = set(state)
    if "conv_first.0.weight" in keys or any(k.startswith("bottlenecks.") for k in keys):
        return "lucid"
    if "features.0.0.weight" in keys or any(k.startswith("features.") and ".block." in k for k in keys):
        return "torchvision"
    if "conv_stem.weight" in keys or any(k.startswith("blocks.") for k in keys):
        return "timm"
    sample = sorted(keys)[:6]
    raise CheckpointError(
        f"{origin}: unrecognised checkpoint layout: expected lucid (conv_first.*, bottlenecks.*), "
        f"torchvision (features.*, classifier.*) or timm (conv_stem.*, blocks.*) keys; found {sample}"
    )


def _weights_file(path: str | os.PathLike[str]) -> tuple[Path, bool]:
    """An existing weights file and whether it is safetensors (a ``.safetensors`` name without
    the header is refused)."""
    file = checkpoint.existing_file(path, "weights file")
    try:
        is_safetensors = _is_safetensors(file)
    except OSError as exc:
        raise CheckpointError(f"{file}: cannot be read: {exc.strerror or exc}") from None
    if not is_safetensors and file.suffix == ".safetensors":
        raise CheckpointError(
            f"{file}: not a safetensors file ({file.stat().st_size:,} bytes without a safetensors header; "
            "truncated or another format?)"
        )
    return file, is_safetensors


def read_checkpoint(path: str | os.PathLike[str]) -> LoadedCheckpoint:
    """Read a lucid, torchvision or timm checkpoint file safely and recognise its format."""
    file, is_safetensors = _weights_file(path)
    if is_safetensors:
        return _read_safetensors(file)
    state = unwrap_state(_read_pickle(file), str(file))
    return LoadedCheckpoint(state, detect_format(state, str(file)), str(file))


def read_state_file(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """The tensors of any model's weights file, read as safely as `read_checkpoint` reads a
    classifier's (safetensors, or ``torch.load(weights_only=True)`` after the archive-size check),
    and the lucid metadata when the file is a lucid checkpoint (else ``None``). The detection and
    segmentation models read their files through it and recognise the keys themselves."""
    file, is_safetensors = _weights_file(path)
    if is_safetensors:
        return _safetensors_state(file)
    return unwrap_state(_read_pickle(file), str(file)), None


def from_state_dict(state: Mapping[str, Any], origin: str = "state dict") -> LoadedCheckpoint:
    """A state dict in memory (possibly wrapped, see `unwrap_state`) with its recognised format."""
    tensors = unwrap_state(state, origin)
    return LoadedCheckpoint(tensors, detect_format(tensors, origin), origin)


# --------------------------------------------------------------------------------------------
# Key conversion, written against the lucid model's structure
# --------------------------------------------------------------------------------------------


def _block_roles(block: nn.Module, path: str) -> list[tuple[str, str]]:
    """``[(role, module path)]`` of one inverted bottleneck, in order: expand?, depthwise, se?, project."""
    roles: list[tuple[str, str]] = []
    seen_depthwise = False
    for name, child in block.get_submodule("residual").named_children():
        where = f"{path}.residual.{name}"
        if isinstance(child, SqueezeExcite):
            roles.append(("se", where))
            continue
        conv = child[0] if isinstance(child, nn.Sequential) and len(child) else None
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"{where}: expected a (conv, norm, ...) stage, found {type(child).__name__}")
        if conv.groups > 1:
            roles.append(("depthwise", where))
            seen_depthwise = True
        else:
            roles.append(("project" if seen_depthwise else "expand", where))
    return roles


def _lucid_blocks(model: MobileNet_V3) -> list[list[tuple[str, str]]]:
    return [_block_roles(block, f"bottlenecks.{i}") for i, block in enumerate(model.bottlenecks)]


def _structure_error(origin: str, fmt: str, found: int, model: MobileNet_V3) -> CheckpointError:
    return CheckpointError(
        f"{origin}: the {fmt} checkpoint has {found} inverted-residual blocks but "
        f"{getattr(model, 'model_name', 'the model')} has {len(model.bottlenecks)}: a different architecture"
    )


def torchvision_backbone_pairs(
    body: MobileNet_V3, prefix: str, stem: str, stage: Callable[[int, int], str], last: str
) -> list[tuple[str, str]]:
    """(lucid module, torchvision module) pairs of a MobileNet-v3 body at ``prefix`` (e.g.
    ``"backbone."``) as torchvision lays out its ``features``: the stem at ``stem``, stage ``j`` of
    block ``i`` at ``stage(i, j)`` (a squeeze-excite's ``fc1``/``fc2``, a conv stage's conv and
    norm ``0``/``1``), the last convolution at ``last``. The classifier, LR-ASPP and SSDLite
    differ only in where torchvision puts these (SSDLite splits the body at C4)."""
    pairs = [(f"{prefix}conv_first.{s}", f"{stem}.{s}") for s in ("0", "1")]
    for i, block in enumerate(body.bottlenecks):
        for j, (role, path) in enumerate(_block_roles(block, f"{prefix}bottlenecks.{i}")):
            subs = ("fc1", "fc2") if role == "se" else ("0", "1")
            pairs += [(f"{path}.{s}", f"{stage(i, j)}.{s}") for s in subs]
    return pairs + [(f"{prefix}conv_last.{s}", f"{last}.{s}") for s in ("0", "1")]


def _torchvision_pairs(model: MobileNet_V3, state: Mapping[str, torch.Tensor], origin: str) -> list[tuple[str, str]]:
    """(lucid module, torchvision module) pairs: ``features.{i+1}.block.{j}`` in the block's stage order."""
    count = len(model.bottlenecks)
    found = {int(m.group(1)) for k in state if (m := re.match(r"features\.(\d+)\.block\.", k))}
    if found and len(found) != count:
        raise _structure_error(origin, "torchvision", len(found), model)
    pairs = torchvision_backbone_pairs(
        model, "", "features.0", lambda i, j: f"features.{i + 1}.block.{j}", f"features.{count + 1}"
    )
    return pairs + [("fc1.0", "classifier.0"), ("fc2.1", "classifier.3")]


# timm's names for the stages of an InvertedResidual (with expand) and a DepthwiseSeparableConv.
_TIMM_IR = {"expand": ("conv_pw", "bn1"), "depthwise": ("conv_dw", "bn2"), "project": ("conv_pwl", "bn3")}
_TIMM_DS = {"depthwise": ("conv_dw", "bn1"), "project": ("conv_pw", "bn2")}


def _timm_blocks(state: Mapping[str, torch.Tensor]) -> list[str]:
    """timm's blocks in order, flattened over its stages (``blocks.{stage}.{index}``)."""
    found = {(int(m.group(1)), int(m.group(2))) for k in state if (m := re.match(r"blocks\.(\d+)\.(\d+)\.", k))}
    return [f"blocks.{s}.{i}" for s, i in sorted(found)]


def _timm_pairs(model: MobileNet_V3, state: Mapping[str, torch.Tensor], origin: str) -> list[tuple[str, str]]:
    """(lucid module, timm module) pairs; timm's last block is the ``conv_last`` ConvBnAct."""
    blocks = _lucid_blocks(model)
    timm_blocks = _timm_blocks(state)
    has_head_block = bool(timm_blocks) and f"{timm_blocks[-1]}.conv.weight" in state
    found = len(timm_blocks) - int(has_head_block)
    if found != len(blocks):
        raise _structure_error(origin, "timm", found, model)
    pairs = [("conv_first.0", "conv_stem"), ("conv_first.1", "bn1")]
    for roles, src in zip(blocks, timm_blocks[: len(blocks)], strict=True):  # the last may be the head
        names = _TIMM_IR if any(role == "expand" for role, _ in roles) else _TIMM_DS
        for role, path in roles:
            if role == "se":
                pairs += [(f"{path}.fc1", f"{src}.se.conv_reduce"), (f"{path}.fc2", f"{src}.se.conv_expand")]
            else:
                conv, norm = names[role]
                pairs += [(f"{path}.0", f"{src}.{conv}"), (f"{path}.1", f"{src}.{norm}")]
    head = timm_blocks[-1] if has_head_block else "blocks.<head>"
    pairs += [("conv_last.0", f"{head}.conv"), ("conv_last.1", f"{head}.bn1")]
    pairs += [("fc1.0", "conv_head"), ("fc2.1", "classifier")]
    return pairs


def _has_module(model: nn.Module, path: str) -> bool:
    try:
        model.get_submodule(path)
    except AttributeError:
        return False
    return True


def _fit(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Reshape a 1x1 convolution's (o, i, 1, 1) weight to a linear (o, i) one, or back; else unchanged."""
    src = tuple(tensor.shape)
    if src == tuple(shape):
        return tensor
    if len(src) == 4 and src[2:] == (1, 1) and src[:2] == tuple(shape):
        return tensor.reshape(shape)
    if len(src) == 2 and len(shape) == 4 and tuple(shape[2:]) == (1, 1) and src == tuple(shape[:2]):
        return tensor.reshape(shape)
    return tensor


def _remap(
    state: Mapping[str, torch.Tensor], model: MobileNet_V3, pairs: list[tuple[str, str]], origin: str, fmt: str
) -> dict[str, torch.Tensor]:
    """Rename a foreign state dict to lucid keys, reporting every missing, unused or mis-shaped tensor."""
    target = model.state_dict()
    adaptable = {_LUCID_STEM, *_LUCID_HEAD}
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    missing: list[str] = []
    mismatched: list[str] = []
    for lucid_module, src_module in pairs:
        if lucid_module == _LUCID_HEAD_MODULE and not _has_module(model, lucid_module):
            # A model without classifier (classifier=False) drops the source's, as timm's num_classes=0.
            used.update(k for k in state if k.startswith(f"{src_module}."))
            continue
        for name in model.get_submodule(lucid_module).state_dict():
            key, src = f"{lucid_module}.{name}", f"{src_module}.{name}"
            if src not in state:
                # num_batches_tracked: a counter older files lack (the model's is kept); a missing
                # classifier is re-initialised with a warning by _adapt.
                if name != "num_batches_tracked" and lucid_module != _LUCID_HEAD_MODULE:
                    missing.append(f"{src} (for {key})")
                continue
            used.add(src)
            out[key] = _fit(state[src], target[key].shape)
            if key not in adaptable and tuple(out[key].shape) != tuple(target[key].shape):
                mismatched.append(
                    f"{src} -> {key}: checkpoint {tuple(state[src].shape)} vs model {tuple(target[key].shape)}"
                )
    unexpected = [k for k in state if k not in used]
    problems = describe_mismatch(missing, unexpected, mismatched, unexpected_label="not used by the model")
    if problems:
        name = getattr(model, "model_name", type(model).__name__)
        raise CheckpointError(f"{origin}: the {fmt} checkpoint does not fit {name}: {problems}")
    return out


@dataclass
class WeightsSource:
    """A task model's ``weights=`` as read: the state dict, its format (``"lucid"`` or the
    foreign library's, e.g. ``"torchvision"``), where it came from, the registered entry it is
    (if any) and a lucid checkpoint's metadata (if it is one)."""

    state: dict[str, torch.Tensor]
    format: str
    origin: str
    entry: Weights | None = None
    meta: dict[str, Any] | None = None


StateFit = Callable[[Any, dict[str, torch.Tensor], str], dict[str, torch.Tensor]]  # (model, state, origin)


@dataclass(frozen=True)
class TorchvisionLayout:
    """How a lucid whole-image model (LR-ASPP, SSDLite) lies in torchvision's layout: the one
    description its weights reader and both converters work from, so each model file states only
    what is its own.

    ``module_pairs(model)`` gives the (lucid module, torchvision module) pairs that cover every
    tensor; the model class's ``format_keys`` pairs each format (``"lucid"``, ``"torchvision"``)
    with a key only that format's state dict has; ``registered`` holds torchvision's published
    weights; keys in ``replaceable`` (a head of another class count, replaced afterwards) may
    differ in shape.
    """

    model_type: type[nn.Module]
    module_pairs: Callable[[Any], list[tuple[str, str]]]
    registered: type[WeightsEnum]
    replaceable: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """The model's name in messages: its class's."""
        return self.model_type.__name__

    def recognise(self, state: Mapping[str, torch.Tensor], origin: str) -> str:
        """The format of ``state`` (``"lucid"``, ``"torchvision"``) by the keys it has; anything else is refused."""
        format_keys: tuple[tuple[str, str], ...] = self.model_type.format_keys  # type: ignore[attr-defined]
        for fmt, key in format_keys:
            if key in state:
                return fmt
        expected = " or ".join(f"{fmt} ({key}, ...)" for fmt, key in format_keys)
        raise CheckpointError(
            f"{origin}: not an {self.kind} state dict: expected {expected} keys; found {sorted(state)[:6]}"
        )

    def read(self, path: str | os.PathLike[str]) -> WeightsSource:
        """A weights file (`read_state_file`): a lucid checkpoint, or a state dict `recognise` knows."""
        state, meta = read_state_file(path)
        return WeightsSource(
            state, "lucid" if meta is not None else self.recognise(state, str(path)), str(path), meta=meta
        )

    def resolve(self, weights: Any, model_name: str) -> WeightsSource:
        """What ``weights=`` names: a `WeightsSource` already read, a registered entry or its name
        (``"DEFAULT"``, a tag, or ``"EnumName.TAG"``), a state dict, or a file path (lucid's or
        torchvision's)."""
        if isinstance(weights, WeightsSource):  # already read (by the factory, to size the model)
            return weights
        if isinstance(weights, WeightsEnum):
            weights = weights.value
        registered = self.registered
        tags = list(registered.__members__)
        owner = registered[tags[0]].value.model_name
        if isinstance(weights, Weights):
            if weights.model_name != model_name:
                raise ValueError(f"weights {weights.tag} are for {weights.model_name}, not for {model_name}")
            source = self.read(registered[weights.tag].fetch())
            source.entry = weights
            return source
        if isinstance(weights, Mapping):
            state = unwrap_state(weights, "state dict")
            return WeightsSource(state, self.recognise(state, "state dict"), "state dict")
        if isinstance(weights, (str, os.PathLike)):
            path = Path(weights).expanduser()
            tag = str(weights).removeprefix(f"{registered.__name__}.")
            if not path.exists() and tag in tags:
                if model_name != owner:
                    raise ValueError(f"{model_name} has no registered weights (only {owner} has)")
                return self.resolve(registered[tag], model_name)
            return self.read(path)
        raise TypeError(
            f"weights must be a file path, a state dict, {'/'.join(repr(t) for t in tags)} or a weights entry; "
            f"got {type(weights).__name__}"
        )

    def from_torchvision(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
        """A lucid state dict for ``model`` from torchvision's state dict of the same model.

        Every key and shape is checked; everything that does not fit is reported at once
        (`CheckpointError`). A missing ``num_batches_tracked`` keeps the model's.
        """
        pairs = tensor_pairs(model, self.module_pairs(model))
        return map_foreign_state(state, model, pairs, f"torchvision {self.kind}", replaceable=self.replaceable)

    def to_torchvision(
        self, model: nn.Module | Mapping[str, torch.Tensor], reference: nn.Module | None = None
    ) -> dict[str, torch.Tensor]:
        """torchvision's state dict of a lucid model (torchvision's own model loads it with
        ``strict=True``). Pass the model, or a lucid state dict plus a ``reference`` model of the
        same architecture."""
        state = model.state_dict() if isinstance(model, nn.Module) else dict(model)
        reference = model if isinstance(model, nn.Module) else reference
        if not isinstance(reference, self.model_type):
            raise TypeError(f"needs a lucid {self.model_type.__name__} model, or a state dict plus reference=model")
        return foreign_state(state, tensor_pairs(reference, self.module_pairs(reference)))

    def load(self, model: nn.Module, source: WeightsSource, fit: StateFit | None = None) -> None:
        """Load ``source`` (read by `resolve`) into ``model``: a torchvision state dict is
        converted, ``fit`` adapts what may differ (a new head, a grey stem), and every key and
        shape is checked before anything is copied."""
        state = dict(source.state) if source.format == "lucid" else self.from_torchvision(source.state, model)
        if fit is not None:
            state = fit(model, state, source.origin)
        checkpoint.check_state_dict(model, state, source=f"{source.origin} ({source.format} {self.kind} weights)")
        model.load_state_dict(state)


def source_pretrained_cfg(
    source: WeightsSource,
    base: Mapping[str, Any],
    registered: type[WeightsEnum],
    num_classes: int,
    entry_fields: Iterable[str] = (),
) -> dict[str, Any]:
    """The ``pretrained_cfg`` of a task model loaded from ``source``: ``base`` (the model's own
    record), then what the weights say: a registered entry of ``registered`` its URL, metrics,
    categories and ``entry_fields`` (e.g. its normalisation), a lucid checkpoint its recorded
    ``pretrained_cfg`` and class names. Categories that do not fit the head's ``num_classes`` are
    dropped, so no wrong name is ever printed."""
    cfg: dict[str, Any] = {**base, "source": source.format, "weights": source.origin}
    if source.entry is not None:
        meta = source.entry.meta
        cfg.update(
            weights=f"{registered.__name__}.{source.entry.tag}",
            url=meta["url"],
            metrics=meta["metrics"],
            categories=meta["categories"],
        )
        cfg.update({key: list(meta[key]) if isinstance(meta[key], tuple) else meta[key] for key in entry_fields})
    elif source.meta is not None:
        cfg.update(source.meta.get("pretrained_cfg") or {})
        cfg.update(source="lucid", weights=source.origin)
        extra = source.meta.get("extra") or {}
        classes = extra.get("categories") or extra.get("classes")  # categories: with a background class
        if classes is not None:
            cfg["categories"] = list(classes)
    if cfg.get("categories") is not None and len(cfg["categories"]) != num_classes:
        cfg["categories"] = None
    return cfg


def map_foreign_state(
    state: Mapping[str, torch.Tensor],
    model: nn.Module,
    pairs: list[tuple[str, str]],
    what: str,
    replaceable: tuple[str, ...] = (),
) -> dict[str, torch.Tensor]:
    """A lucid state dict for ``model`` from a foreign ``state``, by ``pairs`` of (lucid key,
    foreign key), one per tensor of ``model.state_dict()``.

    Every key and shape is checked and everything that does not fit is reported at once
    (`CheckpointError` naming ``what``). A missing ``num_batches_tracked`` keeps the model's;
    1x1 convolutions and linear layers of the same numbers are reshaped (squeeze-excite);
    keys in ``replaceable`` (a head of another class count, replaced afterwards) may differ.
    """
    target = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    missing: list[str] = []
    mismatched: list[str] = []
    used: set[str] = set()
    for key, foreign in pairs:
        if foreign not in state:
            if key.endswith("num_batches_tracked"):
                out[key] = target[key]
            else:
                missing.append(foreign)
            continue
        used.add(foreign)
        value = _fit(state[foreign], target[key].shape)
        if value.shape != target[key].shape and key not in replaceable:
            mismatched.append(f"{foreign} -> {key}: file {tuple(value.shape)} vs model {tuple(target[key].shape)}")
        out[key] = value
    unexpected = [k for k in state if k not in used]
    problems = describe_mismatch(missing, unexpected, mismatched, unexpected_label="not used by the model")
    if problems:
        name = getattr(model, "model_name", type(model).__name__)
        raise CheckpointError(f"the {what} state dict does not fit {name}: {problems}")
    return out


def tensor_pairs(model: nn.Module, module_pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(lucid key, foreign key) for every tensor of each (lucid module, foreign module) pair of
    ``model``: the two sides name a module's own tensors alike."""
    return [
        (f"{lucid}.{name}", f"{foreign}.{name}")
        for lucid, foreign in module_pairs
        for name in model.get_submodule(lucid).state_dict()
    ]


def foreign_state(state: Mapping[str, torch.Tensor], pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    """The foreign state dict of a lucid ``state``, by ``pairs`` of (lucid key, foreign key): the
    inverse of `map_foreign_state` (squeeze-excite linear weights become 1x1 convolutions)."""
    out = {}
    for key, foreign in pairs:
        if key not in state:
            raise CheckpointError(f"the lucid state dict has no {key} (for {foreign})")
        value = state[key]
        if value.dim() == 2 and ".fc" in key:  # SE Linear -> a 1x1 conv
            value = value.reshape(*value.shape, 1, 1)
        out[foreign] = value.detach().clone()
    return out


def _adapt_stem(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """The stem filters for another input channel count, as timm adapts pretrained stems.

    One channel: the sum over the source's channels, so a grey image gives what the RGB model
    gives on that image replicated to RGB. More channels: the source's channels repeated in
    turn and scaled by ``source / target`` to keep the activations' magnitude.
    """
    source = weight.shape[1]
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-in_channels // source)
    return weight.repeat(1, repeats, 1, 1)[:, :in_channels] * (source / in_channels)


def caller_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside lucid, so a warning points at the user's line."""
    root = os.path.dirname(checkpoint.__file__)
    frame: FrameType | None = sys._getframe(2)  # the caller of the function that asks
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(root):
        frame, level = frame.f_back, level + 1
    return level


def _adapt(state: dict[str, torch.Tensor], model: MobileNet_V3, origin: str) -> tuple[dict[str, torch.Tensor], bool]:
    """Re-initialise a head of another class count (with a warning) and adapt the stem's channels."""
    target = model.state_dict()
    stem = state.get(_LUCID_STEM)
    want = target[_LUCID_STEM].shape
    if (
        stem is not None
        and stem.dim() == 4
        and stem.shape[0] == want[0]
        and stem.shape[2:] == want[2:]
        and stem.shape[1] != want[1]
    ):
        state[_LUCID_STEM] = _adapt_stem(stem, want[1])
    if _LUCID_HEAD[0] not in target:  # a model without classifier keeps none
        for key in _LUCID_HEAD:
            state.pop(key, None)
        return state, False
    head, want = state.get(_LUCID_HEAD[0]), target[_LUCID_HEAD[0]].shape
    if head is None:
        found = "the checkpoint has no classifier"
    elif head.dim() == 2 and head.shape[1] == want[1] and head.shape[0] != want[0]:
        found = f"the checkpoint's classifier has {head.shape[0]} classes but the model {want[0]}"
    else:
        return state, False  # fits, or a mismatch check_state_dict reports
    for key in _LUCID_HEAD:
        state[key] = target[key]  # the model's own fresh initialisation
    warnings.warn(
        f"{origin}: {found}; loaded every weight except the last layer fc2.1, "
        "which is newly initialised (train it before use)",
        UserWarning,
        stacklevel=caller_stacklevel(),
    )
    return state, True


def convert_state_dict(
    state: Mapping[str, torch.Tensor] | LoadedCheckpoint, model: MobileNet_V3
) -> dict[str, torch.Tensor]:
    """A lucid state dict for ``model`` from a lucid, torchvision or timm state dict.

    Every key and shape is checked (a `CheckpointError` lists all that
    does not fit); a classifier of another class count is replaced by the model's own (with a
    warning) and the stem adapted to the model's ``in_channels``. ``model`` is not modified.
    """
    loaded = state if isinstance(state, LoadedCheckpoint) else from_state_dict(state)
    return convert_loaded(loaded, model)[0]


def convert_loaded(loaded: LoadedCheckpoint, model: MobileNet_V3) -> tuple[dict[str, torch.Tensor], bool]:
    """`convert_state_dict` for a read checkpoint; also says whether the head was re-initialised."""
    fmt, origin = loaded.format, loaded.origin
    if fmt == "lucid":
        converted = dict(loaded.state)
    else:
        pairs_of = _torchvision_pairs if fmt == "torchvision" else _timm_pairs
        converted = _remap(loaded.state, model, pairs_of(model, loaded.state, origin), origin, fmt)
        for key, value in model.state_dict().items():
            if key.endswith("num_batches_tracked"):
                converted.setdefault(key, value)
    converted, replaced = _adapt(converted, model, origin)
    checkpoint.check_state_dict(model, converted, source=f"{origin} ({fmt} checkpoint)")
    return converted, replaced

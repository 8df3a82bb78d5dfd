"""lucid checkpoints: a safetensors file of the state dict plus JSON metadata.

Checkpoints are data, never code: safetensors holds the tensor bytes; the model's registry
name, config, pretrained metadata and any extra information are JSON strings in its header,
next to a format version and a SHA-256 digest (safetensors itself has no checksum, so without
it a flipped byte would load silently). Since format version 2 the digest covers the metadata
as well as the tensors; version-1 files (tensors only) are still read. A file without its
digest is refused: nothing could tell a damaged file from a good one. Writes are atomic.

A checksum is not a signature (whoever edits a file can recompute it), so
`lucid.models.load_model` also checks the metadata against the tensors before it builds
anything; JSON nested beyond `MAX_JSON_DEPTH` is refused here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from lucid.errors import LucidError

__all__ = [
    "FORMAT_VERSION",
    "MAX_JSON_DEPTH",
    "CheckpointError",
    "CheckpointNotFoundError",
    "existing_file",
    "tensor_shapes",
    "checkpoint_digest",
    "save",
    "load",
    "read_metadata",
    "atomic_write",
    "check_state_dict",
    "state_digest",
    "unwrap_model",
]

# 1: the digest covers the tensors; 2: the tensors and every metadata entry.
FORMAT_VERSION = 2
# Deepest nesting of lists/dicts accepted in the JSON metadata (lucid writes at most 4 levels).
MAX_JSON_DEPTH = 32
_KEY_VERSION = "lucid.format_version"
_KEY_MODEL = "lucid.model"
_KEY_CONFIG = "lucid.config"
_KEY_EXTRA = "lucid.extra"
_KEY_PRETRAINED = "lucid.pretrained_cfg"
_KEY_DIGEST = "lucid.sha256"


class CheckpointError(LucidError, ValueError):
    """A checkpoint that cannot be read or does not fit: the message names the file and the problem."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No checkpoint file at the given path (or a folder, not a file, is there)."""


def existing_file(path: str | os.PathLike[str], what: str = "checkpoint") -> Path:
    """``path`` as a `Path` (``~`` expanded) if it is a regular file, else a clear error."""
    file = Path(path).expanduser()
    if file.is_dir():
        raise CheckpointNotFoundError(f"{file}: is a folder, not a {what} file")
    if not file.exists():
        raise CheckpointNotFoundError(f"no {what} at {file}")
    if not file.is_file():
        raise CheckpointError(f"{file}: not a regular file (a device, pipe or socket?); expected a {what} file")
    if not os.access(file, os.R_OK):
        raise CheckpointError(f"{file}: permission denied: the {what} file cannot be read")
    return file


def _default_file_mode() -> int:
    """Mode of a newly created file under the current umask (mkstemp itself creates 0600 files)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp_path)`` then rename over ``path``: readers never see a half-written file.

    The temporary file lives in the target's folder (a rename is only atomic within one file
    system). An exception (or a kill) during ``write`` leaves any previous file at ``path``
    untouched, and the temporary file is removed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o777 if target.exists() else _default_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return target


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; not every platform can open a folder, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def unwrap_model(module: nn.Module) -> nn.Module:
    """The plain model inside ``DataParallel``/``DistributedDataParallel`` or ``torch.compile`` wrappers.

    Their state dict keys carry ``module.`` / ``_orig_mod.`` prefixes that no model would load.
    """
    parallel = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    while True:
        inner = module.module if isinstance(module, parallel) else getattr(module, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return module
        module = inner


def _state_dict_of(obj: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):
        state = obj.state_dict()
    elif isinstance(obj, Mapping):
        state = dict(obj)
    else:
        raise TypeError(f"save() expects an nn.Module or a state dict, got {type(obj).__name__}")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise TypeError(f"state dict values must be tensors; not tensors: {bad[:5]}")
    # safetensors stores plain, contiguous, unshared CPU buffers.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in key order (layout independent)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().to("cpu").contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def _json_field(name: str, value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"checkpoint {name} must be JSON-serialisable: {exc}") from None


def checkpoint_digest(state: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> str:
    """SHA-256 over the tensors (`state_digest`) and every metadata entry but the digest itself.

    Each entry enters as ``len:key len:value`` in key order, so no two different headers hash alike.
    """
    digest = hashlib.sha256(state_digest(state).encode())
    for key in sorted(metadata):
        if key != _KEY_DIGEST:
            value = metadata[key]
            digest.update(f"{len(key)}:{key}{len(value)}:".encode() + value.encode())
    return digest.hexdigest()


def save(
    obj: nn.Module | Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    *,
    model_name: str | None = None,
    config: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a lucid checkpoint atomically and return its path.

    For a lucid model, ``model_name`` and ``config`` default to the model's own, so
    `lucid.models.load_model` can rebuild it, and its ``pretrained_cfg`` (weights
    metadata such as class names) is kept; ``extra`` is any JSON-serialisable dict
    (class names, training information), returned as ``model.checkpoint_extra`` on load.
    The digest covers the tensors and all of this metadata.
    """
    pretrained = None
    if isinstance(obj, nn.Module):
        obj = unwrap_model(obj)
        model_config = getattr(obj, "config", None)
        if config is None and model_config is not None and hasattr(model_config, "to_dict"):
            config = model_config.to_dict()
        model_name = model_name or getattr(obj, "model_name", None)
        pretrained = getattr(obj, "pretrained_cfg", None)
    state = _state_dict_of(obj)
    metadata = {_KEY_VERSION: str(FORMAT_VERSION)}
    if model_name is not None:
        metadata[_KEY_MODEL] = str(model_name)
    if config is not None:
        metadata[_KEY_CONFIG] = _json_field("config", dict(config))
    if extra is not None:
        metadata[_KEY_EXTRA] = _json_field("extra", dict(extra))
    if pretrained is not None:
        metadata[_KEY_PRETRAINED] = _json_field("pretrained_cfg", dict(pretrained))
    metadata[_KEY_DIGEST] = checkpoint_digest(state, metadata)
    return atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata))


def _open_error(path: Path, exc: Exception) -> CheckpointError:
    return CheckpointError(f"{path}: not a readable lucid checkpoint (truncated or corrupted?): {exc}")


def _is_safetensors_header(file: Path) -> bool:
    """safetensors starts with an 8-byte little-endian header length and a JSON object."""
    try:
        with open(file, "rb") as handle:
            head = handle.read(9)
    except OSError as exc:
        raise CheckpointError(f"{file}: cannot be read: {exc.strerror or exc}") from None
    return len(head) == 9 and head[8:9] == b"{"


def _raw_metadata(file: Path) -> dict[str, str]:
    file = existing_file(file)
    if not _is_safetensors_header(file):
        size = file.stat().st_size
        raise CheckpointError(
            f"{file}: not a lucid checkpoint: lucid checkpoints are .safetensors files, and this "
            f"{size:,}-byte file has no safetensors header (truncated, or another format?)"
        )
    try:
        with safe_open(str(file), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise _open_error(file, exc) from None


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's metadata: ``format_version``, ``model_name``, ``config``, ``extra``, ``pretrained_cfg``.

    Read from the file's header only; the digest that covers it is checked by `load`.
    """
    file = Path(path).expanduser()
    return _parse_metadata(file, _raw_metadata(file))


def tensor_shapes(path: str | os.PathLike[str]) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape, from the safetensors header alone (no tensor data is read)."""
    file = existing_file(path)
    try:
        with safe_open(str(file), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise _open_error(file, exc) from None


# Characters that open a JSON container, outside strings (strings are removed first).
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _json_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in a JSON text, counted without parsing (no recursion)."""
    depth = deepest = 0
    for char in _JSON_STRING.sub('""', text):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _json_entry(file: Path, raw: Mapping[str, str], key: str, default: Any) -> Any:
    """One JSON metadata entry: a dict (or ``default`` when absent), nesting bounded before parsing."""
    if key not in raw:
        return default
    text = raw[key]
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise CheckpointError(
            f"{file}: metadata {key} is nested {depth} levels deep (at most {MAX_JSON_DEPTH} accepted); "
            "not a checkpoint lucid wrote"
        )
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{file}: checkpoint metadata {key} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{file}: checkpoint metadata {key} must be a JSON object, found {type(value).__name__}")
    return value


def _parse_metadata(file: Path, raw: Mapping[str, str]) -> dict[str, Any]:
    if _KEY_VERSION not in raw:
        raise CheckpointError(
            f"{file}: a safetensors file without lucid metadata ({_KEY_VERSION} missing); for a "
            "torchvision or timm file use a factory's weights= argument or `lucid convert`"
        )
    try:
        version = int(raw[_KEY_VERSION])
    except ValueError:
        raise CheckpointError(f"{file}: format version {raw[_KEY_VERSION]!r} is not a number") from None
    if version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            f"{file}: checkpoint format version {version} is not supported by this lucid "
            f"(reads versions 1..{FORMAT_VERSION}); upgrade lucid to read it"
        )
    if not re.fullmatch(r"[0-9a-f]{64}", raw.get(_KEY_DIGEST, "")):
        raise CheckpointError(
            f"{file}: refused: the checkpoint has no valid checksum ({_KEY_DIGEST}), so a damaged or "
            "edited file could not be told from a good one. Files lucid writes always carry it"
        )
    model_name = raw.get(_KEY_MODEL)
    if model_name is not None and (len(model_name) > 200 or not model_name.isprintable()):
        raise CheckpointError(f"{file}: model name {model_name[:80]!r} is not a registry name")
    return {
        "format_version": version,
        "model_name": model_name,
        "config": _json_entry(file, raw, _KEY_CONFIG, None),
        "extra": _json_entry(file, raw, _KEY_EXTRA, {}),
        "pretrained_cfg": _json_entry(file, raw, _KEY_PRETRAINED, None),
        "sha256": raw[_KEY_DIGEST],
    }


def load(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a lucid checkpoint's state dict (every tensor read and checked, nothing executed).

    The digest is checked over the tensors and (format version 2) the metadata: a changed byte
    anywhere is a `CheckpointError`.
    """
    file = Path(path).expanduser()
    raw = _raw_metadata(file)
    meta = _parse_metadata(file, raw)  # format, version and checksum presence before reading tensors
    try:
        with safe_open(str(file), framework="pt", device=str(map_location)) as handle:
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _open_error(file, exc) from None
    if meta["format_version"] >= 2:
        found, covers = checkpoint_digest(state, raw), "tensor data or metadata"
    else:
        found, covers = state_digest(state), "tensor data"
    if found != meta["sha256"]:
        raise CheckpointError(f"{file}: checksum mismatch: the {covers} differs from what was saved (corrupted file)")
    return state


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "state dict") -> None:
    """Raise `CheckpointError` listing every missing, unexpected or mis-shaped key.

    Called before ``load_state_dict`` so that a bad checkpoint changes nothing in ``model``
    (torch's own strict loading copies the matching tensors before it raises).
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = describe_mismatch(missing, unexpected, mismatched)
    if problems:
        raise CheckpointError(f"{source} does not fit {type(model).__name__}: {problems}")


def describe_mismatch(
    missing: list[str], unexpected: list[str], mismatched: list[str], unexpected_label: str = "unexpected keys"
) -> str:
    """One line listing (the first few of) each kind of key problem; empty when all fit."""
    problems = []
    for label, keys in (("missing keys", missing), (unexpected_label, unexpected), ("shape mismatches", mismatched)):
        if keys:
            problems.append(f"{label} ({len(keys)}): {keys[:8]}")
    return "; ".join(problems)

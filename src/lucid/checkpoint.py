"""lucid checkpoints: a safetensors file of the state dict plus JSON metadata.

Checkpoints are data, never code: safetensors holds the tensor bytes; the model's registry
name, config, pretrained metadata and any extra information are JSON strings in its header,
next to a format version and a SHA-256 digest of the tensors (safetensors itself has no
checksum, so without it a flipped byte in the tensor data would load silently). Writes are atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "save",
    "load",
    "read_metadata",
    "atomic_write",
    "check_state_dict",
    "state_digest",
    "unwrap_model",
]

FORMAT_VERSION = 1
_KEY_VERSION = "lucid.format_version"
_KEY_MODEL = "lucid.model"
_KEY_CONFIG = "lucid.config"
_KEY_EXTRA = "lucid.extra"
_KEY_PRETRAINED = "lucid.pretrained_cfg"
_KEY_DIGEST = "lucid.sha256"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit: the message names the file and the problem."""


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
        if isinstance(module, parallel):
            module = module.module
        elif isinstance(getattr(module, "_orig_mod", None), nn.Module):
            module = module._orig_mod
        else:
            return module


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
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _json_field(name: str, value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"checkpoint {name} must be JSON-serialisable: {exc}") from None


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
    :func:`lucid.models.load_model` can rebuild it, and its ``pretrained_cfg`` (weights
    metadata such as class names) is kept; ``extra`` is any JSON-serialisable dict
    (class names, training information), returned as ``model.checkpoint_extra`` on load.
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
    metadata = {_KEY_VERSION: str(FORMAT_VERSION), _KEY_DIGEST: state_digest(state)}
    if model_name is not None:
        metadata[_KEY_MODEL] = str(model_name)
    if config is not None:
        metadata[_KEY_CONFIG] = _json_field("config", dict(config))
    if extra is not None:
        metadata[_KEY_EXTRA] = _json_field("extra", dict(extra))
    if pretrained is not None:
        metadata[_KEY_PRETRAINED] = _json_field("pretrained_cfg", dict(pretrained))
    return atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata))


def _open_error(path: Path, exc: Exception) -> CheckpointError:
    return CheckpointError(f"{path}: not a readable lucid checkpoint (truncated or corrupted?): {exc}")


def _raw_metadata(file: Path) -> dict[str, str]:
    if not file.is_file():
        raise FileNotFoundError(f"no checkpoint at {file}")
    try:
        with safe_open(str(file), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise _open_error(file, exc) from None


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's metadata: ``format_version``, ``model_name``, ``config``, ``extra``, ``pretrained_cfg``."""
    file = Path(path)
    return _parse_metadata(file, _raw_metadata(file))


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
    try:
        config = json.loads(raw[_KEY_CONFIG]) if _KEY_CONFIG in raw else None
        extra = json.loads(raw[_KEY_EXTRA]) if _KEY_EXTRA in raw else {}
        pretrained = json.loads(raw[_KEY_PRETRAINED]) if _KEY_PRETRAINED in raw else None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{file}: checkpoint metadata is not valid JSON: {exc}") from None
    return {
        "format_version": version,
        "model_name": raw.get(_KEY_MODEL),
        "config": config,
        "extra": extra,
        "pretrained_cfg": pretrained,
        "sha256": raw.get(_KEY_DIGEST),
    }


def load(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read a lucid checkpoint's state dict (every tensor read and checked, nothing executed)."""
    file = Path(path)
    meta = read_metadata(file)  # format and version checks before reading tensors
    try:
        with safe_open(str(file), framework="pt", device=str(map_location)) as handle:
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _open_error(file, exc) from None
    expected = meta["sha256"]
    if expected is not None and state_digest(state) != expected:
        raise CheckpointError(
            f"{file}: checksum mismatch: the tensor data differs from what was saved (corrupted file)"
        )
    return state


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "state dict") -> None:
    """Raise :class:`CheckpointError` listing every missing, unexpected or mis-shaped key.

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

"""Training state for ``--resume`` as data: one safetensors file of tensors plus JSON metadata.

Optimizer, scheduler and EMA state dicts and the RNG states are nested dicts/lists/tuples
mixing tensors and plain values. `flatten` moves every tensor (and numpy array) into a flat
``name -> tensor`` dict and leaves a JSON tree with references to them, so nothing is pickled
and loading runs no code. Dict keys that are not strings (an optimizer's parameter indices) and
tuples survive the JSON round trip through explicit markers.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lucid.errors import RunFolderError

__all__ = [
    "flatten",
    "unflatten",
    "save_state",
    "load_state",
    "rng_state",
    "set_rng_state",
    "STATE_FILE",
    "TrainStateError",
    "checked_state",
    "training_state",
]

STATE_FILE = "train_state.safetensors"
_FORMAT = "lucid.train_state"
_VERSION = 1


class TrainStateError(RunFolderError, ValueError):
    """A training state that is missing, unreadable, tampered with or not written by lucid: the run
    cannot be resumed from it. (Also a ValueError, as the state errors were before.)"""


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "t") -> Any:
    """A JSON-ready copy of ``obj`` whose tensors and arrays are moved into ``tensors``."""
    if isinstance(obj, torch.Tensor):
        name = f"{prefix}.{len(tensors)}"
        tensors[name] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": name}
    if isinstance(obj, np.ndarray):
        name = f"{prefix}.{len(tensors)}"
        tensors[name] = torch.from_numpy(obj.astype(np.int64) if obj.dtype == np.uint32 else obj.copy())
        return {"__ndarray__": name, "dtype": str(obj.dtype)}
    if isinstance(obj, tuple):
        return {"__tuple__": [flatten(v, tensors, prefix) for v in obj]}
    if isinstance(obj, list):
        return [flatten(v, tensors, prefix) for v in obj]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: flatten(v, tensors, prefix) for k, v in obj.items()}
        return {"__items__": [[flatten(k, tensors, prefix), flatten(v, tensors, prefix)] for k, v in obj.items()]}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"training state holds a {type(obj).__name__}, which cannot be stored as data: {obj!r}")


def unflatten(obj: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Invert `flatten`."""
    if isinstance(obj, list):
        return [unflatten(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy().astype(obj["dtype"])
        if "__tuple__" in obj:
            return tuple(unflatten(v, tensors) for v in obj["__tuple__"])
        if "__items__" in obj:
            return {_key(unflatten(k, tensors)): unflatten(v, tensors) for k, v in obj["__items__"]}
        return {k: unflatten(v, tensors) for k, v in obj.items()}
    return obj


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def save_state(path: str | os.PathLike[str], state: Mapping[str, Any]) -> Path:
    """Write ``state`` (nested, with tensors) atomically as safetensors + JSON metadata."""
    from safetensors.torch import save_file

    from lucid.checkpoint import atomic_write

    tensors: dict[str, torch.Tensor] = {}
    tree = flatten(dict(state), tensors)
    metadata = {"format": _FORMAT, "version": str(_VERSION), "state": json.dumps(tree)}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_state(path: str | os.PathLike[str], map_location: str = "cpu") -> dict[str, Any]:
    """Read a file written by `save_state`; a clear error for anything else."""
    from safetensors import SafetensorError, safe_open

    file = Path(path)
    if not file.is_file():
        raise TrainStateError(f"no training state at {file}: nothing to resume (was the run started with lucid train?)")
    try:
        with safe_open(str(file), framework="pt", device=map_location) as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        reason = " ".join(str(exc).split())
        raise TrainStateError(f"{file}: not a readable training state (truncated or corrupted?): {reason}") from None
    if metadata.get("format") != _FORMAT:
        raise TrainStateError(f"{file}: not a lucid training state (format {metadata.get('format')!r})")
    version = metadata.get("version", "0")
    if not version.isdigit() or int(version) > _VERSION:
        raise TrainStateError(f"{file}: training state version {version!r} is not one this lucid reads ({_VERSION})")
    try:
        return unflatten(json.loads(metadata["state"]), tensors)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        # a tampered tree: a missing "state" entry or tensor reference, wrong types, deep nesting
        raise TrainStateError(
            f"{file}: the training state's metadata is damaged or tampered with ({type(exc).__name__}: {exc})"
        ) from None


def training_state(
    *,
    epoch: int,
    best: Mapping[str, Any],
    history: list[dict[str, Any]],
    seconds: float,
    config: Mapping[str, Any],
    world_size: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rngs: list[Any],
    **extra: Any,
) -> dict[str, Any]:
    """The training state a run of either task saves after each epoch, for `save_state`:
    the fields `checked_state` checks on resume (``rngs``: one `rng_state` per rank,
    stored as ``rng``; ``seconds`` spent over every session) and the task's own ``extra``
    fields (a classification run's EMA and budget plan, a segmentation run's planned epochs)."""
    return {
        "epoch": epoch,
        "best": dict(best),
        "history": history,
        "seconds": seconds,
        "config": dict(config),
        "world_size": world_size,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rngs,
        **extra,
    }


# What training_state writes and checked_state requires, with the types it must have.
_STATE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "epoch": int,
    "best": dict,
    "history": list,
    "seconds": (int, float),
    "config": dict,
    "model": dict,
    "optimizer": dict,
    "scheduler": dict,
    "rng": list,
}


def checked_state(state: Any, file: Path, best_key: str) -> dict[str, Any]:
    """``state`` if it has every field of a training state with the right type and agreeing
    counts (each history record and the ``best`` record carry the score ``best_key``, e.g.
    ``val_top1`` or ``val_miou``); a `TrainStateError` naming the file and the field otherwise."""
    if not isinstance(state, dict):
        raise TrainStateError(f"{file}: not a training state (its tree is a {type(state).__name__})")
    for name, kind in _STATE_FIELDS.items():
        if name not in state:
            raise TrainStateError(f"{file}: the training state has no {name!r} (tampered or incomplete)")
        if not isinstance(state[name], kind) or isinstance(state[name], bool):
            raise TrainStateError(f"{file}: the training state's {name!r} is a {type(state[name]).__name__}")
    epoch, history, best = state["epoch"], state["history"], state["best"]
    if epoch < 1 or len(history) != epoch or not all(isinstance(r, dict) and best_key in r for r in history):
        raise TrainStateError(f"{file}: the training state's history does not match its {epoch} epochs")
    if not isinstance(best.get(best_key), (int, float)) or not isinstance(best.get("epoch"), int):
        raise TrainStateError(f"{file}: the training state's 'best' record is damaged")
    if not np.isfinite(state["seconds"]) or state["seconds"] < 0:
        raise TrainStateError(f"{file}: the training state's 'seconds' is {state['seconds']!r}")
    return state


def rng_state(loader_generator: torch.Generator | None = None) -> dict[str, Any]:
    """The RNG states of Python, numpy, torch (CPU and CUDA) and the data loader's generator."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(legacy=False),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if loader_generator is not None:
        state["loader"] = loader_generator.get_state()
    return state


def set_rng_state(state: Mapping[str, Any], loader_generator: torch.Generator | None = None) -> None:
    """Restore what `rng_state` returned."""
    random.setstate(_as_python_state(state["python"]))
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if loader_generator is not None and "loader" in state:
        loader_generator.set_state(state["loader"])


def _as_python_state(value: Any) -> tuple:
    """``random.setstate`` wants tuples all the way down."""
    return tuple(_as_python_state(v) if isinstance(v, (list, tuple)) else v for v in value)

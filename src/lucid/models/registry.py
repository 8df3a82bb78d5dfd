"""A name -> factory registry, so tools (CLI, checkpoints, benchmarks) can build models by name."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from torch import nn

__all__ = ["register_model", "create_model", "list_models", "get_model_factory", "model_task"]

Factory = TypeVar("Factory", bound=Callable[..., nn.Module])
_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_TASKS: dict[str, str] = {}  # model name -> the task its outputs serve (lucid.tasks)


def register_model(fn: Factory | None = None, *, name: str | None = None, task: str = "classify") -> Any:
    """Register a factory under ``name`` (default: its ``__name__``) for ``task`` (``classify``,
    ``segment``, ``detect``: what `model_task` answers); usable bare or with arguments."""

    def decorate(factory: Factory) -> Factory:
        key = name or factory.__name__
        if key in _REGISTRY and _REGISTRY[key] is not factory:
            raise ValueError(f"a model named {key!r} is already registered")
        _REGISTRY[key] = factory
        _TASKS[key] = task
        return factory

    return decorate(fn) if fn is not None else decorate


def get_model_factory(name: str) -> Callable[..., nn.Module]:
    """The registered factory for ``name``; unknown names list what is available."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown model {name!r}{hint}; registered models: {', '.join(sorted(_REGISTRY))}") from None


def create_model(
    name: str, *, features_only: bool = False, out_indices: Sequence[int] | None = None, **kwargs: Any
) -> nn.Module:
    """Build the registered model ``name``; ``kwargs`` go to its factory.

    ``features_only=True`` returns the backbone as a feature extractor instead (timm's
    convention): ``model.as_features(out_indices)``, whose forward gives the feature maps of the
    levels ``out_indices`` picks (default: all) and whose ``feature_info`` describes them.
    Weights (``weights=...``) load into the full model first, so the extractor carries them.
    """
    if not isinstance(features_only, bool):
        raise TypeError(f"features_only must be a bool, got {features_only!r} ({type(features_only).__name__})")
    if out_indices is not None and not features_only:
        raise ValueError("out_indices selects feature levels and needs features_only=True")
    model = get_model_factory(name)(**kwargs)
    if not features_only:
        return model
    as_features = getattr(model, "as_features", None)
    if as_features is None:
        raise TypeError(f"model {name!r} ({type(model).__name__}) has no as_features(); it cannot be features_only")
    return as_features(out_indices)


def list_models(pattern: str = "*") -> list[str]:
    """Sorted registered names matching a shell-style ``pattern``."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def model_task(name: str) -> str | None:
    """The task the registered model ``name`` serves, or None for a name not registered."""
    return _TASKS.get(name)

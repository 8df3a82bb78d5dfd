"""lucid: MobileNet-v3, complete, on PyTorch.

lucid does not wrap PyTorch: ``lucid.Tensor is torch.Tensor`` and the tensor factories,
``no_grad``, ``manual_seed`` and the dtypes below are torch's own objects, so every
lucid model is an ordinary ``torch.nn.Module`` that works with the whole PyTorch ecosystem.
"""

from __future__ import annotations

from lucid import clock  # noqa: F401  (first: a command's clock starts before torch loads)

# isort: split
from torch import (  # noqa: F401  (re-exported on purpose)
    Tensor,
    arange,
    bfloat16,
    bool,
    cat,
    device,
    dtype,
    empty,
    float16,
    float32,
    float64,
    full,
    int8,
    int16,
    int32,
    int64,
    no_grad,
    ones,
    rand,
    randint,
    randn,
    stack,
    tensor,
    uint8,
    zeros,
)

from lucid import nn  # noqa: F401
from lucid.checkpoint import load, save  # noqa: F401

__version__ = "0.1.0"

import torch as _torch

# Looked up on each access, not bound at import: torch.compile (dynamo) re-binds
# ``torch.manual_seed`` to a wrapped function when it loads, and ``lucid.manual_seed`` must stay
# the very object torch exposes.
_FORWARDED = frozenset({"manual_seed", "seed", "initial_seed"})
# Sub-packages reachable as attributes after ``import lucid`` without importing them eagerly
# (keeps ``import lucid`` and ``lucid --help`` fast).
_LAZY_SUBMODULES = frozenset({"models", "visual", "train", "deploy"})


def __getattr__(name: str):
    if name in _FORWARDED:
        return getattr(_torch, name)
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"lucid.{name}")
    raise AttributeError(f"module 'lucid' has no attribute {name!r}")


__all__ = [
    "Tensor",
    "arange",
    "bfloat16",
    "bool",
    "cat",
    "device",
    "dtype",
    "empty",
    "float16",
    "float32",
    "float64",
    "full",
    "int8",
    "int16",
    "int32",
    "int64",
    "manual_seed",
    "no_grad",
    "ones",
    "rand",
    "randint",
    "randn",
    "stack",
    "tensor",
    "uint8",
    "zeros",
    "nn",
    "save",
    "load",
    "__version__",
]

"""``lucid.nn.functional``: ``torch.nn.functional`` plus ``hard_swish`` / ``hard_sigmoid``."""

from __future__ import annotations

import torch.nn.functional as _F
from torch.nn.functional import *  # noqa: F401,F403

hard_swish = _F.hardswish
hard_sigmoid = _F.hardsigmoid


def __getattr__(name: str):
    return getattr(_F, name)

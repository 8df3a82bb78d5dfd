"""``lucid.nn``: all of ``torch.nn`` plus lucid's spellings ``HardSwish`` and ``HardSigmoid``.

The two activations subclass torch's ``Hardswish``/``Hardsigmoid`` so they compute, script and
export exactly like them (ONNX ``HardSwish``/``HardSigmoid``) while ``print(model)`` shows the
names lucid's documentation uses.
"""

from __future__ import annotations

import torch.nn as _torch_nn
from torch.nn import *  # noqa: F401,F403  (lucid.nn is torch.nn plus the names below)
from torch.nn import init, parameter, utils  # noqa: F401

# lucid's functional (torch's plus two names) replaces the torch.nn.functional that ``import *`` brought.
from lucid.nn import functional  # type: ignore[no-redef]  # noqa: F401


class HardSwish(_torch_nn.Hardswish):
    """x * relu6(x + 3) / 6, i.e. ``torch.nn.Hardswish`` under lucid's name."""


class HardSigmoid(_torch_nn.Hardsigmoid):
    """relu6(x + 3) / 6, i.e. ``torch.nn.Hardsigmoid`` under lucid's name."""


def __getattr__(name: str):
    # Anything torch.nn has that ``import *`` did not bring (private helpers, late additions).
    return getattr(_torch_nn, name)

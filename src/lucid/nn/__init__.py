"""``lucid.nn``: all of ``torch.nn`` plus lucid's spellings ``HardSwish`` and ``HardSigmoid``,
and ``MirrorAveraged`` (test-time flip).

The two activations subclass torch's ``Hardswish``/``Hardsigmoid`` so they compute, script and
export exactly like them (ONNX ``HardSwish``/``HardSigmoid``) while ``print(model)`` shows the
names lucid's documentation uses.
"""

from __future__ import annotations

import torch as _torch
import torch.nn as _torch_nn
from torch.nn import *  # noqa: F401,F403  (lucid.nn is torch.nn plus the names below)
from torch.nn import init, parameter, utils  # noqa: F401

# lucid's functional (torch's plus two names) replaces the torch.nn.functional that ``import *`` brought.
from lucid.nn import functional  # type: ignore[no-redef]  # noqa: F401


class HardSwish(_torch_nn.Hardswish):
    """x * relu6(x + 3) / 6, i.e. ``torch.nn.Hardswish`` under lucid's name."""


class HardSigmoid(_torch_nn.Hardsigmoid):
    """relu6(x + 3) / 6, i.e. ``torch.nn.Hardsigmoid`` under lucid's name."""


class MirrorAveraged(_torch_nn.Module):
    """``model``'s output averaged over each image and its left-right mirror: test-time flip.

    A network trained with random flips scores a photo and its mirror a little differently, and
    the mean of the two outputs is a better estimate than either (docs/training.md measures it).
    Outputs ``(N, K)`` (logits) are averaged as they come; dense outputs ``(N, C, H, W)`` are
    mirrored back first, so each pixel's scores stay where its pixel is. It costs two forward
    passes, and holds no parameters of its own: ``model``'s are used as they are.
    """

    def __init__(self, model: _torch_nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: _torch.Tensor) -> _torch.Tensor:
        if not isinstance(images, _torch.Tensor) or images.dim() != 4:
            got = f"shape {tuple(images.shape)}" if isinstance(images, _torch.Tensor) else type(images).__name__
            raise ValueError(f"MirrorAveraged takes a batch of images (N, C, H, W), got {got}")
        outputs, mirrored = self.model(images), self.model(images.flip(-1))
        if not isinstance(outputs, _torch.Tensor) or outputs.dim() not in (2, 4):
            got = f"shape {tuple(outputs.shape)}" if isinstance(outputs, _torch.Tensor) else type(outputs).__name__
            raise ValueError(f"MirrorAveraged averages (N, K) or (N, C, H, W) outputs; the model gave {got}")
        if outputs.dim() == 4:
            mirrored = mirrored.flip(-1)
        return (outputs + mirrored) / 2


def __getattr__(name: str):
    # Anything torch.nn has that ``import *`` did not bring (private helpers, late additions).
    return getattr(_torch_nn, name)

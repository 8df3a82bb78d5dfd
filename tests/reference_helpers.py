"""Test helpers shared by several test files (reference comparisons against torchvision/timm).

:func:`randomise_batchnorm` is the suite's one BatchNorm randomiser; the shared fixtures are in
``tests/conftest.py`` (``trained_digits`` yields a :class:`TrainedDigits`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch


def randomise_batchnorm(
    model: torch.nn.Module, seed: int = 0, *, weights: bool = False, calibrate: torch.Tensor | None = None
) -> torch.nn.Module:
    """Non-trivial BN affine parameters and statistics so outputs depend on every layer (and on padding).

    Drawn from a private generator (``seed``), so the global RNG is untouched. ``weights=True``
    also redraws every convolution and linear layer variance-preserving (normal / sqrt(fan_in)).
    ``calibrate`` (an input batch) measures the BN statistics on it and then perturbs them: the
    random network's activations stay of order one and its float32 rounding noise near 1e-6, so a
    1e-5 comparison tests a conversion, not the noise. Without it the statistics are drawn.
    Returns the model in eval mode.
    """
    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        if weights:
            for module in model.modules():
                if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                    fan_in = module.weight[0].numel()
                    module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / math.sqrt(fan_in))
                    if module.bias is not None:
                        module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
        for m in norms:
            m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
            m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.2)
        if calibrate is None:
            for m in norms:
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
            return model.eval()
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: exactly the statistics of the batch below
        model.train()
        model(calibrate)
        for m, momentum in zip(norms, momenta, strict=True):
            m.running_mean.add_(torch.randn(m.num_features, generator=generator) * 0.1)
            scale = torch.rand(m.num_features, generator=generator) * 0.45 + 0.8
            m.running_var.mul_(scale).clamp_(min=0.05)
            m.momentum = momentum
    return model.eval()


def assert_close_scaled(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal up to float32 rounding, measured against the output's scale (random BN makes it large)."""
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * max(1.0, expected.abs().max().item()))


@dataclass(frozen=True)
class TrainedDigits:
    """A finished digits run: its folder, best checkpoint and best held-out top-1 (a fraction)."""

    run: Path
    checkpoint: Path
    best_val_top1: float

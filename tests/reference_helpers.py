"""Test helpers shared by several test files (reference comparisons against torchvision/timm)."""

from __future__ import annotations

import torch


def randomise_batchnorm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-trivial BN affine and statistics so outputs depend on every layer (and on padding)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.2)
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
    return model.eval()


def assert_close_scaled(got: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal up to float32 rounding, measured against the output's scale (random BN makes it large)."""
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * max(1.0, expected.abs().max().item()))

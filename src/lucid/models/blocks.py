"""The two building blocks of MobileNet-v3: squeeze-and-excite and the inverted bottleneck.

Class and attribute names are part of lucid's contract: they are what ``print(model)``, the
state_dict keys and lucid checkpoints show.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lucid.nn import HardSigmoid, HardSwish

__all__ = ["make_divisible", "_SEBlock", "_InvertedBottleneck_V3"]

NormFactory = Callable[[int], nn.Module]


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` without losing more than 10 %.

    This is the rule of TF-slim's MobileNet code that torchvision, timm and Keras share; the
    canonical SE and width-multiplied channel counts (and so the published weights) depend on it.
    """
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _batch_norm(eps: float, momentum: float) -> NormFactory:
    return lambda channels: nn.BatchNorm2d(channels, eps=eps, momentum=momentum)


class _SEBlock(nn.Module):
    """Squeeze-and-excite: scale each channel by hsigmoid(fc2(relu(fc1(avgpool(x)))))."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Linear(channels, squeeze_channels)
        self.fc2 = nn.Linear(squeeze_channels, channels)
        self.relu = nn.ReLU()
        self.hsigmoid = HardSigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.flatten(self.avgpool(x), 1)
        scale = self.hsigmoid(self.fc2(self.relu(self.fc1(scale))))
        return x * scale[:, :, None, None]


class _InvertedBottleneck_V3(nn.Module):
    """Expand (1x1) -> depthwise (kxk) -> optional SE -> project (1x1), residual when shapes allow.

    The expand stage exists only when ``in_channels < mid_channels``; the residual is added when
    ``stride == 1`` and ``in_channels == out_channels``.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        use_se: bool,
        use_hswish: bool,
        se_reduction: int,
        *,
        se_divisor: int | None = None,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.01,
    ) -> None:
        super().__init__()
        norm = _batch_norm(bn_eps, bn_momentum)
        activation: Callable[[], nn.Module] = HardSwish if use_hswish else nn.ReLU
        self.use_residual = stride == 1 and in_channels == out_channels

        layers: list[nn.Module] = []
        if in_channels < mid_channels:
            layers.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, mid_channels, 1, bias=False), norm(mid_channels), activation()
                )
            )
        layers.append(
            nn.Sequential(
                nn.Conv2d(
                    mid_channels,
                    mid_channels,
                    kernel_size,
                    stride=stride,
                    padding=(kernel_size - 1) // 2,
                    groups=mid_channels,
                    bias=False,
                ),
                norm(mid_channels),
                activation(),
            )
        )
        if use_se:
            squeeze = mid_channels // se_reduction
            if se_divisor is not None:
                squeeze = make_divisible(squeeze, se_divisor)
            layers.append(_SEBlock(mid_channels, squeeze))
        layers.append(nn.Sequential(nn.Conv2d(mid_channels, out_channels, 1, bias=False), norm(out_channels)))
        self.residual = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        if self.use_residual:
            out = out + x
        return out

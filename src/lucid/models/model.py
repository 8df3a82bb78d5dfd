"""``MobileNet_V3``: the network that a :class:`MobileNetV3Config` describes."""

from __future__ import annotations

import torch
from torch import nn

from lucid.models.blocks import _InvertedBottleneck_V3
from lucid.models.config import MobileNetV3Config
from lucid.nn import HardSwish

__all__ = ["MobileNet_V3", "init_weights"]


def _check_input(x: torch.Tensor, in_channels: int) -> None:
    """Fail early with the shapes in the message instead of deep inside a convolution."""
    if x.dim() != 4:
        raise ValueError(
            f"MobileNet_V3 expects a 4-d input of shape (N, C, H, W), got a {x.dim()}-d tensor "
            f"of shape {tuple(x.shape)}"
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"MobileNet_V3 was built for in_channels={in_channels} but the input has "
            f"{x.shape[1]} channels (shape {tuple(x.shape)})"
        )
    if not x.is_floating_point():
        raise TypeError(f"MobileNet_V3 expects a floating-point input, got dtype {x.dtype}")


def init_weights(module: nn.Module) -> None:
    """torchvision's MobileNet-v3 initialisation; draws from torch's global RNG (``lucid.manual_seed``)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class MobileNet_V3(nn.Module):
    """MobileNet-v3 (Howard et al., 2019) built from a :class:`MobileNetV3Config`.

    ``conv_first`` (stem) -> ``bottlenecks`` -> ``conv_last`` -> ``avgpool`` -> ``fc1`` -> ``fc2``.
    ``model(x)`` takes ``(N, in_channels, H, W)`` floats and returns ``(N, num_classes)`` logits.
    """

    def __init__(self, config: MobileNetV3Config) -> None:
        super().__init__()
        if not isinstance(config, MobileNetV3Config):
            raise TypeError(f"MobileNet_V3 expects a MobileNetV3Config, got {type(config).__name__}")
        self.config = config
        # The registry name the model was built under; presets overwrite it, checkpoints record it.
        self.model_name = "mobilenet_v3"
        self.in_channels = config.in_channels
        self.num_classes = config.num_classes
        eps, momentum = config.bn_eps, config.bn_momentum

        stem = config.stem_channels
        self.conv_first = nn.Sequential(
            nn.Conv2d(config.in_channels, stem, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(stem, eps=eps, momentum=momentum),
            HardSwish(),
        )
        blocks: list[nn.Module] = []
        channels = stem
        for index, spec in enumerate(config.specs):
            if spec.mid_channels < channels:
                raise ValueError(
                    f"bottleneck_cfg[{index}]: mid_channels={spec.mid_channels} is smaller than the "
                    f"block's input channels {channels}; an inverted bottleneck only expands"
                )
            blocks.append(
                _InvertedBottleneck_V3(
                    channels,
                    spec.mid_channels,
                    spec.out_channels,
                    spec.kernel_size,
                    spec.stride,
                    spec.use_se,
                    spec.use_hswish,
                    spec.se_reduction,
                    se_divisor=config.se_divisor,
                    bn_eps=eps,
                    bn_momentum=momentum,
                )
            )
            channels = spec.out_channels
        self.bottlenecks = nn.Sequential(*blocks)

        head = config.specs[-1].mid_channels
        self.num_features = head
        self.conv_last = nn.Sequential(
            nn.Conv2d(channels, head, 1, bias=False),
            nn.BatchNorm2d(head, eps=eps, momentum=momentum),
            HardSwish(),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Sequential(nn.Linear(head, config.last_channels), HardSwish())
        self.fc2 = nn.Sequential(nn.Dropout(p=config.dropout), nn.Linear(config.last_channels, config.num_classes))
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem, bottlenecks and ``conv_last``: the ``(N, num_features, H/32, W/32)`` feature map."""
        if not torch.jit.is_scripting():
            _check_input(x, self.in_channels)
        x = self.conv_first(x)
        x = self.bottlenecks(x)
        return self.conv_last(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, ``fc1`` and (unless ``pre_logits``) ``fc2`` on a feature map."""
        x = torch.flatten(self.avgpool(x), 1)
        x = self.fc1(x)
        if pre_logits:
            return x
        return self.fc2(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

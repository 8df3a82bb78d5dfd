"""The two building blocks of MobileNet-v3: squeeze-and-excite and the inverted bottleneck.

Class and attribute names are part of lucid's contract: they are what ``print(model)``, the
state_dict keys and lucid checkpoints show.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lucid.models.config import PADDINGS, BlockLayout, make_divisible
from lucid.nn import HardSigmoid, HardSwish

__all__ = [
    "make_divisible",
    "Conv2dSame",
    "ReachableTapsConv2d",
    "use_reachable_taps",
    "cuts_exactly",
    "conv2d",
    "conv_bn_act",
    "activation_layer",
    "SqueezeExcite",
    "InvertedBottleneck",
    "_SEBlock",
    "_InvertedBottleneck_V3",
]


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> int:
    """Total padding TensorFlow's SAME adds along one axis: output = ceil(size / stride)."""
    out = (size + stride - 1) // stride
    return max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's SAME padding, computed from the input size at each call.

    A strided SAME convolution pads one more row/column at the bottom/right when the total is
    odd, which PyTorch's static ``padding`` cannot express; TF-trained weights need it to give
    the same outputs. Pure torch ops, so it scripts, compiles and exports like ``nn.Conv2d``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=0,
            dilation=dilation,
            groups=groups,
            bias=bias,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h = _same_padding(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
        pad_w = _same_padding(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
        if pad_h > 0 or pad_w > 0:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return self._conv_forward(x, self.weight, self.bias)


class ReachableTapsConv2d(nn.Conv2d):
    """A stride-1, symmetrically padded convolution computed from the kernel taps that can reach its map.

    Output row ``y`` of such a convolution reads input rows ``y - p .. y + p``; on an ``H``-row map
    only the ``2H - 1`` central kernel rows ever meet a real row, the others only meet the zero
    padding (likewise columns). So a 5x5 kernel on a 2x2 map (the last stage of
    ``mobilenet_v3_small_lowres`` at 32 px) gives the same outputs and gradients from its central
    3x3, and the cut taps' gradients are zero either way. oneDNN computes a depthwise weight
    gradient on such tiny maps slowly and in proportion to the kernel's area, so training steps
    run faster (docs/training.md). The parameters, their names and the results are `nn.Conv2d`'s.
    `use_reachable_taps` puts it in a model for training; models are built with `nn.Conv2d`, which
    is what ``print(model)``, the charts and every export show.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel_h, kernel_w = self.kernel_size
        reach_h = min(kernel_h, 2 * x.shape[-2] - 1)
        reach_w = min(kernel_w, 2 * x.shape[-1] - 1)
        if (reach_h, reach_w) == (kernel_h, kernel_w) or not cuts_exactly(self):
            return self._conv_forward(x, self.weight, self.bias)
        cut_h, cut_w = (kernel_h - reach_h) // 2, (kernel_w - reach_w) // 2
        weight = self.weight[:, :, cut_h : cut_h + reach_h, cut_w : cut_w + reach_w]
        return F.conv2d(x, weight, self.bias, 1, ((reach_h - 1) // 2, (reach_w - 1) // 2), 1, self.groups)


def cuts_exactly(conv: nn.Conv2d) -> bool:
    """Whether cutting ``conv``'s kernel to the taps that reach the map keeps its results: stride 1,
    dilation 1, odd kernel sides, zero padding of half the kernel, and a kernel wider than 1x1."""
    kernel_h, kernel_w = conv.kernel_size
    half = ((kernel_h - 1) // 2, (kernel_w - 1) // 2)
    shape = kernel_h % 2 == 1 and kernel_w % 2 == 1 and kernel_h * kernel_w > 1
    return (
        shape
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.padding == half
        and conv.padding_mode == "zeros"
    )


def use_reachable_taps(model: nn.Module) -> int:
    """Make every plain ``nn.Conv2d`` of ``model`` that `cuts_exactly` a `ReachableTapsConv2d`, in
    place, and return how many. The modules keep their parameters, buffers and hooks (only their
    class changes), so an optimizer, a state_dict or a checkpoint sees no difference."""
    count = 0
    for module in model.modules():
        if type(module) is nn.Conv2d and cuts_exactly(module):
            module.__class__ = ReachableTapsConv2d
            count += 1
    return count


def conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = False,
    padding: str = "symmetric",
) -> nn.Conv2d:
    """A convolution padded the ``padding`` way (see `MobileNetV3Config`).

    SAME equals PyTorch's symmetric padding for a stride-1 convolution whose receptive field is
    odd, so only strided (or even-field) SAME convolutions need `Conv2dSame`.
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(map(repr, PADDINGS))}; got {padding!r}")
    span = (kernel_size - 1) * dilation
    if padding == "same" and (stride > 1 or span % 2 == 1):
        return Conv2dSame(in_channels, out_channels, kernel_size, stride, dilation, groups, bias)
    return nn.Conv2d(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=(kernel_size - 1) // 2 * dilation,
        dilation=dilation,
        groups=groups,
        bias=bias,
    )


def activation_layer(name: str) -> nn.Module:
    """``"hardswish"`` -> lucid's HardSwish, ``"relu"`` -> ReLU (the activations MobileNet-v3 uses).

    Both run in place, as torchvision's do: every activation follows a BatchNorm or Linear whose
    output nothing else reads, and skipping the extra tensor made eager training ~10 % faster.
    """
    if name == "hardswish":
        return HardSwish(inplace=True)
    if name == "relu":
        return nn.ReLU(inplace=True)
    raise ValueError(f"activation must be 'hardswish' or 'relu'; got {name!r}")


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    *,
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    padding: str = "symmetric",
    bn_eps: float = 1e-5,
    bn_momentum: float = 0.01,
    activation: str | None = None,
) -> nn.Sequential:
    """``Sequential(conv, BatchNorm2d[, activation])``: every stage of the network (keys ``0``, ``1``, ``2``).

    The convolution has no bias (the BatchNorm's shift takes its place); ``activation`` None
    leaves the stage linear (the blocks' projection).
    """
    layers: list[nn.Module] = [
        conv2d(
            in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, groups=groups, padding=padding
        ),
        nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum),
    ]
    if activation is not None:
        layers.append(activation_layer(activation))
    return nn.Sequential(*layers)


class _SEBlock(nn.Module):
    """Squeeze-and-excite: scale each channel by hsigmoid(fc2(relu(fc1(avgpool(x)))))."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Linear(channels, squeeze_channels)
        self.fc2 = nn.Linear(squeeze_channels, channels)
        self.relu = nn.ReLU(inplace=True)
        self.hsigmoid = HardSigmoid(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.flatten(self.avgpool(x), 1)
        scale = self.hsigmoid(self.fc2(self.relu(self.fc1(scale))))
        return x * scale[:, :, None, None]


class _InvertedBottleneck_V3(nn.Module):
    """Expand (1x1) -> depthwise (kxk) -> optional SE -> project (1x1), residual when shapes allow.

    Built from its `BlockLayout`, which holds every decision: the expand
    stage exists only when the block widens (``in_channels < mid_channels``), the residual is
    ``layout.use_residual``, the depthwise stride ``layout.conv_stride`` (a dilated block runs
    at stride 1) and the SE width ``layout.se_channels``.
    """

    def __init__(
        self,
        layout: BlockLayout,
        *,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.01,
        padding: str = "symmetric",
    ) -> None:
        super().__init__()
        if not isinstance(layout, BlockLayout):
            raise TypeError(f"_InvertedBottleneck_V3 expects a BlockLayout, got {type(layout).__name__}")
        activation = "hardswish" if layout.use_hswish else "relu"
        mid = layout.mid_channels
        self.use_residual = layout.use_residual

        layers: list[nn.Module] = []
        if layout.in_channels < mid:
            layers.append(
                conv_bn_act(layout.in_channels, mid, 1, activation=activation, bn_eps=bn_eps, bn_momentum=bn_momentum)
            )
        layers.append(
            conv_bn_act(
                mid,
                mid,
                layout.kernel_size,
                stride=layout.conv_stride,
                dilation=layout.dilation,
                groups=mid,
                padding=padding,
                activation=activation,
                bn_eps=bn_eps,
                bn_momentum=bn_momentum,
            )
        )
        if layout.use_se:
            layers.append(_SEBlock(mid, layout.se_channels))
        layers.append(conv_bn_act(mid, layout.out_channels, 1, bn_eps=bn_eps, bn_momentum=bn_momentum))
        self.residual = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual(x)
        if self.use_residual:
            out = out + x
        return out

    def forward_with_tap(self, x: torch.Tensor, stage: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The block's output and the output of its residual stage ``stage`` (0: expand when present).

        What a feature tap inside the block reads (``MobileNetV3Features``); the output equals ``forward``'s.
        """
        out = x
        inner = x
        for index, layer in enumerate(self.residual):
            out = layer(out)
            if index == stage:
                inner = out
        if self.use_residual:
            out = out + x
        return out, inner


# Public names of the two blocks for code outside this module. The classes keep their underscored
# names because those are what print(model) has always shown (see the module docstring).
SqueezeExcite = _SEBlock
InvertedBottleneck = _InvertedBottleneck_V3

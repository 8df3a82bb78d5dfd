"""``MobileNet_V3``: the network that a `MobileNetV3Config` describes, and its backbone view.

Besides classification the model has timm's interface: ``forward_features``, ``forward_head``,
``get_classifier``/``reset_classifier``, ``feature_info`` and `MobileNetV3Features`
(``model.as_features(out_indices)``), which returns the multi-scale feature maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lucid.models.blocks import InvertedBottleneck, activation_layer, conv_bn_act
from lucid.models.config import MobileNetV3Config, NetworkLayout

__all__ = [
    "FEATURE_LOCATIONS",
    "FeatureInfo",
    "MobileNet_V3",
    "MobileNetV3Features",
    "feature_levels",
    "tap_points",
    "init_weights",
]


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


class FeatureInfo(list):
    """A list of ``{"module", "num_chs", "reduction"}`` dicts, one per feature level, as in timm.

    ``channels()``, ``reduction()`` and ``module_name()`` return one value per level (or the
    value of level ``idx``), like timm's ``FeatureInfo``.
    """

    def _get(self, key: str, idx: int | None) -> Any:
        return [level[key] for level in self] if idx is None else self[idx][key]

    def channels(self, idx: int | None = None) -> Any:
        """Channels of every level (or of level ``idx``)."""
        return self._get("num_chs", idx)

    def reduction(self, idx: int | None = None) -> Any:
        """Stride relative to the input of every level (or of level ``idx``)."""
        return self._get("reduction", idx)

    def module_name(self, idx: int | None = None) -> Any:
        """Name of the module whose output each level is (or level ``idx``'s)."""
        return self._get("module", idx)


FEATURE_LOCATIONS = ("bottleneck", "expansion")


def feature_levels(layout: NetworkLayout, location: str = "bottleneck") -> FeatureInfo:
    """The feature levels of a network: the last output at each resolution, then ``conv_last``.

    A level ends where the next block has a table stride > 1 (timm's rule), so the presets have
    five levels at reductions 2, 4, 8, 16, 32. The deepest level is ``conv_last``'s output (wider
    than the last block's, as in timm). With ``dilated`` the levels stay, the last reductions are 16.

    ``location="expansion"`` takes each level that ends before a strided block at that block's
    expansion instead (the output of its expand stage, ``bottlenecks.{i}.residual.0``: same
    resolution, more channels), as torchvision's SSDLite takes its stride-16 map (section 6.3 of
    the MobileNet-v3 paper). timm's ``feature_location="expansion"`` taps a point in the same
    spirit (the input of the stage's last projection). A strided block without expand stage
    (small's first block) keeps the block-output level.
    """
    if location not in FEATURE_LOCATIONS:
        raise ValueError(f"feature_location must be one of {', '.join(map(repr, FEATURE_LOCATIONS))}; got {location!r}")
    levels = FeatureInfo()
    reduction = 2  # the stem's stride
    previous = {"module": "conv_first", "num_chs": layout.stem_channels, "reduction": reduction}
    for index, block in enumerate(layout.blocks):
        if block.stride > 1:
            if location == "expansion" and block.in_channels < block.mid_channels:
                previous = {
                    "module": f"bottlenecks.{index}.residual.0",
                    "num_chs": block.mid_channels,
                    "reduction": reduction,
                }
            levels.append(previous)
        reduction *= block.conv_stride
        previous = {"module": f"bottlenecks.{index}", "num_chs": block.out_channels, "reduction": reduction}
    levels.append({"module": "conv_last", "num_chs": layout.head_channels, "reduction": reduction})
    return levels


def tap_points(layout: NetworkLayout) -> FeatureInfo:
    """Every point whose output a `MobileNetV3Features` can return, in forward order.

    ``conv_first``; for each block ``bottlenecks.{i}.residual.{j}`` (each stage but the last:
    expand, depthwise, squeeze-excite) and then the block output ``bottlenecks.{i}``;
    ``conv_last``. Each entry is a ``{"module", "num_chs", "reduction"}`` dict like a feature level.
    """
    points = FeatureInfo()
    reduction = 2
    points.append({"module": "conv_first", "num_chs": layout.stem_channels, "reduction": reduction})
    for index, block in enumerate(layout.blocks):
        stages = []
        if block.in_channels < block.mid_channels:
            stages.append(reduction)  # expand: before the stride
        stages.append(reduction * block.conv_stride)  # depthwise
        if block.use_se:
            stages.append(reduction * block.conv_stride)
        for stage, at in enumerate(stages):
            points.append(
                {"module": f"bottlenecks.{index}.residual.{stage}", "num_chs": block.mid_channels, "reduction": at}
            )
        reduction *= block.conv_stride
        points.append({"module": f"bottlenecks.{index}", "num_chs": block.out_channels, "reduction": reduction})
    points.append({"module": "conv_last", "num_chs": layout.head_channels, "reduction": reduction})
    return points


def _normalise_out_indices(out_indices: Sequence[int] | None, count: int) -> list[int]:
    """Validate feature-level indices (negative ones count from the end) into sorted positive ones."""
    if out_indices is None:
        return list(range(count))
    if isinstance(out_indices, int) or not isinstance(out_indices, Sequence):
        raise TypeError(f"out_indices must be a sequence of ints, got {out_indices!r} ({type(out_indices).__name__})")
    if len(out_indices) == 0:
        raise ValueError("out_indices must name at least one feature level, got an empty sequence")
    chosen = []
    for index in out_indices:
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"out_indices must hold ints, got {index!r} ({type(index).__name__})")
        if not -count <= index < count:
            raise ValueError(f"out_indices entry {index} is out of range: the model has {count} feature levels")
        chosen.append(index % count)
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"out_indices {tuple(out_indices)} names a feature level twice")
    return sorted(chosen)


class MobileNet_V3(nn.Module):
    """MobileNet-v3 (Howard et al., 2019) built from a `MobileNetV3Config`.

    ``conv_first`` (stem) -> ``bottlenecks`` -> ``conv_last`` -> ``avgpool`` -> ``fc1`` -> ``fc2``.
    ``model_name`` is the registry name it is built under (the presets' factories pass theirs).
    ``model(x)`` takes ``(N, in_channels, H, W)`` floats and returns ``(N, num_classes)`` logits
    (``(N, last_channels)`` pre-logits when the config has ``classifier=False``).

    timm's interface: ``forward_features`` / ``forward_head(x, pre_logits)``, ``get_classifier``,
    ``reset_classifier(num_classes)``, ``feature_info`` (one dict per feature level) and
    ``as_features(out_indices)`` for the multi-scale feature maps.
    """

    def __init__(self, config: MobileNetV3Config, *, model_name: str = "mobilenet_v3") -> None:
        super().__init__()
        if not isinstance(config, MobileNetV3Config):
            raise TypeError(f"MobileNet_V3 expects a MobileNetV3Config, got {type(config).__name__}")
        if not isinstance(model_name, str) or not model_name:
            raise TypeError(f"model_name must be a non-empty str, got {model_name!r}")
        self.config = config
        # The registry name the model is built under (a preset's factory passes its own);
        # checkpoints record it so that load_model rebuilds the same network.
        self.model_name = model_name
        # Metadata of loaded pretrained weights (class names, mean/std, input size); set when
        # weights are loaded (lucid.models.loading), None for a freshly initialised model.
        self.pretrained_cfg: dict[str, Any] | None = None
        self.in_channels = config.in_channels
        self.num_classes = config.num_classes if config.classifier else 0
        layout = config.layout()

        eps, momentum = config.bn_eps, config.bn_momentum
        self.conv_first = conv_bn_act(
            config.in_channels,
            layout.stem_channels,
            3,
            stride=2,
            padding=config.padding,
            activation=config.activation,
            bn_eps=eps,
            bn_momentum=momentum,
        )
        self.bottlenecks = self._build_blocks(config, layout)

        head = layout.head_channels
        self.num_features = head
        self.head_hidden_size = config.last_channels
        self.conv_last = conv_bn_act(
            layout.blocks[-1].out_channels, head, 1, activation=config.activation, bn_eps=eps, bn_momentum=momentum
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Sequential(nn.Linear(head, config.last_channels), activation_layer(config.activation))
        self.fc2 = self._make_classifier(config.num_classes) if config.classifier else nn.Identity()
        self.feature_info = feature_levels(layout)
        init_weights(self)

    @staticmethod
    def _build_blocks(config: MobileNetV3Config, layout: NetworkLayout) -> nn.Sequential:
        for index, block in enumerate(layout.blocks):
            if block.mid_channels < block.in_channels:
                raise ValueError(
                    f"bottleneck_cfg[{index}]: mid_channels={block.mid_channels} is smaller than the "
                    f"block's input channels {block.in_channels}; an inverted bottleneck only expands"
                )
        return nn.Sequential(
            *(
                InvertedBottleneck(b, padding=config.padding, bn_eps=config.bn_eps, bn_momentum=config.bn_momentum)
                for b in layout.blocks
            )
        )

    def _make_classifier(self, num_classes: int) -> nn.Sequential:
        return nn.Sequential(nn.Dropout(p=self.config.dropout), nn.Linear(self.config.last_channels, num_classes))

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

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        """The final ``Linear`` (``fc2[1]``), or the identity of a model without classifier."""
        return self.fc2[1] if isinstance(self.fc2, nn.Sequential) else self.fc2

    @torch.jit.ignore
    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final layer by a fresh one with ``num_classes`` outputs (0: no classifier).

        The new ``Linear`` is initialised as at construction (normal(0, 0.01), zero bias) on the
        old head's device and dtype; ``num_classes=0`` makes ``model(x)`` return the
        ``last_channels``-wide pre-logits, as in timm. ``config`` follows, so checkpoints rebuild it.
        """
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 0:
            raise ValueError(f"num_classes must be an int >= 0 (0: no classifier), got {num_classes!r}")
        if num_classes == 0:
            self.config = self.config.replace(classifier=False)
            self.fc2 = nn.Identity()
        else:
            self.config = self.config.replace(num_classes=num_classes, classifier=True)
            reference = next(self.fc1.parameters())
            head = self._make_classifier(num_classes).to(device=reference.device, dtype=reference.dtype)
            init_weights(head)
            self.fc2 = head.train(self.training)
        if self.pretrained_cfg is not None and num_classes != self.num_classes:
            # The old class names no longer describe the outputs.
            self.pretrained_cfg = {**self.pretrained_cfg, "categories": None, "num_classes": num_classes}
        self.num_classes = num_classes

    @torch.jit.ignore
    def as_features(
        self,
        out_indices: Sequence[int] | None = None,
        *,
        feature_location: str = "bottleneck",
        taps: Sequence[str] | None = None,
    ) -> MobileNetV3Features:
        """The backbone as a `MobileNetV3Features` returning the chosen levels' feature maps.

        ``out_indices`` picks levels of `feature_levels` at ``feature_location``
        (``"bottleneck"``: block outputs, or ``"expansion"``); ``taps`` names the points instead
        (see `tap_points`), e.g. ``["bottlenecks.12.residual.0", "conv_last"]``.
        """
        return MobileNetV3Features(self, out_indices, feature_location=feature_location, taps=taps)


class MobileNetV3Features(nn.Module):
    """Multi-scale feature extractor over a `MobileNet_V3`: ``forward`` returns a list of maps.

    ``out_indices`` picks levels of `feature_levels` (default: all five of a preset, at
    strides 2, 4, 8, 16, 32) at ``feature_location`` (``"bottleneck"``, the block outputs, or
    ``"expansion"``); ``taps`` instead names the points to return, in forward order (any of
    `tap_points`: ``conv_first``, a block output ``bottlenecks.{i}``, a stage inside a block
    ``bottlenecks.{i}.residual.{j}``, ``conv_last``; at most one inside each block).
    ``feature_info`` describes the returned maps. The extractor shares the model's modules (and so
    its weights) under the same names, and keeps only the layers up to the deepest tap; the
    classifier head is not part of it.
    """

    def __init__(
        self,
        model: MobileNet_V3,
        out_indices: Sequence[int] | None = None,
        *,
        feature_location: str = "bottleneck",
        taps: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, MobileNet_V3):
            raise TypeError(f"MobileNetV3Features expects a MobileNet_V3, got {type(model).__name__}")
        layout = model.config.layout()
        if taps is None:
            levels = feature_levels(layout, feature_location)
            chosen = _normalise_out_indices(out_indices, len(levels))
            self.out_indices: tuple[int, ...] | None = tuple(chosen)
            self.feature_info = FeatureInfo(levels[i] for i in chosen)
        else:
            if out_indices is not None:
                raise ValueError("pass out_indices (feature levels) or taps (named points), not both")
            self.out_indices = None
            self.feature_info = _select_taps(taps, tap_points(layout))
        self.config = model.config
        self.model_name = model.model_name
        self.in_channels = model.in_channels
        self.taps = tuple(self.feature_info.module_name())
        self.tap_stem = "conv_first" in self.taps
        self.tap_head = "conv_last" in self.taps
        blocks = {int(name.split(".")[1]): name for name in self.taps if name.startswith("bottlenecks.")}
        # Only the layers up to the deepest tap are kept.
        depth = len(model.bottlenecks) if self.tap_head else (max(blocks) + 1 if blocks else 0)
        self.conv_first = model.conv_first
        self.bottlenecks = nn.Sequential(*list(model.bottlenecks)[:depth])
        self.conv_last = model.conv_last if self.tap_head else nn.Identity()
        # One entry per kept block (not lists of indices: TorchScript cannot type an empty list):
        # whether its output is returned, and which residual stage's output is (-1: none).
        self.tap_flags = [f"bottlenecks.{index}" in self.taps for index in range(depth)]
        self.stage_taps = [_stage_of(blocks.get(index, "")) for index in range(depth)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if not torch.jit.is_scripting():
            _check_input(x, self.in_channels)
        features: list[torch.Tensor] = []
        x = self.conv_first(x)
        if self.tap_stem:
            features.append(x)
        for index, block in enumerate(self.bottlenecks):
            if self.stage_taps[index] >= 0:
                # every block is an InvertedBottleneck (mypy sees nn.Module's attribute lookup)
                x, inner = block.forward_with_tap(x, self.stage_taps[index])  # type: ignore[operator]
                features.append(inner)
            else:
                x = block(x)
            if self.tap_flags[index]:
                features.append(x)
        if self.tap_head:
            features.append(self.conv_last(x))
        return features


def _stage_of(name: str) -> int:
    """``3`` for ``"bottlenecks.i.residual.3"``; -1 for a block output or no tap."""
    parts = name.split(".")
    return int(parts[3]) if len(parts) == 4 else -1


def _select_taps(taps: Sequence[str], points: FeatureInfo) -> FeatureInfo:
    """The entries of ``points`` that ``taps`` names, checked: known, in forward order, one per block."""
    if isinstance(taps, str) or not isinstance(taps, Sequence) or len(taps) == 0:
        raise ValueError(f"taps must be a non-empty sequence of tap names, got {taps!r}")
    order = {point["module"]: position for position, point in enumerate(points)}
    positions = []
    for name in taps:
        if name not in order:
            raise ValueError(
                f"unknown tap {name!r}; expected conv_first, bottlenecks.<i>, bottlenecks.<i>.residual.<j> "
                f"(not the last stage) or conv_last of this network ({len(points)} points)"
            )
        positions.append(order[name])
    if positions != sorted(set(positions)):
        raise ValueError(f"taps must be distinct and in forward order, got {list(taps)}")
    inner = [name.split(".")[1] for name in taps if name.count(".") == 3]
    if len(inner) != len(set(inner)):
        raise ValueError(f"taps name two stages inside one block, got {list(taps)}; take at most one per block")
    return FeatureInfo(dict(points[p]) for p in positions)

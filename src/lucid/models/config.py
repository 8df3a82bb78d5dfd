"""``MobileNetV3Config``: the validated description of one MobileNet-v3 network."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, NamedTuple

__all__ = [
    "ACTIVATIONS",
    "BlockLayout",
    "BottleneckSpec",
    "MobileNetV3Config",
    "NetworkLayout",
    "PADDINGS",
    "SPEC_FIELDS",
    "WIDTH_DIVISOR",
    "make_divisible",
    "se_channels",
]


class BottleneckSpec(NamedTuple):
    """One inverted-residual block: the seven values of a ``bottleneck_cfg`` row, named."""

    kernel_size: int
    mid_channels: int
    out_channels: int
    use_se: bool
    use_hswish: bool
    stride: int
    se_reduction: int


SPEC_FIELDS: tuple[str, ...] = BottleneckSpec._fields

# Channel counts scaled by ``width_mult`` are rounded to multiples of this (torchvision, timm, Keras).
WIDTH_DIVISOR = 8
# Activation of the layers outside the blocks (stem, conv_last, fc1); blocks choose per spec.
ACTIVATIONS = ("hardswish", "relu")
# "symmetric": PyTorch's (k - 1) // 2 on every side; "same": TensorFlow's SAME (weights of timm's tf_ models).
PADDINGS = ("symmetric", "same")


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


def se_channels(mid_channels: int, se_reduction: int, se_divisor: int | None) -> int:
    """Squeeze width of an SE block: ``mid // se_reduction``, rounded to ``se_divisor`` when one is set."""
    squeeze = mid_channels // se_reduction
    return squeeze if se_divisor is None else make_divisible(squeeze, se_divisor)


class BlockLayout(NamedTuple):
    """One block as built: channels after width/tail scaling, stride and dilation after ``dilated``.

    ``stride`` is the table's stride (it decides the residual, as in torchvision); a block with
    ``dilation > 1`` runs its depthwise convolution at stride 1 (`conv_stride`).
    """

    in_channels: int
    mid_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    dilation: int
    use_se: bool
    use_hswish: bool
    se_reduction: int
    se_channels: int  # 0 without SE

    @property
    def conv_stride(self) -> int:
        """The depthwise convolution's stride: a dilated block keeps the resolution."""
        return 1 if self.dilation > 1 else self.stride

    @property
    def use_residual(self) -> bool:
        """Whether the block adds its input (torchvision's rule, on the table's stride)."""
        return self.stride == 1 and self.in_channels == self.out_channels


class NetworkLayout(NamedTuple):
    """The channel and stride plan a config resolves to (see `MobileNetV3Config.layout`)."""

    stem_channels: int
    blocks: tuple[BlockLayout, ...]
    head_channels: int  # conv_last width (the last spec's mid width, after width and tail changes)
    last_channels: int  # fc1 width, as given


_SPEC_INT_FIELDS = ("kernel_size", "mid_channels", "out_channels", "stride", "se_reduction")
_SPEC_BOOL_FIELDS = ("use_se", "use_hswish")


def _is_int(value: Any) -> bool:
    """A real integer: ``bool`` is an int subclass in Python but never a size here."""
    return isinstance(value, int) and not isinstance(value, bool)


def _require_positive_int(name: str, value: Any) -> None:
    if not _is_int(value) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")


def _normalise_spec(index: int, spec: Any) -> tuple:
    where = f"bottleneck_cfg[{index}]"
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
        raise ValueError(f"{where} must be a sequence of 7 values {SPEC_FIELDS}, got {spec!r} ({type(spec).__name__})")
    if len(spec) != 7:
        raise ValueError(f"{where} must have exactly 7 values {SPEC_FIELDS}, got {len(spec)}: {tuple(spec)!r}")
    named = BottleneckSpec(*spec)
    for field in _SPEC_INT_FIELDS:
        _require_positive_int(f"{where}.{field}", getattr(named, field))
    for field in _SPEC_BOOL_FIELDS:
        value = getattr(named, field)
        if not isinstance(value, bool):
            raise TypeError(f"{where}.{field} must be a bool, got {value!r} ({type(value).__name__})")
    return tuple(named)


@dataclass
class MobileNetV3Config:
    """Configuration of `MobileNet_V3`.

    The first six fields are lucid's documented contract; with only those, the model is
    lucid 2's network exactly. The keyword-only fields after them default to that same
    network; they let the presets be the canonical (published-weights) MobileNet-v3 and its
    variants (width, reduced tail, dilation, minimalistic, TF padding, headless). The config
    always describes the network completely, so ``from_dict(to_dict())`` rebuilds it.

    Args:
        bottleneck_cfg: one ``(kernel_size, mid_channels, out_channels, use_se, use_hswish,
            stride, se_reduction)`` spec per inverted-residual block; normalised to a tuple of tuples.
        last_channels: width of the penultimate classifier layer ``fc1``.
        num_classes: classifier outputs.
        in_channels: input image channels.
        stem_channels: width of the stem convolution.
        dropout: dropout probability before the final linear layer, in ``[0, 1)``.
        se_divisor: ``None`` gives the squeeze width ``mid // se_reduction`` (lucid 2); an int
            rounds it to a multiple of that value with torchvision's ``_make_divisible`` rule
            (8 for the canonical network).
        bn_eps: BatchNorm epsilon (torchvision's weights use 1e-3, timm's 1e-5).
        bn_momentum: BatchNorm momentum in PyTorch's convention (0.01 = the paper's decay 0.99).
        width_mult: channel multiplier with torchvision's semantics: the stem and every block's mid
            and out channels become ``make_divisible(c * width_mult, 8)`` and ``conv_last`` keeps
            its expansion of the last block's output (``6 * out`` in the presets). At 1.0
            nothing is rounded, so every width-1 network stays exactly as its table says.
            ``last_channels`` is used as given: the presets scale it the torchvision way.
        reduced_tail: halve the last stage as torchvision does: from the last block with a
            stride > 1 on, every block's out channels and every later block's mid channels, and
            ``conv_last``. (The presets also halve ``last_channels``.)
        dilated: the last stage keeps the resolution (output stride 16 instead of 32): its first
            block's stride ``s`` becomes a dilation ``s`` (2 in every preset) on that block's and
            every later block's depthwise convolution, as torchvision does for segmentation.
        activation: ``"hardswish"`` or ``"relu"``: the activation of the stem, ``conv_last`` and
            ``fc1`` (the blocks choose theirs per spec). The minimalistic networks use ReLU.
        padding: ``"symmetric"`` (PyTorch's ``(k - 1) // 2``) or ``"same"`` (TensorFlow's SAME:
            strided convolutions pad from the input size, possibly one more row/column at the
            bottom/right), which reproduces the outputs of TF-trained weights such as timm's
            ``tf_mobilenetv3_*``.
        classifier: ``False`` leaves out the final linear layer (``fc2`` is an identity) so the
            model returns ``fc1``'s ``last_channels``-wide pre-logits, like timm's
            ``num_classes=0``; ``num_classes`` is then not used.
    """

    bottleneck_cfg: Sequence[Sequence[Any]]
    last_channels: int
    num_classes: int = 1000
    in_channels: int = 3
    stem_channels: int = 16
    dropout: float = 0.2
    _: KW_ONLY
    se_divisor: int | None = None
    bn_eps: float = 1e-5
    bn_momentum: float = 0.01
    width_mult: float = 1.0
    reduced_tail: bool = False
    dilated: bool = False
    activation: str = "hardswish"
    padding: str = "symmetric"
    classifier: bool = True

    def __post_init__(self) -> None:
        cfg = self.bottleneck_cfg
        if isinstance(cfg, (str, bytes)) or not isinstance(cfg, Sequence):
            raise ValueError(f"bottleneck_cfg must be a sequence of 7-value specs, got {type(cfg).__name__}: {cfg!r}")
        if len(cfg) == 0:
            raise ValueError("bottleneck_cfg must hold at least one spec, got an empty sequence")
        self.bottleneck_cfg = tuple(_normalise_spec(i, spec) for i, spec in enumerate(cfg))
        for name in ("last_channels", "num_classes", "in_channels", "stem_channels"):
            _require_positive_int(name, getattr(self, name))
        self._validate_floats()
        if self.se_divisor is not None:
            _require_positive_int("se_divisor", self.se_divisor)
        self._validate_variant_fields()

    def _validate_variant_fields(self) -> None:
        """Check the width/tail/dilation/activation/padding/classifier fields (defaults: unchanged network)."""
        width = self.width_mult
        if not isinstance(width, (int, float)) or isinstance(width, bool) or not (width > 0 and math.isfinite(width)):
            raise ValueError(f"width_mult must be a positive finite number, got {width!r}")
        self.width_mult = float(width)
        for name in ("reduced_tail", "dilated", "classifier"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool, got {value!r} ({type(value).__name__})")
        for name, choices in (("activation", ACTIVATIONS), ("padding", PADDINGS)):
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
        self._validate_tail()

    def _validate_tail(self) -> None:
        """``reduced_tail`` and ``dilated`` need a last stage, and halving must leave channels."""
        if not (self.reduced_tail or self.dilated):
            return
        tail = self._tail_start()
        if tail is None:
            flag = "reduced_tail" if self.reduced_tail else "dilated"
            raise ValueError(
                f"{flag}=True acts on the last stage, which starts at the last block with stride > 1, "
                "but every bottleneck_cfg spec has stride 1"
            )
        if self.reduced_tail:
            for index, spec in enumerate(self.specs[tail:], start=tail):
                if spec.out_channels < 2:
                    raise ValueError(
                        f"reduced_tail=True halves bottleneck_cfg[{index}].out_channels="
                        f"{spec.out_channels} to 0; the last stage needs out_channels >= 2"
                    )

    def _tail_start(self) -> int | None:
        """Index of the last spec with stride > 1: where torchvision's "last stage" begins."""
        strided = [i for i, spec in enumerate(self.bottleneck_cfg) if spec[5] > 1]
        return strided[-1] if strided else None

    def _scale(self, channels: int) -> int:
        # Width 1.0 rounds nothing: custom tables with odd widths keep their exact channel counts.
        if self.width_mult == 1.0:
            return channels
        return make_divisible(channels * self.width_mult, WIDTH_DIVISOR)

    def layout(self) -> NetworkLayout:
        """The network this config describes after ``width_mult``, ``reduced_tail`` and ``dilated``.

        One `BlockLayout` per spec, the stem and ``conv_last`` widths, and ``last_channels``;
        `MobileNet_V3` builds exactly this, and tools can read it without torch.
        """
        tail = self._tail_start()
        divide = 2 if self.reduced_tail else 1
        channels = self._scale(self.stem_channels)
        blocks = []
        for index, spec in enumerate(self.specs):
            in_tail = tail is not None and index >= tail
            mid = spec.mid_channels // divide if tail is not None and index > tail else spec.mid_channels
            out = spec.out_channels // divide if in_tail else spec.out_channels
            mid, out = self._scale(mid), self._scale(out)
            dilation = self.bottleneck_cfg[tail][5] if tail is not None and in_tail and self.dilated else 1
            squeeze = se_channels(mid, spec.se_reduction, self.se_divisor) if spec.use_se else 0
            blocks.append(
                BlockLayout(
                    channels,
                    mid,
                    out,
                    spec.kernel_size,
                    spec.stride,
                    dilation,
                    spec.use_se,
                    spec.use_hswish,
                    spec.se_reduction,
                    squeeze,
                )
            )
            channels = out
        stem = self._scale(self.stem_channels)
        return NetworkLayout(stem, tuple(blocks), self._head_width(channels), self.last_channels)

    def _head_width(self, last_out: int) -> int:
        """``conv_last``'s width: the last spec's mid width, following the width and tail changes.

        ``conv_last`` expands the last block's output; in every MobileNet-v3 table by an integer
        ratio (576 = 6 x 96, 960 = 6 x 160). torchvision keeps that ratio over the scaled output
        (``6 * out``), so lucid does too whenever it is an integer; otherwise the width is scaled
        like any other channel count. Without width or tail changes it is the spec's number.
        """
        last = self.specs[-1]
        if self.width_mult == 1.0 and not self.reduced_tail:
            return last.mid_channels
        if last.mid_channels % last.out_channels == 0:
            return last.mid_channels // last.out_channels * last_out
        return self._scale(last.mid_channels // (2 if self.reduced_tail else 1))

    def _validate_floats(self) -> None:
        dropout = self.dropout
        if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        eps = self.bn_eps
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"bn_eps must be a positive finite number, got {eps!r}")
        mom = self.bn_momentum
        if not isinstance(mom, (int, float)) or isinstance(mom, bool) or not 0 < mom <= 1:
            raise ValueError(f"bn_momentum must be a number in (0, 1], got {mom!r}")

    @property
    def specs(self) -> tuple[BottleneckSpec, ...]:
        """The bottleneck specs as named tuples."""
        return tuple(BottleneckSpec(*spec) for spec in self.bottleneck_cfg)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (specs as lists) that `from_dict` turns back into this config."""
        data = dataclasses.asdict(self)
        data["bottleneck_cfg"] = [list(spec) for spec in self.bottleneck_cfg]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MobileNetV3Config:
        """Rebuild a config from `to_dict` output; unknown keys are an error, not ignored."""
        known = {f.name for f in dataclasses.fields(cls) if f.name != "_"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown MobileNetV3Config field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> MobileNetV3Config:
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)

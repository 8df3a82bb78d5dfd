"""``MobileNetV3Config``: the validated description of one MobileNet-v3 network."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, NamedTuple

__all__ = ["BottleneckSpec", "MobileNetV3Config", "SPEC_FIELDS"]


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
        raise ValueError(
            f"{where} must be a sequence of 7 values {SPEC_FIELDS}, got {spec!r} ({type(spec).__name__})"
        )
    if len(spec) != 7:
        raise ValueError(
            f"{where} must have exactly 7 values {SPEC_FIELDS}, got {len(spec)}: {tuple(spec)!r}"
        )
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
    """Configuration of :class:`~lucid.models.MobileNet_V3`.

    The first six fields are lucid's documented contract; with only those, the model is
    lucid 2's network exactly. The keyword-only fields after them default to that same
    network and exist so the presets can be the canonical (published-weights) MobileNet-v3.

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

    def __post_init__(self) -> None:
        cfg = self.bottleneck_cfg
        if isinstance(cfg, (str, bytes)) or not isinstance(cfg, Sequence):
            raise ValueError(
                f"bottleneck_cfg must be a sequence of 7-value specs, got {type(cfg).__name__}: {cfg!r}"
            )
        if len(cfg) == 0:
            raise ValueError("bottleneck_cfg must hold at least one spec, got an empty sequence")
        self.bottleneck_cfg = tuple(_normalise_spec(i, spec) for i, spec in enumerate(cfg))
        for name in ("last_channels", "num_classes", "in_channels", "stem_channels"):
            _require_positive_int(name, getattr(self, name))
        self._validate_floats()
        if self.se_divisor is not None:
            _require_positive_int("se_divisor", self.se_divisor)

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
        """A JSON-ready dict (specs as lists) that :meth:`from_dict` turns back into this config."""
        data = dataclasses.asdict(self)
        data["bottleneck_cfg"] = [list(spec) for spec in self.bottleneck_cfg]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MobileNetV3Config:
        """Rebuild a config from :meth:`to_dict` output; unknown keys are an error, not ignored."""
        known = {f.name for f in dataclasses.fields(cls) if f.name != "_"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown MobileNetV3Config field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> MobileNetV3Config:
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)

"""``summary``: a per-layer table of output shapes, parameters and multiply-adds (MACs).

MACs are counted by torch's own ``torch.utils.flop_counter.FlopCounterMode`` rather than by
per-layer formulas in forward hooks: it sees every aten operator, so grouped and depthwise
convolutions, ``F.linear``/``matmul`` calls inside a custom ``forward`` and attention are all
counted without lucid keeping a formula per layer type. It counts matrix-like work only
(convolutions, matmuls): elementwise work such as the squeeze-excite multiply, activations,
BatchNorm and pooling is not counted, which is also the convention of the published
MobileNet-v3 numbers (57 M small, 217 M large at 224x224). One MAC is two FLOPs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lucid.visual._trace import Call, Shape, human, trace

__all__ = ["LayerRow", "Summary", "summary"]

_ROOT_NAME = "(model)"


@dataclass(frozen=True)
class LayerRow:
    """One layer of the summary: its own parameters and its own multiply-adds, over all its calls."""

    name: str  # qualified name, as in ``model.named_modules()`` (the model itself: "(model)")
    layer_type: str
    output_shapes: tuple[Shape, ...]  # of its first call; empty when it never ran
    params: int
    macs: int
    calls: int

    @property
    def output_shape(self) -> Shape | None:
        """The first output's shape (None when the layer did not run)."""
        return self.output_shapes[0] if self.output_shapes else None


@dataclass(frozen=True)
class Summary:
    """Per-layer rows plus totals; ``str(summary)`` is an aligned table."""

    model: str
    rows: tuple[LayerRow, ...]
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]
    total_params: int
    trainable_params: int
    total_macs: int
    activation_bytes: int  # bytes of every leaf layer's outputs in one forward pass
    param_bytes: int = field(default=0)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data (shapes as lists)."""
        return {
            "model": self.model,
            "input_shapes": [list(s) for s in self.input_shapes],
            "output_shapes": [list(s) for s in self.output_shapes],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_macs": self.total_macs,
            "activation_bytes": self.activation_bytes,
            "param_bytes": self.param_bytes,
            "rows": [
                {
                    "name": r.name,
                    "type": r.layer_type,
                    "output_shapes": [list(s) for s in r.output_shapes],
                    "params": r.params,
                    "macs": r.macs,
                    "calls": r.calls,
                }
                for r in self.rows
            ],
        }

    def __str__(self) -> str:
        return _table(self)


def _shape_cell(shapes: tuple[Shape, ...]) -> str:
    if not shapes:
        return "-"
    text = ", ".join(str(list(s)) for s in shapes)
    return text if len(shapes) == 1 else f"[{text}]"


def _table(s: Summary) -> str:
    header = ("Layer", "Type", "Output shape", "Params", "MACs")
    cells = [(r.name, r.layer_type, _shape_cell(r.output_shapes), f"{r.params:,}", f"{r.macs:,}") for r in s.rows]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        left = [row[i].ljust(widths[i]) for i in range(3)]
        right = [row[i].rjust(widths[i]) for i in range(3, 5)]
        return "  ".join(left + right).rstrip()

    rule_width = sum(widths) + 2 * (len(widths) - 1)
    io = f"input {_shape_cell(s.input_shapes)} -> output {_shape_cell(s.output_shapes)}"
    totals = [
        ("Total params", f"{s.total_params:,}"),
        ("Trainable params", f"{s.trainable_params:,}"),
        ("Non-trainable params", f"{s.non_trainable_params:,}"),
        ("Multiply-adds (MACs)", f"{s.total_macs:,} ({human(s.total_macs)})"),
        ("Parameter memory", f"{s.param_bytes:,} bytes ({human(s.param_bytes, 'B', 1024)})"),
        ("Activation memory", f"{s.activation_bytes:,} bytes ({human(s.activation_bytes, 'B', 1024)})"),
    ]
    label_width = max(len(k) for k, _ in totals) + 1
    return "\n".join(
        [
            f"{s.model}: {io}",
            "=" * rule_width,
            line(header),
            "-" * rule_width,
            *(line(c) for c in cells),
            "=" * rule_width,
            *(f"{(k + ':').ljust(label_width)} {v}" for k, v in totals),
        ]
    )


def _own_params(module: nn.Module, seen: set[int]) -> int:
    """Parameters registered on ``module`` itself, each shared tensor counted once overall."""
    count = 0
    for p in module.parameters(recurse=False):
        if id(p) not in seen:
            seen.add(id(p))
            count += p.numel()
    return count


def _rows(root: nn.Module, calls: list[Call]) -> list[LayerRow]:
    """Leaves, plus any module holding parameters or doing multiply-adds of its own; by first call."""
    by_module: dict[nn.Module, list[Call]] = {}
    for call in sorted(calls, key=lambda c: c.start):
        by_module.setdefault(call.module, []).append(call)
    seen: set[int] = set()
    ordered = sorted(
        root.named_modules(),
        key=lambda nm: by_module[nm[1]][0].start if nm[1] in by_module else float("inf"),
    )
    rows = []
    for name, module in ordered:
        module_calls = by_module.get(module, [])
        params = _own_params(module, seen)
        macs = sum(c.self_flops for c in module_calls) // 2
        is_leaf = next(module.children(), None) is None
        if is_leaf or params or macs:
            rows.append(
                LayerRow(
                    name=name or _ROOT_NAME,
                    layer_type=type(module).__name__,
                    output_shapes=tuple(module_calls[0].out_shapes) if module_calls else (),
                    params=params,
                    macs=macs,
                    calls=len(module_calls),
                )
            )
    return rows


def _model_title(module: nn.Module) -> str:
    name = getattr(module, "model_name", None)
    cls = type(module).__name__
    return f"{name} ({cls})" if isinstance(name, str) and name and name != cls else cls


def summary(
    module: nn.Module,
    input_shape: Sequence[int] | Sequence[Sequence[int]] | None = None,
    *,
    inputs: torch.Tensor | Sequence[torch.Tensor] | None = None,
) -> Summary:
    """Trace ``module`` once and tabulate every layer's output shape, parameters and MACs.

    ``input_shape`` includes the batch, e.g. ``(1, 3, 224, 224)``; ``inputs`` gives real
    tensors instead. The model is left untouched (see `lucid.visual.build_mermaid_chart`).
    Rows are the leaf layers plus any container with parameters or multiply-adds of its own, in
    the order they first ran (layers that never ran come last), so the rows' parameters and
    MACs add up to the totals.
    """
    traced = trace(module, input_shape, inputs, count_flops=True)
    rows = _rows(module, traced.calls)
    leaves = {m for m in module.modules() if next(m.children(), None) is None}
    params = list(module.parameters())
    return Summary(
        model=_model_title(module),
        rows=tuple(rows),
        input_shapes=tuple(traced.input_shapes),
        output_shapes=tuple(traced.output_shapes),
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_macs=sum(r.macs for r in rows),
        activation_bytes=sum(c.out_bytes for c in traced.calls if c.module in leaves),
        param_bytes=sum(p.numel() * p.element_size() for p in params),
    )

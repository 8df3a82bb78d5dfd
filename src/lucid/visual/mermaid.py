"""``build_mermaid_chart``: any ``nn.Module`` as a mermaid flowchart with traced tensor shapes.

The picture is built in three steps:

1. *Layout tree.* The module tree down to ``depth`` (the model is depth 0). Containers with
   drawn children become subgraphs, everything else one node. Runs of at least ``repeat_min``
   consecutive siblings that would be drawn identically (same classes and attribute names at
   every drawn level, sizes aside) collapse into one group titled ``<Class> x <count>``, drawn
   with the first repeat's insides and shapes.
2. *Trace.* One forward pass (see `lucid.visual._trace`) records every module call. Each
   call is charged to the drawn item that shows it: the module itself, its nearest drawn
   ancestor, or the group for the second and later repeats.
3. *Edges.* Consecutive items in execution order are joined. A subgraph that an edge reaches
   as a whole (a collapsed group, whose later repeats are opaque) gets ``Input``/``Output``
   pills, wired to its first and last drawn leaves, so the repeat loop is visible; edges into a
   node with several incoming edges are dotted. Edges are listed sorted, so the text is stable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lucid.visual._trace import Call, Shape, Trace, format_shape, trace

__all__ = ["build_mermaid_chart", "layer_kind", "KIND_STYLES"]

# Node colours by layer kind: (fill, stroke); the stroke colour also tints the shape text.
KIND_STYLES: dict[str, tuple[str, str]] = {
    "conv": ("#ffe8e8", "#c53030"),
    "norm": ("#e6fffa", "#2c7a7b"),
    "activation": ("#faf5ff", "#6b46c1"),
    "linear": ("#ebf8ff", "#2b6cb0"),
    "pool": ("#fefcbf", "#b7791f"),
    "dropout": ("#edf2f7", "#4a5568"),
    "attention": ("#f0fff4", "#2f855a"),
    "transformer": ("#e2e8f0", "#334155"),
    "recurrent": ("#f0f9ff", "#0284c7"),
    "embedding": ("#f1f5f9", "#475569"),
    "resize": ("#fdf2f8", "#b83280"),
    "loss": ("#fffbeb", "#d97706"),
}

# torch.nn.modules.<file> -> kind. Layers are classified by the torch class they derive from,
# so subclasses such as lucid.nn.HardSwish (a torch Hardswish) get their family's colour.
_KIND_OF_TORCH_FILE = {
    "conv": "conv",
    "batchnorm": "norm",
    "instancenorm": "norm",
    "normalization": "norm",
    "activation": "activation",
    "linear": "linear",
    "pooling": "pool",
    "dropout": "dropout",
    "transformer": "transformer",
    "rnn": "recurrent",
    "sparse": "embedding",
    "upsampling": "resize",
    "pixelshuffle": "resize",
    "padding": "resize",
    "loss": "loss",
}

_TITLE_SPAN = "<span style='font-size:20px;font-weight:700'>{}</span>"
_SHAPE_SPAN = "<span style='font-size:11px;{color}font-weight:400'>{text}</span>"
_SUBGRAPH_STYLE = "fill:#000000,fill-opacity:0.05,stroke:#000000,stroke-opacity:0.75,stroke-width:1px"
_PORT_STYLE = "fill:#e2e8f0,stroke:#64748b,stroke-width:1px;"
_IO_FILL, _IO_STROKE = "#fff3cd", "#a67c00"
_INIT = {"flowchart": {"curve": "monotoneX", "nodeSpacing": 50, "rankSpacing": 50}}
_EDGE_WIDTH = 2.0
_DIRECTIONS = ("LR", "RL", "TB", "TD", "BT")
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def layer_kind(module: nn.Module) -> str | None:
    """The colour family of a layer (``"conv"``, ``"norm"``, ...), or None for anything else."""
    for cls in type(module).__mro__:
        if cls is nn.Identity:
            return None
        if cls is nn.MultiheadAttention:
            return "attention"
        origin = cls.__module__
        if origin.startswith("torch.nn.modules."):
            return _KIND_OF_TORCH_FILE.get(origin.rsplit(".", 1)[-1])
    return None


@dataclass
class _Item:
    """One drawn thing: a node, or a subgraph when it has drawn children."""

    module: nn.Module
    name: str  # qualified name in the model ("" for the model)
    children: list[_Item]
    repeats: list[nn.Module]  # the modules this item stands for; more than one for a group
    id: str = ""
    ports: bool = False  # Input/Output pills inside the subgraph

    @property
    def is_subgraph(self) -> bool:
        return bool(self.children)


def _signature(item: _Item) -> tuple:
    """What decides that two siblings look the same: classes and attribute names, sizes aside."""
    return (type(item.module), tuple((_shown_name(c), _signature(c)) for c in item.children))


def _identity(item: _Item) -> tuple:
    """A sibling's identity for collapsing: its signature, plus its name for a named container.

    A plain Sequential/ModuleList/ModuleDict means what its attribute says (``conv_first`` is
    not ``conv_last``), so such siblings never merge; blocks and numbered entries do.
    """
    named = _shown_name(item) if isinstance(item.module, _CONTAINERS) else ""
    return (named, _signature(item))


def _attr(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _shown_name(item: _Item) -> str:
    """The attribute name when it means something (``residual``), "" for list indices (``3``)."""
    attr = _attr(item.name)
    return "" if attr.isdigit() else attr


def _collapse(children: list[_Item], repeat_min: int) -> list[_Item]:
    """Merge runs of ``repeat_min`` or more identical consecutive siblings into one group item."""
    out: list[_Item] = []
    start = 0
    while start < len(children):
        stop = start + 1
        identity = _identity(children[start])
        while stop < len(children) and _identity(children[stop]) == identity:
            stop += 1
        run = children[start:stop]
        if len(run) >= repeat_min:
            first = run[0]
            out.append(_Item(first.module, first.name, first.children, [c.module for c in run]))
        else:
            out.extend(run)
        start = stop
    return out


def _layout(module: nn.Module, name: str, depth: int, max_depth: int, repeat_min: int | None) -> _Item:
    """The layout tree below ``module`` down to ``max_depth`` (collapsing when ``repeat_min``)."""
    children: list[_Item] = []
    if depth < max_depth:
        for child_name, child in module.named_children():
            path = f"{name}.{child_name}" if name else child_name
            children.append(_layout(child, path, depth + 1, max_depth, repeat_min))
        if repeat_min is not None:
            children = _collapse(children, repeat_min)
    return _Item(module, name, children, [module])


def _preorder(item: _Item) -> list[_Item]:
    return [item] + [d for c in item.children for d in _preorder(c)]


def _shapes_text(shapes: list[Shape]) -> str:
    if len(shapes) == 1:
        return format_shape(shapes[0])
    return "[" + ", ".join(format_shape(s) for s in shapes) + "]"


def _param_count(modules: Sequence[nn.Module]) -> int:
    seen: dict[int, int] = {}
    for m in modules:
        for p in m.parameters():
            seen[id(p)] = p.numel()
    return sum(seen.values())


class _Chart:
    """The state of one drawing: layout, trace, edges, and the options that shape the text."""

    def __init__(self, root: _Item, traced: Trace, options: dict) -> None:
        self.root = root
        self.trace = traced
        self.opt = options
        self.items = _preorder(root)
        for index, item in enumerate(self.items):
            item.id = f"m{index}"
        # Which drawn item stands for each module: itself, or the group it is a repeat of.
        self.item_of: dict[nn.Module, _Item] = {}
        for item in self.items:
            for m in item.repeats:
                self.item_of.setdefault(m, item)
        self.parent_of = {c: m for m in root.module.modules() for c in m.children()}
        self.first_call: dict[nn.Module, Call] = {}
        for call in traced.calls:
            self.first_call.setdefault(call.module, call)
        self.edges = self._edges()

    # -- edges -------------------------------------------------------------------------------

    def _owner(self, module: nn.Module) -> nn.Module | None:
        """The module, or nearest ancestor, that a drawn item stands for."""
        while module not in self.item_of:
            if module not in self.parent_of:
                return None
            module = self.parent_of[module]
        return module

    def _sequence(self) -> list[nn.Module]:
        """Drawn units in execution order: consecutive calls charged to one module merge."""
        units: list[nn.Module] = []
        for call in self.trace.calls:
            owner = self._owner(call.module)
            if owner is not None and (not units or units[-1] is not owner):
                units.append(owner)
        inner = [m for m in units if m is not self.root.module] or [self.root.module]
        # A subgraph is entered through its children; only opaque repeats of a group stay units.
        flat = [m for m in inner if not (self.item_of[m].is_subgraph and self.item_of[m].module is m)]
        return flat or inner

    def _edges(self) -> list[tuple[str, str]]:
        sequence = [self.item_of[m] for m in self._sequence()]
        pairs = [(a.id, b.id) for a, b in zip(sequence, sequence[1:], strict=False)]
        if self.opt["include_io"] and sequence:
            pairs += [("input", sequence[0].id), (sequence[-1].id, "output")]
        touched = {i for pair in pairs for i in pair}
        by_id = {item.id: item for item in self.items}
        for item in self.items:
            item.ports = item.is_subgraph and item.id in touched
        edges = set()
        for src, dst in pairs:
            a = f"{src}_out" if src in by_id and by_id[src].ports else src
            b = f"{dst}_in" if dst in by_id and by_id[dst].ports else dst
            edges.add((a, b))
        for item in self.items:
            if item.ports:
                edges.add((f"{item.id}_in", self._end_leaf(item, 0).id))
                edges.add((self._end_leaf(item, -1).id, f"{item.id}_out"))
        return sorted((a, b) for a, b in edges if a != b)

    @staticmethod
    def _end_leaf(item: _Item, end: int) -> _Item:
        while item.children:
            item = item.children[end]
        return item

    # -- labels ------------------------------------------------------------------------------

    def _title(self, item: _Item) -> str:
        if item is self.root:
            name = self.opt["title"]
            if name is None:
                model_name = getattr(item.module, "model_name", None)
                name = model_name if isinstance(model_name, str) and model_name else type(item.module).__name__
            return name
        # A named container (``conv_first``) says more by its attribute name than "Sequential";
        # a group stands for several attributes, so it keeps the class name.
        if item.is_subgraph and len(item.repeats) == 1 and isinstance(item.module, _CONTAINERS):
            return _shown_name(item) or type(item.module).__name__
        return type(item.module).__name__

    def _label(self, item: _Item) -> str:
        text = self._title(item).replace('"', "&quot;")
        if len(item.repeats) > 1:
            text += f" x {len(item.repeats)}"
        if self.opt["show_params"]:
            text += f" ({_param_count(item.repeats):,} params)"
        call = self.first_call.get(item.module)
        if self.opt["show_shapes"] and not item.is_subgraph and call is not None:
            if call.in_shapes != call.out_shapes:
                kind = layer_kind(item.module)
                color = f"color:{KIND_STYLES[kind][1]};" if kind in KIND_STYLES else ""
                shapes = f"{_shapes_text(call.in_shapes)} → {_shapes_text(call.out_shapes)}"
                text += "<br/>" + _SHAPE_SPAN.format(color=color, text=shapes)
        if item is self.root:
            text = _TITLE_SPAN.format(text)
        return text

    def _io_label(self, name: str, shapes: list[Shape]) -> str:
        if not self.opt["show_shapes"] or not shapes:
            return name
        return f"{name}<br/>" + _SHAPE_SPAN.format(color=f"color:{_IO_STROKE};", text=_shapes_text(shapes))

    # -- text --------------------------------------------------------------------------------

    def _render(self, item: _Item, level: int, lines: list[str]) -> None:
        pad = "  " * level
        if not item.is_subgraph:
            shape = '(["{}"])' if len(item.repeats) > 1 else '["{}"]'
            lines.append(f"{pad}{item.id}{shape.format(self._label(item))};")
            return
        lines.append(f'{pad}subgraph sg_{item.id}["{self._label(item)}"]')
        if item is not self.root:
            lines.append(f"{pad}  direction {self.opt['inner_direction']};")
        lines.append(f"{pad}  style sg_{item.id} {_SUBGRAPH_STYLE}")
        if item.ports:
            lines.append(f'{pad}  {item.id}_in(["Input"]);')
            lines.append(f'{pad}  {item.id}_out(["Output"]);')
            lines.append(f"{pad}  style {item.id}_in {_PORT_STYLE}")
            lines.append(f"{pad}  style {item.id}_out {_PORT_STYLE}")
        for child in item.children:
            self._render(child, level + 1, lines)
        lines.append(f"{pad}end")

    def text(self) -> str:
        lines = [
            f"%%{{init: {json.dumps(_INIT, separators=(',', ':'))} }}%%",
            f"flowchart {self.opt['direction']}",
            f"  linkStyle default stroke-width:{_EDGE_WIDTH}px",
        ]
        self._render(self.root, 1, lines)
        if self.opt["include_io"]:
            lines.append(f'  input["{self._io_label("Input", self.trace.input_shapes)}"];')
            lines.append(f'  output["{self._io_label("Output", self.trace.output_shapes)}"];')
            lines.append(f"  style input fill:{_IO_FILL},stroke:{_IO_STROKE},stroke-width:1px;")
            lines.append(f"  style output fill:{_IO_FILL},stroke:{_IO_STROKE},stroke-width:1px;")
        for item in self.items:
            kind = None if item.is_subgraph else layer_kind(item.module)
            if kind in KIND_STYLES:
                fill, stroke = KIND_STYLES[kind]
                lines.append(f"  style {item.id} fill:{fill},stroke:{stroke},stroke-width:1px;")
        indegree: dict[str, int] = {}
        for _, dst in self.edges:
            indegree[dst] = indegree.get(dst, 0) + 1
        for src, dst in self.edges:
            arrow = "-.->" if indegree[dst] > 1 else "-->"
            lines.append(f"  {src} {arrow} {dst};")
        return "\n".join(lines)


def _check_options(depth: int, direction: str, repeat_min: int) -> str:
    """Validate the options; returns the normalised direction."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be an int >= 0 (0 draws the model as one node), got {depth!r}")
    if isinstance(repeat_min, bool) or not isinstance(repeat_min, int) or repeat_min < 2:
        raise ValueError(f"repeat_min must be an int >= 2, got {repeat_min!r}")
    if not isinstance(direction, str) or direction.upper() not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(_DIRECTIONS)}, got {direction!r}")
    return direction.upper()


def build_mermaid_chart(
    module: nn.Module,
    input_shape: Sequence[int] | Sequence[Sequence[int]] | None = None,
    inputs: torch.Tensor | Sequence[torch.Tensor] | None = None,
    *,
    depth: int = 3,
    direction: str = "LR",
    show_shapes: bool = True,
    collapse_repeats: bool = True,
    repeat_min: int = 2,
    show_params: bool = False,
    include_io: bool = True,
    title: str | None = None,
) -> str:
    """Draw ``module`` as mermaid flowchart source (paste it into a ```` ```mermaid ```` block).

    One forward pass on ``inputs`` (or random tensors of ``input_shape``; one shape, or a list
    of shapes for several inputs) traces the shapes and the order of the layers; the model's
    parameters, buffers, train/eval modes, gradients and the global RNG are left as they were.

    Options: ``depth`` levels of the module tree are drawn (the model is level 0; deeper
    modules are folded into their drawn ancestor); ``direction`` of the main flow (``LR``,
    ``TB``...; subgraphs run across it); ``show_shapes`` adds ``in → out`` to every node whose
    call changed the shape; ``collapse_repeats`` folds runs of ``repeat_min`` or more identical
    siblings into one ``<Class> x <n>`` group; ``show_params`` adds parameter counts (a group's
    count covers all its repeats); ``include_io`` adds the Input/Output nodes; ``title``
    replaces the model's title (default: its ``model_name`` attribute, else its class name).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"build_mermaid_chart expects a torch.nn.Module, got {type(module).__name__}")
    direction = _check_options(depth, direction, repeat_min)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    root = _layout(module, "", 0, depth, repeat_min if collapse_repeats else None)
    traced = trace(module, input_shape, inputs)
    options = {
        "direction": direction,
        "inner_direction": "TB" if direction in ("LR", "RL") else "LR",
        "show_shapes": bool(show_shapes),
        "show_params": bool(show_params),
        "include_io": bool(include_io),
        "title": title,
    }
    return _Chart(root, traced, options).text()

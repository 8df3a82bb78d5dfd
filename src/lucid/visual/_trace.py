"""One recorded forward pass that leaves the model exactly as it found it.

Both the flowchart and the summary need the same thing: run the model once on an example input,
note for every module call what went in and what came out (and, for the summary, how many
multiply-adds it did), and make sure the model is untouched afterwards. That is this module.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["Call", "Trace", "TraceError", "make_inputs", "tensor_shapes", "trace"]

Shape = tuple[int, ...]

# The example input is random but reproducible, and drawn from a private generator so the
# global RNG that the user seeded is never advanced.
_INPUT_SEED = 0


class TraceError(ValueError, RuntimeError):
    """The model's forward failed on the example input; the message names the layer and shapes.

    It is a ValueError (the input does not fit the model, so the CLI reports it as a user error)
    and a RuntimeError (what torch itself raises for a shape mismatch).
    """


@dataclass
class Call:
    """One completed call of one module during the traced forward."""

    module: nn.Module
    name: str
    start: int  # position of the call's start among all calls (calls are listed by completion)
    in_shapes: list[Shape]
    out_shapes: list[Shape]
    out_bytes: int
    flops: int = 0  # inclusive: this call and everything it called (0 unless counting)
    self_flops: int = 0  # this call minus its module children's calls


@dataclass
class Trace:
    """Everything one forward pass showed: calls in completion order, the model's I/O shapes."""

    calls: list[Call]
    input_shapes: list[Shape]
    output_shapes: list[Shape]
    names: dict[nn.Module, str] = field(default_factory=dict)


def tensors_in(obj: Any) -> list[torch.Tensor]:
    """The tensors inside ``obj`` (nested lists, tuples and dicts), in order."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, Mapping):
        obj = list(obj.values())
    if isinstance(obj, (list, tuple)):
        return [t for item in obj for t in tensors_in(item)]
    return []


def tensor_shapes(obj: Any) -> list[Shape]:
    """Shapes of the tensors inside ``obj`` as tuples of ints."""
    return [tuple(int(d) for d in t.shape) for t in tensors_in(obj)]


def _check_shape(shape: Any, what: str) -> Shape:
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise TypeError(f"{what} must be a sequence of ints such as (1, 3, 224, 224), got {shape!r}")
    dims = tuple(shape)
    if not dims:
        raise ValueError(f"{what} must have at least one dimension, got {shape!r}")
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"{what} must hold ints, got {dim!r} ({type(dim).__name__}) in {shape!r}")
        if dim <= 0:
            raise ValueError(f"{what} must hold positive sizes, got {dim} in {shape!r}")
    return dims


def _example_placement(module: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's first floating parameter or buffer."""
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def make_inputs(
    module: nn.Module,
    input_shape: Sequence[int] | Sequence[Sequence[int]] | None,
    inputs: torch.Tensor | Sequence[torch.Tensor] | None,
) -> tuple[torch.Tensor, ...]:
    """The positional inputs for the traced forward: ``inputs`` as given, or random ones of ``input_shape``.

    ``input_shape`` is one shape ``(1, 3, 224, 224)`` or a list of shapes for a model that takes
    several tensors. Random values (not zeros) keep data-dependent code paths realistic.
    """
    if input_shape is None and inputs is None:
        raise ValueError(
            "tracing a model needs an example input: pass input_shape (e.g. (1, 3, 224, 224)) "
            "or inputs (a tensor or a sequence of tensors); got neither"
        )
    if input_shape is not None and inputs is not None:
        raise ValueError("pass either input_shape or inputs, not both")
    if inputs is not None:
        if isinstance(inputs, torch.Tensor):
            return (inputs,)
        if isinstance(inputs, Sequence) and not isinstance(inputs, (str, bytes)) and inputs:
            bad = [type(x).__name__ for x in inputs if not isinstance(x, torch.Tensor)]
            if not bad:
                return tuple(inputs)
        raise TypeError(
            f"inputs must be a tensor or a non-empty sequence of tensors, got {type(inputs).__name__}"
            + (f" holding {inputs!r}" if isinstance(inputs, (list, tuple)) else "")
        )
    if (
        isinstance(input_shape, Sequence)
        and input_shape
        and all(isinstance(s, Sequence) and not isinstance(s, (str, bytes)) for s in input_shape)
    ):
        shapes = [_check_shape(s, f"input_shape[{i}]") for i, s in enumerate(input_shape)]
    else:
        shapes = [_check_shape(input_shape, "input_shape")]
    device, dtype = _example_placement(module)
    if device.type == "meta":
        return tuple(torch.empty(s, device=device, dtype=dtype) for s in shapes)
    generator = torch.Generator(device=device).manual_seed(_INPUT_SEED)
    return tuple(torch.randn(s, generator=generator, device=device, dtype=dtype) for s in shapes)


@contextlib.contextmanager
def preserved(module: nn.Module) -> Iterator[None]:
    """Run the body in eval mode, without autograd and on a forked RNG; restore the model afterwards.

    Eval mode keeps BatchNorm from updating its running statistics and Dropout from drawing
    random numbers; the buffers are also snapshotted and put back, so even a custom module that
    writes to its buffers in eval mode leaves no trace. Each module's own ``training`` flag is
    restored (a model may be half in train, half in eval mode).
    """
    modes = [(m, m.training) for m in module.modules()]
    saved = [
        (owner, key, buf, buf.detach().clone())
        for owner in module.modules()
        for key, buf in owner._buffers.items()
        if buf is not None
    ]
    cuda = sorted({t.device.index or 0 for t in module.parameters() if t.device.type == "cuda"})
    try:
        with torch.random.fork_rng(devices=cuda), torch.no_grad():
            module.eval()
            yield
    finally:
        with torch.no_grad():
            for owner, key, buf, copy in saved:
                owner._buffers[key] = buf
                buf.copy_(copy)
        for m, training in modes:
            m.training = training


class _Recorder:
    """Forward pre/post hooks on every module: a call stack, shapes, sizes and multiply-adds."""

    def __init__(self, root: nn.Module, flop_total: Any = None) -> None:
        self.names = {m: n for n, m in root.named_modules(remove_duplicate=True)}
        self.calls: list[Call] = []
        # Open calls: [module, input shapes, flop total at entry, flops of finished children, start].
        self.stack: list[list[Any]] = []
        self.started = 0
        self.flop_total = flop_total or (lambda: 0)
        self.handles: list[Any] = []
        for m in root.modules():
            self.handles.append(m.register_forward_pre_hook(self._pre, with_kwargs=True))
            self.handles.append(m.register_forward_hook(self._post, with_kwargs=True))

    def _pre(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        self.stack.append([module, tensor_shapes((args, kwargs)), self.flop_total(), 0, self.started])
        self.started += 1

    def _post(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        _, in_shapes, start, children, order = self.stack.pop()
        inclusive = self.flop_total() - start
        if self.stack:
            self.stack[-1][3] += inclusive
        outs = tensors_in(output)
        self.calls.append(
            Call(
                module=module,
                name=self.names.get(module, ""),
                start=order,
                in_shapes=in_shapes,
                out_shapes=[tuple(int(d) for d in t.shape) for t in outs],
                out_bytes=sum(t.numel() * t.element_size() for t in outs),
                flops=inclusive,
                self_flops=inclusive - children,
            )
        )

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def failure(self, root: nn.Module, exc: BaseException) -> TraceError:
        """An error naming the innermost layer that started but did not finish, and its inputs."""
        if self.stack:
            module, in_shapes = self.stack[-1][0], self.stack[-1][1]
        else:  # failed before the root's own forward started (e.g. in a global hook)
            module, in_shapes = root, []
        name = self.names.get(module, "")
        where = f"layer '{name}' ({type(module).__name__})" if name else f"the model itself ({type(module).__name__})"
        shapes = ", ".join(format_shape(s) for s in in_shapes) or "no tensors"
        return TraceError(
            f"forward of {type(root).__name__} failed in {where} with input shapes {shapes}: "
            f"{type(exc).__name__}: {exc}"
        )


def format_shape(shape: Shape) -> str:
    """``(1,3,224,224)``: the compact form the seed's flowchart uses."""
    return "(" + ",".join(str(d) for d in shape) + ")"


def trace(
    module: nn.Module,
    input_shape: Sequence[int] | Sequence[Sequence[int]] | None = None,
    inputs: torch.Tensor | Sequence[torch.Tensor] | None = None,
    *,
    count_flops: bool = False,
) -> Trace:
    """Run ``module`` once on an example input and record every module call; the model is untouched.

    With ``count_flops`` the pass runs under torch's ``FlopCounterMode``, which counts the work
    of every aten operator (convolutions with groups, matmuls, attention), so functional calls
    inside a custom ``forward`` count too; the hooks read its running total to attribute it.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(module).__name__}")
    args = make_inputs(module, input_shape, inputs)
    counter = None
    if count_flops:
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
    recorder = _Recorder(module, counter.get_total_flops if counter is not None else None)
    try:
        with preserved(module), counter if counter is not None else contextlib.nullcontext():
            try:
                output = module(*args)
            except Exception as exc:
                raise recorder.failure(module, exc) from exc
    finally:
        recorder.remove()
    return Trace(
        calls=recorder.calls,
        input_shapes=tensor_shapes(args),
        output_shapes=tensor_shapes(output),
        names=recorder.names,
    )


def human(value: float, unit: str = "", base: int = 1000) -> str:
    """``56.51 M``-style short numbers (``base=1024`` with ``unit='B'`` for memory)."""
    prefixes = ["", "K", "M", "G", "T", "P"]
    if value == 0:
        return f"0 {unit}".rstrip()
    exponent = min(int(math.log(abs(value), base)), len(prefixes) - 1)
    scaled = value / base**exponent
    prefix = prefixes[exponent] + ("i" if base == 1024 and exponent else "")
    return f"{scaled:.2f} {prefix}{unit}".rstrip() if exponent else f"{value:g} {unit}".rstrip()

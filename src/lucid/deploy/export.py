"""Export lucid models to ONNX, OpenVINO IR, ExecuTorch or TorchScript, verified against the eager model.

The exported graph is the inference graph: BatchNorm folded into the convolutions (by torch's
``fuse_conv_bn_eval`` before export, so it holds for every exporter), HardSwish/HardSigmoid as
ONNX's own operators (opset >= 14), input ``input`` and output ``logits``, and the preprocessing
(size, resize, channels, mean/std) plus the class names in the model's ``metadata_props``.
OpenVINO IR (``.xml`` + ``.bin``) is converted from that same ONNX graph and carries the same
metadata in its runtime info; ExecuTorch (``.pte``) is lowered to the XNNPACK delegate and
carries it as a constant method (see `lucid.deploy.openvino`, `lucid.deploy.executorch`).
After writing, the file is run in its own runtime (ONNX Runtime, OpenVINO, ExecuTorch or
``torch.jit.load``) on random input against the eager model; a maximum difference above ``rtol``
of the largest logit raises `VerificationError` and leaves nothing at ``out``. A kept file
gets a ``<file>.sha256`` digest beside it (`lucid.deploy.integrity`), which the
`Predictor` checks before running it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lucid.deploy.integrity import check_model_output, default_model_path, write_with_digest
from lucid.deploy.preprocess import Preprocessing, model_classes, read_classes, write_classes
from lucid.errors import ExportError
from lucid.tasks import ExportSpec, Task, get_task

__all__ = [
    "FORMATS",
    "MIN_OPSET",
    "DEFAULT_OPSET",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "ExportResult",
    "VerificationError",
    "SUFFIXES",
    "export",
    "fold_batchnorm",
    "inference_copy",
    "load_source_model",
    "metadata_of",
    "opset_range",
    "quiet_torch_export",
    "to_onnx_bytes",
    "to_torchscript",
    "with_metadata",
]

FORMATS = ("onnx", "torchscript", "openvino", "executorch")
# The file suffixes each format is written to (the first is the default of lucid export --format all).
SUFFIXES = {"onnx": (".onnx",), "torchscript": (".pt", ".ts"), "openvino": (".xml",), "executorch": (".pte",)}
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
# ONNX added HardSwish as an operator in opset 14; below it the exporters decompose it.
MIN_OPSET = 14
# Opset 18: understood by every maintained runtime, and what the dynamo exporter emits natively.
DEFAULT_OPSET = 18
# The dynamo exporter cannot emit opsets below 18 (it silently writes 18 instead).
DYNAMO_MIN_OPSET = 18
DEFAULT_RTOL = 1e-4


class VerificationError(ExportError):
    """The exported file does not reproduce the eager model (the message has the numbers)."""


@dataclass(frozen=True)
class ExportResult:
    """What `export` wrote and how closely it matches the eager model."""

    path: Path
    format: str
    opset: int | None
    dynamic_batch: bool
    max_abs_diff: float
    max_rel_diff: float
    checked_batches: tuple[int, ...]
    preprocessing: Preprocessing
    classes: list[str] | None
    seconds: float
    exporter: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    task: str = "classify"
    dynamic_size: bool = False  # height and width free (segmentation's ONNX and OpenVINO files)
    checked_shapes: tuple[tuple[int, ...], ...] = ()
    outputs: tuple[str, ...] = ("logits",)  # the file's output names (the task's export spec)

    def summary(self) -> str:
        """One line for the console: file, format, and the verified difference."""
        opset = f", opset {self.opset}" if self.opset is not None else ""
        if self.dynamic_size:
            sizes = ", ".join(f"{s[0]}x{s[2]}x{s[3]}" for s in self.checked_shapes)
            checked = f"at {sizes} (dynamic batch/height/width)"
        else:
            checked = "on batch " + "/".join(str(b) for b in self.checked_batches)
        return (
            f"wrote {self.path} ({self.task}, {self.format}{opset}, {self.exporter}); max |diff| vs eager = "
            f"{self.max_abs_diff:.3g} ({self.max_rel_diff:.3g} relative) {checked}, "
            f"{self.seconds:.1f} s"
        )


# ---------------------------------------------------------------------------------------------
# the model to export
# ---------------------------------------------------------------------------------------------


def load_source_model(source: nn.Module | str | os.PathLike[str], weights: Any = None) -> nn.Module:
    """A model from a module, a lucid checkpoint path, or a registered model name (with ``weights``):
    `lucid.models.resolve.resolve`'s model (kept for callers of this name)."""
    from lucid.models.resolve import resolve

    return resolve(source, weights).model


def fold_batchnorm(model: nn.Module) -> int:
    """Fold every ``Conv2d`` directly followed by a ``BatchNorm2d`` in a Sequential, in place.

    The convolution takes the normalisation's scale and shift, the BatchNorm becomes Identity.
    ``model`` must be in eval mode. Returns the number of folded pairs.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (running statistics are folded)")
    folded = 0
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        for first, second in zip(names, names[1:], strict=False):
            conv, norm = parent._modules[first], parent._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                parent._modules[first] = fuse_conv_bn_eval(conv, norm)
                parent._modules[second] = nn.Identity()
                folded += 1
    return folded


def inference_copy(model: nn.Module) -> nn.Module:
    """An eval-mode float32 CPU copy with BatchNorm folded (the caller's model is left untouched)."""
    clone = copy.deepcopy(model).to("cpu", torch.float32).eval()
    for param in clone.parameters():
        param.requires_grad_(False)
    fold_batchnorm(clone)
    return clone


# ---------------------------------------------------------------------------------------------
# option checks
# ---------------------------------------------------------------------------------------------


def opset_range(dynamo: bool = False) -> tuple[int, int]:
    """The opsets `export` accepts for an exporter: HardSwish's opset up to torch's maximum."""
    try:  # torch's own limits, when this torch still exposes them
        from torch.onnx import _constants

        legacy_max, dynamo_max = _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET, _constants.ONNX_MAX_OPSET
    except (ImportError, AttributeError):
        legacy_max, dynamo_max = 20, 23  # torch 2.9 - 2.14's values
    return (DYNAMO_MIN_OPSET, dynamo_max) if dynamo else (MIN_OPSET, legacy_max)


def _check_options(fmt: str, out: Path, opset: int | None, dynamo: bool, batch_size: int, rtol: float) -> int | None:
    if out.suffix.lower() not in SUFFIXES[fmt]:
        raise ValueError(f"a {fmt} export is written to a {' or '.join(SUFFIXES[fmt])} file, got {str(out)!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(rtol, (int, float)) or not rtol > 0:
        raise ValueError(f"rtol must be a positive number, got {rtol!r}")
    if fmt in ("torchscript", "executorch"):
        if opset is not None:
            raise ValueError(f"opset applies to ONNX and OpenVINO exports only, not to format={fmt!r}")
        if dynamo:
            raise ValueError(f"dynamo=True selects the ONNX exporter; it does not apply to format={fmt!r}")
        return None
    low, high = opset_range(dynamo)
    if opset is None:
        return max(DEFAULT_OPSET, low)
    if not isinstance(opset, int) or isinstance(opset, bool):
        raise TypeError(f"opset must be an integer, got {type(opset).__name__}")
    if not low <= opset <= high:
        exporter = "dynamo" if dynamo else "TorchScript-based"
        why = "HardSwish is an ONNX operator from opset 14" if opset < low and not dynamo else "exporter limits"
        raise ValueError(f"opset must be in {low}..{high} for the {exporter} exporter ({why}), got {opset}")
    return opset


def _check_image_size(image_size: Any) -> None:
    """``image_size`` (None, a side, or (height, width)) in whole pixels 1..MAX_IMAGE_SIZE, named by
    its flag, before it sizes anything."""
    from lucid.preprocessing import MAX_IMAGE_SIZE

    if image_size is None:
        return
    sides = list(image_size) if isinstance(image_size, (tuple, list)) else [image_size]
    whole = all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_IMAGE_SIZE for v in sides)
    if not whole or len(sides) not in (1, 2):
        raise ValueError(
            f"image_size must be a whole number of pixels 1..{MAX_IMAGE_SIZE} a side (--image-size), got {image_size!r}"
        )


# ---------------------------------------------------------------------------------------------
# ONNX
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_torch_export() -> Iterator[None]:
    """Silence the exporters' deprecation notes and tracer remarks: they are about torch, not the model."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


def to_onnx_bytes(
    model: nn.Module,
    example: torch.Tensor,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    dynamo: bool = False,
    outputs: Sequence[str] = (OUTPUT_NAME,),
    dynamic_size: bool = False,
) -> bytes:
    """The serialised ONNX model of an eval-mode ``model`` for inputs like ``example``.

    ``outputs`` names the graph's outputs (a task's `export_outputs`);
    ``dynamic_size`` leaves height and width free (TorchScript-based exporter; the batch too, and
    the last two dimensions of every 4-d output).

    The TorchScript-based exporter (default) writes exactly the requested opset and takes about
    a second; ``dynamo=True`` uses torch.export (torch's newer path, opset >= 18, much slower).
    """
    if dynamic_size and dynamo:
        raise ValueError("a model with a free image size is exported by the TorchScript-based exporter (not dynamo)")
    with quiet_torch_export(), torch.no_grad():
        if dynamo:
            dims = {0: torch.export.Dim("batch", min=1)} if dynamic_batch else None
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=list(outputs),
                dynamic_shapes=(dims,) if dims else None,
                verbose=False,
            )
            if program is None:
                raise ExportError("torch.onnx.export(dynamo=True) returned no program")
            return program.model_proto.SerializeToString()
        buffer: Any = io.BytesIO()  # torch's stubs name only paths; a file object works alike
        axes = _dynamic_axes(model, example, outputs, dynamic_batch, dynamic_size)
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=list(outputs),
            dynamic_axes=axes,
            do_constant_folding=True,
        )
    return _tidy(buffer.getvalue())


def _dynamic_axes(
    model: nn.Module, example: torch.Tensor, outputs: Sequence[str], batch: bool, size: bool
) -> dict[str, dict[int, str]] | None:
    """The TorchScript exporter's ``dynamic_axes``: the batch of the input and every output, and
    with ``size`` the input's height/width and the last two dimensions of 4-d outputs."""
    if not (batch or size):
        return None
    with torch.no_grad():
        produced = model(example)
    shapes = [t.shape for t in (produced if isinstance(produced, (tuple, list)) else (produced,))]
    axes: dict[str, dict[int, str]] = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"} if size else {0: "batch"}}
    for name, shape in zip(outputs, shapes, strict=False):
        axes[name] = {0: "batch", 2: "height", 3: "width"} if size and len(shape) == 4 else {0: "batch"}
    return axes


def _tidy(raw: bytes) -> bytes:
    """Remove the TorchScript exporter's Identity/Constant leftovers with onnxscript's optimizer
    (the dynamo exporter runs the same pass), so the file reads like the network it holds."""
    import onnx
    from onnxscript import optimizer

    return optimizer.optimize(onnx.load_from_string(raw)).SerializeToString()


def _check_graph(proto: Any, model: nn.Module) -> None:
    """The promises of the module docstring, checked on the graph itself."""
    ops = {node.op_type for node in proto.graph.node}
    if "BatchNormalization" in ops:
        raise VerificationError("the exported graph still has BatchNormalization nodes (folding failed)")
    for module_type, op in ((nn.Hardswish, "HardSwish"), (nn.Hardsigmoid, "HardSigmoid")):
        if any(isinstance(m, module_type) for m in model.modules()) and op not in ops:
            raise VerificationError(f"the exporter decomposed {op}: the graph has no {op} node (ops: {sorted(ops)})")


def with_metadata(raw: bytes, metadata: dict[str, str]) -> bytes:
    """The ONNX model ``raw`` with ``metadata`` as its only ``metadata_props``, checked by ONNX's checker
    (classification and segmentation exports both record their preprocessing this way)."""
    import onnx

    proto = onnx.load_from_string(raw)
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _onnx_runner(path: str) -> Any:
    from lucid.deploy.runtime import make_session

    session = make_session(path)
    return lambda x: list(session.run(None, {INPUT_NAME: x.numpy()}))


def _openvino_runner(path: str) -> Any:
    from lucid.deploy.runtime import OpenVINOModel

    model = OpenVINOModel(path)
    return lambda x: model.run_all(x.numpy())


def _executorch_runner(path: str) -> Any:
    from lucid.deploy.runtime import ExecuTorchModel

    model = ExecuTorchModel(path)
    return lambda x: model.run_all(x.numpy())


def _torchscript_runner(path: str) -> Any:
    with quiet_torch_export():
        module = torch.jit.load(path, map_location="cpu")

    def run(x: torch.Tensor) -> list[np.ndarray]:
        with torch.no_grad():
            produced = module(x)
        return [t.numpy() for t in (produced if isinstance(produced, (tuple, list)) else (produced,))]

    return run


def _verify(
    run: Any, reference: nn.Module, shapes: Sequence[tuple[int, ...]], rtol: float, seed: int
) -> tuple[float, float]:
    """Largest |exported - eager| over random inputs of each shape ``(N, C, H, W)``, every output
    compared (a detector's boxes and scores alike): absolute, and relative to that output's largest
    value. ``run`` returns the exported file's outputs in order; the worst output decides."""
    generator = torch.Generator().manual_seed(seed)
    worst_abs, worst_rel, worst_name = 0.0, 0.0, ""
    for shape in shapes:
        x = torch.randn(*shape, generator=generator)
        with torch.no_grad():
            produced = reference(x)
        expected = [t.numpy() for t in (produced if isinstance(produced, (tuple, list)) else (produced,))]
        produced_file = run(x)  # a list of outputs (one array: a one-output runner)
        got = [np.asarray(a) for a in (produced_file if isinstance(produced_file, (list, tuple)) else [produced_file])]
        if len(got) != len(expected):
            raise VerificationError(f"exported model returns {len(got)} outputs, eager {len(expected)}")
        for index, (out, ref) in enumerate(zip(got, expected, strict=True)):
            abs_diff, rel_diff = _difference(out, ref, tuple(shape), index)
            if rel_diff > worst_rel or (rel_diff == worst_rel and abs_diff > worst_abs):
                worst_name = f"output {index}"
            worst_abs, worst_rel = max(worst_abs, abs_diff), max(worst_rel, rel_diff)
    if worst_rel > rtol:
        raise VerificationError(
            f"the exported model disagrees with the eager model: max |diff| = {worst_abs:.3g}, "
            f"{worst_rel:.3g} of the largest value ({worst_name}) > rtol {rtol:g}; nothing was written"
        )
    return worst_abs, worst_rel


def _difference(got: np.ndarray, expected: np.ndarray, shape: tuple[int, ...], index: int) -> tuple[float, float]:
    """``(max |got - expected|, that relative to expected's largest |value|)`` of one output."""
    if got.shape != expected.shape:
        raise VerificationError(
            f"exported model returns shape {got.shape} (output {index}) for input {shape}, eager {expected.shape}"
        )
    if not (np.isfinite(got).all() and np.isfinite(expected).all()):
        which = "the exported model" if np.isfinite(expected).all() else "the eager model"
        raise VerificationError(f"{which} returns non-finite values on random input; nothing was written")
    if got.size == 0:
        return 0.0, 0.0
    abs_diff = float(np.abs(got - expected).max())
    return abs_diff, abs_diff / max(float(np.abs(expected).max()), float(np.finfo(np.float32).tiny))


# ---------------------------------------------------------------------------------------------
# TorchScript
# ---------------------------------------------------------------------------------------------


def to_torchscript(model: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """A frozen TorchScript module of an eval-mode ``model``: scripted, else traced with ``example``.

    torch.jit is deprecated in recent torch but still the format C++/mobile runtimes load; its
    deprecation warnings are silenced here.
    """
    with quiet_torch_export(), torch.no_grad():
        try:
            scripted = torch.jit.script(model)
        except Exception:  # noqa: BLE001 - models with unscriptable Python fall back to tracing
            scripted = torch.jit.trace(model, example)
        return torch.jit.freeze(scripted.eval())


# ---------------------------------------------------------------------------------------------
# OpenVINO
# ---------------------------------------------------------------------------------------------


def _require_runtime(fmt: str) -> None:
    """Fail before any work when the format's optional runtime is not installed."""
    from lucid.deploy.runtime import require

    if fmt == "openvino":
        require("openvino", "lucid export --format openvino")
    elif fmt == "executorch":
        require("executorch", "lucid export --format executorch")


def _write_openvino(target: Path, onnx_model: bytes, meta: dict[str, str], verify: Any) -> None:
    """Convert the ONNX graph with OpenVINO's converter, add the metadata to its runtime info,
    then write, verify and rename both IR files (`lucid.deploy.openvino.save_ir`)."""
    import tempfile

    from lucid.deploy.openvino import read_openvino_model, save_ir, set_metadata

    with tempfile.TemporaryDirectory(prefix="lucid-openvino-") as workdir:
        onnx_file = Path(workdir) / "model.onnx"
        onnx_file.write_bytes(onnx_model)
        model = read_openvino_model(onnx_file)
        set_metadata(model, meta)
        save_ir(model, target, verify)


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------


def metadata_of(model: nn.Module, source: Any, prep: Preprocessing, classes: list[str] | None) -> dict[str, str]:
    """What every exported file records: producer, preprocessing, class names, model name and
    config, source, and the training data split (so int8 evaluation uses the held-out images)."""
    from lucid import __version__

    meta = {"producer": f"lucid {__version__}", **prep.to_metadata(), **write_classes(classes)}
    name = getattr(model, "model_name", None)
    if name:
        meta["model_name"] = str(name)
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        meta["config"] = json.dumps(config.to_dict())
    if not isinstance(source, nn.Module):
        meta["source"] = str(source)
    extra = getattr(model, "checkpoint_extra", None)
    if isinstance(extra, dict) and isinstance(extra.get("data"), dict):
        # The training data and split: lucid quantize evaluates on the same held-out images.
        meta["train_data"] = json.dumps(extra["data"])
    return meta


def export(
    model: nn.Module | str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    format: str = "onnx",  # noqa: A002 - the CLI's --format
    opset: int | None = None,
    dynamic_batch: bool = False,
    *,
    weights: Any = None,
    dynamo: bool = False,
    batch_size: int = 1,
    image_size: int | tuple[int, int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    resize_size: int | None = None,
    classes: Sequence[str] | None = None,
    rtol: float = DEFAULT_RTOL,
    seed: int = 0,
) -> ExportResult:
    """Export ``model`` (a module, a lucid checkpoint path or a registered name) to ``out``, verified.

    ``out`` None: beside the checkpoint with the format's suffix (``best.safetensors`` to
    ``best.onnx``), or the model name plus the suffix in the current folder.

    ``format``: ``"onnx"`` (``.onnx``), ``"openvino"`` (``.xml`` + ``.bin``, through the ONNX graph;
    needs the ``[deploy]`` extra), ``"executorch"`` (``.pte``, XNNPACK delegate, fixed batch; needs
    the ``[mobile]`` extra) or ``"torchscript"`` (``.pt``/``.ts``, frozen). ``opset`` (ONNX and
    OpenVINO): 14..20 (default 18; 18..23 with ``dynamo=True``). ``dynamic_batch`` makes the batch
    dimension free (checked at batch 1 and 3); else the file takes ``batch_size`` images. ``image_size``,
    ``mean``, ``std``, ``resize_size`` and ``classes`` override what the model recorded.
    The written file matches the eager model to ``rtol`` of its largest logit, or
    `VerificationError` is raised and nothing is written (an older ``out`` stays as it was).
    A missing optional runtime raises `lucid.errors.MissingDependencyError` naming the extra.
    """
    start = time.perf_counter()
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    target = Path(out).expanduser() if out is not None else default_model_path(model, SUFFIXES[format][0])
    opset = _check_options(format, target, opset, dynamo, batch_size, rtol)
    _check_image_size(image_size)
    check_model_output(target, inputs=[model, weights])
    if format == "executorch" and dynamic_batch:
        raise ValueError("an ExecuTorch program takes a fixed batch: use batch_size=N instead of dynamic_batch")
    _require_runtime(format)
    from lucid.models.resolve import resolve

    resolved = resolve(model, weights)
    plan = _plan(
        resolved.model,
        model,
        get_task(resolved.task),
        format,
        dynamic_batch=dynamic_batch,
        dynamo=dynamo,
        batch_size=batch_size,
        overrides={"image_size": image_size, "mean": mean, "std": std, "resize_size": resize_size},
        classes=classes,
    )
    diffs = _write_verified(plan, format, target, opset, rtol, seed)
    return ExportResult(
        path=target,
        format=format,
        opset=opset,
        dynamic_batch=plan.dynamic_batch,
        max_abs_diff=diffs[0],
        max_rel_diff=diffs[1],
        checked_batches=tuple(shape[0] for shape in plan.shapes),
        preprocessing=plan.spec.preprocessing,
        classes=read_classes(plan.meta),  # as the file records them (a task may record its own list)
        seconds=time.perf_counter() - start,
        exporter=_exporter_name(format, dynamo),
        metadata=plan.meta,
        outputs=tuple(plan.spec.outputs),
        task=plan.task.name,
        dynamic_size=plan.free_size,
        checked_shapes=tuple(plan.shapes),
    )


@dataclass
class _ExportPlan:
    """What one export writes and checks: the task's export spec, the eager ``reference`` the
    file must reproduce, its BatchNorm-folded copy that is exported, the ``example`` input it is
    traced with, the input ``shapes`` it is checked at, and the file's metadata."""

    task: type[Task]
    spec: ExportSpec
    reference: nn.Module
    folded: nn.Module
    example: torch.Tensor
    shapes: list[tuple[int, int, int, int]]
    meta: dict[str, str]
    dynamic_batch: bool
    free_size: bool
    dynamo: bool


def _plan(
    model: nn.Module,
    source: Any,
    task: type[Task],
    fmt: str,
    *,
    dynamic_batch: bool,
    dynamo: bool,
    batch_size: int,
    overrides: dict[str, Any],
    classes: Sequence[str] | None,
) -> _ExportPlan:
    """The `_ExportPlan` of ``model`` (resolved from ``source``) in format ``fmt``; refuses the
    options its task's file cannot take."""
    spec = task.export_spec(model, **overrides)
    free_size = spec.dynamic_size and fmt in ("onnx", "openvino")
    if free_size and dynamo:
        raise ValueError(
            f"a {task.name} model keeps a free image size, which the dynamo exporter cannot; drop --dynamo"
        )
    if free_size and batch_size != 1:
        raise ValueError(
            f"a {task.name} model's {fmt} file keeps its batch and image size free: batch_size "
            f"(--batch-size) does not apply, got {batch_size}"
        )
    dynamic_batch = dynamic_batch or free_size  # a free image size frees the batch too
    prep = spec.preprocessing
    names = model_classes(model, classes)
    reference = task.export_module(copy.deepcopy(model).to("cpu", torch.float32).eval())
    reference = reference.to(memory_format=torch.contiguous_format)
    channels, (height, width) = prep.in_channels, prep.image_size
    export_batch = 2 if (dynamic_batch and dynamo) else batch_size  # torch.export specialises size-1 dims
    return _ExportPlan(
        task=task,
        spec=spec,
        reference=reference,
        folded=inference_copy(reference),
        example=torch.zeros(export_batch, channels, height, width),
        shapes=_checked_shapes(channels, (height, width), dynamic_batch, export_batch, free_size),
        meta={**metadata_of(model, source, prep, names), "task": task.name, **spec.metadata},
        dynamic_batch=dynamic_batch,
        free_size=free_size,
        dynamo=dynamo,
    )


def _write_verified(
    plan: _ExportPlan, fmt: str, target: Path, opset: int | None, rtol: float, seed: int
) -> tuple[float, float]:
    """Write ``plan``'s file at ``target`` in ``fmt``, run it in its runtime against the eager
    model, and return the largest absolute and relative differences. The file is written under a
    temporary name and kept only when it passes, so a failed check leaves ``target`` as it was."""
    diffs: tuple[float, float] = (0.0, 0.0)

    def check(runner: Any) -> None:
        nonlocal diffs
        diffs = _verify(runner, plan.reference, plan.shapes, rtol, seed)

    def onnx_bytes() -> bytes:
        import onnx

        raw = to_onnx_bytes(
            plan.folded,
            plan.example,
            opset=opset or DEFAULT_OPSET,
            dynamic_batch=plan.dynamic_batch,
            dynamo=plan.dynamo,
            outputs=plan.spec.outputs,
            dynamic_size=plan.free_size,
        )
        _check_graph(onnx.load_from_string(raw), plan.reference)
        return with_metadata(raw, plan.meta)

    def write(tmp: str) -> None:
        if fmt == "onnx":
            Path(tmp).write_bytes(onnx_bytes())
            check(_onnx_runner(tmp))
        elif fmt == "executorch":
            from lucid.deploy.executorch import to_executorch_bytes

            Path(tmp).write_bytes(to_executorch_bytes(plan.folded, plan.example, plan.meta))
            check(_executorch_runner(tmp))
        else:
            module = to_torchscript(plan.folded, plan.example)
            with quiet_torch_export():
                torch.jit.save(module, tmp, _extra_files={"lucid.json": json.dumps(plan.meta)})
            check(_torchscript_runner(tmp))

    if fmt == "openvino":
        _write_openvino(target, onnx_bytes(), plan.meta, lambda xml: check(_openvino_runner(str(xml))))
    else:
        write_with_digest(target, write)
    return diffs


def _exporter_name(fmt: str, dynamo: bool) -> str:
    """How a file of format ``fmt`` was made, as `ExportResult.exporter` reports it."""
    onnx_exporter = "dynamo" if dynamo else "torchscript-based"
    return {
        "onnx": onnx_exporter,
        "openvino": f"OpenVINO from the {onnx_exporter} ONNX graph",
        "executorch": "torch.export + XNNPACK",
        "torchscript": "frozen torch.jit",
    }[fmt]


def _checked_shapes(
    channels: int, size: tuple[int, int], dynamic_batch: bool, batch: int, free_size: bool
) -> list[tuple[int, int, int, int]]:
    """The input shapes an export is checked at: its own, another batch when the batch is free,
    and another height and width when they are free too."""
    height, width = size
    if free_size:
        return [(1, channels, height, width), (2, channels, height + 24, max(16, width - 40))]
    if dynamic_batch:
        return [(1, channels, height, width), (3, channels, height, width)]
    return [(batch, channels, height, width)]

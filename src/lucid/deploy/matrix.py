"""``export_all``: every deployment format of one model, each measured against the eager model.

One call writes ONNX, OpenVINO IR and ExecuTorch files (each verified by
`lucid.deploy.export`) plus the int8 files of both quantizers (`lucid.deploy.quantize`),
then runs every file in its runtime on the same real, preprocessed images as the eager model and
reports, per file and runtime: the largest output difference from eager, the agreement with
eager as the task counts it (top-1 labels, mask pixels, boxes) and the task's score (top-1, mIoU,
mAP) where the images have labels, the file size and the batch-1 latency
on this machine. Formats whose optional runtime is not installed are listed as skipped, with
the extra that brings them. No TorchScript file is written: nothing in lucid runs one (``lucid
export --format torchscript`` still writes one on request, for C++ callers).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lucid.deploy.export import export
from lucid.deploy.integrity import default_model_path, model_files
from lucid.deploy.preprocess import model_classes, write_classes
from lucid.deploy.quantize import DIGITS, quantize, recorded_data, task_sets
from lucid.deploy.runtime import ExecuTorchModel, OnnxRuntimeModel, OpenVINOModel, available
from lucid.errors import MissingDependencyError
from lucid.tasks import get_task

__all__ = ["MATRIX_FORMATS", "MatrixRow", "export_all", "format_matrix"]

# (row name, export format or "int8", runtime, file suffix, optional module it needs)
MATRIX_FORMATS: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("ONNX fp32", "onnx", "onnxruntime", ".onnx", None),
    ("ONNX fp32", "onnx", "openvino", ".onnx", "openvino"),
    ("OpenVINO IR fp32", "openvino", "openvino", ".xml", "openvino"),
    ("ExecuTorch XNNPACK fp32", "executorch", "executorch", ".pte", "executorch"),
    ("ONNX int8 (ORT quantizer)", "int8", "onnxruntime", ".int8.onnx", None),
    ("OpenVINO IR int8 (NNCF)", "int8", "openvino", ".int8.xml", "nncf"),
)
Log = Callable[[str], None]


@dataclass(frozen=True)
class MatrixRow:
    """One file in one runtime, measured against the eager model on the same images."""

    name: str
    runtime: str
    path: Path | None
    bytes: int = 0
    max_abs_diff: float = float("nan")
    agreement: float = float("nan")  # agreement with eager, as the task counts it
    top1: float | None = None  # the task's score where labels exist (top-1, mIoU, mAP: ``metric``)
    latency_ms: float = float("nan")  # batch 1, median
    metric: str = "top-1"
    note: str = ""

    @property
    def skipped(self) -> bool:
        return self.path is None


def _latency(run: Callable[[], Any], budget_s: float, max_calls: int = 200) -> float:
    """Median batch-1 call time in ms: 3 untimed calls, then timed calls for ``budget_s``."""
    for _ in range(3):
        run()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < 5 or (time.perf_counter() - started < budget_s and len(times) < max_calls):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


Outputs = list[np.ndarray]  # one array per graph output (a classifier: logits; a detector: boxes, scores)


def _runner(path: Path, runtime: str, threads: int | None) -> Callable[[np.ndarray], Outputs]:
    """Every output of the file, run in ``runtime``."""
    if runtime == "openvino":
        return OpenVINOModel(path, threads).run_all
    if runtime == "executorch":
        return ExecuTorchModel(path).run_all
    return OnnxRuntimeModel(path, threads).run_all


class _Scorer:
    """A task's comparison of a file's outputs with eager's, and its score on the labels."""

    def __init__(self, task: Any, labels: Any, metadata: dict[str, str]) -> None:
        self.task, self.labels, self.metadata = task, labels, metadata

    def __call__(self, eager: Outputs, outputs: Outputs) -> tuple[float, float | None, str]:
        found = self.task.compare(eager, outputs, self.labels, self.metadata)
        return found.agreement, found.candidate, found.metric


def _largest_difference(eager: Outputs, outputs: Outputs) -> float:
    """The largest absolute difference over every output (logits; a detector's box pixels and scores)."""
    return max(float(np.abs(np.asarray(o) - e).max()) for e, o in zip(eager, outputs, strict=True))


def _measure(
    name: str,
    runtime: str,
    path: Path,
    run: Callable[[np.ndarray], Outputs],
    images: np.ndarray,
    eager: Outputs,
    scorer: _Scorer,
    budget_s: float,
    note: str = "",
) -> MatrixRow:
    outputs = [np.asarray(o) for o in run(images)]
    agreement, score, metric = scorer(eager, outputs)
    one = images[:1]
    return MatrixRow(
        name=name,
        runtime=runtime,
        path=path,
        bytes=sum(p.stat().st_size for p in model_files(path) if p.is_file()),
        max_abs_diff=_largest_difference(eager, outputs),
        agreement=agreement,
        top1=score,
        latency_ms=_latency(lambda: run(one), budget_s),
        note=note,
        metric=metric,
    )


def _eager_row(module: nn.Module, images: np.ndarray, scorer: _Scorer, budget_s: float) -> tuple[MatrixRow, Outputs]:
    """The reference row: the task's exported graph (`lucid.tasks.Task.export_module`) run eagerly."""

    def run(batch: np.ndarray) -> Outputs:
        with torch.inference_mode():
            produced = module(torch.from_numpy(batch))
        produced = produced if isinstance(produced, (list, tuple)) else [produced]
        return [o.numpy() for o in produced]

    chunks = [run(images[i : i + 64]) for i in range(0, len(images), 64)]
    eager = [np.concatenate(parts) for parts in zip(*chunks, strict=True)]
    _, score, metric = scorer(eager, eager)
    row = MatrixRow(
        name="PyTorch eager fp32",
        runtime="torch",
        path=None,
        max_abs_diff=0.0,
        agreement=1.0,
        top1=score,
        latency_ms=_latency(lambda: run(images[:1]), budget_s),
        note="the reference",
        metric=metric,
    )
    return row, eager


def export_all(
    source: nn.Module | str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    weights: Any = None,
    data: str | os.PathLike[str] | None = None,
    image_size: int | None = None,
    formats: Sequence[str] | None = None,
    num_calib: int = 128,
    num_eval: int | None = 300,
    threads: int | None = None,
    latency_budget_s: float = 1.0,
    log: Log | None = None,
) -> list[MatrixRow]:
    """Export ``source`` to every available format in ``out_dir`` and measure each file (see module doc).

    ``data``: the images for the agreement, the score (top-1, mIoU) and int8 calibration, read by
    the model's task (``"digits"`` or class folders; a segmentation data folder); None: the data
    the checkpoint records, its training split calibrating and its held-out split scoring.
    ``formats``: a subset of the row names' formats
    (``onnx``, ``openvino``, ``executorch``, ``int8``); None: all.
    ``out_dir`` None: the folder ``STEM-export`` beside a checkpoint (``NAME-export`` for a model name).
    Returns the eager reference row first, then one row per file and runtime.
    """
    say = log or (lambda line: None)
    folder = Path(out_dir).expanduser() if out_dir is not None else default_model_path(source, "-export")
    folder.mkdir(parents=True, exist_ok=True)
    wanted = _wanted_formats(formats)
    from lucid.models.resolve import resolve

    resolved = resolve(source, weights)
    model = resolved.model.to("cpu", torch.float32).eval()
    task = get_task(resolved.task)
    stem = Path(str(source)).stem if not isinstance(source, nn.Module) else str(getattr(model, "model_name", "model"))
    spec = task.export_spec(model, image_size=image_size)
    prep = spec.preprocessing
    metadata = {**_data_metadata(model), **write_classes(model_classes(model)), **spec.metadata, "task": task.name}
    if data is None:
        data = recorded_data(metadata) or DIGITS  # the checkpoint's own data, its held-out split
    calib_set, eval_set = task_sets(task, data, prep, metadata, None, num_calib, num_eval, 0)
    images, labels = eval_set.images, eval_set.labels
    say(f"calibrating on {calib_set.description}; evaluating on {eval_set.description}")
    scorer = _Scorer(task, labels, metadata)
    eager_row, eager = _eager_row(task.export_module(model), images, scorer, latency_budget_s)
    rows = [eager_row]
    onnx_file = folder / f"{stem}.onnx"
    if wanted & {"onnx", "int8"}:
        say(f"  {export(model, onnx_file, 'onnx', dynamic_batch=True, image_size=image_size).summary()}")
    for name, fmt, runtime, suffix, needs in MATRIX_FORMATS:
        if fmt not in wanted:
            continue
        path = folder / f"{stem}{suffix}"
        if needs is not None and not available(needs):
            extra = "mobile" if needs == "executorch" else "deploy"
            note = f"skipped: {needs} not installed (pip install 'lucid[{extra}]')"
            rows.append(MatrixRow(name=name, runtime=runtime, path=None, note=note))
            continue
        try:
            note = _write(fmt, runtime, model, source, path, onnx_file, calib_set.images, image_size, threads, say)
        except MissingDependencyError as exc:
            rows.append(MatrixRow(name=name, runtime=runtime, path=None, note=f"skipped: {exc}"))
            continue
        rows.append(
            _measure(
                name, runtime, path, _runner(path, runtime, threads), images, eager, scorer, latency_budget_s, note
            )
        )
        say(f"  {name} on {runtime}: {format_row(rows[-1])}")
    return rows


def _wanted_formats(formats: Sequence[str] | None) -> set[str]:
    """The matrix's formats asked for (None: all of them); an unknown name is refused."""
    known = {f[1] for f in MATRIX_FORMATS}
    wanted = set(formats) if formats is not None else known
    unknown = wanted - known
    if unknown:
        raise ValueError(
            f"unknown formats {sorted(unknown)}; expected some of onnx, openvino, executorch, int8 "
            "(TorchScript is written only by lucid export --format torchscript)"
        )
    return wanted


def _data_metadata(model: nn.Module) -> dict[str, str]:
    """The training record's data split (so digits evaluate on the held-out split), as export records it."""
    import json

    extra = getattr(model, "checkpoint_extra", None)
    if isinstance(extra, dict) and isinstance(extra.get("data"), dict):
        return {"train_data": json.dumps(extra["data"])}
    return {}


def _write(
    fmt: str,
    runtime: str,
    model: nn.Module,
    source: Any,
    path: Path,
    onnx_file: Path,
    calib: np.ndarray,
    image_size: int | None,
    threads: int | None,
    say: Log,
) -> str:
    """Write one matrix file (the fp32 ONNX file is written before, once, for its two runtimes and int8)."""
    if fmt == "onnx":
        return "verified at export"
    if fmt == "int8":
        backend = "onnxruntime" if runtime == "onnxruntime" else "openvino"
        quantized = quantize(
            onnx_file, path, calib, backend=backend, num_calib=len(calib), num_eval=min(64, len(calib)), threads=threads
        )
        return f"calibrated on {quantized.num_calib} images, {path.stat().st_size / 1e6:.2f} MB main file"
    dynamic = fmt != "executorch"
    result = export(model, path, fmt, dynamic_batch=dynamic, image_size=image_size)
    say(f"  {result.summary()}")
    return f"max |diff| {result.max_abs_diff:.2g} on random input at export"


def format_row(row: MatrixRow) -> str:
    """One matrix row as a short line."""
    if row.skipped and row.runtime != "torch":
        return row.note
    top1 = "" if row.top1 is None else f", {row.metric} {100 * row.top1:.1f} %"
    return (
        f"max |diff| {row.max_abs_diff:.2g}, agreement {100 * row.agreement:.1f} %{top1}, "
        f"{row.bytes / 1e6:.2f} MB, {row.latency_ms:.2f} ms at batch 1"
    )


def format_matrix(rows: Sequence[MatrixRow]) -> str:
    """The matrix as a Markdown table."""
    metric = rows[0].metric if rows else "top-1"
    lines = [
        f"| format | runtime | file size | max output diff vs eager | agreement with eager | {metric} "
        "| batch-1 latency | note |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.skipped and r.runtime != "torch":
            lines.append(f"| {r.name} | {r.runtime} | | | | | | {r.note} |")
            continue
        size = f"{r.bytes / 1e6:.2f} MB" if r.path is not None else ""
        top1 = "" if r.top1 is None else f"{100 * r.top1:.1f} %"
        lines.append(
            f"| {r.name} | {r.runtime} | {size} | {r.max_abs_diff:.2g} | {100 * r.agreement:.1f} % | {top1} | "
            f"{r.latency_ms:.2f} ms | {r.note} |"
        )
    return "\n".join(lines)

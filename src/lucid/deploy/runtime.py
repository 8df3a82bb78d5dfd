"""The inference runtimes behind `lucid.deploy.Predictor`, one small class per runtime.

- `OnnxRuntimeModel`: ``.onnx`` through ONNX Runtime (core dependency, every platform).
- `OpenVINOModel`: ``.onnx`` and OpenVINO IR ``.xml`` through OpenVINO (extra ``[deploy]``),
  the fastest CPU runtime on x86. Batch 1 runs on a model compiled with the ``LATENCY`` hint;
  larger batches on one compiled with the ``THROUGHPUT`` hint, split over its parallel infer
  requests (OpenVINO's ``AsyncInferQueue``).
- `ExecuTorchModel`: ``.pte`` through ExecuTorch's Python runtime (extra ``[mobile]``).

Each exposes the same small surface: ``backend``, ``metadata`` (the lucid keys written at
export), ``input_shape`` (``None`` for a free dimension), ``num_classes`` and ``run(batch)``.
`choose_backend` turns ``backend="auto"`` into a runtime: OpenVINO on x86 CPUs when it is
installed, ONNX Runtime otherwise. `require` imports an optional runtime or raises
`lucid.errors.MissingDependencyError` naming the pip extra.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import platform
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from lucid.errors import DataError, MissingDependencyError

__all__ = [
    "read_openvino_model",
    "BACKENDS",
    "EXTRAS",
    "METADATA_METHOD",
    "OPENVINO_RT_KEY",
    "ExecuTorchModel",
    "OnnxRuntimeModel",
    "OpenVINOModel",
    "executorch_runtime",
    "quiet_native_output",
    "available",
    "choose_backend",
    "is_x86",
    "file_metadata",
    "load_runtime_model",
    "make_session",
    "require",
    "run_all_batches",
    "run_batches",
    "session_options",
    "softmax",
    "sniff_export",
    "task_for",
]

BACKENDS = ("auto", "onnxruntime", "openvino", "executorch")


def sniff_export(path: str | os.PathLike[str]) -> str | None:
    """The suffix an exported model file should have, judged from its first bytes (an IR's XML
    ``<net>``, ExecuTorch's ``ET`` flatbuffer identifier, an ONNX protobuf starting with its IR
    version and a producer name), or None: for a file whose suffix was lost or changed."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024)
    except OSError:
        return None
    if head.lstrip().startswith(b"<?xml") and b"<net " in head:
        return ".xml"
    if head[4:6] == b"ET" and head[6:8].isdigit():
        return ".pte"
    if head[:1] == b"\x08" and head[2:3] == b"\x12" and 0 < head[3] < 64 and head[4 : 4 + head[3]].isascii():
        return ".onnx"  # field 1 (ir_version), then field 2 (producer_name), as every ONNX writer orders them
    return None


# import name -> (pip package, lucid extra that installs it)
EXTRAS = {
    "onnxruntime": ("onnxruntime", None),
    "openvino": ("openvino", "deploy"),
    "nncf": ("nncf", "deploy"),
    "executorch": ("executorch", "mobile"),
    "torchao": ("torchao", "mobile"),
}
OPENVINO_RT_KEY = "lucid"  # rt_info section of an IR file that holds lucid's metadata
METADATA_METHOD = "lucid_metadata"  # constant method of a .pte file returning lucid's metadata (JSON)
SUFFIX_BACKENDS = {".onnx": ("onnxruntime", "openvino"), ".xml": ("openvino",), ".pte": ("executorch",)}


# ---------------------------------------------------------------------------------------------
# optional runtimes
# ---------------------------------------------------------------------------------------------


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` (an optional runtime), or raise MissingDependencyError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package, extra = EXTRAS.get(module.split(".")[0], (module.split(".")[0], None))
        how = f"pip install 'lucid[{extra}]'" if extra else f"pip install {package}"
        raise MissingDependencyError(
            f"{purpose} needs the {package!r} package, which is not installed ({exc}); install it with: {how}"
        ) from None


def available(module: str) -> bool:
    """Whether an optional runtime imports here."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def is_x86() -> bool:
    """Whether this CPU is x86 (OpenVINO's home: its CPU plugin is tuned for Intel and AMD x86)."""
    return platform.machine().lower() in ("x86_64", "amd64", "x86", "i386", "i686")


def choose_backend(path: str | os.PathLike[str], backend: str = "auto") -> str:
    """The runtime for a model file: ``backend`` checked against the file type, or the automatic choice.

    ``auto``: ``.xml`` -> OpenVINO, ``.pte`` -> ExecuTorch, ``.onnx`` -> OpenVINO on x86 when it is
    installed, ONNX Runtime otherwise.
    """
    suffix = Path(path).suffix.lower()
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if suffix not in SUFFIX_BACKENDS:
        raise ValueError(f"a model file must be .onnx, .xml (OpenVINO IR) or .pte (ExecuTorch), got {str(path)!r}")
    fits = SUFFIX_BACKENDS[suffix]
    if backend == "auto":
        if suffix == ".onnx":
            return "openvino" if is_x86() and available("openvino") else "onnxruntime"
        return fits[0]
    if backend not in fits:
        raise ValueError(f"backend {backend!r} cannot run a {suffix} file ({path}); it runs on: {', '.join(fits)}")
    return backend


def _check_threads(threads: int | None) -> int:
    if threads is None:
        return 0  # the runtime's default: one thread per core
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    return threads


def _existing(path: str | os.PathLike[str], what: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"no {what} at {file}")
    return file


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _in_steps(run: Any, batch: np.ndarray, step: int, fixed: bool) -> np.ndarray:
    """``run`` over ``batch`` in slices of ``step`` images (exact multiples for a fixed-batch model)."""
    return _in_steps_all(lambda part: [run(part)], batch, step, fixed)[0]


def _in_steps_all(run: Any, batch: np.ndarray, step: int, fixed: bool) -> list[np.ndarray]:
    """``run`` (a slice -> a list of output arrays) over ``batch`` in slices of ``step`` images,
    each output concatenated over the slices (exact multiples for a fixed-batch model)."""
    if fixed and len(batch) % step:
        raise ValueError(
            f"the model takes batches of exactly {step}; got {len(batch)} images (export with --dynamic-batch)"
        )
    parts = [run(batch[i : i + step]) for i in range(0, len(batch), step)]
    return [np.concatenate([part[k] for part in parts]) for k in range(len(parts[0]))]


# ---------------------------------------------------------------------------------------------
# ONNX Runtime
# ---------------------------------------------------------------------------------------------


def session_options(threads: int | None = None, spinning: bool | None = None) -> Any:
    """ONNX Runtime options for latency: all graph optimisations, sequential execution,
    ``threads`` intra-op threads (None: one per core) and a single inter-op thread.

    ``spinning=False`` makes idle worker threads sleep instead of spin-waiting: slightly slower
    on an idle machine, much faster on a CPU shared with other busy processes. None: ORT's default.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = _check_threads(threads)
    options.inter_op_num_threads = 1
    if spinning is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise here
    return options


def make_session(
    model: str | os.PathLike[str] | bytes,
    threads: int | None = None,
    providers: Sequence[str] | None = None,
    *,
    spinning: bool | None = None,
) -> Any:
    """An ``onnxruntime.InferenceSession`` for a file (or serialised bytes) with `session_options`."""
    import onnxruntime as ort

    if not isinstance(model, bytes):
        model = str(_existing(model, "ONNX model"))
    available_providers = ort.get_available_providers()
    chosen = list(providers) if providers is not None else ["CPUExecutionProvider"]
    unknown = [p for p in chosen if p not in available_providers]
    if unknown:
        raise ValueError(f"ONNX Runtime providers {unknown} are not available here; available: {available_providers}")
    try:
        return ort.InferenceSession(model, session_options(threads, spinning), providers=chosen)
    except Exception as exc:  # ORT raises its own exception types for unreadable or invalid models
        if type(exc).__module__.startswith("onnxruntime"):
            raise DataError(
                f"ONNX Runtime cannot load {model if isinstance(model, str) else 'the model'}: {exc}"
            ) from None
        raise


def run_batches(session: Any, batch: np.ndarray, fixed: int | None = None, chunk: int = 64) -> np.ndarray:
    """The session's first output for ``batch``, fed ``fixed`` images at a time for a model with a
    static batch size, else in chunks of ``chunk`` (bounded memory for large evaluations)."""
    name, output = session.get_inputs()[0].name, session.get_outputs()[0].name
    return _in_steps(lambda part: session.run([output], {name: part})[0], batch, fixed or chunk, bool(fixed))


def run_all_batches(session: Any, batch: np.ndarray, fixed: int | None = None, chunk: int = 64) -> list[np.ndarray]:
    """Every output of the session for ``batch``, in the graph's order (a detector's boxes and
    scores), fed as `run_batches` feeds it."""
    name = session.get_inputs()[0].name
    return _in_steps_all(lambda part: list(session.run(None, {name: part})), batch, fixed or chunk, bool(fixed))


def _static(dims: Sequence[Any]) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) and d >= 0 else None for d in dims)


class OnnxRuntimeModel:
    """An ``.onnx`` file in an ONNX Runtime session (``session`` is the InferenceSession).
    ``spins_after_run``: its worker threads busy-wait for a while after each run."""

    backend = "onnxruntime"

    def __init__(
        self,
        path: str | os.PathLike[str],
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        *,
        spinning: bool | None = None,
    ) -> None:
        self.path = _existing(path, "ONNX model")
        self.session = make_session(self.path, threads, providers, spinning=spinning)
        # ONNX Runtime's worker threads spin-wait after a run unless told not to (session_options).
        self.spins_after_run = spinning is not False
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise DataError(f"{self.path}: a classifier has one input, this model has {len(inputs)}")
        self.input_shape = _static(inputs[0].shape)
        self.output_shapes = [_static(output.shape) for output in outputs]
        self.num_classes = self.output_shapes[0][-1]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits (the first output) for a preprocessed float32 ``(N, C, H, W)`` batch."""
        return run_batches(self.session, batch, self.input_shape[0])

    def run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output, in the file's order, for a preprocessed float32 ``(N, C, H, W)`` batch."""
        return run_all_batches(self.session, batch, self.input_shape[0])


# ---------------------------------------------------------------------------------------------
# OpenVINO
# ---------------------------------------------------------------------------------------------


def openvino_metadata(model: Any) -> dict[str, str]:
    """lucid's metadata of an OpenVINO model: an IR's ``rt_info['lucid']`` section, or the ONNX
    ``metadata_props`` that OpenVINO's ONNX reader puts under ``rt_info['framework']``."""
    found: dict[str, str] = {}
    for section in ("framework", OPENVINO_RT_KEY):
        if model.has_rt_info([section]):
            values = model.get_rt_info([section]).value
            if isinstance(values, dict):
                found.update({str(k): str(v) for k, v in values.items()})
    return found


class OpenVINOModel:
    """An ``.onnx`` or OpenVINO IR ``.xml`` file compiled for OpenVINO's CPU plugin.

    Batch 1 (and a model with a fixed batch) runs on a ``LATENCY``-hinted compilation; larger
    batches of a free-batch model on a ``THROUGHPUT``-hinted one, the batch split over its
    optimal number of parallel infer requests. ``threads`` caps OpenVINO's inference threads.

    Where only the batch size is free, each compilation is for one static input shape (the batch
    size set to the batch's), cached for the last `MAX_SHAPES` shapes: OpenVINO's CPU plugin
    plans memory and picks kernels once for a static shape, and on the benchmark machine this ran
    mobilenet_v3_large 1.17x (fp32) and 1.2x (int8) faster at batch 1 than the free-batch
    compilation.
    ``precision``: ``"f32"`` (default) computes in float32 like the exported file; OpenVINO's own
    default on CPUs with bf16 instructions (AVX512_BF16, AMX) is bfloat16, which moves logits by
    about 1 % (``"bf16"`` opts in to it where it is faster).
    """

    backend = "openvino"
    MAX_SHAPES = 4

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None, precision: str = "f32") -> None:
        ov = require("openvino", "running a model with OpenVINO")
        if precision not in ("f32", "bf16", "f16"):
            raise ValueError(f"precision must be f32, bf16 or f16, got {precision!r}")
        self.precision = precision
        self.path = _existing(path, "model file")
        self.threads = _check_threads(threads)
        self.core = ov.Core()
        self.model = read_openvino_model(self.core, self.path)
        self.metadata = openvino_metadata(self.model)
        if len(self.model.inputs) != 1:
            raise DataError(f"{self.path}: a classifier has one input, this model has {len(self.model.inputs)}")
        self.input_shape = _static(_dims(self.model.inputs[0].get_partial_shape()))
        self.output_shapes = [_static(_dims(output.get_partial_shape())) for output in self.model.outputs]
        self.num_classes = self.output_shapes[0][-1]
        self._compiled: OrderedDict[tuple[str, tuple[int, ...]], Any] = OrderedDict()
        self._queues: dict[tuple[int, ...], Any] = {}
        self._requests: int | None = None

    @property
    def compiled_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """The ``(hint, input shape)`` of each cached compilation, oldest first."""
        return list(self._compiled)

    def compiled(self, hint: str, shape: Sequence[int] | None = None) -> Any:
        """The model compiled with performance hint ``"LATENCY"`` or ``"THROUGHPUT"`` for the
        static input ``shape`` (the file's own shape when None; cached per hint and shape)."""
        if hint not in ("LATENCY", "THROUGHPUT"):
            raise ValueError(f"hint must be LATENCY or THROUGHPUT, got {hint!r}")
        key = (hint, tuple(shape) if shape is not None else ())
        if key in self._compiled:
            self._compiled.move_to_end(key)
            return self._compiled[key]
        model = self.model
        if shape is not None and tuple(shape) != self.input_shape:
            model = self.model.clone()  # reshape changes a model in place; the file's model stays free
            model.reshape(list(shape))
        config: dict[str, Any] = {"PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": self.precision}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = self.threads
        self._compiled[key] = self.core.compile_model(model, "CPU", config)
        while len(self._compiled) > self.MAX_SHAPES:
            (old_hint, old_shape), _ = self._compiled.popitem(last=False)
            if old_hint == "THROUGHPUT":
                self._queues.pop(old_shape, None)  # the queue holds the compilation
        return self._compiled[key]

    def _shape_for(self, batch: np.ndarray) -> tuple[int, ...] | None:
        """The static shape to compile for ``batch``: its own when the file leaves only the batch
        size free; None (one compilation of the file's free shape) when other sizes are free too,
        so images of many sizes (segmentation) do not each cost a compilation."""
        if any(d is None for d in self.input_shape[1:]):
            return None
        return tuple(batch.shape)

    def _latency(self, batch: np.ndarray) -> list[np.ndarray]:
        results = self.compiled("LATENCY", self._shape_for(batch))(batch)
        return [np.array(results[k]) for k in range(len(self.output_shapes))]

    def parallel_requests(self) -> int:
        """How many infer requests OpenVINO runs in parallel under the ``THROUGHPUT`` hint here."""
        if self._requests is None:
            compiled = self.compiled("THROUGHPUT")  # the file's own shape
            self._requests = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            if all(d is not None for d in self.input_shape[1:]):  # batches run on static compilations
                self._compiled.pop(("THROUGHPUT", ()), None)
        return self._requests

    def _throughput(self, batch: np.ndarray) -> list[np.ndarray]:
        """One batch split over the THROUGHPUT compilation's parallel infer requests, each part
        run on the compilation for its own shape."""
        import openvino as ov

        requests = self.parallel_requests()
        parts = [np.ascontiguousarray(p) for p in np.array_split(batch, requests) if len(p)]
        results: list[list[np.ndarray] | None] = [None] * len(parts)
        outputs = len(self.output_shapes)

        def done(request: Any, index: int) -> None:
            results[index] = [request.get_output_tensor(k).data.copy() for k in range(outputs)]

        shapes = [self._shape_for(part) for part in parts]
        queues: dict[tuple[int, ...], Any] = {}  # compiled shape -> its queue of parallel requests
        for shape in shapes:
            key = shape or ()
            if key not in self._queues:
                self._queues[key] = ov.AsyncInferQueue(self.compiled("THROUGHPUT", shape), requests)
            queues[key] = self._queues[key]
        for queue in queues.values():
            queue.set_callback(done)
        for index, (part, shape) in enumerate(zip(parts, shapes, strict=True)):
            queues[shape or ()].start_async({0: part}, index)
        for queue in queues.values():
            queue.wait_all()
        done_parts = [r for r in results if r is not None]
        return [np.concatenate([part[k] for part in done_parts]) for k in range(outputs)]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits (the first output) for a preprocessed float32 ``(N, C, H, W)`` batch."""
        return self.run_all(batch)[0]

    def run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output, in the file's order, for a preprocessed float32 ``(N, C, H, W)`` batch."""
        expected = self.input_shape[1:]
        if batch.ndim != len(self.input_shape) or any(
            e is not None and e != got for e, got in zip(expected, batch.shape[1:], strict=True)
        ):
            shape = "x".join("N" if d is None else str(d) for d in self.input_shape)
            raise ValueError(f"{self.path.name} takes input {shape}, got {'x'.join(map(str, batch.shape))}")
        fixed = self.input_shape[0]
        if fixed is not None:
            return _in_steps_all(self._latency, batch, fixed, True)
        if len(batch) == 1:
            return self._latency(batch)
        return _in_steps_all(self._throughput, batch, 256, False)


def _dims(shape: Any) -> list[int | None]:
    return [None if d.is_dynamic else d.get_length() for d in shape]


# ---------------------------------------------------------------------------------------------
# ExecuTorch
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_native_output() -> Iterator[None]:
    """Silence what native code writes to the process's stdout/stderr (file descriptors 1 and 2)
    meanwhile: ExecuTorch's ``cpuinfo_utils`` logs the ``/sys`` files it fails to read on every
    program it loads, which is noise on the user's terminal. Python exceptions still propagate."""
    import sys

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def executorch_runtime() -> Any:
    """ExecuTorch's ``Runtime`` class, imported without torch's pytree deprecation note (logged
    when ExecuTorch registers one of its enums on import)."""
    import logging

    log = logging.getLogger("torch.utils._pytree")
    previous = log.level
    log.setLevel(logging.ERROR)
    try:
        from executorch.runtime import Runtime
    finally:
        log.setLevel(previous)
    return Runtime


def executorch_metadata(program: Any, path: Path) -> dict[str, str]:
    """The JSON metadata lucid stores in a ``.pte`` as the constant method ``lucid_metadata``."""
    if METADATA_METHOD not in program.method_names:
        return {}
    raw = program.load_method(METADATA_METHOD).execute([])[0]
    try:
        values = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: the {METADATA_METHOD} record is not JSON ({exc})") from None
    return {str(k): str(v) for k, v in values.items()}


class ExecuTorchModel:
    """A ``.pte`` program in ExecuTorch's Python runtime (the runtime an Android/iOS app embeds)."""

    backend = "executorch"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        require("executorch", "running a .pte model")
        Runtime = executorch_runtime()  # noqa: N806 - the class, by its name

        self.path = _existing(path, "ExecuTorch program")
        try:
            with quiet_native_output():
                self.program = Runtime.get().load_program(str(self.path))
        except (RuntimeError, ValueError) as exc:
            raise DataError(f"ExecuTorch cannot load {self.path}: {exc}") from None
        with quiet_native_output():
            self.metadata = executorch_metadata(self.program, self.path)
            self.method = self.program.load_method("forward")
        meta = self.program.metadata("forward")
        self.input_shape = _static(tuple(meta.input_tensor_meta(0).sizes()))
        self.output_shapes = [_static(tuple(meta.output_tensor_meta(i).sizes())) for i in range(meta.num_outputs())]
        self.num_classes = self.output_shapes[0][-1]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits (the first output) for a preprocessed float32 ``(N, C, H, W)`` batch."""
        return self.run_all(batch)[0]

    def run_all(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output, in the program's order, for a preprocessed float32 ``(N, C, H, W)`` batch
        (the file's fixed batch at a time)."""
        import torch

        step = self.input_shape[0] or 1

        def one(part: np.ndarray) -> list[np.ndarray]:
            produced = self.method.execute([torch.from_numpy(np.ascontiguousarray(part))])
            return [np.array(t.numpy()) for t in produced]

        return _in_steps_all(one, batch, step, True)


def load_runtime_model(
    path: str | os.PathLike[str],
    backend: str = "auto",
    threads: int | None = None,
    providers: Sequence[str] | None = None,
    *,
    spinning: bool | None = None,
    precision: str = "f32",
) -> Any:
    """The runtime model for ``path`` on ``backend`` (see `choose_backend`). ``precision``
    other than ``"f32"`` is OpenVINO's (see `OpenVINOModel`); the other runtimes compute
    in float32 as the file does."""
    chosen = choose_backend(path, backend)
    if chosen == "openvino":
        return OpenVINOModel(path, threads, precision=precision)
    if precision != "f32":
        raise ValueError(
            f"precision {precision!r} is an OpenVINO setting; {Path(path).name} runs on {chosen}, which computes "
            "in f32 (use --backend openvino, or precision f32)"
        )
    if chosen == "executorch":
        return ExecuTorchModel(path)
    return OnnxRuntimeModel(path, threads, providers, spinning=spinning)


def file_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """lucid's metadata recorded in an exported file, read through its format's library without
    compiling it: an ONNX file's ``metadata_props`` (onnx), an IR's runtime info (openvino), a
    ``.pte``'s ``lucid_metadata`` method (ExecuTorch). An unreadable file is a DataError."""
    file = _existing(path, "model file")
    suffix = file.suffix.lower()
    if suffix == ".onnx":
        import onnx

        try:
            proto = onnx.load(str(file), load_external_data=False)
        except Exception as exc:  # noqa: BLE001 - protobuf raises its own types for a damaged file
            raise DataError(f"{file}: not a readable ONNX model ({type(exc).__name__})") from None
        return {p.key: p.value for p in proto.metadata_props}
    if suffix == ".xml":
        ov = require("openvino", "reading an OpenVINO IR file")
        return openvino_metadata(read_openvino_model(ov.Core(), file))
    if suffix == ".pte":
        require("executorch", "reading a .pte model")
        Runtime = executorch_runtime()  # noqa: N806 - the class, by its name

        try:
            with quiet_native_output():
                program = Runtime.get().load_program(str(file))
                return executorch_metadata(program, file)
        except (RuntimeError, ValueError) as exc:
            raise DataError(f"ExecuTorch cannot load {file}: {exc}") from None
    raise ValueError(f"a model file must be .onnx, .xml (OpenVINO IR) or .pte (ExecuTorch), got {str(path)!r}")


def task_for(metadata: dict[str, str], source: str) -> Any:
    """The `lucid.tasks.Task` class an export's metadata records (``task``; files from before
    tasks were recorded: their model name's task, else classification). A task this lucid does not
    know is a one-line DataError."""
    from lucid.tasks import get_task, task_of_metadata

    try:
        return get_task(task_of_metadata(metadata, metadata.get("model_name")))
    except ValueError as exc:
        raise DataError(f"{source}: {exc}") from None


def read_openvino_model(core: Any, file: Path) -> Any:
    """``core.read_model`` of an IR ``.xml`` (or an ``.onnx``), with one line naming what is wrong:
    a missing ``.bin`` beside the ``.xml``, or OpenVINO's own reason rather than its source location."""
    weights = file.with_suffix(".bin")
    if file.suffix.lower() == ".xml" and not weights.is_file():
        raise DataError(f"{file}: its weights file {weights.name} is missing (an OpenVINO IR is the .xml and the .bin)")
    try:
        return core.read_model(str(file))
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reasons = [line for line in lines if not line.startswith(("Exception from", "Check '"))] or lines
        raise DataError(f"OpenVINO cannot read {file}: {reasons[0] if reasons else type(exc).__name__}") from None

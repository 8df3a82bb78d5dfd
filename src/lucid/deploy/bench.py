"""The deployment benchmark: lucid's inference paths against torchvision's eager model, same weights.

For each model and batch size, the contenders run the same input in alternating blocks (every
round gives each contender a short block of timed calls, in a rotating order, so a slow spell on
a shared CPU hits all of them alike); the table shows medians and the speed-up over torchvision's eager model:
torchvision eager, lucid eager, lucid eager channels-last, lucid TorchScript (frozen), ONNX
Runtime fp32 and int8, OpenVINO fp32 and int8 (NNCF) (and bf16 on CPUs with bf16 instructions),
and ExecuTorch's XNNPACK program at batch 1
(files written by `lucid.deploy.export` and `lucid.deploy.quantize`; runtimes not
installed are left out). The report gives each contender's achieved GFLOP/s against this CPU's
fp32 peak (cores x SIMD lanes x FMA units x 2 x clock) and says whether the CPU has the int8
dot-product instructions (VNNI, AMX) that int8 speed depends on. Training throughput (SGD steps,
same batch) compares lucid with torchvision, and peak memory is measured in a fresh process per
contender.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "CONTENDERS",
    "TRAIN_CONTENDERS",
    "LatencyRow",
    "TrainRow",
    "MemoryRow",
    "OperatorRow",
    "operator_profile",
    "BenchResult",
    "bench",
    "alternating",
    "available_contenders",
    "cpu_peak",
    "has_bf16",
    "machine_info",
    "model_flops",
    "same_weights",
    "torchvision_model",
]

BENCH_MODELS = ("mobilenet_v3_small", "mobilenet_v3_large")
CONTENDERS = (
    "torchvision eager",
    "lucid eager",
    "lucid eager channels-last",
    "TorchScript frozen",
    "ONNX Runtime fp32",
    "ONNX Runtime int8",
    "OpenVINO fp32",
    "OpenVINO int8",
    "OpenVINO bf16",
    "ExecuTorch XNNPACK",
)
OPENVINO_CONTENDERS = ("OpenVINO fp32", "OpenVINO int8", "OpenVINO bf16")
# OpenVINO's own default precision on CPUs with bf16 instructions; shown beside fp32 where the CPU
# has them (elsewhere bf16 is emulated and says nothing). Not fp32, so no fp32 target judges it.
BF16 = "OpenVINO bf16"
EXECUTORCH = "ExecuTorch XNNPACK"  # batch 1 only: a .pte program has a fixed batch
# The training layout `lucid train` uses by default (TrainConfig.channels_last); the benchmark
# records it in its settings rather than importing the training package.
TRAIN_DEFAULT_CONTENDER = "lucid channels-last"
TRAIN_CONTENDERS = ("torchvision", "lucid", "lucid channels-last")
BASELINE = "torchvision eager"
BLOCK_S = 0.25  # seconds of timed calls per contender per round
PAUSE_S = 0.02  # idle time before each block
Log = Callable[[str], None]


@dataclass(frozen=True)
class LatencyRow:
    """One contender's inference times for one model and batch size (seconds per call)."""

    model: str
    batch: int
    contender: str
    median_s: float
    samples: tuple[float, ...]
    speedup: float  # torchvision eager's median / this median

    @property
    def images_per_s(self) -> float:
        return self.batch / self.median_s


@dataclass(frozen=True)
class TrainRow:
    """Training throughput of one contender: median SGD step time at ``batch``."""

    model: str
    batch: int
    contender: str
    median_s: float
    samples: tuple[float, ...]
    ratio: float  # this images/s over torchvision's

    @property
    def images_per_s(self) -> float:
        return self.batch / self.median_s


@dataclass(frozen=True)
class MemoryRow:
    """Peak resident memory of a fresh process running one contender (MiB)."""

    model: str
    batch: int
    contender: str
    peak_mib: float
    increase_mib: float


@dataclass(frozen=True)
class OperatorRow:
    """ONNX Runtime's own kernel time for one operator type of one file (ms per call, summed over nodes)."""

    model: str
    batch: int
    file: str  # "fp32" or "int8"
    op_type: str
    nodes: int
    ms: float


@dataclass
class BenchResult:
    """Everything one `bench` run measured, and its Markdown report."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    latency: list[LatencyRow] = field(default_factory=list)
    training: list[TrainRow] = field(default_factory=list)
    memory: list[MemoryRow] = field(default_factory=list)
    operators: list[OperatorRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def latency_of(self, model: str, batch: int, contender: str) -> LatencyRow | None:
        return next((r for r in self.latency if (r.model, r.batch, r.contender) == (model, batch, contender)), None)

    def targets(self) -> list[tuple[str, str, bool | None]]:
        """The issue's targets: (description, measured, met) — met is None when not measured."""
        return _targets(self)

    def to_markdown(self) -> str:
        return _markdown(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (rows as dicts)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchResult:
        def rows(kind: type, items: list[dict[str, Any]]) -> list[Any]:
            return [
                kind(**{**item, **({"samples": tuple(item["samples"])} if "samples" in item else {})}) for item in items
            ]

        return cls(
            machine=data["machine"],
            settings=data["settings"],
            latency=rows(LatencyRow, data["latency"]),
            training=rows(TrainRow, data["training"]),
            memory=rows(MemoryRow, data["memory"]),
            operators=rows(OperatorRow, data.get("operators", [])),
            notes=data["notes"],
        )


# ---------------------------------------------------------------------------------------------
# machine
# ---------------------------------------------------------------------------------------------


def _cpuinfo() -> dict[str, str]:
    """The first processor's entries of /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        info[key.strip()] = value.strip()
    return info


def machine_info(threads: int) -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, vector extensions, versions, load, date."""
    import onnxruntime
    import torchvision

    from lucid import __version__

    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    simd = [
        f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_tile", "amx_int8") if f in flags
    ]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        **cpu_peak(cpu, cores or 1),
        "vnni": bool(flags & {"avx512_vnni", "avx_vnni"}),
        "amx": bool(flags & {"amx_tile", "amx_int8"}),
        "cpu": cpu.get("model name") or platform.processor() or platform.machine(),
        "cpu_family_model": f"family {cpu.get('cpu family', '?')}, model {cpu.get('model', '?')}" if cpu else "",
        "cores": cores,
        "simd": ", ".join(simd) or "unknown",
        "threads": threads,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnxruntime": onnxruntime.__version__,
        "openvino": _version("openvino"),
        "executorch": _version("executorch"),
        "lucid": __version__,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": _loadavg(),
    }


def cpu_peak(cpu: dict[str, str], cores: int) -> dict[str, Any]:
    """This CPU's fp32 peak: cores x SIMD lanes x FMA units x 2 flops x clock, from /proc/cpuinfo.

    Lanes and FMA units per core are not in /proc/cpuinfo; they follow from the vendor, family
    and flags: AMD Zen 2-4 (family 23/25) have two 256-bit FMA pipes (Zen 4 runs AVX-512 on
    them in two halves), Zen 5 (family 26) two 512-bit ones; Intel cores with AVX-512 two
    512-bit ones (some low-end Xeons have one: the peak is then an upper bound), with AVX2 two
    256-bit ones. The clock is ``cpu MHz`` (under a hypervisor usually the nominal clock; boost
    clocks make the real peak higher).
    """
    flags = set(cpu.get("flags", "").split())
    family = int(cpu.get("cpu family", "0") or 0)
    amd = cpu.get("vendor_id", "") == "AuthenticAMD"
    if amd and family in (23, 25):
        lanes, units = 8, 2
    elif amd and family >= 26 and "avx512f" in flags:
        lanes, units = 16, 2
    elif "avx512f" in flags:
        lanes, units = 16, 2
    elif "avx2" in flags and "fma" in flags:
        lanes, units = 8, 2
    else:
        lanes, units = 4, 1
    try:
        ghz = float(cpu.get("cpu MHz", "0")) / 1e3
    except ValueError:
        ghz = 0.0
    peak = cores * lanes * units * 2 * ghz
    return {"fp32_lanes": lanes, "fma_units": units, "clock_ghz": round(ghz, 3), "peak_gflops": round(peak, 1)}


def model_flops(model: nn.Module, image_size: int) -> float:
    """Floating-point operations of one image through ``model`` (2 per multiply-add), counted by
    ``torch.utils.flop_counter`` (convolutions and matrix products; activations are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(1, 3, image_size, image_size))
    return float(counter.get_total_flops())


def has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512_BF16 or AMX-BF16)."""
    return bool(set(_cpuinfo().get("flags", "").split()) & {"avx512_bf16", "amx_bf16"})


def available_contenders(executorch: bool = True) -> tuple[str, ...]:
    """The contenders whose runtimes are installed here (OpenVINO + NNCF, ExecuTorch optional;
    OpenVINO bf16 only on a CPU with bf16 instructions)."""
    from lucid.deploy.runtime import available

    missing = set()
    if not (available("openvino") and available("nncf")):
        missing |= set(OPENVINO_CONTENDERS)
    if not has_bf16():
        missing.add(BF16)
    if not (executorch and available("executorch")):
        missing.add(EXECUTORCH)
    return tuple(c for c in CONTENDERS if c not in missing)


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _loadavg() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# ---------------------------------------------------------------------------------------------
# the models
# ---------------------------------------------------------------------------------------------


def torchvision_model(name: str, seed: int) -> nn.Module:
    """torchvision's model with seeded random weights and non-trivial BatchNorm statistics."""
    import torchvision

    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):  # fresh statistics (0, 1) would make folding trivial
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


def same_weights(reference: nn.Module, name: str) -> tuple[nn.Module, float]:
    """lucid's ``name`` holding torchvision model ``reference``'s weights (lucid's public
    conversion, `lucid.models.weights.convert_state_dict`), and the largest output
    difference between the two on a random batch."""
    from lucid.models import create_model
    from lucid.models.weights import convert_state_dict

    model: Any = create_model(name)
    model.load_state_dict(convert_state_dict(reference.state_dict(), model))
    model.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        diff = float((model(x) - reference(x)).abs().max())
    return model, diff


def _channels_last(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).to(memory_format=torch.channels_last)


def _deploy_files(
    model: nn.Module, name: str, workdir: Path, size: int, threads: int, contenders: Sequence[str], log: Log
) -> dict[str, Path]:
    """TorchScript, ONNX, OpenVINO and ExecuTorch files of ``model`` (fp32, and int8 through both
    quantizers), through lucid.deploy's own functions; only those the ``contenders`` run."""
    from lucid.deploy.export import export
    from lucid.deploy.quantize import quantize

    files = {
        "torchscript": workdir / f"{name}.pt",
        "onnx": workdir / f"{name}.onnx",
        "int8": workdir / f"{name}.int8.onnx",
    }
    wanted = [("torchscript", "torchscript", True), ("onnx", "onnx", True)]
    if "OpenVINO fp32" in contenders:
        files["openvino"] = workdir / f"{name}.xml"
        wanted.append(("openvino", "openvino", True))
    if EXECUTORCH in contenders:
        files["executorch"] = workdir / f"{name}.pte"
        wanted.append(("executorch", "executorch", False))
    for fmt, key, dynamic in wanted:
        result = export(model, files[key], fmt, dynamic_batch=dynamic, image_size=size)
        log(f"  {result.summary()}")
    # Latency does not depend on what calibrates the ranges; these random weights have no data
    # to be accurate on, so 32 normalised random images calibrate (see `lucid quantize` for accuracy).
    calib = np.random.default_rng(0).standard_normal((32, 3, size, size)).astype(np.float32)
    q = quantize(files["onnx"], files["int8"], calib, num_calib=32, num_eval=8, threads=threads)
    log(
        f"  ONNX int8: {q.int8_bytes / 1e6:.1f} MB, "
        f"top-1 agreement with fp32 on random inputs {100 * q.agreement:.0f} %"
    )
    if "OpenVINO int8" in contenders:
        files["openvino_int8"] = workdir / f"{name}.int8.xml"
        q = quantize(
            files["onnx"],
            files["openvino_int8"],
            calib,
            backend="openvino",
            num_calib=32,
            num_eval=8,
            threads=threads,
            quantize_classifier=True,
        )
        log(f"  OpenVINO int8: {q.int8_bytes / 1e6:.1f} MB (fp32 {q.fp32_bytes / 1e6:.1f} MB)")
    return files


# ---------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------


def alternating(
    calls: dict[str, Callable[[], Any]],
    repeats: int,
    warmup: int,
    budget_s: float = 0.0,
    block_s: float = BLOCK_S,
    pause_s: float = PAUSE_S,
) -> dict[str, list[float]]:
    """Per-call times of every contender, measured in alternating blocks.

    Each round gives every contender one block, the order rotating by round: a pause (so the other
    runtime's spin-waiting threads go to sleep: timed back to back, one runtime's spinning threads
    took the CPU from the next and turned the ratios into noise), one untimed call (caches and
    thread pools back to this contender; skipped for calls longer than a block, where they do not
    matter), then calls timed until ``block_s`` has passed. Rounds go
    on until every contender has ``repeats`` times and ``budget_s`` seconds have passed (at most
    10x ``repeats`` rounds), so a slow spell of the machine hits every contender alike.
    """
    names = list(calls)
    for _ in range(warmup):
        for name in names:
            calls[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    started = time.perf_counter()
    round_index = 0
    while round_index < 10 * repeats and (
        min(len(t) for t in times.values()) < repeats or time.perf_counter() - started < budget_s
    ):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            time.sleep(pause_s)
            if not times[name] or times[name][-1] < block_s:
                calls[name]()
            block_start = time.perf_counter()
            while True:
                start = time.perf_counter()
                calls[name]()
                times[name].append(time.perf_counter() - start)
                if time.perf_counter() - block_start >= block_s:
                    break
        round_index += 1
    return times


def _inference_calls(
    tv: nn.Module,
    lucid_model: nn.Module,
    files: dict[str, Path],
    batch: int,
    size: int,
    threads: int,
    spinning: bool | None,
    contenders: Sequence[str],
) -> dict[str, Callable[[], Any]]:
    from lucid.deploy.export import quiet_torch_export
    from lucid.deploy.predictor import make_session

    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
    x_cl = x.contiguous(memory_format=torch.channels_last)
    x_np = x.numpy()
    lucid_cl = _channels_last(lucid_model)
    with quiet_torch_export():
        scripted = torch.jit.load(str(files["torchscript"]), map_location="cpu")
    fp32 = make_session(files["onnx"], threads, spinning=spinning)
    int8 = make_session(files["int8"], threads, spinning=spinning)

    def torch_call(module: Callable[[torch.Tensor], torch.Tensor], inp: torch.Tensor) -> Callable[[], Any]:
        def call() -> Any:
            with torch.inference_mode():
                return module(inp)

        return call

    calls: dict[str, Callable[[], Any]] = {
        "torchvision eager": torch_call(tv, x),
        "lucid eager": torch_call(lucid_model, x),
        "lucid eager channels-last": torch_call(lucid_cl, x_cl),
        "TorchScript frozen": torch_call(scripted, x),
        "ONNX Runtime fp32": lambda: fp32.run(None, {"input": x_np}),
        "ONNX Runtime int8": lambda: int8.run(None, {"input": x_np}),
    }
    if "OpenVINO fp32" in contenders:
        from lucid.deploy.runtime import OpenVINOModel

        # What Predictor runs: LATENCY-hinted at batch 1, THROUGHPUT-hinted (parallel requests) above.
        ov_fp32, ov_int8 = OpenVINOModel(files["openvino"], threads), OpenVINOModel(files["openvino_int8"], threads)
        calls["OpenVINO fp32"] = lambda: ov_fp32.run(x_np)
        calls["OpenVINO int8"] = lambda: ov_int8.run(x_np)
    if BF16 in contenders:
        from lucid.deploy.runtime import OpenVINOModel

        ov_bf16 = OpenVINOModel(files["openvino"], threads, precision="bf16")
        calls[BF16] = lambda: ov_bf16.run(x_np)
    if EXECUTORCH in contenders and batch == 1:
        from lucid.deploy.runtime import ExecuTorchModel

        program = ExecuTorchModel(files["executorch"])
        calls[EXECUTORCH] = lambda: program.run(x_np)
    return calls


def _train_calls(tv: nn.Module, lucid_model: nn.Module, batch: int, size: int) -> dict[str, Callable[[], Any]]:
    """One SGD step (forward, cross-entropy, backward, update) per call, on copies of the models."""
    import copy

    generator = torch.Generator().manual_seed(7)
    x = torch.randn(batch, 3, size, size, generator=generator)
    y = torch.randint(0, 1000, (batch,), generator=generator)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def step_of(model: nn.Module, inp: torch.Tensor) -> Callable[[], Any]:
        model = copy.deepcopy(model).train()
        if inp is x_cl:
            model = model.to(memory_format=torch.channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def step() -> Any:
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(inp), y)
            loss.backward()
            optimizer.step()
            return loss

        return step

    return {
        "torchvision": step_of(tv, x),
        "lucid": step_of(lucid_model, x),
        "lucid channels-last": step_of(lucid_model, x_cl),
    }


def operator_profile(
    path: str | os.PathLike[str], batch: int, image_size: int, threads: int, runs: int = 50
) -> list[tuple[str, int, float]]:
    """(operator type, nodes, ms per call) of an ONNX file under ONNX Runtime's own profiler,
    after ORT's graph optimisations (so fused and layout-converted kernels appear as they run),
    most expensive first. It shows where int8 gains and loses time against fp32."""
    import onnxruntime as ort

    from lucid.deploy.predictor import session_options

    options = session_options(threads)
    options.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="lucid-profile-") as workdir:
        options.profile_file_prefix = str(Path(workdir) / "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        model_input = session.get_inputs()[0]
        channels = model_input.shape[1] if isinstance(model_input.shape[1], int) else 3
        feed = {
            model_input.name: np.random.default_rng(0)
            .standard_normal((batch, channels, image_size, image_size))
            .astype(np.float32)
        }
        for _ in range(runs + 1):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    # The first run (buffer allocation, kernel set-up) is a warm-up and not counted.
    first = min((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"], default=None)
    warm_from = first["ts"] + first["dur"] if first else 0
    totals: dict[str, float] = {}
    nodes: dict[str, set[str]] = {}
    for event in events:
        if (
            event.get("cat") == "Node"
            and event.get("name", "").endswith("_kernel_time")
            and event.get("ts", 0) >= warm_from
        ):
            op = event["args"]["op_name"]
            totals[op] = totals.get(op, 0.0) + event["dur"] / 1e3 / runs
            nodes.setdefault(op, set()).add(event["name"])
    return sorted(((op, len(nodes[op]), ms) for op, ms in totals.items()), key=lambda row: -row[2])


# ---------------------------------------------------------------------------------------------
# memory (a fresh process per contender: a process's peak RSS only ever grows)
# ---------------------------------------------------------------------------------------------


def _file_bytes(path: Path) -> int:
    from lucid.deploy.integrity import model_files

    return sum(part.stat().st_size for part in model_files(path) if part.is_file())


def _memory(spec: dict[str, Any], timeout: float = 600, attempts: int = 2) -> tuple[float, float] | str:
    """(peak MiB, increase MiB) reported by `lucid.deploy._probe` for ``spec``, or why it
    failed (after a second attempt: on a shared machine a process may be killed for memory)."""
    command = [sys.executable, "-m", "lucid.deploy._probe", "memory", json.dumps(spec)]
    reason = ""
    for _ in range(attempts):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            reason = f"timed out after {timeout:g} s"
            continue
        if done.returncode == 0 and done.stdout.strip():
            report = json.loads(done.stdout.strip().splitlines()[-1])
            return report["peak_mib"], report["increase_mib"]
        tail = (done.stderr.strip().splitlines() or [""])[-1]
        reason = f"exit status {done.returncode}" + (f": {tail}" if tail else "")
    return reason


# ---------------------------------------------------------------------------------------------
# bench
# ---------------------------------------------------------------------------------------------


def _check_args(
    models: Sequence[str], batches: Sequence[int], repeats: int, threads: int | None, train_steps: int
) -> int:
    unknown = [m for m in models if m not in BENCH_MODELS]
    if unknown or not models:
        raise ValueError(f"bench compares {', '.join(BENCH_MODELS)} (torchvision has them too); got {list(models)}")
    for name, values in (("batch", batches), ("repeats", [repeats]), ("train_steps", [train_steps])):
        if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values):
            raise ValueError(f"{name} must be positive integers, got {values!r}")
    if threads is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    return threads


def bench(
    models: Sequence[str] = BENCH_MODELS,
    batches: Sequence[int] = (1, 32),
    repeats: int = 20,
    threads: int | None = None,
    *,
    image_size: int = 224,
    warmup: int = 2,
    time_budget: float = 15.0,
    train_batch: int = 32,
    train_steps: int = 10,
    memory: bool = True,
    passive_wait: bool = False,
    executorch: bool = True,
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    log: Log | None = None,
) -> BenchResult:
    """Benchmark lucid's inference and training against torchvision's, and write the report.

    ``threads`` (default: the CPUs this process may use) apply to torch and ONNX Runtime alike.
    Both runtimes keep their default thread waiting (short spin-waits), as a deployment would;
    the contenders run in alternating blocks with a pause between them (`alternating`),
    so one runtime's spinning threads do not slow the next. ``passive_wait`` makes idle worker
    threads sleep instead (``OMP_WAIT_POLICY=PASSIVE`` for torch, which needs a fresh process,
    and ORT's ``allow_spinning=0``): for a CPU shared with other busy processes, whose spinning
    made torch's eager model up to 80x slower in one run here. ``out``: a Markdown file for the
    report (written atomically). ``executorch=False`` leaves out the ExecuTorch contender (its
    export takes the longest). ``log`` receives progress lines.
    """
    threads = _check_args(list(models), list(batches), repeats, threads, train_steps)
    arguments: dict[str, Any] = {
        "models": list(models),
        "batches": list(batches),
        "repeats": repeats,
        "threads": threads,
        "image_size": image_size,
        "warmup": warmup,
        "time_budget": time_budget,
        "train_batch": train_batch,
        "train_steps": train_steps,
        "memory": memory,
        "seed": seed,
        "executorch": executorch,
    }
    if passive_wait and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        result = _bench_in_child(arguments, log)
    else:
        result = _bench_here(**arguments, passive_wait=passive_wait, log=log)
    if out is not None:
        from lucid.checkpoint import atomic_write

        atomic_write(out, lambda tmp: Path(tmp).write_text(result.to_markdown()))
        if log:
            log(f"wrote {out}")
    return result


def _bench_in_child(arguments: dict[str, Any], log: Log | None) -> BenchResult:
    """Run the benchmark in a fresh process whose OpenMP threads wait passively."""
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    with tempfile.TemporaryDirectory(prefix="lucid-bench-") as workdir:
        result_file = Path(workdir) / "result.json"
        command = [
            sys.executable,
            "-m",
            "lucid.deploy._probe",
            "bench",
            json.dumps({**arguments, "log": log is not None}),
            str(result_file),
        ]
        done = subprocess.run(
            command, env=env, stdout=subprocess.DEVNULL, stderr=None if log else subprocess.PIPE, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"the benchmark process failed (exit {done.returncode}): {(done.stderr or '')[-2000:]}")
        return BenchResult.from_dict(json.loads(result_file.read_text()))


def _bench_here(
    *,
    models: list[str],
    batches: list[int],
    repeats: int,
    threads: int,
    image_size: int,
    warmup: int,
    time_budget: float,
    train_batch: int,
    train_steps: int,
    memory: bool,
    seed: int,
    passive_wait: bool,
    executorch: bool,
    log: Log | None,
) -> BenchResult:
    say = log or (lambda _line: None)
    spinning = False if passive_wait else None
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    result = BenchResult(
        machine=machine_info(threads),
        settings={
            "models": list(models),
            "batches": list(batches),
            "repeats": repeats,
            "warmup": warmup,
            "time_budget": time_budget,
            "image_size": image_size,
            "train_batch": train_batch,
            "train_steps": train_steps,
            "passive_wait": passive_wait,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
            "seed": seed,
            "contenders": list(available_contenders(executorch)),
            "train_contender": TRAIN_DEFAULT_CONTENDER,
            "flops": {},
        },
    )
    try:
        with tempfile.TemporaryDirectory(prefix="lucid-bench-") as workdir:
            for name in models:
                _bench_model(
                    result,
                    name,
                    list(batches),
                    Path(workdir),
                    threads,
                    (repeats, warmup, time_budget),
                    image_size,
                    train_batch,
                    train_steps,
                    memory,
                    spinning,
                    seed,
                    say,
                )
    finally:
        torch.set_num_threads(previous_threads)
    result.machine["load_after"] = _loadavg()
    return result


def _bench_model(
    result: BenchResult,
    name: str,
    batches: list[int],
    workdir: Path,
    threads: int,
    rounds: tuple[int, int, float],
    size: int,
    train_batch: int,
    train_steps: int,
    memory: bool,
    spinning: bool | None,
    seed: int,
    say: Log,
) -> None:
    repeats, warmup, budget = rounds
    say(f"{name}: building torchvision's model and lucid's with the same weights")
    tv = torchvision_model(name, seed)
    lucid_model, diff = same_weights(tv, name)
    result.notes.append(
        f"{name}: lucid loaded torchvision's weights (lucid.models.weights.convert_state_dict); "
        f"max |lucid - torchvision| logit difference {diff:.2g}"
    )
    result.settings["flops"][name] = model_flops(tv, size)
    contenders = result.settings["contenders"]
    files = _deploy_files(lucid_model, name, workdir, size, threads, contenders, say)
    for batch in batches:
        calls = _inference_calls(tv, lucid_model, files, batch, size, threads, spinning, contenders)
        times = alternating(calls, repeats, warmup, budget)
        say(
            f"{name} batch {batch}: {len(times[BASELINE])} timed calls of torchvision eager, "
            f"alternating blocks of {len(calls)} contenders"
        )
        base = statistics.median(times[BASELINE])
        result.settings.setdefault("file_bytes", {})[name] = {k: _file_bytes(v) for k, v in files.items()}
        for contender in [c for c in CONTENDERS if c in times]:
            median = statistics.median(times[contender])
            result.latency.append(LatencyRow(name, batch, contender, median, tuple(times[contender]), base / median))
            say(f"  {contender:<26} {1e3 * median:9.2f} ms  {base / median:5.2f}x")
    say(f"{name}: training, batch {train_batch}, at least {train_steps} alternating SGD steps each")
    steps = alternating(_train_calls(tv, lucid_model, train_batch, size), train_steps, 1)
    base = statistics.median(steps["torchvision"])
    for contender in TRAIN_CONTENDERS:
        median = statistics.median(steps[contender])
        result.training.append(TrainRow(name, train_batch, contender, median, tuple(steps[contender]), base / median))
        say(f"  {contender:<26} {train_batch / median:8.1f} images/s  {base / median:5.2f}x")
    _profile_operators(result, name, min(batches), files, threads, size, say)
    if memory:
        _measure_memory(result, name, max(batches), files, threads, size, train_batch, say)


def _profile_operators(
    result: BenchResult, name: str, batch: int, files: dict[str, Path], threads: int, size: int, say: Log
) -> None:
    say(f"{name}: ONNX Runtime's per-operator profile of the fp32 and int8 files, batch {batch}")
    for file in ("fp32", "int8"):
        path = files["onnx" if file == "fp32" else "int8"]
        for op_type, nodes, ms in operator_profile(path, batch, size, threads):
            result.operators.append(OperatorRow(name, batch, file, op_type, nodes, ms))


def _measure_memory(
    result: BenchResult,
    name: str,
    batch: int,
    files: dict[str, Path],
    threads: int,
    size: int,
    train_batch: int,
    say: Log,
) -> None:
    say(f"{name}: peak memory, one fresh process per contender (batch {batch}; training batch {train_batch})")
    infer = [c for c in result.settings.get("contenders", CONTENDERS) if c != EXECUTORCH]
    specs = [(c, batch, "infer") for c in infer] + [
        (f"training: {c}", train_batch, "train") for c in TRAIN_CONTENDERS[:2]
    ]
    for contender, run_batch, mode in specs:
        spec = {
            "contender": contender.removeprefix("training: "),
            "mode": mode,
            "model": name,
            "batch": run_batch,
            "image_size": size,
            "threads": threads,
            "files": {k: str(v) for k, v in files.items()},
        }
        measured = _memory(spec)
        if isinstance(measured, str):
            result.notes.append(f"{name}: memory of {contender} could not be measured ({measured})")
            continue
        result.memory.append(MemoryRow(name, run_batch, contender, *measured))
        say(f"  {contender:<36} peak {measured[0]:8.0f} MiB  (+{measured[1]:.0f} MiB over the imports)")


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def _targets(result: BenchResult) -> list[tuple[str, str, bool | None]]:
    checks: list[tuple[str, str, bool | None]] = []
    large = result.latency_of("mobilenet_v3_large", 1, "ONNX Runtime fp32")
    checks.append(
        (
            "ONNX Runtime fp32 >= 4x torchvision eager (large, batch 1)",
            f"{large.speedup:.2f}x" if large else "not measured",
            None if large is None else large.speedup >= 4.0,
        )
    )
    for row in result.latency:
        if row.contender != "ONNX Runtime int8":
            continue
        fp32 = result.latency_of(row.model, row.batch, "ONNX Runtime fp32")
        ratio = fp32.median_s / row.median_s if fp32 else float("nan")
        checks.append(
            (
                f"int8 >= 1.5x ONNX fp32 ({row.model.removeprefix('mobilenet_v3_')}, batch {row.batch})",
                f"{ratio:.2f}x",
                ratio >= 1.5,
            )
        )
    checks += _openvino_targets(result)
    default = result.settings.get("train_contender", TRAIN_DEFAULT_CONTENDER)
    for train in result.training:
        if train.contender != default:
            continue
        same_layout = next((r for r in result.training if (r.model, r.contender) == (train.model, "lucid")), None)
        measured = f"{train.ratio:.2f}x" + (
            f" (NCHW like torchvision: {same_layout.ratio:.2f}x)" if same_layout and same_layout is not train else ""
        )
        checks.append(
            (
                f"lucid eager training as `lucid train` runs it ({default}) >= 1.0x torchvision "
                f"({train.model.removeprefix('mobilenet_v3_')}, batch {train.batch})",
                measured,
                train.ratio >= 1.0,
            )
        )
    return checks


def _openvino_targets(result: BenchResult) -> list[tuple[str, str, bool | None]]:
    """The OpenVINO targets: speed-ups over eager and ONNX Runtime, int8 size and speed."""
    checks: list[tuple[str, str, bool | None]] = []

    def ratio(batch: int, contender: str, over: str) -> float | None:
        a, b = (
            result.latency_of("mobilenet_v3_large", batch, contender),
            result.latency_of("mobilenet_v3_large", batch, over),
        )
        return b.median_s / a.median_s if a and b else None

    for text, batch, over, goal in (
        ("OpenVINO fp32 >= 5x torchvision eager (large, batch 1)", 1, BASELINE, 5.0),
        ("OpenVINO fp32 >= 1.3x ONNX Runtime fp32 (large, batch 1)", 1, "ONNX Runtime fp32", 1.3),
        ("OpenVINO fp32 >= 7x torchvision eager (large, batch 32)", 32, BASELINE, 7.0),
    ):
        value = ratio(batch, "OpenVINO fp32", over)
        checks.append(
            (text, "not measured" if value is None else f"{value:.2f}x", None if value is None else value >= goal)
        )
    for name, sizes in result.settings.get("file_bytes", {}).items():
        if "openvino_int8" in sizes and "openvino" in sizes:
            share = sizes["openvino_int8"] / sizes["openvino"]
            checks.append(
                (
                    f"OpenVINO int8 file <= 0.3x fp32 ({name.removeprefix('mobilenet_v3_')})",
                    f"{share:.2f}x",
                    share <= 0.3,
                )
            )
    has_int8_dot = result.machine.get("vnni") or result.machine.get("amx")
    for row in result.latency:
        if row.contender != "OpenVINO int8":
            continue
        fp32 = result.latency_of(row.model, row.batch, "OpenVINO fp32")
        speed = fp32.median_s / row.median_s if fp32 else float("nan")
        checks.append(
            (
                f"OpenVINO int8 >= 1.5x OpenVINO fp32 ({row.model.removeprefix('mobilenet_v3_')}, batch {row.batch}; "
                "judged only with VNNI/AMX)",
                f"{speed:.2f}x",
                (speed >= 1.5) if has_int8_dot else None,
            )
        )
    return checks


def _gflops_section(result: BenchResult) -> list[str]:
    """Achieved GFLOP/s of every contender (model FLOPs x batch / median time) against the fp32 peak."""
    flops, peak = result.settings.get("flops", {}), result.machine.get("peak_gflops")
    if not flops:
        return []
    m = result.machine
    lines = [
        "",
        "## Achieved GFLOP/s against this CPU's fp32 peak",
        "",
        f"fp32 peak: {m.get('cores')} cores x {m.get('fp32_lanes')} fp32 lanes x {m.get('fma_units')} FMA units x 2 "
        f"x {m.get('clock_ghz')} GHz = **{peak} GFLOP/s** (`lucid.deploy.bench.cpu_peak`; "
        "the clock is /proc/cpuinfo's, "
        "boost clocks raise the real peak). Model FLOPs per image (torch.utils.flop_counter, 2 per multiply-add): "
        + ", ".join(f"{k} {v / 1e9:.3f} GFLOP" for k, v in flops.items())
        + ". "
        f"int8 dot-product instructions: VNNI {'yes' if m.get('vnni') else 'no'}, "
        f"AMX {'yes' if m.get('amx') else 'no'}.",
        "",
        "| model | batch | " + " | ".join(CONTENDERS) + " |",
        "|---|---:|" + "---:|" * len(CONTENDERS),
    ]
    for model, batch in sorted({(r.model, r.batch) for r in result.latency}, key=lambda k: (k[0], k[1])):
        cells = []
        for contender in CONTENDERS:
            row = result.latency_of(model, batch, contender)
            if row is None or model not in flops:
                cells.append("")
                continue
            achieved = flops[model] * batch / row.median_s / 1e9
            cells.append(f"{achieved:.1f} ({100 * achieved / peak:.0f} %)" if peak else f"{achieved:.1f}")
        lines.append(f"| {model} | {batch} | " + " | ".join(cells) + " |")
    return lines


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _fastest_speedup(result: BenchResult, row: LatencyRow) -> float:
    base = result.latency_of(row.model, row.batch, BASELINE)
    return min(base.samples) / min(row.samples) if base else float("nan")


def _latency_table(result: BenchResult, cell: Callable[[LatencyRow], str]) -> list[str]:
    lines = [
        "| model | batch | timed calls | " + " | ".join(CONTENDERS) + " |",
        "|---|---:|---:|" + "---:|" * len(CONTENDERS),
    ]
    models = result.settings["models"]
    for model, batch in sorted({(r.model, r.batch) for r in result.latency}, key=lambda k: (models.index(k[0]), k[1])):
        rows = [result.latency_of(model, batch, contender) for contender in CONTENDERS]
        counts = [len(r.samples) for r in rows if r]
        calls = f"{min(counts)}–{max(counts)}" if counts else "0"
        lines.append(f"| {model} | {batch} | {calls} | " + " | ".join(cell(r) if r else "" for r in rows) + " |")
    return lines


def _markdown(result: BenchResult) -> str:
    m, s = result.machine, result.settings
    lines = [
        "# Benchmarks",
        "",
        "Generated by `lucid bench` (`python benchmarks/bench.py`): lucid's deployment paths against "
        "torchvision's eager model, same weights, one run with alternating blocks of repetitions. "
        "Speed-ups are torchvision eager's median time over the contender's; higher is faster.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu']} ({m['cpu_family_model']}), {m['cores']} cores usable, SIMD: {m['simd']} |",
        f"| fp32 peak | {m.get('peak_gflops', 'n/a')} GFLOP/s; int8 dot-product instructions: VNNI "
        f"{'yes' if m.get('vnni') else 'no'}, AMX {'yes' if m.get('amx') else 'no'} |",
        f"| threads | {m['threads']} (torch, ONNX Runtime and OpenVINO inference threads) |",
        f"| software | Python {m['python']}, torch {m['torch']}, torchvision {m['torchvision']}, "
        f"onnxruntime {m['onnxruntime']}, openvino {m.get('openvino', 'n/a')}, "
        f"executorch {m.get('executorch', 'n/a')}, "
        f"lucid {m['lucid']} |",
        f"| OS | {m['os']} |",
        f"| date | {m['date']} |",
        f"| load average (1, 5, 15 min) | before {m['load_before']}; after {m.get('load_after', 'n/a')} |",
        "",
        f"## Inference latency ({s['image_size']}x{s['image_size']} input): median per call (speed-up)",
        "",
        *_latency_table(result, lambda row: f"{_ms(row.median_s)} ({row.speedup:.2f}x)"),
        "",
        "Fastest call of each contender (speed-up over torchvision eager's fastest): on a shared CPU the "
        "fastest call is the one least disturbed by other processes.",
        "",
        *_latency_table(result, lambda row: f"{_ms(min(row.samples))} ({_fastest_speedup(result, row):.2f}x)"),
    ]
    if result.training:
        lines += [
            "",
            "## Training throughput (median SGD step, alternating)",
            "",
            "| model | batch | " + " | ".join(TRAIN_CONTENDERS) + " |",
            "|---|---:|" + "---:|" * len(TRAIN_CONTENDERS),
        ]
        for model in s["models"]:
            rows = [r for r in result.training if r.model == model]
            if rows:
                cells = [f"{r.images_per_s:.1f} img/s ({r.ratio:.2f}x)" for r in rows]
                lines.append(f"| {model} | {rows[0].batch} | " + " | ".join(cells) + " |")
    if result.memory:
        lines += [
            "",
            "## Peak memory (fresh process per contender)",
            "",
            "| model | contender | batch | peak RSS | increase over imports |",
            "|---|---|---:|---:|---:|",
        ]
        for row in result.memory:
            lines.append(
                f"| {row.model} | {row.contender} | {row.batch} | {row.peak_mib:.0f} MiB | {row.increase_mib:.0f} MiB |"
            )
    lines += _gflops_section(result)
    lines += _operator_section(result)
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for text, measured, met in result.targets():
        lines.append(f"| {text} | {measured} | {'n/a' if met is None else ('yes' if met else '**no**')} |")
    lines += ["", "## How it was measured", ""] + [f"- {line}" for line in _method_notes(result)]
    return "\n".join(lines) + "\n"


def int8_ceiling(rows: Sequence[OperatorRow]) -> tuple[float, float] | None:
    """(int8 convolution speed-up over fp32's, the whole file's best possible int8 speed-up) from one
    model's profile rows: if int8 added no quantize/dequantize or other extra work at all, only the
    convolutions would get faster, so fp32 time / (fp32 time - fp32 conv + int8 conv) bounds it."""

    def total(file: str, conv_only: bool) -> float:
        return sum(r.ms for r in rows if r.file == file and (not conv_only or "Conv" in r.op_type))

    fp32, fp32_conv, int8_conv = total("fp32", False), total("fp32", True), total("int8", True)
    if not fp32_conv or not int8_conv:
        return None
    return fp32_conv / int8_conv, fp32 / (fp32 - fp32_conv + int8_conv)


def _operator_section(result: BenchResult) -> list[str]:
    if not result.operators:
        return []
    lines = [
        "",
        "## Where ONNX Runtime spends the time (per operator type)",
        "",
        "ONNX Runtime's profiler, kernel time per call summed over the nodes of each operator type, after "
        "its graph optimisations (fp32 runs fused convolutions in a blocked NCHWc layout; int8 runs "
        "QLinearConv in NHWC between quantize/dequantize steps).",
        "",
    ]
    for model, batch in dict.fromkeys((r.model, r.batch) for r in result.operators):
        rows = [r for r in result.operators if (r.model, r.batch) == (model, batch)]
        lines += [f"**{model}, batch {batch}**", "", "| file | operator | nodes | ms per call |", "|---|---|---:|---:|"]
        for file in ("fp32", "int8"):
            mine = [r for r in rows if r.file == file]
            lines += [f"| {file} | {r.op_type} | {r.nodes} | {r.ms:.3f} |" for r in mine]
            lines.append(f"| {file} | **total** | {sum(r.nodes for r in mine)} | **{sum(r.ms for r in mine):.3f}** |")
        ceiling = int8_ceiling(rows)
        if ceiling:
            lines += [
                "",
                f"int8 convolutions run {ceiling[0]:.2f}x as fast as fp32's here; even if int8 cost nothing "
                f"else extra, the file could be at most {ceiling[1]:.2f}x as fast as fp32.",
                "",
            ]
    return lines


def _method_notes(result: BenchResult) -> list[str]:
    s = result.settings
    return [
        "Weights: torchvision's model with seeded random weights (and random BatchNorm statistics, so "
        "folding is not trivial); lucid's model loads them through lucid's torchvision conversion. "
        "No pretrained download is needed; latency does not depend on the values.",
        f"Latency: after {s['warmup']} warm-up calls each, every round gives each contender one block, in a "
        f"rotating order: a {1e3 * PAUSE_S:.0f} ms pause, one untimed call, then calls timed for {BLOCK_S:g} s; "
        f"rounds go on until each has {s['repeats']} timed calls and {s['time_budget']:g} s have passed. "
        "torch runs under `torch.inference_mode()`.",
        "TorchScript: `lucid export --format torchscript` (BatchNorm folded, `torch.jit.script` + "
        "`torch.jit.freeze`). ONNX Runtime fp32: `lucid export --dynamic-batch` (opset 18), session with "
        "all graph optimisations, sequential execution. "
        "int8: `lucid quantize` (static, QDQ, per-channel 7-bit weights, uint8 activations, classifier fp32), "
        "calibrated on 32 random inputs: timing does not depend on calibration data.",
        "OpenVINO: `lucid export --format openvino --dynamic-batch` (the IR of the same ONNX graph) run by "
        "`lucid.deploy.runtime.OpenVINOModel` as `Predictor` runs it: compiled for the batch's static shape, "
        "`LATENCY` hint at batch 1, `THROUGHPUT` hint above (the batch split over its parallel infer requests), "
        "`INFERENCE_PRECISION_HINT=f32`. int8: `lucid quantize --backend openvino` (NNCF, classifier quantized "
        "too). OpenVINO bf16 (only on CPUs with bf16 instructions): the fp32 file compiled with OpenVINO's "
        "default precision there, bfloat16, which moves logits by about 1 %; it is shown, not judged by the "
        "fp32 targets.",
        "Training: SGD (momentum 0.9) steps on random images and labels, forward + cross-entropy + backward + "
        f"update, batch {s['train_batch']}, at least {s['train_steps']} steps each in alternating blocks after one "
        "warm-up step. The target is judged on the layout `lucid train` uses by default (channels-last; "
        "`--no-channels-last` turns it off); in torchvision's NCHW layout both models run the same kernels.",
        (
            "Idle threads wait passively in both runtimes (torch: `OMP_WAIT_POLICY=PASSIVE`, ONNX Runtime: "
            "`session.intra_op.allow_spinning=0`), so other processes on a shared CPU do not turn spin-waits into "
            "stalls."
            if s["passive_wait"]
            else f"Both runtimes' default thread waiting (OMP_WAIT_POLICY={s['omp_wait_policy']}, ORT spinning on), "
            "as a deployment runs them; the pause before each block lets the previous contender's threads settle."
        ),
        *(
            []
            if "vnni" in result.machine.get("simd", "")
            else [
                "This CPU has no VNNI instructions (avx512_vnni / avx_vnni): ONNX Runtime's uint8 x int8 kernels then "
                "use AVX2's saturating 16-bit pair products, so int8 is not expected to beat fp32 by much here "
                "(and 7-bit weights are needed for accuracy; see the README's deployment section)."
            ]
        ),
        "Memory: each contender runs in a fresh Python process (`python -m lucid.deploy._probe memory`), which "
        "reports its peak resident set size (`VmHWM` of /proc/self/status) after building the model and running "
        "it three times, and the increase of that peak over the process after importing torch, torchvision "
        "and onnxruntime (model weights, runtime buffers and activations).",
        *result.notes,
    ]

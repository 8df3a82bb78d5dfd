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

import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lucid.deploy.machine import has_bf16, load_average, machine_info, model_flops
from lucid.deploy.report import markdown
from lucid.deploy.results import (
    BASELINE,
    BENCH_MODELS,
    BF16,
    BLOCK_S,
    CONTENDERS,
    DETECTION_CONTENDERS,
    DETECTOR,
    EXECUTORCH,
    OPENVINO_CONTENDERS,
    PAUSE_S,
    TRAIN_CONTENDERS,
    TRAIN_DEFAULT_CONTENDER,
    BenchResult,
    LatencyRow,
    MemoryRow,
    OperatorRow,
    TrainRow,
)

__all__ = [
    "operator_profile",
    "bench",
    "alternating",
    "available_contenders",
    "same_weights",
    "torchvision_model",
]

Log = Callable[[str], None]


# ---------------------------------------------------------------------------------------------
# contenders
# ---------------------------------------------------------------------------------------------


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
    detection: bool = True,
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
    report (written atomically), with the raw measurements beside it as JSON (``.json``), to
    report or judge again later. ``executorch=False`` leaves out the ExecuTorch contender (its
    export takes the longest). ``detection`` adds the detection row: batch-1 latency of lucid's
    exported ``ssdlite320_mobilenet_v3_large`` (run by `Predictor`, NMS on the host) against
    torchvision's eager one, same weights, on a 640x480 photo (`detection_row`). ``log``
    receives progress lines.
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
        "detection": detection,
    }
    if passive_wait and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        result = _bench_in_child(arguments, log)
    else:
        result = _bench_here(**arguments, passive_wait=passive_wait, log=log)
    if out is not None:
        from lucid.checkpoint import atomic_write

        atomic_write(out, lambda tmp: Path(tmp).write_text(markdown(result)))
        raw = Path(out).with_suffix(".json")  # the measurements, to report or judge again later
        atomic_write(raw, lambda tmp: Path(tmp).write_text(json.dumps(result.to_dict(), indent=1) + "\n"))
        if log:
            log(f"wrote {out} and {raw}")
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
    detection: bool,
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
            if detection:
                detection_row(result, Path(workdir), threads, (repeats, warmup, time_budget), spinning, seed, say)
    finally:
        torch.set_num_threads(previous_threads)
    result.machine["load_after"] = load_average()
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


def _detector_pair(seed: int) -> tuple[nn.Module, nn.Module]:
    """torchvision's ``ssdlite320_mobilenet_v3_large`` with seeded random weights (91 COCO classes)
    and lucid's with the same weights (`lucid.models.ssdlite.ssdlite_from_torchvision`).

    The background's bias in every classification head is raised by 8 so that, as in a trained
    detector, few anchors pass the 0.001 score threshold: with random weights every anchor would
    pass for every class, and the row would time NMS over 27,000 boxes instead of the network."""
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large as torchvision_ssdlite

    from lucid.models.ssdlite import ssdlite320_mobilenet_v3_large, ssdlite_from_torchvision

    torch.manual_seed(seed)
    tv = torchvision_ssdlite(weights=None, weights_backbone=None).eval()
    classes = tv.head.classification_head.num_columns
    with torch.no_grad():
        for block in tv.head.classification_head.module_list:
            block[-1].bias.view(-1, classes)[:, 0] += 8.0  # channel = anchor x classes + class
    lucid = ssdlite320_mobilenet_v3_large(num_classes=classes)
    lucid.load_state_dict(ssdlite_from_torchvision(tv.state_dict(), lucid))
    return tv, lucid.eval()


def detection_row(
    result: BenchResult,
    workdir: Path,
    threads: int,
    rounds: tuple[int, int, float],
    spinning: bool | None,
    seed: int,
    say: Log,
) -> None:
    """The detection row: per-call latency at batch 1 of torchvision's eager SSDLite (its own
    resize to 320, normalisation and NMS) and of lucid's exported one run by `Predictor` (the same
    resize and normalisation, the network in ONNX Runtime or OpenVINO, fp32 and int8, NMS on the
    host), on one 640x480 photo, in alternating blocks. Appends to ``result.detection``."""
    from lucid.deploy.export import export
    from lucid.deploy.predictor import Predictor
    from lucid.deploy.quantize import quantize
    from lucid.deploy.runtime import available

    repeats, warmup, budget = rounds
    say(f"{DETECTOR}: torchvision's eager model against lucid's exported one, batch 1")
    tv, lucid = _detector_pair(seed)
    onnx = workdir / f"{DETECTOR}.onnx"
    export(lucid, onnx)
    photo = torch.randint(0, 256, (3, 480, 640), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    calls: dict[str, Callable[[], Any]] = {}
    with torch.inference_mode():
        image = photo.float().div(255)
        calls[DETECTION_CONTENDERS[0]] = lambda: tv([image])
    files = {DETECTION_CONTENDERS[1]: (onnx, "onnxruntime"), DETECTION_CONTENDERS[2]: (onnx, "openvino")}
    calib = np.random.default_rng(seed).standard_normal((8, 3, 320, 320)).astype(np.float32)
    say(f"{DETECTOR}: int8 files (calibrated on random inputs: their timing does not depend on the data)")
    int8 = workdir / f"{DETECTOR}.int8.onnx"
    quantize(onnx, int8, calib, num_calib=8, num_eval=8, threads=threads)
    files[DETECTION_CONTENDERS[3]] = (int8, "onnxruntime")
    if available("nncf"):
        ir = workdir / f"{DETECTOR}.int8.xml"
        quantize(onnx, ir, calib, backend="openvino", num_calib=8, num_eval=8, threads=threads)
        files[DETECTION_CONTENDERS[4]] = (ir, "openvino")
    for contender, (path, backend) in files.items():
        if backend == "openvino" and not available("openvino"):
            continue
        predictor = Predictor(path, threads, backend=backend, spinning=spinning if backend == "onnxruntime" else None)
        calls[contender] = functools.partial(predictor.predict, photo)
    with torch.inference_mode():
        times = alternating(calls, repeats, warmup, budget)
    base = statistics.median(times[BASELINE])
    for contender in [c for c in DETECTION_CONTENDERS if c in times]:
        median = statistics.median(times[contender])
        result.detection.append(LatencyRow(DETECTOR, 1, contender, median, tuple(times[contender]), base / median))
        say(f"  {contender:<26} {1e3 * median:9.2f} ms  {base / median:5.2f}x")


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

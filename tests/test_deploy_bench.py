"""lucid.deploy.bench: the benchmark runs end to end (tiny settings) and writes its report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision

from lucid.cli import main
from lucid.deploy import bench
from lucid.deploy import report as bench_report
from lucid.deploy.bench import alternating, available_contenders, same_weights
from lucid.deploy.machine import cpu_peak, has_bf16, model_flops
from lucid.deploy.report import int8_ceiling, markdown
from lucid.deploy.results import TRAIN_CONTENDERS, BenchResult, OperatorRow
from lucid.deploy.runtime import available


def _bench_targets() -> Any:
    """benchmarks/bench_targets.py, the targets the benchmark is judged by (not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_targets.py"
    spec = importlib.util.spec_from_file_location("bench_targets", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lucid_gets_torchvisions_weights_for_the_comparison() -> None:
    torch.manual_seed(0)
    reference = torchvision.models.mobilenet_v3_small().eval()
    model, diff = same_weights(reference, "mobilenet_v3_small")
    assert diff < 1e-5
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-6)


@pytest.mark.slow  # ~17 s
def test_bench_measures_every_contender_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    result = bench(
        ["mobilenet_v3_small"],
        [1],
        repeats=2,
        threads=1,
        image_size=64,
        warmup=1,
        time_budget=0,
        train_batch=2,
        train_steps=1,
        memory=False,
        passive_wait=False,
        executorch=False,
        detection=False,
        out=out,
    )

    contenders = available_contenders(executorch=False)
    assert [row.contender for row in result.latency] == list(contenders)
    assert ("OpenVINO fp32" in contenders) == (available("openvino") and available("nncf"))
    assert ("OpenVINO bf16" in contenders) == ("OpenVINO fp32" in contenders and has_bf16())
    assert all(row.median_s > 0 and len(row.samples) >= 2 for row in result.latency)
    assert result.latency_of("mobilenet_v3_small", 1, "torchvision eager").speedup == 1.0
    assert [row.contender for row in result.training] == list(TRAIN_CONTENDERS)
    assert all(row.images_per_s > 0 for row in result.training)
    assert any("convert_state_dict" in note for note in result.notes)

    report = out.read_text()
    assert report == markdown(result)
    assert BenchResult.from_dict(json.loads(out.with_suffix(".json").read_text())) == result
    assert "## Machine" in report and result.machine["cpu"] in report and "torch " + torch.__version__ in report
    assert "| mobilenet_v3_small | 1 | " in report and "ONNX Runtime int8" in report
    assert "Fastest call" in report
    assert "## Achieved GFLOP/s against this CPU's fp32 peak" in report and "VNNI" in report
    assert "## Targets" not in report  # the library measures; benchmarks/bench_targets.py judges
    judged = markdown(result, _bench_targets().targets(result))
    assert "## Targets" in judged and "int8 >= 1.5x ONNX fp32 (small, batch 1)" in judged
    if "OpenVINO int8" in contenders:
        assert "OpenVINO int8 file <= 0.3x fp32 (small)" in judged
    assert "lucid eager training as `lucid train` runs it (lucid channels-last) >= 1.0x torchvision" in judged

    # ONNX Runtime's own profile of both files: the fp32 file runs Conv, the int8 file QLinearConv.
    ops = {(row.file, row.op_type) for row in result.operators}
    assert ("fp32", "Conv") in ops and ("int8", "QLinearConv") in ops and ("int8", "QuantizeLinear") in ops
    assert all(row.ms >= 0 and row.nodes >= 1 for row in result.operators)
    assert "## Where ONNX Runtime spends the time" in report and "| int8 | **total** |" in report
    assert markdown(BenchResult.from_dict(result.to_dict())) == markdown(result)


@pytest.mark.slow  # about 11 s: an SSDLite export and timing; the report's rows are checked above
def test_the_detection_row_times_lucids_exported_ssdlite_against_torchvisions(tmp_path: Path) -> None:
    from lucid.deploy.bench import detection_row
    from lucid.deploy.results import DETECTION_CONTENDERS

    result = BenchResult(machine={}, settings={})
    detection_row(result, tmp_path, 1, (2, 1, 0.0), None, 0, lambda _line: None)
    contenders = [row.contender for row in result.detection]
    expected = [
        c
        for c in DETECTION_CONTENDERS
        if "OpenVINO" not in c or (available("openvino") and (c == "lucid OpenVINO" or available("nncf")))
    ]
    assert contenders == expected and result.detection[0].speedup == 1.0
    assert all(row.batch == 1 and row.median_s > 0 and len(row.samples) >= 2 for row in result.detection)
    section = "\n".join(bench_report.detection_section(result))
    assert "## Detection (ssdlite320_mobilenet_v3_large, batch 1" in section and "lucid ONNX Runtime" in section
    assert BenchResult.from_dict(result.to_dict()).detection == result.detection
    judged = _bench_targets().detection_targets(result)
    assert judged[0][0].startswith("exported SSDLite large >= 4x torchvision eager") and judged[0][2] is not None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"models": ["resnet50"]}, "bench compares mobilenet_v3_small, mobilenet_v3_large"),
        ({"batches": [0]}, "batch must be positive integers"),
        ({"repeats": 0}, "repeats must be positive integers"),
        ({"threads": 0}, "threads must be a positive integer"),
    ],
)
def test_bench_rejects_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bench(**kwargs)


@pytest.mark.slow
def test_bench_command_with_memory_in_fresh_processes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "benchmarks.md"
    argv = [
        "bench",
        "--models",
        "mobilenet_v3_small",
        "--batch",
        "1",
        "--repeats",
        "2",
        "--train-batch",
        "2",
        "--train-steps",
        "1",
        "--threads",
        "1",
        "--time-budget",
        "0",
        "--passive-wait",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    report = out.read_text()
    assert "## Peak memory" in report and "training: lucid" in report
    assert "OMP_WAIT_POLICY=PASSIVE" in report
    assert "# Benchmarks" in capsys.readouterr().out
    if available("executorch"):
        assert "| mobilenet_v3_small | 1 |" in report and "ExecuTorch XNNPACK" in report


def test_alternating_blocks_rotate_and_rewarm_only_short_calls() -> None:
    log: list[str] = []
    calls = {name: (lambda name=name: log.append(name)) for name in "abc"}
    times = alternating(calls, repeats=2, warmup=1, budget_s=0.0, block_s=0.0, pause_s=0.0)

    assert all(len(t) == 2 for t in times.values())  # two rounds of one timed call each
    warmup, rounds = log[:3], log[3:]
    assert warmup == ["a", "b", "c"]
    # The order rotates by one per round. The first block of each is an untimed call and a timed
    # one; later blocks skip the untimed call, because these calls last longer than a (0 s) block.
    assert rounds == ["a", "a", "b", "b", "c", "c", "b", "c", "a"]


def test_int8_ceiling_bounds_the_speed_up_by_the_convolutions() -> None:
    rows = [
        OperatorRow("m", 1, "fp32", "Conv", 10, 6.0),
        OperatorRow("m", 1, "fp32", "Gemm", 2, 4.0),
        OperatorRow("m", 1, "int8", "QLinearConv", 10, 3.0),
        OperatorRow("m", 1, "int8", "QuantizeLinear", 5, 1.0),
    ]
    conv_speedup, ceiling = int8_ceiling(rows)
    assert conv_speedup == pytest.approx(2.0)
    assert ceiling == pytest.approx(10.0 / (10.0 - 6.0 + 3.0))
    assert int8_ceiling(rows[:2]) is None


def test_cpu_peak_from_cpuinfo() -> None:
    zen4 = {
        "vendor_id": "AuthenticAMD",
        "cpu family": "25",
        "cpu MHz": "2600.0",
        "flags": "fma avx2 avx512f avx512_vnni",
    }
    assert cpu_peak(zen4, 2) == {"fp32_lanes": 8, "fma_units": 2, "clock_ghz": 2.6, "peak_gflops": 166.4}
    xeon = {"vendor_id": "GenuineIntel", "cpu family": "6", "cpu MHz": "2000", "flags": "fma avx2 avx512f amx_tile"}
    assert cpu_peak(xeon, 4)["peak_gflops"] == 4 * 16 * 2 * 2 * 2.0
    assert cpu_peak({}, 1)["peak_gflops"] == 0.0  # unknown clock: no claim


@pytest.mark.parametrize(
    ("name", "weights"),
    [("mobilenet_v3_small", "MobileNet_V3_Small_Weights"), ("mobilenet_v3_large", "MobileNet_V3_Large_Weights")],
)
def test_model_flops_match_torchvisions_published_operation_count(name: str, weights: str) -> None:
    """torchvision publishes each model's multiply-adds ("_ops", in G) with its weights."""
    published = getattr(torchvision.models, weights).IMAGENET1K_V1.meta["_ops"]
    counted = model_flops(getattr(torchvision.models, name)(), 224) / 2e9
    assert counted == pytest.approx(published, rel=0.05)

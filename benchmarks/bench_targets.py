"""The pass/fail targets the deployment benchmark is judged by (the library measures; this
judges). ``benchmarks/bench.py`` adds them to the report as a "Targets" section.

    python benchmarks/bench_targets.py docs/benchmarks.json   # judge a saved run again
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lucid.deploy.results import BASELINE, TRAIN_DEFAULT_CONTENDER, BenchResult


def targets(result: BenchResult) -> list[tuple[str, str, bool | None]]:
    """The deployment targets of past issues: (description, measured, met; None when not measured)."""
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
    checks += openvino_targets(result)
    checks += detection_targets(result)
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


def detection_targets(result: BenchResult) -> list[tuple[str, str, bool | None]]:
    """The detection row: lucid's fastest exported SSDLite >= 4x torchvision's eager one (batch 1)."""
    exported = [r for r in result.detection if r.contender != BASELINE]
    if not exported:
        return [("exported SSDLite large >= 4x torchvision eager (batch 1)", "not measured", None)]
    best = max(exported, key=lambda r: r.speedup)
    return [
        (
            "exported SSDLite large >= 4x torchvision eager (batch 1, fastest runtime)",
            f"{best.speedup:.2f}x ({best.contender})",
            best.speedup >= 4.0,
        )
    ]


def openvino_targets(result: BenchResult) -> list[tuple[str, str, bool | None]]:
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


def main(argv: list[str]) -> int:
    result = BenchResult.from_dict(json.loads(Path(argv[0]).read_text()))
    for text, measured, met in targets(result):
        print(f"{'n/a' if met is None else ('met' if met else 'NOT MET'):>7}  {measured:>12}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""CamVid segmentation benchmark: train LR-ASPP from scratch under a time budget, then measure
the exported model's batch-1 480x360 latency against torchvision's eager LR-ASPP, in one run.

    python benchmarks/segment_camvid.py                     # 60-minute training, then latency
    python benchmarks/segment_camvid.py --minutes 3         # a smoke run
    python benchmarks/segment_camvid.py --checkpoint runs/x/best.safetensors   # latency (and eval) only

Training is the real command line (``lucid train --task segment ... --time-budget M``) and the
scores come from ``lucid eval CKPT --data DIR --json`` on CamVid's val split (101 images at
480x360, void label 11). Latency: the checkpoint exported to ONNX and OpenVINO IR (float32)
with ``lucid.deploy.export``, run by ONNX Runtime and OpenVINO, against
``torchvision.models.segmentation.lraspp_mobilenet_v3_large`` (same class count, eager, no_grad),
alternating rounds, medians. The machine load (``uptime``) is printed with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "camvid"
CAMVID_CLASSES = "sky,building,pole,road,pavement,tree,sign_symbol,fence,car,pedestrian,bicyclist"


def _lucid(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "lucid", *args]
    print("$ lucid " + " ".join(args), flush=True)
    return subprocess.run(command, check=True, text=True, stdout=subprocess.PIPE if "--json" in args else None)


def train(data: Path, minutes: float, out: Path, extra: list[str]) -> Path:
    """``lucid train --task segment`` on CamVid within ``minutes``; returns the best checkpoint."""
    start = time.perf_counter()
    _lucid(
        "train",
        "--task",
        "segment",
        "--data",
        str(data),
        "--ignore-index",
        "11",
        "--classes",
        CAMVID_CLASSES,
        "--time-budget",
        f"{minutes:g}",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    )
    print(f"training took {time.perf_counter() - start:.0f} s for a {minutes:g}-minute budget", flush=True)
    return out / "best.safetensors"


def evaluate(checkpoint: Path, data: Path) -> dict[str, Any]:
    result = json.loads(_lucid("eval", str(checkpoint), "--data", str(data), "--json").stdout)
    return {k: result[k] for k in ("miou", "pixel_acc", "mean_acc", "per_class_iou", "images")}


def _median_ms(run: Any, x: Any, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run(x)
        times.append(1000 * (time.perf_counter() - start))
    return times


def latency(checkpoint: Path, work: Path, rounds: int, threads: int) -> dict[str, Any]:
    """Batch-1 480x360 latency (ms, medians) of the export in ORT and OpenVINO vs torchvision eager."""
    import numpy as np
    import torch
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    from lucid.deploy import export, make_session
    from lucid.models import load_segmentation_model
    from lucid.models import lraspp_mobilenet_v3_large as lraspp_large

    torch.set_num_threads(threads)
    model = load_segmentation_model(checkpoint)
    # The trained model, and lucid's large model (torchvision's architecture, same classes): the
    # latter is the like-for-like ratio when the trained model is the small one.
    same_as_torchvision = lraspp_large(num_classes=model.num_classes).eval()
    runners: dict[str, Any] = {}
    for label, source in ((model.model_name, checkpoint), ("lraspp_mobilenet_v3_large", same_as_torchvision)):
        folder = work / label
        onnx_file = export(source, folder / "lraspp.onnx", image_size=(360, 480), rtol=1e-3)
        print(onnx_file.summary(), flush=True)
        session = make_session(onnx_file.path, threads)
        runners[f"{label} ONNX Runtime"] = lambda x, session=session: session.run(None, {"input": x})[0]
        try:
            import openvino as ov
        except ImportError:
            print("openvino is not installed: ONNX Runtime only", flush=True)
            continue
        ir = export(source, folder / "ir" / "lraspp.xml", format="openvino", image_size=(360, 480), rtol=1e-3)
        print(ir.summary(), flush=True)
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads}
        compiled = ov.Core().compile_model(str(ir.path), "CPU", config)
        runners[f"{label} OpenVINO"] = lambda x, compiled=compiled: compiled(x)[0]
    reference = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=model.num_classes).eval()

    def eager(x: Any) -> Any:
        with torch.no_grad():
            return reference(torch.from_numpy(x))["out"]

    runners["torchvision eager (lraspp_mobilenet_v3_large)"] = eager
    x = np.random.default_rng(0).standard_normal((1, 3, 360, 480)).astype(np.float32)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for run in runners.values():  # warm-up
        _median_ms(run, x, 3)
    for _ in range(5):  # alternating blocks, so load changes hit every runtime alike
        for name, run in runners.items():
            times[name] += _median_ms(run, x, max(1, rounds // 5))
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["torchvision eager (lraspp_mobilenet_v3_large)"]
    return {
        "threads": threads,
        "median_ms": medians,
        "speedup_vs_torchvision_eager": {name: base / value for name, value in medians.items()},
        "model": model.model_name,
        "params": sum(p.numel() for p in model.parameters()),
    }


def int8(checkpoint: Path, work: Path) -> list[dict[str, Any]]:
    """The mIoU drop of int8 on CamVid val, as `lucid quantize` reports it (calibrated on the
    checkpoint's training pairs, scored on its validation pairs), for each installed quantizer."""
    from lucid.deploy import export, quantize
    from lucid.deploy.runtime import available

    onnx_file = export(checkpoint, work / "int8" / "lraspp.onnx", image_size=(360, 480), rtol=1e-3).path
    rows = []
    for backend, suffix in (("onnxruntime", ".int8.onnx"), ("openvino", ".int8.xml")):
        if backend == "openvino" and not available("nncf"):
            continue
        result = quantize(onnx_file, onnx_file.with_name("lraspp" + suffix), backend=backend, num_calib=64)
        print(result.summary(), flush=True)
        rows.append(
            {
                "backend": backend,
                "images": result.num_eval,
                "fp32_miou": result.fp32_top1,
                "int8_miou": result.int8_top1,
                "drop_points": result.top1_drop,
                "pixel_agreement": result.agreement,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"CamVid root (default {DEFAULT_DATA})")
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget (default 60)")
    parser.add_argument("--out", type=Path, default=None, help="run folder (default runs/segment-camvid-<time>)")
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="skip training: evaluate and time this checkpoint"
    )
    parser.add_argument("--rounds", type=int, default=50, help="timed runs per runtime (default 50)")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="inference threads (default: all cores)"
    )
    parser.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="after --: more lucid train flags")
    args = parser.parse_args(argv)
    extra = [a for a in args.train_args if a != "--"]
    results: dict[str, Any] = {"load_before": os.getloadavg()}
    if args.checkpoint is None:
        out = args.out or ROOT / "runs" / f"segment-camvid-{time.strftime('%Y%m%d-%H%M%S')}"
        checkpoint = train(args.data, args.minutes, out, extra)
        results["train_minutes"] = args.minutes
        results["summary"] = json.loads((out / "summary.json").read_text())
        results["summary"].pop("config", None)
    else:
        checkpoint = args.checkpoint
    results["checkpoint"] = str(checkpoint)
    results["val"] = evaluate(checkpoint, args.data)
    results["latency"] = latency(checkpoint, checkpoint.parent, args.rounds, args.threads)
    results["int8"] = int8(checkpoint, checkpoint.parent)
    results["load_after"] = os.getloadavg()
    val, lat = results["val"], results["latency"]
    print("\n| measure | value |\n|---|---|")
    print(f"| CamVid val mIoU (11 classes, void ignored) | {100 * val['miou']:.2f} % |")
    print(f"| CamVid val pixel accuracy | {100 * val['pixel_acc']:.2f} % |")
    for name, ms in lat["median_ms"].items():
        print(
            f"| batch-1 480x360 latency, {name} ({lat['threads']} threads, f32) | {ms:.1f} ms "
            f"({lat['speedup_vs_torchvision_eager'][name]:.2f}x torchvision eager) |"
        )
    for row in results["int8"]:
        print(
            f"| int8 ({row['backend']}) val mIoU on {row['images']} images | {100 * row['int8_miou']:.2f} % "
            f"(fp32 {100 * row['fp32_miou']:.2f} %, drop {row['drop_points']:.2f} points) |"
        )
    print(f"| load average before / after | {results['load_before'][0]:.2f} / {results['load_after'][0]:.2f} |")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does detection learn as well from the batch SSD augmentation as from the per-photo one?

    python benchmarks/detect_batched.py [--data DIR] [--epochs 12] [--seed 0] [--paths photo batch]

The batch augmentation (`lucid.detect.batched`) is what a GPU run uses for photos kept on the
GPU; no GPU may be at hand, so this trains twice on the CPU from the same seed and data, for the
same epochs: once with the per-photo recipe (the CPU's own path), once with the batch path put in
its place (``DetectTask.prepare`` made to take it on the CPU, the one change). It prints each
run's validation mAP per epoch and the best, and the machine load before and after. The two
draw their random numbers in another order, so their epochs differ as two seeds would; a batch
path that moved boxes away from their pixels would not learn at all.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from lucid.detect import DetectConfig, DetectTask
from lucid.train import train

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bccd"


def batched_on_the_cpu(task: DetectTask, data: Any, device: torch.device) -> None:
    """`DetectTask.prepare` as it runs on a GPU, on the CPU: the kept training photos augmented a batch at a time."""
    if not data.decoded:
        raise SystemExit("the photos were not kept decoded (raise --memory-budget); the batch path needs them")
    data.train, data.device, data.batched, data.decoded = task.batched_train(data), device, True, False


def run(data: Path, epochs: int, seed: int, batched: bool, out: Path) -> dict[str, Any]:
    original = DetectTask.prepare
    if batched:
        DetectTask.prepare = batched_on_the_cpu  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        result = train(DetectConfig(data=str(data), epochs=epochs, seed=seed, out=str(out), progress=False))
    finally:
        DetectTask.prepare = original  # type: ignore[method-assign]
    return {
        "path": "batch" if batched else "per photo",
        "seconds": round(time.perf_counter() - start, 1),
        "val_map": [round(100 * r["val_map"], 2) for r in result.history],
        "val_map50": [round(100 * r["val_map50"], 2) for r in result.history],
        "best_val_map": round(100 * result.summary["best_val_map"], 2),
        "best_val_map50": round(100 * result.summary["best_val_map50"], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paths", nargs="+", choices=["photo", "batch"], default=["photo", "batch"])
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}; cores: {os.cpu_count()}", flush=True)
    with tempfile.TemporaryDirectory() as work:
        for path in args.paths:
            row = run(args.data, args.epochs, args.seed, path == "batch", Path(work) / path)
            print(json.dumps(row), flush=True)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

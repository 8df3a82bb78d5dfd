"""BCCD detection benchmark: train SSDLite from scratch under a time budget, as a user would.

    python benchmarks/detect_bccd.py                    # 30-minute training, then the val mAP
    python benchmarks/detect_bccd.py --minutes 3        # a smoke run
    python benchmarks/detect_bccd.py --model ssdlite320_mobilenet_v3_small

Training is the real command line (``lucid train --task detect --data DIR --time-budget M``) on
BCCD's Pascal VOC layout (205 train / 87 val photos, 3 classes); the scores are what the run
recorded for its best epoch (COCO mAP@[.5:.95] and mAP@0.5 by COCOeval on the val split, in
the photos' own pixels). The machine load (``os.getloadavg``) is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bccd"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--model", default=None, help="default: lucid train --task detect's default")
    parser.add_argument("--out", type=Path, default=Path("runs") / f"bench-bccd-{time.strftime('%Y%m%d-%H%M%S')}")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}; cores: {os.cpu_count()}", flush=True)
    command = [sys.executable, "-m", "lucid", "train", "--task", "detect", "--data", str(args.data)]
    command += ["--time-budget", f"{args.minutes:g}", "--out", str(args.out), "--no-progress"]
    if args.model:
        command += ["--model", args.model]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    summary = json.loads((args.out / "summary.json").read_text())
    print(f"load average after: {os.getloadavg()}")
    print(
        json.dumps(
            {
                "model": summary["model"]["name"],
                "epochs": summary["epochs"],
                "seconds": round(seconds, 1),
                "best_epoch": summary["best_epoch"],
                "val_map": summary["best_val_map"],
                "val_map50": summary["best_val_map50"],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

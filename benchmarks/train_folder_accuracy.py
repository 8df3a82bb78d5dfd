"""Held-out top-1 of ``lucid train --data DIR --time-budget MINUTES`` with the defaults.

For each data folder (default: the sign-language digits development set, one folder of class
folders, so ``lucid train`` draws and records its seeded held-out split) this runs

    lucid train --data DIR --time-budget 5 --out RUN
    lucid eval RUN/best.safetensors --data DIR --json

and prints the held-out top-1 next to the target (98 % for the digits set). ``lucid eval``
re-derives exactly the images the run held out (it refuses if the folder changed).

``--small-proxy`` instead compares the adaptations for small photos on the digits set resized to
32 px (a temporary copy): the stride-32 network at 32 px, the same network on photos upsampled to
64 px (lucid's default), and the stride-16 ``mobilenet_v3_small_lowres`` at 32 px, each for the
same number of epochs.

    python benchmarks/train_folder_accuracy.py [--data DIR ...] [--time-budget 5]
    python benchmarks/train_folder_accuracy.py --small-proxy [--epochs 15]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sign-language-digits" / "images"
TARGETS = {"sign-language-digits": 0.98}


def _lucid(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lucid", *args], capture_output=True, text=True, check=False)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def run_one(data: Path, out: Path, extra: list[str]) -> dict[str, object]:
    """Train with the defaults (plus ``extra``), then evaluate the best checkpoint on the held-out split."""
    start = time.perf_counter()
    done = _lucid("train", "--data", str(data), "--out", str(out), "--no-progress", *extra)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"lucid train failed on {data}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    head = [line for line in done.stdout.splitlines() if not line.startswith("epoch")][:6]
    evaluated = _lucid("eval", str(out / "best.safetensors"), "--data", str(data), "--json")
    if evaluated.returncode != 0:
        raise SystemExit(f"lucid eval failed on {data}: {evaluated.stderr.strip()}")
    result = json.loads(evaluated.stdout)
    summary = json.loads((out / "summary.json").read_text())
    return {
        "data": str(data),
        "top1": result["top1"],
        "images": result["images"],
        "seconds": seconds,
        "epochs": summary.get("epochs"),
        "head": head,
        "eval_data": result["data"],
    }


def _target(data: Path) -> float | None:
    return next((t for key, t in TARGETS.items() if key in str(data.resolve())), None)


def accuracy(folders: list[Path], budget: float, extra: list[str]) -> None:
    for data in folders:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_one(data, Path(tmp) / "run", ["--time-budget", f"{budget:g}", *extra])
        target = _target(data)
        met = "met" if target is not None and r["top1"] >= target else "NOT met"
        verdict = "" if target is None else f" (target >= {100 * target:.0f} %: {met})"
        print("\n".join(f"  | {line}" for line in r["head"]))
        print(
            f"{data}: held-out top-1 {100 * r['top1']:.2f} % on {r['images']} images{verdict}; "
            f"{r['epochs']} epochs in {r['seconds']:.0f} s wall clock (budget {budget:g} min)"
        )


def _shrink(source: Path, target: Path, size: int) -> None:
    from PIL import Image

    from lucid.data import find_layout, load_image

    layout = find_layout(source)
    for name, files in layout.train.files.items():
        (target / name).mkdir(parents=True, exist_ok=True)
        for file in files:
            load_image(file).resize((size, size), Image.Resampling.BILINEAR).save(target / name / f"{file.stem}.png")


def small_proxy(source: Path, epochs: int) -> None:
    candidates = {
        "stride-32 net at 32 px": ["--img-size", "32"],
        "upsampled to 64 px (default)": [],
        "mobilenet_v3_small_lowres at 32 px": ["--img-size", "32", "--model", "mobilenet_v3_small_lowres"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "small32"
        _shrink(source, data, 32)
        print(f"{source} resized to 32x32 in {data}; {epochs} epochs each; {_uptime()}")
        for name, args in candidates.items():
            r = run_one(data, Path(tmp) / name.replace(" ", "_"), ["--epochs", str(epochs), *args])
            print(f"{name:<36} held-out top-1 {100 * r['top1']:6.2f} %  {r['seconds']:6.0f} s")
    print(f"load after: {_uptime()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="*", default=None, help="data folders (default: sign digits)")
    parser.add_argument("--time-budget", type=float, default=5.0, help="minutes per run (default 5)")
    parser.add_argument("--small-proxy", action="store_true", help="compare the small-image adaptations instead")
    parser.add_argument("--epochs", type=int, default=15, help="--small-proxy: epochs per candidate")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="more lucid train flags after --")
    args = parser.parse_args()
    extra = [a for a in args.extra if a != "--"]
    print(f"load before: {_uptime()}")
    if args.small_proxy:
        small_proxy((args.data or [DEFAULT_DATA])[0].resolve(), args.epochs)
        return
    accuracy([d.resolve() for d in (args.data or [DEFAULT_DATA])], args.time_budget, extra)
    print(f"load after: {_uptime()}")


if __name__ == "__main__":
    main()

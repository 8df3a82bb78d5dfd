"""A proxy for a large set of small real photos: 32 px CamVid patches in ``train/`` + ``test/``.

The held-out target for small photos (>= 90 % top-1 on a hidden set of 50,000 training photos at
32 px in JPEG class folders, ``lucid train --data DIR --time-budget 30`` on 2 CPU cores) cannot
be measured here. The sign-language photos resized to 32 px are real but only 1,651 training
images, so an epoch takes seconds and a 30-minute run is hundreds of epochs: nothing like the
hidden set's 20-40 epochs. This builds a set with the hidden set's shape from real street photos:
square windows of CamVid's training and validation images (32, 48, 64 and 96 px, half-overlapping)
whose pixels are at least 70 % one class and at most 10 % void, resized to 32x32 and saved as
JPEG (quality 90) under ``train/<class>/`` (from CamVid's training images) and ``test/<class>/``
(from its validation images, other scenes). Classes with fewer than 500 training windows are left
out (pole, pedestrian, bicyclist); the others are capped at ``--per-class`` training windows
(seeded random choice) and a quarter of that for testing.

It is a proxy for the run's shape (image count, size, epochs per minute) and for comparing
recipes on real photos; its absolute figures say nothing about the hidden set's. Then, for each
candidate, ``lucid train --data PROXY --time-budget MINUTES [flags]`` and ``lucid eval`` on
``test/``; the machine load before and after each run is printed.

    python benchmarks/small_photos_proxy.py [--minutes 10] [--per-class 7000] [--keep DIR]
        [--candidate NAME=FLAGS ...]     e.g. --candidate "batch 256=--batch-size 256"
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

CAMVID = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "camvid"
CLASSES = ("sky", "building", "pole", "road", "pavement", "tree", "sign", "fence", "car", "pedestrian", "bicyclist")
VOID = 11
SIDES = (32, 48, 64, 96)
PURITY = 0.7
MAX_VOID = 0.1
MIN_TRAIN = 500


def windows(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """``(x, y, side, class)`` of every half-overlapping window that is pure enough."""
    found = []
    height, width = mask.shape
    for side in SIDES:
        step = side // 2
        for y in range(0, height - side + 1, step):
            for x in range(0, width - side + 1, step):
                counts = np.bincount(mask[y : y + side, x : x + side].ravel(), minlength=VOID + 1)
                label = int(counts[:VOID].argmax())
                if counts[VOID] <= MAX_VOID * side * side and counts[label] >= PURITY * side * side:
                    found.append((x, y, side, label))
    return found


def collect(split: str) -> dict[int, list[tuple[Path, tuple[int, int, int]]]]:
    """Class -> list of (photo, window) for one CamVid split."""
    by_class: dict[int, list[tuple[Path, tuple[int, int, int]]]] = {}
    for mask_file in sorted((CAMVID / split / "masks").glob("*.png")):
        photo = CAMVID / split / "images" / f"{mask_file.stem}.jpg"
        for x, y, side, label in windows(np.asarray(Image.open(mask_file))):
            by_class.setdefault(label, []).append((photo, (x, y, side)))
    return by_class


def build(target: Path, per_class: int, seed: int = 0) -> dict[str, dict[str, int]]:
    """Write the proxy under ``target``; return the image count per split and class."""
    rng = np.random.default_rng(seed)
    train, test = collect("train"), collect("val")
    kept = [c for c in sorted(train) if len(train[c]) >= MIN_TRAIN and c in test]
    counts: dict[str, dict[str, int]] = {}
    for split, by_class, cap in (("train", train, per_class), ("test", test, max(1, per_class // 4))):
        counts[split] = {}
        for label in kept:
            items = by_class[label]
            chosen = rng.choice(len(items), size=min(cap, len(items)), replace=False)
            folder = target / split / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            opened: dict[Path, Image.Image] = {}
            for n, index in enumerate(sorted(chosen)):
                photo, (x, y, side) = items[index]
                image = opened.setdefault(photo, Image.open(photo).convert("RGB"))
                patch = image.crop((x, y, x + side, y + side)).resize((32, 32), Image.Resampling.BILINEAR)
                patch.save(folder / f"{photo.stem}_{n:05d}.jpg", quality=90)
            counts[split][CLASSES[label]] = len(chosen)
    return counts


def _lucid(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lucid", *args], capture_output=True, text=True, check=False)


def run(data: Path, out: Path, minutes: float, flags: list[str]) -> dict[str, object]:
    """Train with the defaults plus ``flags`` for ``minutes``, then evaluate on ``test/``."""
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = _lucid(
        "train", "--data", str(data), "--time-budget", f"{minutes:g}", "--out", str(out), "--no-progress", *flags
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"lucid train failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    evaluated = _lucid("eval", str(out / "best.safetensors"), "--data", str(data), "--json")
    if evaluated.returncode != 0:
        raise SystemExit(f"lucid eval failed: {evaluated.stderr.strip()}")
    summary = json.loads((out / "summary.json").read_text())
    return {
        "top1": json.loads(evaluated.stdout)["top1"],
        "epochs": summary.get("epochs"),
        "seconds": seconds,
        "load": (load_before, os.getloadavg()[0]),
        "lines": [line for line in done.stdout.splitlines() if line.strip()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="--time-budget of each run (default 10)")
    parser.add_argument("--per-class", type=int, default=7000, help="training windows per class (default 7000)")
    parser.add_argument("--keep", type=Path, default=None, help="build (or reuse) the proxy here, outside the repo")
    parser.add_argument(
        "--candidate", action="append", default=None, help="NAME=FLAGS for lucid train (default: the defaults)"
    )
    args = parser.parse_args()
    candidates = [c.partition("=") for c in args.candidate or ["defaults="]]
    with tempfile.TemporaryDirectory() as tmp:
        data = args.keep or Path(tmp) / "proxy"
        if not (data / "train").is_dir():
            counts = build(data, args.per_class)
            print(f"built {data}: {json.dumps(counts)}")
        for index, (name, _, flags) in enumerate(candidates):
            r = run(data, Path(tmp) / f"run{index}", args.minutes, shlex.split(flags))
            print("\n".join(f"  | {line}" for line in r["lines"]))
            print(
                f"{name}: held-out top-1 {100 * r['top1']:.2f} %; {r['epochs']} epochs in {r['seconds']:.0f} s; "
                f"load {r['load'][0]:.2f} -> "
                f"{r['load'][1]:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""Small photos in segmentation: the default crop fitted to them against the fixed 256x320 crop,
under the same time budget, in one run.

    python benchmarks/segment_small_photos.py                 # CamVid at a third of its size, 3 minutes each
    python benchmarks/segment_small_photos.py --factor 4 --minutes 5

Many segmentation sets have photos far smaller than CamVid's 360x480 (TGS Salt's 101x101, cell
and lesion sets of 128-256 px). This builds such a set from real photos: CamVid's train and val
pairs shrunk by ``--factor`` (photos bilinear, masks nearest, so the classes stay whole values),
written into a temporary folder (never into the repository). Then it runs the real command line
twice, one after the other on the same cores: ``lucid train --task segment --crop-size 256x320``
(the crop before it was fitted) and ``lucid train --task segment`` (the default, fitted to the
photos), each with ``--time-budget MINUTES``, and prints each run's crop, epochs (as first fitted
to the budget, then as run), seconds, and best val mIoU (the run's own score of its best epoch),
with the machine load (``uptime``) before and after.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "camvid"


def shrink(source: Path, target: Path, factor: float) -> tuple[int, int]:
    """``source``'s ``{train,val}/{images,masks}`` shrunk by ``factor`` into ``target`` as PNG
    files; returns the last photo's (width, height)."""
    size = (0, 0)
    for split in ("train", "val"):
        for kind, resample in (("images", Image.Resampling.BILINEAR), ("masks", Image.Resampling.NEAREST)):
            out = target / split / kind
            out.mkdir(parents=True, exist_ok=True)
            for file in sorted((source / split / kind).iterdir()):
                with Image.open(file) as image:
                    size = (round(image.width / factor), round(image.height / factor))
                    image.resize(size, resample).save(out / f"{file.stem}.png")
    return size


def run(data: Path, out: Path, minutes: float, extra: list[str]) -> tuple[str, str, float, float]:
    """One ``lucid train`` run; its crop (from the training line), epochs (fitted -> run), seconds
    (the run's own clock) and best val mIoU."""
    command = [sys.executable, "-m", "lucid", "train", "--task", "segment", "--data", str(data)]
    command += ["--ignore-index", "11", "--time-budget", f"{minutes:g}", "--out", str(out), "--no-progress", *extra]
    print("$ lucid " + " ".join(command[3:]), flush=True)
    said = subprocess.run(command, check=True, text=True, stdout=subprocess.PIPE).stdout
    line = next(x for x in said.splitlines() if x.startswith("training:"))
    crop = next(part.strip() for part in line.split(",") if part.strip().startswith("crops "))
    summary = json.loads((out / "summary.json").read_text())
    epochs = len((out / "metrics.jsonl").read_text().splitlines())
    fitted = summary["time_budget"]["epochs_fitted"]
    return crop, f"{fitted} -> {epochs}", float(summary["seconds"]), float(summary["best_val_miou"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"CamVid root (default {DEFAULT_DATA})")
    parser.add_argument("--factor", type=float, default=3.0, help="shrink the photos by this factor (default 3)")
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget of each run (default 3)")
    args = parser.parse_args(argv)
    print("load before:", subprocess.run(["uptime"], text=True, stdout=subprocess.PIPE).stdout.strip())
    with tempfile.TemporaryDirectory(prefix="lucid-small-photos-") as work:
        data = Path(work) / "data"
        width, height = shrink(args.data, data, args.factor)
        print(f"photos shrunk by {args.factor:g}: {width}x{height} (width x height)", flush=True)
        rows = [
            ("fixed 256x320 crop", run(data, Path(work) / "fixed", args.minutes, ["--crop-size", "256x320"])),
            ("default (fitted)", run(data, Path(work) / "fitted", args.minutes, [])),
        ]
    print("load after:", subprocess.run(["uptime"], text=True, stdout=subprocess.PIPE).stdout.strip())
    print(f"\n| run, {args.minutes:g}-minute budget | crop | epochs (fitted -> run) | seconds | best val mIoU |")
    print("|---|---|---:|---:|---:|")
    for name, (crop, epochs, seconds, miou) in rows:
        print(f"| {name} | {crop} | {epochs} | {seconds:.0f} | {100 * miou:.2f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

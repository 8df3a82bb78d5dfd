"""The batch of a very small training set: the default (shrunk to ~10 steps an epoch) against larger ones.

A set whose default batch of 64 would leave an epoch with fewer than 10 steps trains in batches
of ``images // 10`` (at least 2). A batch of 2 or 3 gives BatchNorm few images to normalise by,
so a floor of 4 or 8 was a candidate. This measures it on real photos: sets of 5, 10 and 15
photos a class drawn from the small-photo proxy (32 px street windows of CamVid,
`small_photos_proxy.py`), four classes (sky, road, tree, car), two draws of each size and two
seeds each, trained with the default command (``lucid train --data SET``: 10 epochs, the
one-folder 80/20 split), once with the default batch and once with each ``--batch-size`` of
``--batches`` (a given batch the set holds is kept; the learning rate scales with the batch as
it does for the shrunk default). Every checkpoint is scored by ``lucid eval --tta none`` on the
same 250 test windows a class (1,000 photos, from CamVid's validation scenes): a held-out set
large enough to tell the batches apart, where the runs' own 4-12 validation photos are not.

    python benchmarks/small_set_batch.py [--proxy DIR] [--per-class 5 10 15] [--batches 4 8]

``--proxy`` reuses a proxy built by ``small_photos_proxy.py --keep DIR`` (else it is built in a
temporary folder first, about a minute). The machine load is printed before and after: measure
on idle cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from small_photos_proxy import build

CLASSES = ("sky", "road", "tree", "car")
TEST_PER_CLASS = 250


def draw(proxy: Path, target: Path, per_class: int, rng: random.Random, split: str = "train") -> Path:
    """Copy ``per_class`` photos of each of `CLASSES` from ``proxy/split`` into ``target/<class>/``."""
    for name in CLASSES:
        photos = sorted((proxy / split / name).iterdir())
        (target / name).mkdir(parents=True)
        for photo in rng.sample(photos, per_class):
            shutil.copy(photo, target / name / photo.name)
    return target


def _lucid(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "lucid", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"lucid {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def held_out(run: Path, test: Path) -> dict[str, float]:
    """Top-1 of the run's best and last checkpoints on ``test``, in one pass."""
    scores = {}
    for name in ("best", "last"):
        out = _lucid("eval", str(run / f"{name}.safetensors"), "--data", str(test), "--tta", "none", "--json")
        scores[name] = 100 * json.loads(out)["top1"]
    return scores


def train(data: Path, out: Path, seed: int, batch: int | None) -> int:
    """Train with the default command (plus ``--batch-size``); the batch the run used."""
    flags = [] if batch is None else ["--batch-size", str(batch)]
    _lucid("train", "--data", str(data), "--seed", str(seed), "--out", str(out), "--no-progress", *flags)
    return int(json.loads((out / "summary.json").read_text())["batch_size"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proxy", type=Path, default=None, help="a proxy built by small_photos_proxy.py --keep")
    parser.add_argument("--per-class", type=int, nargs="+", default=[5, 10, 15], help="photos a class")
    parser.add_argument("--batches", type=int, nargs="+", default=[4, 8], help="--batch-size values beside the default")
    parser.add_argument("--draws", type=int, default=2, help="sets drawn of each size (default 2)")
    parser.add_argument("--seeds", type=int, default=2, help="training seeds of each set (default 2)")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="small-set-batch-") as scratch:
        root = Path(scratch)
        proxy = args.proxy
        if proxy is None:
            proxy = root / "proxy"
            build(proxy, per_class=7000)
        test = draw(proxy, root / "test", TEST_PER_CLASS, random.Random(7), split="test")
        for per_class in args.per_class:
            results: dict[str, list[dict[str, float]]] = {}
            for n in range(args.draws):
                data = draw(proxy, root / f"set{per_class}_{n}", per_class, random.Random(1000 * per_class + n))
                for seed in range(args.seeds):
                    for batch in [None, *args.batches]:
                        run = root / f"run{per_class}_{n}_{seed}_{batch}"
                        used = train(data, run, seed, batch)
                        label = f"batch {used}" + (" (the default)" if batch is None else "")
                        scores = held_out(run, test)
                        results.setdefault(label, []).append(scores)
                        print(
                            f"{per_class} a class, draw {n}, seed {seed}, {label}: best {scores['best']:.1f} %, "
                            f"last {scores['last']:.1f} %",
                            flush=True,
                        )
            print(
                f"\n{per_class} photos a class ({4 * per_class} photos, 80 % train), held-out top-1 on "
                f"{len(CLASSES) * TEST_PER_CLASS} photos, mean over {args.draws * args.seeds} runs:"
            )
            for label, rows in results.items():
                best = statistics.mean(r["best"] for r in rows)
                last = statistics.mean(r["last"] for r in rows)
                print(f"  {label:<24} best {best:5.1f} %   last {last:5.1f} %", flush=True)
            print()
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

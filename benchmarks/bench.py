"""Run lucid's deployment benchmark and write docs/benchmarks.md.

    python benchmarks/bench.py                      # both models, batch 1 and 32, 20 rounds
    python benchmarks/bench.py --repeats 40 --threads 2

A thin wrapper over :func:`lucid.deploy.bench` (the same as ``lucid bench --out docs/benchmarks.md``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilenet_v3_small", "mobilenet_v3_large"])
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 32])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="default: every usable core")
    parser.add_argument("--train-batch", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=10)
    parser.add_argument("--time-budget", type=float, default=15.0)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)

    from lucid.deploy import bench

    result = bench(
        args.models, args.batch, args.repeats, args.threads, train_batch=args.train_batch,
        train_steps=args.train_steps, time_budget=args.time_budget, memory=not args.no_memory, out=args.out,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    for text, measured, met in result.targets():
        print(f"{'met' if met else 'MISSED' if met is False else 'n/a':>6}  {text}: {measured}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

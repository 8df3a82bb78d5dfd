"""Test-time flip on finished checkpoints: each scored in one pass and with the flip, same data, same run.

    python benchmarks/tta_gain.py runs/camvid/best.safetensors runs/camvid/last.safetensors
    python benchmarks/tta_gain.py runs/bccd/best.safetensors --data ../shared/data/bccd
    python benchmarks/tta_gain.py runs/photos/best.safetensors --data photos/   # classification: --data needed

Every task's evaluation through its public function (`lucid.train.evaluate`,
`lucid.segment.evaluate_segmentation`, `lucid.detect.evaluate_detection`) with ``tta="none"``
and then ``tta="flip"``: the score each gives (top-1; mIoU; mAP@[.5:.95] and mAP@0.5), the
difference in points, and the seconds each evaluation took (the flip runs the network twice).
``--data`` defaults to the data each checkpoint records. The machine load (``os.getloadavg``)
is printed before and after: measure on idle cores.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

import torch

from lucid.tasks import task_of_source


def _scorer(task: str) -> tuple[Callable[..., Any], tuple[tuple[str, str], ...]]:
    """The task's evaluation function and the (attribute, label) pairs of its scores."""
    if task == "segment":
        from lucid.segment import evaluate_segmentation

        return evaluate_segmentation, (("miou", "mIoU"), ("pixel_acc", "pixel acc"))
    if task == "detect":
        from lucid.detect import evaluate_detection

        return evaluate_detection, (("map", "mAP@[.5:.95]"), ("map50", "mAP@0.5"))
    from lucid.train import evaluate

    return evaluate, (("top1", "top-1"), ("top5", "top-5"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="lucid checkpoints of any task")
    parser.add_argument("--data", default=None, help="data folder (default: what each checkpoint records)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average before: {os.getloadavg()}; cores: {os.cpu_count()}; torch threads: {args.threads}")
    print("| checkpoint | task | score | one pass | test-time flip | gain (points) | seconds, one pass / flip |")
    print("|---|---|---|---:|---:|---:|---:|")
    for checkpoint in args.checkpoints:
        task = task_of_source(checkpoint)
        if task is None:
            raise SystemExit(f"{checkpoint}: not a lucid checkpoint")
        evaluate, scores = _scorer(task)
        one, flip = (evaluate(checkpoint, args.data, tta=tta) for tta in ("none", "flip"))
        for attribute, label in scores:
            a, b = getattr(one, attribute), getattr(flip, attribute)
            if a is None or b is None:
                continue
            print(
                f"| {checkpoint} | {task} | {label} | {100 * a:.2f} % | {100 * b:.2f} % | {100 * (b - a):+.2f} | "
                f"{one.seconds:.1f} / {flip.seconds:.1f} |"
            )
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

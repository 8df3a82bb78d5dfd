"""What a detection epoch's validation costs, part by part, the old way and lucid's way.

Validation scores every epoch, so its time is taken from training in a ``--time-budget`` run. Per
batch it needs the SSD loss and the boxes of the same photos, then COCO mAP over all of them:

* the network: two passes (``SSDLite.validation_loss``, then eval mode's ``model(images)``, as
  lucid did before) against one (``SSDLite.raw_pass`` + ``SSDLite.detections``, as lucid does);
* the evaluator: pycocotools' ``COCOeval`` (the reference) against faster-coco-eval's, which
  `lucid.detect.coco_metrics` uses.

Each part runs ``--rounds`` times on the validation photos of a trained checkpoint, as the engine
runs them (channels-last, eval mode, batch 16); the best time of each is printed, and the two ways
are checked to give the same loss, boxes and precision table. The load is printed before and after.

    python benchmarks/detect_validation.py runs/X/best.safetensors [--data DIR] [--rounds 3]

A checkpoint of ``python benchmarks/detect_bccd.py`` (or ``lucid train --task detect --data
../shared/data/bccd``) scores BCCD's 87 validation photos.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lucid.detect import coco_dataset, coco_metrics, detection_collate, detection_datasets, scale_detections
from lucid.detect.infer import load_detector


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _best(rounds: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """The best of ``rounds`` timings of ``work`` and its last result."""
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def _pycocotools_precision(predictions: list[dict], truths: list[dict], classes: list[str]) -> np.ndarray:
    """pycocotools' precision table (IoU, recall, class; all areas, 100 detections) of the same
    COCO annotations `lucid.detect.coco_metrics` scores (`lucid.detect.coco_dataset`)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def coco(items: list[dict], scored: bool) -> COCO:
        made = COCO()
        made.dataset = coco_dataset(items, classes, predictions=scored)
        made.createIndex()
        return made

    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(coco(truths, False), coco(predictions, True), iouType="bbox")
        evaluator.params.imgIds = list(range(len(truths)))
        evaluator.params.catIds = list(range(1, len(classes) + 1))
        evaluator.evaluate()
        evaluator.accumulate()
    return evaluator.eval["precision"][:, :, :, 0, -1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", type=Path, help="default: the folder and split the checkpoint was trained on")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    print(f"load before: {_load()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    model = load_detector(args.checkpoint).to(memory_format=torch.channels_last)
    recorded = (model.checkpoint_extra or {}).get("data") or {}
    root = args.data or Path(recorded["root"])
    classes = list(model.checkpoint_extra["classes"])
    split = recorded if args.data is None else None
    _, val, _ = detection_datasets(root, image_size=model.image_size, classes=classes, split=split)
    batches = []
    for images, targets in torch.utils.data.DataLoader(val, batch_size=args.batch_size, collate_fn=detection_collate):
        pixels = images.float().div(255).contiguous(memory_format=torch.channels_last)
        moved = [{**t, "boxes": t["boxes"].as_subclass(torch.Tensor)} for t in targets]
        batches.append((pixels, moved))
    print(f"{root}: {len(val)} validation photos, batch {args.batch_size}")

    @torch.no_grad()
    def two_passes() -> tuple[float, list[dict]]:
        loss, found = 0.0, []
        for images, targets in batches:
            loss += float(sum(model.validation_loss(images, targets).values())) * len(targets)
            found += model(images)
        return loss / len(val), found

    @torch.no_grad()
    def one_pass() -> tuple[float, list[dict]]:
        loss, found = 0.0, []
        for images, targets in batches:
            raw = model.raw_pass(images, targets)
            loss += float(sum(raw.losses.values())) * len(targets)
            found += model.detections(raw)
        return loss / len(val), found

    two_seconds, (two_loss, two_found) = _best(args.rounds, two_passes)
    one_seconds, (one_loss, one_found) = _best(args.rounds, one_pass)
    same = one_loss == two_loss and all(
        torch.equal(a[key], b[key]) for a, b in zip(one_found, two_found, strict=True) for key in a
    )
    size = (model.image_size, model.image_size)
    predictions = [
        scale_detections(found, size, targets["orig_size"])
        for found, targets in zip(one_found, (t for _, ts in batches for t in ts), strict=True)
    ]
    truths = [val.ground_truth(i) for i in range(len(val))]
    reference_seconds, reference = _best(args.rounds, lambda: _pycocotools_precision(predictions, truths, classes))
    lucid_seconds, scores = _best(args.rounds, lambda: coco_metrics(predictions, truths, classes))
    reference_map = float(reference[reference > -1].mean())
    print(f"  network, two passes (loss, then boxes)  {two_seconds:6.2f} s  loss {two_loss:.5f}")
    print(f"  network, one pass for both              {one_seconds:6.2f} s  loss {one_loss:.5f}")
    print(f"    the same loss and boxes: {same}")
    print(f"  COCOeval, pycocotools                   {reference_seconds:6.2f} s  mAP {100 * reference_map:.3f} %")
    print(f"  COCOeval, faster-coco-eval (lucid)      {lucid_seconds:6.2f} s  mAP {100 * scores['map']:.3f} %")
    print(f"  validation before: {two_seconds + reference_seconds:.2f} s; now: {one_seconds + lucid_seconds:.2f} s")
    print(f"load after: {_load()}")


if __name__ == "__main__":
    main()

"""Detection's SSD augmentation per photo: the steps in a row (torchvision's v2 transforms, the
recipe before `ZoomCropResize`) against lucid's `train_transform`, in one process, one thread.

    python benchmarks/detect_augment.py [--items 40] [--sizes 640x480 1920x1080 2000x1500]
        [--jpeg-from IMAGE]

Each size gets a synthetic photo (smooth colour, 15 boxes), and each pipeline augments it
``--items`` times from the same seed; the table gives the milliseconds per item of each step
and of the whole. ``--jpeg-from IMAGE`` also writes that image as 1920x1080 and 4000x3000 JPEGs
(quality 90) in a YOLO folder and times `DetectionDataset` items read from disk and decoded
once (large JPEGs decode at reduced size, docs/detection.md, *Large photos*). The machine load
(``os.getloadavg``) is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from lucid.detect import SSD_FILL, IoUCrop, detection_datasets, train_transform
from lucid.detect.transforms import IOU_CROP_MIN_SCALE


def in_a_row(size: int) -> Any:
    """The recipe before `ZoomCropResize`: zoom-out, IoU crop, flip and resize as four v2 steps."""
    return v2.Compose(
        [
            v2.RandomZoomOut(fill={tv_tensors.Image: list(SSD_FILL), "others": 0}),
            IoUCrop(min_scale=IOU_CROP_MIN_SCALE),
            v2.RandomHorizontalFlip(0.5),
            v2.Resize((size, size), antialias=True),
            v2.RandomPhotometricDistort(),
            v2.SanitizeBoundingBoxes(),
        ]
    )


def photo(height: int, width: int, boxes: int = 15) -> tuple[Any, dict[str, Any]]:
    """A smooth synthetic photo (noise at a tenth of the size, resized up) with ``boxes`` boxes."""
    g = torch.Generator().manual_seed(0)
    coarse = (torch.rand(3, max(height // 10, 1), max(width // 10, 1), generator=g) * 255).to(torch.uint8)
    corner = torch.rand(boxes, 2, generator=g) * torch.tensor([width * 0.8, height * 0.8])
    sides = torch.rand(boxes, 2, generator=g) * torch.tensor([width * 0.2, height * 0.2]) + 8
    target = {
        "boxes": tv_tensors.BoundingBoxes(
            torch.cat([corner, corner + sides], 1), format="XYXY", canvas_size=(height, width)
        ),
        "labels": torch.ones(boxes, dtype=torch.int64),
    }
    return tv_tensors.Image(F.resize(coarse, [height, width], antialias=True)), target


def per_step(transform: Any, item: tuple[Any, dict[str, Any]], items: int) -> dict[str, float]:
    """Milliseconds per item of each step of ``transform`` and of the whole, from seed 0."""
    spent: dict[str, float] = {}
    torch.manual_seed(0)
    start = time.perf_counter()
    for _ in range(items):
        current = item
        for step in transform.transforms:
            began = time.perf_counter()
            current = step(*current)
            name = type(step).__name__
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - began
    whole = (time.perf_counter() - start) / items * 1000
    return {**{k: v / items * 1000 for k, v in spent.items()}, "whole item": whole}


def jpeg_items(source: Path, items: int) -> None:
    """`DetectionDataset` items from large JPEGs made from ``source``: read each time, and decoded once."""
    from PIL import Image

    root = Path(tempfile.mkdtemp(prefix="detect-augment-"))
    for width, height in ((1920, 1080), (4000, 3000)):
        folder = root / f"{width}x{height}"
        for split in ("train", "val"):
            (folder / split / "images").mkdir(parents=True)
            (folder / split / "labels").mkdir(parents=True)
            for i in range(4):
                Image.open(source).convert("RGB").resize((width, height)).save(
                    folder / split / "images" / f"{i}.jpg", quality=90
                )
                (folder / split / "labels" / f"{i}.txt").write_text("0 0.3 0.4 0.1 0.2\n0 0.7 0.6 0.2 0.1\n")
        (folder / "classes.txt").write_text("object\n")
        train, _, _ = detection_datasets(folder)
        train[0]  # warm-up
        for how in ("read from disk each time", "decoded once"):
            if how == "decoded once":
                train.keep_decoded(range(len(train)), progress=False, workers=0)
            torch.manual_seed(0)
            start = time.perf_counter()
            for k in range(items):
                train[k % len(train)]
            print(f"{width}x{height} JPEG, {how}: {(time.perf_counter() - start) / items * 1000:.1f} ms an item")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1920x1080", "2000x1500"])
    parser.add_argument("--input-size", type=int, default=320)
    parser.add_argument("--jpeg-from", type=Path, default=None, help="an image to make the large JPEGs from")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average before: {os.getloadavg()}; one thread")
    for text in args.sizes:
        width, height = (int(n) for n in text.split("x"))
        item = photo(height, width)
        for name, transform in (("in a row", in_a_row(args.input_size)), ("lucid", train_transform(args.input_size))):
            steps = per_step(transform, item, args.items)
            shown = ", ".join(f"{k} {v:.2f}" for k, v in steps.items())
            print(f"{text} {name:8s} ms an item: {shown}")
    if args.jpeg_from is not None:
        jpeg_items(args.jpeg_from, args.items)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

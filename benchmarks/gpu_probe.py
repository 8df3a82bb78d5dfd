"""A short look at where a GPU training step's time goes, before the throughput benchmark.

Prints, each as one JSON line as soon as it is measured (so a time limit still leaves the
earlier ones): the model-only training step at 224 px and 32 px with the fastest kernels and
with deterministic kernels, the GPU batch augmentation of a set kept on the device, and
detection's batch SSD augmentation of photos kept there. A
model-only step far slower with deterministic kernels names them as the cause of a slow
``lucid train`` on a GPU (docs/training.md, *On a GPU*).

    python benchmarks/gpu_probe.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from train_throughput import model_only

from lucid.data import BatchAugment, choose_recipe
from lucid.train import TrainConfig


def augment_speed(size: int, small: bool, batch: int, device: torch.device, steps: int) -> float:
    """Images/s of `BatchAugment` on a uint8 batch kept on ``device`` (the cached GPU path)."""
    recipe = choose_recipe(size, small)
    store = recipe.store_size
    images = torch.randint(0, 256, (batch, 3, store, store), dtype=torch.uint8, device=device)
    augment = BatchAugment(recipe, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    augment(images)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        augment(images)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def detect_augment_speed(batch: int, device: torch.device, steps: int) -> float:
    """Photos/s of detection's `BatchSSDAugment` on 640x480 photos (BCCD's size, 12 boxes each)
    kept on ``device``: the draws and boxes on the CPU, the pixels on the device."""
    from lucid.detect.batched import BatchSSDAugment

    g = torch.Generator().manual_seed(0)
    photos = [torch.randint(0, 256, (3, 480, 640), dtype=torch.uint8, generator=g).to(device) for _ in range(batch)]
    corners = [torch.rand(12, 2, generator=g) * torch.tensor([560.0, 400.0]) for _ in range(batch)]
    boxes = [torch.cat([c, c + 20 + 60 * torch.rand(12, 2, generator=g)], dim=1) for c in corners]
    labels = [torch.ones(12, dtype=torch.int64) for _ in range(batch)]
    augment = BatchSSDAugment(320)
    augment(photos, boxes, labels)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        augment(photos, boxes, labels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=10, help="timed steps of each measurement")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        print(json.dumps({"gpu": torch.cuda.get_device_name(device), "torch": torch.__version__}), flush=True)
    speed = detect_augment_speed(64, device, args.steps)
    print(
        json.dumps({"case": "detection batch augment 640x480 -> 320 px", "batch": 64, "img_s": round(speed, 1)}),
        flush=True,
    )
    for size, small, model, batch in (
        (32, True, "mobilenet_v3_small_lowres", 256),
        (224, False, "mobilenet_v3_small", 128),
    ):
        speed = augment_speed(size, small, batch, device, args.steps)
        print(json.dumps({"case": f"augment {size} px", "batch": batch, "img_s": round(speed, 1)}), flush=True)
        for deterministic in (False, True):
            config = TrainConfig(
                model=model, img_size=size, batch_size=batch, device=args.device, deterministic=deterministic
            )
            start = time.perf_counter()
            speed = model_only(config, 10, (3, size, size), batch, device, args.steps)
            row = {"case": f"model-only {size} px", "model": model, "batch": batch, "deterministic": deterministic}
            print(
                json.dumps({**row, "img_s": round(speed, 1), "seconds": round(time.perf_counter() - start, 1)}),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

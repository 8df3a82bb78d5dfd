"""Training throughput: ``lucid train``'s real steps against the model-only step, in one run.

For each case this times (1) the model-only step: the same model, batch, precision, channels-last
layout, optimizer and loss fed one ready-made batch already on the device (no data work at all),
and (2) ``lucid.train.train`` on the real data with the same settings (its recorded training
images/s of the last epoch, the first being warm-up). The ratio train/model is the share of the
model's speed the data path keeps (target >= 0.8 for sets decoded into memory).

Cases: classification at 224 px and at 32 px (sign-language digits; ``cls32`` with
``mobilenet_v3_small``, ``cls32lowres`` with the low-resolution variant that ``lucid train``
picks for photos under 64 px), segmentation at the CamVid
crop (256x320), ``det``: detection on the BCCD blood-cell photos (``ssdlite320_mobilenet_v3_large``
from scratch at 320 px, decoded once when they fit, with the SSD augmentation per photo; its model-only step trains
on one augmented batch of those photos and boxes, loss included), and ``stream224``,
``segstream`` and ``detstream``: classification at 224 px, segmentation and detection with
``memory_budget=0``, so the photos are decoded every epoch instead of kept in memory. The device is ``--device``
(default auto: the GPU when there is one). On a GPU the batches are larger (128 at 224 px, 256
at 32 px, 16 for CamVid) so that the step is not launch-bound; the engine shrinks a batch that
leaves fewer than 10 steps an epoch. The machine load (``os.getloadavg``) is printed before and
after.

    python benchmarks/train_throughput.py [--device auto]
        [--cases cls224 cls32 cls32lowres seg det stream224 segstream detstream]
        [--limit 512] [--data-root ../shared/data] [--workers N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from lucid.detect import DetectConfig, DetectTask, detection_collate
from lucid.models import create_model, use_reachable_taps
from lucid.segment import SegmentConfig
from lucid.train import TrainConfig, train
from lucid.train.distributed import auto_device
from lucid.train.engine import autocast, kernels, resolve_deterministic, resolve_precision
from lucid.train.optim import build_optimizer

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _step_speed(model: torch.nn.Module, config, device: torch.device, loss_of, batch: int, steps: int) -> float:
    """Images/s of ``steps`` training steps of ``model`` (on ``device``, with the convolutions,
    layout and kernel choice ``lucid train`` uses, the config's optimizer and precision) after
    three warm-up steps; ``loss_of(model)`` is one batch's loss."""
    with kernels(resolve_deterministic(config, device), device):
        return _timed_steps(model, config, device, loss_of, batch, steps)


def _timed_steps(model: torch.nn.Module, config, device: torch.device, loss_of, batch: int, steps: int) -> float:
    """`_step_speed`'s measurement, inside the run's kernel choice."""
    model = model.to(device).train()
    use_reachable_taps(model)
    model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, config.opt, config.learning_rate, config.decay, config.momentum)
    precision = resolve_precision(config, device)

    def step() -> None:
        with autocast(device, precision):
            loss = loss_of(model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def detection_model_only(config: DetectConfig, batch: int, device: torch.device, steps: int) -> float:
    """Images/s of the detector's training step alone: the task's model (default boxes fitted as
    ``lucid train`` fits them) on one augmented batch of the real photos and boxes, already on
    ``device``, its SSD loss included."""
    task = DetectTask(config)
    data = task.build_data(0, 1)
    model = task.build_model(data)
    images, targets = task.to_device(detection_collate([data.train[i] for i in range(batch)]), device, True)
    return _step_speed(model, config, device, lambda net: task.train_step(net, images, targets)[0], batch, steps)


def model_only(
    config, num_classes: int, shape: tuple[int, int, int], batch: int, device: torch.device, steps: int
) -> float:
    """Images/s of the training step alone on a batch already on ``device``."""
    if isinstance(config, DetectConfig):
        return detection_model_only(config, batch, device, steps)
    images = torch.randn(batch, *shape, device=device).contiguous(memory_format=torch.channels_last)
    if isinstance(config, SegmentConfig):
        targets = torch.randint(0, num_classes, (batch, *shape[1:]), device=device)
    else:
        targets = torch.randint(0, num_classes, (batch,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    model = create_model(config.model, num_classes=num_classes)
    return _step_speed(model, config, device, lambda net: loss_fn(net(images).float(), targets), batch, steps)


class _Tee(io.StringIO):
    """Keeps what is printed and passes it on, so a long case shows its progress."""

    def __init__(self, out: Any) -> None:
        super().__init__()
        self.out = out

    def write(self, text: str) -> int:
        self.out.write(text)
        self.out.flush()
        return super().write(text)


def lucid_run(config) -> tuple[float, int, str]:
    """Training images/s of ``lucid.train.train`` (its last epoch), the batch it used, and its data
    path (the end of its "training:" line)."""
    printed = _Tee(sys.stdout)
    with contextlib.redirect_stdout(printed):
        result = train(config)
    line = next((x for x in printed.getvalue().splitlines() if x.startswith("training:")), "")
    return (
        result.history[-1]["train_images_per_second"],
        result.summary["batch_size"],
        line.rpartition(";")[2].strip(),
    )


def cases(limit: int, device: str, root: Path, epochs: int, workers: int | None = None) -> dict[str, tuple]:
    """Each case's config, class count and input shape; larger batches on a GPU. ``workers`` None
    keeps ``lucid train``'s default loader workers."""
    gpu = torch.device(device).type == "cuda"
    common = dict(
        epochs=epochs, progress=False, device=device, limit_train=limit, limit_val=64, time_budget=None, workers=workers
    )
    signs = str(root / "sign-language-digits" / "images")
    big, small, seg, det = (128, 256, 16, 32) if gpu else (64, 128, 8, 16)
    return {
        "cls224": (TrainConfig(data=signs, img_size=224, batch_size=big, **common), 10, (3, 224, 224)),
        "cls32": (
            TrainConfig(data=signs, img_size=32, model="mobilenet_v3_small", batch_size=small, **common),
            10,
            (3, 32, 32),
        ),
        "cls32lowres": (  # what `lucid train` picks for photos under 64 px: stride-16 variant, 2x2 final map
            TrainConfig(data=signs, img_size=32, model="mobilenet_v3_small_lowres", batch_size=small, **common),
            10,
            (3, 32, 32),
        ),
        "seg": (
            SegmentConfig(data=str(root / "camvid"), ignore_index=11, batch_size=seg, crop_size=(256, 320), **common),
            11,
            (3, 256, 320),
        ),
        "det": (DetectConfig(data=str(root / "bccd"), batch_size=det, **common), 3, (3, 320, 320)),
        "detstream": (  # the same with every photo decoded again each epoch
            DetectConfig(data=str(root / "bccd"), batch_size=det, memory_budget=0.0, **common),
            3,
            (3, 320, 320),
        ),
        "segstream": (  # the same with every pair decoded and augmented by v2, one at a time
            SegmentConfig(
                data=str(root / "camvid"),
                ignore_index=11,
                batch_size=seg,
                crop_size=(256, 320),
                memory_budget=0.0,
                **common,
            ),
            11,
            (3, 256, 320),
        ),
        "stream32": (  # the small-photo recipe streamed: per-image work, where a fixed cost per item shows most
            TrainConfig(
                data=signs,
                img_size=32,
                model="mobilenet_v3_small_lowres",
                batch_size=small,
                memory_budget=0.0,
                **common,
            ),
            10,
            (3, 32, 32),
        ),
        "stream224": (
            TrainConfig(data=signs, img_size=224, batch_size=big, memory_budget=0.0, **common),
            10,
            (3, 224, 224),
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cases", nargs="+", default=["cls224", "cls32", "cls32lowres", "seg"])
    parser.add_argument("--limit", type=int, default=512, help="training images per case (--limit-train)")
    parser.add_argument("--steps", type=int, default=20, help="timed model-only steps")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each lucid run (the last is timed)")
    parser.add_argument("--data-root", type=Path, default=SHARED, help="folder holding the real sets")
    parser.add_argument("--workers", type=int, default=None, help="loader workers for streamed sets (default: lucid's)")
    args = parser.parse_args()
    device_name = auto_device() if args.device == "auto" else args.device
    device = torch.device(device_name)
    print(f"load average before: {os.getloadavg()}; cores {os.cpu_count()}; torch threads {torch.get_num_threads()}")
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}")
    rows = []
    for name in args.cases:
        config, classes, shape = cases(args.limit, device_name, args.data_root, args.epochs, args.workers)[name]
        with tempfile.TemporaryDirectory(prefix="lucid-throughput-") as tmp:
            config = config.replace(out=str(Path(tmp) / "run"))
            real, batch, path = lucid_run(config)
        ready = model_only(config, classes, shape, batch, device, args.steps)
        rows.append(
            {
                "case": name,
                "data_path": path,
                "batch": batch,
                "model_img_s": round(ready, 1),
                "train_img_s": round(real, 1),
                "ratio": round(real / ready, 3),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(f"load average after: {os.getloadavg()}")
    print(f"{'case':<10} {'batch':>5} {'model img/s':>12} {'lucid train img/s':>18} {'ratio':>6}  data path")
    for row in rows:
        print(
            f"{row['case']:<10} {row['batch']:>5} {row['model_img_s']:>12} {row['train_img_s']:>18} "
            f"{row['ratio']:>6}  {row['data_path']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

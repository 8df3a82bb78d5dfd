"""Training throughput on folder data vs the model's own training step on ready-made tensors.

For each image size (default 32 and 100 px) this builds the data exactly as ``lucid train --data``
does (:func:`lucid.train.data.folder_datasets`: one walk, decoded once into uint8 memory when it
fits the budget, whole-batch augmentation in the main process) and times training steps fed by
the same DataLoader + DistributedSampler the engine uses. The reference is the same model, batch,
size, channels-last layout, optimizer and loss fed with one ready-made tensor batch (no data
work at all). The ratio folder/ready is the share of the model's speed the data path keeps
(target >= 0.8). Blocks of both alternate, and the medians are reported, so a busy machine
slows both alike; the machine load (``uptime``) is printed before and after. The data path is
also timed alone (ms per batch, no model), and ``ready/(ready+data)`` is the ratio those two
times imply, which load bursts from other jobs disturb less than the measured ratio.

    python benchmarks/train_folder_speed.py [--data DIR] [--sizes 32 100] [--batch 64] [--steps 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from lucid.models import create_model
from lucid.train.data import folder_datasets
from lucid.train.optim import build_optimizer

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sign-language-digits" / "images"


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime unavailable"


def _step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    images: torch.Tensor,
    targets: torch.Tensor,
) -> None:
    images = images.contiguous(memory_format=torch.channels_last)
    loss = criterion(model(images), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _time_ready(model, optimizer, criterion, batch, targets, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        _step(model, optimizer, criterion, batch, targets)
    return steps * batch.shape[0] / (time.perf_counter() - start)


def _time_folder(model, optimizer, criterion, batches, steps: int) -> float:
    seen, start = 0, time.perf_counter()
    for _ in range(steps):
        images, targets = next(batches)
        _step(model, optimizer, criterion, images, targets)
        seen += targets.shape[0]
    return seen / (time.perf_counter() - start)


def _endless(loader: DataLoader, sampler: DistributedSampler):
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def measure(data: Path, size: int, batch: int, steps: int, rounds: int, model_name: str) -> dict[str, float]:
    """Images/s of training steps fed by the folder path and by one ready-made batch."""
    start = time.perf_counter()
    train_ds, _, info = folder_datasets(data, size, 3, progress=False)
    prepared = time.perf_counter() - start
    sampler = DistributedSampler(train_ds, num_replicas=1, rank=0, shuffle=True, seed=0)
    loader = DataLoader(train_ds, batch_size=batch, sampler=sampler, drop_last=True)
    batches = _endless(loader, sampler)
    model = create_model(model_name, num_classes=len(info.classes)).to(memory_format=torch.channels_last).train()
    optimizer = build_optimizer(model, "sgd", 0.01, 5e-5)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    ready, ready_targets = next(batches)
    ready = ready.clone()
    for _ in range(3):  # warm-up
        _step(model, optimizer, criterion, ready, ready_targets)
    folder_rates, ready_rates = [], []
    for _ in range(rounds):
        folder_rates.append(_time_folder(model, optimizer, criterion, batches, steps))
        ready_rates.append(_time_ready(model, optimizer, criterion, ready, ready_targets, steps))
    folder, reference = statistics.median(folder_rates), statistics.median(ready_rates)
    data_ms = _data_only(batches, steps) * 1000
    step_ms = 1000 * batch / reference
    return {
        "size": size,
        "folder": folder,
        "ready": reference,
        "ratio": folder / reference,
        "data_ms": data_ms,
        "bound": step_ms / (step_ms + data_ms),
        "prepare_s": prepared,
        "images": len(train_ds),
        "note": info.notes[-1],
    }


def _data_only(batches, steps: int) -> float:
    """Seconds per batch of the data path alone (no model): less sensitive to other jobs' load."""
    start = time.perf_counter()
    for _ in range(steps):
        next(batches)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA.resolve())
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 100])
    parser.add_argument("--batch", type=int, default=64, help="batch size (lucid train's default 64)")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    parser.add_argument("--rounds", type=int, default=3, help="alternating blocks of each kind")
    parser.add_argument("--model", default="mobilenet_v3_small")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load before: {_uptime()}")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores, "
        f"{args.model}, batch {args.batch}, channels-last, SGD + label-smoothed cross-entropy"
    )
    print(
        f"{'size':>4}  {'folder img/s':>12}  {'ready img/s':>11}  {'ratio':>5}  {'data ms/batch':>13}  "
        f"{'ready/(ready+data)':>18}  data set-up"
    )
    for size in args.sizes:
        r = measure(args.data, size, args.batch, args.steps, args.rounds, args.model)
        print(
            f"{r['size']:>4}  {r['folder']:>12.0f}  {r['ready']:>11.0f}  {r['ratio']:>5.2f}  {r['data_ms']:>13.1f}  "
            f"{r['bound']:>18.2f}  {r['images']} images prepared in {r['prepare_s']:.1f}s; {r['note']}"
        )
    print(f"load after: {_uptime()}")


if __name__ == "__main__":
    main()

"""Distributed training: `torchrun --nproc-per-node 2 -m lucid train` with gloo on CPU."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from lucid.models import load_model
from lucid.train import TrainConfig
from lucid.train.data import build_datasets
from lucid.train.metrics import topk_correct


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_cpu_processes_train_with_disjoint_shards(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        "-m",
        "lucid",
        "train",
        "--epochs",
        "1",
        "--limit-train",
        "64",
        "--limit-val",
        "31",
        "--img-size",
        "16",
        "--batch-size",
        "8",
        "--record-indices",
        "--no-progress",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Grad strides do not match" not in done.stderr  # the depthwise weights' size-1 dimension
    assert done.stdout.count("epoch   1/1") == 1  # only rank 0 prints
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["status"] == "finished"
    ranks = summary["sampler_indices"]["ranks"]
    assert len(ranks) == 2 and len(ranks[0]) == len(ranks[1]) == 32
    assert set(ranks[0]).isdisjoint(ranks[1]) and set(ranks[0]) | set(ranks[1]) == set(range(64))
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    # Validation is all-reduced over both shards (16 + 15 of 31 images): top-1 is a whole number of
    # 31sts. Rank 0's shard alone would give k/16, which is a whole number of 31sts only at 0 or 1.
    assert 0 < record["val_top1"] < 1
    assert round(record["val_top1"] * 31, 6) == round(record["val_top1"] * 31)
    # And they are the whole split's numbers: the (only epoch's) checkpoint in one process, on the
    # same 31 validation images as training built them, makes the same hits.
    config = TrainConfig(epochs=1, limit_train=64, limit_val=31, img_size=16, batch_size=8)
    _, val_ds, _ = build_datasets(config, in_channels=1)
    assert len(val_ds) == 31
    images, targets = zip(*(val_ds[i] for i in range(len(val_ds))), strict=True)
    with torch.no_grad():
        logits = load_model(out / "best.safetensors").eval()(torch.stack(images))
    top1, top5 = topk_correct(logits, torch.tensor(targets), ks=(1, 5))
    assert (top1, top5) == (round(record["val_top1"] * 31), round(record["val_top5"] * 31))
    model = load_model(out / "best.safetensors")
    assert not any(key.startswith("module.") for key in model.state_dict())
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers == []

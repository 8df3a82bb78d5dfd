"""The training loop behind ``lucid train``: one process or DDP, resumable, deterministic.

Per epoch: train (tqdm bar), validate, then rank 0 appends ``metrics.jsonl``, writes
``last.safetensors`` (and ``best.safetensors`` when validation top-1 improved), the resumable
``train_state.safetensors`` (the commit point: written last, atomically), ``summary.json`` and
``curves.png``. Resuming rewrites ``metrics.jsonl`` from the state's history, so a kill at any
moment leaves a run that resumes to exactly the metrics of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.data.distributed import DistributedSampler

from lucid.checkpoint import atomic_write
from lucid.train import distributed as dist_utils
from lucid.train.config import TrainConfig
from lucid.train.data import DataInfo, build_datasets
from lucid.train.metrics import Tally, append_jsonl, plot_curves, write_json
from lucid.train.optim import build_ema, build_optimizer, build_scheduler
from lucid.train.state import STATE_FILE, load_state, rng_state, save_state, set_rng_state

__all__ = ["TrainResult", "TrainingDiverged", "train", "build_model", "FILES"]

FILES = {
    "summary": "summary.json",
    "metrics": "metrics.jsonl",
    "curves": "curves.png",
    "best": "best.safetensors",
    "last": "last.safetensors",
    "state": STATE_FILE,
}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: training stopped, the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """What :func:`train` produced: the output folder, the best validation top-1 (a fraction)
    and the epoch it came from, per-epoch metrics and the files written."""

    out_dir: Path
    best_val_top1: float
    best_epoch: int
    epochs: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def best_checkpoint(self) -> Path:
        return self.out_dir / FILES["best"]

    @property
    def last_checkpoint(self) -> Path:
        return self.out_dir / FILES["last"]


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------


def _checkpoint_in_channels(weights: str | None) -> int | None:
    """The input channels a lucid checkpoint was trained with (None for other weights)."""
    if weights is None or not Path(weights).expanduser().is_file():
        return None
    from lucid.checkpoint import CheckpointError, read_metadata

    try:
        config = read_metadata(Path(weights).expanduser())["config"] or {}
    except CheckpointError:
        return None  # a torchvision/timm file: the weights loader decides
    return config.get("in_channels")


def resolve_in_channels(config: TrainConfig) -> int:
    """``in_channels`` given, else a lucid checkpoint's, else 1 for digits and 3 for image folders."""
    if config.in_channels is not None:
        return config.in_channels
    found = _checkpoint_in_channels(config.weights)
    if found is not None:
        return int(found)
    return 1 if config.data is None else 3


def build_model(
    name: str, num_classes: int, in_channels: int, *, weights: str | None = None,
    dropout: float | None = None, bn_momentum: float | None = None,
) -> nn.Module:
    """The registered model ``name`` for ``num_classes`` classes; with ``weights`` (a checkpoint
    path or a registered weights name) the factory loads them and replaces the head when the
    class count differs."""
    from lucid.models import get_model_factory

    factory = get_model_factory(name)
    kwargs: dict[str, Any] = {"num_classes": num_classes, "in_channels": in_channels}
    if dropout is not None:
        kwargs["dropout"] = dropout
    if bn_momentum is not None:
        kwargs["bn_momentum"] = bn_momentum
    if weights is None:
        return factory(**kwargs)
    try:
        return factory(weights=weights, **kwargs)
    except ImportError as exc:
        raise ValueError(f"--weights {weights}: this lucid cannot load weights yet ({exc})") from None


# --------------------------------------------------------------------------------------------
# data loading
# --------------------------------------------------------------------------------------------


@dataclass
class _Loaders:
    train: DataLoader
    val: DataLoader
    sampler: DistributedSampler
    generator: torch.Generator


def _loaders(train_ds: Dataset, val_ds: Dataset, config: TrainConfig, ctx: dist_utils.DistContext) -> _Loaders:
    """Shuffled, sharded training batches and a disjoint validation shard per process.

    DistributedSampler drives the shuffling even in one process: its permutation depends only on
    (seed, epoch), which makes epochs reproducible after a resume. ``drop_last`` there keeps the
    ranks' shards disjoint (no padding with repeated samples).
    """
    sampler = DistributedSampler(
        train_ds, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed, drop_last=ctx.distributed
    )
    per_rank = len(sampler)
    if per_rank < 2:
        raise ValueError(
            f"each process needs at least 2 training images per epoch; got {per_rank} (dataset {len(train_ds)}, "
            f"{ctx.world_size} processes)"
        )
    generator = torch.Generator()
    common = {"num_workers": config.workers, "pin_memory": ctx.device.type == "cuda"}
    train = DataLoader(
        train_ds,
        batch_size=config.batch_size,
        sampler=sampler,
        drop_last=per_rank >= config.batch_size,  # a last batch of 1 would break BatchNorm
        generator=generator,
        **common,
    )
    shard = Subset(val_ds, list(range(ctx.rank, len(val_ds), ctx.world_size)))
    val = DataLoader(shard, batch_size=max(2 * config.batch_size, 128), shuffle=False, **common)
    return _Loaders(train, val, sampler, generator)


def _start_epoch(loaders: _Loaders, config: TrainConfig, epoch: int, rank: int) -> None:
    """Per-epoch seeds for the shuffle and for data-loader workers' augmentation RNGs."""
    loaders.sampler.set_epoch(epoch)
    loaders.generator.manual_seed(config.seed * 1_000_003 + epoch * 1_009 + rank)


# --------------------------------------------------------------------------------------------
# one epoch
# --------------------------------------------------------------------------------------------


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _to_device(
    images: torch.Tensor, targets: torch.Tensor, device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    images = images.to(device, non_blocking=True)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, targets.to(device, non_blocking=True)


@dataclass
class _Run:
    """Everything the loop touches, built once."""

    config: TrainConfig
    ctx: dist_utils.DistContext
    model: nn.Module  # the plain model
    net: nn.Module  # what the loop calls: the model or its DDP wrapper
    ema: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    criterion: nn.Module
    loaders: _Loaders
    info: DataInfo
    amp: bool
    out_dir: Path


def _progress(loader: DataLoader, run: _Run, epoch: int) -> Any:
    from tqdm.auto import tqdm

    show = run.config.progress and run.ctx.is_main
    return tqdm(
        loader, desc=f"epoch {epoch}/{run.config.epochs}", unit="batch", leave=False,
        disable=not show, dynamic_ncols=True, file=sys.stderr,
    )


def _train_epoch(run: _Run, epoch: int) -> dict[str, float]:
    run.net.train()
    tally, seen, start = Tally(), 0, time.perf_counter()
    bar = _progress(run.loaders.train, run, epoch)
    for step, (images, targets) in enumerate(bar, 1):
        images, targets = _to_device(images, targets, run.ctx.device, run.config.channels_last)
        with _autocast(run.ctx.device, run.amp):
            logits = run.net(images)
            loss = run.criterion(logits.float(), targets)
        if dist_utils.any_true(not bool(torch.isfinite(loss)), run.ctx):
            bar.close()
            raise TrainingDiverged(f"the loss became {float(loss.detach())} at epoch {epoch}, step {step}")
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.scheduler.step()
        if run.ema is not None:
            run.ema.update_parameters(run.model)
        tally.add(loss, logits, targets)
        seen += targets.shape[0]
        means = tally.means()
        rate = seen * run.ctx.world_size / max(time.perf_counter() - start, 1e-9)
        bar.set_postfix(
            loss=f"{means['loss']:.4f}", acc=f"{100 * means['top1']:.1f}%", img_s=f"{rate:.0f}", refresh=False
        )
    bar.close()
    tally.reduce(run.ctx.device)
    return {**tally.means(), "images": tally.count}


@torch.no_grad()
def _validate(run: _Run, model: nn.Module) -> dict[str, float]:
    model.eval()
    tally = Tally()
    for images, targets in run.loaders.val:
        images, targets = _to_device(images, targets, run.ctx.device, run.config.channels_last)
        with _autocast(run.ctx.device, run.amp):
            logits = model(images).float()
        tally.add(run.criterion(logits, targets), logits, targets)
    tally.reduce(run.ctx.device)
    return tally.means()


def _run_epoch(run: _Run, epoch: int) -> dict[str, Any]:
    start = time.perf_counter()
    lr = run.optimizer.param_groups[0]["lr"]
    train = _train_epoch(run, epoch)
    train_seconds = time.perf_counter() - start
    scored = run.ema.module if run.ema is not None else run.model
    val = _validate(run, scored)
    record = {
        "epoch": epoch,
        "train_loss": train["loss"],
        "train_top1": train["top1"],
        "val_loss": val["loss"],
        "val_top1": val["top1"],
        "val_top5": val["top5"],
        "lr": lr,
        "lr_end": run.optimizer.param_groups[0]["lr"],
    }
    if run.ema is not None:
        raw = _validate(run, run.model)
        record.update(val_top1_raw=raw["top1"], val_loss_raw=raw["loss"])
    record["seconds"] = time.perf_counter() - start
    record["train_images_per_second"] = train["images"] / max(train_seconds, 1e-9)
    return record


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def _data_cfg(info: DataInfo, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model's ``pretrained_cfg``: what a predictor needs (classes, size, normalisation)."""
    return {
        "source": "lucid",
        "input_size": [info.in_channels, info.image_size, info.image_size],
        "crop_size": info.image_size,
        "resize_size": info.resize_size,
        "interpolation": info.interpolation,
        "mean": list(info.mean),
        "std": list(info.std),
        "categories": list(info.classes),
        "num_classes": len(info.classes),
        "in_channels": info.in_channels,
        "metrics": metrics,
    }


def _extra(run: _Run, record: dict[str, Any]) -> dict[str, Any]:
    """Checkpoint ``extra``: class names, preprocessing, the data (digits split) and the run."""
    info = run.info
    data = {k: v for k, v in info.to_dict().items() if k != "classes"}
    return {
        "categories": list(info.classes),
        "image_size": info.image_size,
        "in_channels": info.in_channels,
        "mean": list(info.mean),
        "std": list(info.std),
        "resize_size": info.resize_size,
        "interpolation": info.interpolation,
        "data": data,
        "epoch": record["epoch"],
        "val_top1": record["val_top1"],
        "val_top5": record["val_top5"],
        "ema": run.ema is not None,
        "train_config": run.config.to_dict(),
    }


def _save_model(run: _Run, path: Path, record: dict[str, Any]) -> None:
    import lucid

    model = run.ema.module if run.ema is not None else run.model
    model.pretrained_cfg = _data_cfg(run.info, {"val_top1": record["val_top1"], "val_top5": record["val_top5"]})
    lucid.save(model, path, extra=_extra(run, record))


def _train_state(
    run: _Run, epoch: int, best: dict[str, Any], history: list[dict[str, Any]], seconds: float, rngs: list[Any]
) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "best": best,
        "history": history,
        "seconds": seconds,
        "config": run.config.to_dict(),
        "world_size": run.ctx.world_size,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "ema": run.ema.state_dict() if run.ema is not None else None,
        "rng": rngs,  # one entry per rank
    }


def _summary(
    run: _Run, history: list[dict[str, Any]], best: dict[str, Any], seconds: float, status: str, extra: dict[str, Any]
) -> dict[str, Any]:
    model = run.model
    config = getattr(model, "config", None)
    return {
        "status": status,
        "best_val_top1": best["val_top1"],
        "best_epoch": best["epoch"],
        "final_val_top1": history[-1]["val_top1"] if history else None,
        "epochs": len(history),
        "epochs_planned": run.config.epochs,
        "seconds": seconds,
        "model": {
            "name": getattr(model, "model_name", run.config.model),
            "config": config.to_dict() if hasattr(config, "to_dict") else None,
            "parameters": sum(p.numel() for p in model.parameters()),
            "weights": run.config.weights,
            "ema": run.ema is not None,
        },
        "data": run.info.to_dict(),
        "split": run.info.split or None,
        "config": run.config.to_dict(),
        "device": str(run.ctx.device),
        "world_size": run.ctx.world_size,
        "torch_threads": torch.get_num_threads(),
        "versions": _versions(),
        "files": {k: str(run.out_dir / v) for k, v in FILES.items()},
        **extra,
    }


def _versions() -> dict[str, str]:
    import torchvision

    import lucid

    return {"lucid": lucid.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__}


def _commit_epoch(
    run: _Run, record: dict[str, Any], history: list[dict[str, Any]], best: dict[str, Any], seconds: float,
    extra: dict[str, Any], rngs: list[Any],
) -> None:
    """Rank 0 writes the epoch's files; the training state goes last (it is the commit point)."""
    out = run.out_dir
    append_jsonl(out / FILES["metrics"], record)
    _save_model(run, out / FILES["last"], record)
    if best["epoch"] == record["epoch"]:
        atomic_write(out / FILES["best"], lambda tmp: shutil.copyfile(out / FILES["last"], tmp))
    save_state(out / FILES["state"], _train_state(run, record["epoch"], best, history, seconds, rngs))
    write_json(out / FILES["summary"], _summary(run, history, best, seconds, "running", extra))
    plot_curves(history, out / FILES["curves"], _title(run))


def _title(run: _Run) -> str:
    name = getattr(run.model, "model_name", run.config.model)
    data = "digits" if run.info.kind == "digits" else Path(run.info.root or "data").name
    return f"{name} on {data} ({run.info.image_size}x{run.info.image_size})"


# --------------------------------------------------------------------------------------------
# set-up and resume
# --------------------------------------------------------------------------------------------


def _new_out_dir(config: TrainConfig) -> Path:
    if config.out is not None:
        return Path(config.out).expanduser()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{config.model}-{'digits' if config.data is None else Path(config.data).name}-{stamp}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def _choose_out_dir(config: TrainConfig, resuming: bool) -> Path:
    """The output folder (created later, once data and model are known to be fine)."""
    out = _new_out_dir(config)
    if not resuming and (out / FILES["state"]).exists():
        raise ValueError(
            f"--out {out} already holds a training run; resume it with --resume {out} or choose another folder"
        )
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder")
    return out


def _resume_config(config: TrainConfig) -> tuple[TrainConfig, dict[str, Any]]:
    """The saved run's config (with allowed overrides) and its training state."""
    folder = Path(config.resume).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"--resume {config.resume}: no such run folder")
    state = load_state(folder / FILES["state"])
    saved = TrainConfig.from_dict({**state["config"], "out": str(folder), "resume": None})
    merged = config.merged_for_resume(saved)
    if merged.epochs < state["epoch"]:
        raise ValueError(
            f"--epochs {merged.epochs} is fewer than the {state['epoch']} epochs the run already completed"
        )
    return merged, state


def _restore(run: _Run, state: dict[str, Any], steps_per_epoch: int) -> None:
    """Load model, optimizer, EMA, scheduler and RNG states from a training state."""
    from lucid.checkpoint import check_state_dict

    check_state_dict(run.model, state["model"], source=str(run.out_dir / FILES["state"]))
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.ema is not None:
        run.ema.load_state_dict(state["ema"])
    if TrainConfig.from_dict(state["config"]).epochs == run.config.epochs:
        run.scheduler.load_state_dict(state["scheduler"])
    else:
        # A longer (or shorter) run has a different schedule: rebuild it from the initial rates
        # and replay the steps already done.
        for group in run.optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        run.scheduler = _scheduler(run.optimizer, run.config, steps_per_epoch)
        with warnings.catch_warnings():
            # Replaying the schedule without optimizer steps is the point here, not a mistake.
            warnings.filterwarnings("ignore", message=".*lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)")
            for _ in range(state["epoch"] * steps_per_epoch):
                run.scheduler.step()
    rngs = state["rng"]
    if len(rngs) == run.ctx.world_size:
        set_rng_state(rngs[run.ctx.rank])


def _seed_everything(seed: int, rank: int) -> None:
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    torch.manual_seed(seed + rank)


@contextlib.contextmanager
def _deterministic(enabled: bool, device: torch.device) -> Iterator[None]:
    """Deterministic kernels for the run, the caller's setting restored afterwards."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _build_run(config: TrainConfig, ctx: dist_utils.DistContext, out_dir: Path) -> _Run:
    in_channels = resolve_in_channels(config)
    train_ds, val_ds, info = build_datasets(config, in_channels)
    model = build_model(
        config.model, len(info.classes), in_channels,
        weights=config.weights, dropout=config.dropout, bn_momentum=config.bn_momentum,
    )
    model_channels = getattr(getattr(model, "config", None), "in_channels", in_channels)
    if model_channels != in_channels:
        raise ValueError(
            f"the model takes {model_channels} input channels but the data gives {in_channels}; pass "
            f"--in-channels {model_channels}"
        )
    model.to(ctx.device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    net: nn.Module = model
    if ctx.distributed:
        device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    loaders = _loaders(train_ds, val_ds, config, ctx)
    optimizer = build_optimizer(model, config.opt, config.learning_rate, config.decay, config.momentum)
    scheduler = _scheduler(optimizer, config, len(loaders.train))
    ema = build_ema(model, config.ema_decay) if config.ema else None
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    amp = _amp_enabled(config, ctx)
    return _Run(config, ctx, model, net, ema, optimizer, scheduler, criterion, loaders, info, amp, out_dir)


def _scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int) -> Any:
    return build_scheduler(
        optimizer, config.sched, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
        warmup_epochs=config.warmup_epochs, step_size=config.step_size, gamma=config.step_gamma,
    )


def _amp_enabled(config: TrainConfig, ctx: dist_utils.DistContext) -> bool:
    if not config.amp:
        return False
    if ctx.device.type == "cuda" and not torch.cuda.is_bf16_supported():
        warnings.warn("--amp: this GPU has no bfloat16 support; training in float32", stacklevel=2)
        return False
    return True


# --------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------


def _say(ctx: dist_utils.DistContext, message: str) -> None:
    if ctx.is_main:
        print(message, flush=True)


def _epoch_line(record: dict[str, Any], epochs: int) -> str:
    return (
        f"epoch {record['epoch']:>3}/{epochs}  "
        f"train loss {record['train_loss']:.4f} top-1 {100 * record['train_top1']:5.1f}%  "
        f"val loss {record['val_loss']:.4f} top-1 {100 * record['val_top1']:5.1f}% "
        f"top-5 {100 * record['val_top5']:5.1f}%  "
        f"lr {record['lr']:.3g}  {record['seconds']:.1f}s ({record['train_images_per_second']:.0f} img/s)"
    )


def _index_record(run: _Run, epoch: int) -> dict[str, Any]:
    """Every rank's sampler indices for ``epoch`` (the ``record_indices`` debug option)."""
    mine = list(iter(run.loaders.sampler))
    return {"epoch": epoch, "ranks": dist_utils.gather_objects(mine, run.ctx)}


def train(config: TrainConfig | None = None) -> TrainResult:
    """Train a model as ``config`` says and write everything into its output folder.

    ``train()`` with the default :class:`TrainConfig` is ``lucid train``: mobilenet_v3_small on
    the embedded digits. Under ``torchrun`` every process calls this and it trains with DDP;
    only rank 0 writes files. Raises :class:`TrainingDiverged` on a NaN/inf loss (the last
    good checkpoint stays), ValueError/FileNotFoundError on bad settings or data, all before
    training starts.
    """
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"train() expects a TrainConfig, got {type(config).__name__}")
    state = None
    if config.resume is not None:
        config, state = _resume_config(config)
    ctx = dist_utils.setup(config.device)
    try:
        with _deterministic(config.deterministic, ctx.device):
            return _train(config, ctx, state)
    finally:
        dist_utils.teardown(ctx)


def _train(config: TrainConfig, ctx: dist_utils.DistContext, state: dict[str, Any] | None) -> TrainResult:
    chosen = str(_choose_out_dir(config, state is not None)) if ctx.is_main else None
    out_dir = Path(dist_utils.broadcast_object(chosen, ctx))
    _seed_everything(config.seed, ctx.rank)
    run = _build_run(config, ctx, out_dir)  # data and model errors surface here, before any file is written
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, Any]] = []
    best = {"val_top1": -1.0, "epoch": 0}
    spent, start_epoch, extra = 0.0, 0, {}
    if state is not None:
        _restore(run, state, len(run.loaders.train))
        history, best = list(state["history"]), dict(state["best"])
        spent, start_epoch = float(state["seconds"]), int(state["epoch"])
        if ctx.is_main:
            _rewrite_metrics(out_dir, history)
    _announce(run, start_epoch)
    started = time.perf_counter()
    for epoch in range(start_epoch + 1, config.epochs + 1):
        _start_epoch(run.loaders, config, epoch, ctx.rank)
        if config.record_indices:
            extra["sampler_indices"] = _index_record(run, epoch)
        try:
            record = _run_epoch(run, epoch)
        except TrainingDiverged as exc:
            _diverged(run, exc, history, best, spent + time.perf_counter() - started, extra)
        history.append(record)
        if record["val_top1"] > best["val_top1"]:
            best = {"val_top1": record["val_top1"], "epoch": epoch}
        rngs = dist_utils.gather_objects(rng_state(), ctx)  # every rank's, so a resumed DDP run continues exactly
        if ctx.is_main:
            _commit_epoch(run, record, history, best, spent + time.perf_counter() - started, extra, rngs)
        _say(ctx, _epoch_line(record, config.epochs))
    seconds = spent + time.perf_counter() - started
    summary = _summary(run, history, best, seconds, "finished", extra)
    if ctx.is_main:
        write_json(out_dir / FILES["summary"], summary)
        if history:
            plot_curves(history, out_dir / FILES["curves"], _title(run))
        _farewell(run, best, seconds)
    return TrainResult(out_dir, best["val_top1"], best["epoch"], len(history), seconds, history, summary)


def _rewrite_metrics(out_dir: Path, history: list[dict[str, Any]]) -> None:
    """metrics.jsonl as of the saved state: drops lines of an epoch the kill interrupted."""
    text = "".join(json.dumps(r) + "\n" for r in history)
    atomic_write(out_dir / FILES["metrics"], lambda tmp: Path(tmp).write_text(text))


def _announce(run: _Run, start_epoch: int) -> None:
    ctx, config, info = run.ctx, run.config, run.info
    params = sum(p.numel() for p in run.model.parameters())
    name = getattr(run.model, "model_name", config.model)
    where = f"{ctx.device}" + (f" x {ctx.world_size} processes (DDP)" if ctx.distributed else "")
    _say(ctx, f"{info.description}")
    _say(ctx, f"model: {name} ({params:,} parameters, in_channels={info.in_channels}, {len(info.classes)} classes)"
              + (f", weights {config.weights}" if config.weights else ""))
    _say(ctx, f"training: {config.epochs} epochs, batch {config.batch_size}, {config.opt} lr {config.learning_rate:g}, "
              f"{config.sched} schedule, {config.warmup_epochs:g} warm-up epochs, "
              f"label smoothing {config.label_smoothing:g}"
              + (", EMA" if config.ema else "") + (", bf16 autocast" if run.amp else "") + f", on {where}")
    _say(ctx, f"output: {run.out_dir}" + (f" (resuming after epoch {start_epoch})" if start_epoch else ""))


def _farewell(run: _Run, best: dict[str, Any], seconds: float) -> None:
    out = run.out_dir
    print(f"best val top-1 {100 * best['val_top1']:.2f}% at epoch {best['epoch']}; {seconds:.1f}s in total")
    print(f"wrote {out}/")
    notes = {
        "summary": "run summary (best_val_top1, config, data split)",
        "metrics": "one line of metrics per epoch",
        "curves": "loss and accuracy curves",
        "best": "best checkpoint (lucid.models.load_model / lucid eval / lucid predict)",
        "last": "last checkpoint",
        "state": "optimizer, scheduler, EMA and RNG state for --resume",
    }
    for key, note in notes.items():
        print(f"  {FILES[key]:<26} {note}")


def _diverged(
    run: _Run, exc: TrainingDiverged, history: list[dict[str, Any]], best: dict[str, Any], seconds: float,
    extra: dict[str, Any],
) -> None:
    """Record the stop in summary.json (checkpoints stay as the last good epoch left them) and re-raise."""
    last = history[-1]["epoch"] if history else 0
    if history:
        kept = f"the last good checkpoint is {run.out_dir / FILES['last']} (epoch {last})"
    else:
        kept = "no epoch completed, so no checkpoint was written"
    message = f"{exc}; training stopped: lower --lr or check the data; {kept}"
    if run.ctx.is_main:
        summary = _summary(run, history, best, seconds, "diverged", {**extra, "error": message})
        write_json(run.out_dir / FILES["summary"], summary)
    raise TrainingDiverged(message) from None


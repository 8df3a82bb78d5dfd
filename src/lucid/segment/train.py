"""The segmentation training run behind ``lucid train --task segment``: resumable, time-budgeted, DDP.

A compact run loop over lucid's shared pieces: :mod:`lucid.train.distributed` (process group,
device), :mod:`lucid.train.run_folder` (the run folder's layout, naming, lock, the resumed state's
checks and each epoch's commit: ``metrics.jsonl``, ``last.safetensors``, ``best.safetensors``,
``train_state.safetensors`` as the commit point, ``summary.json``, ``curves.png``; the same as a
classification run's), :mod:`lucid.train.budget` (the clock and hard deadline of ``time_budget``),
:func:`lucid.train.optim.build_optimizer` and :mod:`lucid.train.state` (training state as
safetensors + JSON, RNG states).

The schedule is per step: linear warm-up, then the "poly" decay ``(1 - step/total) ** 0.9`` of
torchvision's segmentation reference. With ``time_budget`` (minutes, set-up included) the epoch
count is fitted after timing the first training steps and one validation batch, and re-fitted
after every epoch from the measured epoch time, so the run ends within the budget.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from lucid import checkpoint
from lucid.data import dataset_size, seeded_subset
from lucid.errors import DataError
from lucid.models import LRASPP
from lucid.segment.data import (
    LAYOUT_HELP,
    SegmentationDataInfo,
    class_frequencies,
    enet_class_weights,
    pad_collate,
    segmentation_datasets,
)
from lucid.segment.metrics import ConfusionMeter, segmentation_loss
from lucid.train import distributed as dist_utils
from lucid.train.budget import FINAL_SECONDS, BudgetClock, fit_epochs
from lucid.train.optim import build_optimizer
from lucid.train.run_folder import (  # one run folder for both tasks: layout, claiming, committing epochs
    FILES,
    claimed_run_folder,
    commit_epoch,
    finish_run,
    new_out_dir,
    resume_state,
    rewrite_metrics,
)
from lucid.train.state import TrainStateError, rng_state, set_rng_state, training_state

__all__ = ["SegmentConfig", "SegmentResult", "train_segmentation", "FILES", "SEGMENT_MODELS"]

SEGMENT_MODELS = ("lraspp_mobilenet_v3_large", "lraspp_mobilenet_v3_small")
OPTIMIZERS = ("adamw", "sgd", "rmsprop")
CLASS_WEIGHTS = ("enet", "none")
DEFAULT_LR = {"adamw": 2e-3, "sgd": 0.05, "rmsprop": 0.01}
DEFAULT_WD = {"adamw": 0.01, "sgd": 1e-4, "rmsprop": 1e-5}
DEFAULT_EPOCHS = 30
MAX_EPOCHS = 1000
POLY_POWER = 0.9
WARMUP_START = 0.01
PROBE_STEPS = 4  # training steps timed (after one warm-up step) before a budget run fits its epochs
BUDGET_MARGIN = 0.97  # plan to 97 % of the budget: the last save and the summary come after
# Seconds kept before the budget's hard deadline (lucid.train.budget: budget + 5 %, less the closing
# files' allowance) for this run's closing files beyond that shared allowance: its checkpoint, state,
# summary and curves after the last validation take ~3 s.
CLOSING_SECONDS = 3.0 - FINAL_SECONDS
# Fields a resumed run may change; the rest (data, model, recipe) must stay as recorded.
RESUMABLE = ("epochs", "time_budget", "workers", "progress", "device", "out", "resume")


@dataclass
class SegmentConfig:
    """Everything one segmentation run depends on (``lucid train --task segment`` flags).

    ``crop_size`` is (height, width) of the training crops; ``scale`` the random rescale range
    relative to the data's own size; ``ignore_index`` the void mask value (None: declared by the
    data's class names, else 255; see :func:`lucid.segment.data.resolve_classes`).
    The defaults are the from-scratch CPU recipe of docs/segmentation.md: the small model
    (4-7x the training images/s of the large one on 2 cores) on 256x320 crops, AdamW, poly decay.
    ``epochs`` None: 30, or fitted to ``time_budget`` minutes (wall clock, set-up included).
    ``lr``/``weight_decay`` None: per optimizer (adamw 2e-3 / 0.01, sgd 0.05 / 1e-4).
    """

    data: str | None = None
    model: str = "lraspp_mobilenet_v3_small"
    weights: str | None = None
    num_classes: int | None = None
    classes: list[str] | None = None
    ignore_index: int | None = None
    crop_size: tuple[int, int] = (256, 320)
    scale: tuple[float, float] = (0.5, 2.0)
    hflip: float = 0.5
    class_weights: str = "enet"
    epochs: int | None = None
    batch_size: int = 8
    lr: float | None = None
    opt: str = "adamw"
    weight_decay: float | None = None
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    bn_momentum: float = 0.1
    time_budget: float | None = None
    workers: int = 0
    seed: int = 0
    device: str = "cpu"
    amp: bool = False
    channels_last: bool = True
    out: str | None = None
    resume: str | None = None
    progress: bool = True
    limit_train: int | None = None
    limit_val: int | None = None
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.model not in SEGMENT_MODELS:
            raise ValueError(
                f"--model {self.model!r} is not a segmentation model; choose one of {', '.join(SEGMENT_MODELS)}"
            )
        if self.class_weights not in CLASS_WEIGHTS:
            raise ValueError(f"--class-weights must be one of {', '.join(CLASS_WEIGHTS)}, got {self.class_weights!r}")
        if self.opt not in OPTIMIZERS:
            raise ValueError(f"--opt must be one of {', '.join(OPTIMIZERS)}, got {self.opt!r}")
        self.crop_size = _pair("--crop-size", self.crop_size)
        self.scale = (float(self.scale[0]), float(self.scale[1]))
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"--scale must be 0 < MIN <= MAX, got {self.scale}")
        for name in ("batch_size", "workers", "seed"):
            value = getattr(self, name)
            smallest = 1 if name == "batch_size" else 0
            if not isinstance(value, int) or value < smallest:
                raise ValueError(f"--{name.replace('_', '-')} must be an integer >= {smallest}, got {value!r}")
        if self.epochs is not None and not 1 <= self.epochs <= MAX_EPOCHS:
            raise ValueError(f"--epochs must be 1..{MAX_EPOCHS}, got {self.epochs}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ValueError(f"--time-budget must be a positive number of minutes, got {self.time_budget}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"--val-fraction must be in (0, 1), got {self.val_fraction}")
        if not 0 <= self.hflip <= 1:
            raise ValueError(f"--hflip must be a probability 0..1, got {self.hflip}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"--device must be cpu or cuda, got {self.device!r}")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.opt]

    @property
    def decay(self) -> float:
        return self.weight_decay if self.weight_decay is not None else DEFAULT_WD[self.opt]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(crop_size=list(self.crop_size), scale=list(self.scale))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _pair(flag: str, value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(isinstance(v, int) and v > 0 for v in value):
        raise ValueError(f"{flag} must be a positive int or (height, width), got {value!r}")
    return int(value[0]), int(value[1])


@dataclass
class SegmentResult:
    """Where the run wrote its files and what it reached."""

    out_dir: Path
    best_val_miou: float
    best_epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def best_checkpoint(self) -> Path:
        return self.out_dir / FILES["best"]

    @property
    def last_checkpoint(self) -> Path:
        return self.out_dir / FILES["last"]


# --------------------------------------------------------------------------------------------
# schedule
# --------------------------------------------------------------------------------------------


class PolySchedule:
    """Linear warm-up then ``(1 - t) ** 0.9``; ``total_steps`` may be re-planned during the run."""

    def __init__(self, warmup_steps: int, total_steps: int) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return WARMUP_START + (1 - WARMUP_START) * step / max(1, self.warmup_steps)
        span = max(1, self.total_steps - self.warmup_steps)
        return max(0.0, 1 - (step - self.warmup_steps) / span) ** POLY_POWER


# --------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------


@dataclass
class _Run:
    config: SegmentConfig
    ctx: dist_utils.DistContext
    out_dir: Path
    info: SegmentationDataInfo
    model: LRASPP
    net: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: PolySchedule
    scheduler: torch.optim.lr_scheduler.LambdaLR
    train_loader: DataLoader
    val_loader: DataLoader
    sampler: DistributedSampler | None
    generator: torch.Generator
    epochs: int
    # Seconds spent over every session (a resumed run included); its minutes are the --time-budget
    # (0 without one: then only its elapsed() is read).
    clock: BudgetClock
    val_seconds: float = 0.0  # the measured (or estimated) validation time, for the budget's deadline
    loss_weight: torch.Tensor | None = None  # per-class loss weights (--class-weights)

    def elapsed(self) -> float:
        """Seconds this run has spent, over every session (resumed runs included)."""
        return self.clock.elapsed()


def _build_model(config: SegmentConfig, info: SegmentationDataInfo) -> LRASPP:
    from lucid.models import create_model

    model = create_model(
        config.model, num_classes=info.num_classes, weights=config.weights, bn_momentum=config.bn_momentum
    )
    if not isinstance(model, LRASPP):
        raise TypeError(f"--model {config.model}: expected an LR-ASPP segmentation model, got {type(model).__name__}")
    return model


def _loaders(
    train_ds: Dataset[Any],
    val_ds: Dataset[Any],
    config: SegmentConfig,
    ctx: dist_utils.DistContext,
    generator: torch.Generator,
    ignore: int,
) -> tuple[DataLoader, DataLoader, DistributedSampler | None]:
    sampler: DistributedSampler[Any] | None = (
        DistributedSampler(train_ds, ctx.world_size, ctx.rank, shuffle=True, seed=config.seed, drop_last=True)
        if ctx.distributed
        else None
    )
    if dataset_size(train_ds) < config.batch_size * ctx.world_size:
        raise DataError(
            f"--data {config.data}: {dataset_size(train_ds)} training images, fewer than one batch of "
            f"{config.batch_size} x {ctx.world_size} process(es); lower --batch-size"
        )
    workers, persistent = config.workers, config.workers > 0
    train_loader = DataLoader(
        train_ds,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=True,
        generator=generator,
        num_workers=workers,
        persistent_workers=persistent,
    )
    # Each process validates its own shard (no padding duplicates), confusion matrices are summed.
    shard = Subset(val_ds, list(range(ctx.rank, dataset_size(val_ds), ctx.world_size))) if ctx.distributed else val_ds
    val_loader = DataLoader(
        shard,
        batch_size=config.batch_size,
        shuffle=False,
        collate_fn=pad_collate(ignore),
        num_workers=workers,
        persistent_workers=persistent,
    )
    return train_loader, val_loader, sampler


def _resume_config(config: SegmentConfig) -> tuple[SegmentConfig, dict[str, Any]]:
    """The saved run's config with the fields a resumed run may change (:data:`RESUMABLE`), and
    its checked training state."""
    if config.resume is None:
        raise ValueError("_resume_config needs a config with resume set")
    folder, state = resume_state(config.resume, "val_miou")
    changes = {k: getattr(config, k) for k in RESUMABLE if getattr(config, k) is not None}
    try:
        merged = SegmentConfig.from_dict({**state["config"], **changes, "out": str(folder), "resume": str(folder)})
    except (TypeError, ValueError) as exc:
        raise TrainStateError(f"{folder / FILES['state']}: the saved training config is not valid ({exc})") from None
    return merged, state


def _setup(config: SegmentConfig, ctx: dist_utils.DistContext, started: float, out_dir: Path) -> _Run:
    """Data, class weights, model, loaders, optimizer and schedule of a run writing into ``out_dir``."""
    if config.data is None:
        raise ValueError("_setup needs a config with data set")
    torch.manual_seed(config.seed + ctx.rank)
    train_full, val_full, info = segmentation_datasets(
        config.data,
        crop_size=config.crop_size,
        ignore_index=config.ignore_index,
        num_classes=config.num_classes,
        classes=config.classes,
        scale=config.scale,
        hflip=config.hflip,
        val_fraction=config.val_fraction,
        seed=config.seed,
    )
    weight = None
    if config.class_weights == "enet":  # from every training mask, before --limit-train picks a subset
        weight = enet_class_weights(class_frequencies(train_full, info.num_classes, info.ignore_index)).to(ctx.device)
    train_ds = seeded_subset(train_full, config.limit_train, config.seed)
    val_ds = seeded_subset(val_full, config.limit_val, config.seed + 1)
    info.train_images, info.val_images = dataset_size(train_ds), dataset_size(val_ds)
    model = _build_model(config, info).to(ctx.device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = nn.parallel.DistributedDataParallel(model) if ctx.distributed else model
    generator = torch.Generator().manual_seed(config.seed)
    train_loader, val_loader, sampler = _loaders(train_ds, val_ds, config, ctx, generator, info.ignore_index)
    optimizer = build_optimizer(model, config.opt, config.learning_rate, config.decay, config.momentum)
    steps = len(train_loader)
    epochs = config.epochs or (MAX_EPOCHS if config.time_budget else DEFAULT_EPOCHS)
    schedule = PolySchedule(int(round(config.warmup_epochs * steps)), epochs * steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return _Run(
        config,
        ctx,
        out_dir,
        info,
        model,
        net,
        optimizer,
        schedule,
        scheduler,
        train_loader,
        val_loader,
        sampler,
        generator,
        epochs,
        BudgetClock(config.time_budget or 0.0, started=started),
        loss_weight=weight,
    )


def _restore(run: _Run, state: dict[str, Any]) -> int:
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.epochs = max(int(state["epochs_planned"]), int(state["epoch"]))
    if run.config.epochs is not None:
        run.epochs = max(run.config.epochs, int(state["epoch"]))
    run.schedule.total_steps = run.epochs * len(run.train_loader)
    run.clock.spent_before = float(state["seconds"])
    rngs = state["rng"]
    if len(rngs) == run.ctx.world_size:
        set_rng_state(rngs[run.ctx.rank], run.generator)
    return int(state["epoch"])


def _to_device(images: torch.Tensor, masks: torch.Tensor, run: _Run) -> tuple[torch.Tensor, torch.Tensor]:
    images = images.as_subclass(torch.Tensor).to(run.ctx.device, non_blocking=True)
    if run.config.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, masks.as_subclass(torch.Tensor).to(run.ctx.device, non_blocking=True)


def _autocast(run: _Run) -> Any:
    import contextlib

    if not run.config.amp:
        return contextlib.nullcontext()
    return torch.autocast(run.ctx.device.type, dtype=torch.bfloat16)


def _progress(loader: DataLoader, run: _Run, epoch: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        loader,
        desc=f"epoch {epoch}/{run.epochs}",
        unit="batch",
        leave=False,
        file=sys.stderr,
        disable=not (run.config.progress and run.ctx.is_main),
        dynamic_ncols=True,
    )


def _train_step(run: _Run, images: torch.Tensor, masks: torch.Tensor) -> float:
    with _autocast(run):
        logits = run.net(images)
    loss = segmentation_loss(logits.float(), masks, run.info.ignore_index, run.loss_weight)
    if dist_utils.any_true(not bool(torch.isfinite(loss)), run.ctx):
        raise FloatingPointError(f"the loss became {float(loss.detach())}; lower --lr")
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.scheduler.step()
    return float(loss.detach())


def _train_epoch(run: _Run, epoch: int, budget_probe: bool) -> dict[str, float]:
    run.net.train()
    if run.sampler is not None:
        run.sampler.set_epoch(epoch)
    total, count, start = 0.0, 0, time.perf_counter()
    probe_start = None
    bar = _progress(run.train_loader, run, epoch)
    for step, (images, masks) in enumerate(bar, 1):
        images, masks = _to_device(images, masks, run)
        total += _train_step(run, images, masks) * images.shape[0]
        count += images.shape[0]
        bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
        if budget_probe and step == 1:
            probe_start = time.perf_counter()
        if budget_probe and probe_start is not None and step == 1 + PROBE_STEPS:
            _fit_budget(run, epoch, (time.perf_counter() - probe_start) / PROBE_STEPS, start)
        # 1.5x the validation estimate: one timed batch under a changing load is a rough guide
        reserve = 1.5 * run.val_seconds + CLOSING_SECONDS
        if run.config.time_budget is not None and dist_utils.any_true(run.clock.hard_deadline_passed(reserve), run.ctx):
            _say(
                run,
                f"time budget: epoch {epoch} stopped after {step} of {len(run.train_loader)} steps "
                "to validate and save within the budget",
            )
            break
    bar.close()
    values = torch.tensor([total, count], dtype=torch.float64)
    if run.ctx.distributed:
        import torch.distributed as dist

        values = values.to(run.ctx.device)
        dist.all_reduce(values)
        values = values.cpu()
    return {
        "loss": float(values[0] / values[1].clamp(min=1)),
        "images": int(values[1]),
        "seconds": time.perf_counter() - start,
    }


@torch.no_grad()
def validate(
    model: nn.Module,
    loader: DataLoader,
    info: SegmentationDataInfo,
    device: torch.device,
    channels_last: bool = False,
    limit_batches: int | None = None,
) -> dict[str, Any]:
    """Loss, confusion matrix and scores of ``model`` on ``loader`` (summed over DDP processes)."""
    model.eval()
    meter = ConfusionMeter(info.num_classes, info.ignore_index)
    loss_sum, pixels = 0.0, 0
    for index, (images, masks) in enumerate(loader):
        if limit_batches is not None and index >= limit_batches:
            break
        images = images.as_subclass(torch.Tensor).to(device)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        masks = masks.as_subclass(torch.Tensor).to(device)
        logits = model(images).float()
        valid = int((masks != info.ignore_index).sum())
        if valid:
            loss_sum += float(segmentation_loss(logits, masks, info.ignore_index)) * valid
        pixels += valid
        meter.add(logits, masks)
    totals = torch.tensor([loss_sum, pixels], dtype=torch.float64)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        totals = totals.to(device)
        dist.all_reduce(totals)
        totals = totals.cpu()
    meter.reduce(device)
    scored = meter.scores(info.classes)
    scored["loss"] = float(totals[0] / totals[1].clamp(min=1))
    scored["confusion"] = meter.matrix.tolist()
    return scored


def _fit_budget(run: _Run, epoch: int, step_seconds: float, epoch_start: float) -> None:
    """Fit the epoch count to the budget from the measured step time and one timed validation batch."""
    batches = len(run.val_loader)
    val_start = time.perf_counter()
    validate(run.model, run.val_loader, run.info, run.ctx.device, run.config.channels_last, limit_batches=1)
    val_seconds = (time.perf_counter() - val_start) * batches
    run.val_seconds = val_seconds
    run.net.train()
    per_epoch = step_seconds * len(run.train_loader) + val_seconds
    in_epoch = time.perf_counter() - epoch_start
    left = run.clock.seconds * BUDGET_MARGIN - run.clock.elapsed() + in_epoch
    fitted = max(epoch, epoch - 1 + fit_epochs(left, per_epoch, MAX_EPOCHS - epoch + 1))
    fitted = dist_utils.broadcast_object(fitted, run.ctx)
    _plan(run, fitted)
    _say(
        run,
        f"time budget {run.clock.minutes:g} min: ~{per_epoch:.1f} s per epoch "
        f"({step_seconds:.2f} s/step, {val_seconds:.1f} s validation) -> {fitted} epochs",
    )


def _refit_after_epoch(run: _Run, epoch: int, epoch_seconds: float) -> None:
    """Re-plan the remaining epochs from the measured epoch time (never past the budget)."""
    left = run.clock.seconds * BUDGET_MARGIN - run.clock.elapsed()
    fitted = epoch + fit_epochs(left, max(epoch_seconds, 1e-6), MAX_EPOCHS - epoch)
    fitted = dist_utils.broadcast_object(fitted, run.ctx)
    if fitted != run.epochs:
        _plan(run, fitted)


def _plan(run: _Run, epochs: int) -> None:
    run.epochs = epochs
    run.schedule.total_steps = epochs * len(run.train_loader)


def _say(run: _Run, message: str) -> None:
    if run.ctx.is_main:
        print(message, flush=True)


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def checkpoint_extra(run: _Run, record: dict[str, Any]) -> dict[str, Any]:
    """What eval/predict/export need: task, classes, ignore value, normalisation, and the run."""
    info = run.info
    return {
        "task": "segment",
        "classes": list(info.classes),
        "categories": list(info.classes),
        "ignore_index": info.ignore_index,
        "inter_channels": getattr(run.model, "inter_channels", 128),
        "mean": list(info.mean),
        "std": list(info.std),
        "data": info.to_dict(),
        "epoch": record["epoch"],
        "val_miou": record["val_miou"],
        "val_pixel_acc": record["val_pixel_acc"],
        "train_config": run.config.to_dict(),
    }


def _save_model(run: _Run, path: Path, record: dict[str, Any]) -> None:
    model = run.model
    model.pretrained_cfg = {
        "source": "lucid",
        "task": "segment",
        "categories": list(run.info.classes),
        "num_classes": run.info.num_classes,
        "in_channels": model.in_channels,
        "mean": list(run.info.mean),
        "std": list(run.info.std),
        "metrics": {"val_miou": record["val_miou"], "val_pixel_acc": record["val_pixel_acc"]},
    }
    checkpoint.save(model, path, extra=checkpoint_extra(run, record))


def _summary(run: _Run, history: list[dict[str, Any]], best: dict[str, Any], status: str) -> dict[str, Any]:
    import lucid

    return {
        "task": "segment",
        "status": status,
        "best_val_miou": best["val_miou"],
        "best_val_pixel_acc": best["val_pixel_acc"],
        "best_epoch": best["epoch"],
        "final_val_miou": history[-1]["val_miou"] if history else None,
        "epochs": len(history),
        "epochs_planned": run.epochs,
        "seconds": run.elapsed(),
        "time_budget_minutes": run.config.time_budget,
        "model": {
            "name": run.model.model_name,
            "parameters": sum(p.numel() for p in run.model.parameters()),
            "weights": run.config.weights,
        },
        "data": run.info.to_dict(),
        "config": run.config.to_dict(),
        "device": str(run.ctx.device),
        "world_size": run.ctx.world_size,
        "torch_threads": torch.get_num_threads(),
        "lucid": lucid.__version__,
        "files": {k: str(run.out_dir / v) for k, v in FILES.items()},
    }


def _title(run: _Run) -> str:
    return f"{run.model.model_name} on {Path(run.info.root).name}"


def _commit(
    run: _Run,
    record: dict[str, Any],
    history: list[dict[str, Any]],
    best: dict[str, Any],
    previous_best: dict[str, Any],
    rngs: list[Any],
) -> None:
    """Rank 0 writes the epoch's files (:func:`lucid.train.run_folder.commit_epoch`); a failed
    write records in summary.json the epochs before this one."""

    def summary(status: str, error: str | None) -> dict[str, Any]:
        if error is None:
            return _summary(run, history, best, status)
        return {**_summary(run, history[:-1], previous_best, status), "error": error}

    commit_epoch(
        run.out_dir,
        record,
        history,
        is_best=best["epoch"] == record["epoch"],
        save_model=lambda path: _save_model(run, path, record),
        state=lambda: _train_state(run, record["epoch"], best, history, rngs),
        summary=summary,
        title=_title(run),
        task="segment",
    )


def _train_state(
    run: _Run, epoch: int, best: dict[str, Any], history: list[dict[str, Any]], rngs: list[Any]
) -> dict[str, Any]:
    return training_state(
        epoch=epoch,
        best=best,
        history=history,
        seconds=run.elapsed(),
        config=run.config.to_dict(),
        world_size=run.ctx.world_size,
        model=run.model,
        optimizer=run.optimizer,
        scheduler=run.scheduler,
        rngs=rngs,
        epochs_planned=run.epochs,
    )


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------


def train_segmentation(config: SegmentConfig, *, clock_start: float | None = None) -> SegmentResult:
    """Train an LR-ASPP model on a mask folder (``lucid train --task segment``); returns where and how well.

    Works single-process or under ``torchrun`` (DDP, gloo on CPU / NCCL on CUDA); ``config.resume``
    continues a run from its last completed epoch (a kill mid-epoch loses only that epoch).
    ``clock_start`` (a ``time.perf_counter()`` reading, e.g. the process start) is when the
    ``time_budget`` began; default now.
    """
    started = time.perf_counter() if clock_start is None else clock_start
    state = None
    if config.resume is not None:
        config, state = _resume_config(config)
    if config.data is None:
        raise DataError(f"--task segment needs --data DIR ({LAYOUT_HELP})")
    ctx = dist_utils.setup(config.device)
    try:
        choose = functools.partial(new_out_dir, config.model, Path(config.data).name, config.out)
        with claimed_run_folder(ctx, choose, resuming=state is not None) as out_dir:
            return _train(config, state, ctx, started, out_dir)
    finally:
        dist_utils.teardown(ctx)


def _train(
    config: SegmentConfig,
    state: dict[str, Any] | None,
    ctx: dist_utils.DistContext,
    started: float,
    out_dir: Path,
) -> SegmentResult:
    run = _setup(config, ctx, started, out_dir)
    start_epoch, history = 0, []
    best: dict[str, Any] = {"epoch": 0, "val_miou": -1.0, "val_pixel_acc": 0.0}
    if state is not None:
        start_epoch = _restore(run, state)
        history, best = list(state["history"]), dict(state["best"])
        dist_utils.on_main(ctx, lambda: rewrite_metrics(out_dir, history))
    for line in (*run.info.layout_notes, run.info.void_note):
        _say(run, f"lucid train --task segment: {line}")
    _say(
        run,
        f"lucid train --task segment: {run.model.model_name} ({run.info.num_classes} classes, ignore "
        f"{run.info.ignore_index}) on {run.info.root}: {run.info.train_images} train / {run.info.val_images} "
        f"val images, crops {run.config.crop_size[0]}x{run.config.crop_size[1]}, out {run.out_dir}",
    )
    epoch = start_epoch
    while epoch < run.epochs:
        epoch += 1
        epoch_start = time.perf_counter()
        probe = run.config.time_budget is not None and epoch == start_epoch + 1
        lr = run.optimizer.param_groups[0]["lr"]
        trained = _train_epoch(run, epoch, probe)
        val_start = time.perf_counter()
        val = validate(run.model, run.val_loader, run.info, ctx.device, run.config.channels_last)
        run.val_seconds = time.perf_counter() - val_start
        record = {
            "epoch": epoch,
            "train_loss": trained["loss"],
            "val_loss": val["loss"],
            "val_miou": val["miou"],
            "val_pixel_acc": val["pixel_acc"],
            "val_mean_acc": val["mean_acc"],
            "val_per_class_iou": val["per_class_iou"],
            "lr": lr,
            "lr_end": run.optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - epoch_start,
            "train_images_per_second": trained["images"] / max(trained["seconds"], 1e-9),
            "elapsed": run.elapsed(),
        }
        history.append(record)
        previous_best = best
        if val["miou"] > best["val_miou"]:
            best = {"epoch": epoch, "val_miou": val["miou"], "val_pixel_acc": val["pixel_acc"]}
        if run.config.time_budget is not None:
            _refit_after_epoch(run, epoch, record["seconds"])
        rngs = dist_utils.gather_objects(rng_state(run.generator), ctx)
        dist_utils.on_main(ctx, functools.partial(_commit, run, record, history, best, previous_best, rngs))
        _say(
            run,
            f"epoch {epoch}/{run.epochs}: train loss {record['train_loss']:.4f}  val loss {record['val_loss']:.4f}  "
            f"mIoU {100 * record['val_miou']:.2f}%  pixel acc {100 * record['val_pixel_acc']:.2f}%  "
            f"({record['seconds']:.0f} s, {run.elapsed():.0f} s total)",
        )
    summary = _summary(run, history, best, "finished")
    dist_utils.on_main(ctx, lambda: finish_run(out_dir, summary, history, _title(run), "segment"))
    _say(
        run,
        f"best val mIoU {100 * best['val_miou']:.2f}% (pixel acc {100 * best['val_pixel_acc']:.2f}%) at epoch "
        f"{best['epoch']}; {run.elapsed():.0f} s; checkpoint {run.out_dir / FILES['best']}",
    )
    return SegmentResult(run.out_dir, best["val_miou"], best["epoch"], history, run.elapsed())

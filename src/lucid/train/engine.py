"""The one training loop behind ``lucid train``, for every task: one process or DDP, resumable,
deterministic, time-budgeted.

The loop owns seeding and determinism, the DDP sampler, AMP, EMA, the optimizer and schedule
steps, divergence handling, the time-budget plan, exact resume, the run folder, the curves and
the summary. The task (`lucid.tasks.Task`, picked by the config's class) supplies the data,
the model, the loss of a batch, the validation scores and the checkpoint metadata.

Per epoch: train (tqdm bar), validate, then rank 0 appends ``metrics.jsonl``, writes
``last.safetensors`` (and ``best.safetensors`` when the task's validation score improved), the resumable
``train_state.safetensors`` (the commit point: written last, atomically), ``summary.json`` and
``curves.png``. Resuming rewrites ``metrics.jsonl`` from the state's history, so a kill at any
moment leaves a run that resumes to exactly the metrics of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torch.utils.data.distributed import DistributedSampler

from lucid.data import EpochItems, SeededItems, data_folder, dataset_size, default_workers, worker_context
from lucid.errors import LucidError, RunFolderError
from lucid.tasks import Task, TaskData, get_task
from lucid.train import distributed as dist_utils
from lucid.train.budget import WARMUP_FRACTION, BudgetClock, BudgetPlan
from lucid.train.config import RunConfig, TrainConfig
from lucid.train.metrics import plot_curves, write_json
from lucid.train.optim import build_ema, build_optimizer, build_scheduler
from lucid.train.run_folder import (
    FILES,
    claimed_run_folder,
    commit_epoch,
    finish_run,
    new_out_dir,
    recorded_task,
    resume_state,
    rewrite_metrics,
)
from lucid.train.state import TrainStateError, rng_state, set_rng_state, training_state

__all__ = ["TrainResult", "TrainingDiverged", "train", "build_model", "FILES", "autocast"]


class TrainingDiverged(LucidError, RuntimeError):
    """The loss or the validation outputs became NaN or infinite: training stopped, and the last
    checkpoint whose validation was finite is kept."""


# The probe behind --time-budget: untimed warm-up steps, then timed steps (a fixed count, so every
# DDP process takes the same number of steps). The first steps of a fresh model run several times
# slower than later ones (measured on sign-language-digits at 96 px, 2 loaded cores: steps 0-4 took
# 4-13 s, steps 5-13 1.5-2.6 s), hence four warm-up steps.
PROBE_WARMUP_STEPS = 4
PROBE_STEPS = 6


@dataclass
class TrainResult:
    """What `train` produced: the output folder, the task's best validation score (a
    fraction; ``best_key`` names it) and the epoch it came from, per-epoch metrics and the
    summary. ``best_val_top1`` / ``best_val_miou`` / ``best_val_map`` read the score by name."""

    out_dir: Path
    best_key: str
    best_score: float
    best_epoch: int
    epochs: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def _score(self, key: str) -> float:
        if key != self.best_key:
            raise AttributeError(f"this run's best score is {self.best_key}, not {key}")
        return self.best_score

    @property
    def best_val_top1(self) -> float:
        return self._score("val_top1")

    @property
    def best_val_miou(self) -> float:
        return self._score("val_miou")

    @property
    def best_val_map(self) -> float:
        return self._score("val_map")

    @property
    def best_checkpoint(self) -> Path:
        return self.out_dir / FILES["best"]

    @property
    def last_checkpoint(self) -> Path:
        return self.out_dir / FILES["last"]


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------


def build_model(
    name: str,
    num_classes: int,
    in_channels: int | None = None,
    *,
    weights: str | None = None,
    dropout: float | None = None,
    bn_momentum: float | None = None,
    **options: Any,
) -> nn.Module:
    """The registered model ``name`` for ``num_classes`` classes; with ``weights`` (a checkpoint
    path or a registered weights name) the factory loads them and replaces the head when the
    class count differs. ``options`` go to the factory as they are (a task's own model options)."""
    from lucid.models.registry import get_model_factory

    factory = get_model_factory(name)
    kwargs: dict[str, Any] = {"num_classes": num_classes, **options}
    if in_channels is not None:
        kwargs["in_channels"] = in_channels
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


# An epoch should have at least this many optimizer steps; smaller training sets get a smaller batch.
MIN_STEPS_PER_EPOCH = 10


@dataclass
class _Loaders:
    train: DataLoader
    val: DataLoader
    sampler: DistributedSampler
    generator: torch.Generator
    batch_size: int = 0  # the training batch in use (the guard may shrink --batch-size)
    requested: int = 0  # the batch asked for: --batch-size, else the data's, else the default
    notes: list[str] = field(default_factory=list)
    path: str = ""  # how batches reach the model, for the "training:" line


def _fit_batch(per_rank: int, batch_size: int, chosen: bool = False) -> tuple[int, str | None]:
    """The batch size to use and a warning when ``batch_size`` leaves an epoch with fewer than
    `MIN_STEPS_PER_EPOCH` steps (or exceeds the training set): with 40 images and batch
    64, one step per epoch keeps a model at chance, so the batch shrinks to give ~10 steps.

    A ``chosen`` batch (``--batch-size`` other than the task's default) that the set holds is
    kept, with the warning, as peers keep it: shrinking it took away the only way to train a
    small set in batches BatchNorm can normalise by (docs/training.md, *Small data*)."""
    if per_rank // batch_size >= MIN_STEPS_PER_EPOCH:
        return batch_size, None
    fitted = max(2, min(batch_size, per_rank // MIN_STEPS_PER_EPOCH))
    if batch_size > per_rank:
        why = f"--batch-size {batch_size} is larger than the {per_rank} training images"
    else:
        why = f"--batch-size {batch_size} gives {per_rank // batch_size} step(s) per epoch on {per_rank} images"
        fitted = batch_size if chosen else fitted
    if fitted == batch_size:
        return batch_size, f"warning: {why}; too few steps per epoch to learn well (add data or epochs)"
    return fitted, (
        f"warning: {why}; using batch {fitted} ({per_rank // fitted} steps per epoch) instead "
        "(the learning rate scales with it unless --lr is given)"
    )


def _loader_workers(data: TaskData, requested: int | None, device: torch.device, notes: list[str]) -> int:
    """The loader workers of a run: ``requested`` (``--workers``), else `lucid.data.default_workers`
    for sets read or augmented image by image, 0 for sets augmented a batch at a time in this
    process. Each choice is said in ``notes``."""
    if data.batched and requested:
        # The set augments a whole batch at a time in this process (decoded in memory); workers
        # would only copy the decoded set into every worker.
        notes.append(f"--workers {requested} ignored: the images are decoded in memory and augmented per batch here")
        return 0
    if (data.streaming or data.decoded) and requested is None:
        # On an accelerator, decoding or augmenting image by image in the training process would
        # starve it; on the CPU, workers get only the cores the training threads leave free.
        workers = default_workers(torch.get_num_threads() if device.type == "cpu" else 0)
        work = "augmenting decoded images" if data.decoded else "streaming images from disk"
        if workers:
            notes.append(f"{work} through {workers} loader workers (--workers N changes it)")
        else:
            notes.append(
                f"{work} in the training process: its {torch.get_num_threads()} threads use "
                "the cores loader workers would need (--workers N changes it)"
            )
        return workers
    return requested or 0


def _data_path(data: TaskData, workers: int, pin_memory: bool) -> str:
    """The data path of a run, as its "training:" line names it."""
    pinned = ", pinned memory" if pin_memory else ""
    if data.batched:
        on_device = data.device is not None and data.device.type != "cpu"
        where = f"on {data.device}" if on_device else "in memory"
        return f"data decoded once and kept {where}, augmented a batch at a time"
    if data.decoded:
        where = f"{workers} loader workers" if workers else "the training process"
        return f"data decoded once and kept in memory, augmented per image in {where}" + pinned
    if workers:
        return f"data streamed from disk through {workers} loader workers" + pinned
    return "data read in the training process"


def _loaders(data: TaskData, config: RunConfig, ctx: dist_utils.DistContext) -> _Loaders:
    """Shuffled, sharded training batches and a disjoint validation shard per process.

    DistributedSampler drives the shuffling even in one process: its permutation depends only on
    (seed, epoch), which makes epochs reproducible after a resume. ``drop_last`` there keeps the
    ranks' shards disjoint (no padding with repeated samples). A set augmented image by image
    draws each image's augmentation from (seed, epoch, index) (`lucid.data.SeededItems`), so
    its loader workers live for the whole run (as timm's and Ultralytics' do) instead of being
    started again each epoch, and any number of them draws the same batches.
    """
    train_ds, val_ds = data.train, data.val
    sampler: DistributedSampler[Any] = DistributedSampler(
        train_ds, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed, drop_last=ctx.distributed
    )
    per_rank = len(sampler)
    if per_rank < 2:
        raise ValueError(
            f"each process needs at least 2 training images per epoch; got {per_rank} "
            f"(dataset {dataset_size(train_ds)}, {ctx.world_size} processes)"
        )
    requested = config.batch_size or data.batch_size or config.default_batch_size()
    batch_size, warning = _fit_batch(per_rank, requested, chosen=config.batch_size_chosen)
    notes = [warning] if warning else []
    workers = _loader_workers(data, config.workers, ctx.device, notes)
    context, context_note = worker_context(workers)
    if context_note:
        notes.append(context_note)
    generator = torch.Generator()
    on_device = data.device is not None and data.device.type != "cpu"
    pin_memory = ctx.device.type == "cuda" and not on_device  # tensors already on the GPU cannot be pinned
    path = _data_path(data, workers, pin_memory)
    # Both loaders' workers start once for the run (persistent), from ``context``.
    process: dict[str, Any] = {"num_workers": workers, "multiprocessing_context": context, "pin_memory": pin_memory}
    process["persistent_workers"] = workers > 0
    # A batched set draws its augmentation in this process, a batch at a time (``__getitems__``).
    keyed = not data.batched
    train = DataLoader(
        SeededItems(train_ds, config.seed) if keyed else train_ds,
        batch_size=batch_size,
        sampler=EpochItems(sampler) if keyed else sampler,
        drop_last=per_rank >= batch_size,  # a last batch of 1 would break BatchNorm
        generator=generator,
        collate_fn=data.train_collate,
        **process,
    )
    shard = Subset(val_ds, list(range(ctx.rank, dataset_size(val_ds), ctx.world_size)))
    val = DataLoader(
        shard,
        batch_size=data.val_batch_size or max(2 * requested, 128),
        shuffle=False,
        # Its own generator: torch draws each new iterator's worker seed from it, which would
        # otherwise come from the global stream (dropout's) once per validation without
        # persistent workers and once per run with them, making the run depend on the worker count.
        generator=torch.Generator(),
        collate_fn=data.val_collate,
        **process,
    )
    return _Loaders(train, val, sampler, generator, batch_size, requested, notes, path)


@contextlib.contextmanager
def _child_signal_restored() -> Iterator[None]:
    """The process's SIGCHLD handler as it was before the run, afterwards.

    torch's DataLoader installs a Python SIGCHLD handler the first time it starts workers and
    leaves it for the life of the process; every later child's exit then runs a handler on the
    main thread. In a long process that has also loaded native runtimes, that delivery killed the
    process (SIGSEGV while it waited for an unrelated child). The run's loaders are gone when it
    ends, so their handler goes too (a later DataLoader still notices dead workers by polling).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGCHLD)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGCHLD, before if before is not None else signal.SIG_DFL)


def _start_epoch(loaders: _Loaders, config: RunConfig, epoch: int, rank: int) -> None:
    """The epoch's shuffle (and its items' seeds, `lucid.data.EpochItems`), and the loader's
    generator, from which torch seeds workers the first time they start."""
    loaders.sampler.set_epoch(epoch)
    loaders.generator.manual_seed(config.seed * 1_000_003 + epoch * 1_009 + rank)


# --------------------------------------------------------------------------------------------
# one epoch
# --------------------------------------------------------------------------------------------


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast on ``device`` to ``precision`` (``bf16`` or ``fp16``); nothing for ``fp32``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def resolve_precision(config: RunConfig, device: torch.device) -> str:
    """The precision a run trains in: ``--precision``, ``--amp`` (bf16), or by device: bf16 autocast
    on CUDA (fp16 with a gradient scaler on GPUs without bf16), fp32 on the CPU and MPS (bf16
    autocast in eager mode measured slower than fp32 on CPUs, docs/training.md)."""
    precision = config.precision
    if precision == "auto":
        precision = "bf16" if config.amp or device.type == "cuda" else "fp32"
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp16"  # the GPU has no bfloat16: float16 with a gradient scaler
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"--precision fp16 needs a CUDA device (its gradient scaler); this run is on {device}")
    return precision


@dataclass
class _Run:
    """Everything the loop touches, built once."""

    config: RunConfig
    ctx: dist_utils.DistContext
    task: Task
    model: nn.Module  # the plain model
    net: nn.Module  # what the loop calls: the model or its DDP wrapper
    ema: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loaders: _Loaders
    data: TaskData
    precision: str  # fp32, bf16 or fp16 (autocast; fp16 with the gradient scaler)
    out_dir: Path
    scaler: Any = None  # torch.amp.GradScaler for fp16
    clock: BudgetClock | None = None  # with --time-budget: the run's clock and hard deadline
    plan: BudgetPlan | None = None  # with --time-budget: the fitted plan
    # With a test-time augmentation: the scored weights of the best epoch so far (``best_epoch``),
    # scored once more under it when the run ends (`_score_best`).
    best_weights: dict[str, torch.Tensor] | None = None
    best_epoch: int = 0
    val_seconds: float | None = None  # the last one-pass validation of the scored model


def _progress(loader: DataLoader, run: _Run, epoch: int) -> Any:
    from tqdm.auto import tqdm

    show = run.config.progress and run.ctx.is_main
    return tqdm(
        loader,
        desc=f"epoch {epoch}/{run.config.epochs}",
        unit="batch",
        leave=False,
        disable=not show,
        dynamic_ncols=True,
        file=sys.stderr,
    )


def _forward(run: _Run, batch: Any) -> tuple[torch.Tensor, Any, Any, int]:
    """The training loss, the task's outputs, the targets (on the device) and the image count of one batch."""
    images, targets = run.task.to_device(batch, run.ctx.device, run.config.channels_last)
    with autocast(run.ctx.device, run.precision):
        loss, outputs = run.task.train_step(run.net, images, targets)
    return loss, outputs, targets, int(images.shape[0])


def _optimise(run: _Run, loss: torch.Tensor, *, schedule: bool = True) -> None:
    """One optimizer step (and schedule step, and EMA update) from ``loss``."""
    run.optimizer.zero_grad(set_to_none=True)
    if run.scaler is not None:  # fp16: scale the loss so small gradients survive, unscale before the step
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        loss.backward()
        run.optimizer.step()
    if schedule:
        run.scheduler.step()
    if run.ema is not None:
        run.ema.update_parameters(run.model)


def _closing_seconds(run: _Run) -> float:
    """With a time budget: the seconds to keep for validating and saving a cut-short epoch, and
    for scoring the best checkpoint under the run's test-time augmentation."""
    return run.plan.validate + run.plan.save + run.plan.closing if run.plan is not None else 0.0


@contextlib.contextmanager
def epoch_bn_statistics(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """While training one epoch, make every BatchNorm layer's running statistics the plain
    average of this epoch's batches (restarted, ``momentum=None``); the layers' momenta come back
    afterwards.

    Why: a detector trained from scratch with AdamW changes its weights so fast in its first
    hundreds of steps that a running average with BN momentum 0.03 describes weights long gone,
    and in eval mode it then predicts the same boxes for every photo. Averaging over the last
    epoch only follows the weights without any extra forward pass ("precise BN" would need one)."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if enabled else []
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
    try:
        yield
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum


def _train_epoch(run: _Run, epoch: int) -> dict[str, Any]:
    """One epoch of training; with a time budget it stops early (``stopped_at_step``) when the
    budget's hard limit comes near, so that what was trained can still be validated and saved."""
    with epoch_bn_statistics(run.model, run.task.epoch_bn_statistics):
        return _train_steps(run, epoch)


def _train_steps(run: _Run, epoch: int) -> dict[str, Any]:
    run.net.train()
    meter, start, stopped_at = run.task.new_meter(), time.perf_counter(), None
    # The limit is checked once a step: keep one more step's time (the last one measured) in hand.
    step_seconds, mark = (run.plan.step if run.plan is not None else 0.0), start
    bar = _progress(run.loaders.train, run, epoch)
    for step, batch in enumerate(bar, 1):
        loss, outputs, targets, images = _forward(run, batch)
        late = run.clock is not None and run.clock.hard_deadline_passed(_closing_seconds(run) + step_seconds)
        diverged, late = dist_utils.any_flags([not bool(torch.isfinite(loss)), late], run.ctx)
        if diverged:
            bar.close()
            raise TrainingDiverged(f"the loss became {float(loss.detach())} at epoch {epoch}, step {step}")
        if late:
            stopped_at = step
            break
        _optimise(run, loss)
        step_seconds, mark = time.perf_counter() - mark, time.perf_counter()
        meter.add(loss, outputs, targets, images)
        rate = meter.count * run.ctx.world_size / max(time.perf_counter() - start, 1e-9)
        bar.set_postfix(**run.task.bar_fields(meter.means()), img_s=f"{rate:.0f}", refresh=False)
    bar.close()
    meter.reduce(run.ctx.device)
    return {**meter.means(), "images": meter.count, "stopped_at_step": stopped_at}


@torch.no_grad()
def _validate(run: _Run, model: nn.Module, tta: str = "none") -> dict[str, Any]:
    """The task's validation scores of ``model`` under the test-time augmentation ``tta``
    (``finite``: whether every output and the loss were finite, on every process). Every process
    validates with rank 0's BatchNorm statistics, those of the checkpoint it saves.

    Validation runs in float32 even when training runs under autocast: ``lucid eval``, ``lucid
    predict`` and every export run the model in float32, so the scores a run records are the ones
    they repeat exactly (bf16 moves the scores a little: docs/detection.md has the figures)."""
    dist_utils.broadcast_buffers(model, run.ctx)
    model.eval()
    loader, device = run.loaders.val, run.ctx.device
    scores = dict(run.task.validate(model, loader, device, run.config.channels_last, tta=tta))
    finite = bool(scores.get("finite", True)) and bool(np.isfinite(scores["loss"]))
    scores["finite"] = not dist_utils.any_true(not finite, run.ctx)
    return scores


def _run_epoch(run: _Run, epoch: int) -> dict[str, Any]:
    start = time.perf_counter()
    lr = run.optimizer.param_groups[0]["lr"]
    train = _train_epoch(run, epoch)
    train_seconds = time.perf_counter() - start
    scored = _scored_model(run)
    validating = time.perf_counter()
    val = _validate(run, scored)  # one pass: the run's test-time augmentation scores the best epoch at the end
    run.val_seconds = time.perf_counter() - validating
    key = run.task.best_key
    record = {
        "epoch": epoch,
        **run.task.epoch_record(train, val),
        "lr": lr,
        "lr_end": run.optimizer.param_groups[0]["lr"],
    }
    finite = val["finite"]
    if run.ema is not None:
        raw = _validate(run, run.model)
        record.update({f"{key}_raw": raw[key], "val_loss_raw": raw["loss"]})
        finite = finite and raw["finite"]
    if not finite:
        raise TrainingDiverged(
            f"validation after epoch {epoch} gave non-finite outputs (val CE {val['loss']}), so epoch {epoch} "
            "was not saved"
        )
    record["seconds"] = time.perf_counter() - start
    record["train_images_per_second"] = train["images"] / max(train_seconds, 1e-9)
    if train["stopped_at_step"] is not None:
        record["stopped_at_step"] = train["stopped_at_step"]  # cut short by the time budget
    return record


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def _scored_model(run: _Run) -> nn.Module:
    """The model a run validates and saves: the EMA when kept, else the trained model."""
    return run.ema.module if run.ema is not None else run.model


def _save_model(
    run: _Run, path: Path, record: dict[str, Any], model: nn.Module | None = None, scores_tta: str = "none"
) -> None:
    """``model`` (default: the scored model) with the task's metadata and ``record``'s scores
    (measured under ``scores_tta``), the epoch and the run's config."""
    from lucid.checkpoint import save

    saved: Any = model if model is not None else _scored_model(run)
    pretrained_cfg, extra = run.task.checkpoint_metadata(saved, record)
    saved.pretrained_cfg = pretrained_cfg
    extra = {
        **extra,
        "task": run.task.name,
        "epoch": record["epoch"],
        "ema": run.ema is not None,
        "tta": run.task.tta(),  # lucid eval / predict use it
        "scores_tta": scores_tta,  # the epochs' scores are one pass; the best's final ones under "tta"
        "train_config": run.config.to_dict(),
    }
    save(saved, path, extra=extra)


def _train_state(
    run: _Run, epoch: int, best: dict[str, Any], history: list[dict[str, Any]], seconds: float, rngs: list[Any]
) -> dict[str, Any]:
    return training_state(
        epoch=epoch,
        best=best,
        history=history,
        seconds=seconds,
        config=run.config.to_dict(),
        world_size=run.ctx.world_size,
        model=run.model,
        optimizer=run.optimizer,
        scheduler=run.scheduler,
        rngs=rngs,
        ema=run.ema.state_dict() if run.ema is not None else None,
        plan=run.plan.to_dict() if run.plan is not None else None,  # --time-budget
        task=run.task.name,
        scaler=run.scaler.state_dict() if run.scaler is not None else None,  # fp16
    )


def _summary(
    run: _Run, history: list[dict[str, Any]], best: dict[str, Any], seconds: float, status: str, extra: dict[str, Any]
) -> dict[str, Any]:
    model = run.model
    config = getattr(model, "config", None)
    return {
        "task": run.task.name,
        "status": status,
        **run.task.summary_fields(best, history),
        "best_epoch": best["epoch"],
        "tta": run.task.tta(),  # what best_<score> was measured under (the epochs' scores are one pass)
        "epochs": len(history),
        "epochs_planned": run.config.epochs,
        "seconds": seconds,
        "model": {
            "name": getattr(model, "model_name", run.config.model),
            "config": config.to_dict() if config is not None and hasattr(config, "to_dict") else None,
            "parameters": sum(p.numel() for p in model.parameters()),
            "weights": run.config.weights,
            "ema": run.ema is not None,
        },
        "data": run.task.info.to_dict(),
        "split": getattr(run.task.info, "split", None) or None,
        "config": run.config.to_dict(),
        "batch_size": run.loaders.batch_size,  # in use: the guard may shrink --batch-size
        "device": str(run.ctx.device),
        "deterministic": resolve_deterministic(run.config, run.ctx.device),  # the kernels in use
        "world_size": run.ctx.world_size,
        "torch_threads": torch.get_num_threads(),
        "versions": _versions(),
        "files": {k: str(run.out_dir / v) for k, v in FILES.items()},
        "time_budget": run.plan.to_dict() if run.plan is not None else None,
        **extra,
    }


def _versions() -> dict[str, str]:
    import torchvision

    import lucid

    return {"lucid": lucid.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__}


def _commit(
    run: _Run,
    record: dict[str, Any],
    history: list[dict[str, Any]],
    best: dict[str, Any],
    previous_best: dict[str, Any],
    seconds: float,
    extra: dict[str, Any],
    rngs: list[Any],
) -> None:
    """Rank 0 writes the epoch's files (`lucid.train.run_folder.commit_epoch`); a failed
    write records in summary.json the epochs before this one."""

    def summary(status: str, error: str | None) -> dict[str, Any]:
        if error is None:
            return _summary(run, history, best, seconds, status, extra)
        return _summary(run, history[:-1], previous_best, seconds, status, {**extra, "error": error})

    commit_epoch(
        run.out_dir,
        record,
        history,
        is_best=best["epoch"] == record["epoch"],
        save_model=lambda path: _save_model(run, path, record),
        state=lambda: _train_state(run, record["epoch"], best, history, seconds, rngs),
        summary=summary,
        title=_title(run),
        labels=_labels(run),
    )


def _title(run: _Run) -> str:
    return run.task.title(getattr(run.model, "model_name", run.config.model))


def _labels(run: _Run) -> dict[str, str]:
    """The curves' axis labels of the run's task."""
    return {"loss_label": run.task.loss_label, "score_label": run.task.metric_label}


# --------------------------------------------------------------------------------------------
# set-up and resume
# --------------------------------------------------------------------------------------------


def _resume_config(config: RunConfig) -> tuple[RunConfig, dict[str, Any]]:
    """The saved run's config (with allowed overrides) and its checked training state; a run of
    another task than ``config``'s is refused by name."""
    if config.resume is None:
        raise ValueError("_resume_config needs a config with resume set")
    task = get_task(config.task)
    folder = Path(config.resume).expanduser()
    recorded = recorded_task(folder)
    if recorded is not None and recorded != task.name:
        raise RunFolderError(
            f"--resume {folder} is a {recorded} run, not a {task.name} run; resume it with --task {recorded}"
        )
    folder, state = resume_state(config.resume, task.best_key)
    file = folder / FILES["state"]
    try:
        # A run saved before its config had ``tta`` validated in one pass: it resumes as it began.
        recorded_config = {"tta": "none", **state["config"]}
        saved = type(config).from_dict({**recorded_config, "out": str(folder), "resume": None})
    except (TypeError, ValueError) as exc:
        raise TrainStateError(f"{file}: the saved training config is not valid ({exc})") from None
    if saved.time_budget is not None and not isinstance(state.get("plan"), dict):
        raise TrainStateError(f"{file}: a --time-budget run without its recorded plan (tampered?)")
    merged = config.merged_for_resume(saved)
    if merged.epochs < state["epoch"]:
        raise ValueError(
            f"--epochs {merged.epochs} is fewer than the {state['epoch']} epochs the run already completed"
        )
    return merged, state


def _restore(run: _Run, state: dict[str, Any], steps_per_epoch: int) -> None:
    """Load model, optimizer, EMA, scheduler and RNG states from a training state."""
    from lucid.checkpoint import check_state_dict

    file = run.out_dir / FILES["state"]
    check_state_dict(run.model, state["model"], source=str(file))
    try:
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        if run.ema is not None:
            run.ema.load_state_dict(state["ema"])
        if run.scaler is not None and state.get("scaler"):
            run.scaler.load_state_dict(state["scaler"])
        if type(run.config).from_dict(state["config"]).epochs == run.config.epochs:
            run.scheduler.load_state_dict(state["scheduler"])
        else:
            # A longer (or shorter) run has a different schedule: rebuild it and replay the steps done.
            _reschedule(run, state["epoch"] * steps_per_epoch)
    except (KeyError, ValueError, TypeError, RuntimeError, AttributeError) as exc:
        raise TrainStateError(
            f"{file}: the saved optimizer, EMA or schedule state does not fit this run ({exc})"
        ) from None
    rngs = state["rng"]
    if len(rngs) == run.ctx.world_size:
        set_rng_state(rngs[run.ctx.rank])


def _seed_everything(seed: int, rank: int) -> None:
    random.seed(seed + rank)
    np.random.seed(seed + rank)
    torch.manual_seed(seed + rank)


def resolve_deterministic(config: RunConfig, device: torch.device) -> bool:
    """Whether a run uses deterministic kernels: ``--deterministic``/``--no-deterministic``, else by
    device: on for the CPU, where they cost little once torch's NaN fill is off (measured in
    docs/training.md), and off on a GPU, as timm's ``train.py`` and Lightning default: cuDNN's
    deterministic convolution algorithms exclude its fastest ones, and a GPU run with them on
    trained at a small fraction of its speed (docs/training.md, *On a GPU*)."""
    if config.deterministic is not None:
        return config.deterministic
    return device.type == "cpu"


@contextlib.contextmanager
def _size_one_strides_unwarned() -> Iterator[None]:
    """No "Grad strides do not match bucket view strides" warning from DDP for weights with a
    single input channel (the depthwise kernels), the caller's warning filters restored afterwards.

    In channels-last, such a ``(C, 1, k, k)`` weight has strides ``(k*k, 1, k, 1)``, and the
    gradient of a `ReachableTapsConv2d`'s cut kernel comes back as ``(k*k, k*k, k, 1)``: the same
    memory order, since a dimension of size 1 is never stepped along. DDP compares the strides
    anyway and warns, once per process, that performance may suffer; the copy into its bucket is
    the same either way. The filter matches those shapes only, so any other mismatch still warns."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Grad strides do not match bucket view strides(?s:.)*grad\.sizes\(\) = \[\d+, 1, "
        )
        yield


@contextlib.contextmanager
def kernels(deterministic: bool, device: torch.device) -> Iterator[None]:
    """The run's kernel choice, the caller's settings restored afterwards.

    Deterministic: ``torch.use_deterministic_algorithms`` (warn-only: a kernel without a
    deterministic form still runs), without filling new tensors. With deterministic algorithms on,
    torch also fills every ``torch.empty`` result with NaN
    (``torch.utils.deterministic.fill_uninitialized_memory``), so that a kernel which wrongly reads
    memory it never wrote gives the same wrong result each time. None of the training step's
    kernels does (a test trains each task with and without the fills and gets the same numbers),
    and the fills took a large share of a CPU training step (profiled in docs/training.md).

    Not deterministic, on CUDA: ``cudnn.benchmark`` times cuDNN's algorithms for each new shape
    and keeps the fastest, as timm's ``train.py`` does.
    """
    flags: Any = torch.utils.deterministic  # torch's stubs do not declare the attribute
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    fill_before = flags.fill_uninitialized_memory
    benchmark_before = torch.backends.cudnn.benchmark
    if deterministic:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        flags.fill_uninitialized_memory = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)
        flags.fill_uninitialized_memory = fill_before
        torch.backends.cudnn.benchmark = benchmark_before


def _build_run(config: RunConfig, ctx: dist_utils.DistContext, task: Task, out_dir: Path) -> _Run:
    from lucid.models import use_reachable_taps

    data = task.build_data(ctx.rank, ctx.world_size)
    for note in getattr(data.info, "notes", ()):
        _say(ctx, note)
    model = task.build_model(data)
    model.to(ctx.device)
    use_reachable_taps(model)  # the same results, faster steps on tiny maps (see its docstring)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    task.prepare(data, ctx.device)
    net: nn.Module = model
    if ctx.distributed:
        device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    loaders = _loaders(data, config, ctx)
    for note in loaders.notes:
        _say(ctx, note)
    lr = config.learning_rate_for(loaders.requested)
    if config.lr is None and loaders.batch_size != loaders.requested:
        lr *= loaders.batch_size / loaders.requested  # linear scaling with the shrunken batch
    optimizer = build_optimizer(model, config.opt, lr, config.decay, config.momentum)
    scheduler = _scheduler(optimizer, config, len(loaders.train))
    ema = build_ema(model, config.ema_decay) if config.ema else None
    precision = resolve_precision(config, ctx.device)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    run = _Run(
        config, ctx, task, model, net, ema, optimizer, scheduler, loaders, data, precision, out_dir, scaler=scaler
    )
    return run


def _scheduler(optimizer: torch.optim.Optimizer, config: RunConfig, steps_per_epoch: int) -> Any:
    return build_scheduler(
        optimizer,
        config.sched,
        epochs=config.total_epochs,
        steps_per_epoch=steps_per_epoch,
        warmup_epochs=config.warmup_epochs,
        step_size=config.step_size,
        gamma=config.step_gamma,
    )


def _reschedule(run: _Run, steps_done: int) -> None:
    """Rebuild the schedule for ``run.config`` (a new epoch count) from the initial rates and
    replay the ``steps_done`` steps already taken."""
    for group in run.optimizer.param_groups:
        group["lr"] = group["initial_lr"]
    run.scheduler = _scheduler(run.optimizer, run.config, len(run.loaders.train))
    with warnings.catch_warnings():
        # Replaying the schedule without optimizer steps is the point here, not a mistake.
        warnings.filterwarnings("ignore", message=".*lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)")
        for _ in range(steps_done):
            run.scheduler.step()


def _set_epochs(run: _Run, epochs: int, steps_done: int, *, warmup_fraction: float | None = None) -> None:
    """Change the run's epoch count (a time-budget fit) and rebuild its schedule to span it."""
    warmup = min(run.config.warmup_epochs, float(epochs))
    if warmup_fraction is not None:
        warmup = min(warmup, warmup_fraction * epochs)
    run.config = run.config.replace(epochs=epochs, warmup_epochs=warmup)
    _reschedule(run, steps_done)


# --------------------------------------------------------------------------------------------
# --time-budget
# --------------------------------------------------------------------------------------------


def _cycle(loader: DataLoader) -> Iterator[Any]:
    while True:
        yield from loader


@torch.no_grad()
def _time_validation(run: _Run) -> float:
    """Seconds one validation pass of one model takes: the second of two batches (the first warms
    up), times the batch count."""
    model = _scored_model(run)
    model.eval()
    times = []
    for batch in run.loaders.val:
        images, _ = run.task.to_device(batch, run.ctx.device, run.config.channels_last)
        start = time.perf_counter()
        _synchronise(model(images))  # in float32, as `_validate` runs
        times.append(time.perf_counter() - start)
        if len(times) == 2:
            break
    return times[-1] * len(run.loaders.val)


def _time_saving(run: _Run) -> float:
    """Seconds one epoch's files take, from one checkpoint save and one plot into a temporary
    folder: last + best + the training state (about twice a checkpoint) + the curves."""
    import tempfile

    record = {"epoch": 0, "train_loss": 1.0, "val_loss": 1.0, run.task.best_key: 0.5}
    history = [record, {**record, "epoch": 1}]
    with tempfile.TemporaryDirectory(prefix="lucid-budget-") as tmp:
        times = []
        for _ in range(2):  # the first of each is cold (imports, caches): time the second
            start = time.perf_counter()
            _save_model(run, Path(tmp) / "probe.safetensors", record)
            middle = time.perf_counter()
            plot_curves(history, Path(tmp) / "curves.png", _title(run), **_labels(run))
            times = [middle - start, time.perf_counter() - middle]
    return 4 * times[0] + times[1]


def _probe(run: _Run) -> dict[str, float]:
    """Time training steps (data loading included), validation and saving, then put the model,
    optimizer, EMA and RNGs back as they were: the probe leaves no trace in the run."""
    import copy

    snapshot: dict[str, Any] = {
        "model": copy.deepcopy(run.model.state_dict()),
        "optimizer": copy.deepcopy(run.optimizer.state_dict()),
        "ema": copy.deepcopy(run.ema.state_dict()) if run.ema is not None else None,
        "rng": rng_state(),
    }
    run.net.train()
    batches, times, hopeless = _cycle(run.loaders.train), [], False
    for i in range(PROBE_WARMUP_STEPS + PROBE_STEPS):
        start = time.perf_counter()
        loss, _, _, _ = _forward(run, next(batches))
        _optimise(run, loss, schedule=False)
        took = time.perf_counter() - start
        if i >= PROBE_WARMUP_STEPS:
            times.append(took)
        # Stop probing once the budget cannot hold one epoch at this pace (two timed steps agree,
        # or the budget is spent): the fit then refuses.
        per_epoch = (statistics.median(times) if times else took) * len(run.loaders.train)
        hopeless = run.clock is not None and (
            run.clock.remaining() <= 0 or (len(times) >= 2 and run.clock.elapsed() + per_epoch > run.clock.seconds)
        )
        if dist_utils.any_true(hopeless, run.ctx):
            times = times or [took]
            break
    del batches
    one_pass = 0.0 if hopeless else _time_validation(run)
    save = _time_saving(run) if run.ctx.is_main and not hopeless else 0.0
    run.model.load_state_dict(snapshot["model"])
    run.optimizer.load_state_dict(snapshot["optimizer"])
    if run.ema is not None:
        run.ema.load_state_dict(snapshot["ema"])
    set_rng_state(snapshot["rng"])
    # The median: one step slowed by another process must not decide the plan (the refits after
    # each epoch correct a wrong estimate with whole measured epochs).
    return {
        "step": statistics.median(times),
        "validate": one_pass * (2 if run.ema is not None else 1),  # with EMA the raw weights are validated too
        "save": save,
        "closing": _final_scoring_seconds(run, one_pass, one_pass, save),
    }


def _final_scoring_seconds(run: _Run, validation: float, forward: float, save: float) -> float:
    """The seconds `_score_best` will take: nothing in one pass; with test-time flip one
    ``validation`` as an epoch's (loss, metrics and all), one more ``forward`` pass of the model
    over the validation set (the mirrors), and a checkpoint save (an epoch's saving, which is more).
    Doubling the whole validation overestimated detection's (its loss pass and COCO evaluation
    are not repeated)."""
    return 0.0 if run.task.tta() == "none" else validation + forward + save


def _plan_budget(run: _Run, clock: BudgetClock, state: dict[str, Any] | None) -> BudgetPlan:
    """A new run: probe, fit the epoch count to the budget and rebuild the schedule for it.
    A resumed run: the recorded plan, shortened if what is left of the budget is too short."""
    ctx = run.ctx
    if state is not None:
        try:
            plan = BudgetPlan.from_dict(state["plan"])
        except TypeError as exc:
            raise TrainStateError(f"{run.out_dir / FILES['state']}: damaged time-budget plan ({exc})") from None
        run.plan = plan
        _refit(run, plan, int(state["epoch"]), None)
        return plan
    setup = clock.elapsed()
    timings = _probe(run)
    fitted = dist_utils.on_main(
        ctx,
        lambda: BudgetPlan.fit(
            clock, cap=run.config.total_epochs, steps_per_epoch=len(run.loaders.train), setup=setup, **timings
        ),
    )
    plan = dist_utils.broadcast_object(fitted, ctx)
    run.plan = plan
    _set_epochs(run, plan.epochs, 0, warmup_fraction=WARMUP_FRACTION)
    return plan


def _refit(run: _Run, plan: BudgetPlan, done: int, epoch_seconds: float | None, *, may_grow: bool = False) -> None:
    """Check the plan against the measured epochs (rank 0 decides) and change the epoch count
    and schedule when the rest of the run would not fit the budget (or, after the first epoch,
    when more epochs fit)."""

    def decide() -> BudgetPlan:
        assert run.clock is not None
        seconds = (
            epoch_seconds
            if epoch_seconds is not None
            else (plan.measured_epochs[-1] if plan.measured_epochs else plan.epoch)
        )
        before = len(plan.measured_epochs)
        plan.refit(run.clock, done, seconds, may_grow=may_grow)
        if epoch_seconds is None:
            del plan.measured_epochs[before:]  # a check on resume, not a measurement
        return plan

    decided = dist_utils.broadcast_object(dist_utils.on_main(run.ctx, decide), run.ctx)
    run.plan = decided
    if decided.epochs != run.config.epochs and run.clock is not None:
        old = run.config.epochs
        _set_epochs(run, decided.epochs, done * len(run.loaders.train))
        per = decided.refits[-1]["seconds_per_epoch"] if decided.refits else decided.epoch
        _say(
            run.ctx,
            f"time budget: ~{per:.1f} s/epoch measured, {run.clock.remaining():.0f} s left -> "
            f"{decided.epochs} epochs (was {old})",
        )


def _synchronise(outputs: Any) -> None:
    """Wait for ``outputs`` (a tensor, or the lists/dicts of tensors a detector returns) to be computed."""
    if isinstance(outputs, torch.Tensor):
        outputs.float().sum().item()
    elif isinstance(outputs, dict):
        for value in outputs.values():
            _synchronise(value)
    elif isinstance(outputs, (list, tuple)):
        for value in outputs:
            _synchronise(value)


# --------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------


def _say(ctx: dist_utils.DistContext, message: str) -> None:
    if ctx.is_main:
        print(message, flush=True)


def _index_record(run: _Run, epoch: int) -> dict[str, Any]:
    """Every rank's sampler indices for ``epoch`` (the ``record_indices`` debug option)."""
    mine = list(iter(run.loaders.sampler))
    return {"epoch": epoch, "ranks": dist_utils.gather_objects(mine, run.ctx)}


def train(config: RunConfig | None = None, *, clock_start: float | None = None) -> TrainResult:
    """Train a model as ``config`` says and write everything into its output folder.

    The config's class picks the task: `TrainConfig` classification (``train()`` with the
    default config is ``lucid train``: mobilenet_v3_small on the embedded digits),
    ``lucid.segment.SegmentConfig`` segmentation, ``lucid.detect.DetectConfig`` detection.
    Under ``torchrun`` every process calls this and it trains with DDP;
    only rank 0 writes files. Raises `TrainingDiverged` on a NaN/inf loss (the last
    good checkpoint stays), ValueError/FileNotFoundError on bad settings or data, all before
    training starts.

    A ``time_budget`` counts from ``clock_start`` (a ``time.perf_counter()`` reading; default:
    this call), so data set-up is part of it; ``lucid train`` passes its process start.
    """
    started = time.perf_counter() if clock_start is None else float(clock_start)
    config = config if config is not None else TrainConfig()
    if not isinstance(config, RunConfig) or not config.task:
        raise TypeError(f"train() expects a task's config such as TrainConfig, got {type(config).__name__}")
    state = None
    if config.resume is not None:
        config, state = _resume_config(config)
    unpacked = None
    if config.data is not None:  # an archive (set.zip) is read as the folder it unpacks into, once
        folder, unpacked = data_folder(config.data)
        config = config.replace(data=folder)
    ctx = dist_utils.setup(config.device)
    if unpacked:
        _say(ctx, unpacked)
    threads = torch.get_num_threads()
    try:
        note = _choose_threads(config, ctx)
        with (
            kernels(resolve_deterministic(config, ctx.device), ctx.device),
            _child_signal_restored(),
            _size_one_strides_unwarned(),
        ):
            return _train(config, ctx, state, started, note)
    finally:
        torch.set_num_threads(threads)
        dist_utils.teardown(ctx)


def _choose_threads(config: RunConfig, ctx: dist_utils.DistContext) -> str | None:
    """``--threads`` when given; else, on the CPU, fewer threads when other processes keep cores busy
    (torch's OpenMP threads on taken cores slowed an epoch many-fold); returns the line that says
    so (printed with the run's set-up). A set ``OMP_NUM_THREADS`` is the user's choice."""
    if config.threads is not None:
        torch.set_num_threads(config.threads)
        return None
    if ctx.device.type != "cpu" or "OMP_NUM_THREADS" in os.environ or ctx.distributed:
        return None
    taken = busy_cores()
    if taken is None:
        return None
    cores = os.cpu_count() or 1
    free = max(1, cores - int(round(taken)))
    current = torch.get_num_threads()
    if free >= current:
        return None
    torch.set_num_threads(free)
    return (
        f"the machine is busy ({taken:.1f} of {cores} cores in use by other processes): training with {free} "
        f"thread{'s' if free != 1 else ''} instead of {current} (--threads N or OMP_NUM_THREADS chooses)"
    )


def busy_cores(window: float = 0.3) -> float | None:
    """How many cores other processes keep busy, measured from ``/proc/stat`` over ``window`` seconds
    while this process sleeps (None where there is no ``/proc``). The load average would count this
    process's own work too."""

    def busy_and_total() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = busy_and_total()
        time.sleep(window)
        busy1, total1 = busy_and_total()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (os.cpu_count() or 1) * (busy1 - busy0) / (total1 - total0)


def _train(
    config: RunConfig,
    ctx: dist_utils.DistContext,
    state: dict[str, Any] | None,
    started: float,
    note: str | None = None,
) -> TrainResult:
    """Claim the output folder (rank 0 creates, checks and locks it before any data is read),
    train, and release it; a folder created here and left empty by a failure is removed."""
    task = get_task(config.task)(config)
    task.check()  # settings the task refuses, before any folder is made
    choose = functools.partial(new_out_dir, config.model, task.data_name(), config.out)
    with claimed_run_folder(ctx, choose, resuming=state is not None) as out_dir:
        return _train_in(config, ctx, task, state, started, out_dir, note)


def _train_in(
    config: RunConfig,
    ctx: dist_utils.DistContext,
    task: Task,
    state: dict[str, Any] | None,
    started: float,
    out_dir: Path,
    note: str | None = None,
) -> TrainResult:
    _seed_everything(config.seed, ctx.rank)
    run = _build_run(config, ctx, task, out_dir)  # data and model errors surface here, before any file is written
    key = task.best_key
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {key: -1.0, "epoch": 0}
    spent, start_epoch, extra = 0.0, 0, {}
    if state is not None:
        history, best, spent, start_epoch = _resumed(run, state, out_dir)

    def elapsed() -> float:
        return spent + time.perf_counter() - started

    if config.time_budget is not None:
        run.clock = BudgetClock(config.time_budget, started=started, spent_before=spent)
        _plan_budget(run, run.clock, state)
    _announce(run, start_epoch)
    if note:
        _say(ctx, note)
    if run.plan is not None and state is None:
        _say(ctx, run.plan.describe())
    epoch, stopped = start_epoch, None
    while epoch < run.config.total_epochs:
        epoch += 1
        _start_epoch(run.loaders, run.config, epoch, ctx.rank)
        if config.record_indices:
            extra["sampler_indices"] = _index_record(run, epoch)
        try:
            record = _run_epoch(run, epoch)
        except TrainingDiverged as exc:
            _diverged(run, exc, history, best, elapsed(), extra)
        cut_short = "stopped_at_step" in record
        if run.plan is not None and not cut_short:
            _replan(run, run.plan, epoch, record["seconds"], may_grow=state is None and epoch == 1)
        history.append(record)
        previous_best = best
        if record[key] > best[key]:
            best = {key: record[key], "epoch": epoch}
            _keep_best_weights(run, epoch)
        rngs = dist_utils.gather_objects(rng_state(), ctx)  # every rank's, so a resumed DDP run continues exactly
        saving = time.perf_counter()
        commit = functools.partial(_commit, run, record, history, best, previous_best, elapsed(), extra, rngs)
        dist_utils.on_main(ctx, commit)
        if run.plan is not None:
            run.plan.save = time.perf_counter() - saving  # the measured cost, for the next refit
        _say(ctx, task.epoch_line(record, run.config.total_epochs))
        if cut_short:
            stopped = _cut_short(run, record)
            break
    best = _score_best(run, history, best)
    seconds = elapsed()
    summary = _summary(run, history, best, seconds, "finished", {**extra, "stopped": stopped} if stopped else extra)

    def finish() -> None:
        finish_run(out_dir, summary, history, _title(run), _labels(run))
        _farewell(run, best, seconds)

    dist_utils.on_main(ctx, finish)
    return TrainResult(out_dir, key, best[key], best["epoch"], len(history), seconds, history, summary)


def _resumed(
    run: _Run, state: dict[str, Any], out_dir: Path
) -> tuple[list[dict[str, Any]], dict[str, Any], float, int]:
    """Restore ``run`` from its training ``state`` (model, optimizer, schedule, random streams)
    and return its history, best epoch, seconds spent and last completed epoch. metrics.jsonl is
    rewritten from the state's history, so epochs after the last completed one leave no line."""
    ctx = run.ctx
    _restore(run, state, len(run.loaders.train))
    gone = [FILES[k] for k in ("best", "last") if not (out_dir / FILES[k]).exists()]
    if gone:
        _say(ctx, f"note: {' and '.join(gone)} of {out_dir} are missing; the run goes on from its training state")
    history = list(state["history"])
    dist_utils.on_main(ctx, lambda: rewrite_metrics(out_dir, history))
    return history, dict(state["best"]), float(state["seconds"]), int(state["epoch"])


def _replan(run: _Run, plan: BudgetPlan, epoch: int, seconds: float, *, may_grow: bool) -> None:
    """After an epoch of a time-budget run: re-estimate the seconds the final scoring needs
    (``plan.closing``) and refit the epoch count to the epoch's measured ``seconds`` plus its save."""
    forward = plan.validate / (2 if run.ema is not None else 1)  # the probe's, of one model
    plan.closing = _final_scoring_seconds(run, run.val_seconds or forward, forward, plan.save)
    _refit(run, plan, epoch, seconds + plan.save, may_grow=may_grow)


def _keep_best_weights(run: _Run, epoch: int) -> None:
    """Copy the scored weights of a new best epoch (on their device) for `_score_best`; nothing
    when the run scores in one pass."""
    if run.task.tta() == "none":
        return
    run.best_weights = {k: v.detach().clone() for k, v in _scored_model(run).state_dict().items()}
    run.best_epoch = epoch


def _best_model(run: _Run, epoch: int) -> nn.Module | None:
    """A copy of the scored model holding the weights of ``epoch``, the best: those kept in memory,
    else (a resumed run whose best came before the resume) read from best.safetensors; None when
    that file is gone or does not hold that epoch."""
    import copy

    from lucid.checkpoint import CheckpointError, check_state_dict, load, read_metadata

    weights = run.best_weights if run.best_epoch == epoch else None
    file = run.out_dir / FILES["best"]
    if weights is None:
        try:
            if (read_metadata(file).get("extra") or {}).get("epoch") != epoch:
                return None
            weights = load(file, map_location=run.ctx.device)
            check_state_dict(_scored_model(run), weights, source=str(file))
        except (CheckpointError, OSError):
            return None
    model = copy.deepcopy(_scored_model(run))
    model.load_state_dict(weights)
    return model


def _score_best(run: _Run, history: list[dict[str, Any]], best: dict[str, Any]) -> dict[str, Any]:
    """With a test-time augmentation (``--tta flip``): the best epoch's weights scored under it,
    once, when the run ends; those scores become the run's result and are written into
    best.safetensors, so ``lucid eval`` of it repeats them. ``best`` as it was in one pass.

    Why once: the epochs are validated in one pass, as timm and Ultralytics validate. A second
    pass every epoch cost a time-budget run epochs, and one-pass scores picked a best epoch as
    good as flip scores did (docs/training.md, *Test-time flip*)."""
    tta = run.task.tta()
    if tta == "none" or not history or best["epoch"] < 1:
        return best
    epoch = int(best["epoch"])
    model = _best_model(run, epoch)
    if model is None:
        _say(
            run.ctx,
            f"note: {run.out_dir / FILES['best']} is missing or not epoch {epoch}'s, so the run's "
            f"result is its one-pass score; lucid eval --tta {tta} scores a checkpoint under {tta}",
        )
        return best
    val = _validate(run, model, tta)
    if not val["finite"]:
        _say(
            run.ctx,
            f"note: epoch {epoch} under test-time {tta} gave non-finite outputs; the run's result is "
            "its one-pass score",
        )
        return best
    key = run.task.best_key
    scores = run.task.val_record(val)
    record = {**next(r for r in history if r["epoch"] == epoch), **scores}
    path = run.out_dir / FILES["best"]

    def write() -> None:
        from safetensors import SafetensorError  # what safetensors raises for a failed write

        try:
            _save_model(run, path, record, model, scores_tta=tta)
        except (OSError, SafetensorError) as exc:
            why = getattr(exc, "strerror", None) or " ".join(str(exc).split())
            raise RunFolderError(
                f"writing epoch {epoch}'s test-time {tta} scores into {path} failed: {why}; the file keeps its "
                "one-pass scores"
            ) from None

    dist_utils.on_main(run.ctx, write)
    return {**best, key: scores[key], "tta": tta, "one_pass": best[key], "scores": scores}


def _cut_short(run: _Run, record: dict[str, Any]) -> str:
    """The budget's hard limit came mid-epoch (epochs ran slower than measured): that epoch was
    validated and saved as it stood, and the run ends with it. Returns the reason recorded in
    summary.json."""
    reason = (
        f"epoch {record['epoch']} was cut short at step {record['stopped_at_step']} of {len(run.loaders.train)} to "
        f"end within --time-budget {run.config.time_budget:g} min + 5 %; it was validated and saved as it stood"
    )
    if run.plan is not None:
        run.plan.stopped = reason
    _say(run.ctx, f"time budget: {reason}")
    return reason


def _base_lr(run: _Run) -> float:
    """The peak learning rate in use: --lr, or the default scaled to the batch actually trained."""
    group = run.optimizer.param_groups[0]
    return float(group.get("initial_lr", group["lr"]))


def _announce(run: _Run, start_epoch: int) -> None:
    ctx, config, task = run.ctx, run.config, run.task
    params = sum(p.numel() for p in run.model.parameters())
    name = getattr(run.model, "model_name", config.model)
    where = f"{ctx.device}" + (f" x {ctx.world_size} processes (DDP)" if ctx.distributed else "")
    for line in task.describe():
        _say(ctx, line)
    count = len(getattr(task.info, "classes", None) or [])
    _say(
        ctx,
        f"model: {name} ({params:,} parameters, in_channels={run.data.in_channels}, "
        f"{count} class{'' if count == 1 else 'es'})" + (f", weights {config.weights}" if config.weights else ""),
    )
    warmup = config.warmup_epochs
    recipe = task.recipe()
    _say(
        ctx,
        f"training: {config.epochs} epoch{'s' if config.epochs != 1 else ''}, batch {run.loaders.batch_size}, "
        f"{config.opt} lr {_base_lr(run):g}, {config.sched} schedule, {warmup:g} warm-up "
        f"epoch{'s' if warmup != 1 else ''}"
        + (f", {recipe}" if recipe else "")
        + (", EMA" if config.ema else "")
        + (", the best epoch scored with test-time flip at the end" if task.tta() == "flip" else "")
        + f", {run.precision}"
        + (" autocast" if run.precision != "fp32" else "")
        + (", deterministic kernels" if resolve_deterministic(config, ctx.device) else ", fastest kernels")
        + f", on {where}; {run.loaders.path}",
    )
    _say(ctx, f"output: {run.out_dir}" + (f" (resuming after epoch {start_epoch})" if start_epoch else ""))


def _farewell(run: _Run, best: dict[str, Any], seconds: float) -> None:
    out = run.out_dir
    print(f"{run.task.farewell(best)}; {seconds:.1f}s in total")
    print(f"wrote {out}/")
    notes = {
        "summary": f"run summary (best_{run.task.best_key}, config, data split)",
        "metrics": "one line of metrics per epoch",
        "curves": "loss and accuracy curves",
        "best": "best checkpoint (lucid eval / lucid predict / lucid export)",
        "last": "last checkpoint",
        "state": "optimizer, scheduler, EMA and RNG state for --resume",
    }
    for key, note in notes.items():
        if (out / FILES[key]).exists():
            print(f"  {FILES[key]:<26} {note}")
        else:
            print(f"  {FILES[key]:<26} missing: deleted during or before this run (the next best epoch writes it)")


# Below this many images a batch, BatchNorm's statistics (from the batch in training, their
# average in evaluation) can differ so much that validation gives non-finite outputs.
SMALL_BATCH = 8


def _divergence_hint(batch_size: int) -> str:
    """What to change after a NaN/inf: the learning rate or the data, and with a batch under
    `SMALL_BATCH` (the guard's choice on a small set, or the user's) the batch too."""
    if batch_size < SMALL_BATCH:
        return (
            f"lower --lr or check the data; batch {batch_size} gives BatchNorm too few images to normalise by: "
            f"pass --batch-size {SMALL_BATCH} or more (kept as given when the set holds it) or add photos"
        )
    return "lower --lr or check the data"


def _diverged(
    run: _Run,
    exc: TrainingDiverged,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    seconds: float,
    extra: dict[str, Any],
) -> None:
    """Record the stop in summary.json (checkpoints stay as the last good epoch left them) and re-raise."""
    last = history[-1]["epoch"] if history else 0
    if history:
        kept = f"the last good checkpoint is {run.out_dir / FILES['last']} (epoch {last})"
    else:
        kept = "no epoch completed, so no checkpoint was written"
    message = f"{exc}; training stopped: {_divergence_hint(run.loaders.batch_size)}; {kept}"
    if run.ctx.is_main:
        with contextlib.suppress(OSError):  # the divergence is the error to report
            summary = _summary(run, history, best, seconds, "diverged", {**extra, "error": message})
            write_json(run.out_dir / FILES["summary"], summary)
    raise TrainingDiverged(message) from None

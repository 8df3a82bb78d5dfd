"""Optimizers, learning-rate schedules with warm-up, and the model EMA, all from torch.optim."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

__all__ = ["build_optimizer", "build_scheduler", "build_ema", "RMSPROP_EPS", "WARMUP_START_FACTOR"]

# TensorFlow adds eps inside the square root; torchvision's MobileNet-v3 recipe mimics that with
# torch's RMSprop by using eps = sqrt(1e-3) ~= 0.0316, alpha 0.9, momentum 0.9.
RMSPROP_EPS = 0.0316
RMSPROP_ALPHA = 0.9
WARMUP_START_FACTOR = 0.01
POLY_POWER = 0.9  # torchvision's segmentation reference


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weights only: BatchNorm affine parameters and biases (1-d) get none,
    as in torchvision's recipe (``norm_weight_decay=0``), since decaying them only hurts."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(
    model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """``sgd`` (Nesterov momentum), ``rmsprop`` (TF-style epsilon) or ``adamw``."""
    groups = _param_groups(model, weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=momentum > 0)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=RMSPROP_ALPHA, eps=RMSPROP_EPS, momentum=momentum)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"optimizer must be one of sgd, rmsprop, adamw; got {name!r}")


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    name: str,
    *,
    epochs: int,
    steps_per_epoch: int,
    warmup_epochs: float = 0.0,
    step_size: int = 3,
    gamma: float = 0.1,
) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-iteration schedule: linear warm-up from 1 % of the rate, then cosine to zero over
    the remaining steps, a step decay by ``gamma`` every ``step_size`` epochs, or the "poly"
    decay ``(1 - t) ** 0.9`` of torchvision's segmentation reference."""
    from torch.optim import lr_scheduler

    total = epochs * steps_per_epoch
    warm = min(int(round(warmup_epochs * steps_per_epoch)), total - 1)
    if name == "cosine":
        main: lr_scheduler.LRScheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total - warm))
    elif name == "step":
        main = lr_scheduler.StepLR(optimizer, step_size=step_size * steps_per_epoch, gamma=gamma)
    elif name == "poly":
        main = lr_scheduler.PolynomialLR(optimizer, total_iters=max(1, total - warm), power=POLY_POWER)
    else:
        raise ValueError(f"scheduler must be cosine, step or poly; got {name!r}")
    if warm <= 0:
        return main
    warmup = lr_scheduler.LinearLR(optimizer, start_factor=WARMUP_START_FACTOR, total_iters=warm)
    return lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[warm])


def _ema_update(
    decay: float,
) -> Callable[[Sequence[torch.Tensor], Sequence[torch.Tensor], torch.Tensor | int], None]:
    """EMA step for AveragedModel with timm's warm-up ``min(decay, (1 + n) / (10 + n))``: torch's
    ``get_ema_multi_avg_fn`` has a fixed decay, which on a short run leaves the average stuck near
    the random initial weights. Integer buffers (BatchNorm's batch count) are copied."""

    @torch.no_grad()
    def update(
        averaged: Sequence[torch.Tensor], current: Sequence[torch.Tensor], n_averaged: torch.Tensor | int
    ) -> None:
        steps = float(n_averaged)
        rate = min(decay, (1.0 + steps) / (10.0 + steps))
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(list(averaged), list(current), 1.0 - rate)
        else:
            for mine, theirs in zip(averaged, current, strict=True):
                mine.copy_(theirs)

    return update


def build_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of ``model``'s parameters and BatchNorm statistics."""
    return AveragedModel(model, multi_avg_fn=_ema_update(decay), use_buffers=True)

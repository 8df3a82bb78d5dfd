"""torch.distributed set-up for runs under ``torchrun``: one process per device, DDP."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

T = TypeVar("T")

__all__ = [
    "DistContext",
    "resolve_device",
    "auto_device",
    "setup",
    "teardown",
    "current",
    "broadcast_buffers",
    "broadcast_object",
    "gather_objects",
    "any_true",
    "any_flags",
    "on_main",
]


@dataclass
class DistContext:
    """Where this process runs: its rank among ``world_size`` processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes files and prints."""
        return self.rank == 0


def auto_device() -> str:
    """``cuda`` when torch sees a GPU, then ``mps`` (Apple silicon) where torch has it, else ``cpu``."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_device(kind: str, local_rank: int) -> torch.device:
    """The torch device for ``--device kind`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) in the
    process of ``local_rank`` (a clear error when the device is not there)."""
    if kind == "auto":
        kind = auto_device()
    if kind.startswith("cuda:"):
        index = int(kind.split(":", 1)[1])
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise ValueError(f"--device {kind}: no such GPU here ({torch.cuda.device_count()} visible)")
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("--device mps was requested but torch has no MPS device here; use --device cpu")
        return torch.device("mps")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                "--device cuda was requested but CUDA is not available here (torch.cuda.is_available() is "
                "False); use --device cpu"
            )
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise ValueError(f"process with LOCAL_RANK={local_rank} has no GPU: only {count} visible")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def setup(device: str) -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment (WORLD_SIZE > 1),
    with NCCL on CUDA and gloo on CPU; a plain single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    where = resolve_device(device, local_rank)
    if world <= 1:
        return DistContext(device=where)
    if dist.is_initialized():
        return DistContext(rank, world, local_rank, where, owns_group=False)
    backend = "nccl" if where.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistContext(rank, world, local_rank, where, owns_group=True)


def teardown(context: DistContext) -> None:
    """Leave the process group if `setup` joined it."""
    if context.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def current() -> DistContext:
    """The context of the process group this process is in (a single process when there is none),
    for code that is handed no context, such as a task's validation."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    return DistContext(dist.get_rank(), dist.get_world_size())


def broadcast_object(value: Any, context: DistContext) -> Any:
    """Rank 0's ``value`` on every rank."""
    if not context.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, device=context.device if context.device.type == "cuda" else None)
    return box[0]


def broadcast_buffers(module: nn.Module, context: DistContext) -> None:
    """Give every rank rank 0's buffers of ``module`` (BatchNorm's running statistics), in place.

    DDP broadcasts them at the start of each training forward, but that forward then updates
    each rank's copy from its own batch, so after an epoch the ranks' statistics differ by their
    last step. Validation shards the split over the ranks and rank 0 saves the checkpoint: with
    rank 0's statistics everywhere, the gathered scores are the saved model's on the whole split
    (as ``lucid eval`` of the checkpoint repeats them). timm's ``--dist-bn broadcast`` does the same."""
    if not context.distributed:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def gather_objects(value: Any, context: DistContext) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    if not context.distributed:
        return [value]
    out: list[Any] = [None] * context.world_size
    dist.all_gather_object(out, value)
    return out


def any_true(flag: bool, context: DistContext) -> bool:
    """Whether ``flag`` is true on any rank (all ranks must call it together)."""
    if not context.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=context.device)
    dist.all_reduce(value)
    return bool(value.item() > 0)


def any_flags(flags: list[bool], context: DistContext) -> list[bool]:
    """For each flag, whether it is true on any rank: one collective for several flags."""
    if not context.distributed:
        return list(flags)
    value = torch.tensor([1.0 if flag else 0.0 for flag in flags], device=context.device)
    dist.all_reduce(value)
    return [bool(v > 0) for v in value.tolist()]


def on_main(context: DistContext, action: Callable[[], T]) -> T | None:
    """``action()`` on rank 0 only (its result there, None elsewhere); when it fails, every rank
    raises, so no process waits for ever in a collective (rank 0 writes the run's files, and a
    failed write must stop the other ranks too)."""
    error: BaseException | None = None
    result = None
    if context.is_main:
        try:
            result = action()
        except Exception as exc:  # noqa: BLE001 - re-raised below, on every rank
            error = exc
    failed = broadcast_object(None if error is None else f"{type(error).__name__}: {error}", context)
    if error is not None:
        raise error
    if failed is not None:
        raise RuntimeError(f"rank 0 stopped: {failed}")
    return result

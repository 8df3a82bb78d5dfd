"""How many loader workers a streamed set gets by default, and how they start: forked, unless
this process holds a serving runtime's native threads.

Loader workers are forked from the process that iterates the DataLoader (Linux's default before
Python 3.14). Forking copies one thread of a process that may have many; CPython's ``os.fork``
documentation calls that unsafe, and Python 3.14 made ``forkserver`` the default for that
reason. ``lucid train`` from the command line holds no such threads. A notebook or script that
has exported, verified or run a model through ``lucid.deploy`` first does: ONNX Runtime,
OpenVINO and ExecuTorch keep native thread pools, and a worker forked beside them aborted now and
then. Workers of such a process start from a fork server instead: a fresh interpreter that
imports torch and lucid once and forks each worker from itself, holding no runtime.

The datasets and collate functions are picklable classes for this reason (a fork server, like
spawn, sends them to each worker).

Each training item's random draws are seeded from (run seed, epoch, index) (`SeededItems`, fed
``(epoch, index)`` pairs by `EpochItems`), not from the worker that happens to make it. So a run
draws the same augmentations with any number of workers, forked or from a fork server, and the
workers can live for the whole run (``persistent_workers``) while a resumed run still draws
exactly what the uninterrupted one would.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator, Sized
from multiprocessing.context import BaseContext
from typing import Any, Protocol

import torch
from torch.utils.data import Dataset, Sampler

# Ultralytics' cap on default loader workers: beyond this many, the start-up and the memory each
# worker holds cost more than the augmentation they add.
MAX_DEFAULT_WORKERS = 8

# Module name -> the runtime's name, for the runtimes whose native threads make a fork unsafe.
THREADED_RUNTIMES = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "executorch": "ExecuTorch"}


def default_workers(training_threads: int = 0) -> int:
    """Loader workers for a set streamed from disk when ``--workers`` is not given: the cores
    this process may run on (its CPU affinity, which containers and ``taskset`` narrow) shared
    among the processes torchrun started on this machine (``LOCAL_WORLD_SIZE``), less the
    ``training_threads`` that compute the training step on those cores, at most
    `MAX_DEFAULT_WORKERS`.

    Without ``training_threads`` (an accelerator computes the step, or nothing trains yet) it is
    at least 1, as in Ultralytics. A CPU run whose threads take every core gets 0: its loader
    workers would take cores from the step's threads (an OpenMP step waits for its slowest
    thread), and workers forked from a process holding gigabytes of training tensors make its
    next writes copy pages. Reading in the training process gave faster epochs in every case
    measured, with workers started each epoch and once per run alike (docs/training.md, *Workers
    on the CPU*); Ultralytics reads in the training process on the CPU too."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        local_processes = 1
    share = cores // local_processes
    if training_threads > 0:
        return max(0, min(MAX_DEFAULT_WORKERS, share - training_threads))
    return max(1, min(MAX_DEFAULT_WORKERS, share))


def loaded_runtimes() -> list[str]:
    """The serving runtimes this process has imported (their thread pools live as long as it does)."""
    return [name for module, name in THREADED_RUNTIMES.items() if module in sys.modules]


def start_method() -> str:
    """The start method new processes get: the one the user set, else the platform's default
    (the first one listed, per the multiprocessing docs)."""
    return multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_all_start_methods()[0]


def forks_cleanly() -> bool:
    """Whether worker processes started now are plain forks that ask nothing of the caller.

    True when the start method is fork, no serving runtime's threads are loaded (see the module
    docstring) and this process is not a daemon (which may not have children). Spawn and fork
    server workers re-run the caller's main script unless it has an ``if __name__ == "__main__":``
    guard, so work that used to run in-process only moves to workers when this holds.
    """
    return start_method() == "fork" and not loaded_runtimes() and not multiprocessing.current_process().daemon


def worker_context(workers: int) -> tuple[BaseContext | None, str | None]:
    """The multiprocessing context for ``workers`` loader workers, and a line saying why when not the default.

    ``(None, None)`` keeps torch's default: no workers, a start method other than fork (spawn on
    macOS and Windows, forkserver from Python 3.14 on Linux, or the user's choice), or a process
    without a serving runtime. Otherwise a ``forkserver`` context that preloads torch and
    lucid once, so the workers are forked from it instead of each importing torch again.
    """
    runtimes = loaded_runtimes()
    if workers <= 0 or not runtimes or start_method() != "fork":
        return None, None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "lucid"])
    note = (
        f"loader workers start from a fork server: this process has loaded {' and '.join(runtimes)}, "
        "whose threads make forking it unsafe"
    )
    return context, note


class EpochSampler(Protocol):
    """A sampler that knows its epoch, as torch's ``DistributedSampler`` does (``set_epoch``)."""

    epoch: int

    def __iter__(self) -> Iterator[int]: ...

    def __len__(self) -> int: ...


class EpochItems(Sampler[tuple[int, int]]):
    """``sampler``'s indices paired with its current epoch, ``(epoch, index)``, the keys `SeededItems` takes.

    Why: the sampler runs in the training process, so persistent loader workers learn each item's
    epoch from its key; a dataset copy in a worker cannot see ``set_epoch`` calls made after it started.
    """

    def __init__(self, sampler: EpochSampler) -> None:
        self.sampler = sampler

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = int(self.sampler.epoch)
        return ((epoch, int(index)) for index in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


def item_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of training item ``index``'s random draws in ``epoch`` of a run seeded ``seed``:
    distinct for every (epoch, index) of sets under four billion items, and within torch's 64 bits."""
    return ((int(seed) * 1_000_003 + int(epoch)) * 4_294_967_311 + int(index)) % (1 << 63)


class SeededItems(Dataset[Any]):
    """``dataset`` read by ``(epoch, index)`` keys (`EpochItems`): item ``index``, its random
    draws made with torch's generator seeded by `item_seed`, which is then put back as it was.

    torch seeds each loader worker once per iterator (base seed + worker id), so an item's
    augmentation would depend on which worker made it and on everything that worker drew
    before; with workers that live for the whole run, a resumed run could not repeat them.
    Seeding per item removes both. Only torch's generator is seeded: lucid's and torchvision's
    transforms draw from it alone. Putting it back keeps a run without workers drawing its
    dropout and its other randomness from the training process's own stream.
    """

    def __init__(self, dataset: Dataset[Any], seed: int) -> None:
        if not isinstance(dataset, Sized):
            raise TypeError(f"SeededItems needs a dataset with a length (__len__), got {type(dataset).__name__}")
        self.dataset = dataset
        self.seed = int(seed)
        self.size = len(dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        if not (isinstance(key, tuple) and len(key) == 2):
            raise TypeError(f"SeededItems takes (epoch, index) keys from EpochItems, got {key!r}")
        epoch, index = key
        # The CPU generator alone, saved and put back by hand: torch.manual_seed (and fork_rng)
        # also visit every accelerator backend, which cost a sizeable share of a small photo's
        # augmentation (docs/training.md, *Resume and faults*). Loader workers draw on the CPU only.
        generator = torch.default_generator
        state = generator.get_state()
        generator.manual_seed(item_seed(self.seed, epoch, index))
        try:
            return self.dataset[index]
        finally:
            generator.set_state(state)

    def __len__(self) -> int:
        return self.size

"""Labelled image datasets over a file list: decoded once into memory, or streamed from disk.

`CachedImages` holds every image as uint8 in one tensor, decoded once in parallel (with a
progress bar), and augments whole batches in the main process through ``__getitems__``: the
DataLoader (with its DistributedSampler: reproducible shuffles, DDP shards, resume) hands it the
batch's indices and gets the batch's samples back in one call. `StreamingImages` decodes
and transforms each image when asked, for sets larger than the memory budget; use loader workers.
Both give identical evaluation tensors: the same decoding, resize and crop (`eval_base`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence, Sized
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.utils.data import Dataset

from lucid.data.augment import BatchAugment, eval_base, normalise
from lucid.data.images import load_image
from lucid.errors import DataError

__all__ = [
    "DEFAULT_BUDGET_CAP",
    "DEFAULT_BUDGET_FRACTION",
    "CachedImages",
    "StreamingImages",
    "dataset_size",
    "decode_all",
    "verify_images",
    "eval_sample_transform",
    "fits_on_device",
    "keep_in_memory",
    "load_each",
    "memory_budget",
    "raise_unreadable",
    "subset_indices",
]

# The decoded training and validation images are kept in memory when they fit in a quarter of
# the machine's RAM, at most 4 GiB (``--memory-budget GB`` overrides; 0 always streams).
DEFAULT_BUDGET_FRACTION = 0.25
DEFAULT_BUDGET_CAP = 4 * 1024**3


def memory_budget(gigabytes: float | None = None) -> int:
    """Bytes the decoded images may take: ``gigabytes`` if given, else 25 % of RAM capped at 4 GiB."""
    if gigabytes is not None:
        return int(gigabytes * 1024**3)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 1024**3
    return int(min(DEFAULT_BUDGET_FRACTION * total, DEFAULT_BUDGET_CAP))


def keep_in_memory(need: int | None, gigabytes: float | None, what: str, how: str = "") -> tuple[bool, str]:
    """Whether decoded data of ``need`` bytes (None: unknown, e.g. a header did not read) is kept
    in memory under the budget (`memory_budget` of ``gigabytes``), and the run's line saying so:
    ``"{what} decoded once into memory (N MiB of a B MiB budget[; how])"`` or ``"{what} streamed
    from disk (...)"``."""
    budget = memory_budget(gigabytes)
    of = f"{budget / 2**20:.0f} MiB"
    if need is not None and need <= budget:
        return (
            True,
            f"{what} decoded once into memory ({need / 2**20:.0f} MiB of a {of} budget{'; ' + how if how else ''})",
        )
    why = (
        "an image header did not read, so the size is not known"
        if need is None
        else f"decoded {need / 2**20:.0f} MiB would exceed the {of} memory budget"
    )
    return False, f"{what} streamed from disk ({why}; --memory-budget GB changes it)"


# Fewer files than this decode in this process: starting workers would take longer than they save.
PARALLEL_DECODE_MIN_FILES = 512


class _DecodeFiles(Dataset):
    """``(index, uint8 image or None, error or None)`` for each file: the work `decode_all` and
    `verify_images` hand to loader workers (a class, so a fork server or spawn can pickle it)."""

    def __init__(
        self,
        files: Sequence[Path],
        channels: int,
        transform: Callable[[Any], torch.Tensor] | None,
        decode_sides: Sequence[int | None] | None = None,
    ) -> None:
        self.files, self.channels, self.transform = list(files), channels, transform
        self.decode_sides = list(decode_sides) if decode_sides is not None else [None] * len(self.files)
        if len(self.decode_sides) != len(self.files):
            raise ValueError(f"{len(self.files)} files but {len(self.decode_sides)} decode sides")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            image = load_image(self.files[index], self.channels, decode_side=self.decode_sides[index])
        except DataError as exc:
            return index, None, str(exc)
        return index, (self.transform(image) if self.transform is not None else None), None


class _Chunk(NamedTuple):
    """Decoded files of one loader batch: ``images[i]`` is file ``indices[i]``; ``errors`` name the others."""

    indices: list[int]
    images: torch.Tensor | None
    errors: list[str]


def _as_chunk(items: list[tuple[int, torch.Tensor | None, str | None]]) -> _Chunk:
    """Collate for `_DecodeFiles`, run in the worker: the chunk's images stacked into one tensor,
    which crosses to the main process as one shared-memory block instead of one per image."""
    decoded = [(index, image) for index, image, _ in items if image is not None]
    images = torch.stack([image for _, image in decoded]) if decoded else None
    return _Chunk([index for index, _ in decoded], images, [error for _, _, error in items if error is not None])


def _decode_chunks(
    files: Sequence[Path],
    channels: int,
    transform: Callable[[Any], torch.Tensor] | None,
    *,
    workers: int | None,
    progress: bool,
    desc: str,
    decode_sides: Sequence[int | None] | None = None,
) -> Iterator[_Chunk]:
    """`_DecodeFiles`'s items in chunks, decoded by loader worker processes when there are enough files.

    Processes, not threads: for small images most of the time is Python (PIL's header parsing,
    the transforms), which holds the GIL, so two threads decoded 32 px JPEGs more slowly than one
    (docs/training.md, *Decoding*). Only plain forks are used (`forks_cleanly`): a spawned or
    fork-server worker would need a ``__main__`` guard in the caller's script, which in-memory
    training has never asked for; elsewhere the files decode in this process.
    """
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from lucid.data.workers import default_workers, forks_cleanly

    if workers is None:
        workers = default_workers() if len(files) >= PARALLEL_DECODE_MIN_FILES else 0
    loader = DataLoader(
        _DecodeFiles(files, channels, transform, decode_sides),
        batch_size=64,
        num_workers=workers if forks_cleanly() else 0,
        collate_fn=_as_chunk,
        # Its own generator: workers draw their seed from the loader's generator, which would
        # otherwise be torch's global one, and the run's model would start from other weights.
        generator=torch.Generator(),
    )
    with tqdm(total=len(files), desc=desc, unit="img", disable=not progress, leave=False, dynamic_ncols=True) as bar:
        for chunk in loader:
            bar.update(len(chunk.indices) + len(chunk.errors))
            yield chunk


class _LoadEach(Dataset):
    """``(position, load(indices[position]) or None, error or None)``: the work `load_each` hands
    to loader workers (forked, so ``load`` is inherited, not pickled)."""

    def __init__(self, load: Callable[[int], Any], indices: Sequence[int]) -> None:
        self.load, self.indices = load, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[int, Any, str | None]:
        try:
            return position, self.load(self.indices[position]), None
        except DataError as exc:
            return position, None, str(exc)


def _as_list(items: list[Any]) -> list[Any]:
    """Collate that keeps a chunk's items as they are (images of other sizes do not stack)."""
    return items


def _own_memory(item: Any) -> Any:
    """``item`` with each tensor copied out of the shared memory a loader worker sent it in (a
    process holding thousands of shared blocks runs out of file descriptors). Walked here rather
    than with torch's ``tree_map``: that lives in the private ``torch.utils._pytree``, and the items
    are only tensors in tuples, lists and dicts."""
    if isinstance(item, torch.Tensor):
        return item.clone()
    if isinstance(item, (tuple, list)):
        return type(item)(_own_memory(x) for x in item)
    if isinstance(item, dict):
        return {key: _own_memory(value) for key, value in item.items()}
    return item


def load_each(
    load: Callable[[int], Any],
    indices: Sequence[int],
    *,
    progress: bool = True,
    desc: str = "decoding",
    workers: int | None = None,
    what: str = "unreadable image(s)",
    parallel_from: int = 64,
) -> list[Any]:
    """``[load(i) for i in indices]``, computed in ``workers`` forked loader processes (default:
    one per core, at most 8, from ``parallel_from`` items on; a process that cannot fork cleanly
    loads here), with a progress bar: for sets whose items differ in size (segmentation's pairs,
    detection's photos and boxes), where `decode_all` stacks one size. ``load`` raises
    `DataError` for an item that does not read; they are gathered and raised as one `DataError`
    naming the first five (``"{count} {what}: ..."``)."""
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    from lucid.data.workers import default_workers, forks_cleanly

    if workers is None:
        workers = default_workers() if len(indices) >= parallel_from else 0
    workers = workers if forks_cleanly() else 0
    loader = DataLoader(
        _LoadEach(load, indices),
        batch_size=8,
        num_workers=workers,
        collate_fn=_as_list,
        generator=torch.Generator(),  # the workers' seeds must not draw from the run's global generator
    )
    items: list[Any] = [None] * len(indices)
    bad: list[str] = []
    with tqdm(total=len(indices), desc=desc, unit="img", disable=not progress, leave=False, dynamic_ncols=True) as bar:
        for chunk in loader:
            for position, item, error in chunk:
                if error is not None:
                    bad.append(error)
                else:
                    items[position] = _own_memory(item) if workers else item
            bar.update(len(chunk))
    raise_unreadable(bad, what)
    return items


def raise_unreadable(bad: list[str], what: str = "unreadable image(s)") -> None:
    """A `DataError` naming the first five files that did not decode (``bad``: one message each),
    when any did not: ``"{count} {what}: ..."``."""
    if bad:
        bad.sort()
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise DataError(f"{len(bad)} {what}: {shown}")


def fits_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether a decoded set of ``nbytes`` may be kept on ``device`` (a GPU): on CUDA, a quarter of
    its free memory, which leaves the model, its activations and the optimizer room; on other
    accelerators (MPS, whose memory is the machine's), always."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return nbytes <= free // 4
    return device.type != "cpu"


def decode_all(
    files: Sequence[Path],
    channels: int,
    size: int,
    resize_size: int,
    *,
    progress: bool = True,
    workers: int | None = None,
    desc: str = "decoding",
    reduced: bool = False,
) -> torch.Tensor:
    """Decode ``files`` into one uint8 tensor ``(N, channels, size, size)`` (short side resized to
    ``resize_size``, centre crop ``size``), in ``workers`` forked loader processes (default: one
    per core, at most 8, from `PARALLEL_DECODE_MIN_FILES` files on; 0, or a process that cannot
    fork cleanly, decodes here). Raises `DataError` listing the files that do not decode.

    ``reduced``: JPEGs at least twice ``resize_size`` on their shorter side decode at a half, a
    quarter or an eighth of their size first (`load_image`'s ``decode_side``), which the resize
    then finishes. The pixels differ from a whole decode's by the scaled decoding's filtering, so
    it is for training sets; evaluation decodes whole, as ``lucid predict`` does."""
    out = torch.empty((len(files), channels, size, size), dtype=torch.uint8)
    bad: list[str] = []
    sides = [resize_size] * len(files) if reduced else None
    chunks = _decode_chunks(
        files, channels, eval_base(size, resize_size), workers=workers, progress=progress, desc=desc, decode_sides=sides
    )
    for chunk in chunks:
        if chunk.images is not None:
            out[chunk.indices] = chunk.images
        bad += chunk.errors
    raise_unreadable(bad)
    return out


def verify_images(
    files: Sequence[Path],
    channels: int,
    *,
    progress: bool = False,
    workers: int | None = None,
    decode_sides: Sequence[int | None] | None = None,
) -> None:
    """Decode every file once, as `decode_all` does, and raise `DataError` listing the ones that fail.

    ``decode_sides``: per file, the ``decode_side`` (`load_image`) its use will decode it with:
    a training photo that will only ever decode at a reduced scale is checked that way, so a
    folder of phone photos is not decoded whole once before training. None: every file whole."""
    chunks = _decode_chunks(
        files, channels, None, workers=workers, progress=progress, desc="checking images", decode_sides=decode_sides
    )
    bad = [error for chunk in chunks for error in chunk.errors]
    raise_unreadable(bad)


def dataset_size(dataset: Dataset[Any]) -> int:
    """The number of samples in ``dataset``.

    ``torch.utils.data.Dataset`` declares no ``__len__``; every dataset lucid builds (and
    ``Subset``) has one, and the samplers and shards need it, so say so clearly if one lacks it.
    """
    if not isinstance(dataset, Sized):
        raise TypeError(f"expected a dataset with a length (__len__), got {type(dataset).__name__}")
    return len(dataset)


def subset_indices(dataset: Dataset[Any]) -> tuple[Dataset[Any], list[int]]:
    """The dataset under ``Subset`` wrappers (``--limit-train``, a validation shard) and the
    indices of it that ``dataset`` shows, in order: ``(dataset, range(len))`` for a plain one."""
    from torch.utils.data import Subset

    if isinstance(dataset, Subset):
        inner, picks = subset_indices(dataset.dataset)
        return inner, [picks[i] for i in dataset.indices]
    return dataset, list(range(dataset_size(dataset)))


def seeded_subset(dataset: Dataset[Any], limit: int | None, seed: int) -> Dataset[Any]:
    """The same ``limit`` items for the same ``seed`` (``--limit-train``/``--limit-val`` smoke
    runs, and ``lucid eval`` re-deriving a limited validation split), or ``dataset`` itself."""
    from torch.utils.data import Subset

    if limit is None or limit >= dataset_size(dataset):
        return dataset
    order = torch.randperm(dataset_size(dataset), generator=torch.Generator().manual_seed(seed))[:limit]
    return Subset(dataset, sorted(order.tolist()))


class CachedImages(Dataset):
    """Images held as uint8 ``(N, C, S, S)`` with integer targets.

    Items are ``(float tensor (C, size, size), int)``: with ``augment`` (a `BatchAugment`)
    a training batch is augmented at once in ``__getitems__``; without, images are only
    normalised with ``mean``/``std``. ``files`` (the source of each image) stay for reference.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        *,
        augment: BatchAugment | None = None,
        files: Sequence[Path] = (),
        classes: Sequence[str] = (),
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be a uint8 (N, C, H, W) tensor, got {images.dtype} {tuple(images.shape)}")
        if len(targets) != images.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {len(targets)} targets")
        self.images = images
        self.targets = torch.as_tensor(list(targets), dtype=torch.long)
        self.mean, self.std = list(mean), list(std)
        self.augment = augment
        self.files = list(files)
        self.classes = list(classes)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device: torch.device | str) -> CachedImages:
        """Keep the decoded images on ``device`` (a GPU: batches are then augmented there, without a
        copy from host memory per step); returns self."""
        self.images = self.images.to(device)
        return self

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, int]]:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        batch = self.images[index]
        x = self.augment(batch) if self.augment is not None else normalise(batch, self.mean, self.std)
        return list(zip(x.unbind(0), self.targets[index].tolist(), strict=True))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.__getitems__([index])[0]


class StreamingImages(Dataset):
    """Images decoded from ``files`` on every access and passed through ``transform`` (PIL in,
    float tensor out); for data sets larger than the memory budget, with loader workers.

    ``decode_side``: for a ``transform`` that first shrinks each photo's shorter side to that many
    pixels (the training recipe's), JPEGs at least twice as large decode at a reduced scale
    (`load_image`); None, as evaluation does, decodes every photo whole."""

    def __init__(
        self,
        files: Sequence[Path],
        targets: Sequence[int],
        channels: int,
        transform: Callable[[Any], torch.Tensor],
        *,
        classes: Sequence[str] = (),
        decode_side: int | None = None,
    ) -> None:
        if len(files) != len(targets):
            raise ValueError(f"{len(files)} files but {len(targets)} targets")
        self.files = list(files)
        self.targets = torch.as_tensor(list(targets), dtype=torch.long)
        self.channels = channels
        self.transform = transform
        self.classes = list(classes)
        self.decode_side = decode_side

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = load_image(self.files[index], self.channels, decode_side=self.decode_side)
        return self.transform(image), int(self.targets[index])


def eval_sample_transform(
    size: int, resize_size: int, mean: Sequence[float], std: Sequence[float]
) -> Callable[[Any], torch.Tensor]:
    """PIL -> normalised float ``(C, size, size)``: `eval_base`, then the same
    normalisation `CachedImages` applies, so both paths give the same tensors."""
    return _EvalSample(eval_base(size, resize_size), list(mean), list(std))


class _EvalSample:
    """`eval_sample_transform`'s callable: a class, not a closure, so loader workers started by a
    forkserver or spawn (which pickle the dataset: macOS, Windows) can take it."""

    def __init__(self, base: Callable[[Any], torch.Tensor], mean: list[float], std: list[float]) -> None:
        self.base, self.mean, self.std = base, mean, std

    def __call__(self, image: Any) -> torch.Tensor:
        return normalise(self.base(image).unsqueeze(0), self.mean, self.std)[0]

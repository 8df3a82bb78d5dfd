"""Image/mask pairs decoded once and augmented a batch at a time: segmentation's in-memory data path.

Streaming (`lucid.segment.data.SegmentationFolder` with `train_transform`) decodes each photo and
its mask again every epoch, through torchvision's v2 transforms, one pair at a time. When the
decoded pairs fit the memory budget (`lucid.data.memory_budget`), `cache_pairs` decodes them
once (in forked loader processes, with a progress bar) into `CachedPairs`: uint8 images and
masks at their own sizes. Its ``__getitems__`` receives a batch's indices from the engine's
DataLoader (so shuffles, DDP shards and ``--resume`` stay as they are) and returns the batch,
augmented by `PairAugment`. Kept on a GPU (`CachedPairs.to`), that work runs there, with no
copy from host memory per step, as classification's `lucid.data.CachedImages` does. Photos larger
than a run works at (camera photos above `lucid.segment.data.WORKING_SIDE`) can be stored with
their short side reduced (``side``), so that a set that would not fit at full size does.

`PairAugment` is `train_transform`'s recipe (short side rescaled to a random size, a crop padded
where the image is smaller, a flip) drawn per pair. It cuts the crop's window out of the stored
image first and resizes only that window, where v2 resizes the whole image and then crops; the
window is rounded outwards to whole pixels, so its scale differs from the drawn one by less than
a pixel over the crop. The mask is resampled by nearest neighbour with PyTorch's own rule, and
padding is 0 in the image and ``ignore_index`` in the mask, as the streaming path pads.
torchvision's v2 transforms draw one set of random parameters per call, so on a batch every
pair would get the same scale, crop and flip; hence this hand-written batch form.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from lucid.data.augment import normalise
from lucid.data.datasets import load_each, subset_indices
from lucid.data.images import image_size_of
from lucid.segment.data import eval_transform

__all__ = [
    "CachedPairs",
    "PairAugment",
    "cache_pairs",
    "pair_bytes",
    "pair_sizes",
    "short_side_resized",
    "stored_bytes",
]


class PairAugment:
    """`lucid.segment.data.train_transform`'s recipe on a batch of uint8 pairs, drawn per pair.

    ``sizes`` is the ``(low, high)`` range of the rescaled short side (`scale_range`), ``crop``
    the ``(height, width)`` out. Calling it with lists of images ``(3, H, W)`` and masks
    ``(H, W)`` (each pair its own size) gives float images ``(B, 3, h, w)``, normalised with
    ``mean``/``std``, and int64 masks ``(B, h, w)``. Random numbers come from torch's global
    generator (seeded by the run and saved with its state, so ``--resume`` repeats them), or
    from ``generator``.
    """

    def __init__(
        self,
        crop: tuple[int, int],
        sizes: tuple[int, int],
        ignore_index: int,
        *,
        hflip: float,
        mean: Sequence[float],
        std: Sequence[float],
        generator: torch.Generator | None = None,
    ) -> None:
        self.crop = (int(crop[0]), int(crop[1]))
        self.sizes = (int(sizes[0]), int(sizes[1]))
        if not 1 <= self.sizes[0] <= self.sizes[1]:
            raise ValueError(f"sizes must be 1 <= low <= high, got {sizes}")
        self.ignore_index = int(ignore_index)
        self.hflip = float(hflip)
        self.mean, self.std = list(mean), list(std)
        self.generator = generator

    def __call__(
        self, images: Sequence[torch.Tensor], masks: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if len(images) != len(masks) or not images:
            raise ValueError(f"expected as many images as masks (at least one), got {len(images)} and {len(masks)}")
        height, width = self.crop
        device = images[0].device
        out = torch.zeros((len(images), 3, height, width), dtype=torch.uint8, device=device)
        labels = torch.full((len(images), height, width), self.ignore_index, dtype=torch.uint8, device=device)
        for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
            self._one(image, mask, out[i], labels[i])
        return normalise(out, self.mean, self.std), labels.long()

    def _one(self, image: torch.Tensor, mask: torch.Tensor, out: torch.Tensor, labels: torch.Tensor) -> None:
        """Draw one pair's size, crop and flip, and write its crop into ``out`` / ``labels``."""
        g = self.generator
        h, w = (int(d) for d in image.shape[-2:])
        size = int(torch.randint(self.sizes[0], self.sizes[1] + 1, (), generator=g))
        rh, rw = short_side_resized((h, w), size)
        ys = _window(rh, self.crop[0], h, g)
        xs = _window(rw, self.crop[1], w, g)
        flip = self.hflip > 0 and bool(torch.rand((), generator=g) < self.hflip)
        (y0, y1, oy, ny), (x0, x1, ox, nx) = ys, xs
        out[:, oy : oy + ny, ox : ox + nx] = _resized(image[:, y0:y1, x0:x1], (ny, nx))
        rows = _nearest(y0, y1, ny, mask.device)
        cols = _nearest(x0, x1, nx, mask.device)
        labels[oy : oy + ny, ox : ox + nx] = mask.index_select(0, rows).index_select(1, cols)
        if flip:
            out.copy_(out.flip(-1))
            labels.copy_(labels.flip(-1))


def short_side_resized(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The (height, width) of a photo of ``size`` once its short side is resized to ``side``: v2's
    ``Resize(side)`` rule, the long side scaled by the same factor and rounded down (to 1 pixel at
    least: a sliver of an image must not vanish)."""
    h, w = size
    return (side, max(1, int(side * w / h))) if h <= w else (max(1, int(side * h / w)), side)


def _window(resized: int, crop: int, stored: int, g: torch.Generator | None) -> tuple[int, int, int, int]:
    """One axis of a crop of ``crop`` pixels from an image rescaled from ``stored`` to ``resized``:
    ``(start, stop)`` of the stored pixels it shows, rounded outwards, and ``(offset, length)``
    of where they land in the crop. A larger image is cropped at a random place; a smaller one
    is placed at a random offset in the padded crop (v2's ``RandomCrop(pad_if_needed=True)``)."""
    if resized >= crop:
        start = int(torch.randint(0, resized - crop + 1, (), generator=g))
        offset, length = 0, crop
    else:
        offset = int(torch.randint(0, crop - resized + 1, (), generator=g))
        start, length = 0, resized
    factor = stored / resized
    first = min(stored - 1, math.floor(start * factor))
    last = min(stored, max(first + 1, math.ceil((start + length) * factor)))
    return first, last, offset, length


def _resized(window: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A uint8 ``(3, h, w)`` window resized to ``size``, antialiased bilinear as v2 resizes images.

    On the CPU it stays uint8 in channels-last (PyTorch's fastest CPU resize); CUDA has no
    antialiased uint8 resize, so there it goes through float and is rounded back."""
    if tuple(window.shape[-2:]) == size:
        return window
    batch = window.unsqueeze(0)
    if window.device.type == "cpu":
        batch = batch.contiguous(memory_format=torch.channels_last)
        return F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    resized = F.interpolate(batch.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    return resized[0].round_().clamp_(0, 255).to(torch.uint8)


def _nearest(start: int, stop: int, length: int, device: torch.device) -> torch.Tensor:
    """The stored rows (or columns) ``start..stop`` a nearest-neighbour resize to ``length`` reads:
    PyTorch's ``mode="nearest"`` rule, ``floor(i * in / out)``, which v2 uses for masks."""
    step = (stop - start) / length
    return (torch.arange(length, device=device, dtype=torch.float64) * step).floor_().long().add_(start)


class CachedPairs(Dataset):
    """Image/mask pairs held as uint8 tensors, each pair at its own size.

    With ``augment`` (a `PairAugment`) items are training crops, made a batch at a time in
    ``__getitems__``; without, whole images normalised with ``mean``/``std`` and their masks
    (int64), by `lucid.segment.data.eval_transform` as streamed validation gives them. ``files`` are each pair's
    ``(image, mask)`` paths, for reference; ``resize`` the short side whole pairs are resized to.
    """

    def __init__(
        self,
        images: Sequence[torch.Tensor],
        masks: Sequence[torch.Tensor],
        mean: Sequence[float],
        std: Sequence[float],
        *,
        augment: PairAugment | None = None,
        files: Sequence[tuple[Path, Path]] = (),
        resize: int | None = None,
    ) -> None:
        if len(images) != len(masks):
            raise ValueError(f"{len(images)} images but {len(masks)} masks")
        for image, mask in zip(images, masks, strict=True):
            if image.dtype != torch.uint8 or image.dim() != 3 or mask.dtype != torch.uint8 or mask.dim() != 2:
                raise ValueError(
                    f"expected uint8 images (3, H, W) and uint8 masks (H, W), got {image.dtype} "
                    f"{tuple(image.shape)} and {mask.dtype} {tuple(mask.shape)}"
                )
            if tuple(image.shape[-2:]) != tuple(mask.shape):
                raise ValueError(f"an image of {tuple(image.shape[-2:])} has a mask of {tuple(mask.shape)}")
        self.images, self.masks = list(images), list(masks)
        self.mean, self.std = list(mean), list(std)
        self.augment = augment
        self.files = list(files)
        self.resize = resize  # the short side whole pairs are resized to (`eval_transform`'s)
        self._eval: Any = None  # eval_transform, built on first use

    def __len__(self) -> int:
        return len(self.images)

    @property
    def nbytes(self) -> int:
        """The bytes the decoded pairs take."""
        return sum(t.numel() for t in (*self.images, *self.masks))

    def to(self, device: torch.device | str) -> CachedPairs:
        """Keep the decoded pairs on ``device`` (a GPU: batches are then augmented there); returns self."""
        self.images = [image.to(device) for image in self.images]
        self.masks = [mask.to(device) for mask in self.masks]
        return self

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        images = [self.images[i] for i in indices]
        masks = [self.masks[i] for i in indices]
        if self.augment is not None:
            x, y = self.augment(images, masks)
            return list(zip(x.unbind(0), y.unbind(0), strict=True))
        return [self._evaluated(image, mask) for image, mask in zip(images, masks, strict=True)]

    def _evaluated(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A whole pair through the streamed path's own `eval_transform`: validation tensors are
        then the same to the last bit whichever path a run takes."""
        from torchvision import tv_tensors

        if self._eval is None:
            self._eval = eval_transform(self.mean, self.std, self.resize)
        x, y = self._eval(tv_tensors.Image(image), tv_tensors.Mask(mask))
        return x.as_subclass(torch.Tensor), y.as_subclass(torch.Tensor)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.__getitems__([index])[0]


def _folder_and_indices(dataset: Dataset[Any]) -> tuple[Any, list[int]]:
    """A `SegmentationFolder` (anything with ``samples`` and ``load``) and the indices of it
    ``dataset`` shows: all of them, or a ``Subset``'s (``--limit-train`` / ``--limit-val``)."""
    folder, indices = subset_indices(dataset)
    if not hasattr(folder, "samples") or not hasattr(folder, "load"):
        raise TypeError(f"expected a SegmentationFolder (or a Subset of one), got {type(folder).__name__}")
    return folder, indices


def pair_sizes(dataset: Dataset[Any]) -> list[tuple[int, int]] | None:
    """Each of ``dataset``'s photos' (height, width), from their headers only; None when a header
    does not read (the pairs then stream, and the unreadable file is named when it is reached)."""
    folder, indices = _folder_and_indices(dataset)
    sizes = []
    for index in indices:
        size = image_size_of(folder.samples[index][0])
        if size is None:
            return None
        sizes.append(size)
    return sizes


def stored_bytes(sizes: Sequence[tuple[int, int]], side: int | None = None) -> int:
    """The bytes pairs of ``sizes`` take decoded (3 bytes a pixel for the image, 1 for the mask),
    stored with short sides above ``side`` reduced to it (`short_side_resized`)."""
    total = 0
    for size in sizes:
        height, width = size if side is None or min(size) <= side else short_side_resized(size, side)
        total += 4 * height * width
    return total


def pair_bytes(dataset: Dataset[Any], side: int | None = None) -> int | None:
    """`stored_bytes` of ``dataset``'s pairs (`pair_sizes`); None when a header does not read."""
    sizes = pair_sizes(dataset)
    return None if sizes is None else stored_bytes(sizes, side)


def _stored_pair(folder: Any, side: int | None, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``folder``'s pair ``index`` as plain uint8 tensors (the tv_tensors wrappers left off), its
    short side reduced to ``side`` when larger: the photo antialiased bilinear, the mask nearest,
    by the very ``v2.Resize`` that `lucid.segment.data.eval_transform` applies, so a validation
    pair stored at the run's working side scores as the streamed one does."""
    image, mask = folder.load(index)
    if side is not None and min(image.shape[-2:]) > side:
        from torchvision.transforms import v2

        image, mask = v2.Resize(side, antialias=True)(image, mask)
    return image.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)


def cache_pairs(
    dataset: Dataset[Any],
    mean: Sequence[float],
    std: Sequence[float],
    *,
    augment: PairAugment | None = None,
    progress: bool = True,
    desc: str = "decoding",
    workers: int | None = None,
    resize: int | None = None,
    side: int | None = None,
) -> CachedPairs:
    """``dataset``'s pairs (a `SegmentationFolder` or a ``Subset`` of one) decoded into
    `CachedPairs`, in ``workers`` forked loader processes (default: `lucid.data.load_each`'s, one
    per core, at most 8, for sets large enough to repay starting them); pairs whose short side is
    above ``side`` are stored reduced to it (in the worker that decodes them, so no full-size
    pair is kept). ``resize`` is `CachedPairs`'. Raises `DataError` naming the pairs that do not
    read (the first five)."""
    folder, indices = _folder_and_indices(dataset)
    pairs = load_each(
        partial(_stored_pair, folder, side),
        indices,
        progress=progress,
        desc=desc,
        workers=workers,
        what="image/mask pair(s) could not be read",
    )
    files = [folder.samples[i] for i in indices]
    images, masks = [p[0] for p in pairs], [p[1] for p in pairs]
    return CachedPairs(images, masks, mean, std, augment=augment, files=files, resize=resize)

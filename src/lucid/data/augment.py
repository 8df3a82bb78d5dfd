"""Training recipes that fit the resolution, applied per image (streaming) or per batch (cached).

Two recipes:

- ``small`` (typical short side <= 64 px): the image is resized to the training size, then
  zero-padded by 1/8 of the size and randomly cropped back, and flipped. No RandomResizedCrop:
  cropping a 32 px photo down to 8 % of its area leaves nothing to learn from.
- ``large``: ImageNet-style random-resized-crop (scale 0.25-1 of the area, ratio 3/4-4/3) from
  the image resized to ``size / 0.875`` and centre-cropped, then a flip.

TrivialAugment/AutoAugment and random erasing are off by default in both (they slowed learning
in runs of minutes, docs/training.md) and stay available through ``--auto-augment`` and
``--random-erase``.

A recipe also says how its model is scored by default (`Recipe.default_tta`, which a run's
``--tta`` overrides): ``"flip"`` scores each image and its mirror and averages the two
(`lucid.nn.MirrorAveraged`). The small recipe does so when it trains with flips: its networks
see 32 px photos, where a second forward pass is cheap beside training and the average was
measured better (docs/training.md).

`BatchAugment` applies a recipe to a whole uint8 batch in one go. torchvision's v2
transforms draw one set of random parameters per call, so on a batch every image would get the
same crop and the same flip; the per-sample crops, resized crops and flips here are therefore
hand-written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lucid.preprocessing import CROP_FRACTION  # evaluation: short side to size / 0.875, then centre crop

__all__ = [
    "CROP_FRACTION",
    "SMALL_PHOTO_BATCH",
    "TTA_CHOICES",
    "BatchAugment",
    "Recipe",
    "choose_recipe",
    "erased",
    "eval_base",
    "normalise",
    "preferred_batch",
    "sample_transform",
]

LARGE_CROP_SCALE = (0.25, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
# The batch small photos train in when the set is large enough (`preferred_batch`), and the
# optimizer steps per epoch it must still leave.
SMALL_PHOTO_BATCH = 256
SMALL_PHOTO_BATCH_MIN_STEPS = 100
# Test-time augmentations a recipe may name: the mean of each image and its mirror, or none.
TTA_CHOICES = ("flip", "none")


@dataclass
class Recipe:
    """How training images are made: ``store_size`` is the square each image is resized and
    centre-cropped to first (and cached at), ``image_size`` what the network sees, ``resize_size``
    the evaluation resize before the centre crop. Its default test-time augmentation is
    `default_tta`; the run's choice is the task's (`lucid.tasks.Task.tta`)."""

    name: str
    image_size: int
    store_size: int
    resize_size: int
    hflip: float
    pad: int
    crop_scale: tuple[float, float]
    auto_augment: str
    random_erase: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def default_tta(self) -> str:
        """How this recipe's model is scored unless the run says otherwise (`recipe_tta`)."""
        return recipe_tta(self.name, self.hflip)

    def describe(self) -> str:
        if self.name == "small":
            steps = [f"pad {self.pad} + random {self.image_size} crop"]
        else:
            low, high = self.crop_scale
            steps = [f"random-resized-crop {self.image_size} (scale {low:g}-{high:g}) from {self.store_size}"]
        if self.hflip > 0:
            steps.append(f"flip p={self.hflip:g}")
        if self.auto_augment != "none":
            steps.append(f"{self.auto_augment} augment")
        if self.random_erase > 0:
            steps.append(f"random erasing p={self.random_erase:g}")
        return f"{self.name}-image recipe: " + ", ".join(steps)


def recipe_tta(name: str, hflip: float) -> str:
    """The default test-time augmentation of recipe ``name`` trained with flip probability
    ``hflip``: test-time flip for small photos trained with flips, else one pass (for larger
    photos the gain was not measured, and a second forward pass costs more)."""
    return "flip" if name == "small" and hflip > 0 else "none"


def choose_recipe(
    image_size: int,
    small: bool,
    *,
    hflip: float | None = None,
    auto_augment: str | None = None,
    random_erase: float | None = None,
) -> Recipe:
    """The recipe for ``image_size``; ``small`` says the photos themselves are small (<= 64 px).
    ``None`` arguments take the recipe's defaults: flip 0.5, no auto-augment, no erasing."""
    flip = 0.5 if hflip is None else float(hflip)
    policy = "none" if auto_augment is None else auto_augment
    erase = 0.0 if random_erase is None else float(random_erase)
    if small:
        return Recipe(
            "small",
            image_size,
            image_size,
            image_size,
            pad=max(1, image_size // 8),
            crop_scale=(1.0, 1.0),
            hflip=flip,
            auto_augment=policy,
            random_erase=erase,
        )
    store = round(image_size / CROP_FRACTION)
    return Recipe(
        "large",
        image_size,
        store,
        store,
        pad=0,
        crop_scale=LARGE_CROP_SCALE,
        hflip=flip,
        auto_augment=policy,
        random_erase=erase,
    )


def preferred_batch(small: bool, train_images: int) -> int | None:
    """The batch a run on ``train_images`` images (per process) should use when the user names
    none, or None for the engine's default (64); ``small``: the small-photo recipe.

    Small photos make a step on a CPU mostly per-layer overhead, so a larger batch trains more
    images per second (a 32 px step of the low-resolution network: about 1.3x at 256 against 64)
    and a time-budgeted run gets more epochs. That pays only when the set is large: a small one
    needs the steps more than the speed, so `SMALL_PHOTO_BATCH` is chosen only when it still
    leaves `SMALL_PHOTO_BATCH_MIN_STEPS` steps an epoch (25,600 images)."""
    if small and train_images // SMALL_PHOTO_BATCH >= SMALL_PHOTO_BATCH_MIN_STEPS:
        return SMALL_PHOTO_BATCH
    return None


def normalise(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float, scaled to [0, 1] and normalised per channel."""
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1)
    return (images.float().div_(255.0) - m) / s


def _resized_crop_boxes(
    batch: int, side: int, scale: tuple[float, float], generator: torch.Generator | None
) -> torch.Tensor:
    """``(B, 4)`` integer boxes ``[x, y, w, h]``: RandomResizedCrop's sampling (area in ``scale``
    of the image, log-uniform aspect ratio in 3/4-4/3, clipped to the image), one per image."""
    area = side * side * torch.empty(batch).uniform_(*scale, generator=generator)
    log_ratio = torch.empty(batch).uniform_(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]), generator=generator)
    ratio = torch.exp(log_ratio)
    w = torch.sqrt(area * ratio).round().clamp(1, side)
    h = torch.sqrt(area / ratio).round().clamp(1, side)
    x = (torch.rand(batch, generator=generator) * (side - w + 1)).floor().clamp(max=side - w)
    y = (torch.rand(batch, generator=generator) * (side - h + 1)).floor().clamp(max=side - h)
    return torch.stack([x, y, w, h], dim=1).long()


class BatchAugment:
    """A `Recipe` applied to a uint8 batch ``(B, C, store, store)``: per-image random
    crops and flips (and optional auto-augment / erasing), then normalisation; returns float
    ``(B, C, size, size)``. Random numbers come from torch's global generator (seeded by the
    training run, saved with its state), or from ``generator``.

    The random parameters are drawn for the whole batch at once; the crops are then cut per
    image in a loop of tensor slices (one copy each), which measured faster on CPU than one
    gather with per-pixel indices or ``roi_align`` (several times more memory traffic).
    """

    def __init__(
        self, recipe: Recipe, mean: Sequence[float], std: Sequence[float], generator: torch.Generator | None = None
    ) -> None:
        self.recipe = recipe
        self.mean = torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1)
        self.generator = generator
        self._per_image = _per_image_steps(recipe)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        recipe, g = self.recipe, self.generator
        b, c = images.shape[:2]
        flips = (torch.rand(b, generator=g) < recipe.hflip).tolist() if recipe.hflip > 0 else [False] * b
        if recipe.name == "small":
            out = self._pad_crops(images, flips)
        else:
            out = self._resized_crops(images, flips)
        if self._per_image["augment"] is not None:
            out = torch.stack([self._per_image["augment"](img) for img in out.to(torch.uint8)])
        mean, std = self.mean.to(out.device), self.std.to(out.device)
        x = out.float().div_(255.0).sub_(mean).div_(std)
        if self._per_image["erase"] is not None and x.device.type != "cpu":
            # A set kept on the GPU: one mask for the batch (a kernel per image would leave the GPU waiting).
            x = erased(x, self.recipe.random_erase, generator=self.generator)
        elif self._per_image["erase"] is not None:
            x = torch.stack([self._per_image["erase"](img) for img in x])
        return x

    def _pad_crops(self, images: torch.Tensor, flips: list[bool]) -> torch.Tensor:
        """Zero-pad by ``pad`` and crop back at a random offset per image, flipped where asked.

        On the CPU each crop is one slice copy in a loop (measured faster there than a gather);
        elsewhere (a GPU-resident set) one batched gather, `shifted_crops`, cuts them all: a copy
        kernel per image would leave the GPU waiting on launches."""
        pad, g = self.recipe.pad, self.generator
        b, _, h, w = images.shape
        padded = F.pad(images, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (b,), generator=g)
        dx = torch.randint(0, 2 * pad + 1, (b,), generator=g)
        if images.device.type != "cpu":
            return shifted_crops(padded, dy, dx, torch.tensor(flips, dtype=torch.bool), (h, w))
        out = torch.empty_like(images)
        for i, (y, x) in enumerate(zip(dy.tolist(), dx.tolist(), strict=True)):
            crop = padded[i, :, y : y + h, x : x + w]
            out[i] = crop.flip(-1) if flips[i] else crop
        return out

    def _resized_crops(self, images: torch.Tensor, flips: list[bool]) -> torch.Tensor:
        """A random resized crop per image, flipped where asked; uint8 out.

        On the CPU each crop is resized alone, antialiased bilinear on uint8 in channels-last
        (PyTorch's fastest CPU path, about 3x float NCHW). Elsewhere (a GPU-resident set) one
        batched `resized_crops` call does them all: CUDA has no uint8 antialiased resize, and
        a kernel per image would leave the GPU waiting on launches."""
        size = self.recipe.image_size
        boxes = _resized_crop_boxes(images.shape[0], images.shape[-1], self.recipe.crop_scale, self.generator)
        if images.device.type != "cpu":
            out = resized_crops(images, boxes, size)
            flipped = torch.tensor(flips, device=images.device)
            return torch.where(flipped.view(-1, 1, 1, 1), out.flip(-1), out)
        out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8, device=images.device)
        for i, (x, y, w, h) in enumerate(boxes.tolist()):
            crop = images[i : i + 1, :, y : y + h, x : x + w].contiguous(memory_format=torch.channels_last)
            resized = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            out[i] = resized[0].flip(-1) if flips[i] else resized[0]
        return out


def shifted_crops(
    padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flips: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """``size`` ``(h, w)`` crops of a padded batch, image i's top-left corner at ``(dy[i], dx[i])``
    and mirrored where ``flips[i]``, in one gather (advanced indexing): the batched form of the
    small-photo recipe's pad-and-crop, for a set kept on the GPU."""
    b, c = padded.shape[:2]
    h, w = size
    device = padded.device
    rows = dy.to(device).view(b, 1) + torch.arange(h, device=device).view(1, h)
    cols = torch.arange(w, device=device).view(1, w).expand(b, w)
    cols = torch.where(flips.to(device).view(b, 1), cols.flip(1), cols) + dx.to(device).view(b, 1)
    batch = torch.arange(b, device=device).view(b, 1, 1, 1)
    channel = torch.arange(c, device=device).view(1, c, 1, 1)
    return padded[batch, channel, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]


ERASE_SCALE, ERASE_RATIO, ERASE_TRIES = (0.02, 0.33), (0.3, 3.3), 10  # torchvision's RandomErasing defaults


def erased(x: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """torchvision's ``RandomErasing`` (its defaults: value 0) on a batch ``(B, C, H, W)``, each
    image with its own rectangle, in one masked fill.

    Why not v2's own: it draws and erases one rectangle per call, for all images in the tensor it
    is given. The draw is its draw for every image at once: with chance ``p`` an image is erased;
    up to `ERASE_TRIES` rectangles of ``ERASE_SCALE`` of the area and a log-uniform
    ``ERASE_RATIO`` aspect are tried, the first that fits inside is erased at a uniform place, and
    an image where none fits is left whole."""
    import math

    b, _, height, width = x.shape
    chosen = torch.rand(b, generator=generator) < p
    area = (
        height
        * width
        * (ERASE_SCALE[0] + (ERASE_SCALE[1] - ERASE_SCALE[0]) * torch.rand(b, ERASE_TRIES, generator=generator))
    )
    low, high = math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1])
    aspect = torch.exp(low + (high - low) * torch.rand(b, ERASE_TRIES, generator=generator))
    tall, wide = (area * aspect).sqrt().round(), (area / aspect).sqrt().round()
    fits = (tall < height) & (wide < width)
    first = fits.to(torch.uint8).argmax(dim=1)  # the first rectangle that fits (argmax keeps the first)
    rows = torch.arange(b)
    tall, wide = tall[rows, first], wide[rows, first]
    chosen &= fits.any(dim=1)
    place = torch.rand(b, 2, generator=generator)
    top = (place[:, 0] * (height - tall + 1)).floor()
    left = (place[:, 1] * (width - wide + 1)).floor()
    box = torch.stack([top, top + tall, left, left + wide], dim=1).to(x.device, non_blocking=True)
    y = torch.arange(height, device=x.device).view(1, height, 1)
    z = torch.arange(width, device=x.device).view(1, 1, width)
    inside = (y >= box[:, 0, None, None]) & (y < box[:, 1, None, None]) & (z >= box[:, 2, None, None])
    inside &= (z < box[:, 3, None, None]) & chosen.to(x.device, non_blocking=True).view(b, 1, 1)
    return x.masked_fill(inside[:, None], 0.0)


def resized_crops(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crop ``boxes`` (one ``(x, y, w, h)`` row per image, in pixels) out of a uint8 batch and
    resize each to ``size`` x ``size``, in one call: torchvision's `roi_align`, whose adaptive
    sampling averages ``ceil(crop / size)`` samples per output pixel in each direction, so a
    shrinking crop is area-averaged as an antialiased resize would be."""
    from torchvision.ops import roi_align

    xy = boxes[:, :2].to(torch.float32)
    rois = torch.cat([torch.arange(len(boxes)).unsqueeze(1).float(), xy, xy + boxes[:, 2:].float()], dim=1)
    out = roi_align(
        images.float(), rois.to(images.device), (size, size), spatial_scale=1.0, sampling_ratio=-1, aligned=True
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _per_image_steps(recipe: Recipe) -> dict[str, Callable[[torch.Tensor], torch.Tensor] | None]:
    """The optional steps with no batch form: torchvision's auto-augment and erasing, per image."""
    from torchvision.transforms import v2

    augment = None
    if recipe.auto_augment == "trivial":
        augment = v2.TrivialAugmentWide()
    elif recipe.auto_augment == "auto":
        augment = v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)
    erase = v2.RandomErasing(recipe.random_erase) if recipe.random_erase > 0 else None
    return {"augment": augment, "erase": erase}


def eval_base(size: int, resize_size: int) -> Callable[[Any], torch.Tensor]:
    """PIL image -> uint8 ``(C, size, size)``: resize the short side to ``resize_size``
    (antialiased bilinear) and centre-crop. The cached and streaming paths both use it."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.Resize(resize_size, interpolation=v2.InterpolationMode.BILINEAR, antialias=True),
            v2.CenterCrop(size),
        ]
    )


def sample_transform(recipe: Recipe, mean: Sequence[float], std: Sequence[float]) -> Callable[[Any], torch.Tensor]:
    """The recipe for one PIL image at a time (the streaming path, in loader workers): the same
    steps `BatchAugment` applies to cached batches, with torchvision's v2 transforms."""
    from torchvision.transforms import v2

    steps: list[Any] = [eval_base(recipe.store_size, recipe.store_size)]
    if recipe.name == "small":
        steps.append(v2.RandomCrop(recipe.image_size, padding=recipe.pad))
    else:
        steps.append(v2.RandomResizedCrop(recipe.image_size, scale=recipe.crop_scale, ratio=CROP_RATIO, antialias=True))
    if recipe.hflip > 0:
        steps.append(v2.RandomHorizontalFlip(recipe.hflip))
    extra = _per_image_steps(recipe)
    if extra["augment"] is not None:
        steps.append(extra["augment"])
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    if extra["erase"] is not None:
        steps.append(extra["erase"])
    return v2.Compose(steps)

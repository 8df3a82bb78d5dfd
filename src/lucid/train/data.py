"""Training data: the embedded digits set, and the training glue over `lucid.data` for folders.

The default data is scikit-learn's bundled handwritten digits (1,797 real 8x8 images, shipped
inside the package, so nothing is downloaded), upsampled to 32x32 with bilinear interpolation.
Real data is a folder in one of `lucid.data.LAYOUTS`, walked once by `lucid.data`
(the same file list is checked and trained on), sized from its image headers, decoded into
memory when it fits the budget (else streamed), and checked completely before training starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import Dataset

from lucid.data.digits import (  # the digits set lives in lucid.data (deploy reads it too); re-exported here
    DIGITS_CLASSES,
    DIGITS_INK,
    DIGITS_INTERPOLATION,
    DigitsDataset,
    digits_datasets,
)
from lucid.errors import DataError
from lucid.preprocessing import IMAGENET_MEAN, IMAGENET_STD, channel_stats, resize_size_for  # re-exported

if TYPE_CHECKING:
    from lucid.data import FolderLayout, Recipe, SizeChoice, SplitFiles

__all__ = [
    "DIGITS_CLASSES",
    "DIGITS_INK",
    "DIGITS_INTERPOLATION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DataInfo",
    "DigitsDataset",
    "build_datasets",
    "check_image_folder",
    "digits_datasets",
    "eval_images",
    "eval_transform",
    "folder_datasets",
    "imagefolder_datasets",
    "resize_size_for",
]

# Small photos (< 64 px) train this stride-16 variant of the default model at their own size.
DEFAULT_FOLDER_MODEL = "mobilenet_v3_small"
LOWRES_MODEL = "mobilenet_v3_small_lowres"


@dataclass
class DataInfo:
    """What a run trained on: stored in summary.json and in every checkpoint's ``extra``."""

    kind: str
    description: str
    classes: list[str]
    image_size: int
    in_channels: int
    mean: list[float]
    std: list[float]
    resize_size: int
    interpolation: str
    train_size: int
    val_size: int
    root: str | None = None
    split: dict[str, Any] = field(default_factory=dict)
    # The training recipe (lucid.data.Recipe as a dict) for folders; None for digits.
    recipe: dict[str, Any] | None = None
    # Polarity of the drawings trained on ("light-on-dark" for digits), so prediction can match it.
    ink: str | None = None
    # Lines the run prints first: skipped files, the chosen size and why, the recipe, the cache.
    notes: list[str] = field(default_factory=list)
    # The model the data asks for instead of the configured one (small photos), or None.
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# ImageFolder
# --------------------------------------------------------------------------------------------


def eval_transform(
    image_size: int,
    in_channels: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    resize_size: int | None = None,
    interpolation: str = "bilinear",
) -> Callable[[Any], torch.Tensor]:
    """Evaluation pipeline: resize the short side, centre-crop ``image_size``, normalise."""
    from torchvision.transforms import v2

    mode = v2.InterpolationMode(interpolation)
    resize = resize_size if resize_size is not None else resize_size_for(image_size)
    steps = [v2.ToImage(), v2.Resize(resize, interpolation=mode, antialias=True), v2.CenterCrop(image_size)]
    return v2.Compose(steps + _to_model_input(in_channels, mean, std))


def _to_model_input(in_channels: int, mean: Sequence[float], std: Sequence[float]) -> list[Any]:
    from torchvision.transforms import v2

    steps: list[Any] = []
    if in_channels == 1:
        steps.append(v2.Grayscale(1))
    elif in_channels != 3:
        raise ValueError(f"image files give 1 (grey) or 3 (RGB) channels; the model wants in_channels={in_channels}")
    return steps + [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]


def check_image_folder(root: str | os.PathLike[str], *, verify_images: bool = True) -> list[str]:
    """Validate a data folder in any accepted layout (`lucid.data.LAYOUTS`) and return its
    class names. Raises `DataError` for anything else, a class without
    images, a validation class without training images, or (``verify_images``) an image that
    does not decode; the files checked are the ones `folder_datasets` trains on."""
    from lucid.data import find_layout
    from lucid.data import verify_images as check_decodes  # the parameter has the function's name

    layout = find_layout(root)
    if verify_images:
        files = layout.train.samples(layout.classes)[0]
        if layout.val is not None:
            files += layout.val.samples(layout.classes)[0]
        try:
            check_decodes(files, 3)
        except DataError as exc:
            raise DataError(f"--data {root}: {exc}") from None
    return layout.classes


def _seeded_subset(files: list[Path], targets: list[int], limit: int | None, seed: int) -> tuple[list[Path], list[int]]:
    """A seeded random subset of ``limit`` files (kept in order), for smoke runs."""
    if limit is None or limit >= len(files):
        return files, targets
    order = sorted(torch.randperm(len(files), generator=torch.Generator().manual_seed(seed))[:limit].tolist())
    return [files[i] for i in order], [targets[i] for i in order]


def folder_datasets(
    root: str | os.PathLike[str],
    image_size: int | None = None,
    in_channels: int = 3,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    hflip: float | None = None,
    auto_augment: str | None = None,
    random_erase: float | None = None,
    memory_budget_gb: float | None = None,
    verify_images: bool = True,
    limit_train: int | None = None,
    limit_val: int | None = None,
    progress: bool = True,
    lowres_model: str | None = None,
) -> tuple[Dataset, Dataset, DataInfo]:
    """``(train_ds, val_ds, info)`` for a data folder in any of `lucid.data.LAYOUTS`.

    One walk decides the files (`lucid.data.find_layout`); a single folder of class folders
    is split by ``val_fraction`` and ``seed`` (stratified, recorded in ``info.split``).
    ``image_size=None`` takes the size from the image headers (`lucid.data.infer_image_size`)
    and the recipe follows the photos' size (`lucid.data.choose_recipe`; its `Recipe.default_tta`
    is how the run scores unless ``--tta`` says otherwise). When the decoded
    images fit the memory budget (`lucid.data.memory_budget`: 25 % of RAM, at most 4 GiB,
    or ``memory_budget_gb``; 0 always streams) they are decoded once into uint8 tensors and
    training batches are augmented whole; otherwise images stream from disk (use loader workers).
    ``lowres_model`` (with ``image_size=None``): for photos smaller than 64 px, train that
    (stride-16) network at their own size instead of upsampling them to 64 (``info.model``).
    """
    from lucid.data import (
        SMALL_IMAGE_MAX,
        choose_recipe,
        find_layout,
        infer_image_size,
        split_files,
    )

    layout = find_layout(root)
    split = split_files(layout, val_fraction, seed)
    notes = list(layout.notes)
    train_files, train_targets = _seeded_subset(split.train_files, split.train_targets, limit_train, seed)
    val_files, val_targets = _seeded_subset(split.val_files, split.val_targets, limit_val, seed + 1)
    choice = infer_image_size(train_files)
    image_size, model = _chosen_size(choice, image_size, lowres_model, notes)
    small = choice.small or image_size <= SMALL_IMAGE_MAX
    recipe = choose_recipe(image_size, small, hflip=hflip, auto_augment=auto_augment, random_erase=random_erase)
    mean, std = (list(stats) for stats in channel_stats(in_channels))
    plan = _SetPlan(
        (train_files, train_targets), (val_files, val_targets), split.classes, recipe, in_channels, mean, std
    )
    datasets, how = _folder_sets(
        plan, memory_budget_gb=memory_budget_gb, verify_images=verify_images, progress=progress
    )
    notes.append(f"{recipe.describe()}; {how}")
    info = _folder_info(
        layout,
        split,
        (len(train_files), len(val_files)),
        recipe,
        (in_channels, mean, std),
        notes=notes,
        model=model,
        limit_val=limit_val,
    )
    return datasets[0], datasets[1], info


def _chosen_size(
    choice: SizeChoice, image_size: int | None, lowres_model: str | None, notes: list[str]
) -> tuple[int, str | None]:
    """The training size and the network for it: ``image_size`` when given; else the data's
    (``choice``, `lucid.data.infer_image_size`), with ``lowres_model`` at the photos' own size when
    they are small enough to be upsampled otherwise. The choice is said in ``notes``."""
    if image_size is not None:
        return image_size, None
    if lowres_model is not None and choice.upsampled:
        notes.append(
            f"image size {choice.native} from the data (median short side {choice.typical} px) with {lowres_model}: "
            f"the small network at output stride 16 instead of upsampling to {choice.size} (measured better, "
            f"docs/training.md); --img-size N keeps --model as given"
        )
        return choice.native, lowres_model
    notes.append(f"image size {choice.size} chosen from the data: {choice.reason} (--img-size overrides)")
    return choice.size, None


def _folder_info(
    layout: FolderLayout,
    split: SplitFiles,
    sizes: tuple[int, int],
    recipe: Recipe,
    channels: tuple[int, list[float], list[float]],
    *,
    notes: list[str],
    model: str | None,
    limit_val: int | None,
) -> DataInfo:
    """The `DataInfo` of a folder run: ``sizes`` are the train and val images used (after any
    ``--limit-*``), ``channels`` the input channels and their mean and std."""
    train_size, val_size = sizes
    in_channels, mean, std = channels
    kind = layout.describe()
    if layout.val is None:
        kind += f", held-out split {split.record['val_fraction']:g} (seed {split.record['seed']}, stratified)"
    limited = train_size != len(split.train_files) or val_size != len(split.val_files)
    return DataInfo(
        kind="imagefolder",
        description=(
            f"{layout.named}: {kind}: {train_size} train / {val_size} val images, "
            f"{len(split.classes)} classes, {recipe.image_size}x{recipe.image_size}"
            + (f" (limited from {len(split.train_files)} / {len(split.val_files)})" if limited else "")
        ),
        classes=split.classes,
        image_size=recipe.image_size,
        in_channels=in_channels,
        mean=mean,
        std=std,
        resize_size=recipe.resize_size,
        interpolation="bilinear",
        train_size=train_size,
        val_size=val_size,
        root=str(layout.named.resolve()),  # the user's folder, also where its photos were written into the cache
        split={**split.record, **({"limit_val": limit_val} if limit_val is not None else {})},
        recipe=recipe.to_dict(),
        notes=notes,
        model=model,
    )


@dataclass(frozen=True)
class _SetPlan:
    """What both ways of building a folder's two datasets read: each split's files and class
    indices, the class names, the recipe, the channels and the normalisation."""

    train: tuple[list[Path], list[int]]
    val: tuple[list[Path], list[int]]
    classes: list[str]
    recipe: Recipe
    channels: int
    mean: list[float]
    std: list[float]


def _folder_sets(
    plan: _SetPlan, *, memory_budget_gb: float | None, verify_images: bool, progress: bool
) -> tuple[tuple[Dataset[Any], Dataset[Any]], str]:
    """The two datasets, cached in memory when they fit the budget, else streaming; and a note."""
    from lucid.data import memory_budget

    train, val, recipe = plan.train, plan.val, plan.recipe
    need = plan.channels * (len(train[0]) * recipe.store_size**2 + len(val[0]) * recipe.image_size**2)
    budget = memory_budget(memory_budget_gb)
    if need <= budget:
        how = (
            f"decoded once into memory ({need / 2**20:.0f} MiB of a {budget / 2**20:.0f} MiB budget; "
            "batches augmented whole)"
        )
        return _cached_sets(plan, progress=progress), how
    if verify_images:  # each file as it will be decoded: training photos at their reduced scale
        from lucid.data import verify_images as check_decodes  # the parameter has the function's name

        sides = [recipe.store_size] * len(train[0]) + [None] * len(val[0])
        check_decodes(train[0] + val[0], plan.channels, progress=progress, decode_sides=sides)
    how = (
        f"streamed from disk (decoded {need / 2**20:.0f} MiB would exceed the {budget / 2**20:.0f} MiB memory "
        "budget, --memory-budget GB changes it; use --workers N)"
    )
    return _streamed_sets(plan), how


def _cached_sets(plan: _SetPlan, *, progress: bool) -> tuple[Dataset[Any], Dataset[Any]]:
    """Both splits decoded once into uint8 tensors: training images at the recipe's store size
    (augmented a batch at a time), validation images resized and cropped as evaluated."""
    from lucid.data import BatchAugment, CachedImages, decode_all

    (train_files, train_targets), (val_files, val_targets) = plan.train, plan.val
    recipe, mean, std = plan.recipe, plan.mean, plan.std
    decoded = decode_all(
        train_files,
        plan.channels,
        recipe.store_size,
        recipe.store_size,
        progress=progress,
        desc="decoding train",
        reduced=True,  # training photos shrink to store_size: big JPEGs decode at a reduced scale
    )
    augment = BatchAugment(recipe, mean, std)
    train_ds = CachedImages(decoded, train_targets, mean, std, augment=augment, files=train_files, classes=plan.classes)
    decoded = decode_all(
        val_files, plan.channels, recipe.image_size, recipe.resize_size, progress=progress, desc="decoding val"
    )
    return train_ds, CachedImages(decoded, val_targets, mean, std, files=val_files, classes=plan.classes)


def _streamed_sets(plan: _SetPlan) -> tuple[Dataset[Any], Dataset[Any]]:
    """Both splits read from disk image by image, through the recipe's torchvision v2 transforms."""
    from lucid.data import StreamingImages, eval_sample_transform, sample_transform

    (train_files, train_targets), (val_files, val_targets) = plan.train, plan.val
    recipe, mean, std = plan.recipe, plan.mean, plan.std
    train_stream = StreamingImages(
        train_files,
        train_targets,
        plan.channels,
        sample_transform(recipe, mean, std),  # its first step shrinks the shorter side to store_size
        classes=plan.classes,
        decode_side=recipe.store_size,
    )
    val_transform = eval_sample_transform(recipe.image_size, recipe.resize_size, mean, std)
    return train_stream, StreamingImages(val_files, val_targets, plan.channels, val_transform, classes=plan.classes)


# --------------------------------------------------------------------------------------------
# the run's data
# --------------------------------------------------------------------------------------------


def eval_images(
    files: Sequence[Path],
    targets: Sequence[int],
    channels: int,
    size: int,
    resize_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    classes: Sequence[str],
    *,
    memory_budget_gb: float | None = None,
    progress: bool = False,
) -> Dataset:
    """Evaluation images exactly as a training run validates them: decoded in memory when they
    fit the budget, else streamed; both give the same tensors."""
    from lucid.data import (
        CachedImages,
        StreamingImages,
        decode_all,
        eval_sample_transform,
        memory_budget,
    )

    if channels * len(files) * size * size <= memory_budget(memory_budget_gb):
        decoded = decode_all(list(files), channels, size, resize_size, progress=progress, desc="decoding")
        return CachedImages(decoded, targets, mean, std, files=files, classes=classes)
    transform = eval_sample_transform(size, resize_size, mean, std)
    return StreamingImages(files, targets, channels, transform, classes=classes)


def build_datasets(config: Any, in_channels: int) -> tuple[Dataset[Any], Dataset[Any], DataInfo]:
    """The run's ``(train_ds, val_ds, info)`` for a `TrainConfig`."""
    from lucid.data import dataset_size, seeded_subset

    if config.data is not None:
        return folder_datasets(
            config.data,
            config.img_size,
            in_channels,
            val_fraction=config.val_fraction,
            seed=config.seed,
            hflip=config.hflip,
            auto_augment=config.auto_augment,
            random_erase=config.random_erase,
            memory_budget_gb=getattr(config, "memory_budget", None),
            verify_images=config.verify_images,
            limit_train=config.limit_train,
            limit_val=config.limit_val,
            progress=config.progress,
            lowres_model=LOWRES_MODEL if _lowres_allowed(config) else None,
        )
    size = config.img_size or 32
    train_full, val_full = digits_datasets(
        size, seed=config.seed, val_fraction=config.val_fraction, augment=True, in_channels=in_channels
    )
    info = DataInfo(
        kind="digits",
        description=(
            f"digits: {len(train_full)} train / {len(val_full)} val, split seed {config.seed} "
            f"(sklearn load_digits, 8x8 -> {size}x{size} bilinear)"
        ),
        classes=list(DIGITS_CLASSES),
        image_size=size,
        in_channels=in_channels,
        mean=train_full.mean,
        std=train_full.std,
        resize_size=size,
        interpolation=DIGITS_INTERPOLATION,
        train_size=len(train_full),
        val_size=len(val_full),
        split={
            "seed": config.seed,
            "val_fraction": config.val_fraction,
            "stratified": True,
            **({"limit_val": config.limit_val} if config.limit_val is not None else {}),
        },
        ink=DIGITS_INK,
    )
    train_ds = seeded_subset(train_full, config.limit_train, config.seed)
    val_ds = seeded_subset(val_full, config.limit_val, config.seed + 1)
    train_size, val_size = dataset_size(train_ds), dataset_size(val_ds)
    if train_size != info.train_size or val_size != info.val_size:
        info.description += f" (limited to {train_size} train / {val_size} val)"
        info.train_size, info.val_size = train_size, val_size
    return train_ds, val_ds, info


def _lowres_allowed(config: Any) -> bool:
    """The low-resolution network replaces the default one only when nothing pins the size or
    the network: no --img-size, the default model, no --weights."""
    return config.img_size is None and config.model == DEFAULT_FOLDER_MODEL and config.weights is None


# The name lucid 2 exported: the same function.
imagefolder_datasets = folder_datasets

"""Training data: the embedded digits set and ImageFolder trees, with their transforms.

The default data is scikit-learn's bundled handwritten digits (1,797 real 8x8 images, shipped
inside the package, so nothing is downloaded), upsampled to 32x32 with bilinear interpolation.
Real data is an ImageFolder tree read and decoded by torchvision; it is checked completely
(layout, classes, every image decodes) before any training starts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

__all__ = [
    "DIGITS_CLASSES",
    "DIGITS_INTERPOLATION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DataInfo",
    "DigitsDataset",
    "digits_datasets",
    "check_image_folder",
    "imagefolder_datasets",
    "eval_transform",
    "train_transform",
    "build_datasets",
    "resize_size_for",
]

DIGITS_CLASSES = [str(d) for d in range(10)]
DIGITS_INTERPOLATION = "bilinear"
# sklearn's digits are 4-bit: pixel values 0..16.
_DIGITS_MAX = 16.0
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Evaluation resizes the short side to size / 0.875 then centre-crops (224 -> 256 -> 224).
CROP_FRACTION = 0.875


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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------


class DigitsDataset(Dataset):
    """Digits images as ``(in_channels, S, S)`` float tensors, normalised, with integer labels.

    ``images`` hold values in [0, 1]; ``augment`` (a callable on one such image) runs before the
    normalisation with ``mean``/``std``. ``classes`` are ``"0"`` .. ``"9"``; ``indices`` are the
    positions in ``sklearn.datasets.load_digits()``.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        indices: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        in_channels: int = 1,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if images.dim() != 4 or images.shape[1] != 1:
            raise ValueError(f"digits images must be (N, 1, S, S), got {tuple(images.shape)}")
        self.images = images
        self.targets = targets
        self.indices = indices
        self.classes = list(DIGITS_CLASSES)
        self.in_channels = in_channels
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        self.augment = augment
        self._mean = torch.tensor(self.mean).view(-1, 1, 1)
        self._std = torch.tensor(self.std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.augment is not None:
            image = self.augment(image)
        image = image.expand(self.in_channels, -1, -1)
        return (image - self._mean) / self._std, int(self.targets[index])


def _digits_augment() -> Callable[[torch.Tensor], torch.Tensor]:
    """Small shifts, rotations and scalings. No flips: a mirrored 2 or 5 is not a digit."""
    from torchvision.transforms import v2

    return v2.RandomAffine(
        degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), interpolation=v2.InterpolationMode.BILINEAR
    )


def digits_datasets(
    image_size: int = 32,
    seed: int = 0,
    val_fraction: float = 0.2,
    *,
    augment: bool = False,
    in_channels: int = 1,
) -> tuple[DigitsDataset, DigitsDataset]:
    """scikit-learn's 1,797 digits as ``(train_ds, val_ds)``, split and resized reproducibly.

    The split is stratified and fixed by ``seed`` (seed 0, fraction 0.2: 1437 train / 360 val).
    Images are scaled from 0..16 to [0, 1], upsampled from 8x8 to ``image_size`` with bilinear
    interpolation, and normalised with the training split's mean and std (``ds.mean``, ``ds.std``).
    Items are ``(float tensor (in_channels, S, S), int label)``; ``ds.classes`` are "0".."9".
    ``augment=True`` adds random affine jitter to the training split only. The deploy helper and
    ``lucid eval`` rebuild the validation split from these arguments (stored in checkpoints).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from torchvision.transforms.v2 import functional as F

    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 8:
        raise ValueError(f"image_size must be an integer >= 8, got {image_size!r}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    if in_channels not in (1, 3):
        raise ValueError(f"digits are grey images: in_channels must be 1 or 3, got {in_channels!r}")
    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().div_(_DIGITS_MAX).unsqueeze(1)
    images = F.resize(images, [image_size, image_size], interpolation=F.InterpolationMode.BILINEAR, antialias=True)
    images = images.clamp_(0.0, 1.0).contiguous()
    targets = torch.from_numpy(bunch.target).long()
    train_idx, val_idx = train_test_split(
        list(range(len(targets))), test_size=val_fraction, random_state=seed, stratify=bunch.target
    )
    train_idx, val_idx = torch.tensor(train_idx), torch.tensor(val_idx)
    mean = [float(images[train_idx].mean())] * in_channels
    std = [float(images[train_idx].std())] * in_channels
    make = lambda idx, aug: DigitsDataset(  # noqa: E731
        images[idx], targets[idx], idx, mean, std, in_channels=in_channels, augment=aug
    )
    return make(train_idx, _digits_augment() if augment else None), make(val_idx, None)


# --------------------------------------------------------------------------------------------
# ImageFolder
# --------------------------------------------------------------------------------------------


def resize_size_for(image_size: int) -> int:
    """The short-side resize before the centre crop: ``round(size / 0.875)`` (224 -> 256)."""
    return int(round(image_size / CROP_FRACTION))


def _channel_stats(in_channels: int) -> tuple[list[float], list[float]]:
    if in_channels == 3:
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    # Grey input: the RGB statistics' average, the same convention as lucid's weights.
    return [sum(IMAGENET_MEAN) / 3] * in_channels, [sum(IMAGENET_STD) / 3] * in_channels


def train_transform(
    image_size: int,
    in_channels: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    hflip: float = 0.5,
    auto_augment: str = "trivial",
    random_erase: float = 0.25,
) -> Callable[[Any], torch.Tensor]:
    """torchvision v2 training pipeline: random-resized-crop, flip, TrivialAugment/AutoAugment,
    normalise, random erasing; PIL images in, ``(in_channels, S, S)`` floats out."""
    from torchvision.transforms import v2

    steps: list[Any] = [v2.ToImage(), v2.RandomResizedCrop(image_size, antialias=True)]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    if auto_augment == "trivial":
        steps.append(v2.TrivialAugmentWide())
    elif auto_augment == "auto":
        steps.append(v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET))
    steps += _to_model_input(in_channels, mean, std)
    if random_erase > 0:
        steps.append(v2.RandomErasing(random_erase))
    return v2.Compose(steps)


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


def _class_images(folder: Path) -> dict[str, list[Path]]:
    """Class name -> image files of one split folder, in ImageFolder's (sorted) order."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    found = {}
    for name in classes:
        files = sorted(
            p for p in (folder / name).rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS
        )
        found[name] = files
    return found


def _unreadable(files: Sequence[Path], workers: int = 4) -> list[str]:
    """Decode every file with torchvision's ImageFolder loader; return 'path: reason' for failures."""
    from torchvision.datasets.folder import default_loader

    def check(path: Path) -> str | None:
        try:
            default_loader(str(path))
        except Exception as exc:  # noqa: BLE001 - any decoder failure means the file is unusable
            return f"{path}: {type(exc).__name__}: {exc}"
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [r for r in pool.map(check, files) if r is not None]


def check_image_folder(root: str | os.PathLike[str], *, verify_images: bool = True) -> list[str]:
    """Validate an ImageFolder tree and return its class names (the train/ class folders).

    Expects ``root/train/<class>/*.png|jpg|...`` and ``root/val/<class>/...``. Raises
    FileNotFoundError for a missing folder and ValueError for a split or class without images, a
    class found only in val/, or (``verify_images``) any image that does not decode.
    """
    base = Path(root).expanduser()
    layout = "ROOT/train/<class>/<image> and ROOT/val/<class>/<image>"
    if not base.is_dir():
        raise FileNotFoundError(f"--data {root}: no such folder (expected the layout {layout})")
    for split in ("train", "val"):
        if not (base / split).is_dir():
            raise FileNotFoundError(f"--data {root}: missing {split}/ folder (expected the layout {layout})")
    splits = {}
    for split in ("train", "val"):
        splits[split] = _class_images(base / split)
        if not splits[split]:
            raise ValueError(f"--data {root}: {split}/ has no class folders (expected {layout})")
        if not any(splits[split].values()):
            raise ValueError(
                f"--data {root}: {split}/ holds no images (looked for .jpg, .png, ... in its class folders)"
            )
    train, val = splits["train"], splits["val"]
    empty = [name for name, files in train.items() if not files]
    if empty:
        raise ValueError(f"--data {root}: class folder(s) {empty} in train/ hold no images")
    only_val = sorted(name for name, files in val.items() if files and name not in train)
    if only_val:
        raise ValueError(
            f"--data {root}: class(es) {only_val} appear only in val/; every val class needs training images in train/"
        )
    if verify_images:
        every = [p for split in splits.values() for files in split.values() for p in files]
        bad = _unreadable(every)
        if bad:
            shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise ValueError(f"--data {root}: {len(bad)} unreadable image(s): {shown}")
    return list(train)


def imagefolder_datasets(
    root: str | os.PathLike[str],
    image_size: int = 224,
    in_channels: int = 3,
    *,
    hflip: float = 0.5,
    auto_augment: str = "trivial",
    random_erase: float = 0.25,
    verify_images: bool = True,
) -> tuple[Dataset, Dataset, DataInfo]:
    """``(train_ds, val_ds, info)`` for an ImageFolder tree (see :func:`check_image_folder`).

    Both splits use the train/ class list, so a class missing from val/ keeps its index.
    """
    from torchvision.datasets import ImageFolder

    classes = check_image_folder(root, verify_images=verify_images)
    base = Path(root).expanduser()
    mean, std = _channel_stats(in_channels)
    train_tf = train_transform(
        image_size, in_channels, mean, std, hflip=hflip, auto_augment=auto_augment, random_erase=random_erase
    )
    eval_tf = eval_transform(image_size, in_channels, mean, std)
    train_ds = ImageFolder(str(base / "train"), transform=train_tf)
    val_ds = _folder_with_classes(base / "val", classes, eval_tf)
    info = DataInfo(
        kind="imagefolder",
        description=f"{base}: {len(train_ds)} train / {len(val_ds)} val images, {len(classes)} classes",
        classes=classes,
        image_size=image_size,
        in_channels=in_channels,
        mean=mean,
        std=std,
        resize_size=resize_size_for(image_size),
        interpolation="bilinear",
        train_size=len(train_ds),
        val_size=len(val_ds),
        root=str(base.resolve()),
    )
    return train_ds, val_ds, info


def _folder_with_classes(folder: Path, classes: Sequence[str], transform: Any) -> Dataset:
    """An ImageFolder over ``folder`` that indexes classes by ``classes`` (a val split may lack some)."""
    from torchvision.datasets import ImageFolder

    class _Fixed(ImageFolder):
        def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
            return list(classes), {name: i for i, name in enumerate(classes)}

    return _Fixed(str(folder), transform=transform, allow_empty=True)


# --------------------------------------------------------------------------------------------
# the run's data
# --------------------------------------------------------------------------------------------


def _limit(dataset: Dataset, limit: int | None, seed: int) -> Dataset:
    """A seeded random subset of ``limit`` items (for smoke runs), or the dataset itself."""
    if limit is None or limit >= len(dataset):
        return dataset
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return Subset(dataset, order[:limit].tolist())


def build_datasets(config: Any, in_channels: int) -> tuple[Dataset, Dataset, DataInfo]:
    """The run's ``(train_ds, val_ds, info)`` for a :class:`~lucid.train.TrainConfig`."""
    if config.data is None:
        size = config.img_size or 32
        train_ds, val_ds = digits_datasets(
            size, seed=config.seed, val_fraction=config.val_fraction, augment=True, in_channels=in_channels
        )
        info = DataInfo(
            kind="digits",
            description=(
                f"digits: {len(train_ds)} train / {len(val_ds)} val, split seed {config.seed} "
                f"(sklearn load_digits, 8x8 -> {size}x{size} bilinear)"
            ),
            classes=list(DIGITS_CLASSES),
            image_size=size,
            in_channels=in_channels,
            mean=train_ds.mean,
            std=train_ds.std,
            resize_size=size,
            interpolation=DIGITS_INTERPOLATION,
            train_size=len(train_ds),
            val_size=len(val_ds),
            split={"seed": config.seed, "val_fraction": config.val_fraction, "stratified": True},
        )
    else:
        train_ds, val_ds, info = imagefolder_datasets(
            config.data,
            config.img_size or 224,
            in_channels,
            hflip=config.hflip,
            auto_augment=config.auto_augment,
            random_erase=config.random_erase,
            verify_images=config.verify_images,
        )
    train_ds = _limit(train_ds, config.limit_train, config.seed)
    val_ds = _limit(val_ds, config.limit_val, config.seed + 1)
    if len(train_ds) != info.train_size or len(val_ds) != info.val_size:
        info.description += f" (limited to {len(train_ds)} train / {len(val_ds)} val)"
        info.train_size, info.val_size = len(train_ds), len(val_ds)
    return train_ds, val_ds, info

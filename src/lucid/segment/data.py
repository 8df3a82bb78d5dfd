"""Mask data sets: ``images/`` + ``masks/`` folders with the same file stems, and joint augmentation.

A data root holds ``train/`` and ``val/``, each with ``images/*.jpg|png`` and ``masks/*.png``.
A mask is an 8-bit single-channel PNG (mode ``L``, or ``P`` whose indices are the classes) of
the image's size; its pixel value is the class index and one void value (``ignore_index``)
marks pixels that count in neither the loss nor the metrics.

Which value is void is declared by the data or the user, never guessed from pixel statistics
(see :func:`resolve_classes`): a ``classes.txt``/``classes.json`` at the data root (or
``--classes``/``--num-classes``) names classes 0..K-1 and the one mask value outside them is
void; without names, 255 is void (torchvision's and VOC's convention) and every other value
present is a class, said in one line with the override.

Image and mask travel together through torchvision's transforms v2 as ``tv_tensors.Image`` and
``tv_tensors.Mask``: v2 applies the same random scale, crop and flip to both, resamples the
mask with nearest neighbour, fills padded mask pixels with ``ignore_index`` and leaves colour
changes to the image.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lucid.errors import DataError
from lucid.preprocessing import IMAGENET_MEAN, IMAGENET_STD  # re-exported: documented here

__all__ = [
    "IMAGE_SUFFIXES",
    "DEFAULT_IGNORE_INDEX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SegmentationFolder",
    "SegmentationDataInfo",
    "read_mask",
    "read_rgb",
    "train_transform",
    "eval_transform",
    "pad_collate",
    "class_frequencies",
    "enet_class_weights",
    "read_class_names",
    "mask_histogram",
    "resolve_classes",
    "segmentation_datasets",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DEFAULT_IGNORE_INDEX = 255
# Optional files at the data root naming the classes: a JSON list (or {"classes": [...]}) or one name per line.
CLASS_FILES = ("classes.json", "classes.txt")


def read_rgb(path: str | os.PathLike[str]) -> torch.Tensor:
    """A ``(3, H, W)`` uint8 image (grey, palette and alpha converted to RGB), decoded by PIL.

    PIL rather than torchvision.io, whose decoders are deprecated since torchvision 0.29.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except OSError as exc:
        raise DataError(f"{path}: not a readable image: {exc}") from None
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def read_mask(path: str | os.PathLike[str]) -> torch.Tensor:
    """An ``(H, W)`` uint8 class mask from an 8-bit single-channel PNG (mode ``L`` or palette ``P``).

    PIL is used rather than torchvision.io because a palette PNG must give its indices, not colours.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            mode = image.mode
            if mode not in ("L", "P"):
                raise DataError(
                    f"{path}: a mask must be an 8-bit single-channel PNG (mode L or P) whose values are the "
                    f"classes; found mode {mode} (convert colour-coded masks to class indices first)"
                )
            array = np.asarray(image, dtype=np.uint8)
    except OSError as exc:
        raise DataError(f"{path}: not a readable mask PNG: {exc}") from None
    return torch.from_numpy(array.copy())


def _pairs(split_dir: Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths matched by stem; any image without mask (or mask without image) is an error."""
    images_dir, masks_dir = split_dir / "images", split_dir / "masks"
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise DataError(f"{split_dir}: expected the folders images/ and masks/, {folder.name}/ is missing")
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    masks = {p.stem: p for p in sorted(masks_dir.iterdir()) if p.suffix.lower() == ".png"}
    if not images:
        raise DataError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
    lonely = sorted(set(images) - set(masks))
    orphans = sorted(set(masks) - set(images))
    if lonely or orphans:
        parts = []
        if lonely:
            parts.append(f"{len(lonely)} images without a mask in {masks_dir} (e.g. {lonely[:3]})")
        if orphans:
            parts.append(f"{len(orphans)} masks without an image in {images_dir} (e.g. {orphans[:3]})")
        raise DataError(f"{split_dir}: images and masks must have the same stems: {'; '.join(parts)}")
    return [(images[s], masks[s]) for s in sorted(images)]


class SegmentationFolder(Dataset):
    """One split folder (``images/`` + ``masks/``): items are ``(image, mask)`` after ``transform``.

    Without a transform an item is ``(tv_tensors.Image uint8 (3, H, W), tv_tensors.Mask uint8 (H, W))``.
    """

    def __init__(self, root: str | os.PathLike[str], transform: Any = None) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DataError(f"{self.root}: no such folder (expected a split with images/ and masks/)")
        self.samples = _pairs(self.root)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[Any, Any]:
        """The untransformed ``(Image, Mask)`` pair, checked to have the same size."""
        from torchvision import tv_tensors

        image_path, mask_path = self.samples[index]
        image, mask = read_rgb(image_path), read_mask(mask_path)
        if tuple(image.shape[-2:]) != tuple(mask.shape):
            raise DataError(
                f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image {image_path.name} is "
                f"{image.shape[2]}x{image.shape[1]} (width x height); they must be the same size"
            )
        return tv_tensors.Image(image), tv_tensors.Mask(mask)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, mask = self.load(index)
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask


def train_transform(
    crop_size: tuple[int, int],
    ignore_index: int,
    *,
    base_size: int | None = None,
    scale: tuple[float, float] = (0.5, 2.0),
    hflip: float = 0.5,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Any:
    """Random scale (short side ``base_size * U(scale)``), padded random crop, flip, normalise.

    torchvision's segmentation reference recipe with v2: padding fills the image with 0 and the
    mask with ``ignore_index``, so padded pixels are never learned.
    """
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    base = base_size or min(crop_size)
    low, high = max(1, int(base * scale[0])), max(2, int(base * scale[1]))
    steps: list[Any] = [v2.RandomResize(low, high + 1, antialias=True)]
    steps.append(
        v2.RandomCrop(list(crop_size), pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: ignore_index})
    )
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    steps += _to_model_input(mean, std)
    return v2.Compose(steps)


def eval_transform(mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> Any:
    """Full-size evaluation: only scale to float and normalise (metrics at the masks' resolution)."""
    from torchvision.transforms import v2

    return v2.Compose(_to_model_input(mean, std))


def _to_model_input(mean: Sequence[float], std: Sequence[float]) -> list[Any]:
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    return [
        v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True),
        v2.Normalize(list(mean), list(std)),
    ]


def pad_collate(ignore_index: int) -> Any:
    """A collate function padding images (0) and masks (``ignore_index``) to the batch's largest size.

    Evaluation keeps each image at its own size; padding (ignored by loss and metrics) lets images
    of different sizes share a batch. torch's default collate only stacks equal shapes.
    """

    def collate(batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        height = max(int(image.shape[-2]) for image, _ in batch)
        width = max(int(image.shape[-1]) for image, _ in batch)
        images = torch.zeros(len(batch), batch[0][0].shape[0], height, width, dtype=torch.float32)
        masks = torch.full((len(batch), height, width), ignore_index, dtype=torch.int64)
        for i, (image, mask) in enumerate(batch):
            h, w = image.shape[-2:]
            images[i, :, :h, :w] = image.as_subclass(torch.Tensor)
            masks[i, :h, :w] = mask.as_subclass(torch.Tensor)
        return images, masks

    return collate


def class_frequencies(dataset: SegmentationFolder, num_classes: int, ignore_index: int) -> torch.Tensor:
    """The fraction of labelled pixels of each class over the split's masks (void not counted)."""
    counts = mask_histogram(dataset).astype(np.float64)
    counts[ignore_index] = 0.0
    counts = counts[:num_classes]
    return torch.from_numpy(counts / max(counts.sum(), 1.0))


def enet_class_weights(frequencies: torch.Tensor, c: float = 1.02) -> torch.Tensor:
    """ENet's class weights ``1 / ln(c + p_class)`` (Paszke et al., 2016): rare classes (poles, signs,
    cyclists) weigh up to ~50x, frequent ones (road, sky) ~3x, so the loss does not ignore small objects."""
    return (1.0 / torch.log(c + frequencies)).float()


def read_class_names(root: str | os.PathLike[str]) -> list[str] | None:
    """Class names from ``classes.json`` / ``classes.txt`` at the data root, if there is one."""
    folder = Path(root).expanduser()
    for name in CLASS_FILES:
        file = folder / name
        if not file.is_file():
            continue
        if name.endswith(".json"):
            data = json.loads(file.read_text(encoding="utf-8"))
            data = data.get("classes") if isinstance(data, dict) else data
            if not isinstance(data, list):
                raise DataError(f'{file}: expected a JSON list of class names (or {{"classes": [...]}})')
            return [str(c) for c in data]
        return [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    return None


def mask_histogram(dataset: SegmentationFolder) -> np.ndarray:
    """``(256,)`` int64 pixel counts of every mask value over the split's masks."""
    counts = np.zeros(256, dtype=np.int64)
    for _, mask_path in dataset.samples:  # numpy: one small histogram per mask, no thread pool needed
        counts += np.bincount(read_mask(mask_path).numpy().reshape(-1), minlength=256)
    return counts


def _share(counts: np.ndarray, value: int) -> str:
    return f"{100 * counts[value] / max(int(counts.sum()), 1):.2f} % of the pixels"


def resolve_classes(
    counts: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    names_from: str = "--classes",
    num_classes: int | None = None,
    ignore_index: int | None = None,
) -> tuple[list[str], int, str]:
    """The class names, the void value and one line saying which value is void and why.

    ``counts`` is the ``(256,)`` pixel count of each mask value (:func:`mask_histogram` of the
    splits). The rule, declared rather than guessed (a value's rarity does not tell void from a
    small class: CamVid's void is 4 % of the pixels, its bicyclists 0.3 %):

    * names given (``names`` or ``num_classes``: K classes, values 0..K-1): the void value is
      ``ignore_index`` if given, else the one mask value present that is not a class (255 when
      there is none); two or more values outside the classes are a :class:`DataError`;
    * no names: void is ``ignore_index`` if given, else 255; every other value present is a
      class (0..the largest), and the line says how to declare the largest one void.

    Any mask value that is neither a class nor the void value is a :class:`DataError`.
    """
    present = [int(v) for v in np.flatnonzero(counts)]
    if ignore_index is not None and not 0 <= ignore_index <= 255:
        raise DataError(f"--ignore-index must be an 8-bit mask value 0..255, got {ignore_index}")
    override = "override with --ignore-index V, name the classes with --classes A,B,... or DIR/classes.txt"
    if names is not None or num_classes is not None:
        count = len(names) if names is not None else int(num_classes or 0)
        if num_classes is not None and names is not None and count != num_classes:
            raise DataError(f"--num-classes {num_classes} but {count} class names were given ({names_from})")
        label = names_from if names is not None else f"--num-classes {count}"
        unnamed = [v for v in present if v >= count]
        if ignore_index is not None:
            ignore, why = ignore_index, "--ignore-index"
        elif not unnamed:
            ignore, why = DEFAULT_IGNORE_INDEX, "not in the masks"
        elif len(unnamed) == 1:
            ignore, why = unnamed[0], f"the one mask value that is not a class, {_share(counts, unnamed[0])}"
        else:
            shares = ", ".join(f"{v} ({_share(counts, v)})" for v in unnamed)
            raise DataError(
                f"the masks hold {len(unnamed)} values outside the {count} classes of {label}: {shares}; "
                "lucid ignores one void value: pass --ignore-index V for the void one and name the others as classes"
            )
        if ignore < count:
            raise DataError(
                f"--ignore-index {ignore} is one of the {count} classes (0..{count - 1}); CamVid's void is 11, "
                "the common default 255"
            )
        class_names = [str(n) for n in names] if names is not None else [f"class_{i}" for i in range(count)]
        note = f"classes 0..{count - 1} ({count}, from {label}); void: {ignore} ({why}); {override}"
    else:
        if ignore_index is not None:
            ignore, why = ignore_index, "--ignore-index"
        else:
            ignore = DEFAULT_IGNORE_INDEX
            why = f"in the masks, {_share(counts, ignore)}" if counts[ignore] else "not in the masks"
        values = [v for v in present if v != ignore]
        if not values:
            raise DataError(f"every mask pixel is the void value {ignore}; nothing to learn")
        count = values[-1] + 1
        class_names = [f"class_{i}" for i in range(count)]
        note = f"classes 0..{count - 1} ({count}: every mask value but the void one); void: {ignore} ({why})"
        if ignore_index is None and not counts[DEFAULT_IGNORE_INDEX]:
            note += (
                f"; if {count - 1} is void/unlabelled ({_share(counts, count - 1)}), pass --ignore-index {count - 1}"
                " or name the classes in DIR/classes.txt (the value left unnamed is void)"
            )
        else:
            note += f"; {override}"
    stray = [v for v in present if v >= count and v != ignore]
    if stray:
        raise DataError(
            f"mask values {stray[:10]} ({', '.join(_share(counts, v) for v in stray[:3])}) are neither a class "
            f"(0..{count - 1}) nor the void value {ignore}: name them as classes, or pass --ignore-index V "
            "for the void one"
        )
    return class_names, ignore, note


@dataclass
class SegmentationDataInfo:
    """What the model needs to know about the data: classes, ignore value, normalisation, sizes.

    ``void_note`` is the line saying which mask value is void and why (:func:`resolve_classes`).
    """

    root: str
    classes: list[str]
    ignore_index: int
    crop_size: tuple[int, int]
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    train_images: int = 0
    val_images: int = 0
    void_note: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "classes": list(self.classes),
            "ignore_index": self.ignore_index,
            "crop_size": list(self.crop_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "train_images": self.train_images,
            "val_images": self.val_images,
            "void_note": self.void_note,
        }


def segmentation_datasets(
    root: str | os.PathLike[str],
    *,
    crop_size: tuple[int, int],
    ignore_index: int | None = None,
    num_classes: int | None = None,
    classes: Sequence[str] | None = None,
    scale: tuple[float, float] = (0.5, 2.0),
    hflip: float = 0.5,
) -> tuple[SegmentationFolder, SegmentationFolder, SegmentationDataInfo]:
    """The ``train/`` and ``val/`` splits of ``root`` with their transforms, and the data's description.

    Class names: ``classes`` > a ``classes.json``/``classes.txt`` at the root > ``class_0 ...``;
    the void value: ``ignore_index``, else declared by the names, else 255 (:func:`resolve_classes`,
    over the masks of both splits, so a value only the validation masks hold is caught here).
    """
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataError(f"--data {folder}: no such folder (expected train/ and val/, each with images/ and masks/)")
    for split in ("train", "val"):
        if not (folder / split).is_dir():
            raise DataError(
                f"--data {folder}: no {split}/ folder (expected train/ and val/, each with images/ and masks/)"
            )
    if ignore_index is not None and not 0 <= ignore_index <= 255:
        raise DataError(f"--ignore-index must be an 8-bit mask value 0..255, got {ignore_index}")
    train_ds = SegmentationFolder(folder / "train")
    val_ds = SegmentationFolder(folder / "val")
    names_from = "--classes"
    names = list(classes) if classes is not None else None
    if names is None:
        names = read_class_names(folder)
        names_from = next((f"{folder / n}" for n in CLASS_FILES if (folder / n).is_file()), names_from)
    counts = mask_histogram(train_ds) + mask_histogram(val_ds)
    try:
        names, ignore, note = resolve_classes(
            counts, names=names, names_from=names_from, num_classes=num_classes, ignore_index=ignore_index
        )
    except DataError as exc:
        raise DataError(f"--data {folder}: {exc}") from None
    crop_height, crop_width = crop_size
    info = SegmentationDataInfo(
        str(folder),
        names,
        ignore,
        (crop_height, crop_width),
        train_images=len(train_ds),
        val_images=len(val_ds),
        void_note=note,
    )
    # Scales are relative to the data's own size (the first image's short side), so scale 1 is
    # the resolution evaluation sees.
    base = min(int(d) for d in train_ds.load(0)[0].shape[-2:])
    train_ds.transform = train_transform(crop_size, ignore, base_size=base, scale=scale, hflip=hflip)
    val_ds.transform = eval_transform()
    return train_ds, val_ds, info

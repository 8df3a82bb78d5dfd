"""The embedded digits data set: scikit-learn's 1,797 real 8x8 handwritten digits, upsampled.

It lives in `lucid.data` because training (the default data of ``lucid train``) and
deployment (int8 calibration and evaluation in `lucid.deploy.quantize`) both read it, and
deployment must not import training. Nothing is downloaded: the images ship inside scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset

__all__ = [
    "DIGITS_CLASSES",
    "DIGITS_INK",
    "DIGITS_INTERPOLATION",
    "DigitsDataset",
    "digits_augment",
    "digits_datasets",
]

DIGITS_CLASSES = [str(d) for d in range(10)]
DIGITS_INTERPOLATION = "bilinear"
# The digits are light strokes on a dark background; predictions invert drawings of the other kind.
DIGITS_INK = "light-on-dark"
# sklearn's digits are 4-bit: pixel values 0..16.
_DIGITS_MAX = 16.0


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


def digits_augment() -> Callable[[torch.Tensor], torch.Tensor]:
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

    def make(idx: torch.Tensor, aug: Callable[[torch.Tensor], torch.Tensor] | None) -> DigitsDataset:
        return DigitsDataset(images[idx], targets[idx], idx, mean, std, in_channels=in_channels, augment=aug)

    return make(train_idx, digits_augment() if augment else None), make(val_idx, None)

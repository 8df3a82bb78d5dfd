"""The SSD training recipe on photos and their boxes, through torchvision's transforms v2.

An item travels as ``(tv_tensors.Image, {"boxes": tv_tensors.BoundingBoxes, "labels": ...})``:
v2 moves, crops, flips and resizes the boxes with the pixels, so they stay aligned. The recipe
is torchvision's SSD/SSDlite reference (``references/detection/presets.py``, policy ``ssd``):
zoom out onto the mean colour, a random crop that keeps boxes by IoU, a horizontal flip, the
resize to a square without keeping the aspect ratio (as torchvision's SSD transform does at
320x320), photometric distortion, and boxes left without area are dropped.

One change of order: the photometric distortion (brightness, contrast, saturation, hue, channel
order) comes after the resize, where torchvision's reference applies it first, to the photo at
its own size. It works pixel by pixel (contrast with the grey mean), so the result is alike, but
its cost is that of the model's input instead of growing with the photo; in the reference
order it took most of the augmentation's time (docs/detection.md, *Speed of training*). As in
Ultralytics, whose colour augmentation runs after its geometric ones, the fill around a
zoomed-out photo is coloured with it, and contrast blends with the mean of what the model sees.

Randomness comes from torch's global generator (v2 draws with ``torch.rand``/``torch.randint``),
so a training loop that seeds torch per epoch and per loader worker repeats the same crops.
"""

from __future__ import annotations

from typing import Any

from lucid.errors import DataError

__all__ = ["SSD_FILL", "IOU_CROP_MIN_SCALE", "train_transform", "eval_transform", "check_image_size"]

# The colour RandomZoomOut paints around the photo: ImageNet's mean in 0..255, as torchvision's reference.
SSD_FILL = (123, 117, 104)
# The smallest share of each side RandomIoUCrop keeps (torchvision's default, SSD's).
IOU_CROP_MIN_SCALE = 0.3


def check_image_size(image_size: int) -> int:
    """``image_size`` as an int, refused unless it is a positive whole number of pixels."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise DataError(f"image_size must be a positive whole number of pixels, got {image_size!r}")
    return image_size


def train_transform(image_size: int, *, hflip: float = 0.5, fill: tuple[int, int, int] = SSD_FILL) -> Any:
    """The SSD augmentation of one ``(Image, target)`` pair, ending at ``image_size`` x ``image_size``.

    SanitizeBoundingBoxes runs after the resize rather than before it, so "too small to keep"
    (its 1-pixel minimum) is judged in the pixels the model sees.
    """
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    size = check_image_size(image_size)
    steps: list[Any] = [
        v2.RandomZoomOut(fill={tv_tensors.Image: list(fill), "others": 0}),
        v2.RandomIoUCrop(min_scale=IOU_CROP_MIN_SCALE),
    ]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    steps += [v2.Resize((size, size), antialias=True), v2.RandomPhotometricDistort(), v2.SanitizeBoundingBoxes()]
    return v2.Compose(steps)


def eval_transform(image_size: int) -> Any:
    """Validation: the square resize only."""
    from torchvision.transforms import v2

    size = check_image_size(image_size)
    return v2.Compose([v2.Resize((size, size), antialias=True)])

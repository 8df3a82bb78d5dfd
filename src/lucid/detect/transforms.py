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

The IoU crop's parameters are drawn by `IoUCrop`, torchvision's ``RandomIoUCrop`` with its
draw vectorised: the same sampler (an overlap threshold, then up to 40 crops for it), all of one
threshold's crops tried in one tensor operation rather than one by one in Python.

Randomness comes from torch's global generator (v2 draws with ``torch.rand``/``torch.randint``),
so a training loop that seeds torch per epoch and per loader worker repeats the same crops.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from lucid.errors import DataError

__all__ = ["SSD_FILL", "IOU_CROP_MIN_SCALE", "IoUCrop", "train_transform", "eval_transform", "check_image_size"]

# The colour RandomZoomOut paints around the photo: ImageNet's mean in 0..255, as torchvision's reference.
SSD_FILL = (123, 117, 104)
# The smallest share of each side RandomIoUCrop keeps (torchvision's default, SSD's).
IOU_CROP_MIN_SCALE = 0.3


def check_image_size(image_size: int) -> int:
    """``image_size`` as an int, refused unless it is a positive whole number of pixels."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise DataError(f"image_size must be a positive whole number of pixels, got {image_size!r}")
    return image_size


class IoUCrop(v2.RandomIoUCrop):
    """SSD's random crop that keeps boxes by IoU: torchvision's ``RandomIoUCrop`` (its options,
    limits and crop), with the crop drawn for all of a threshold's trials at once.

    Why not torchvision's own draw: it tries the up to 40 crops of a threshold one at a time in
    Python, converting and comparing the boxes each time, and on real photos with a few dozen
    boxes that loop took about 40 % of the per-photo augmentation (docs/detection.md, *Speed of
    training*). The sampler is the same, so the crops follow the same distribution: pick a
    threshold from ``options`` (1.0 or more keeps the photo whole); draw ``trials`` candidate
    crops, each side ``min_scale``..``max_scale`` of the photo's, at a uniform offset; the first
    candidate whose aspect ratio is within limits, with some box centre strictly inside it and
    an IoU of at least the threshold with one of those boxes, is the crop; when none is, pick a
    threshold again. The random numbers are consumed differently, so a given seed gives other
    crops than torchvision's.
    """

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        found = next(x for x in flat_inputs if isinstance(x, tv_tensors.BoundingBoxes))  # check_inputs saw them
        height, width = found.canvas_size  # the image's, kept so by every v2 transform before this one
        boxes = v2.functional.convert_bounding_box_format(
            found.as_subclass(torch.Tensor), found.format, tv_tensors.BoundingBoxFormat.XYXY
        ).reshape(-1, 4)
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        while True:
            threshold = self.options[int(torch.randint(0, len(self.options), (1,)))]
            if threshold >= 1.0:
                return {}
            chosen = self._first_crop(boxes, centres, width, height, threshold)
            if chosen is not None:
                return chosen

    def _first_crop(
        self, boxes: torch.Tensor, centres: torch.Tensor, width: int, height: int, threshold: float
    ) -> dict[str, Any] | None:
        """The first of ``trials`` candidate crops that meets ``threshold``, or None (always, for a
        photo without boxes: torchvision's loop then ends only by drawing the whole-photo option)."""
        from torchvision.ops import box_iou

        if len(boxes) == 0:
            return None
        draws = torch.rand(self.trials, 4)
        scale = self.min_scale + (self.max_scale - self.min_scale) * draws[:, :2]
        sides = (scale * torch.tensor([width, height], dtype=scale.dtype)).floor()  # int() of a positive value
        corner = ((torch.tensor([width, height], dtype=scale.dtype) - sides) * draws[:, 2:]).floor()
        crops = torch.cat([corner, corner + sides], dim=1)
        ratio = sides[:, 0] / sides[:, 1].clamp(min=1)
        good = (sides > 0).all(dim=1) & (ratio >= self.min_aspect_ratio) & (ratio <= self.max_aspect_ratio)
        inside = (  # (boxes, trials): the box's centre strictly inside the crop
            (crops[None, :, 0] < centres[:, None, 0])
            & (centres[:, None, 0] < crops[None, :, 2])
            & (crops[None, :, 1] < centres[:, None, 1])
            & (centres[:, None, 1] < crops[None, :, 3])
        )
        overlap = box_iou(boxes, crops.to(boxes.dtype)).masked_fill(~inside, -1.0)
        good &= inside.any(dim=0) & (overlap.amax(dim=0) >= threshold)
        if not bool(good.any()):
            return None
        t = int(good.nonzero()[0])
        left, top, right, bottom = (int(v) for v in crops[t])
        return {
            "top": top,
            "left": left,
            "height": bottom - top,
            "width": right - left,
            "is_within_crop_area": inside[:, t],
        }

    def _get_params(self, flat_inputs: list[Any]) -> dict[str, Any]:  # torchvision < 0.21 calls it so
        return self.make_params(flat_inputs)


def train_transform(image_size: int, *, hflip: float = 0.5, fill: tuple[int, int, int] = SSD_FILL) -> Any:
    """The SSD augmentation of one ``(Image, target)`` pair, ending at ``image_size`` x ``image_size``.

    SanitizeBoundingBoxes runs after the resize rather than before it, so "too small to keep"
    (its 1-pixel minimum) is judged in the pixels the model sees.
    """
    size = check_image_size(image_size)
    steps: list[Any] = [
        v2.RandomZoomOut(fill={tv_tensors.Image: list(fill), "others": 0}),
        IoUCrop(min_scale=IOU_CROP_MIN_SCALE),
    ]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    steps += [v2.Resize((size, size), antialias=True), v2.RandomPhotometricDistort(), v2.SanitizeBoundingBoxes()]
    return v2.Compose(steps)


def eval_transform(image_size: int) -> Any:
    """Validation: the square resize only."""
    size = check_image_size(image_size)
    return v2.Compose([v2.Resize((size, size), antialias=True)])

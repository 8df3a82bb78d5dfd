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

Two changes of cost, not of recipe. The zoom-out, the IoU crop and the resize run as one step
(`ZoomCropResize`): torchvision's draws and box kernels, but the image is made from the photo's
pixels inside the crop, never from the zoomed-out canvas (up to 16x the photo's pixels), and the
flip comes after the resize, on the model's input (a flip and a resize commute). The IoU crop's
parameters are drawn by `IoUCrop`, torchvision's ``RandomIoUCrop`` with its draw vectorised:
the same sampler (an overlap threshold, then up to 40 crops for it), all of one threshold's
crops tried in one tensor operation rather than one by one in Python.

Randomness comes from torch's global generator (v2 draws with ``torch.rand``/``torch.randint``),
so a training loop that seeds torch per epoch and per loader worker repeats the same crops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from lucid.errors import DataError

__all__ = [
    "SSD_FILL",
    "IOU_CROP_MIN_SCALE",
    "IoUCrop",
    "ZoomCropResize",
    "zoomed_crop",
    "train_transform",
    "eval_transform",
    "check_image_size",
]

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
        found = _boxes_of(flat_inputs)
        height, width = found.canvas_size  # the image's, kept so by every v2 transform before this one
        return self.draw(_xyxy(found), width, height)

    def draw(self, boxes: torch.Tensor, width: int, height: int) -> dict[str, Any]:
        """The crop of a ``width`` x ``height`` image holding ``boxes`` (``(N, 4)`` XYXY): ``{}``
        (the whole image) or its ``top``, ``left``, ``height``, ``width`` and which boxes'
        centres it holds (``is_within_crop_area``)."""
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


def _boxes_of(flat_inputs: list[Any]) -> Any:
    """The ``tv_tensors.BoundingBoxes`` among a transform's inputs (``check_inputs`` saw them)."""
    return next(x for x in flat_inputs if isinstance(x, tv_tensors.BoundingBoxes))


def _xyxy(boxes: Any) -> torch.Tensor:
    """``boxes`` as a plain ``(N, 4)`` XYXY tensor."""
    plain = boxes.as_subclass(torch.Tensor)
    return v2.functional.convert_bounding_box_format(plain, boxes.format, tv_tensors.BoundingBoxFormat.XYXY).reshape(
        -1, 4
    )


class ZoomCropResize(v2.Transform):
    """SSD's zoom-out, IoU crop and square resize as one step: torchvision's ``RandomZoomOut``
    (probability ``p``, its draw of the canvas), `IoUCrop` on the zoomed boxes, then the
    resize to ``size`` x ``size``, with boxes (and masks) moved by torchvision's own kernels
    (``pad``, ``crop``, ``resize``), exactly as the three transforms in a row move them.

    Why one step: in a row, the zoom-out paints a canvas up to 4x each side of the photo (16x
    its pixels), the crop keeps up to all of it and the resize reads all of it. Here the image is
    made from the photo's pixels alone: the part of the photo inside the crop is resized to
    where it lands in the output, on the fill colour. Where the crop lies inside the photo that
    is the same resize of the same pixels, so the same image to the bit; where the canvas shows,
    the photo's edge falls on the nearest output pixel (v2 blends the edge pixel with the fill).
    """

    def __init__(
        self,
        size: int,
        *,
        fill: tuple[int, int, int] = SSD_FILL,
        min_scale: float = IOU_CROP_MIN_SCALE,
        side_range: tuple[float, float] = (1.0, 4.0),
        p: float = 0.5,
    ) -> None:
        super().__init__()
        self.size = check_image_size(size)
        self.fill = tuple(fill)
        if not 1.0 <= side_range[0] <= side_range[1]:
            raise ValueError(f"side_range must be (low, high) with 1 <= low <= high, got {side_range}")
        self.side_range, self.p = (float(side_range[0]), float(side_range[1])), p
        self.crop = IoUCrop(min_scale=min_scale)

    def check_inputs(self, flat_inputs: list[Any]) -> None:
        self.crop.check_inputs(flat_inputs)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        found = _boxes_of(flat_inputs)
        height, width = found.canvas_size
        padding = self._zoom(width, height) if torch.rand(1) < self.p else [0, 0, 0, 0]
        canvas_width, canvas_height = width + padding[0] + padding[2], height + padding[1] + padding[3]
        boxes = _xyxy(found) + torch.tensor(padding[:2] * 2, dtype=torch.float32)
        crop = self.crop.draw(boxes.to(torch.float32), canvas_width, canvas_height)
        if not crop:
            crop = {"top": 0, "left": 0, "height": canvas_height, "width": canvas_width, "is_within_crop_area": None}
        return {"padding": padding, **crop}

    def _zoom(self, width: int, height: int) -> list[int]:
        """The zoom-out's padding ``[left, top, right, bottom]``, drawn as ``RandomZoomOut`` draws
        it (the same numbers in the same order): a canvas ``side_range`` times each side, the photo
        at a uniform place on it."""
        low, high = self.side_range
        ratio = low + torch.rand(1) * (high - low)
        canvas_width, canvas_height = int(width * ratio), int(height * ratio)
        place = torch.rand(2)
        left, top = int((canvas_width - width) * place[0]), int((canvas_height - height) * place[1])
        return [left, top, canvas_width - left - width, canvas_height - top - height]

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        from torchvision.transforms.v2 import functional as F

        window = {key: params[key] for key in ("top", "left", "height", "width")}
        if isinstance(inpt, tv_tensors.BoundingBoxes | tv_tensors.Mask):
            moved = F.crop(F.pad(inpt, params["padding"], fill=0), **window)
            if isinstance(moved, tv_tensors.BoundingBoxes) and params["is_within_crop_area"] is not None:
                moved[~params["is_within_crop_area"]] = 0  # as RandomIoUCrop marks them, for SanitizeBoundingBoxes
            return F.resize(moved, [self.size, self.size], antialias=True)
        if isinstance(inpt, torch.Tensor) and inpt.ndim == 3:  # the image (a tv_tensors.Image, or a plain one)
            out = self._image(inpt.as_subclass(torch.Tensor), params)
            return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else out
        return inpt

    def _image(self, image: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        window = {key: params[key] for key in ("top", "left", "height", "width")}
        return zoomed_crop(image, params["padding"], window, self.size, self.fill)

    def _get_params(self, flat_inputs: list[Any]) -> dict[str, Any]:  # torchvision < 0.21 calls it so
        return self.make_params(flat_inputs)

    def _transform(self, inpt: Any, params: dict[str, Any]) -> Any:  # torchvision < 0.21 calls it so
        return self.transform(inpt, params)


def zoomed_crop(
    image: torch.Tensor, padding: Sequence[int], window: dict[str, int], size: int, fill: Sequence[float] = SSD_FILL
) -> torch.Tensor:
    """`ZoomCropResize`'s output image: ``window`` (``top``, ``left``, ``height``, ``width``) of the
    canvas that ``padding`` (``left, top, right, bottom``) puts around ``image``, resized to
    ``size`` x ``size``, made from the photo's pixels alone: the fill, and the photo's part inside
    the window resized (antialiased) to where it lands. On the photo's device."""
    from torchvision.transforms.v2 import functional as F

    height, width = image.shape[-2:]
    left, top = padding[0], padding[1]  # the photo's corner on the canvas
    x0, x1 = max(left, window["left"]), min(left + width, window["left"] + window["width"])
    y0, y1 = max(top, window["top"]), min(top + height, window["top"] + window["height"])
    colour = tuple(fill) if len(fill) == image.shape[0] else (sum(fill) / len(fill),)
    out = torch.tensor(colour, dtype=image.dtype).view(-1, 1, 1).to(image.device, non_blocking=True)
    out = out.expand(image.shape[0], size, size).clone()
    scale_x, scale_y = size / window["width"], size / window["height"]
    out_x0, out_x1 = round((x0 - window["left"]) * scale_x), round((x1 - window["left"]) * scale_x)
    out_y0, out_y1 = round((y0 - window["top"]) * scale_y), round((y1 - window["top"]) * scale_y)
    if out_x1 <= out_x0 or out_y1 <= out_y0:  # the photo falls on less than half an output pixel
        return out
    part = image[:, y0 - top : y1 - top, x0 - left : x1 - left]
    out[:, out_y0:out_y1, out_x0:out_x1] = F.resize(part, [out_y1 - out_y0, out_x1 - out_x0], antialias=True)
    return out


def train_transform(image_size: int, *, hflip: float = 0.5, fill: tuple[int, int, int] = SSD_FILL) -> Any:
    """The SSD augmentation of one ``(Image, target)`` pair, ending at ``image_size`` x ``image_size``:
    zoom-out, IoU crop and resize (`ZoomCropResize`), flip, photometric distortion.

    SanitizeBoundingBoxes runs after the resize rather than before it, so "too small to keep"
    (its 1-pixel minimum) is judged in the pixels the model sees.
    """
    steps: list[Any] = [ZoomCropResize(image_size, fill=fill)]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    steps += [v2.RandomPhotometricDistort(), v2.SanitizeBoundingBoxes()]
    return v2.Compose(steps)


def eval_transform(image_size: int) -> Any:
    """Validation: the square resize only."""
    size = check_image_size(image_size)
    return v2.Compose([v2.Resize((size, size), antialias=True)])

"""Detection's SSD augmentation of a whole batch at once, for photos kept on a GPU.

`lucid.detect.transforms.train_transform` augments one photo at a time, on the CPU: Python and
small tensor operations for the draws and the boxes alone, before any pixel moves, take longer
per photo than a GPU's training step does (docs/detection.md, *On a GPU: the whole batch at
once*). Here the same recipe
(`ZoomCropResize`'s zoom-out, IoU crop and square resize, the horizontal flip,
``RandomPhotometricDistort``, ``SanitizeBoundingBoxes``) runs on a batch:

- every random number is drawn on the CPU from torch's global generator, for the whole batch
  in a few tensor operations (the IoU crop's candidates of every photo at once, `draw_geometry`),
  so a seeded run repeats its crops and a resumed one continues them;
- the boxes move by the same arithmetic v2's kernels do (`moved_boxes`), on a ``(B, M, 4)``
  tensor padded to the batch's most boxes;
- the pixels move on the device: each photo's crop, with the zoom-out's fill around it, resized
  to the model's input as the per-photo recipe resizes it (`cut_images`, a resize per photo: each
  crop has its own size), then the flip and the photometric distortion of the whole batch with
  each photo's own factors (`photometric`).

The draws follow the same distributions as the per-photo recipe but consume the random numbers
in another order, so a seed gives other crops than `train_transform` gives. For the same draws,
the boxes and the pixels are the per-photo path's (the colours within a grey level: float
rounding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from lucid.detect.data import DetectionDataset
from lucid.detect.transforms import IOU_CROP_MIN_SCALE, SSD_FILL, IoUCrop, check_image_size, zoomed_crop

__all__ = [
    "Geometry",
    "Photometric",
    "BatchSSDAugment",
    "BatchedDetections",
    "draw_geometry",
    "moved_boxes",
    "cut_images",
    "draw_photometric",
    "photometric",
]

# torchvision's RandomPhotometricDistort defaults (SSD's): factor ranges and the chance of each step.
BRIGHTNESS, CONTRAST, SATURATION, HUE = (0.875, 1.125), (0.5, 1.5), (0.5, 1.5), (-0.05, 0.05)
PHOTOMETRIC_P = 0.5
# At most this many float32 values in one colour step: larger batches go in chunks.
CHUNK_VALUES = 1 << 25


@dataclass
class Geometry:
    """The drawn geometry of a batch of ``B`` photos with up to ``M`` boxes each.

    ``padding`` ``(B, 4)``: the zoom-out's ``left, top, right, bottom`` (zeros without one);
    ``crops`` ``(B, 4)``: the crop ``x0, y0, x1, y1`` on that canvas (the whole canvas when the
    IoU crop keeps it); ``within`` ``(B, M)``: the boxes whose centre the crop holds (v2 zeroes the
    others); ``flips`` ``(B,)``: the photos mirrored after the resize."""

    padding: torch.Tensor
    crops: torch.Tensor
    within: torch.Tensor
    flips: torch.Tensor


def draw_geometry(
    sizes: torch.Tensor,
    boxes: torch.Tensor,
    present: torch.Tensor,
    *,
    crop: IoUCrop | None = None,
    p_zoom: float = 0.5,
    side_range: tuple[float, float] = (1.0, 4.0),
    hflip: float = 0.5,
) -> Geometry:
    """The zoom-out, IoU crop and flip of a batch, drawn at once on the CPU.

    ``sizes`` ``(B, 2)``: each photo's ``width, height``; ``boxes`` ``(B, M, 4)`` XYXY in its
    pixels, padded; ``present`` ``(B, M)``: which rows are boxes. The zoom-out is drawn as
    ``RandomZoomOut`` draws it (a canvas ``side_range`` times each side with chance ``p_zoom``, the
    photo at a uniform place); the crop as `IoUCrop` draws it (a threshold from its options, then
    its candidates, the first that passes; again until one does, or the threshold keeps the
    canvas), every photo still looking in one tensor operation. A photo without boxes keeps its
    canvas, where `IoUCrop`'s loop also ends."""
    crop = crop if crop is not None else IoUCrop(min_scale=IOU_CROP_MIN_SCALE)
    photo = sizes.to(torch.float32)
    canvas, corner = _zoom_out(photo, p_zoom, side_range)
    padding = torch.cat([corner, canvas - photo - corner], dim=1)
    shifted = boxes.to(torch.float32) + corner.repeat(1, 2)[:, None, :]
    crops, within = _crops(shifted, present, canvas, crop)
    flips = torch.rand(len(sizes)) < hflip if hflip > 0 else torch.zeros(len(sizes), dtype=torch.bool)
    return Geometry(padding, crops, within, flips)


def _zoom_out(photo: torch.Tensor, p: float, side_range: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """``RandomZoomOut``'s draw for photos of ``(width, height)`` ``photo`` ``(B, 2)``: each
    canvas's size and the photo's corner on it (the photo itself, at 0, where it is not zoomed)."""
    b = len(photo)
    zoom = torch.rand(b) < p
    low, high = side_range
    ratio = low + torch.rand(b) * (high - low)
    canvas = torch.where(zoom[:, None], (photo * ratio[:, None]).floor(), photo)
    place = torch.rand(b, 2)
    corner = torch.where(zoom[:, None], ((canvas - photo) * place).floor(), torch.zeros_like(photo))
    return canvas, corner


def _crops(
    boxes: torch.Tensor, present: torch.Tensor, canvas: torch.Tensor, crop: IoUCrop
) -> tuple[torch.Tensor, torch.Tensor]:
    """`IoUCrop`'s crop ``(B, 4)`` of each canvas holding ``boxes``, and the boxes whose centre it
    holds ``(B, M)``: rounds of thresholds and candidates for the photos still looking."""
    crops = torch.cat([torch.zeros_like(canvas), canvas], dim=1)
    within = present.clone()
    pending = present.any(dim=1)
    options = torch.tensor(crop.options, dtype=torch.float32)
    while bool(pending.any()):
        rows = pending.nonzero().squeeze(1)
        threshold = options[torch.randint(0, len(options), (len(rows),))]
        keep_canvas = threshold >= 1.0
        pending[rows[keep_canvas]] = False
        rows, threshold = rows[~keep_canvas], threshold[~keep_canvas]
        if not len(rows):
            break
        found, chosen, inside = _first_crops(boxes[rows], present[rows], canvas[rows], threshold, crop)
        hit = rows[found]
        crops[hit], within[hit], pending[hit] = chosen[found], inside[found], False
    return crops, within


def _first_crops(
    boxes: torch.Tensor, present: torch.Tensor, canvas: torch.Tensor, threshold: torch.Tensor, crop: IoUCrop
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each of ``n`` photos, `IoUCrop`'s candidates for its ``threshold``: whether one passed,
    the first that did ``(n, 4)`` and the boxes whose centre it holds ``(n, M)``."""
    n, trials = len(boxes), crop.trials
    draws = torch.rand(n, trials, 4)
    scale = crop.min_scale + (crop.max_scale - crop.min_scale) * draws[..., :2]
    sides = (scale * canvas[:, None, :]).floor()
    corner = ((canvas[:, None, :] - sides) * draws[..., 2:]).floor()
    crops = torch.cat([corner, corner + sides], dim=2)  # (n, trials, 4)
    ratio = sides[..., 0] / sides[..., 1].clamp(min=1)
    good = (sides > 0).all(dim=2) & (ratio >= crop.min_aspect_ratio) & (ratio <= crop.max_aspect_ratio)
    centres = (boxes[..., :2] + boxes[..., 2:]) / 2  # (n, M, 2)
    x, y = centres[..., 0, None], centres[..., 1, None]  # (n, M, 1)
    inside = (  # (n, M, trials): the box's centre strictly inside the candidate
        present[..., None]
        & (crops[:, None, :, 0] < x)
        & (x < crops[:, None, :, 2])
        & (crops[:, None, :, 1] < y)
        & (y < crops[:, None, :, 3])
    )
    overlap = _batched_iou(boxes, crops).masked_fill(~inside, -1.0)
    good &= inside.any(dim=1) & (overlap.amax(dim=1) >= threshold[:, None])
    first = good.to(torch.uint8).argmax(dim=1)  # the first passing candidate (argmax keeps the first maximum)
    picked = torch.arange(n)
    return good.any(dim=1), crops[picked, first], inside[picked, :, first]


def _batched_iou(boxes: torch.Tensor, crops: torch.Tensor) -> torch.Tensor:
    """IoU ``(n, M, T)`` of each photo's boxes ``(n, M, 4)`` with its candidates ``(n, T, 4)``.

    torchvision's ``box_iou`` pairs two 2-D sets; here every photo has its own boxes and
    candidates, so this is the same formula broadcast over the batch (padded boxes have no area
    and their IoU is masked by the caller)."""
    a, c = boxes[:, :, None, :], crops[:, None, :, :]
    wide = (torch.minimum(a[..., 2], c[..., 2]) - torch.maximum(a[..., 0], c[..., 0])).clamp(min=0)
    high = (torch.minimum(a[..., 3], c[..., 3]) - torch.maximum(a[..., 1], c[..., 1])).clamp(min=0)
    inter = wide * high
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_c = (c[..., 2] - c[..., 0]) * (c[..., 3] - c[..., 1])
    return inter / (area_a + area_c - inter)


def moved_boxes(
    boxes: torch.Tensor, present: torch.Tensor, geometry: Geometry, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The boxes ``(B, M, 4)`` after the batch's geometry, in the ``size`` x ``size`` output, and
    which to keep ``(B, M)``: the same steps v2's kernels take in `train_transform` (onto the
    canvas, into the crop and clamped to it, zeroed outside it, scaled, mirrored), then
    ``SanitizeBoundingBoxes``' test (each side at least 1 pixel, an area of 1, inside the image)."""
    moved = boxes.to(torch.float32) + geometry.padding[:, None, :2].repeat(1, 1, 2)
    moved = moved - geometry.crops[:, None, :2].repeat(1, 1, 2)
    sides = (geometry.crops[:, 2:] - geometry.crops[:, :2]).repeat(1, 2)[:, None, :]  # (B, 1, 4): w, h, w, h
    moved = torch.minimum(moved.clamp(min=0), sides)
    moved = torch.where(geometry.within[..., None], moved, torch.zeros_like(moved))
    # A tensor divided by a tensor: ``size / sides`` would multiply by the reciprocal, a rounding
    # away from v2's ratio (a box on the far edge would then end a hair outside the image).
    moved = moved * (torch.full_like(sides, float(size)) / sides)
    mirrored = torch.stack([size - moved[..., 2], moved[..., 1], size - moved[..., 0], moved[..., 3]], dim=-1)
    moved = torch.where(geometry.flips[:, None, None], mirrored, moved)
    wide, high = moved[..., 2] - moved[..., 0], moved[..., 3] - moved[..., 1]
    keep = present & (wide >= 1) & (high >= 1) & (wide * high >= 1) & (moved >= 0).all(dim=-1)
    keep &= (moved[..., 0] <= size) & (moved[..., 2] <= size) & (moved[..., 1] <= size) & (moved[..., 3] <= size)
    return moved, keep


def cut_images(
    photos: Sequence[torch.Tensor], geometry: Geometry, size: int, fill: Sequence[float] = SSD_FILL
) -> torch.Tensor:
    """Each photo's crop on its zoomed-out canvas, resized to ``size`` x ``size``: uint8
    ``(B, 3, size, size)`` on the photos' device, unmirrored; each made as the per-photo recipe
    makes it (`lucid.detect.transforms.zoomed_crop`: the photo's part inside the crop resized
    with antialiasing to where it lands, on the fill), so the pixels are the per-photo path's.

    One resize per photo, since each crop has its own size: a few kernels a photo on a GPU. A
    batched ``roi_align`` (one call for the batch) was tried first and learned less on BCCD in
    two seeds (docs/detection.md): its area average is not the antialiased resize validation
    and prediction use."""
    out = torch.empty((len(photos), 3, size, size), dtype=torch.uint8, device=photos[0].device)
    padding, crops = geometry.padding.to(torch.int64).tolist(), geometry.crops.to(torch.int64).tolist()
    for i, photo in enumerate(photos):
        x0, y0, x1, y1 = crops[i]
        window = {"top": y0, "left": x0, "height": y1 - y0, "width": x1 - x0}
        out[i] = zoomed_crop(photo, padding[i], window, size, fill)
    return out


@dataclass
class Photometric:
    """``RandomPhotometricDistort``'s draws for a batch: each factor ``(B,)`` and whether it
    applies ``(B,)``, whether contrast comes before saturation and hue, and each photo's channel
    order ``(B, 3)`` (the identity where the permutation does not apply)."""

    brightness: torch.Tensor
    contrast: torch.Tensor
    saturation: torch.Tensor
    hue: torch.Tensor
    applied: torch.Tensor  # (B, 4): brightness, contrast, saturation, hue
    contrast_before: torch.Tensor
    channels: torch.Tensor


def draw_photometric(b: int, p: float = PHOTOMETRIC_P) -> Photometric:
    """The photometric distortion's random choices for ``b`` photos, drawn at once on the CPU
    with ``RandomPhotometricDistort``'s ranges and chances."""
    applied = torch.rand(b, 4) < p
    ranges = torch.tensor([BRIGHTNESS, CONTRAST, SATURATION, HUE], dtype=torch.float32)
    factors = ranges[:, 0] + torch.rand(b, 4) * (ranges[:, 1] - ranges[:, 0])
    contrast_before = torch.rand(b) < 0.5
    permute = torch.rand(b) < p
    channels = torch.where(permute[:, None], torch.rand(b, 3).argsort(dim=1), torch.arange(3).expand(b, 3))
    brightness, contrast, saturation, hue = factors.unbind(dim=1)
    return Photometric(brightness, contrast, saturation, hue, applied, contrast_before, channels)


def photometric(images: torch.Tensor, params: Photometric) -> torch.Tensor:
    """``RandomPhotometricDistort`` on a uint8 batch ``(B, 3, H, W)`` with each photo's own draws.

    Why not v2 itself: torchvision's kernels take one factor for a whole tensor, and a batch
    needs one per photo. These are the same steps with a factor per photo: brightness scales,
    contrast blends with the photo's mean grey, saturation with its grey image, hue turns the
    hue in HSV, then the channels are reordered. Each step touches only the photos it was drawn
    for, and truncates to whole grey levels as v2 does on uint8, so a photo comes out as v2
    gives it for the same factors (to float rounding: at most one grey level apart). Photos go
    through in chunks of at most `CHUNK_VALUES` values, since the hue's steps hold several float
    copies of a chunk."""
    per_chunk = max(1, CHUNK_VALUES // max(1, images[0].numel()))
    if len(images) > per_chunk:
        parts = [
            photometric(images[start : start + per_chunk], _rows(params, slice(start, start + per_chunk)))
            for start in range(0, len(images), per_chunk)
        ]
        return torch.cat(parts)
    device = images.device
    x = images.to(torch.float32)
    before = params.contrast_before
    steps = (
        (params.applied[:, 0], params.brightness, lambda v, f: (v * _per(f)).clamp_(0, 255).floor_()),
        (params.applied[:, 1] & before, params.contrast, _contrast),
        (params.applied[:, 2], params.saturation, lambda v, f: _blend(v, _grey(v), f)),
        (params.applied[:, 3], params.hue, _hue),
        (params.applied[:, 1] & ~before, params.contrast, _contrast),
    )
    for chosen, factors, step in steps:
        rows = chosen.nonzero().flatten()  # on the CPU, where the draws are: no wait on the device
        if len(rows):
            index = rows.to(device, non_blocking=True)
            x[index] = step(x[index], factors[rows].to(device, non_blocking=True))
    channels = params.channels.to(device, non_blocking=True)
    x = x.gather(1, channels[:, :, None, None].expand_as(x))
    return x.to(torch.uint8)


def _rows(params: Photometric, rows: slice) -> Photometric:
    """The draws of the photos ``rows``."""
    return Photometric(**{name: getattr(params, name)[rows] for name in Photometric.__dataclass_fields__})


def _per(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """The grey ``(B, 1, H, W)`` v2 blends with, floored as on uint8 (ITU-R 601-2 luma)."""
    r, g, b = x.unbind(dim=1)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).floor_().unsqueeze(1)


def _blend(x: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    ratio = _per(ratio)
    return (x * ratio + other * (1.0 - ratio)).clamp_(0, 255).floor_()


def _contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, _grey(x).mean(dim=(1, 2, 3), keepdim=True), factor)


def _hue(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """The hue of each photo turned by its ``factor`` (a share of the circle), in 0..255 whole levels.

    torchvision's ``adjust_hue`` takes one factor per call, and its RGB/HSV conversions are
    private; this is the same conversion (Pillow's) written for a factor per photo."""
    rgb = x * (1.0 / 255.0)  # as v2 turns uint8 into floats
    r, g, b = rgb.unbind(dim=1)
    top, bottom = rgb.amax(dim=1), rgb.amin(dim=1)
    flat = top == bottom
    span = top - bottom
    s = span / torch.where(flat, torch.ones_like(top), top)
    divisor = torch.where(flat, torch.ones_like(span), span)
    rc, gc, bc = (top - r) / divisor, (top - g) / divisor, (top - b) / divisor
    is_r, is_g = top == r, (top == g) & (top != r)
    h = torch.where(is_r, bc - gc, torch.where(is_g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = (h * (1.0 / 6.0) + 1.0).fmod(1.0)
    h = (h + _per(factor)[:, 0]).remainder(1.0)
    return _hsv_to_rgb(h, s, top).mul_(255.0 + 1.0 - 1e-3).floor_()  # v2's float-to-uint8 scaling


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """RGB ``(B, 3, H, W)`` in 0..1 of hue, saturation and value ``(B, H, W)`` (Pillow's sectors)."""
    h6 = h * 6.0
    sector = h6.floor()
    f = h6 - sector
    sector = sector.to(torch.int64).remainder(6)
    p = ((1.0 - s) * v).clamp(0.0, 1.0)
    q = ((1.0 - s * f) * v).clamp(0.0, 1.0)
    t = ((s * f + (1.0 - s)) * v).clamp(0.0, 1.0)
    choices = torch.stack([v, p, q, t], dim=1)  # (B, 4, H, W)
    pick = torch.tensor([[0, 2, 1, 1, 3, 0], [3, 0, 0, 2, 1, 1], [1, 1, 3, 0, 0, 2]]).to(h.device, non_blocking=True)
    return choices.gather(1, pick[:, sector].permute(1, 0, 2, 3))


class BatchSSDAugment:
    """The SSD training recipe of `lucid.detect.train_transform` on a batch of decoded photos:
    ``(photos, boxes, labels)`` in, ``(images uint8 (B, 3, size, size), boxes, labels)`` out,
    the pixels on the photos' device, the boxes and labels moved there too (one copy each)."""

    def __init__(
        self,
        size: int,
        *,
        hflip: float = 0.5,
        fill: tuple[int, int, int] = SSD_FILL,
        min_scale: float = IOU_CROP_MIN_SCALE,
        side_range: tuple[float, float] = (1.0, 4.0),
        p_zoom: float = 0.5,
    ) -> None:
        self.size = check_image_size(size)
        self.hflip, self.fill = hflip, tuple(fill)
        if not 1.0 <= side_range[0] <= side_range[1]:
            raise ValueError(f"side_range must be (low, high) with 1 <= low <= high, got {side_range}")
        self.side_range, self.p_zoom = (float(side_range[0]), float(side_range[1])), p_zoom
        self.crop = IoUCrop(min_scale=min_scale)

    def __call__(
        self, photos: Sequence[torch.Tensor], boxes: Sequence[torch.Tensor], labels: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        from torch.nn.utils.rnn import pad_sequence

        counts = torch.tensor([len(b) for b in boxes])
        padded = pad_sequence([b.reshape(-1, 4).to(torch.float32) for b in boxes], batch_first=True)
        if padded.shape[1] == 0:
            padded = torch.zeros(len(boxes), 1, 4)
        present = torch.arange(padded.shape[1])[None, :] < counts[:, None]
        sizes = torch.tensor([[p.shape[-1], p.shape[-2]] for p in photos])
        geometry = draw_geometry(
            sizes, padded, present, crop=self.crop, p_zoom=self.p_zoom, side_range=self.side_range, hflip=self.hflip
        )
        moved, keep = moved_boxes(padded, present, geometry, self.size)
        images = cut_images(photos, geometry, self.size, self.fill)
        images = torch.where(
            geometry.flips.to(images.device, non_blocking=True).view(-1, 1, 1, 1), images.flip(-1), images
        )
        images = photometric(images, draw_photometric(len(photos)))
        return (images, *_split_kept(moved, keep, pad_sequence(list(labels), batch_first=True), images.device))


def _split_kept(
    moved: torch.Tensor, keep: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Each photo's kept boxes and labels on ``device``: one copy of all of them, then views."""
    counts = keep.sum(dim=1).tolist()
    labels = labels if labels.shape[1] else torch.zeros(keep.shape, dtype=torch.int64)
    flat_boxes = moved[keep].to(device, non_blocking=True)
    flat_labels = labels[keep].to(device, non_blocking=True)
    return list(flat_boxes.split(counts)), list(flat_labels.split(counts))


class BatchedDetections(Dataset):
    """A detection training set decoded in memory (or on a GPU) and augmented a batch at a time
    by `BatchSSDAugment` in ``__getitems__``: items as `lucid.detect.DetectionDataset` gives
    them (``(image, {"boxes", "labels", "image_id", "orig_size"})``), for `detection_collate`."""

    def __init__(
        self,
        photos: Sequence[torch.Tensor],
        boxes: Sequence[torch.Tensor],
        labels: Sequence[torch.Tensor],
        ids: Sequence[int],
        orig_sizes: Sequence[tuple[int, int]],
        augment: BatchSSDAugment,
    ) -> None:
        if not len(photos) == len(boxes) == len(labels) == len(ids) == len(orig_sizes):
            raise ValueError(
                f"one entry per photo was expected, got {len(photos)} photos, {len(boxes)} box sets, "
                f"{len(labels)} label sets, {len(ids)} ids and {len(orig_sizes)} sizes"
            )
        self.photos, self.boxes, self.labels = list(photos), list(boxes), list(labels)
        self.ids, self.orig_sizes = list(ids), list(orig_sizes)
        self.augment = augment

    @classmethod
    def of(cls, dataset: Any, augment: BatchSSDAugment) -> BatchedDetections:
        """The photos a `lucid.detect.DetectionDataset` (or a ``Subset`` of one) kept decoded
        (`DetectionDataset.keep_decoded`), in its order; refused when one was not kept."""
        from lucid.data import subset_indices

        base, indices = subset_indices(dataset)
        if not isinstance(base, DetectionDataset):
            raise TypeError(f"a DetectionDataset (or a Subset of one) was expected, got {type(base).__name__}")
        missing = [i for i in indices if i not in base.decoded or i in base.transformed]
        if missing:
            raise ValueError(f"{len(missing)} of {len(indices)} photos are not kept decoded (e.g. index {missing[0]})")
        kept = [base.decoded[i] for i in indices]
        sizes = [(base.records[i].height, base.records[i].width) for i in indices]
        photos, boxes, labels = ([k[part] for k in kept] for part in range(3))
        return cls(photos, boxes, labels, indices, sizes, augment)

    def __len__(self) -> int:
        return len(self.photos)

    @property
    def nbytes(self) -> int:
        """The bytes of the kept photos."""
        return sum(p.numel() * p.element_size() for p in self.photos)

    def to(self, device: torch.device | str) -> BatchedDetections:
        """Keep the photos on ``device`` (a GPU: batches are then cut there); returns self."""
        self.photos = [p.to(device) for p in self.photos]
        return self

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, dict[str, Any]]]:
        indices = list(indices)
        images, boxes, labels = self.augment(
            [self.photos[i] for i in indices], [self.boxes[i] for i in indices], [self.labels[i] for i in indices]
        )
        return [
            (image, {"boxes": b, "labels": lab, "image_id": self.ids[i], "orig_size": self.orig_sizes[i]})
            for image, b, lab, i in zip(images.unbind(0), boxes, labels, indices, strict=True)
        ]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        return self.__getitems__([index])[0]

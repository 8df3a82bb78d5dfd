"""Detection's SSD augmentation of a whole batch (`lucid.detect.batched`), the path of photos
kept on a GPU, against the per-photo recipe built from torchvision's transforms v2: the boxes
move as v2's kernels move them, the pixels are the per-photo path's and the photometric
distortion gives v2's for the same factors, and the draws follow the per-photo recipe's
distributions. Run on the CPU; tests/test_devices.py trains with it on CUDA."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as TF
from torch.nn.utils.rnn import pad_sequence
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from drawing_helpers import boxes_folder
from lucid.detect import SSD_FILL, ZoomCropResize, detection_collate, detection_datasets
from lucid.detect.batched import (
    BatchedDetections,
    BatchSSDAugment,
    cut_images,
    draw_geometry,
    draw_photometric,
    moved_boxes,
    photometric,
)

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = 96


def _smooth(height: int, width: int) -> torch.Tensor:
    """A photo of broad colour gradients (noise would make any two resizes differ most)."""
    coarse = torch.rand(1, 3, max(2, height // 12), max(2, width // 12)) * 255
    return TF.interpolate(coarse, size=(height, width), mode="bilinear").round().to(torch.uint8)[0]


def _photos(count: int) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """Photos of two sizes with 0-4 boxes each, some touching the photo's edges."""
    photos, boxes, labels = [], [], []
    for i in range(count):
        height, width = (120, 160) if i % 3 else (100, 80)
        n = i % 5
        corner = torch.rand(n, 2) * torch.tensor([width - 8.0, height - 8.0])
        sides = 3 + torch.rand(n, 2) * 20
        box = torch.cat([corner, torch.minimum(corner + sides, torch.tensor([width, height]))], dim=1)
        if n:
            box[0, :2] = 0.0  # on the top-left edge
        photos.append(_smooth(height, width))
        boxes.append(box)
        labels.append(torch.randint(1, 4, (n,)))
    return photos, boxes, labels


def _padded(photos, boxes):
    counts = torch.tensor([len(b) for b in boxes])
    padded = pad_sequence(boxes, batch_first=True)
    present = torch.arange(padded.shape[1])[None, :] < counts[:, None]
    sizes = torch.tensor([[p.shape[-1], p.shape[-2]] for p in photos])
    return sizes, padded, present


def _v2_params(geometry, i: int, count: int) -> dict:
    """`ZoomCropResize`'s parameters for photo ``i`` of a drawn batch geometry."""
    left, top, right, bottom = (int(v) for v in geometry.padding[i])
    x0, y0, x1, y1 = (int(v) for v in geometry.crops[i])
    return {
        "padding": [left, top, right, bottom],
        "top": y0,
        "left": x0,
        "height": y1 - y0,
        "width": x1 - x0,
        "is_within_crop_area": geometry.within[i, :count],
    }


def test_boxes_move_as_torchvisions_kernels_move_them():
    torch.manual_seed(0)
    photos, boxes, labels = _photos(60)
    sizes, padded, present = _padded(photos, boxes)
    geometry = draw_geometry(sizes, padded, present)
    assert bool(geometry.flips.any()) and bool((geometry.padding.sum(dim=1) > 0).any())  # both were drawn
    moved, keep = moved_boxes(padded, present, geometry, SIZE)
    resize = ZoomCropResize(SIZE)
    checked = 0
    for i, (photo, box, label) in enumerate(zip(photos, boxes, labels, strict=True)):
        wrapped = tv_tensors.BoundingBoxes(box, format="XYXY", canvas_size=tuple(photo.shape[-2:]))
        out = resize.transform(wrapped, _v2_params(geometry, i, len(box)))
        if geometry.flips[i]:
            out = F.horizontal_flip(out)
        expected = v2.SanitizeBoundingBoxes()({"boxes": out, "labels": label})
        assert torch.equal(label[keep[i, : len(box)]], expected["labels"])
        torch.testing.assert_close(moved[i][keep[i]], expected["boxes"].as_subclass(torch.Tensor), rtol=0, atol=1e-4)
        checked += len(expected["labels"])
    assert checked > 20 and bool((~keep & present).any())  # some boxes kept, some cropped away


def test_photometric_distortion_is_torchvisions_with_the_same_factors():
    torch.manual_seed(1)
    images = torch.randint(0, 256, (48, 3, 24, 24), dtype=torch.uint8)
    params = draw_photometric(len(images))
    assert 0 < int(params.applied.sum()) < params.applied.numel()
    out = photometric(images, params)
    differing = 0
    for i, image in enumerate(images):
        x = image
        if params.applied[i, 0]:
            x = F.adjust_brightness(x, float(params.brightness[i]))
        if params.applied[i, 1] and params.contrast_before[i]:
            x = F.adjust_contrast(x, float(params.contrast[i]))
        if params.applied[i, 2]:
            x = F.adjust_saturation(x, float(params.saturation[i]))
        if params.applied[i, 3]:
            x = F.adjust_hue(x, float(params.hue[i]))
        if params.applied[i, 1] and not params.contrast_before[i]:
            x = F.adjust_contrast(x, float(params.contrast[i]))
        x = F.permute_channels(x, params.channels[i].tolist())
        gap = (x.int() - out[i].int()).abs()
        assert int(gap.max()) <= 1  # float rounding may move a value across a whole grey level
        differing += int((gap > 0).sum())
    assert differing < images.numel() // 1000


def test_pixels_are_the_per_photo_recipes():
    torch.manual_seed(2)
    photos, boxes, _ = _photos(24)
    sizes, padded, present = _padded(photos, boxes)
    geometry = draw_geometry(sizes, padded, present, hflip=0.0)
    cut = cut_images(photos, geometry, SIZE)
    resize = ZoomCropResize(SIZE)
    zoomed = 0
    for i, photo in enumerate(photos):
        params = _v2_params(geometry, i, 0)
        expected = resize.transform(tv_tensors.Image(photo), params).as_subclass(torch.Tensor)
        assert torch.equal(cut[i], expected)
        left, top = params["padding"][:2]
        if left > params["left"] + 2 and top > params["top"] + 2:  # the canvas shows at the top-left corner
            assert cut[i, :, 0, 0].tolist() == list(SSD_FILL)
            zoomed += 1
    assert zoomed >= 1


def test_draws_follow_the_per_photo_recipes_distributions():
    torch.manual_seed(3)
    photo = torch.zeros(3, 60, 80, dtype=torch.uint8)  # only its size matters to the draws
    box = torch.tensor([[10.0, 10.0, 30.0, 40.0], [50.0, 5.0, 75.0, 25.0]])
    wrapped = tv_tensors.BoundingBoxes(box, format="XYXY", canvas_size=(60, 80))
    resize, draws = ZoomCropResize(SIZE), 800

    def shares(padding, crops):
        canvas = (80 + padding[:, 0] + padding[:, 2]) * (60 + padding[:, 1] + padding[:, 3])
        area = (crops[:, 2] - crops[:, 0]) * (crops[:, 3] - crops[:, 1])
        return float((padding.sum(dim=1) > 0).float().mean()), float((area / canvas).mean())

    one = [resize.make_params([photo, wrapped]) for _ in range(draws)]
    padding = torch.tensor([p["padding"] for p in one], dtype=torch.float32)
    crops = torch.tensor([[p["left"], p["top"], p["left"] + p["width"], p["top"] + p["height"]] for p in one])
    per_photo = shares(padding, crops.float())
    sizes = torch.tensor([[80, 60]]).expand(draws, 2)
    geometry = draw_geometry(sizes, box.expand(draws, 2, 4), torch.ones(draws, 2, dtype=torch.bool))
    batched = shares(geometry.padding, geometry.crops)
    assert batched[0] == pytest.approx(per_photo[0], abs=0.07)  # zoomed out: half the photos
    assert batched[1] == pytest.approx(per_photo[1], abs=0.06)  # the canvas's share the crop keeps
    assert 0.3 < per_photo[1] < 0.9


def test_a_kept_set_gives_collatable_items_the_detector_trains_on(tmp_path):
    import lucid.models as lm

    data = boxes_folder(tmp_path / "d", count=8)
    train_set, _, info = detection_datasets(data, image_size=SIZE)
    with pytest.raises(ValueError, match="photos are not kept decoded"):
        BatchedDetections.of(train_set, BatchSSDAugment(SIZE))
    train_set.keep_decoded(range(len(train_set)), progress=False)
    dataset = BatchedDetections.of(train_set, BatchSSDAugment(SIZE))
    assert len(dataset) == len(train_set) and dataset.nbytes == 3 * 64 * 48 * len(train_set)
    batches = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        batches.append(detection_collate(dataset.__getitems__([0, 1, 2, 3])))
    (images, targets), (again, repeated), (other, _) = batches
    assert images.dtype == torch.uint8 and images.shape == (4, 3, SIZE, SIZE)
    assert torch.equal(images, again)
    assert all(torch.equal(a["boxes"], b["boxes"]) for a, b in zip(targets, repeated, strict=True))
    assert not torch.equal(images, other)  # another seed, other crops
    for index, target in enumerate(targets):
        assert target["image_id"] == index and target["orig_size"] == (48, 64)
        assert set(target["labels"].tolist()) <= {1, 2} and len(target["boxes"]) == len(target["labels"])
        assert bool((target["boxes"] >= 0).all() and (target["boxes"] <= SIZE).all())
    model = lm.ssdlite320_mobilenet_v3_small(num_classes=info.num_classes, image_size=SIZE)
    model.train()
    losses = model(images.float() / 255, [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets])
    assert all(bool(torch.isfinite(value)) for value in losses.values())


def test_large_batches_go_through_in_chunks_with_the_same_result(monkeypatch):
    """Batches larger than `CHUNK_VALUES` are coloured a chunk at a time (bounded memory on the
    GPU), to the same pixels as in one go."""
    import lucid.detect.batched as batched

    torch.manual_seed(4)
    photos, boxes, _ = _photos(10)
    sizes, padded, present = _padded(photos, boxes)
    geometry = draw_geometry(sizes, padded, present)
    params = draw_photometric(10)
    whole = photometric(cut_images(photos, geometry, SIZE), params)
    monkeypatch.setattr(batched, "CHUNK_VALUES", 3 * SIZE * SIZE * 3)  # 3 photos a chunk
    assert torch.equal(photometric(cut_images(photos, geometry, SIZE), params), whole)

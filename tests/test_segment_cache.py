"""Segmentation's in-memory data path (`lucid.segment.cache`): pairs decoded once, augmented a batch at a time.

The crops must keep each mask on its image (the same scale, window and flip), pad as the streamed
recipe pads, and validation must give the streamed path's tensors exactly; a run decodes its pairs
when they fit the memory budget and streams them otherwise, and says which.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lucid.errors import DataError
from lucid.segment import SegmentConfig, make_shapes_dataset, segmentation_datasets
from lucid.segment.cache import CachedPairs, PairAugment, cache_pairs, pair_bytes
from lucid.train import TrainResult, train

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# Class k is painted in COLOURS[k]: after augmentation a pixel's colour says which class it shows.
COLOURS = torch.tensor([[0, 0, 0], [250, 20, 20], [20, 250, 20], [20, 20, 250], [240, 240, 40]], dtype=torch.uint8)


def _blocks(height: int, width: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A pair of 16-pixel blocks of random classes, the image painted in each class's colour."""
    g = torch.Generator().manual_seed(seed)
    cells = torch.randint(0, len(COLOURS), (height // 16 + 1, width // 16 + 1), generator=g)
    mask = cells.repeat_interleave(16, 0).repeat_interleave(16, 1)[:height, :width].to(torch.uint8)
    image = COLOURS[mask.long()].permute(2, 0, 1).contiguous()
    return image, mask


def _unnormalised(x: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
    return (x * std + mean) * 255


# The crops are cut where the pairs are kept: on the CPU, and on a GPU where torch sees one.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_every_crop_keeps_its_mask_on_its_image(device):
    pairs = [tuple(t.to(device) for t in _blocks(96, 128, seed)) for seed in range(3)]
    pairs.append(tuple(t.to(device) for t in _blocks(140, 100, 7)))
    augment = PairAugment(
        (64, 80), (48, 200), 255, hflip=0.5, mean=MEAN, std=STD, generator=torch.Generator().manual_seed(0)
    )
    checked = 0
    for _ in range(6):
        images, masks = augment([p[0] for p in pairs], [p[1] for p in pairs])
        assert images.device.type == masks.device.type == device
        images, masks = images.cpu(), masks.cpu()
        assert images.shape == (4, 3, 64, 80) and images.dtype == torch.float32
        assert masks.shape == (4, 64, 80) and masks.dtype == torch.int64
        for image, mask in zip(images, masks, strict=True):
            colours = _unnormalised(image)
            # Pixels well inside one class (their 5x5 neighbourhood all one class) show its colour;
            # edges blend in the antialiased resize and are not checked.
            padded = torch.nn.functional.pad(mask.float()[None, None], (2, 2, 2, 2), value=-1)
            low = -torch.nn.functional.max_pool2d(-padded, 5, 1)[0, 0]
            high = torch.nn.functional.max_pool2d(padded, 5, 1)[0, 0]
            inside = (low == high) & (mask != 255)
            expected = COLOURS[mask[inside]].float()
            assert torch.allclose(colours[:, inside].T, expected, atol=1.5)
            checked += int(inside.sum())
    assert checked > 4 * 6 * 64 * 80 // 4  # most pixels were checked, not a few


def test_a_small_image_is_padded_with_zeros_and_void():
    image, mask = _blocks(40, 40, 1)
    augment = PairAugment(
        (64, 64), (40, 40), 9, hflip=0.0, mean=MEAN, std=STD, generator=torch.Generator().manual_seed(3)
    )
    images, masks = augment([image], [mask])
    labelled = masks[0] != 9
    assert int(labelled.sum()) == 40 * 40  # the whole image, at scale 1, inside the crop
    rows, cols = labelled.nonzero().T
    top, left = int(rows.min()), int(cols.min())
    assert torch.equal(masks[0, top : top + 40, left : left + 40], mask.long())
    assert torch.equal(_unnormalised(images[0][:, top : top + 40, left : left + 40]).round(), image.float())
    padding = _unnormalised(images[0])[:, ~labelled]
    assert torch.allclose(padding, torch.zeros_like(padding), atol=1e-3)  # black, as the streamed path pads


def test_the_drawn_scale_and_flip_show_in_the_mask():
    # mask[y, x] = x // 2: after a rescale to half size each crop column steps one value.
    image = torch.zeros(3, 100, 400, dtype=torch.uint8)
    mask = (torch.arange(400) // 2).to(torch.uint8).expand(100, 400).contiguous()
    augment = PairAugment(
        (32, 64), (50, 50), 255, hflip=1.0, mean=MEAN, std=STD, generator=torch.Generator().manual_seed(0)
    )
    _, masks = augment([image], [mask])
    rows = masks[0][masks[0, :, 0] != 255]
    assert rows.shape[0] == 32  # 50 rows at half scale cover the 32-row crop
    steps = rows[0, 1:] - rows[0, :-1]
    assert torch.all(steps == -1)  # half scale (two stored columns a pixel), mirrored


def test_cached_validation_gives_the_streamed_tensors(tmp_path):
    root = make_shapes_dataset(tmp_path / "shapes", train=6, val=4, size=(40, 56))
    train_set, val_set, info = segmentation_datasets(root, crop_size=(32, 32))
    cached = cache_pairs(val_set, info.mean, info.std, progress=False)
    assert len(cached) == len(val_set) == 4
    assert cached.nbytes == pair_bytes(val_set) == 4 * 4 * 40 * 56
    for index in range(len(val_set)):
        streamed_image, streamed_mask = val_set[index]
        image, mask = cached[index]
        assert torch.equal(image, streamed_image.as_subclass(torch.Tensor))
        assert torch.equal(mask, streamed_mask.as_subclass(torch.Tensor))


def test_pairs_stored_at_a_smaller_side_validate_as_streamed_pairs_resized_to_it(tmp_path):
    """A run working at a short side below its photos' stores their validation pairs reduced to
    it; scored, they give the tensors the streamed path's resize gives, to the last bit."""
    from lucid.segment import eval_transform

    root = make_shapes_dataset(tmp_path / "shapes", train=2, val=3, size=(40, 56))
    _, val_set, info = segmentation_datasets(root, crop_size=(16, 16))
    cached = cache_pairs(val_set, info.mean, info.std, progress=False, resize=24, side=24)
    assert cached.nbytes == pair_bytes(val_set, side=24) == 3 * 4 * 24 * 33  # 56 * 24 / 40 = 33.6
    assert [tuple(mask.shape) for mask in cached.masks] == [(24, 33)] * 3
    resized = eval_transform(info.mean, info.std, resize=24)
    for index in range(len(val_set)):
        streamed_image, streamed_mask = resized(*val_set.load(index))
        image, mask = cached[index]
        assert torch.equal(image, streamed_image.as_subclass(torch.Tensor))
        assert torch.equal(mask, streamed_mask.as_subclass(torch.Tensor))


def test_decoding_names_the_pair_that_does_not_read(tmp_path):
    root = make_shapes_dataset(tmp_path / "shapes", train=6, val=2, size=(40, 56))
    first = sorted((root / "train" / "masks").iterdir())[-1]
    Image.fromarray(np.zeros((10, 10), dtype=np.uint8)).save(first)  # a mask of another size than its image
    train_set, _, info = segmentation_datasets(root, crop_size=(32, 32))
    with pytest.raises(DataError, match=r"^1 image/mask pair\(s\) could not be read: .*" + first.name):
        cache_pairs(train_set, info.mean, info.std, progress=False, workers=0)


def test_cached_pairs_refuse_what_is_not_a_pair():
    image, mask = _blocks(32, 32, 0)
    with pytest.raises(ValueError, match="expected uint8 images"):
        CachedPairs([image.float()], [mask], MEAN, STD)
    with pytest.raises(ValueError, match="has a mask of"):
        CachedPairs([image], [mask[:16]], MEAN, STD)
    with pytest.raises(ValueError, match="2 images but 1 masks"):
        CachedPairs([image, image], [mask], MEAN, STD)


def _run(tmp_path: Path, name: str, **options) -> tuple[TrainResult, str]:
    root = tmp_path / "shapes"
    if not root.exists():
        make_shapes_dataset(root, train=12, val=4, size=(48, 64))
    config = SegmentConfig(
        data=str(root), crop_size=(32, 48), epochs=2, batch_size=4, out=str(tmp_path / name), progress=False, **options
    )
    summary = train(config)
    return summary, (tmp_path / name / "summary.json").read_text()


def test_a_run_decodes_its_pairs_when_they_fit_and_streams_them_when_not(tmp_path, capsys):
    summary, _ = _run(tmp_path, "cached")
    out = capsys.readouterr().out
    assert "images and masks decoded once into memory (0 MiB of a" in out
    assert "data decoded once and kept " in out  # in memory, or on the GPU where there is one
    assert summary.epochs == 2

    summary, _ = _run(tmp_path, "streamed", memory_budget=0.0)
    out = capsys.readouterr().out
    assert "images and masks streamed from disk (decoded 0 MiB would exceed the 0 MiB memory budget" in out
    assert "data decoded once" not in out and ("data read in the training process" in out or "loader workers" in out)
    assert summary.epochs == 2


def test_a_cached_run_repeats_itself_exactly(tmp_path):
    first, _ = _run(tmp_path, "one", seed=3)
    second, _ = _run(tmp_path, "two", seed=3)
    assert len(first.history) == len(second.history) == 2
    for a, b in zip(first.history, second.history, strict=True):
        assert a["train_loss"] == b["train_loss"] and a["val_miou"] == b["val_miou"]
    assert first.best_val_miou == second.best_val_miou


def test_memory_budget_must_be_a_size():
    with pytest.raises(ValueError, match=r"memory_budget must be a number in \[0.0, 1024.0\] \(--memory-budget\)"):
        SegmentConfig(data="x", memory_budget=-1)

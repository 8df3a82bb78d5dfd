"""Segmentation as a plug-in of lucid's engine (``lucid train --task segment``): image + mask
folders, an LR-ASPP model, pixel cross-entropy with class weights and a void value, mIoU.

`SegmentConfig` adds segmentation's own fields to `lucid.train.config.RunConfig`;
the run itself (schedule, time budget, resume, EMA, DDP, the run folder) is `lucid.train.train`'s.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from lucid.data import fits_on_device
from lucid.errors import DataError
from lucid.segment.cache import CachedPairs
from lucid.segment.coding import mask_colours
from lucid.segment.data import (
    LAYOUT_HELP,
    class_frequencies,
    enet_class_weights,
    holds_masks,
    looks_like_segmentation,
    pad_collate,
    recorded_layout,
    scale_range,
    segmentation_datasets,
)
from lucid.segment.metrics import segmentation_loss, validate
from lucid.tasks import CalibrationPicks, Comparison, ExportSpec, Task, TaskData, register_task
from lucid.train.config import ADAMW_RECIPE_LR, MAX_IMAGE_SIZE, RecipeDefaults, RunConfig, check_class_names
from lucid.train.engine import build_model

__all__ = ["SegmentConfig", "SegmentTask", "CLASS_WEIGHTS"]

CLASS_WEIGHTS = ("enet", "none")
MAX_CLASSES = 255  # mask values are 8-bit and one of them may be void
# Training crops (validation runs on whole images): a batch of 8 crops of 1024x1024 already takes
# gigabytes of activations; larger ones are refused before a worker allocates them.
MAX_CROP = 1024


def _pair(flag: str, value: Any, maximum: int = MAX_IMAGE_SIZE) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    ok = isinstance(value, (tuple, list)) and len(value) == 2
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= maximum for v in value)
    if not ok:
        raise ValueError(f"{flag} must be a positive int or (height, width) up to {maximum}, got {value!r}")
    return int(value[0]), int(value[1])


# Weight decay per optimizer: SGD's is the default of torchvision's segmentation reference (1e-4).
SEGMENT_WEIGHT_DECAY = {"adamw": 0.01, "sgd": 1e-4, "rmsprop": 1e-5}


@dataclass
class SegmentConfig(RunConfig):
    """A segmentation run: the shared `RunConfig` fields plus its own.

    ``crop_size`` is (height, width) of the training crops (None: 256x320, each side cut down to
    smaller photos' median, `lucid.segment.data.fit_crop`); ``scale`` the random rescale range
    relative to the data's own size; ``ignore_index`` the void mask value (None: declared by the
    data's class names, else 255; see `lucid.segment.data.resolve_classes`); ``num_classes``
    and ``classes`` name the mask values when the data does not; ``class_weights`` ``enet``
    weighs the loss by 1/ln(1.02 + pixel share); pairs within the run's ``memory_budget`` are
    decoded once (`lucid.segment.cache`). The defaults are the from-scratch CPU recipe of
    docs/segmentation.md: the small model on 256x320 crops, AdamW, poly decay, 30 epochs.
    """

    task: ClassVar[str] = "segment"
    # From scratch on a CPU: 30 epochs of AdamW at batch 8 (docs/segmentation.md).
    defaults: ClassVar[RecipeDefaults] = RecipeDefaults(30, ADAMW_RECIPE_LR, SEGMENT_WEIGHT_DECAY)

    model: str = "lraspp_mobilenet_v3_small"
    batch_size: int = 8
    opt: str = "adamw"
    sched: str = "poly"
    num_classes: int | None = None
    classes: list[str] | None = None
    ignore_index: int | None = None
    crop_size: tuple[int, int] | None = None
    scale: tuple[float, float] = (0.5, 2.0)
    class_weights: str = "enet"

    def _check_task(self) -> None:
        if self.crop_size is not None:
            self.crop_size = _pair("crop_size (--crop-size)", self.crop_size, MAX_CROP)
        if not isinstance(self.scale, (tuple, list)) or len(self.scale) != 2:
            raise ValueError(f"scale must be two numbers MIN MAX (--scale), got {self.scale!r}")
        low, high = (float(v) for v in self.scale)
        if not (0 < low <= high <= 16) or low != low or high != high:
            raise ValueError(f"scale must be 0 < MIN <= MAX <= 16 (--scale), got {self.scale!r}")
        self.scale = (low, high)
        if self.class_weights not in CLASS_WEIGHTS:
            raise ValueError(f"class_weights must be one of {', '.join(CLASS_WEIGHTS)}, got {self.class_weights!r}")
        if self.ignore_index is not None and not (isinstance(self.ignore_index, int) and 0 <= self.ignore_index <= 255):
            raise ValueError(
                f"ignore_index must be an 8-bit mask value 0..255 (--ignore-index), got {self.ignore_index!r}"
            )
        if self.num_classes is not None and not (
            isinstance(self.num_classes, int) and 1 <= self.num_classes <= MAX_CLASSES
        ):
            raise ValueError(f"num_classes must be 1..{MAX_CLASSES} (--num-classes), got {self.num_classes!r}")
        if self.classes is not None:
            self.classes = check_class_names(self.classes, MAX_CLASSES, "8-bit masks, one value kept for void")

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(crop_size=None if self.crop_size is None else list(self.crop_size), scale=list(self.scale))
        return data


@register_task
class SegmentTask(Task):
    """Semantic segmentation: a class per pixel, a void value left out of loss and scores."""

    name = "segment"
    cli_module = "lucid.segment.cli"
    best_key = "val_miou"
    config_class = SegmentConfig
    loss_label = "pixel cross-entropy (void ignored)"
    metric_label = "%"
    score_name = "val mIoU"
    summary_scores = ("val_pixel_acc",)
    record_scores = ("val_miou", "val_pixel_acc", "val_mean_acc", "val_per_class_iou")
    line_scores = (("val_miou", "mIoU"), ("val_pixel_acc", "pixel acc"))
    layout_help = LAYOUT_HELP
    output_axes = (("N", "classes", "H", "W"),)

    def __init__(self, config: SegmentConfig) -> None:
        super().__init__(config)
        self.loss_weight: torch.Tensor | None = None
        self.data_path = ""  # how the pairs reach the model: decoded into memory or streamed (`_keep_decoded`)

    @classmethod
    def data_note(cls, folder: str) -> str | None:
        if not holds_masks(folder):  # images/ + masks/ are not two classes; JPEGImages/ + Annotations/ are boxes
            return None
        return (
            f"{folder} holds images with masks (or outlines drawn into masks): training segmentation (--task segment); "
            "pass --task classify to train a classifier on its folders"
        )

    def build_data(self, rank: int, world_size: int) -> TaskData:
        config = self.config
        torch.manual_seed(config.seed + rank)
        train_full, val_full, info = segmentation_datasets(
            str(config.data),
            crop_size=config.crop_size,
            ignore_index=config.ignore_index,
            num_classes=config.num_classes,
            classes=config.classes,
            scale=config.scale,
            hflip=0.5 if config.hflip is None else config.hflip,
            **self.split_options(),
        )
        if config.class_weights == "enet":  # from every training mask, before --limit-train picks a subset
            self.loss_weight = enet_class_weights(class_frequencies(train_full, info.num_classes, info.ignore_index))
        data = self.task_data(
            train_full,
            val_full,
            info,
            val_collate=pad_collate(info.ignore_index),
            val_batch_size=config.batch_size,
        )
        self._keep_decoded(data)
        return data

    def _keep_decoded(self, data: TaskData) -> None:
        """Decode the run's pairs once into memory when they fit the budget (`lucid.segment.cache`),
        so batches are augmented whole; else they stream from disk through loader workers. The
        choice is one line of `describe`.

        Photos above the working side (``info.resize_size``) are stored smaller: validation pairs
        at the working side they are scored at, training pairs at the largest short side the
        scales draw (no detail a crop shows is lost), or, when that does not fit, at the working
        side (crops drawn larger are then upsampled from it)."""
        from lucid.data import keep_in_memory, memory_budget
        from lucid.segment.cache import PairAugment, cache_pairs, pair_sizes, stored_bytes

        config, info = self.config, self.info
        sizes = scale_range(info.scale_base, config.scale)
        train_sizes, val_sizes = pair_sizes(data.train), pair_sizes(data.val)  # the headers, read once
        side, need = None, None
        for side in _stored_sides(info.resize_size, sizes[1]):
            if train_sizes is None or val_sizes is None:
                break
            need = stored_bytes(train_sizes, side) + stored_bytes(val_sizes, info.resize_size)
            if need <= memory_budget(config.memory_budget):
                break
        how = "batches augmented whole"
        if side is not None:
            how += f"; short sides stored at most {side} px for training, {info.resize_size} px for validation"
        keep, self.data_path = keep_in_memory(need, config.memory_budget, "images and masks", how)
        if not keep:
            data.streaming = True
            return
        augment = PairAugment(
            info.crop_size,
            sizes,
            info.ignore_index,
            hflip=0.5 if config.hflip is None else config.hflip,
            mean=info.mean,
            std=info.std,
        )
        progress = config.progress
        data.train = cache_pairs(
            data.train, info.mean, info.std, augment=augment, progress=progress, desc="decoding train", side=side
        )
        data.val = cache_pairs(
            data.val,
            info.mean,
            info.std,
            progress=progress,
            desc="decoding val",
            resize=info.resize_size,
            side=info.resize_size,
        )
        data.batched = True

    def build_model(self, data: TaskData) -> nn.Module:
        config = self.config
        bn_momentum = config.bn_momentum if config.bn_momentum is not None else 0.01
        return build_model(config.model, self.info.num_classes, weights=config.weights, bn_momentum=bn_momentum)

    def prepare(self, data: TaskData, device: torch.device) -> None:
        """Class weights onto the device; on a GPU, decoded pairs that fit move there too, and
        their batches are then augmented there."""
        if self.loss_weight is not None:
            self.loss_weight = self.loss_weight.to(device)
        sets = [s for s in (data.train, data.val) if isinstance(s, CachedPairs)]
        if sets and fits_on_device(sum(s.nbytes for s in sets), device):
            for dataset in sets:
                dataset.to(device)
            data.device = device

    def train_step(self, net: nn.Module, images: torch.Tensor, targets: Any) -> tuple[torch.Tensor, Any]:
        logits = net(images)
        return segmentation_loss(logits.float(), targets, self.info.ignore_index, self.loss_weight), None

    def validate(
        self, model: nn.Module, loader: Any, device: torch.device, channels_last: bool, tta: str = "none"
    ) -> dict[str, Any]:
        scored = validate(self.scored(model, tta), loader, self.info, device, channels_last)
        return {
            "loss": scored["loss"],
            "val_miou": scored["miou"],
            "val_pixel_acc": scored["pixel_acc"],
            "val_mean_acc": scored["mean_acc"],
            "val_per_class_iou": scored["per_class_iou"],
            "finite": scored["finite"],
        }

    def default_tta(self) -> str:
        """Test-time flip for a model trained with flips (``--hflip`` not 0): the mean of each
        photo's and its mirror's class scores raised the mIoU of every checkpoint measured
        (docs/segmentation.md, *Test-time flip*), for a second forward pass per photo."""
        return "none" if self.config.hflip == 0 else "flip"

    def describe(self) -> list[str]:
        info = self.info
        read = (info.split or {}).get("layout")  # how the pairs were found, as detection's line says it
        return [
            *info.layout_notes,
            info.void_note,
            *([info.resize_note] if info.resize_note else []),
            f"segmentation data: {info.root}: {f'{read}: ' if read else ''}{info.train_images} train / "
            f"{info.val_images} val images, {info.num_classes} classes, void value {info.ignore_index}",
            *([self.data_path] if self.data_path else []),
        ]

    def recipe(self) -> str:
        height, width = self.info.crop_size
        low, high = self.config.scale
        fitted = f" ({self.info.crop_note})" if self.info.crop_note else ""
        return f"crops {height}x{width}{fitted}, scale {low:g}-{high:g}, class weights {self.config.class_weights}"

    def checkpoint_metadata(self, model: nn.Module, record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """What eval/predict/export need: classes, ignore value, normalisation, and the data."""
        info = self.info
        scores = {"val_miou": record.get("val_miou"), "val_pixel_acc": record.get("val_pixel_acc")}
        pretrained_cfg = {
            "source": "lucid",
            "task": "segment",
            "categories": list(info.classes),
            "num_classes": info.num_classes,
            "in_channels": getattr(model, "in_channels", 3),
            "mean": list(info.mean),
            "std": list(info.std),
            "metrics": scores,
        }
        extra = {
            "classes": list(info.classes),
            "categories": list(info.classes),
            "ignore_index": info.ignore_index,
            "inter_channels": getattr(model, "inter_channels", 128),
            "mean": list(info.mean),
            "std": list(info.std),
            "data": info.to_dict(),
            **scores,
        }
        return pretrained_cfg, extra

    # -- deployment (lucid.deploy finds these through lucid.tasks.get_task("segment")) ----------

    @classmethod
    def load_checkpoint(cls, path: Any) -> nn.Module:
        from lucid.models.lraspp import load_segmentation_model

        return load_segmentation_model(path)

    @classmethod
    def export_spec(cls, model: nn.Module, **preprocessing: Any) -> ExportSpec:
        """Logits ``(N, classes, H, W)`` at a free image size; ``image_size`` (default: the
        training photos' median size the checkpoint records, else `EXPORT_IMAGE_SIZE`) is the
        size traced, checked and recorded as nominal, at which ``lucid eval FILE`` and int8
        calibration resize photos. The file records the classes, the void value and the
        normalisation; no resize unless the weights ask for one (torchvision's short side 520)
        or the run worked at `lucid.segment.data.WORKING_SIDE`, and never a crop."""
        from lucid.preprocessing import Preprocessing
        from lucid.segment.infer import segmentation_meta

        meta = segmentation_meta(model)
        given = {key: value for key, value in preprocessing.items() if value is not None}
        prep = Preprocessing(
            image_size=given.get("image_size", _photo_size(meta) or EXPORT_IMAGE_SIZE),
            in_channels=int(getattr(model, "in_channels", 3)),
            mean=given.get("mean", meta["mean"]),
            std=given.get("std", meta["std"]),
            resize_size=given.get("resize_size", meta["resize_size"]),
        )
        extra = {"classes": json.dumps(meta["classes"]), "ignore_index": json.dumps(meta["ignore_index"])}
        return ExportSpec(cls.export_outputs(), prep, dynamic_size=True, metadata=extra)

    @classmethod
    def prepare_batches(
        cls, images: Any, preprocessing: Any, input_shape: Sequence[int | None]
    ) -> list[tuple[np.ndarray, dict[str, Any]]]:
        """One batch per image, normalised at its own size (a file of fixed size gets the image
        resized to it; a recorded ``resize_size`` resizes the short side); each with its ``size``."""
        from torchvision.transforms import v2

        fixed = tuple(input_shape[2:4]) if all(isinstance(d, int) for d in input_shape[2:4]) else None
        mean = np.asarray(preprocessing.mean, np.float32)[:, None, None]
        std = np.asarray(preprocessing.std, np.float32)[:, None, None]
        batches = []
        many = isinstance(images, (list, tuple)) or (hasattr(images, "ndim") and images.ndim == 4)
        for image in images if many else [images]:
            rgb = as_rgb_tensor(image)
            size = (int(rgb.shape[1]), int(rgb.shape[2]))
            if fixed is not None:
                rgb = v2.functional.resize(rgb, list(fixed), antialias=True)
            elif preprocessing.resize_size:
                rgb = v2.functional.resize(rgb, [preprocessing.resize_size], antialias=True)
            x = (rgb.float().numpy() / 255.0 - mean) / std
            batches.append((x[None].astype(np.float32), {"size": size}))
        return batches

    @classmethod
    def postprocess(cls, outputs: Sequence[np.ndarray], metadata: Mapping[str, str], **options: Any) -> list[Any]:
        """Per image, its ``(H, W)`` uint8 class mask at ``size`` (the image's own size, default the
        logits' size): logits resized bilinearly, then the most likely class per pixel."""
        logits = torch.from_numpy(np.ascontiguousarray(outputs[0], dtype=np.float32))
        size = options.get("size")
        if size is not None and tuple(logits.shape[-2:]) != tuple(size):
            logits = nn.functional.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)
        return [mask.numpy().astype(np.uint8) for mask in logits.argmax(1)]

    @classmethod
    def calibration_sets(
        cls, data: str | os.PathLike[str], preprocessing: Any, metadata: Mapping[str, str], picks: CalibrationPicks
    ) -> tuple[Any, Any]:
        """Calibrate on a segmentation data folder's training pairs and score on its validation
        pairs (the recorded seeded split when it is the folder the model trained on), images
        resized to the file's nominal size and masks by nearest neighbour."""
        folder = Path(data).expanduser()
        if str(data) == "digits" or not looks_like_segmentation(folder):
            raise DataError(
                f"a segmentation model is calibrated and scored on a segmentation data folder "
                f"({LAYOUT_HELP}); {data} is not one (class folders and digits are classification's)"
            )
        recorded = json.loads(metadata.get("train_data", "null")) or {}
        layout, _ = recorded_layout(folder, recorded)
        root, named = layout.root, layout.named
        colours = layout.coding or mask_colours(root, recorded)  # coded masks (class_dict.csv) decode as in training
        return (
            _mask_set(layout.train, preprocessing, picks.num_calib, picks.seed, f"{named} training pairs", colours),
            _mask_set(layout.val, preprocessing, picks.num_eval, picks.seed + 1, f"{named} validation pairs", colours),
        )

    @classmethod
    def compare(
        cls, reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], labels: Any, metadata: Mapping[str, str]
    ) -> Comparison:
        """Share of pixels whose class the two models agree on, and both models' mIoU on ``labels``."""
        from lucid.segment.metrics import confusion_matrix, scores

        a, b = reference[0].argmax(1), candidate[0].argmax(1)
        agreement = float((a == b).mean())
        if labels is None:
            return Comparison(agreement, "mIoU")
        classes = int(reference[0].shape[1])
        ignore = int(json.loads(metadata.get("ignore_index", "255")))
        target = torch.from_numpy(np.asarray(labels))

        def miou(pred: np.ndarray) -> float:
            return float(scores(confusion_matrix(torch.from_numpy(pred), target, classes, ignore))["miou"])

        return Comparison(agreement, "mIoU", miou(a), miou(b))


EXPORT_IMAGE_SIZE = (360, 480)  # the nominal (height, width) of a segmentation export (CamVid's)


def _stored_sides(working_side: int | None, largest_drawn: int) -> list[int | None]:
    """The short sides to try storing training photos at, best first: full size when the run
    works at the photos' own size (``working_side`` None); else the largest side the training
    scales draw (when above the working side), then the working side itself."""
    if working_side is None:
        return [None]
    return [largest_drawn, working_side] if largest_drawn > working_side else [working_side]


def _photo_size(meta: Mapping[str, Any]) -> tuple[int, int] | None:
    """The training photos' median (height, width) a checkpoint records (runs before it: None)."""
    size = (meta.get("data_record") or {}).get("photo_size")
    return (int(size[0]), int(size[1])) if isinstance(size, (list, tuple)) and len(size) == 2 else None


def as_rgb_tensor(image: Any) -> torch.Tensor:
    """A ``(3, H, W)`` uint8 tensor from a path, PIL image, ``(H, W, 3)`` array or ``(3, H, W)`` tensor."""
    from lucid.preprocessing import read_image
    from lucid.segment.data import read_rgb

    if isinstance(image, (str, os.PathLike)):
        return read_rgb(image)
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise DataError(f"an image tensor must be (3, H, W), got {tuple(image.shape)}")
        return image
    if hasattr(image, "convert"):  # PIL: the one decoder's 8-bit scaling, alpha and orientation
        return read_image(image, 3)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise DataError(f"an image array must be (H, W, 3), got {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)


def _mask_set(
    pairs: Sequence[tuple[Path, Path]], prep: Any, limit: int | None, seed: int, what: str, colours: Any
) -> Any:
    """Preprocessed images at the nominal size and their nearest-resized masks."""
    from torchvision.transforms import v2

    from lucid.deploy.quantize import LabelledImages, seeded_pick
    from lucid.segment.data import read_pair

    if not pairs:
        raise DataError(f"{what}: no image/mask pairs")
    chosen = [pairs[i] for i in seeded_pick(len(pairs), limit, seed)]
    mean = np.asarray(prep.mean, np.float32)[:, None, None]
    std = np.asarray(prep.std, np.float32)[:, None, None]
    images, masks = [], []
    for image_file, mask_file in chosen:
        rgb, mask = read_pair(image_file, mask_file, colours)
        rgb = v2.functional.resize(rgb, list(prep.image_size), antialias=True)
        images.append((rgb.float().numpy() / 255.0 - mean) / std)
        mask = mask[None]
        masks.append(v2.functional.resize(mask, list(prep.image_size), v2.InterpolationMode.NEAREST)[0].numpy())
    batch = np.stack(images).astype(np.float32)
    return LabelledImages(
        batch, np.stack(masks), f"{what}, {len(chosen)} images at {prep.image_size[0]}x{prep.image_size[1]}"
    )

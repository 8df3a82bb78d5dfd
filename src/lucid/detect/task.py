"""Detection as a plug-in of lucid's engine (``lucid train --task detect``): photos with boxes in
the layouts people ship, an SSDLite model on lucid's MobileNet-v3, torchvision's SSD loss, and
COCO mAP computed by COCOeval (faster-coco-eval).

`DetectConfig` adds detection's own fields to `lucid.train.config.RunConfig`; the run
itself (schedule, time budget, resume, EMA, DDP, the run folder) is `lucid.train.train`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import torch
from torch import nn

from lucid.detect.data import (
    LAYOUT_HELP,
    DetectionDataset,
    detection_collate,
    detection_datasets,
    looks_like_detection,
)
from lucid.detect.metrics import coco_metrics, photo_detections
from lucid.models.ssdlite import MirroredSSD, SSDLite
from lucid.tasks import CalibrationPicks, ExportSpec, Task, TaskData, register_task
from lucid.train.config import ADAMW_RECIPE_LR, MAX_IMAGE_SIZE, RecipeDefaults, RunConfig, check_class_names
from lucid.train.engine import build_model

__all__ = ["DetectConfig", "DetectTask", "fitted_anchor_scales"]

MAX_CLASSES = 1000


# Weight decay per optimizer: SGD's is torchvision's SSDLite recipe (4e-5).
DETECT_WEIGHT_DECAY = {"adamw": 0.01, "sgd": 4e-5, "rmsprop": 1e-5}


@dataclass
class DetectConfig(RunConfig):
    """A detection run: the shared `RunConfig` fields plus its own.

    ``img_size`` is the square input side of the SSDLite model (320, as the paper's); ``classes``
    fixes the class names and their order (default: from the data). ``bn_momentum`` None keeps
    the model's own BatchNorm settings (torchvision's SSDLite uses momentum 0.03).
    ``min_negatives`` is the least number of hard background anchors every photo adds to the
    classification loss (`lucid.models.SSDLite.compute_loss`); 0 is torchvision's loss, which
    leaves sparse sets of small objects unlearnt (docs/detection.md, "One-class sets").
    """

    task: ClassVar[str] = "detect"
    defaults: ClassVar[RecipeDefaults] = RecipeDefaults(60, ADAMW_RECIPE_LR, DETECT_WEIGHT_DECAY)

    model: str = "ssdlite320_mobilenet_v3_large"
    batch_size: int = 16
    opt: str = "adamw"
    bn_momentum: float | None = None
    img_size: int = 320
    classes: list[str] | None = None
    min_negatives: int = 64

    def _check_task(self) -> None:
        size = self.img_size
        if isinstance(size, bool) or not isinstance(size, int) or not 32 <= size <= MAX_IMAGE_SIZE:
            raise ValueError(
                f"img_size must be a whole number of pixels 32..{MAX_IMAGE_SIZE} (--img-size), got {size!r}"
            )
        if self.classes is not None:
            self.classes = check_class_names(self.classes, MAX_CLASSES)
        count = self.min_negatives
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"min_negatives must be a whole number >= 0 (--min-negatives), got {count!r}")


def fitted_anchor_scales(dataset: DetectionDataset) -> tuple[float, float]:
    """Default-box scales (`lucid.models.ssdlite.fit_anchor_scales`) for ``dataset``'s boxes, each
    box's side the square root of its area as a share of its photo (the input is a square resize)."""
    from lucid.models.ssdlite import fit_anchor_scales

    sides = [
        math.sqrt(max(float(x2 - x1), 0.0) * max(float(y2 - y1), 0.0) / record.width / record.height)
        for record in dataset.records
        for (x1, y1, x2, y2), crowd in zip(record.boxes, record.iscrowd, strict=True)
        if not crowd
    ]
    return fit_anchor_scales(torch.tensor(sides, dtype=torch.float64))


def _base(dataset: Any) -> DetectionDataset:
    """The DetectionDataset under the Subset wrappers (a shard, --limit-val)."""
    while not isinstance(dataset, DetectionDataset):
        dataset = dataset.dataset
    return dataset


@register_task
class DetectTask(Task):
    """Object detection: boxes, class labels and scores per photo."""

    name = "detect"
    cli_module = "lucid.detect.cli"
    best_key = "val_map"
    config_class = DetectConfig
    loss_label = "SSD loss (box regression + classification)"
    metric_label = "mAP (%)"
    score_name = "val mAP@[.5:.95]"
    summary_scores = ("val_map50",)
    record_scores = ("val_map", "val_map50", "val_map75", "val_per_class_ap", "val_per_class_ap50")
    line_scores = (("val_map", "mAP"), ("val_map50", "mAP@0.5"))
    layout_help = LAYOUT_HELP
    output_axes = (("N", "anchors", "4"), ("N", "anchors", "classes"))
    epoch_bn_statistics = True  # from scratch, BN momentum 0.03 lags AdamW's weights: eval boxes ignore the photo
    fitted_scales: tuple[float, float] | None = None  # set by build_data when training from scratch
    data_path = ""  # how the photos reach the model: decoded into memory or streamed (`_keep_decoded`)

    @classmethod
    def data_note(cls, folder: str) -> str | None:
        if not looks_like_detection(folder):
            return None
        return f"{folder} holds photos with box annotations: training detection (--task detect)"

    def build_data(self, rank: int, world_size: int) -> TaskData:
        config = self.config
        train_full, val_full, info = detection_datasets(
            str(config.data), image_size=config.img_size, classes=config.classes, **self.split_options()
        )
        if config.hflip is not None:
            from lucid.detect.transforms import train_transform

            train_full.transform = train_transform(config.img_size, hflip=config.hflip)
        # From scratch, the default boxes are fitted to the training split's boxes (all of them).
        self.fitted_scales = None if config.weights is not None else fitted_anchor_scales(train_full)
        data = self.task_data(
            train_full,
            val_full,
            info,
            train_collate=detection_collate,
            val_collate=detection_collate,
            val_batch_size=config.batch_size,
        )
        self._keep_decoded(data)
        return data

    def _keep_decoded(self, data: TaskData) -> None:
        """Decode the run's photos once into memory when they fit the budget: each epoch then
        augments them (`lucid.detect.transforms`, per photo) without decoding; else they stream
        from disk. Either way loader workers do that per-photo work where the engine gives them
        cores. The choice is one line of `describe`."""
        from lucid.data import keep_in_memory, subset_indices

        sets = [(_base(dataset), subset_indices(dataset)[1]) for dataset in (data.train, data.val)]
        need = sum(dataset.decoded_bytes(indices) for dataset, indices in sets)
        keep, self.data_path = keep_in_memory(need, self.config.memory_budget, "photos")
        if not keep:
            data.streaming = True
            return
        for (dataset, indices), split in zip(sets, ("train", "val"), strict=True):
            dataset.keep_decoded(indices, progress=self.config.progress, desc=f"decoding {split}")
        data.decoded = True

    def prepare(self, data: TaskData, device: torch.device) -> None:
        """On a GPU, training photos kept decoded that fit there move there, and each batch is
        then augmented there at once (`lucid.detect.batched`): per photo, the SSD recipe's draws
        and box moves alone keep the CPU busier than a GPU's training step. On the CPU the recipe
        stays per photo, which measured faster there (docs/detection.md, *On a GPU*)."""
        from lucid.data import fits_on_device

        if device.type == "cpu" or not data.decoded:
            return
        train = self.batched_train(data)
        if not fits_on_device(train.nbytes, device):
            return
        data.train, data.device, data.batched, data.decoded = train.to(device), device, True, False

    def batched_train(self, data: TaskData) -> Any:
        """The kept training photos as a `lucid.detect.batched.BatchedDetections` with the run's
        recipe (its input size and flip), still where they were kept."""
        from lucid.detect.batched import BatchedDetections, BatchSSDAugment

        hflip = 0.5 if self.config.hflip is None else self.config.hflip
        return BatchedDetections.of(data.train, BatchSSDAugment(self.config.img_size, hflip=hflip))

    def build_model(self, data: TaskData) -> nn.Module:
        """The SSDLite; trained from scratch, its default boxes are the ones `build_data` fitted
        to the training boxes; from weights, it keeps theirs."""
        config = self.config
        options: dict[str, Any] = {"min_negatives": config.min_negatives, "image_size": config.img_size}
        if self.fitted_scales is not None:
            options["anchor_scales"] = self.fitted_scales
        return build_model(
            config.model, self.info.num_classes, weights=config.weights, bn_momentum=config.bn_momentum, **options
        )

    def to_device(self, batch: Any, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, Any]:
        """Images as floats in 0..1 (the model normalises them itself) and each target's boxes and labels."""
        images, targets = batch
        images = images.to(device, non_blocking=True).float().div_(255)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        moved = [
            {
                **target,
                "boxes": target["boxes"].as_subclass(torch.Tensor).to(device),
                "labels": target["labels"].to(device),
            }
            for target in targets
        ]
        return images, moved

    def train_step(self, net: nn.Module, images: torch.Tensor, targets: Any) -> tuple[torch.Tensor, Any]:
        losses = net(images, targets)
        return sum(value.float() for value in losses.values()), losses

    @torch.no_grad()
    def validate(
        self, model: nn.Module, loader: Any, device: torch.device, channels_last: bool, tta: str = "none"
    ) -> dict[str, Any]:
        """COCO mAP of ``model`` under ``tta`` on ``loader`` in each photo's own pixels (`coco_metrics`,
        every process's predictions gathered), and the SSD loss of the same batches."""
        from lucid.train import distributed as dist_utils

        base = _base(loader.dataset)
        detector = self.scored(model, tta)  # once: the flip's pairing of default boxes is kept per input size
        predictions, truths, loss_sum, images_seen, finite = [], [], 0.0, 0, True
        for batch in loader:
            images, targets = self.to_device(batch, device, channels_last)
            loss, detections = self._scored_batch(model, detector, images, targets)
            finite = finite and math.isfinite(loss)
            loss_sum += loss * images.shape[0]
            images_seen += images.shape[0]
            finite = finite and all(bool(torch.isfinite(d["scores"]).all()) for d in detections)
            scaled, truth = photo_detections(detections, targets, images.shape[-2:], base)
            predictions += scaled
            truths += truth
        context = dist_utils.current()
        gathered = dist_utils.gather_objects((predictions, truths, loss_sum, images_seen, finite), context)
        predictions = [p for part in gathered for p in part[0]]
        truths = [t for part in gathered for t in part[1]]
        scores = coco_metrics(predictions, truths, list(self.info.classes))
        return {
            "loss": sum(part[2] for part in gathered) / max(sum(part[3] for part in gathered), 1),
            "val_map": scores["map"] if scores["map"] is not None else 0.0,
            "val_map50": scores["map50"] if scores["map50"] is not None else 0.0,
            "val_map75": scores["map75"],
            "val_per_class_ap": scores["per_class_ap"],
            "val_per_class_ap50": scores["per_class_ap50"],
            "finite": all(part[4] for part in gathered),
        }

    @staticmethod
    def _scored_batch(
        model: nn.Module, detector: nn.Module, images: torch.Tensor, targets: list[dict[str, Any]]
    ) -> tuple[float, list[dict[str, torch.Tensor]]]:
        """A validation batch's SSD loss (without touching BatchNorm statistics) and its detections
        by ``detector`` (``model`` under the run's test-time augmentation). An `SSDLite` gives both
        from one pass of the network (`SSDLite.raw_pass`); the flip adds the mirror's pass.
        Another detector scores with a loss of 0."""
        if isinstance(model, SSDLite) and isinstance(detector, (SSDLite, MirroredSSD)):
            raw = model.raw_pass(images, targets)
            return float(sum(value.float() for value in raw.losses.values())), detector.detections(raw)
        return 0.0, detector(images)

    def default_tta(self) -> str:
        """Test-time flip for a detector trained with flips (``--hflip`` not 0): each default box's
        scores and box averaged with its mirror box's scored better on every checkpoint measured
        (docs/detection.md, *Test-time flip*), for a second forward pass per photo."""
        return "none" if self.config.hflip == 0 else "flip"

    @classmethod
    def mirrored(cls, model: nn.Module) -> nn.Module:
        """Each photo's and its mirror's boxes merged (`lucid.models.ssdlite.MirroredSSD`)."""
        return MirroredSSD(cast(SSDLite, model))  # MirroredSSD refuses any other model

    def describe(self) -> list[str]:
        # The data's notes are printed first, by the engine; then whether the photos were decoded once.
        return [self.data_path] if self.data_path else []

    def recipe(self) -> str:
        size = self.config.img_size
        fitted = self.fitted_scales
        boxes = f", default boxes {fitted[0]:g}-{fitted[1]:g} of the input (fitted to the boxes)" if fitted else ""
        return f"{size}x{size} input, SSD augmentation (zoom-out, IoU crop, flip, photometric){boxes}"

    def checkpoint_metadata(self, model: nn.Module, record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Classes (index 0 is the background), the input size and the data with its split."""
        info = self.info
        categories = ["__background__", *info.classes]
        scores = {"val_map": record.get("val_map"), "val_map50": record.get("val_map50")}
        pretrained_cfg = {
            "source": "lucid",
            "task": "detect",
            "categories": categories,
            "num_classes": len(categories),
            "image_size": info.image_size,
            "metrics": scores,
        }
        extra = {
            "classes": list(info.classes),
            "categories": categories,
            "image_size": info.image_size,
            "anchor_scales": list(getattr(model, "anchor_scales", ())),
            "data": info.to_dict(),
            **scores,
        }
        return pretrained_cfg, extra

    @classmethod
    def export_outputs(cls) -> tuple[str, ...]:
        return ("boxes", "scores")

    # -- deployment (lucid.deploy finds these through lucid.tasks.get_task("detect")) -----------
    # The file holds forward_raw (no NMS); NMS runs on the host in postprocess (lucid.detect.deploy).

    @classmethod
    def load_checkpoint(cls, path: Any) -> nn.Module:
        from lucid.detect.infer import load_detector

        return load_detector(path)

    @classmethod
    def export_module(cls, model: nn.Module) -> nn.Module:
        """The model's ``forward_raw`` (boxes and class probabilities of every anchor, no NMS)."""
        from lucid.detect.deploy import RawDetector

        return RawDetector(model)

    @classmethod
    def export_spec(cls, model: nn.Module, **preprocessing: Any) -> ExportSpec:
        """A fixed square input (the model's own resize: 320x320, or the size it was trained at;
        mean = std = 0.5 as its ``pretrained_cfg`` records), outputs ``boxes`` and ``scores``; the
        file records the class names (background at index 0) and the thresholds NMS on the host
        applies. ``image_size`` may only repeat the recorded size."""
        from lucid.detect.deploy import detection_metadata, detector_categories
        from lucid.preprocessing import Preprocessing, model_preprocessing

        given = {key: value for key, value in preprocessing.items() if value is not None}
        recorded = model_preprocessing(model)
        side = int(recorded.image_size[0])
        if "image_size" in given and given["image_size"] not in (side, (side, side), [side, side]):
            raise ValueError(
                f"this detector takes {side}x{side} input (its default boxes are laid out for it); "
                f"got --image-size {given['image_size']}"
            )
        prep = Preprocessing(
            image_size=recorded.image_size,
            in_channels=3,
            mean=given.get("mean", recorded.mean),
            std=given.get("std", recorded.std),
            resize_size=None,  # the whole photo is stretched to the square, as SSD's transform does
        )
        return ExportSpec(cls.export_outputs(), prep, metadata=detection_metadata(model, detector_categories(model)))

    @classmethod
    def prepare_batches(cls, images: Any, preprocessing: Any, input_shape: Sequence[int | None]) -> list[Any]:
        """One batch per image through torchvision's detection transform, with its original size."""
        from lucid.detect.deploy import prepare_detection_batches

        return prepare_detection_batches(images, preprocessing)

    @classmethod
    def postprocess(cls, outputs: Sequence[Any], metadata: Mapping[str, str], **options: Any) -> list[Any]:
        """Per image ``{"boxes", "scores", "labels", "names"}`` in the photo's own pixels; NMS runs
        here, on the host (options: ``sizes``, ``classes``, ``score_threshold``)."""
        from lucid.detect.deploy import detections_from_outputs

        return detections_from_outputs(
            outputs,
            metadata,
            sizes=options.get("sizes"),
            classes=options.get("classes"),
            score_threshold=options.get("score_threshold"),
        )

    @classmethod
    def calibration_sets(
        cls, data: Any, preprocessing: Any, metadata: Mapping[str, str], picks: CalibrationPicks
    ) -> tuple[Any, Any]:
        """Training photos calibrate, the held-out photos (with their boxes) score the mAP."""
        from lucid.detect.deploy import calibration_sets

        return calibration_sets(data, preprocessing, metadata, picks)

    @classmethod
    def compare(
        cls, reference: Sequence[Any], candidate: Sequence[Any], labels: Any, metadata: Mapping[str, str]
    ) -> Any:
        """Box agreement of two models and both models' mAP@[.5:.95] (its drop is int8's cost)."""
        from lucid.detect.deploy import compare_detections

        return compare_detections(reference, candidate, labels, metadata)

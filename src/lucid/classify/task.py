"""Classification as a plug-in of lucid's engine: image folders or the embedded digits, a
MobileNet-v3 classifier, label-smoothed cross-entropy, top-1/top-5."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lucid.data import CachedImages, StreamingImages, fits_on_device, preferred_batch
from lucid.errors import DataError
from lucid.tasks import CalibrationPicks, Comparison, Meter, Task, TaskData, register_task
from lucid.train.config import TrainConfig
from lucid.train.data import build_datasets
from lucid.train.engine import build_model
from lucid.train.metrics import Tally, topk_correct

__all__ = ["ClassifyTask", "TopMeter", "resolve_in_channels"]


def _checkpoint_in_channels(weights: str | None) -> int | None:
    """The input channels a lucid checkpoint was trained with (None for other weights)."""
    if weights is None or not Path(weights).expanduser().is_file():
        return None
    from lucid.checkpoint import CheckpointError, read_metadata

    try:
        config = read_metadata(Path(weights).expanduser())["config"] or {}
    except CheckpointError:
        return None  # a torchvision/timm file: the weights loader decides
    return config.get("in_channels")


def resolve_in_channels(config: TrainConfig) -> int:
    """``in_channels`` given, else a lucid checkpoint's, else 1 for digits and 3 for image folders."""
    if config.in_channels is not None:
        return config.in_channels
    found = _checkpoint_in_channels(config.weights)
    if found is not None:
        return int(found)
    return 1 if config.data is None else 3


class TopMeter(Meter):
    """The training loss and top-1 accuracy over an epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.hits = 0

    def add(self, loss: torch.Tensor, outputs: Any, targets: Any, images: int) -> None:
        super().add(loss, outputs, targets, images)
        self.hits += topk_correct(outputs.detach().float(), targets, (1,))[0]

    def totals(self) -> list[float]:
        return [*super().totals(), float(self.hits)]

    def set_totals(self, values: Sequence[float]) -> None:
        super().set_totals(values)
        self.hits = int(values[2])

    def means(self) -> dict[str, float]:
        return {**super().means(), "top1": self.hits / max(self.count, 1)}


@register_task
class ClassifyTask(Task):
    """Classification: one label per image."""

    name = "classify"
    cli_module = "lucid.classify.cli"
    best_key = "val_top1"
    config_class = TrainConfig
    loss_label = "cross-entropy loss (train: label-smoothed)"
    metric_label = "accuracy (%)"
    score_name = "val top-1"
    weights_sizing = {"num_classes": None, "in_channels": None}  # both from the weights file

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    @classmethod
    def data_note(cls, folder: str) -> str | None:
        """Photos named by class or labelled by a table (`lucid.data.labelled_layout`), and class
        folders in ``images/`` split by the data set's own lists (Food-101, CUB-200-2011), are
        classification's own layouts: Oxford-IIIT Pet's root also holds masks and boxes, and CUB's
        a box per photo, which the other tasks would claim. Other class folders need no claim:
        classification is the default task."""
        from lucid.data.files import wrapped_folder
        from lucid.data.labels import labelled_layout
        from lucid.data.layouts import photo_folder_layout

        base = Path(folder).expanduser()
        if not base.is_dir():
            return None
        inner = wrapped_folder(base) or base
        layout = labelled_layout(base) or labelled_layout(inner)
        if layout is None:
            try:
                listed = photo_folder_layout(base) or photo_folder_layout(inner)
            except DataError:
                listed = None  # not a layout of class folders at all: another task's, or none
            layout = listed if listed is not None and listed.lists is not None else None
        if layout is None:
            return None
        return f"{folder} holds {layout.labels or 'labelled photos'}: training classification (--task classify)"

    def data_name(self) -> str:
        return "digits" if self.config.data is None else super().data_name()

    def build_data(self, rank: int, world_size: int) -> TaskData:
        in_channels = resolve_in_channels(self.config)
        train_ds, val_ds, info = build_datasets(self.config, in_channels)
        self.info = info
        batch = None
        if self.config.batch_size is None:
            per_process = info.train_size // world_size
            batch = preferred_batch((info.recipe or {}).get("name") == "small", per_process)
            if batch is not None:
                info.notes.append(
                    f"batch {batch}: {per_process:,} small photos per process train more images per second in larger "
                    "batches (docs/training.md); --batch-size N overrides"
                )
        return TaskData(
            train_ds,
            val_ds,
            info,
            in_channels=in_channels,
            model=info.model,
            batch_size=batch,
            batched=isinstance(train_ds, CachedImages),
            streaming=isinstance(train_ds, StreamingImages),
        )

    def build_model(self, data: TaskData) -> nn.Module:
        config = self.config
        model = build_model(
            data.model or config.model,
            len(self.info.classes),
            data.in_channels,
            weights=config.weights,
            dropout=config.dropout,
            bn_momentum=config.bn_momentum,
        )
        model_channels = getattr(getattr(model, "config", None), "in_channels", data.in_channels)
        if model_channels != data.in_channels:
            raise ValueError(
                f"the model takes {model_channels} input channels but the data gives {data.in_channels}; pass "
                f"--in-channels {model_channels}"
            )
        return model

    def prepare(self, data: TaskData, device: torch.device) -> None:
        """On a GPU, a decoded set that fits moves there: crops, flips and normalisation then run
        on whole batches on the device (the per-image work on the CPU was what held GPU training back)."""
        sets = [s for s in (data.train, data.val) if isinstance(s, CachedImages)]
        if not sets or not fits_on_device(sum(s.images.numel() for s in sets), device):
            return
        for dataset in sets:
            dataset.to(device)
        data.device = device

    def train_step(self, net: nn.Module, images: torch.Tensor, targets: Any) -> tuple[torch.Tensor, Any]:
        logits = net(images)
        return self.criterion(logits.float(), targets), logits

    def new_meter(self) -> Meter:
        return TopMeter()

    def bar_fields(self, means: Mapping[str, float]) -> dict[str, str]:
        return {"loss": f"{means['loss']:.4f}", "acc": f"{100 * means['top1']:.1f}%"}

    def validate(
        self, model: nn.Module, loader: Any, device: torch.device, channels_last: bool, tta: str = "none"
    ) -> dict[str, Any]:
        """Plain cross-entropy (no label smoothing: the quantity ``lucid eval`` reports), top-1/top-5,
        of the model under the test-time augmentation ``tta``."""
        model = self.scored(model, tta)
        tally, bad = Tally(), 0
        for batch in loader:
            images, targets = self.to_device(batch, device, channels_last)
            logits = model(images).float()
            bad += int((~torch.isfinite(logits)).any(dim=1).sum())
            tally.add(nn.functional.cross_entropy(logits, targets), logits, targets)
        tally.reduce(device)
        means = tally.means()
        return {
            "loss": means["loss"],
            "val_top1": means["top1"],
            "val_top5": means["top5"],
            "finite": bad == 0 and bool(np.isfinite(means["loss"])),
        }

    def default_tta(self) -> str:
        """The data recipe's default (`lucid.data.recipe_tta`: test-time flip for small photos
        trained with flips); one pass for the digits, which have no recipe."""
        from lucid.data import recipe_tta

        recipe = self.info.recipe
        return recipe_tta(str(recipe["name"]), float(recipe["hflip"])) if recipe else "none"

    def epoch_record(self, train: Mapping[str, Any], val: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "train_loss": train["loss"],  # with label smoothing, as trained
            "train_top1": train["top1"],
            **self.val_record(val),
        }

    def val_record(self, val: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "val_loss": val["loss"],  # plain cross-entropy
            "val_top1": val["val_top1"],
            # top-5 of 5 classes or fewer is always 100 %
            "val_top5": val["val_top5"] if len(self.info.classes) > 5 else None,
        }

    def epoch_line(self, record: Mapping[str, Any], epochs: int) -> str:
        """The training loss is label-smoothed (what is optimised), the validation loss plain
        cross-entropy ("val CE", the quantity ``lucid eval`` reports)."""
        top5 = f" top-5 {100 * record['val_top5']:5.1f}%" if record.get("val_top5") is not None else ""
        return (
            f"epoch {record['epoch']:>3}/{epochs}  "
            f"train loss {record['train_loss']:.4f} top-1 {100 * record['train_top1']:5.1f}%  "
            f"val CE {record['val_loss']:.4f} top-1 {100 * record['val_top1']:5.1f}%{top5}  "
            f"lr {record['lr']:.3g}  {record['seconds']:.1f}s ({record['train_images_per_second']:.0f} img/s)"
        )

    def describe(self) -> list[str]:
        return [self.info.description]

    def recipe(self) -> str:
        return f"label smoothing {self.config.label_smoothing:g}"

    def checkpoint_metadata(self, model: nn.Module, record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``pretrained_cfg``: where the weights come from, the classes and scores; the
        preprocessing is written once, in ``extra`` (loading fills ``pretrained_cfg`` from it)."""
        info = self.info
        scores = {"val_top1": record.get("val_top1"), "val_top5": record.get("val_top5")}
        pretrained_cfg = {
            "source": "lucid",
            "categories": list(info.classes),
            "num_classes": len(info.classes),
            "in_channels": info.in_channels,
            "metrics": scores,
        }
        extra = {
            "categories": list(info.classes),
            "image_size": info.image_size,
            "in_channels": info.in_channels,
            "mean": list(info.mean),
            "std": list(info.std),
            "resize_size": info.resize_size,
            "interpolation": info.interpolation,
            "data": {k: v for k, v in info.to_dict().items() if k != "classes"},
            "ink": info.ink,
            **scores,
        }
        return pretrained_cfg, extra

    @classmethod
    def load_checkpoint(cls, path: Any) -> nn.Module:
        from lucid.models.loading import load_model

        return load_model(path)

    def title(self, model_name: str) -> str:
        info = self.info
        data = "digits" if info.kind == "digits" else Path(info.root or "data").name
        return f"{model_name} on {data} ({info.image_size}x{info.image_size})"

    # -- deployment (lucid.deploy finds these through lucid.tasks.get_task("classify")) ---------

    @classmethod
    def postprocess(cls, outputs: Sequence[np.ndarray], metadata: Mapping[str, str], **options: Any) -> list[Any]:
        """Per image, its ``topk`` (default 5) most probable ``(label, probability)`` pairs, most
        probable first; labels from ``classes`` (the option, else the file's), else ``class N`` for
        output N, as a checkpoint without class names is labelled (`lucid.train.evaluate.class_names`)."""
        from lucid.preprocessing import read_classes

        topk = options.get("topk", 5)
        if not isinstance(topk, int) or isinstance(topk, bool) or topk < 1:
            raise ValueError(f"topk must be a positive integer, got {topk!r}")
        names = options.get("classes") or read_classes(metadata)
        logits = np.asarray(outputs[0], dtype=np.float64)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
        order = np.argsort(-probs, axis=1, kind="stable")[:, : min(topk, probs.shape[1])]
        return [
            [(names[int(i)] if names else f"class {int(i)}", float(row[i])) for i in idx]
            for row, idx in zip(probs, order, strict=True)
        ]

    @classmethod
    def calibration_sets(
        cls, data: str | Any, preprocessing: Any, metadata: Mapping[str, str], picks: CalibrationPicks
    ) -> tuple[Any, Any]:
        """The digits' or an image folder's training and held-out images
        (`lucid.deploy.quantize.calibration_sets`); a segmentation data folder or a folder
        of mask PNGs is refused."""
        from lucid.data import labelled_layout, photo_folder_layout
        from lucid.deploy.quantize import calibration_sets
        from lucid.detect.data import looks_like_detection
        from lucid.preprocessing import read_classes
        from lucid.segment.data import looks_like_segmentation

        labelled = str(data) != "digits" and (labelled_layout(data) or photo_folder_layout(data)) is not None
        if str(data) != "digits" and not labelled:  # Oxford-IIIT Pet's root holds boxes and masks too
            folder = Path(data).expanduser()
            if looks_like_detection(folder):
                raise DataError(
                    f"a classification model is calibrated and scored on class folders of images or 'digits'; "
                    f"{data} holds photos with box annotations (detection data)"
                )
            if looks_like_segmentation(folder) or _mask_folder(folder):
                raise DataError(
                    f"a classification model is calibrated and scored on class folders of images or 'digits'; "
                    f"{data} holds segmentation images and masks"
                )
        classes = read_classes(metadata)
        return calibration_sets(
            data,
            preprocessing,
            classes=classes,
            num_classes=len(classes) if classes else None,
            metadata=metadata,
            num_calib=picks.num_calib,
            num_eval=picks.num_eval,
            seed=picks.seed,
        )

    @classmethod
    def compare(
        cls, reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], labels: Any, metadata: Mapping[str, str]
    ) -> Comparison:
        """Top-1 agreement of the two models, and both models' top-1 accuracy on ``labels``."""
        a, b = np.asarray(reference[0]).argmax(1), np.asarray(candidate[0]).argmax(1)
        agreement = float((a == b).mean())
        if labels is None:
            return Comparison(agreement, "top-1")
        target = np.asarray(labels)
        return Comparison(agreement, "top-1", float((a == target).mean()), float((b == target).mean()))


def _mask_folder(folder: Path) -> bool:
    """Whether ``folder`` (or a class folder in it) is named like a folder of segmentation masks."""
    from lucid.data.files import MASK_DIRS

    names = set(MASK_DIRS)
    if folder.name.lower() in names:
        return True
    return folder.is_dir() and any(child.is_dir() and child.name.lower() in names for child in folder.iterdir())

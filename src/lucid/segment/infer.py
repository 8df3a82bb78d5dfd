"""Evaluate and apply segmentation models: ``lucid eval`` and ``lucid predict`` for LR-ASPP checkpoints.

`evaluate_segmentation` gives mIoU, per-class IoU, pixel accuracy and the confusion matrix of
a checkpoint (or registered model + weights) on a mask folder; `predict_masks` writes, for
each image, its class mask as a palette PNG (pixel value = class, shown in colour) and an overlay.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from lucid.data import worker_context
from lucid.errors import DataError
from lucid.segment.coding import DEFAULT_IGNORE_INDEX, ColourTable, mask_colours, read_class_names, void_last
from lucid.segment.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SegmentationDataInfo,
    SegmentationFolder,
    SegmentationLayout,
    eval_transform,
    mask_histogram,
    pad_collate,
    read_rgb,
    recorded_layout,
    resolve_classes,
)
from lucid.segment.metrics import validate
from lucid.tasks import recorded_tta, with_tta

__all__ = [
    "SegmentationEval",
    "load_segmentation_source",
    "segmentation_meta",
    "evaluate_segmentation",
    "evaluation_pairs",
    "predict_masks",
    "palette",
    "colorize",
    "overlay",
]


def load_segmentation_source(source: nn.Module | str | os.PathLike[str], weights: Any = None) -> nn.Module:
    """A segmentation model from a module, a lucid LR-ASPP checkpoint, or a registered name (+ ``weights``)."""
    from lucid.models import create_model, is_segmentation_checkpoint, load_segmentation_model

    if isinstance(source, nn.Module):
        return source
    path = Path(source).expanduser()
    if path.is_file():
        if not is_segmentation_checkpoint(path):
            raise DataError(f"{path}: not a lucid segmentation (LR-ASPP) checkpoint")
        return load_segmentation_model(path)
    name = str(source)
    if name.startswith("lraspp_"):
        return create_model(name, weights=weights).eval()
    raise FileNotFoundError(f"no checkpoint at {path} (and {name!r} is not a segmentation model name)")


def segmentation_meta(model: nn.Module) -> dict[str, Any]:
    """Classes, ignore value, normalisation and resize rule recorded with the model's weights."""
    extra = getattr(model, "checkpoint_extra", None) or {}
    cfg = getattr(model, "pretrained_cfg", None) or {}
    num_classes = int(getattr(model, "num_classes", 0))
    record = extra.get("data") or {}
    classes = extra.get("classes") or cfg.get("categories")
    if classes is None or len(classes) != num_classes:
        classes = [f"class_{i}" for i in range(num_classes)]
    return {
        "classes": [str(c) for c in classes],
        "ignore_index": int(extra.get("ignore_index", DEFAULT_IGNORE_INDEX)),
        "mean": tuple(extra.get("mean") or cfg.get("mean") or IMAGENET_MEAN),
        "std": tuple(extra.get("std") or cfg.get("std") or IMAGENET_STD),
        # torchvision's weights resize to 520; a lucid run of large photos to its working side
        "resize_size": cfg.get("resize_size") if cfg.get("source") == "torchvision" else record.get("resize_size"),
        "data": (extra.get("data") or {}).get("root"),
        "data_record": extra.get("data") or None,
    }


@dataclass
class SegmentationEval:
    """Scores of one evaluation; fractions in [0, 1], ``per_class_iou`` None for absent classes."""

    checkpoint: str
    data: str
    miou: float
    pixel_acc: float
    mean_acc: float
    loss: float
    per_class_iou: dict[str, float | None]
    classes: list[str]
    confusion: list[list[int]]
    ignore_index: int
    images: int
    pixels: int
    seconds: float
    confusion_png: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. the data's class names differ from the checkpoint's
    # The test-time augmentation scored: "flip" (each image's and its mirror's logits averaged) or "none".
    tta: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return {"task": "segment", **asdict(self)}

    def summary(self) -> list[str]:
        """What ``lucid eval`` prints above the per-class table."""
        return [
            f"{self.checkpoint} on {self.data} ({self.images} images, ignore value {self.ignore_index}"
            + (
                ", test-time flip: each image and its mirror averaged; --tta none: one pass"
                if self.tta == "flip"
                else ""
            )
            + ")",
            f"mIoU {100 * self.miou:.2f}%  pixel accuracy {100 * self.pixel_acc:.2f}%  "
            f"mean class accuracy {100 * self.mean_acc:.2f}%  loss {self.loss:.4f}  {self.seconds:.1f}s",
        ]

    def class_columns(self) -> list[tuple[str, list[Any]]]:
        """The per-class table's columns: IoU, and the labelled pixels of each class."""
        return [
            ("IoU", [self.per_class_iou[name] for name in self.classes]),
            ("pixels", [int(sum(row)) for row in self.confusion]),
        ]


def evaluation_pairs(
    data: str | os.PathLike[str], recorded: dict[str, Any] | None = None
) -> tuple[Path, list[tuple[Path, Path]]]:
    """The folder and (image, mask) pairs ``lucid eval`` scores for ``--data``.

    A data root with split folders: its validation split. One images/ + masks/ folder pair: all of
    it, unless it is the folder the checkpoint trained on with a seeded split (``recorded``, the
    checkpoint's data record), whose validation pairs are then re-derived from its fraction and seed.
    """
    layout, pairs = _evaluation_layout(data, recorded)
    return layout.root, pairs


def _evaluation_layout(
    data: str | os.PathLike[str], recorded: dict[str, Any] | None
) -> tuple[SegmentationLayout, list[tuple[Path, Path]]]:
    layout, own = recorded_layout(data, recorded, need_train=False)
    if layout.kind == "single" and not own:  # a folder of pairs given to evaluate: every pair
        return layout, sorted(layout.train + layout.val)
    return layout, layout.val


def evaluate_segmentation(
    source: nn.Module | str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    *,
    weights: Any = None,
    ignore_index: int | None = None,
    batch_size: int = 4,
    device: str = "cpu",
    workers: int = 0,
    confusion_png: str | os.PathLike[str] | None = None,
    tta: str | None = None,
) -> SegmentationEval:
    """mIoU, per-class IoU, pixel accuracy and confusion matrix of a segmentation model on a mask folder.

    ``data`` defaults to the validation split the checkpoint was trained on; ``ignore_index`` to
    the checkpoint's (255 without one). Images are evaluated at their own size, or, for a run
    whose photos were larger than `lucid.segment.data.WORKING_SIDE`, with their short side (and
    their masks') resized to it, as the run validated them. ``tta``
    (``"flip"`` or ``"none"``) defaults to the training run's choice
    (`lucid.tasks.recorded_tta`), so the best checkpoint's figures are repeated.
    """
    model = load_segmentation_source(source, weights).to(device).eval()
    chosen = recorded_tta(model) if tta is None else tta
    scored_model = with_tta(model, chosen)
    meta = segmentation_meta(model)
    data = data if data is not None else meta["data"]
    if data is None:
        raise DataError("no --data given and the checkpoint records no training data")
    layout, pairs = _evaluation_layout(data, meta["data_record"])
    folder, named = layout.root, layout.named  # read from root; named as the user named it
    ignore = meta["ignore_index"] if ignore_index is None else int(ignore_index)
    classes = list(meta["classes"])
    notes = _class_name_notes(folder, classes)
    colours = layout.coding or mask_colours(folder, meta["data_record"])  # as the folder's masks code classes
    working = (meta["data_record"] or {}).get("resize_size")  # a lucid run's; torchvision's scored at full size
    dataset = SegmentationFolder(
        folder, transform=eval_transform(meta["mean"], meta["std"], working), pairs=pairs, colours=colours
    )
    try:  # a mask value that is neither a class nor the void value: said before any image is run
        resolve_classes(mask_histogram(dataset), names=classes, names_from="the checkpoint", ignore_index=ignore)
    except DataError as exc:
        raise DataError(f"--data {named}: {exc}") from None
    context, _ = worker_context(workers)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        multiprocessing_context=context,
        collate_fn=pad_collate(ignore),
    )
    info = SegmentationDataInfo(str(folder), classes, ignore, (0, 0))
    start = time.perf_counter()
    scored = validate(scored_model, loader, info, torch.device(device))
    seconds = time.perf_counter() - start
    png = None
    if confusion_png is not None:
        title = f"{getattr(model, 'model_name', 'model')} on {named}"
        png = str(_plot_confusion(scored["confusion"], classes, confusion_png, title))
    return SegmentationEval(
        checkpoint=str(source) if not isinstance(source, nn.Module) else getattr(source, "model_name", "model"),
        data=str(named),
        miou=scored["miou"],
        pixel_acc=scored["pixel_acc"],
        mean_acc=scored["mean_acc"],
        loss=scored["loss"],
        per_class_iou=scored["per_class_iou"],
        classes=list(classes),
        confusion=scored["confusion"],
        ignore_index=ignore,
        images=len(dataset),
        notes=notes,
        pixels=scored["pixels"],
        seconds=seconds,
        confusion_png=png,
        tta=chosen,
    )


def _class_name_notes(folder: Path, classes: list[str]) -> list[str]:
    """A note when ``folder`` (or its parent) names the classes otherwise than the checkpoint's
    ``classes``. The checkpoint's names win: they are what its outputs mean."""
    folder_names = read_class_names(folder) or read_class_names(folder.parent)
    folder_names = None if folder_names is None else void_last(folder_names)[0]
    if folder_names is None or folder_names == classes:
        return []
    if len(folder_names) != len(classes):
        shown = f"{len(folder_names)} names vs the checkpoint's {len(classes)}"
    else:
        differ = [f"{i}: {a!r} vs {b!r}" for i, (a, b) in enumerate(zip(classes, folder_names, strict=True)) if a != b]
        shown = ", ".join(differ[:3])
    return [f"{folder}: its class names differ from the checkpoint's ({shown}); the checkpoint's names are used"]


def _plot_confusion(
    confusion: list[list[int]], classes: Sequence[str], path: str | os.PathLike[str], title: str
) -> Path:
    """The row-normalised confusion matrix (percent of each true class's pixels) as a PNG."""
    from lucid.train.metrics import plot_confusion

    matrix = torch.as_tensor(confusion, dtype=torch.float64)
    percent = (100 * matrix / matrix.sum(1, keepdim=True).clamp_min(1)).round()
    return plot_confusion(percent.tolist(), list(classes), path, f"{title}\n(% of each true class's pixels)")


# --------------------------------------------------------------------------------------------
# prediction: class masks, colour masks and overlays
# --------------------------------------------------------------------------------------------


def palette(num_classes: int = 256) -> np.ndarray:
    """``(num_classes, 3)`` uint8 colours: PASCAL VOC's colour map (bits of the index spread over RGB)."""
    colours = np.zeros((max(num_classes, 1), 3), dtype=np.uint8)
    for index in range(len(colours)):
        value, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= (value & 1) << shift
            g |= ((value >> 1) & 1) << shift
            b |= ((value >> 2) & 1) << shift
            value >>= 3
        colours[index] = (r, g, b)
    return colours


def colorize(mask: np.ndarray, colours: np.ndarray | None = None) -> Any:
    """A palette PNG image (PIL, mode ``P``) of a class mask: its pixel values stay the classes.
    ``colours``: the ``(256, 3)`` palette (default `palette`; a data set's own from its colour table)."""
    from PIL import Image

    image = Image.fromarray(np.asarray(mask, dtype=np.uint8), mode="P")
    image.putpalette((palette(256) if colours is None else colours).reshape(-1).tolist())
    return image


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5, colours: np.ndarray | None = None) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 image blended with its class colours (class 0 keeps ``alpha`` too)."""
    colours = (palette(256) if colours is None else colours)[np.asarray(mask, dtype=np.int64)]
    blended = (1 - alpha) * image.astype(np.float32) + alpha * colours.astype(np.float32)
    return np.clip(blended, 0, 255).astype(np.uint8)


@torch.no_grad()
def predict_mask(model: nn.Module, image: torch.Tensor, meta: dict[str, Any], device: str = "cpu") -> np.ndarray:
    """The ``(H, W)`` uint8 class mask of one ``(3, H, W)`` uint8 image at the image's own size."""
    from torchvision.transforms import v2

    height, width = image.shape[-2:]
    x = image
    if meta.get("resize_size"):
        x = v2.functional.resize(x, [int(meta["resize_size"])], antialias=True)
    x = v2.functional.to_dtype(x, torch.float32, scale=True)
    x = v2.functional.normalize(x, list(meta["mean"]), list(meta["std"]))
    logits = model(x[None].to(device)).float()
    if tuple(logits.shape[-2:]) != (height, width):
        logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
    return logits.argmax(1)[0].to(torch.uint8).cpu().numpy()


def mask_outputs(image_path: Path, folder: Path) -> tuple[Path, Path]:
    """The mask PNG and the overlay JPEG that `write_mask_files` writes for ``image_path``."""
    return folder / f"{image_path.stem}.mask.png", folder / f"{image_path.stem}.overlay.jpg"


def check_mask_outputs(images: Sequence[str | os.PathLike[str]], folder: Path) -> None:
    """Refuse (`lucid.outputs.OutputError`) before anything is written when any image's mask or
    overlay would overwrite one of the images, a file lucid did not write, or another image's."""
    from lucid.outputs import check_outputs

    pairs = [(item, target) for item in images for target in mask_outputs(Path(item).expanduser(), folder)]
    check_outputs(pairs, inputs=images)


def write_mask_files(
    image_path: Path,
    rgb: np.ndarray,
    mask: np.ndarray,
    classes: Sequence[str],
    folder: Path,
    alpha: float = 0.5,
    colours: np.ndarray | None = None,
) -> dict[str, Any]:
    """Write ``<stem>.mask.png`` (palette PNG, value = class) and ``<stem>.overlay.jpg`` atomically;
    return the image's record (files, size, fraction of pixels per predicted class). ``colours``: the
    ``(256, 3)`` palette (`colorize`)."""
    from PIL import Image

    from lucid.checkpoint import atomic_write
    from lucid.outputs import MARK, check_output, png_info

    mask_file, overlay_file = mask_outputs(image_path, folder)
    for target in (mask_file, overlay_file):  # never over the input photo or a user's own mask
        check_output(target, inputs=[image_path])
    palette_png, blended = colorize(mask, colours), Image.fromarray(overlay(rgb, mask, alpha, colours))
    atomic_write(mask_file, lambda tmp: palette_png.save(tmp, format="PNG", pnginfo=png_info()))
    atomic_write(overlay_file, lambda tmp: blended.save(tmp, format="JPEG", quality=92, comment=MARK))
    counts = np.bincount(mask.reshape(-1), minlength=len(classes))
    return {
        "image": str(image_path),
        "mask": str(mask_file),
        "overlay": str(overlay_file),
        "size": [int(mask.shape[0]), int(mask.shape[1])],
        "classes": {classes[i]: float(c) / mask.size for i, c in enumerate(counts) if c and i < len(classes)},
    }


def predict_masks(
    source: nn.Module | str | os.PathLike[str],
    images: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    weights: Any = None,
    device: str = "cpu",
    alpha: float = 0.5,
    tta: str | None = None,
) -> list[dict[str, Any]]:
    """For each image write ``<stem>.mask.png`` (palette PNG, value = class) and ``<stem>.overlay.jpg``,
    in the training data's own colours when it had a colour table (``class_dict.csv``). ``tta``
    (``"flip"``: each image's and its mirror's logits averaged, or ``"none"``) defaults to the
    training run's choice (`lucid.tasks.recorded_tta`).

    Returns one record per image: its files and the fraction of pixels of each predicted class.
    """

    if not images:
        raise ValueError("no images given")
    model = load_segmentation_source(source, weights).to(device).eval()
    meta = segmentation_meta(model)
    scored = with_tta(model, tta)
    recorded = (meta["data_record"] or {}).get("colours")
    colours = ColourTable.from_dict(recorded).palette(palette(256)) if recorded else None
    folder = Path(out_dir).expanduser()
    check_mask_outputs(images, folder)
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for item in images:
        path = Path(item).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no image at {path}")
        image = read_rgb(path)
        mask = predict_mask(scored, image, meta, device)
        rgb = image.permute(1, 2, 0).numpy()
        records.append(write_mask_files(path, rgb, mask, meta["classes"], folder, alpha, colours))
    return records

"""Pixel-wise loss and confusion-matrix metrics for segmentation: mIoU, per-class IoU, pixel accuracy.

Every metric is computed from one ``(num_classes, num_classes)`` confusion matrix (rows: true
class, columns: predicted) summed over the whole split, as the PASCAL VOC / Cityscapes
protocol does; pixels whose mask value is ``ignore_index`` never enter it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional as F

__all__ = ["segmentation_loss", "confusion_matrix", "scores", "ConfusionMeter", "validate"]


def segmentation_loss(
    logits: torch.Tensor, masks: torch.Tensor, ignore_index: int, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean pixel-wise cross-entropy over the pixels whose mask value is not ``ignore_index``
    (with class ``weight``, the weighted mean, as torch's cross-entropy defines it)."""
    return F.cross_entropy(logits, masks, weight=weight, ignore_index=ignore_index)


def confusion_matrix(
    predictions: torch.Tensor, targets: torch.Tensor, num_classes: int, ignore_index: int
) -> torch.Tensor:
    """``(num_classes, num_classes)`` int64 counts of (true, predicted) pixel pairs, void pixels left out.

    A target outside ``0..num_classes-1`` that is not ``ignore_index`` is an error (a mask that
    does not match the model's classes), not silently dropped.
    """
    targets = targets.reshape(-1).long()
    predictions = predictions.reshape(-1).long()
    keep = targets != ignore_index
    targets, predictions = targets[keep], predictions[keep]
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= num_classes):
        bad = sorted(set(torch.unique(targets).tolist()) - set(range(num_classes)))
        raise ValueError(
            f"mask values {bad[:10]} are neither a class (0..{num_classes - 1}) nor the ignore value {ignore_index}"
        )
    index = targets * num_classes + predictions
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def scores(confusion: torch.Tensor | Sequence[Sequence[int]], classes: Sequence[str] | None = None) -> dict[str, Any]:
    """mIoU, per-class IoU, pixel accuracy and mean class accuracy of a confusion matrix.

    IoU of class c = TP / (TP + FP + FN). A class that appears neither in the targets nor in
    the predictions has no IoU (None) and is left out of the mean, as in torchvision's reference.
    """
    matrix = torch.as_tensor(confusion, dtype=torch.float64)
    n = matrix.shape[0]
    names = list(classes) if classes is not None else [str(i) for i in range(n)]
    tp = matrix.diagonal()
    truth, predicted = matrix.sum(1), matrix.sum(0)
    union = truth + predicted - tp
    total = float(matrix.sum())
    iou = [float(tp[i] / union[i]) if union[i] > 0 else None for i in range(n)]
    accuracy = [float(tp[i] / truth[i]) if truth[i] > 0 else None for i in range(n)]
    valid = [v for v in iou if v is not None]
    present = [v for v in accuracy if v is not None]
    return {
        "miou": sum(valid) / len(valid) if valid else math.nan,
        "pixel_acc": float(tp.sum()) / total if total else math.nan,
        "mean_acc": sum(present) / len(present) if present else math.nan,
        "per_class_iou": dict(zip(names, iou, strict=True)),
        "pixels": int(total),
    }


class ConfusionMeter:
    """A running confusion matrix over batches of logits and masks, summed across DDP processes."""

    def __init__(self, num_classes: int, ignore_index: int) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def add(self, logits: torch.Tensor, masks: torch.Tensor) -> None:
        predictions = logits.detach().argmax(1)
        self.matrix += confusion_matrix(predictions.cpu(), masks.cpu(), self.num_classes, self.ignore_index)

    def reduce(self, device: torch.device) -> None:
        """Sum over every process (a no-op without torch.distributed)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            values = self.matrix.to(device)
            dist.all_reduce(values)
            self.matrix = values.cpu()

    def scores(self, classes: Sequence[str] | None = None) -> dict[str, Any]:
        return scores(self.matrix, classes)


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    loader: Any,
    info: Any,
    device: torch.device,
    channels_last: bool = False,
    limit_batches: int | None = None,
) -> dict[str, Any]:
    """Loss, confusion matrix and scores of ``model`` on ``loader`` (summed over DDP processes);
    ``info`` gives ``num_classes``, ``ignore_index`` and ``classes``. ``finite``: every output was finite."""
    import torch.distributed as dist

    model.eval()
    meter = ConfusionMeter(info.num_classes, info.ignore_index)
    loss_sum, pixels, bad = 0.0, 0, 0
    for index, (images, masks) in enumerate(loader):
        if limit_batches is not None and index >= limit_batches:
            break
        images = images.as_subclass(torch.Tensor).to(device)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        masks = masks.as_subclass(torch.Tensor).to(device)
        logits = model(images).float()
        if not bool(torch.isfinite(logits).all()):
            bad += 1
            continue  # a diverged model: its pixels cannot be scored
        valid = int((masks != info.ignore_index).sum())
        if valid:
            loss_sum += float(segmentation_loss(logits, masks, info.ignore_index)) * valid
        pixels += valid
        meter.add(logits, masks)
    totals = torch.tensor([loss_sum, pixels, bad], dtype=torch.float64)
    if dist.is_available() and dist.is_initialized():
        totals = totals.to(device)
        dist.all_reduce(totals)
        totals = totals.cpu()
    meter.reduce(device)
    scored = meter.scores(info.classes)
    scored["loss"] = float(totals[0] / totals[1].clamp(min=1))
    scored["confusion"] = meter.matrix.tolist()
    scored["finite"] = float(totals[2]) == 0 and math.isfinite(scored["loss"])
    return scored

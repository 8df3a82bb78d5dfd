"""COCO box metrics computed by faster-coco-eval's COCOeval, pycocotools' algorithm in C++.

faster-coco-eval gives pycocotools' precision table (the reference implementation, its tests and
lucid's compare them) in a fraction of the time: validation scores every epoch, so the evaluator
is part of each epoch's cost (docs/detection.md, *Speed of training*).

Predictions and ground truth are turned into COCO objects in memory (no files), COCOeval runs
with its standard settings (IoU 0.50:0.05:0.95, up to 100 detections per image, all areas) and
its printing is swallowed. Boxes are ``x1 y1 x2 y2`` in the photo's own pixels; labels are
1-based (label ``i`` is ``classes[i - 1]``, 0 is the background).

Ground-truth boxes flagged ``iscrowd`` (VOC's difficult boxes included) are ignored as COCOeval
ignores crowd regions: a detection matching one is neither a true nor a false positive.

A class without ground truth in the evaluated images has no AP: its entry in ``per_class_ap``
and ``per_class_ap50`` is ``None`` and it does not enter the mean (COCOeval's own rule). When no
class has ground truth, ``map``, ``map50`` and ``map75`` are ``None`` too.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torchvision.models.detection.transform import resize_boxes

from lucid.errors import DataError

__all__ = ["coco_dataset", "coco_metrics", "MAX_DETECTIONS", "photo_detections", "scale_detections"]

MAX_DETECTIONS = 100  # COCOeval's standard maxDets for the reported AP


def scale_detections(
    detection: Mapping[str, torch.Tensor], from_size: Sequence[int], to_size: Sequence[int]
) -> dict[str, torch.Tensor]:
    """A detector's ``{"boxes", "scores", "labels"}`` for an input of ``from_size`` (h, w), on the
    CPU in float32 with the boxes moved to a photo of ``to_size``: what `coco_metrics` scores."""
    boxes = detection["boxes"].detach().float().cpu()
    return {
        "boxes": resize_boxes(boxes, [int(s) for s in from_size], [int(s) for s in to_size]),
        "scores": detection["scores"].detach().float().cpu(),
        "labels": detection["labels"].detach().cpu(),
    }


def photo_detections(
    detections: Sequence[Mapping[str, torch.Tensor]],
    targets: Sequence[Mapping[str, Any]],
    input_size: Sequence[int],
    dataset: Any,
) -> tuple[list[dict[str, torch.Tensor]], list[dict[str, Any]]]:
    """A batch's detections in each photo's own pixels (`scale_detections` from the network's
    ``input_size`` to the target's ``orig_size``) and each photo's ground truth
    (``dataset.ground_truth(image_id)``): `coco_metrics`' two inputs, gathered alike by training's
    validation and by ``lucid eval``."""
    predictions = [scale_detections(d, input_size, t["orig_size"]) for d, t in zip(detections, targets, strict=True)]
    return predictions, [dataset.ground_truth(int(t["image_id"])) for t in targets]


def _array(value: Any, name: str, where: int, columns: int | None = None) -> np.ndarray:
    """``value`` (tensor, array or list) as a float64 array, checked to be ``(N,)`` or ``(N, columns)``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value if value is not None else [], dtype=np.float64)
    if columns is not None:
        array = array.reshape(-1, columns) if array.size == 0 else array
        if array.ndim != 2 or array.shape[1] != columns:
            raise DataError(
                f"image {where}: '{name}' must be (N, {columns}) x1 y1 x2 y2 boxes, got shape {array.shape}"
            )
    elif array.ndim != 1:
        raise DataError(f"image {where}: '{name}' must be a flat list of N values, got shape {array.shape}")
    return array


def _boxes_labels(item: Mapping[str, Any], where: int) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(item, Mapping) or "boxes" not in item or "labels" not in item:
        raise DataError(f"image {where}: expected a dict with 'boxes' and 'labels', got {type(item).__name__}")
    boxes, labels = _array(item["boxes"], "boxes", where, 4), _array(item["labels"], "labels", where)
    if len(boxes) != len(labels):
        raise DataError(f"image {where}: {len(boxes)} boxes but {len(labels)} labels")
    return boxes, labels


def _coco_box(box: np.ndarray) -> list[float]:
    """``[x, y, width, height]`` of an ``x1 y1 x2 y2`` box, as COCO stores boxes."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _annotations(items: Sequence[Mapping[str, Any]], classes: Sequence[str], predictions: bool) -> list[dict[str, Any]]:
    """COCO annotation dicts of every image's boxes (with ``score`` for predictions)."""
    found: list[dict[str, Any]] = []
    for image_id, item in enumerate(items):
        boxes, labels = _boxes_labels(item, image_id)
        scores = _array(item.get("scores"), "scores", image_id) if predictions else np.zeros(len(boxes))
        crowd = np.zeros(len(boxes)) if predictions else _array(item.get("iscrowd"), "iscrowd", image_id)
        crowd = crowd if len(crowd) == len(boxes) else np.zeros(len(boxes))
        if len(scores) != len(boxes):
            raise DataError(f"image {image_id}: {len(boxes)} boxes but {len(scores)} scores")
        bad = [int(v) for v in labels if not (v == int(v) and 1 <= v <= len(classes))]
        if bad:
            raise DataError(f"image {image_id}: labels must be 1..{len(classes)} (0 is the background), got {bad[:5]}")
        for box, label, score, is_crowd in zip(boxes, labels, scores, crowd, strict=True):
            coco = _coco_box(box)
            entry = {"image_id": image_id, "category_id": int(label), "bbox": coco, "area": coco[2] * coco[3]}
            entry.update({"score": float(score)} if predictions else {"iscrowd": int(bool(is_crowd))})
            found.append({**entry, "id": len(found) + 1})
    return found


def coco_dataset(items: Sequence[Mapping[str, Any]], classes: Sequence[str], *, predictions: bool) -> dict[str, Any]:
    """The COCO JSON dict (``images``, ``categories``, ``annotations``) of one dict per image, as
    `coco_metrics` takes them: image ``i`` has id ``i``, class ``classes[k]`` id ``k + 1``; boxes
    become ``[x, y, width, height]``, with ``score`` for ``predictions``, else ``iscrowd``. What
    ``COCO(file)`` reads, for any COCO tool (and `coco_metrics`'s own input)."""
    return {
        "images": [{"id": i} for i in range(len(items))],
        "categories": [{"id": i, "name": name} for i, name in enumerate(classes, 1)],
        "annotations": _annotations(items, classes, predictions=predictions),
    }


def _coco(dataset: dict[str, Any]) -> Any:
    """A ``COCO`` object built in memory from `coco_dataset` (what ``COCO(file)`` builds)."""
    from faster_coco_eval import COCO

    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _mean(values: np.ndarray) -> float | None:
    """The mean of COCOeval's precisions that exist (-1 marks "no ground truth"), or None."""
    kept = values[values > -1]
    return float(kept.mean()) if kept.size else None


def coco_metrics(
    predictions: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Any]],
    classes: Sequence[str],
) -> dict[str, Any]:
    """COCO box AP of ``predictions`` against ``ground_truth`` (one dict per image, in the same order).

    Predictions: ``boxes`` ``(N, 4)`` x1 y1 x2 y2, ``scores`` ``(N,)``, ``labels`` ``(N,)`` 1-based;
    ground truth: ``boxes``, ``labels`` and optionally ``iscrowd`` (ignored regions). Returns
    ``map`` (AP at IoU 0.50:0.95), ``map50``, ``map75``, ``per_class_ap`` and ``per_class_ap50``
    ({class name: AP}, ``None`` for a class without ground truth), and ``images``.
    """
    from faster_coco_eval import COCOeval_faster

    if len(predictions) != len(ground_truth):
        raise DataError(f"{len(predictions)} prediction dicts for {len(ground_truth)} ground-truth images")
    if not classes:
        raise DataError("coco_metrics needs the class names (no background), got none")
    truth = _coco(coco_dataset(ground_truth, classes, predictions=False))
    found = _coco(coco_dataset(predictions, classes, predictions=True))
    evaluator = COCOeval_faster(truth, found, iouType="bbox")
    evaluator.params.imgIds = list(range(len(ground_truth)))
    evaluator.params.catIds = list(range(1, len(classes) + 1))
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
    # precision: [IoU threshold, recall point, class, area range (0: all), max detections (-1: 100)]
    precision = evaluator.eval["precision"][:, :, :, 0, -1]
    iou_50 = int(np.argmin(np.abs(evaluator.params.iouThrs - 0.5)))
    iou_75 = int(np.argmin(np.abs(evaluator.params.iouThrs - 0.75)))
    return {
        "map": _mean(precision),
        "map50": _mean(precision[iou_50]),
        "map75": _mean(precision[iou_75]),
        "per_class_ap": {name: _mean(precision[:, :, k]) for k, name in enumerate(classes)},
        "per_class_ap50": {name: _mean(precision[iou_50, :, k]) for k, name in enumerate(classes)},
        "images": len(ground_truth),
    }

"""Detection's side of `lucid.deploy`: what an exported SSDLite holds and how its outputs
become boxes again.

The exported graph is `lucid.models.ssdlite.SSDLite.forward_raw` (`RawDetector`): a
resized, normalised ``(N, 3, 320, 320)`` batch in, ``boxes`` ``(N, A, 4)`` (every anchor's decoded
box, xyxy in the 320-px input's pixels) and ``scores`` ``(N, A, C)`` (softmax, column 0 the
background) out. **NMS runs on the host**, not in the file: `detections_from_outputs` applies
`lucid.models.ssdlite.postprocess_raw` (eval mode's own per-class threshold, top-k, batched NMS
and rescale to each photo's size) with the thresholds the file records, so an exported model's
detections are the eager model's eval-mode detections.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lucid.errors import DataError
from lucid.tasks import CalibrationPicks

__all__ = [
    "RawDetector",
    "calibration_sets",
    "compare_detections",
    "detection_metadata",
    "detector_categories",
    "detections_from_outputs",
    "prepare_detection_batches",
    "recorded_thresholds",
]

# metadata key -> SSDLite attribute: the selection postprocess_raw applies on the host
THRESHOLD_KEYS = {
    "score_threshold": "score_thresh",
    "nms_threshold": "nms_thresh",
    "topk_candidates": "topk_candidates",
    "detections_per_image": "detections_per_img",
}
AGREEMENT_SCORE = 0.3  # detections at least this confident are compared between two models
AGREEMENT_IOU = 0.5  # a candidate box agrees with a reference box of the same class above this IoU


class RawDetector(nn.Module):
    """The exported graph of a detector: ``forward`` is the model's ``forward_raw`` (no NMS)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(boxes, scores)`` of a resized, normalised batch (see the module doc)."""
        return self.model.forward_raw(x)  # type: ignore[operator]


def detector_categories(model: nn.Module) -> list[str]:
    """The detector's class names with the background at index 0: its training record's, else its
    weights', else ``class N`` (names of another head's width are not this model's)."""
    count = int(getattr(model, "num_classes", 0))
    for record in (getattr(model, "checkpoint_extra", None), getattr(model, "pretrained_cfg", None)):
        names = (record or {}).get("categories")
        if isinstance(names, (list, tuple)) and len(names) == count:
            return [str(name) for name in names]
    return ["__background__", *(f"class {i}" for i in range(1, count))]


def detection_metadata(model: nn.Module, categories: Sequence[str]) -> dict[str, str]:
    """The task's metadata keys: the class names with the background at index 0 (``classes``)
    and the host-side selection's thresholds (JSON values, as every metadata key)."""
    meta = {"classes": json.dumps(list(categories))}
    for key, attribute in THRESHOLD_KEYS.items():
        meta[key] = json.dumps(getattr(model, attribute))
    return meta


def recorded_thresholds(metadata: Mapping[str, str]) -> dict[str, Any]:
    """`postprocess_raw`'s keyword arguments from a file's metadata (its defaults where absent)."""
    from lucid.models.ssdlite import DETECTIONS_PER_IMG, NMS_THRESH, SCORE_THRESH, TOPK_CANDIDATES

    defaults = {
        "score_threshold": SCORE_THRESH,
        "nms_threshold": NMS_THRESH,
        "topk_candidates": TOPK_CANDIDATES,
        "detections_per_image": DETECTIONS_PER_IMG,
    }
    found = {key: json.loads(metadata[key]) if key in metadata else value for key, value in defaults.items()}
    return {
        "score_threshold": float(found["score_threshold"]),
        "nms_threshold": float(found["nms_threshold"]),
        "topk": int(found["topk_candidates"]),
        "detections_per_image": int(found["detections_per_image"]),
    }


def _pixels(image: Any) -> torch.Tensor:
    """A ``(3, H, W)`` image of a path, PIL image, ``(H, W, C)`` array or ``(C, H, W)`` tensor:
    uint8 as read, or float in [0, 1] as given (torchvision's detectors take float images)."""
    from lucid.preprocessing import read_image

    if isinstance(image, (str, os.PathLike)) or hasattr(image, "convert"):
        pixels = read_image(image)
    elif isinstance(image, torch.Tensor):
        pixels = image
    else:
        array = np.asarray(image)
        if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
            raise DataError(f"an image array must be (H, W, 3), got shape {array.shape}")
        pixels = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
    if pixels.dim() != 3 or pixels.shape[0] not in (1, 3, 4):
        raise DataError(f"an image tensor must be (3, H, W), got shape {tuple(pixels.shape)}")
    if pixels.dtype != torch.uint8 and not pixels.is_floating_point():
        raise DataError(f"an image tensor must be uint8 or float in [0, 1], got {pixels.dtype}")
    return pixels.expand(3, -1, -1) if pixels.shape[0] == 1 else pixels[:3]


def prepare_detection_batches(images: Any, preprocessing: Any) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """One ``(1, 3, H, W)`` batch per image, as the model's own transform (torchvision's
    ``GeneralizedRCNNTransform``) makes it in eval mode, each with its original ``(H, W)`` under
    ``sizes`` so that the boxes come back in its own pixels.

    The transform normalises the photo, then stretches it to the square (bilinear, no
    antialias). Here the photo is stretched first and the square normalised: bilinear weights
    sum to one, so the result is the same up to float rounding, and only the square's pixels
    are normalised, not the photo's.
    """
    size = [int(v) for v in preprocessing.image_size]
    mean = torch.tensor(preprocessing.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(preprocessing.std, dtype=torch.float32).view(3, 1, 1)
    many = isinstance(images, (list, tuple)) or (hasattr(images, "ndim") and images.ndim == 4)
    batches = []
    for image in images if many else [images]:
        pixels = _pixels(image)
        scale = 1 / 255 if pixels.dtype == torch.uint8 else 1.0
        with torch.no_grad():
            square = torch.nn.functional.interpolate(
                pixels.float()[None], size=size, mode="bilinear", align_corners=False
            )[0]
            batch = square.mul_(scale).sub_(mean).div_(std)
        original = (int(pixels.shape[1]), int(pixels.shape[2]))
        batches.append((batch[None].numpy(), {"sizes": [original]}))
    return batches


def detections_from_outputs(
    outputs: Sequence[np.ndarray],
    metadata: Mapping[str, str],
    *,
    sizes: Sequence[tuple[int, int]] | None = None,
    classes: Sequence[str] | None = None,
    score_threshold: float | None = None,
) -> list[dict[str, Any]]:
    """Per image, torchvision's detection dict (``boxes`` xyxy float32 in the image's own pixels,
    ``scores``, ``labels`` int64 with 1 the first class) plus ``names``, from one batch's ``boxes``
    and ``scores`` outputs: NMS and the recorded thresholds applied here, on the host (eval mode's
    `postprocess_raw`). ``sizes``: each image's original ``(H, W)`` (default: the input size);
    ``score_threshold`` keeps only boxes scoring at least that (default: eval mode's selection)."""
    from lucid.models.ssdlite import postprocess_raw

    if len(outputs) != 2:
        raise DataError(f"a detection model has 2 outputs (boxes, scores); got {len(outputs)}")
    boxes = torch.from_numpy(np.ascontiguousarray(outputs[0], dtype=np.float32))
    scores = torch.from_numpy(np.ascontiguousarray(outputs[1], dtype=np.float32))
    size = tuple(json.loads(metadata.get("image_size", "[320, 320]")))
    input_size = (int(size[0]), int(size[-1]))
    found = postprocess_raw(
        boxes,
        scores,
        list(sizes) if sizes is not None else [input_size] * len(boxes),
        input_size=input_size,
        **recorded_thresholds(metadata),
    )
    if score_threshold is not None:
        if not 0 <= score_threshold <= 1:
            raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
        found = [{k: v[d["scores"] >= score_threshold] for k, v in d.items()} for d in found]
    names = list(classes) if classes is not None else None
    results: list[dict[str, Any]] = []
    for detection in found:
        labels = [int(label) for label in detection["labels"]]
        named = [names[i] if names and 0 <= i < len(names) else str(i) for i in labels]
        results.append({**detection, "names": named})
    return results


def calibration_sets(
    data: str | os.PathLike[str], preprocessing: Any, metadata: Mapping[str, str], picks: CalibrationPicks
) -> tuple[Any, Any]:
    """Calibration images from a detection folder's training photos (resized only, no augmentation)
    and evaluation photos from its validation split (the recorded split when it is the folder the
    model trained on), each evaluation label its ground truth in the photo's own pixels."""
    from lucid.deploy.quantize import LabelledImages, seeded_pick
    from lucid.detect.data import LAYOUT_HELP, detection_datasets, looks_like_detection
    from lucid.segment.data import looks_like_segmentation

    if str(data) == "digits" or not looks_like_detection(data):
        kind = (
            "the embedded digits are classification's"
            if str(data) == "digits"
            else "it holds image/mask folders, segmentation's"
            if looks_like_segmentation(data)
            else "it holds no box annotations; class folders are classification's"
            if Path(data).expanduser().is_dir()
            else "no such folder"
        )
        raise DataError(
            f"a detection model is calibrated and scored on a detection data folder ({LAYOUT_HELP}); "
            f"{data} is not one ({kind})"
        )
    recorded = json.loads(metadata.get("train_data", "null")) or {}
    same = recorded.get("root") and Path(recorded["root"]).expanduser().resolve() == Path(data).expanduser().resolve()
    # The recorded split names its classes; another folder is read with the file's class names.
    classes = json.loads(metadata["classes"])[1:] if "classes" in metadata and not same else None
    size = int(preprocessing.image_size[0])
    train, val, info = detection_datasets(str(data), image_size=size, classes=classes, split=recorded if same else None)
    train.transform = val.transform  # calibration sees the photos as inference does: resized only
    mean = np.asarray(preprocessing.mean, np.float32)[:, None, None]
    std = np.asarray(preprocessing.std, np.float32)[:, None, None]

    def images(dataset: Any, picked: np.ndarray) -> np.ndarray:
        rows = [(dataset[int(i)][0].float().numpy() / 255.0 - mean) / std for i in picked]
        return np.stack(rows).astype(np.float32)

    if not len(train) or not len(val):
        raise DataError(f"{info.root}: needs training and validation photos ({len(train)} / {len(val)})")
    calib = seeded_pick(len(train), picks.num_calib, picks.seed)
    held = seeded_pick(len(val), picks.num_eval, picks.seed + 1)
    labels = np.empty(len(held), dtype=object)
    for slot, index in enumerate(held):
        labels[slot] = val.ground_truth(int(index))
    return (
        LabelledImages(images(train, calib), None, f"{info.root} training photos, {len(calib)} at {size}x{size}"),
        LabelledImages(images(val, held), labels, f"{info.root} validation photos, {len(held)} at {size}x{size}"),
    )


def compare_detections(
    reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], labels: Any, metadata: Mapping[str, str]
) -> Any:
    """How two detectors' outputs agree (share of the reference's boxes scoring >= 0.3 that the
    candidate finds with the same class at IoU >= 0.5) and both models' COCO mAP@[.5:.95] on
    ``labels`` (ground truth in each photo's own pixels)."""
    from torchvision.ops import box_iou

    from lucid.detect.metrics import coco_metrics
    from lucid.tasks import Comparison

    sizes = None if labels is None else [tuple(truth["orig_size"]) for truth in labels]
    ref = detections_from_outputs(reference, metadata, sizes=sizes)
    cand = detections_from_outputs(candidate, metadata, sizes=sizes)
    matched, total = 0, 0
    for a, b in zip(ref, cand, strict=True):
        keep_a, keep_b = a["scores"] >= AGREEMENT_SCORE, b["scores"] >= AGREEMENT_SCORE
        boxes_a, labels_a = a["boxes"][keep_a], a["labels"][keep_a]
        boxes_b, labels_b = b["boxes"][keep_b], b["labels"][keep_b]
        total += len(boxes_a)
        if len(boxes_a) and len(boxes_b):
            same = (box_iou(boxes_a, boxes_b) >= AGREEMENT_IOU) & (labels_a[:, None] == labels_b[None, :])
            matched += int(same.any(dim=1).sum())
    agreement = matched / total if total else 1.0
    if labels is None:
        return Comparison(agreement, "mAP")
    names = json.loads(metadata["classes"])[1:] if "classes" in metadata else None
    count = int(np.asarray(reference[1]).shape[-1]) - 1
    classes = names if names and len(names) == count else [f"class {i}" for i in range(1, count + 1)]
    truths = list(labels)
    return Comparison(
        agreement,
        "mAP",
        float(coco_metrics(ref, truths, classes)["map"] or 0.0),
        float(coco_metrics(cand, truths, classes)["map"] or 0.0),
    )

"""``lucid.detect``: SSDLite object detection: box data in the layouts people ship, the SSD
augmentation recipe, COCO metrics computed by COCOeval (faster-coco-eval), the task plug-in of lucid's engine
(`DetectConfig`, ``lucid train --task detect``), evaluation and drawn predictions."""

from lucid.detect.data import (
    LAYOUT_HELP,
    DetectionDataInfo,
    DetectionDataset,
    DetectionLayout,
    DetectionRecord,
    detection_collate,
    detection_datasets,
    find_detection_layout,
    looks_like_detection,
)
from lucid.detect.metrics import MAX_DETECTIONS, coco_dataset, coco_metrics, photo_detections, scale_detections
from lucid.detect.transforms import SSD_FILL, IoUCrop, ZoomCropResize, eval_transform, train_transform, zoomed_crop

# isort: split
from lucid.detect.infer import DetectionEval, evaluate_detection, predict_boxes
from lucid.detect.task import DetectConfig, DetectTask

__all__ = [
    "LAYOUT_HELP",
    "DetectionDataInfo",
    "DetectionDataset",
    "DetectionLayout",
    "DetectionRecord",
    "detection_collate",
    "detection_datasets",
    "find_detection_layout",
    "looks_like_detection",
    "MAX_DETECTIONS",
    "coco_dataset",
    "coco_metrics",
    "scale_detections",
    "photo_detections",
    "SSD_FILL",
    "IoUCrop",
    "ZoomCropResize",
    "zoomed_crop",
    "eval_transform",
    "train_transform",
    "DetectConfig",
    "DetectTask",
    "DetectionEval",
    "evaluate_detection",
    "predict_boxes",
]

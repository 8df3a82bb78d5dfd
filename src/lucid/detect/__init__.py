"""``lucid.detect``: SSDLite object detection: box data in the layouts people ship, the SSD
augmentation recipe, and COCO metrics computed by pycocotools."""

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
from lucid.detect.metrics import MAX_DETECTIONS, coco_metrics
from lucid.detect.transforms import SSD_FILL, eval_transform, train_transform

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
    "coco_metrics",
    "SSD_FILL",
    "eval_transform",
    "train_transform",
]

"""``lucid.segment``: semantic segmentation with LR-ASPP on MobileNet-v3, masks in and masks out.

- data: `find_layout` (the image/mask folder layouts read), `SegmentationFolder`
  (image/mask pairs), joint
  augmentation of image and mask with torchvision transforms v2 (``tv_tensors.Mask``);
- cache (`lucid.segment.cache`): pairs that fit the memory budget decoded once into
  `CachedPairs` (`cache_pairs`), their training batches cut whole by `PairAugment`, on the GPU
  when they fit there;
- coding (`lucid.segment.coding`): how masks code the classes, `ColourTable` (colour-coded
  masks through a ``class_dict.csv``, label-id masks: `cityscapes_coding`, black-and-white
  masks, trimaps ...), `read_mask`;
- `segmentation_loss`, `confusion_matrix`, `scores` (mIoU, per-class IoU,
  pixel accuracy) with an ignore label;
- `SegmentConfig` and `SegmentTask`: ``lucid train --task segment`` on lucid's one
  engine (``lucid.train.train(SegmentConfig(...))``), `evaluate_segmentation`
  (``lucid eval``), `predict_masks` (``lucid predict``: colour mask PNG + overlay);
- deployment is `lucid.deploy`'s (``lucid export``/``quantize``, `lucid.deploy.Predictor`),
  with `SegmentTask`'s deploy hooks: a free image size, class masks out, mIoU for int8.
"""

from lucid.segment.cache import CachedPairs, PairAugment, cache_pairs
from lucid.segment.coding import DEFAULT_IGNORE_INDEX, ColourTable, cityscapes_coding, read_colour_table, read_mask
from lucid.segment.data import (
    SegmentationDataInfo,
    SegmentationFolder,
    SegmentationLayout,
    eval_transform,
    find_layout,
    segmentation_datasets,
    train_transform,
)
from lucid.segment.metrics import ConfusionMeter, confusion_matrix, scores, segmentation_loss, validate
from lucid.segment.synthetic import SHAPE_CLASSES, make_shapes_dataset
from lucid.segment.task import SegmentConfig, SegmentTask

__all__ = [
    "DEFAULT_IGNORE_INDEX",
    "SegmentationFolder",
    "SegmentationDataInfo",
    "segmentation_datasets",
    "CachedPairs",
    "PairAugment",
    "cache_pairs",
    "train_transform",
    "eval_transform",
    "read_mask",
    "find_layout",
    "SegmentationLayout",
    "ColourTable",
    "read_colour_table",
    "cityscapes_coding",
    "segmentation_loss",
    "confusion_matrix",
    "scores",
    "ConfusionMeter",
    "SegmentConfig",
    "SegmentTask",
    "validate",
    "make_shapes_dataset",
    "SHAPE_CLASSES",
]

from lucid.segment.infer import (  # noqa: E402
    SegmentationEval,
    colorize,
    evaluate_segmentation,
    overlay,
    palette,
    predict_masks,
)

__all__ += [
    "evaluate_segmentation",
    "SegmentationEval",
    "predict_masks",
    "palette",
    "colorize",
    "overlay",
]

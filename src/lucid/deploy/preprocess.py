"""The preprocessing a deployed model expects, recorded in its file and replayed by the Predictor.

The record, its reading from a model and the image reading it needs live in `lucid.preprocessing`
(one home for training, evaluation, weights and deployment); this module keeps the names
``lucid.deploy.preprocess`` has always offered.
"""

from __future__ import annotations

from lucid.preprocessing import (
    CROP_FRACTION,
    IMAGENET_MEAN,
    IMAGENET_STD,
    INTERPOLATIONS,
    KEY_CLASSES,
    ImageLike,
    Preprocessing,
    model_classes,
    model_preprocessing,
    read_classes,
    read_image,
    write_classes,
)

__all__ = [
    "CROP_FRACTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "INTERPOLATIONS",
    "KEY_CLASSES",
    "Preprocessing",
    "ImageLike",
    "model_preprocessing",
    "model_classes",
    "read_image",
    "read_classes",
    "write_classes",
]

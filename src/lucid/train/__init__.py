"""``lucid.train``: train, evaluate and predict, the job behind ``lucid train|eval|predict``.

- `train` (with `TrainConfig`) trains any registered model on the embedded digits
  or an ImageFolder tree, single-process or under ``torchrun`` (DDP), resumable after a kill, and
  returns a `TrainResult` (``out_dir``, ``best_val_top1``, ``history`` ...).
- `resolve_deterministic` says whether a run's kernels are deterministic (on the CPU by default,
  not on a GPU, where cuDNN's fastest convolutions are not).
- `evaluate` gives top-1/top-5, per-class accuracy and the confusion matrix of a checkpoint.
- `predict` gives the top-k ``(label, probability)`` pairs for image files.
- Both score with the test-time augmentation the training run chose (`recorded_tta`);
  `with_tta` gives a model as scored under one.
- `digits_datasets` is the embedded data set: ``(train_ds, val_ds)`` of normalised
  ``(1, S, S)`` float images with integer labels and ``.classes`` (used e.g. for int8 calibration).
"""

from lucid.train.config import TrainConfig
from lucid.train.data import DataInfo, DigitsDataset, check_image_folder, digits_datasets, imagefolder_datasets
from lucid.train.engine import TrainingDiverged, TrainResult, build_model, resolve_deterministic, train
from lucid.train.evaluate import EvalResult, evaluate, preprocessing_of, recorded_tta, with_tta
from lucid.train.predict import predict

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "train",
    "build_model",
    "resolve_deterministic",
    "evaluate",
    "EvalResult",
    "predict",
    "preprocessing_of",
    "recorded_tta",
    "with_tta",
    "digits_datasets",
    "DigitsDataset",
    "DataInfo",
    "imagefolder_datasets",
    "check_image_folder",
]

"""``lucid eval``: top-1/top-5, per-class accuracy, confusion matrix and speed of a checkpoint."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from lucid.data import dataset_size, seeded_subset, worker_context
from lucid.data.files import hidden, split_role, unlabelled_split
from lucid.errors import DataError
from lucid.models.resolve import MAX_IMAGE_SIZE, recorded_preprocessing, resolve
from lucid.preprocessing import Preprocessing, resize_size_for
from lucid.tasks import recorded_tta, with_tta  # the home of test-time augmentation, re-exported
from lucid.train.data import digits_datasets, eval_images

__all__ = [
    "MAX_IMAGE_SIZE",
    "EvalResult",
    "class_names",
    "crop_side",
    "eval_dataset",
    "evaluate",
    "preprocessing_of",
    "recorded_tta",
    "with_tta",
]


@dataclass
class EvalResult:
    """Accuracy (fractions), per-class accuracy (None for a class without images), the confusion
    matrix (rows: true class, columns: predicted), mean loss and model throughput."""

    top1: float
    top5: float
    loss: float
    images: int
    classes: list[str]
    per_class: dict[str, float | None]
    confusion: list[list[int]]
    images_per_second: float
    seconds: float
    data: str
    confusion_png: str | None = None
    checkpoint: str | None = None
    # Why the confusion-matrix image could not be written (the numbers above still hold).
    confusion_error: str | None = None
    # The test-time augmentation scored: "flip" (each image and its mirror averaged) or "none".
    tta: str = "none"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def summary(self) -> list[str]:
        """What ``lucid eval`` prints above the per-class table. Top-5 is left out with 5 classes or
        fewer (it says nothing there); the loss is the cross-entropy ``lucid train`` prints."""
        top5 = f"top-5 {100 * self.top5:.2f}%  " if len(self.classes) > 5 else ""
        flip = (
            ", test-time flip (each image and its mirror averaged; --tta none: one pass)" if self.tta == "flip" else ""
        )
        return [
            f"{self.checkpoint or 'the model'} on {self.data}{flip}",
            f"top-1 {100 * self.top1:.2f}%  {top5}val loss (cross-entropy) {self.loss:.4f}  "
            f"{self.images} images, {self.images_per_second:.0f} images/s (forward), {self.seconds:.1f}s",
        ]

    def class_columns(self) -> list[tuple[str, list[Any]]]:
        """The per-class table's columns: accuracy, and the images of each class."""
        return [
            ("accuracy", [self.per_class[name] for name in self.classes]),
            ("images", [int(sum(row)) for row in self.confusion]),
        ]


def preprocessing_of(model: nn.Module) -> Preprocessing:
    """The model's recorded preprocessing (`lucid.models.resolve.recorded_preprocessing`): its
    lucid training record, else its weights' metadata, else ImageNet's 224-pixel convention."""
    return recorded_preprocessing(model)


def class_names(model: nn.Module) -> list[str]:
    """The names of ``model``'s outputs as recorded, else ``"class 0"``, ``"class 1"``, ..."""
    from lucid.preprocessing import model_classes

    names = model_classes(model)
    if names is not None:
        return names
    return [f"class {i}" for i in range(int(getattr(getattr(model, "config", None), "num_classes", 0) or 0))]


def crop_side(prep: Preprocessing) -> int:
    """The square crop lucid's evaluation transforms take (checkpoints record square sizes)."""
    height, width = prep.image_size
    if height != width:
        raise DataError(f"evaluation takes square images; the model's image_size is {height}x{width}")
    return height


def _resize(prep: Preprocessing) -> int:
    return prep.resize_size if prep.resize_size is not None else resize_size_for(crop_side(prep))


def _digits_val(model: nn.Module, prep: Preprocessing, classes: list[str]) -> tuple[Dataset, str]:
    data = (getattr(model, "checkpoint_extra", None) or {}).get("data") or {}
    split = data.get("split") or {}
    seed, fraction = int(split.get("seed", 0)), float(split.get("val_fraction", 0.2))
    _, full = digits_datasets(crop_side(prep), seed=seed, val_fraction=fraction, in_channels=prep.in_channels)
    if classes != full.classes:
        raise ValueError(f"the model's classes {classes[:5]}... are not the digits 0-9; pass --data")
    what = f"digits validation split: {len(full)} images, split seed {seed}, val fraction {fraction:g}"
    limit = split.get("limit_val")
    val = seeded_subset(full, None if limit is None else int(limit), seed + 1)  # as training limited it
    if dataset_size(val) != len(full):
        what += f", limited to {dataset_size(val)} as in training"
    return val, what


def _folder_classes(folder: Path, data_root: bool) -> list[str]:
    """The class folders' names of ``folder``; in a data root an unlabelled test split is no class
    (`lucid.data.files.unlabelled_split`), as training read it."""
    return sorted(
        e.name
        for e in os.scandir(folder)
        if not hidden(e.name) and e.is_dir() and not (data_root and unlabelled_split(Path(e.path)))
    )


def _check_class_names(folder: Path, classes: list[str], folders: list[str], names: Any = None) -> None:
    """Refuse before walking a folder whose top-level class ``folders`` (by their ``names``, when a
    names file gives them) are not the model's classes (a checkpoint's recorded root could name
    any folder, say /usr)."""
    named = sorted((names or {}).get(f, f) for f in folders)
    unknown = sorted(set(named) - set(classes))
    if unknown or not named:
        raise DataError(
            f"--data {folder}: class folder(s) {unknown[:10] or named} are not among the model's classes "
            f"{classes[:10]} (expected <class>/<image> folders, or val/<class>/<image>)"
        )


def _class_folders(path: Path, classes: list[str]) -> tuple[Path, str, Any]:
    """The folder of class folders ``lucid eval`` scores for ``path`` (`lucid.data.evaluation_folder`),
    what it is, and its files by class (`lucid.data.ClassFiles`), named as training named them
    (`lucid.data.names`: a ``cat_to_name.json`` or ``words.txt`` beside the data)."""
    from lucid.data import class_files, evaluation_folder, listed_folder
    from lucid.data.names import find_class_names, names_folders, renamed

    folder, what = evaluation_folder(path)
    split_folder = what != "folder" or split_role(folder.name) is not None  # val/, or a train/ that stood alone
    listed = listed_folder(folder) if split_folder else None
    found = listed[0] if listed is not None else None  # labelled by a list in it (Tiny ImageNet's val/, _classes.csv)
    data_root = what == "folder" and split_role(folder.name) is None  # a root, read as training read it
    if found is None:
        ids = _folder_classes(folder, data_root)
        names = find_class_names(names_folders(path, folder), ids)[0] if set(ids) - set(classes) else None
        _check_class_names(folder, classes, ids, names)
        found = renamed(class_files(folder, data_root=data_root), names)
    elif set(found.classes) - set(classes):
        found = renamed(found, find_class_names(names_folders(path, folder), found.classes)[0])
    return folder, what, found


def _folder(path: Path, prep: Preprocessing, classes: list[str], recorded: dict[str, Any]) -> tuple[Dataset, str]:
    """The images under ``path`` to evaluate: its val/ (test/) split; for the one folder a run
    was trained on (same place or the same files), exactly that run's held-out images; else all."""
    from lucid.data import (
        FolderLayout,
        files_digest,
        held_out_files,
        labelled_layout,
        photo_folder_layout,
        unwrapped_root,
    )

    # Photos named by class, listed in a table, or in images/<class>/ split by lists: their
    # validation split, else all of them (or the run's held-out share, below); read from a
    # download's one data folder as training read it (FGVC-Aircraft's data/).
    places = dict.fromkeys((path, unwrapped_root(path) if path.is_dir() else path))  # each place read once
    named = next((read for p in places if (read := labelled_layout(p) or photo_folder_layout(p))), None)
    if named is not None:
        folder, found = named.root, named.val or named.train
        what = f"{named.describe()}: the validation photos" if named.val is not None else "folder"
    else:
        folder, what, found = _class_folders(path, classes)
    shown = named.named if named is not None else folder  # the user's folder of photos written into the cache
    files, targets = found.samples(classes)
    if not files:
        raise DataError(
            f"--data {path}: no images in class folders under {folder} (expected <class>/<image> folders, or "
            "val/<class>/<image>)"
        )
    split = recorded.get("split") or {}
    if what == "folder" and split.get("layout") == "single":
        same_place = recorded.get("root") and Path(str(recorded["root"])).resolve() in (
            folder.resolve(),
            shown.resolve(),
        )
        if same_place or files_digest(folder, files) == split.get("digest"):
            layout = FolderLayout(folder, "single", found, None)
            held = held_out_files(layout, split)
            files, targets = held.val_files, held.val_targets
            what = (
                f"held-out split of the training folder ({len(files)} of {split.get('files')} images, seed "
                f"{split.get('seed')}, fraction {split.get('val_fraction')})"
            )
            limit = split.get("limit_val")
            if limit is not None and int(limit) < len(files):
                generator = torch.Generator().manual_seed(int(split["seed"]) + 1)  # as in training
                order = sorted(torch.randperm(len(files), generator=generator)[: int(limit)].tolist())
                files, targets = [files[i] for i in order], [targets[i] for i in order]
                what += f", limited to {len(files)} as in training"
    dataset = eval_images(
        files, targets, prep.in_channels, crop_side(prep), _resize(prep), list(prep.mean), list(prep.std), classes
    )
    return dataset, f"{shown}: {what}: {len(files)} images, {len(set(targets))} classes"


def eval_dataset(model: nn.Module, data: str | os.PathLike[str] | None) -> tuple[Dataset, str]:
    """The images to evaluate on: ``data`` (a folder of class folders, an ImageFolder root whose
    val/ or test/ is used, the folder a run was trained on, or ``"digits"``), else what the
    checkpoint was trained on (its validation split)."""
    prep, classes = preprocessing_of(model), class_names(model)
    recorded = (getattr(model, "checkpoint_extra", None) or {}).get("data") or {}
    if data is not None and str(data) != "digits":
        return _folder(Path(data).expanduser(), prep, classes, recorded)
    if data is not None or recorded.get("kind") == "digits":
        return _digits_val(model, prep, classes)
    root = recorded.get("root")
    if root and Path(root).is_dir():
        return _folder(Path(root), prep, classes, recorded)
    raise DataError("no --data given and the checkpoint does not record data that is available here; pass --data DIR")


def _confusion(targets: torch.Tensor, predictions: torch.Tensor, n: int) -> torch.Tensor:
    return torch.bincount(targets * n + predictions, minlength=n * n).view(n, n)


@torch.no_grad()
def evaluate(
    model: nn.Module | str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    *,
    weights: str | None = None,
    batch_size: int = 128,
    device: str = "cpu",
    workers: int = 0,
    confusion_png: str | os.PathLike[str] | None = None,
    tta: str | None = None,
) -> EvalResult:
    """Evaluate a checkpoint (or model) on ``data`` (default: its recorded validation data).

    Returns top-1/top-5, per-class accuracy, the confusion matrix and the model's images/s
    (forward passes only). ``confusion_png`` also draws the matrix there. ``tta`` (``"flip"`` or
    ``"none"``) defaults to the training run's choice (`recorded_tta`), so the best
    checkpoint's figures are repeated.
    """
    from lucid.train.distributed import resolve_device

    resolved = resolve(model, weights, require_weights=True)
    net = resolved.model
    source = None if isinstance(model, nn.Module) else resolved.label
    where = resolve_device(device, 0)
    net.to(where)
    chosen = recorded_tta(net) if tta is None else tta
    scored = with_tta(net, chosen)
    categories = class_names(net)
    dataset, description = eval_dataset(net, data)
    context, _ = worker_context(workers)
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, multiprocessing_context=context
    )
    start = time.perf_counter()
    confusion, loss_sum, top5_hits, forward_seconds = _tally(scored, loader, where, len(categories))
    total = int(confusion.sum())
    if total == 0:
        raise ValueError(f"no images to evaluate in {description}")
    seconds = time.perf_counter() - start
    result = _result(confusion, categories, loss_sum, top5_hits, total, forward_seconds, seconds, description, source)
    result.tta = chosen
    if confusion_png is not None:
        _draw_confusion(result, categories, confusion_png, source)
    return result


def _tally(
    scored: nn.Module, loader: DataLoader, where: torch.device, n: int
) -> tuple[torch.Tensor, float, int, float]:
    """The ``(n, n)`` confusion matrix of ``scored`` over ``loader``, its summed cross-entropy, its
    top-5 hits and the seconds its forward passes took."""
    confusion = torch.zeros(n, n, dtype=torch.int64)
    loss_sum, top5_hits, forward_seconds = 0.0, 0, 0.0
    for images, targets in loader:
        images = images.to(where)
        tick = time.perf_counter()
        logits = scored(images).float().cpu()
        forward_seconds += time.perf_counter() - tick
        loss_sum += float(nn.functional.cross_entropy(logits, targets, reduction="sum"))
        top5_hits += int(logits.topk(min(5, n), dim=1).indices.eq(targets.view(-1, 1)).any(dim=1).sum())
        confusion += _confusion(targets, logits.argmax(dim=1), n)
    return confusion, loss_sum, top5_hits, forward_seconds


def _draw_confusion(
    result: EvalResult, categories: list[str], path: str | os.PathLike[str], source: str | None
) -> None:
    """Draw ``result``'s confusion matrix at ``path`` (``result.confusion_png``); a folder that
    cannot take the picture is said in ``result.confusion_error``, and the numbers are kept."""
    from lucid.train.metrics import plot_confusion

    title = f"{Path(source).name if source else 'model'}: top-1 {100 * result.top1:.2f}% on {result.images} images"
    try:
        result.confusion_png = str(plot_confusion(result.confusion, categories, path, title))
    except OSError as exc:
        result.confusion_error = f"could not write {path}: {exc.strerror or exc}"


def _result(
    confusion: torch.Tensor,
    classes: list[str],
    loss_sum: float,
    top5_hits: int,
    total: int,
    forward_seconds: float,
    seconds: float,
    description: str,
    source: str | None,
) -> EvalResult:
    rows = confusion.sum(dim=1)
    per_class = {
        name: (float(confusion[i, i]) / float(rows[i]) if rows[i] > 0 else None) for i, name in enumerate(classes)
    }
    return EvalResult(
        top1=float(confusion.diag().sum()) / total,
        top5=top5_hits / total,
        loss=loss_sum / total,
        images=total,
        classes=list(classes),
        per_class=per_class,
        confusion=confusion.tolist(),
        images_per_second=total / max(forward_seconds, 1e-9),
        seconds=seconds,
        data=description,
        checkpoint=source,
    )

"""One resolver from what a user names to a model: a lucid checkpoint path, a registered model
name (with ``weights``), or a module.

Every command that runs a model from a checkpoint or a name (``lucid eval``, ``predict``,
``export``, ``quantize``, ``summary``, ``mermaid``) and the segmentation router go through
`resolve`, so they agree on the rules and on the model's preprocessing (a checkpoint
trained at 32 px is 32 px for all of them). ``lucid bench`` takes registered preset names only,
to build each beside its torchvision twin, so it has nothing to resolve.

Exported files (``.onnx``, ``.xml``, ``.pte``, TorchScript) are *not* models here: they are run
by `lucid.deploy.Predictor` (and ``lucid predict --onnx``), which reads their recorded
preprocessing itself; `source_task` only says which task they were exported for.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from lucid.errors import DataError
from lucid.preprocessing import MAX_IMAGE_SIZE, MAX_RESIZE_SIZE, Preprocessing, model_classes, model_preprocessing

__all__ = [
    "EXPORT_SUFFIXES",
    "MAX_IMAGE_SIZE",
    "DEFAULT_TASK",
    "Resolved",
    "recorded_preprocessing",
    "resolve",
    "source_task",
]

DEFAULT_TASK = "classify"  # files and modules that record no task (written before tasks were)
# Files of exported models: routed to the runtimes, never rebuilt as modules.
EXPORT_SUFFIXES = (".onnx", ".xml", ".pte")


@dataclass(frozen=True)
class Resolved:
    """A model ready for inference and what goes with it.

    ``model`` is in eval mode. ``preprocessing`` is what the model was trained with (recorded,
    else ImageNet's conventions); for a segmentation model it describes the channels and
    normalisation (segmentation runs on whole images, see `lucid.segment.infer`). ``task``:
    the `lucid.tasks` name of the model's outputs.
    ``classes``: the output names when recorded, else None. ``label``: where the model came
    from (the checkpoint path, ``"name (weights)"``, or ``"model object"``). ``path``: the
    checkpoint file, when there is one.
    """

    model: nn.Module
    preprocessing: Preprocessing
    classes: list[str] | None
    label: str
    task: str = "classify"
    path: Path | None = field(default=None)


def recorded_preprocessing(model: nn.Module) -> Preprocessing:
    """The preprocessing ``model`` records (`lucid.preprocessing.model_preprocessing`), refusing
    sizes no image model takes: metadata is checked before it sizes any allocation."""
    try:
        prep = model_preprocessing(model)
    except ValueError as exc:  # a recorded size out of bounds, refused before it sizes anything
        raise DataError(f"the checkpoint's {exc}") from None
    sizes = (
        ("image_size", max(prep.image_size), MAX_IMAGE_SIZE),
        ("resize_size", prep.resize_size or 8, MAX_RESIZE_SIZE),
    )
    for name, value, largest in sizes:
        if not 8 <= value <= largest:
            raise DataError(f"the checkpoint's {name} is {value}; expected 8..{largest} pixels")
    return prep


def _finish(model: nn.Module, label: str, task: str, path: Path | None = None) -> Resolved:
    model = model.eval()
    return Resolved(model, recorded_preprocessing(model), model_classes(model), label, task, path)


def source_task(source: str | os.PathLike[str] | nn.Module | None) -> str | None:
    """The task of ``source`` without building it: a module's, a lucid checkpoint's or a
    registered model name's (`lucid.tasks.task_of_source`), an exported file's recorded task
    (after its digest check), ``"classify"`` for a foreign weights file (torchvision's, timm's);
    None when ``source`` names nothing (the caller's resolve or runtime then reports it)."""
    from lucid.tasks import task_of_source

    if source is None or (not isinstance(source, nn.Module) and not str(source)):
        return None
    if isinstance(source, nn.Module):
        return task_of_source(source)
    path = Path(str(source)).expanduser()
    if path.is_file() and path.suffix.lower() in EXPORT_SUFFIXES:
        return _export_task(path)
    task = task_of_source(source)
    return task if task is not None or not path.is_file() else DEFAULT_TASK


def _export_task(path: Path) -> str:
    """The ``task`` an exported file records, read after its ``.sha256`` digest is checked (a
    changed file is refused before its metadata is believed) through its format's own library
    (`lucid.deploy.runtime.file_metadata`); files from before tasks were recorded give their
    model name's task, else ``"classify"``."""
    from lucid.deploy.integrity import check_digest
    from lucid.deploy.runtime import file_metadata
    from lucid.tasks import task_of_metadata

    check_digest(path)
    metadata = file_metadata(path)
    try:
        return task_of_metadata(metadata, metadata.get("model_name"))
    except ValueError as exc:
        raise DataError(f"{path}: {exc}") from None


def resolve(
    source: nn.Module | str | os.PathLike[str], weights: Any = None, *, require_weights: bool = False
) -> Resolved:
    """The model ``source`` names, in eval mode, with its preprocessing, classes, origin and task.

    ``source``: an ``nn.Module``; a lucid checkpoint file of any task; or a
    registered model name, with ``weights`` naming registered weights (``"DEFAULT"``) or a file
    (None: random initialisation, unless ``require_weights``, which commands that report
    predictions set). Exported files are not models here: pass them to
    `lucid.deploy.Predictor`.
    """
    from lucid.models.registry import create_model, list_models, model_task
    from lucid.tasks import get_task

    if isinstance(source, nn.Module):
        if weights is not None:
            raise ValueError("weights= applies to a registered model name, not to a model object")
        return _finish(source, "model object", source_task(source) or DEFAULT_TASK)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected a model, a checkpoint path or a model name, got {type(source).__name__}")
    name = str(source)
    path = Path(name).expanduser()
    if path.is_file():
        return _from_file(path, weights)
    if path.is_dir():
        raise ValueError(f"{name} is a directory; expected a registered model name or a checkpoint file")
    if name in list_models():
        if weights is None and require_weights:
            raise ValueError(
                f"{name} is a model name: pass --weights (a registered weights name such as DEFAULT, or a file) "
                "to say which weights to use"
            )
        task = model_task(name) or DEFAULT_TASK
        if weights is None:
            return _finish(create_model(name), name, task)
        sizing = get_task(task).weights_sizing  # e.g. a classifier's class count from the weights
        return _finish(create_model(name, weights=weights, **sizing), f"{name} ({weights})", task)
    if path.suffix or os.sep in name or (os.altsep and os.altsep in name):
        raise FileNotFoundError(f"no checkpoint at {path} (no such checkpoint file, and not a registered model name)")
    close = difflib.get_close_matches(name, list_models(), n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(
        f"unknown model {name!r}{hint}: neither a checkpoint file nor a registered model; "
        f"registered models: {', '.join(list_models())}"
    )


def _from_file(path: Path, weights: Any) -> Resolved:
    """A lucid checkpoint file, rebuilt by its task (`lucid.tasks.Task.load_checkpoint`); a
    file without lucid metadata is read as a classifier's weights."""
    from lucid.tasks import get_task

    if weights is not None:
        raise ValueError(f"weights= applies to a registered model name; {path} is a checkpoint file")
    if path.suffix.lower() in EXPORT_SUFFIXES:
        raise ValueError(
            f"{path} is an exported model, not a checkpoint: run it with lucid.deploy.Predictor (lucid predict --onnx)"
        )
    task = source_task(path) or DEFAULT_TASK
    return _finish(get_task(task).load_checkpoint(path), str(path), task, path)

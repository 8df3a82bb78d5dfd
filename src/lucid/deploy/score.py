"""``lucid eval FILE``: an exported model (``.onnx``, ``.xml``, ``.pte``) scored on labelled images
in its own runtime, as Ultralytics' ``yolo val model=best.onnx`` scores an export.

The file is read the way `lucid.deploy.quantize` and the deployment matrix read it: its digest
checked, its task and preprocessing taken from its metadata, the held-out images of the data it
records (or of ``data``) prepared by the task at the file's input size, and the task's own score
(top-1, mIoU, mAP) computed from every output the file returns. A checkpoint's ``lucid eval``
adds what only the eager model gives (per-class tables, confusion matrix, test-time flip); this
score is the one the deployment matrix reports for the same file.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lucid.deploy.integrity import check_digest
from lucid.deploy.preprocess import Preprocessing
from lucid.deploy.quantize import task_sets
from lucid.deploy.runtime import load_runtime_model, task_for
from lucid.errors import DataError

__all__ = ["FileScore", "evaluate_file"]


@dataclass(frozen=True)
class FileScore:
    """The task's ``metric`` (``top-1``, ``mIoU``, ``mAP@[.5:.95]``) of the file at ``path``, run on
    ``runtime``, over ``images`` labelled images described by ``data``; ``score`` in [0, 1]."""

    path: str
    runtime: str
    task: str
    metric: str
    score: float
    images: int
    data: str
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def summary(self) -> list[str]:
        """The lines ``lucid eval FILE`` prints."""
        return [
            f"{self.path} ({self.task}, {self.runtime}) on {self.data}",
            f"{self.metric} {100 * self.score:.2f}%  {self.seconds:.1f}s",
        ]


def evaluate_file(
    path: str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    *,
    backend: str = "auto",
    threads: int | None = None,
    num_eval: int | None = None,
    seed: int = 0,
) -> FileScore:
    """Score the exported model at ``path`` on ``data`` (None: the held-out split of the data the
    file records) in ``backend``'s runtime (see `lucid.deploy.runtime.choose_backend`).

    ``num_eval`` caps the images (None: all; the prepared images are held in memory together, as
    for `lucid.deploy.quantize`). A file whose digest differs, data of another task and images
    without labels are DataErrors naming what was expected."""
    if num_eval is not None and (isinstance(num_eval, bool) or not isinstance(num_eval, int) or num_eval < 1):
        raise ValueError(f"num_eval must be a positive number of images, got {num_eval!r}")
    start = time.perf_counter()
    file = Path(path).expanduser()
    check_digest(file)
    model = load_runtime_model(file, backend, threads)
    props = dict(model.metadata)
    if "image_size" not in props:
        raise DataError(f"{file} records no preprocessing: score files written by lucid export")
    prep = Preprocessing.from_metadata(props, str(file))
    task = task_for(props, str(file))
    _, eval_set = task_sets(task, data, prep, props, model.num_classes, 1, num_eval, seed)
    fixed = model.input_shape[0]
    usable = len(eval_set) - (len(eval_set) % fixed if fixed else 0)
    if usable == 0:
        raise DataError(f"{len(eval_set)} evaluation images are fewer than {file.name}'s fixed batch of {fixed}")
    if eval_set.labels is None:
        raise DataError(f"{eval_set.description} carry no labels to score {file.name} against")
    outputs = model.run_all(eval_set.images[:usable])
    found = task.compare(outputs, outputs, eval_set.labels[:usable], props)
    if found.candidate is None:
        raise DataError(f"{eval_set.description} carry no labels to score {file.name} against")
    return FileScore(
        path=str(file),
        runtime=model.backend,
        task=task.name,
        metric=found.metric,
        score=float(found.candidate),
        images=usable,
        data=eval_set.description,
        seconds=time.perf_counter() - start,
    )

"""Tasks as plug-ins: what classification, segmentation and detection supply to lucid's one engine.

The training loop (`lucid.train.train`), the run folder, the time budget, resume, DDP, EMA
and AMP are shared. A task is a small subclass of `Task` that supplies what differs:

- its data (`Task.build_data`: train and val sets, an info record, collate functions);
- its model from the registry and its loss (`Task.build_model`, `Task.train_step`);
- `Task.validate`, returning a metrics record, and `Task.best_key`, the record's key
  that picks the best epoch (``val_top1``, ``val_miou``, ``val_map``);
- its test-time augmentation: `Task.tta` (the run's choice, `Task.default_tta` when the
  config leaves it) and `Task.mirrored` (its model scored on each image and its mirror). The
  engine validates every epoch in one pass and scores the best checkpoint under the choice
  once, at the end; it records the choice in every checkpoint, and `with_tta` /
  `recorded_tta` let evaluation and prediction repeat it;
- its checkpoint metadata (`Task.checkpoint_metadata`), console line and curves;
- for deployment (class methods, so `lucid.deploy` needs no config): `Task.export_spec`
  (outputs, recorded preprocessing, free image size, the task's metadata), `Task.check_outputs`,
  `Task.prepare_batches` and `Task.postprocess` (images in, per-image results out), and
  `Task.calibration_sets` / `Task.compare` (int8 calibration and its score drop).

The registry answers "which task is this" from metadata: `get_task` maps a task name to its
class. Task modules are imported by name (`TASK_MODULES`) the first time they are asked
for, so this module, the engine and `lucid.deploy` import no task.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from lucid.errors import DataError

if TYPE_CHECKING:
    from torch.utils.data import Dataset

    from lucid.train.config import RunConfig

__all__ = [
    "DEFAULT_TASK",
    "TASK_MODULES",
    "CalibrationPicks",
    "Comparison",
    "ExportSpec",
    "Meter",
    "Task",
    "TaskData",
    "get_task",
    "register_task",
    "task_names",
    "task_of_data",
    "task_of_metadata",
    "task_of_source",
    "recorded_tta",
    "with_tta",
]

DEFAULT_TASK = "classify"
# Where each built-in task lives; imported on first use (a task module registers its class).
TASK_MODULES: dict[str, str] = {
    "classify": "lucid.classify.task",
    "segment": "lucid.segment.task",
    "detect": "lucid.detect.task",
}
_REGISTRY: dict[str, type[Task]] = {}
# Data folder names that say nothing about the data: a run is named after the folder above them.
GENERIC_FOLDER_NAMES = frozenset(
    {"images", "imgs", "data", "dataset", "datasets", "photos", "pictures", "train", "training", "jpegimages"}
)


@dataclass
class TaskData:
    """A task's data for one run: the two sets, how to batch them, and what the run records.

    ``info`` is the task's data record: it has ``to_dict()`` (stored in summary.json and in each
    checkpoint), ``notes`` (lines printed before training) and ``classes``.
    ``train_collate`` / ``val_collate`` are the DataLoader collate functions (None: torch's
    default). ``in_channels`` is what the model must take.
    """

    train: Dataset[Any]
    val: Dataset[Any]
    info: Any
    in_channels: int = 3
    train_collate: Callable[[Any], Any] | None = None
    val_collate: Callable[[Any], Any] | None = None
    model: str | None = None  # a model the data asks for instead of the configured one
    batch_size: int | None = None  # the batch the data asks for when the config names none
    batched: bool = False  # the training set augments whole batches itself (no loader workers)
    streaming: bool = False  # the training set decodes from disk per image (loader workers by default)
    decoded: bool = False  # its images are decoded in memory, but augmented per image (loader workers by default)
    val_batch_size: int | None = None  # None: the engine's default
    device: torch.device | None = None  # where the sets keep their images (set by Task.prepare), None: the CPU
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CalibrationPicks:
    """Which images an int8 file is calibrated and scored on: at most ``num_calib`` training
    images and ``num_eval`` held-out ones (None: all), drawn with ``seed``."""

    num_calib: int | None
    num_eval: int | None
    seed: int


class Meter:
    """A running mean of the training loss over an epoch (weighted by images), summed across DDP
    processes. Tasks whose epoch line shows more (classification's training top-1) extend it."""

    def __init__(self) -> None:
        self.loss_sum = 0.0
        self.count = 0

    def add(self, loss: torch.Tensor, outputs: Any, targets: Any, images: int) -> None:
        """One batch: its mean ``loss`` over ``images`` images (``outputs``/``targets`` for subclasses)."""
        self.loss_sum += float(loss.detach()) * images
        self.count += images

    def totals(self) -> list[float]:
        """The sums to reduce across processes (subclasses append theirs)."""
        return [self.loss_sum, float(self.count)]

    def set_totals(self, values: Sequence[float]) -> None:
        self.loss_sum, self.count = float(values[0]), int(values[1])

    def reduce(self, device: torch.device) -> None:
        """Sum over every process (a no-op without torch.distributed)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            values = torch.tensor(self.totals(), dtype=torch.float64, device=device)
            dist.all_reduce(values)
            self.set_totals(values.cpu().tolist())

    def means(self) -> dict[str, float]:
        """``loss`` (and a subclass's scores) per image so far."""
        return {"loss": self.loss_sum / max(self.count, 1)}


class Task:
    """The plug-in interface of one task. An instance serves one run (or one eval/predict/export):
    it is built from the run's config and keeps what it learns about the data (``info``)."""

    name: ClassVar[str]
    best_key: ClassVar[str]  # the validation score that picks the best epoch; higher is better
    config_class: ClassVar[type[RunConfig]]  # the task's config: lucid.train.config.RunConfig plus its fields
    loss_label: ClassVar[str] = "loss"  # the y-axis of the loss curve
    score_name: ClassVar[str] = ""  # the best score in the closing line ("val top-1"); default best_key
    summary_scores: ClassVar[tuple[str, ...]] = ()  # more of the best epoch's scores for summary.json
    record_scores: ClassVar[tuple[str, ...]] = ()  # the validation scores each epoch's record keeps
    line_scores: ClassVar[tuple[tuple[str, str], ...]] = ()  # (record key, label) on each epoch's line
    # Each exported output's axes, in order: a name, or a number the axis must equal; "classes"
    # marks the axis whose size is the class count.
    output_axes: ClassVar[tuple[tuple[str, ...], ...]] = (("N", "classes"),)
    layout_help: ClassVar[str | None] = None  # the folder layouts read; set: the task needs --data
    metric_label: ClassVar[str] = "%"  # the y-axis of the score curves
    # True: BatchNorm's running statistics are restarted each epoch and averaged over its batches
    # (see lucid.train.engine.epoch_bn_statistics), for models whose weights move faster early on
    # than a small BN momentum follows.
    epoch_bn_statistics: ClassVar[bool] = False
    # Keyword arguments with which a registered model's factory sizes itself from its ``weights``
    # (classification: the class count and input channels of the file).
    weights_sizing: ClassVar[Mapping[str, Any]] = {}
    # The module of the task's ``lucid eval`` / ``lucid predict``: its ``run_eval(args)``,
    # ``run_predict(args)``, ``UNUSED_EVAL_FLAGS`` and ``UNUSED_PREDICT_FLAGS`` (refused by name).
    cli_module: ClassVar[str] = ""

    @classmethod
    def data_note(cls, folder: str) -> str | None:
        """What ``lucid train`` says when ``folder``'s layout is this task's own (it then trains this
        task without ``--task``), else None: judged from names, without reading a file."""
        return None

    def __init__(self, config: Any) -> None:
        self.config = config
        self.info: Any = None

    # -- data and model ------------------------------------------------------------------------

    def check(self) -> None:
        """Refuse settings this task cannot train with (before any folder or data is touched): a
        registered model of another task, and no ``--data`` for a task that reads folders only."""
        from lucid.models.registry import list_models, model_task

        model = self.config.model
        found = model_task(model)
        if found is not None and found != self.name:
            mine = ", ".join(n for n in list_models() if model_task(n) == self.name)
            raise ValueError(f"--model {model!r} is a {found} model, not a {self.name} model ({mine})")
        if self.layout_help is not None and getattr(self.config, "data", None) is None:
            raise DataError(f"--task {self.name} needs --data DIR ({self.layout_help})")

    def build_data(self, rank: int, world_size: int) -> TaskData:
        """The run's train and val sets (before any model is built: data errors come first)."""
        raise NotImplementedError

    def task_data(self, train: Dataset[Any], val: Dataset[Any], info: Any, **options: Any) -> TaskData:
        """The run's `TaskData` from the full sets: the ``--limit-train`` / ``--limit-val`` seeded
        subsets, their sizes in ``info`` (``train_images``, ``val_images``), and ``info`` kept as
        ``self.info``; ``options`` are `TaskData`'s."""
        from lucid.data.datasets import dataset_size, seeded_subset

        config = self.config
        train = seeded_subset(train, config.limit_train, config.seed)
        val = seeded_subset(val, config.limit_val, config.seed + 1)
        info.train_images, info.val_images = dataset_size(train), dataset_size(val)
        self.info = info
        return TaskData(train, val, info, **options)

    def split_options(self) -> dict[str, Any]:
        """How a data folder without a split of its own is split: the ``val_fraction`` of it, drawn
        with ``seed`` (the keyword arguments every task's dataset builder takes)."""
        return {"val_fraction": self.config.val_fraction, "seed": self.config.seed}

    def build_model(self, data: TaskData) -> nn.Module:
        """The registered model the config names, sized for ``data`` (and its weights loaded)."""
        raise NotImplementedError

    def data_name(self) -> str:
        """A short name of the data, for the run folder's name: the data folder's name, or its
        parent's when the folder has a generic name (``sign-language-digits``, not ``images``)."""
        from pathlib import Path

        data = getattr(self.config, "data", None)
        if data is None:
            return "data"
        folder = Path(str(data)).expanduser().resolve()
        if folder.name.lower() in GENERIC_FOLDER_NAMES and folder.parent.name:
            return folder.parent.name
        return folder.name or "data"

    def prepare(self, data: TaskData, device: torch.device) -> None:  # noqa: B027 - an optional hook
        """Called once the device is known and the data is built (e.g. class weights onto it, or a
        decoded set moved onto the GPU: then set ``data.device``)."""

    # -- one step and one validation -------------------------------------------------------------

    def to_device(self, batch: Any, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, Any]:
        """The batch's images (channels-last when asked) and targets on ``device``."""
        images, targets = batch[0], batch[1]
        images = images.as_subclass(torch.Tensor).to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if isinstance(targets, torch.Tensor):
            targets = targets.as_subclass(torch.Tensor).to(device, non_blocking=True)
        return images, targets

    def train_step(self, net: nn.Module, images: torch.Tensor, targets: Any) -> tuple[torch.Tensor, Any]:
        """The training loss of one batch (a scalar tensor) and the outputs a `Meter` reads."""
        raise NotImplementedError

    def new_meter(self) -> Meter:
        """The training-epoch meter (loss; a task may show more)."""
        return Meter()

    def validate(
        self, model: nn.Module, loader: Any, device: torch.device, channels_last: bool, tta: str = "none"
    ) -> dict[str, Any]:
        """Scores of ``model`` on ``loader`` summed over DDP processes: ``loss``, the task's scores
        with `best_key` among them, and ``finite`` (every output was finite). The scores are those
        of ``model`` under the test-time augmentation ``tta`` (`scored`): the engine validates each
        epoch in one pass and the best checkpoint once more under the run's `tta`."""
        raise NotImplementedError

    # -- test-time augmentation --------------------------------------------------------------------

    def default_tta(self) -> str:
        """The test-time augmentation a run uses when its config leaves ``tta`` unset: one pass."""
        return "none"

    def tta(self) -> str:
        """The run's test-time augmentation (``"flip"`` or ``"none"``): the config's ``tta``, else
        `default_tta`. The best checkpoint's final scores are measured under it (the epochs are
        validated in one pass), and every checkpoint records it for ``lucid eval`` / ``predict``."""
        chosen = getattr(self.config, "tta", None)
        return str(chosen) if chosen is not None else self.default_tta()

    def scored(self, model: nn.Module, tta: str) -> nn.Module:
        """``model`` as scored under the test-time augmentation ``tta`` (`with_tta`)."""
        return with_tta(model, tta, type(self))

    @classmethod
    def mirrored(cls, model: nn.Module) -> nn.Module:
        """``model`` scored on each image and its left-right mirror: `lucid.nn.MirrorAveraged`,
        the mean of both outputs (dense outputs mirrored back first). A task whose outputs are not
        tensors (detection's boxes) merges them its own way."""
        from lucid.nn import MirrorAveraged

        return MirrorAveraged(model)

    def epoch_record(self, train: Mapping[str, Any], val: Mapping[str, Any]) -> dict[str, Any]:
        """The epoch's metrics.jsonl fields: the training loss and `val_record`."""
        return {"train_loss": train["loss"], **self.val_record(val)}

    def val_record(self, val: Mapping[str, Any]) -> dict[str, Any]:
        """The record's fields from a `validate` result: the validation loss and the scores
        `record_scores` names (also the best checkpoint's final scores under the run's `tta`)."""
        return {"val_loss": val["loss"], **{k: val[k] for k in self.record_scores}}

    def epoch_line(self, record: Mapping[str, Any], epochs: int) -> str:
        """One console line for an epoch: the losses, the `line_scores`, the rate and the speed."""
        scores = " ".join(f"{label} {100 * record[key]:5.2f}%" for key, label in self.line_scores)
        return (
            f"epoch {record['epoch']:>3}/{epochs}  train loss {record['train_loss']:.4f}  "
            f"val loss {record['val_loss']:.4f} {scores}  lr {record['lr']:.3g}  {record['seconds']:.1f}s "
            f"({record['train_images_per_second']:.0f} img/s)"
        )

    def bar_fields(self, means: Mapping[str, float]) -> dict[str, str]:
        """The progress bar's fields during training."""
        return {"loss": f"{means['loss']:.4f}"}

    # -- what a run writes -----------------------------------------------------------------------

    def describe(self) -> list[str]:
        """Lines about the data printed before training."""
        return []

    def recipe(self) -> str:
        """The task's part of the "training:" line (e.g. label smoothing, crop size)."""
        return ""

    def checkpoint_metadata(self, model: nn.Module, record: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(pretrained_cfg, extra)`` saved with each checkpoint: classes, preprocessing, the data
        record and the scores of ``record``; ``extra`` always holds ``task``."""
        raise NotImplementedError

    def summary_fields(self, best: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The task's fields of summary.json: ``best_<score>``, the best epoch's validation loss and
        `summary_scores` (under the run's test-time augmentation when the engine scored the best
        epoch so: ``best["scores"]``, with ``best_<score>_one_pass`` beside), and the last epoch's
        score."""
        key = self.best_key
        best_record = next((r for r in history if r["epoch"] == best.get("epoch")), {})
        best_record = {**best_record, **(best.get("scores") or {})}
        fields = {f"best_{key}": best.get(key), "best_val_loss": best_record.get("val_loss")}
        fields.update({f"best_{name}": best_record.get(name) for name in self.summary_scores})
        if "one_pass" in best:
            fields[f"best_{key}_one_pass"] = best["one_pass"]
        fields[f"final_{key}"] = history[-1].get(key) if history else None
        return fields

    def title(self, model_name: str) -> str:
        """The curves' title."""
        return f"{model_name} on {self.data_name()}"

    def farewell(self, best: Mapping[str, Any]) -> str:
        """The closing line's score part, e.g. ``best val top-1 99.10% at epoch 7``."""
        value = best.get(self.best_key)
        shown = f"{100 * value:.2f}%" if isinstance(value, (int, float)) else "-"
        name = self.score_name or self.best_key.replace("_", " ")
        line = f"best {name} {shown} at epoch {best.get('epoch')}"
        one_pass = best.get("one_pass")
        if best.get("tta") == "flip" and isinstance(one_pass, (int, float)):
            line += f" with test-time flip ({100 * one_pass:.2f}% in one pass)"
        return line

    # -- deployment ------------------------------------------------------------------------------
    # Class methods: lucid.deploy holds a task class (from get_task(metadata["task"])), no config.

    @classmethod
    def load_checkpoint(cls, path: Any) -> nn.Module:
        """The model a lucid checkpoint of this task holds, rebuilt with its weights
        (`lucid.models.resolve.resolve` calls it for a checkpoint file of this task)."""
        raise NotImplementedError

    @classmethod
    def export_module(cls, model: nn.Module) -> nn.Module:
        """The module whose ``forward`` is the exported graph (one image batch in, the outputs of
        `export_outputs` out). Default: ``model`` itself."""
        return model

    @classmethod
    def export_outputs(cls) -> tuple[str, ...]:
        """Names of the exported graph's outputs, in order (detection: ``boxes``, ``scores``)."""
        return ("logits",)

    @classmethod
    def export_spec(cls, model: nn.Module, **preprocessing: Any) -> ExportSpec:
        """How ``model`` is exported: its outputs, the preprocessing its file records (fields given
        in ``preprocessing``, e.g. ``image_size``, override the recorded ones; None values are
        ignored), whether height and width stay free, and the task's own metadata keys.
        The default: a fixed-size model with the recorded preprocessing."""
        from lucid.preprocessing import model_preprocessing

        return ExportSpec(cls.export_outputs(), model_preprocessing(model, **preprocessing))

    @classmethod
    def check_outputs(cls, shapes: Sequence[Sequence[int | None]], source: str) -> int | None:
        """Refuse an exported file whose output shapes (``None``: a free dimension) are not this
        task's (a file whose ``task`` was edited); return the class count the outputs show."""
        expected = cls.export_outputs()
        if len(shapes) != len(expected):
            raise DataError(
                f"{source} records task {cls.name!r}, whose models have {len(expected)} output(s) "
                f"({', '.join(expected)}); this file has {len(shapes)}"
            )
        classes = None
        for shape, axes in zip(shapes, cls.output_axes, strict=False):
            fits = len(shape) == len(axes) and all(
                not axis.isdigit() or size in (None, int(axis)) for size, axis in zip(shape, axes, strict=True)
            )
            if not fits:
                found = " and ".join(str(list(s)) for s in shapes)
                wanted = " and ".join(
                    f"{name} ({', '.join(axes)})" for name, axes in zip(expected, cls.output_axes, strict=False)
                )
                plural = "outputs have shapes" if len(shapes) > 1 else "output has shape"
                raise DataError(f"{source} records task {cls.name!r} but its {plural} {found}; expected {wanted}")
            if "classes" in axes:
                classes = shape[axes.index("classes")]
        return classes

    @classmethod
    def prepare_batches(
        cls, images: Any, preprocessing: Any, input_shape: Sequence[int | None]
    ) -> list[tuple[np.ndarray, dict[str, Any]]]:
        """The model inputs for ``images`` (one image, a list of images, or a 4-d batch of them) as
        ``(batch, options)`` pairs; each batch's outputs go to `postprocess` with its options
        (e.g. the images' own sizes). ``input_shape`` is the file's (None: a free dimension).
        Default: one batch through the recorded preprocessing."""
        return [(preprocessing(images), {})]

    @classmethod
    def postprocess(cls, outputs: Sequence[np.ndarray], metadata: Mapping[str, str], **options: Any) -> list[Any]:
        """Per-image results from an exported model's raw outputs for one batch (one array per
        name of `export_outputs`), with the file's ``metadata`` and the batch's options."""
        raise NotImplementedError

    @classmethod
    def calibration_sets(
        cls, data: str | os.PathLike[str], preprocessing: Any, metadata: Mapping[str, str], picks: CalibrationPicks
    ) -> tuple[Any, Any]:
        """``(calibration, evaluation)`` `lucid.deploy.quantize.LabelledImages` from ``data``,
        the evaluation images held out from training, as many as ``picks`` says; data of another
        task is a DataError naming what was expected."""
        raise NotImplementedError

    @classmethod
    def compare(
        cls, reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], labels: Any, metadata: Mapping[str, str]
    ) -> Comparison:
        """How ``candidate``'s outputs (an int8 or exported model) agree with ``reference``'s on
        the same images, and both models' score against ``labels`` when there are labels."""
        raise NotImplementedError


@dataclass(frozen=True)
class ExportSpec:
    """What a task's exported file is: ``outputs`` (graph output names, in order), the
    ``preprocessing`` it records, ``dynamic_size`` (height and width free, checked at two sizes)
    and the task's own ``metadata`` keys (JSON strings) beside the preprocessing."""

    outputs: tuple[str, ...]
    preprocessing: Any
    dynamic_size: bool = False
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    """``agreement``: share of outputs (images' top-1, mask pixels, ...) two models agree on;
    ``metric``: the score's name (``top-1``, ``mIoU``); ``reference``/``candidate``: both models'
    score in [0, 1] (None without labels)."""

    agreement: float
    metric: str
    reference: float | None = None
    candidate: float | None = None

    @property
    def drop(self) -> float | None:
        """Reference minus candidate score, in percentage points (None without labels)."""
        if self.reference is None or self.candidate is None:
            return None
        return 100.0 * (self.reference - self.candidate)


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: make ``cls`` the task named ``cls.name``. The CLI imports the task's
    ``cli_module`` by name, so a task without one is refused here, when it is defined."""
    name = cls.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"a task named {name!r} is already registered")
    if not cls.cli_module:
        raise ValueError(
            f"task {name!r} ({cls.__qualname__}) names no cli_module; expected the module of its "
            "lucid eval / predict (run_eval, run_predict, UNUSED_EVAL_FLAGS, UNUSED_PREDICT_FLAGS)"
        )
    _REGISTRY[name] = cls
    return cls


def task_names() -> list[str]:
    """The task names lucid knows."""
    return sorted(set(TASK_MODULES) | set(_REGISTRY))


def get_task(name: str) -> type[Task]:
    """The task class named ``name`` (``classify``, ``segment``, ``detect``), importing its module."""
    if name not in _REGISTRY and name in TASK_MODULES:
        importlib.import_module(TASK_MODULES[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(task_names())}") from None


def task_of_metadata(metadata: Mapping[str, Any] | None, model_name: str | None = None) -> str:
    """The task a checkpoint's or an export's metadata records (``task``), else the task the model
    name was registered with, else classification (files written before tasks were recorded)."""
    task = (metadata or {}).get("task")
    if isinstance(task, str) and task in task_names():
        return task
    if task is not None:
        raise ValueError(f"the file records task {task!r}; this lucid knows {', '.join(task_names())}")
    if model_name:
        from lucid.models.registry import model_task

        return model_task(model_name) or DEFAULT_TASK
    return DEFAULT_TASK


def task_of_data(folder: str) -> tuple[str, str] | None:
    """The task whose own layout ``folder`` has, with the note ``lucid train`` prints (`Task.data_note`);
    None when no task claims it (a folder of class folders is classification's). A folder that
    several tasks read (Pascal VOC holds boxes and masks) goes to the first by name, and the note
    names the others' ``--task``."""
    claims = [(name, note) for name in task_names() if (note := get_task(name).data_note(folder)) is not None]
    if not claims:
        return None
    name, note = claims[0]
    others = ", ".join(f"--task {other}" for other, _ in claims[1:])
    return name, note + (f"; it also suits {others}" if others else "")


def task_of_source(source: Any) -> str | None:
    """The task of a model source without building it: a module's ``task``, a lucid checkpoint's
    recorded task (or its model's), a registered model name's; None for anything else (an
    exported file, a missing path: the caller's own reader reports those)."""
    from pathlib import Path

    if source is None:
        return None
    if isinstance(source, nn.Module):
        return str(getattr(source, "task", DEFAULT_TASK))
    text = str(source)
    path = Path(text).expanduser()
    if path.suffix.lower() == ".safetensors" and path.is_file():
        from lucid.checkpoint import CheckpointError, read_metadata

        try:
            meta = read_metadata(path)
        except (CheckpointError, OSError, ValueError):
            return None
        return task_of_metadata(meta.get("extra") or {}, str(meta.get("model_name") or ""))
    from lucid.models.registry import model_task

    return model_task(text)


def recorded_tta(model: nn.Module) -> str:
    """The test-time augmentation ``model``'s training run chose (its best checkpoint's scores were
    measured under it, so evaluation repeats them): the checkpoint's ``tta``; ``"none"`` for a
    model without a record (a model name, foreign weights, a checkpoint written before the choice
    was recorded)."""
    extra = getattr(model, "checkpoint_extra", None) or {}
    recorded = extra.get("tta")
    if recorded is None:  # classification checkpoints of lucid 0.1.0 kept it in their data recipe
        recorded = ((extra.get("data") or {}).get("recipe") or {}).get("tta")
    return str(recorded) if recorded is not None else "none"


def with_tta(model: nn.Module, tta: str | None, task: type[Task] | None = None) -> nn.Module:
    """``model`` as scored under ``tta``: ``"flip"`` is its task's `Task.mirrored` (``task``, else
    the model's own ``task``), ``"none"`` the model itself, and None what its training run
    recorded (`recorded_tta`)."""
    from lucid.data import TTA_CHOICES

    chosen = recorded_tta(model) if tta is None else tta
    if chosen not in TTA_CHOICES:
        raise ValueError(f"tta must be one of {', '.join(TTA_CHOICES)}; got {chosen!r}")
    if chosen == "none":
        return model
    owner = task if task is not None else get_task(task_of_source(model) or DEFAULT_TASK)
    return owner.mirrored(model)

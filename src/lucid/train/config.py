"""Every setting of a training run, one field per ``lucid train`` flag.

`RunConfig` holds what every task's run has (data, model, optimisation, the run folder,
the time budget ...) and validates it once; each task's config adds only its own fields and
defaults: `TrainConfig` is classification's (``lucid train``'s default task),
``lucid.segment.SegmentConfig`` and ``lucid.detect.DetectConfig`` the others'.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, cast

from lucid.data import TTA_CHOICES  # the recipe's home for them
from lucid.preprocessing import MAX_IMAGE_SIZE  # images larger on a side are refused

__all__ = [
    "ADAMW_RECIPE_LR",
    "DEFAULT_BATCH_SIZE",
    "check_class_names",
    "RecipeDefaults",
    "RunConfig",
    "TrainConfig",
    "OPTIMIZERS",
    "SCHEDULERS",
    "AUTO_AUGMENTS",
    "RESUME_OVERRIDABLE",
    "DEVICES",
    "PRECISIONS",
    "check_device",
]

OPTIMIZERS = ("sgd", "rmsprop", "adamw")
SCHEDULERS = ("cosine", "step", "poly")
AUTO_AUGMENTS = ("trivial", "auto", "none")
# "auto": CUDA when available, then Apple's MPS, else the CPU; "cuda:N" picks a GPU.
DEVICES = ("auto", "cpu", "cuda", "mps")
# "auto": bf16 autocast on CUDA (fp16 with a gradient scaler where bf16 is missing), fp32 elsewhere.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Fields a resumed run may change: they do not alter what is computed, only how long or where.
RESUME_OVERRIDABLE = (
    "epochs",
    "workers",
    "threads",
    "progress",
    "device",
    "precision",
    "amp",
    "deterministic",
    "verify_images",
    "record_indices",
)

# Upper bounds of the size settings: far beyond any sensible run, low enough that a typo
# (--epochs 99999999999999999999) is refused before it allocates or loops for ever.
MAX_EPOCHS = 100_000
MAX_BATCH_SIZE = 65_536
MAX_WORKERS = 256
MAX_SEED = 2**32 - 1
MAX_TIME_BUDGET_MINUTES = 7 * 24 * 60.0  # a week
# Without ``epochs``, a ``time_budget`` run fits the epoch count; otherwise the default is 10.
DEFAULT_EPOCHS = 10
# The batch per process when neither the config nor the data (`lucid.tasks.TaskData.batch_size`:
# large sets of small photos) names one; the default learning rates are for it.
DEFAULT_BATCH_SIZE = 64

# Learning rates per optimizer when ``lr`` is left at None, for the config's default batch size
# per process. Smaller batches get the rate scaled down linearly (Goyal et al., 2017): the full
# SGD rate 0.1 at batch 4 diverged within ten epochs (measured, tests/test_time_budget.py).
DEFAULT_LR = {"sgd": 0.1, "rmsprop": 0.01, "adamw": 2e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-5, "rmsprop": 1e-5, "adamw": 0.05}
# The rates of the recipes whose default optimizer is AdamW (dense outputs trained from scratch).
ADAMW_RECIPE_LR = {"adamw": 2e-3, "sgd": 0.05, "rmsprop": 0.01}


@dataclass(frozen=True)
class RecipeDefaults:
    """What a task's run uses where its config leaves a value unset: ``epochs`` without a time
    budget, the learning rate (``lr``, for a batch of the config's default ``batch_size`` per
    process) and ``weight_decay``, each per optimizer name."""

    epochs: int = DEFAULT_EPOCHS
    lr: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_LR))
    weight_decay: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_WEIGHT_DECAY))


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        bound = f">= {minimum}" + (f" and <= {maximum:,}" if maximum is not None else "")
        raise ValueError(f"{name} must be an integer {bound} (--{name.replace('_', '-')}), got {value!r}")


def _check_float(name: str, value: Any, low: float, high: float, *, high_open: bool = False) -> None:
    """A `ValueError` naming the field and its flag unless ``value`` is a finite number in
    ``[low, high]`` (``[low, high)`` with ``high_open``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = low <= value < high if high_open else low <= value <= high
    if not ok:
        bracket = ")" if high_open else "]"
        flag = f"--{name.replace('_', '-')}"
        raise ValueError(f"{name} must be a number in [{low}, {high}{bracket} ({flag}), got {value!r}")


def check_class_names(value: Any, maximum: int, limit: str = "") -> list[str]:
    """``--classes`` as a list of distinct names, 1..``maximum`` of them (``limit``: why that many)."""
    names = [str(c) for c in value]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"classes must be distinct names (--classes); repeated: {', '.join(duplicates)}")
    if not 1 <= len(names) <= maximum:
        why = f" ({limit})" if limit else ""
        raise ValueError(f"--classes names {len(names)} classes; expected 1..{maximum}{why}")
    return names


def check_device(value: Any, flag: str = "device") -> str:
    """``value`` if it names a device lucid runs on (`DEVICES` or ``cuda:N``), else a ValueError."""
    if isinstance(value, str) and (value in DEVICES or re.fullmatch(r"cuda:\d{1,3}", value)):
        return value
    raise ValueError(f"{flag} must be one of {', '.join(DEVICES)} or cuda:N; got {value!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


@dataclass
class RunConfig:
    """What every task's training run is set by; a task's config subclasses it with its own fields.

    Data: ``data`` is the folder the task reads (each task names its layouts). ``batch_size`` and
    ``lr`` are per process (under torchrun the global batch is ``batch_size * world_size``).
    ``batch_size=None`` takes the batch the data asks for (`lucid.tasks.TaskData.batch_size`: 256
    for large sets of small photos), else `DEFAULT_BATCH_SIZE`. ``lr=None`` and
    ``weight_decay=None`` pick the optimizer's default for the task (`RecipeDefaults`: its rate
    scaled down linearly for batches below the default ``batch_size``, its weight decay).
    ``bn_momentum`` (default 0.1, PyTorch's) replaces the model's BatchNorm momentum for
    training: the canonical 0.01 suits ImageNet-length runs, but over a few hundred steps it
    leaves the running statistics near their initial values; ``None`` keeps the model's own.
    ``channels_last`` is on by default: MobileNet's depthwise convolutions train faster in that
    layout on CPU. ``resume`` names a finished or interrupted run's folder: its saved config is
    used, and only `RESUME_OVERRIDABLE` fields set to non-default values here override it.

    ``tta`` is the test-time augmentation of the run's result: the epochs are validated in one
    pass and the best epoch is scored under ``tta`` at the end; each checkpoint records it for
    ``lucid eval`` / ``lucid predict``. ``"flip"`` (each image and its mirror), ``"none"`` (one
    pass), or None for the task's default (`lucid.tasks.Task.default_tta`).

    ``memory_budget`` (GiB) bounds the decoded images (and masks) a task keeps in memory instead
    of decoding them again each epoch (None: `lucid.data.memory_budget`'s 25 % of RAM, at most
    4 GiB; 0 always reads from disk).

    ``time_budget`` (minutes of wall clock, set-up included) fits the epoch count to the budget
    after timing the first steps; ``epochs`` is then an upper bound (``None``: the task's
    ``defaults.epochs`` without a budget, `MAX_EPOCHS` with one). A resumed budget run keeps its
    recorded plan and spends what is left of the budget.
    """

    task: ClassVar[str] = ""  # the lucid.tasks name of the config's task
    defaults: ClassVar[RecipeDefaults] = RecipeDefaults()

    data: str | None = None
    model: str = "mobilenet_v3_small"
    weights: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    opt: str = "sgd"
    momentum: float = 0.9
    weight_decay: float | None = None
    sched: str = "cosine"
    warmup_epochs: float = 1.0
    step_size: int = 3
    step_gamma: float = 0.1
    ema: bool = False
    ema_decay: float = 0.999
    amp: bool = False
    precision: str = "auto"
    channels_last: bool = True
    workers: int | None = None  # None: 0 for sets decoded into memory, more for streamed ones
    threads: int | None = None
    seed: int = 0
    device: str = "auto"
    out: str | None = None
    resume: str | None = None
    bn_momentum: float | None = 0.1
    hflip: float | None = None
    tta: str | None = None
    val_fraction: float = 0.2
    limit_train: int | None = None
    limit_val: int | None = None
    deterministic: bool | None = None  # None: on for the CPU, off on a GPU (lucid.train.resolve_deterministic)
    memory_budget: float | None = None  # GiB of decoded images kept in memory; None: 25 % of RAM, at most 4
    record_indices: bool = False
    progress: bool = True
    time_budget: float | None = None

    @property
    def total_epochs(self) -> int:
        """``epochs`` as resolved by ``__post_init__`` (an int there on: the default or the bound)."""
        if self.epochs is None:
            raise ValueError(f"{type(self).__name__}.epochs was set to None after construction")
        return self.epochs

    def __post_init__(self) -> None:
        if self.epochs is None:
            # With a time budget the epoch count is fitted to it; MAX_EPOCHS is then only a bound.
            self.epochs = self.defaults.epochs if self.time_budget is None else MAX_EPOCHS
        self._check_choices()
        self._check_sizes()
        self._check_rates()
        self._check_task()

    def _check_task(self) -> None:
        """A task config's own fields (nothing here)."""

    def _check_choices(self) -> None:
        _check_choice("opt", self.opt, OPTIMIZERS)
        _check_choice("sched", self.sched, SCHEDULERS)
        check_device(self.device)
        _check_choice("precision", self.precision, PRECISIONS)
        if self.tta is not None:  # None: the task's default (lucid.tasks.Task.default_tta)
            _check_choice("tta", self.tta, TTA_CHOICES)
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model must be a registered model name, got {self.model!r}")
        for name in ("data", "weights", "out", "resume"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                setattr(self, name, str(value))  # accept os.PathLike, store plain text (JSON-ready)
        for name in ("ema", "amp", "channels_last", "deterministic", "record_indices", "progress"):
            value = getattr(self, name)
            if not isinstance(value, bool) and not (name == "deterministic" and value is None):
                raise ValueError(f"{name} must be True or False, got {value!r}")

    def _check_sizes(self) -> None:
        _check_int("epochs", self.epochs, 1, MAX_EPOCHS)
        if self.batch_size is not None:  # None: the data's choice, else DEFAULT_BATCH_SIZE
            _check_int("batch_size", self.batch_size, 2, MAX_BATCH_SIZE)  # BatchNorm needs >= 2 samples per batch
        if self.workers is not None:
            _check_int("workers", self.workers, 0, MAX_WORKERS)
        if self.memory_budget is not None:
            _check_float("memory_budget", self.memory_budget, 0.0, 1024.0)
        _check_int("seed", self.seed, 0, MAX_SEED)
        if self.time_budget is not None:
            _check_float("time_budget", self.time_budget, 0.0, MAX_TIME_BUDGET_MINUTES)
            if self.time_budget == 0:
                raise ValueError("time_budget must be a positive number of minutes (--time-budget), got 0")
        _check_int("step_size", self.step_size, 1)
        for name, minimum in (("limit_train", 2), ("limit_val", 1), ("threads", 1)):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum)

    def _check_rates(self) -> None:
        if self.lr is not None:
            _check_float("lr", self.lr, 0.0, math.inf, high_open=True)
            if self.lr == 0:
                raise ValueError("lr must be positive, got 0")
        if self.weight_decay is not None:
            _check_float("weight_decay", self.weight_decay, 0.0, math.inf, high_open=True)
        _check_float("momentum", self.momentum, 0.0, 1.0, high_open=True)
        _check_float("warmup_epochs", self.warmup_epochs, 0.0, float(self.total_epochs))
        _check_float("step_gamma", self.step_gamma, 0.0, 1.0)
        _check_float("ema_decay", self.ema_decay, 0.0, 1.0, high_open=True)
        if self.hflip is not None:  # None: the task's default
            _check_float("hflip", self.hflip, 0.0, 1.0)
        _check_float("val_fraction", self.val_fraction, 0.0, 1.0, high_open=True)
        if self.val_fraction == 0:
            raise ValueError("val_fraction must be in (0, 1), got 0")
        if self.bn_momentum is not None:
            _check_float("bn_momentum", self.bn_momentum, 0.0, 1.0)
            if self.bn_momentum == 0:
                raise ValueError("bn_momentum must be in (0, 1], got 0")

    @classmethod
    def default_batch_size(cls) -> int:
        """The batch the task's default learning rates are for (its config's default
        ``batch_size``, or `DEFAULT_BATCH_SIZE` where that default is None)."""
        default = cls.__dataclass_fields__["batch_size"].default
        return DEFAULT_BATCH_SIZE if default is None else cast(int, default)

    @property
    def batch_size_chosen(self) -> bool:
        """Whether ``batch_size`` was set to something other than the task's default: the user's
        choice, which the engine keeps on a small set where it would shrink a default batch."""
        return self.batch_size is not None and self.batch_size != type(self).__dataclass_fields__["batch_size"].default

    @property
    def learning_rate(self) -> float:
        """The learning rate for ``batch_size`` (None: `default_batch_size`); see `learning_rate_for`."""
        return self.learning_rate_for(self.batch_size or self.default_batch_size())

    def learning_rate_for(self, batch_size: int) -> float:
        """The learning rate for a batch of ``batch_size``: ``lr``, or the optimizer's default
        scaled by ``min(1, batch_size / default_batch_size())``: the recipe's rate is for its own
        batch size, and never scaled up (larger batches keep the default)."""
        if self.lr is not None:
            return float(self.lr)
        return self.defaults.lr[self.opt] * min(1.0, batch_size / self.default_batch_size())

    @property
    def decay(self) -> float:
        """The weight decay in use: ``weight_decay`` or the optimizer's default."""
        return float(self.weight_decay) if self.weight_decay is not None else self.defaults.weight_decay[self.opt]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that `from_dict` turns back into this config."""
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        """The config's fields (each one a ``lucid train`` flag)."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Rebuild a config from `to_dict` output; unknown keys are an error."""
        known = set(cls.field_names())
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)

    def merged_for_resume(self, saved: Self) -> Self:
        """``saved`` with this config's `RESUME_OVERRIDABLE` fields where they differ from
        the defaults; any other non-default field here (apart from ``resume``/``out``) is an error,
        since changing it would make the resumed run a different run."""
        defaults = type(self)()
        changes: dict[str, Any] = {}
        conflicts = []
        for field in dataclasses.fields(self):
            name = field.name
            mine = getattr(self, name)
            if name in ("resume", "out") or mine == getattr(defaults, name) or mine == getattr(saved, name):
                continue
            if name in RESUME_OVERRIDABLE:
                changes[name] = mine
            else:
                conflicts.append(f"{name}={mine!r} (run has {getattr(saved, name)!r})")
        if conflicts:
            raise ValueError(
                "cannot change these settings when resuming, the run would no longer be the same: "
                + ", ".join(conflicts)
                + f"; only {', '.join(RESUME_OVERRIDABLE)} may change"
            )
        return saved.replace(**changes, resume=self.resume, out=saved.out)


@dataclass
class TrainConfig(RunConfig):
    """A classification run (``lucid train``'s default task). The defaults train
    ``mobilenet_v3_small(in_channels=1, num_classes=10)`` on scikit-learn's bundled digits at 32x32
    (``benchmarks/train_digits.py`` measures the time and accuracy on your machine).

    Data: ``data=None`` is the embedded digits set (``digits_datasets``); a folder is
    ``train/`` + ``val/``, ``train/`` + ``test/`` or one folder of class folders, split by
    ``val_fraction`` and ``seed`` (`lucid.data.LAYOUTS`). ``img_size=None`` is 32 for
    digits and, for folders, chosen from the image headers (`lucid.data.infer_image_size`).
    ``hflip``, ``auto_augment``, ``random_erase`` and ``tta`` left at None take the recipe's
    defaults for the image size (`lucid.data.choose_recipe`: test-time flip for small photos
    trained with flips). ``in_channels=None`` is 1 for digits, 3 for folders, or the ``weights``
    checkpoint's.
    """

    task: ClassVar[str] = "classify"

    img_size: int | None = None
    in_channels: int | None = None
    label_smoothing: float = 0.1
    dropout: float | None = None
    auto_augment: str | None = None
    random_erase: float | None = None
    verify_images: bool = True

    def _check_task(self) -> None:
        if self.auto_augment is not None:
            _check_choice("auto_augment", self.auto_augment, AUTO_AUGMENTS)
        if self.tta == "flip" and self.data is None:
            raise ValueError(
                "tta 'flip' (--tta flip) needs an image folder (--data DIR): the embedded digits are not "
                "mirror images of themselves"
            )
        for name, minimum in (("img_size", 8), ("in_channels", 1)):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), minimum)
        if self.img_size is not None and self.img_size > MAX_IMAGE_SIZE:
            raise ValueError(f"img_size must be at most {MAX_IMAGE_SIZE} (--img-size), got {self.img_size}")
        _check_float("label_smoothing", self.label_smoothing, 0.0, 1.0, high_open=True)
        if self.random_erase is not None:
            _check_float("random_erase", self.random_erase, 0.0, 1.0)
        if self.dropout is not None:
            _check_float("dropout", self.dropout, 0.0, 1.0, high_open=True)

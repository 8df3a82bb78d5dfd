"""Accuracy counting, the metrics files (metrics.jsonl, summary.json) and the plots (Agg)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "topk_correct",
    "Tally",
    "json_safe",
    "dumps",
    "append_jsonl",
    "read_jsonl",
    "write_json",
    "SCORE_CURVES",
    "curve_series",
    "plot_curves",
    "plot_confusion",
]


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 5)) -> list[int]:
    """How many rows have their target among the top-k logits, for each k (k capped at the class count)."""
    kmax = min(max(ks), logits.shape[1])
    top = logits.topk(kmax, dim=1).indices
    hits = top.eq(targets.view(-1, 1))
    return [int(hits[:, : min(k, kmax)].any(dim=1).sum()) for k in ks]


class Tally:
    """Sums of loss, top-1/top-5 hits and sample count; reduced across processes when distributed."""

    def __init__(self) -> None:
        self.values = torch.zeros(4, dtype=torch.float64)  # loss*n, top1, top5, n

    def add(self, loss: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor) -> None:
        n = targets.shape[0]
        top1, top5 = topk_correct(logits.detach().float(), targets)
        self.values += torch.tensor([float(loss.detach()) * n, top1, top5, n], dtype=torch.float64)

    def reduce(self, device: torch.device) -> None:
        """Sum over every process (a no-op without torch.distributed)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            values = self.values.to(device)
            dist.all_reduce(values)
            self.values = values.cpu()

    @property
    def count(self) -> int:
        return int(self.values[3])

    def means(self) -> dict[str, float]:
        """``loss``, ``top1``, ``top5`` (fractions) over everything added."""
        n = max(self.count, 1)
        loss, top1, top5, _ = self.values.tolist()
        return {"loss": loss / n, "top1": top1 / n, "top5": top5 / n}


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float (also inside lists, tuples and dicts) replaced by
    ``None``: Python's json writes those as bare ``NaN``/``Infinity``, which is not JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Strict JSON text of ``value``: non-finite numbers become ``null`` (see `json_safe`)."""
    return json.dumps(json_safe(value), indent=indent, allow_nan=False)


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Write strict JSON atomically (a reader never sees half a file; NaN is written as null)."""
    from lucid.checkpoint import atomic_write

    text = dumps(dict(data), indent=2) + "\n"
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def append_jsonl(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append one strict JSON line and flush it to disk."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(dumps(dict(record)) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every complete line of a JSONL file (a torn last line from a kill is ignored)."""
    file = Path(path)
    if not file.exists():
        return []
    records = []
    for line in file.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


# The score curves plot_curves draws, in order: (record key, legend label, line style). A key is
# drawn when every record has a value for it (top-5 only with more than 5 classes; each task's
# records hold its own scores).
SCORE_CURVES = (
    ("train_top1", "train top-1", "o-"),
    ("val_top1", "validation top-1", "s-"),
    ("val_top5", "validation top-5", "^--"),
    ("val_miou", "validation mIoU", "o-"),
    ("val_pixel_acc", "validation pixel accuracy", "s-"),
    ("val_map50", "validation mAP@0.5", "o-"),
    ("val_map", "validation mAP@[.5:.95]", "s-"),
)


def curve_series(records: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """The `SCORE_CURVES` entries that every record has a value for (what `plot_curves` draws)."""
    return [entry for entry in SCORE_CURVES if records and all(r.get(entry[0]) is not None for r in records)]


def plot_curves(
    records: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    title: str,
    *,
    loss_label: str = "loss",
    score_label: str = "%",
) -> Path:
    """Loss (training and validation) and the scores per epoch, side by side: whichever of
    `SCORE_CURVES` the records hold (a task's ``loss_label`` and ``score_label`` name the axes)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in records]
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [r["train_loss"] for r in records], "o-", label="train")
    loss_ax.plot(epochs, [r["val_loss"] for r in records], "s-", label="validation")
    loss_ax.set(xlabel="epoch", ylabel=loss_label, title="Loss")
    for key, label, style in curve_series(records):
        acc_ax.plot(epochs, [100 * r[key] for r in records], style, label=label, alpha=0.6 if key == "val_top5" else 1)
    acc_ax.set(xlabel="epoch", ylabel=score_label, title="Scores")
    for ax in (loss_ax, acc_ax):
        ax.grid(True, alpha=0.3)
        ax.legend()
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    return _save_figure(fig, path)


def plot_confusion(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], path: str | os.PathLike[str], title: str
) -> Path:
    """A confusion matrix (rows: true class, columns: predicted), counts written in the cells
    when there are few classes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    counts = torch.as_tensor(matrix, dtype=torch.float64)
    n = len(classes)
    size = min(4 + 0.45 * n, 24)
    fig = Figure(figsize=(size + 1.5, size), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(counts.numpy(), cmap="Blues")
    fig.colorbar(image, ax=ax, label="images")
    ticks = list(range(n)) if n <= 60 else []
    ax.set_xticks(ticks, [classes[i] for i in ticks], rotation=90 if n > 10 else 0)
    ax.set_yticks(ticks, [classes[i] for i in ticks])
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    if n <= 30:
        threshold = float(counts.max()) / 2 if counts.numel() else 0
        for i in range(n):
            for j in range(n):
                value = int(counts[i, j])
                if value:
                    ax.text(
                        j,
                        i,
                        str(value),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if value > threshold else "black",
                    )
    return _save_figure(fig, path)


def _save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    from lucid.checkpoint import atomic_write

    # matplotlib picks the format from the name; the temporary file's suffix is .tmp.
    from lucid.outputs import MARK

    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png", metadata={"Software": MARK}))

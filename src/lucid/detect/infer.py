"""Detection after training: ``lucid eval`` (COCO mAP of a checkpoint on a folder's validation
photos) and ``lucid predict`` (each photo with its boxes, class names and scores drawn, and one
JSON of the detections)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lucid.data import worker_context
from lucid.detect.data import detection_collate, detection_datasets
from lucid.detect.metrics import coco_metrics, photo_detections
from lucid.errors import DataError
from lucid.tasks import recorded_tta, with_tta

__all__ = [
    "DEFAULT_SCORE_THRESHOLD",
    "DetectionEval",
    "evaluate_detection",
    "load_detector",
    "predict_boxes",
    "write_detections",
]

DEFAULT_SCORE_THRESHOLD = 0.3  # what `lucid predict` keeps and draws (the mAP scores every detection)


def load_detector(source: nn.Module | str | os.PathLike[str], weights: Any = None) -> nn.Module:
    """A detector in eval mode from a module, a lucid detection checkpoint or a registered name (+ ``weights``)."""
    from lucid.checkpoint import read_metadata
    from lucid.models.registry import get_model_factory, model_task

    if isinstance(source, nn.Module):
        return source.eval()
    path = Path(source).expanduser()
    if path.is_file():
        name = str(read_metadata(path).get("model_name") or "")
        if model_task(name) != "detect":
            raise DataError(f"{path}: not a lucid detection checkpoint (its model is {name or 'unnamed'})")
        return get_model_factory(name)(weights=str(path)).eval()
    if model_task(str(source)) != "detect":
        raise DataError(f"{source}: neither a detection checkpoint file nor a registered detection model")
    return get_model_factory(str(source))(weights=weights).eval()


def _classes(model: nn.Module) -> list[str]:
    """The model's class names without the background (``class N`` where none are recorded)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    extra = getattr(model, "checkpoint_extra", None) or {}
    names = extra.get("classes") or list(cfg.get("categories") or [])[1:]
    count = int(getattr(model, "num_classes", len(names) + 1)) - 1
    return [str(n) for n in names] if len(names) == count else [f"class {i}" for i in range(1, count + 1)]


@dataclass
class DetectionEval:
    """COCO scores of a detector on a folder's validation photos."""

    checkpoint: str
    data: str
    images: int
    classes: list[str]
    map: float | None
    map50: float | None
    map75: float | None
    per_class_ap: dict[str, float | None] = field(default_factory=dict)
    per_class_ap50: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    # The test-time augmentation scored: "flip" (each photo's and its mirror's boxes merged) or "none".
    tta: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> list[str]:
        """What ``lucid eval`` prints above the per-class table ("-" where COCO gives no score)."""
        shown = ["-" if v is None else f"{100 * v:.2f}%" for v in (self.map, self.map50)]
        return [
            f"{self.checkpoint} on {self.data} ({self.images} validation photos"
            + (", test-time flip: each photo and its mirror; --tta none: one pass" if self.tta == "flip" else "")
            + ")",
            f"mAP@[.5:.95] {shown[0]}  mAP@0.5 {shown[1]}  {self.seconds:.1f}s",
        ]

    def class_columns(self) -> list[tuple[str, list[Any]]]:
        """The per-class table's columns: AP@[.5:.95] and AP@0.5."""
        return [
            ("AP@[.5:.95]", [self.per_class_ap.get(name) for name in self.classes]),
            ("AP@0.5", [self.per_class_ap50.get(name) for name in self.classes]),
        ]


def _recorded_data(model: nn.Module) -> dict[str, Any] | None:
    extra = getattr(model, "checkpoint_extra", None) or {}
    data = extra.get("data")
    return data if isinstance(data, dict) else None


@torch.no_grad()
def evaluate_detection(
    checkpoint: nn.Module | str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    *,
    weights: Any = None,
    batch_size: int = 16,
    device: str = "cpu",
    tta: str | None = None,
    workers: int = 0,
) -> DetectionEval:
    """mAP@[.5:.95], mAP@0.5 and per-class AP of ``checkpoint`` on ``data``'s validation photos.

    ``data`` None: the folder the checkpoint was trained on, with its recorded split. A folder
    with its own split (VOC's ``val.txt``, ``val/`` folders, COCO's val JSON) is scored on that
    split; a folder without one is split as the run split it when it is the run's folder.
    ``tta`` (``"flip"`` or ``"none"``) defaults to the training run's choice
    (`lucid.tasks.recorded_tta`), so the best checkpoint's figures are repeated. ``workers``
    processes read the photos (0: this one).
    """
    model = load_detector(checkpoint, weights).to(device)
    chosen = recorded_tta(model) if tta is None else tta
    scored = with_tta(model, chosen)
    recorded = _recorded_data(model)
    classes = _classes(model)
    if data is None:
        if recorded is None:
            raise DataError(f"{checkpoint}: no recorded training data; pass --data DIR")
        data = recorded["root"]
    same_root = recorded is not None and Path(str(data)).resolve() == Path(recorded["root"]).resolve()
    split = recorded if same_root else None
    size = int(getattr(model, "pretrained_cfg", {}).get("image_size", 320) or 320)
    _, val_ds, info = detection_datasets(data, image_size=size, classes=classes, split=split, scoring_only=True)
    context, _ = worker_context(workers)  # a fork server where a loaded runtime's threads make forking unsafe
    loader = torch.utils.data.DataLoader(
        val_ds,
        batch_size=batch_size,
        collate_fn=detection_collate,
        num_workers=workers,
        multiprocessing_context=context,
    )
    start = time.perf_counter()
    predictions, truths = [], []
    for images, targets in loader:
        batch = images.to(device).float().div_(255)
        scaled, truth = photo_detections(scored(batch), targets, batch.shape[-2:], val_ds)
        predictions += scaled
        truths += truth
    scores = coco_metrics(predictions, truths, classes)
    return DetectionEval(
        str(checkpoint),
        str(info.root),
        len(val_ds),
        classes,
        scores["map"],
        scores["map50"],
        scores["map75"],
        scores["per_class_ap"],
        scores["per_class_ap50"],
        time.perf_counter() - start,
        list(info.notes),
        chosen,
    )


@torch.no_grad()
def predict_boxes(
    source: nn.Module | str | os.PathLike[str],
    images: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    weights: Any = None,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    device: str = "cpu",
    tta: str | None = None,
) -> list[dict[str, Any]]:
    """Detections of each photo (boxes in its own pixels) above ``score_threshold``; each photo is
    written to ``out`` as ``<stem>.boxes.png`` with its boxes, names and scores drawn, and every
    detection to ``out/detections.json``. Returns the JSON's records. ``tta`` (``"flip"``: each
    photo and its mirror, or ``"none"``) defaults to the training run's choice
    (`lucid.tasks.recorded_tta`)."""
    from lucid.preprocessing import read_image

    if not 0 <= score_threshold <= 1:
        raise ValueError(f"--score-threshold must be in [0, 1], got {score_threshold}")
    model = load_detector(source, weights).to(device)
    scored = with_tta(model, tta)
    classes = _classes(model)
    records = []
    for item in images:
        pixels = read_image(item)
        pixels = pixels.expand(3, -1, -1) if pixels.shape[0] == 1 else pixels[:3]
        if pixels.is_floating_point():
            pixels = (pixels.clamp(0, 1) * 255).round().to(torch.uint8)
        detection = scored([pixels.to(device).float().div(255)])[0]
        keep = detection["scores"] >= score_threshold
        boxes, scores, labels = (detection[k][keep].cpu() for k in ("boxes", "scores", "labels"))
        names = [classes[int(label) - 1] if 0 < int(label) <= len(classes) else str(int(label)) for label in labels]
        records.append((item, pixels, {"boxes": boxes, "scores": scores, "names": names}))
    return write_detections(records, out)


def write_detections(
    results: Sequence[tuple[str | os.PathLike[str], torch.Tensor | None, Mapping[str, Any]]],
    out: str | os.PathLike[str],
) -> list[dict[str, Any]]:
    """Draw and record detections, the one writer of ``lucid predict`` for a checkpoint and for an
    exported file: per ``(photo, pixels, detection)`` (``pixels`` its ``(3, H, W)`` uint8 image, None
    to read it; ``detection`` with ``boxes`` in its own pixels, ``scores`` and ``names``) the photo
    is written to ``out`` as ``<stem>.boxes.png`` with its boxes, names and scores drawn, and every
    detection to ``out/detections.json``. Returns the JSON's records."""
    from torchvision.utils import draw_bounding_boxes

    from lucid.checkpoint import atomic_write
    from lucid.outputs import MARK, check_output, check_outputs
    from lucid.preprocessing import read_image

    folder = Path(out)
    images = [item for item, _, _ in results]  # never written over
    # Every output is checked before the first is written: a refusal leaves nothing half-done.
    targets = check_outputs([(item, folder / f"{Path(item).stem}.boxes.png") for item in images], inputs=images)
    listing = check_output(folder / "detections.json", inputs=images)
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for (item, given, detection), target in zip(results, targets, strict=True):
        pixels = given if given is not None else read_image(item)
        pixels = pixels.expand(3, -1, -1) if pixels.shape[0] == 1 else pixels[:3]
        if pixels.is_floating_point():
            pixels = (pixels.clamp(0, 1) * 255).round().to(torch.uint8)
        boxes, scores, names = detection["boxes"], detection["scores"], list(detection["names"])
        labels = [f"{n} {float(s):.2f}" for n, s in zip(names, scores, strict=True)]
        drawn = draw_bounding_boxes(pixels, boxes, labels=labels, width=2) if len(boxes) else pixels
        _save_png(drawn, target)
        records.append(
            {
                "image": str(item),
                "drawn": str(target),
                "detections": [
                    {"label": n, "score": round(float(s), 4), "box": [round(float(v), 1) for v in b]}
                    for n, s, b in zip(names, scores, boxes, strict=True)
                ],
            }
        )
    text = json.dumps({"written_by": MARK, "images": records}, indent=2)
    atomic_write(listing, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return records


def _save_png(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    from lucid.checkpoint import atomic_write
    from lucid.outputs import png_info

    picture = Image.fromarray(image.permute(1, 2, 0).numpy())
    atomic_write(path, lambda tmp: picture.save(tmp, format="PNG", pnginfo=png_info()))

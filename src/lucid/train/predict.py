"""``lucid predict``: class names with probabilities for image files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lucid.errors import DataError
from lucid.models.resolve import resolve
from lucid.preprocessing import resize_size_for
from lucid.tasks import with_tta
from lucid.train.evaluate import class_names, crop_side

__all__ = ["draw_predictions", "format_predictions", "load_images", "predict"]

LABELLED_SIDE = 256  # smaller pictures are enlarged to this short side so their labels can be read

Prediction = list[tuple[str, float]]


def load_images(
    paths: Sequence[str | os.PathLike[str]], transform: Any, *, channels: int = 3, ink: str | None = None
) -> torch.Tensor:
    """Decode image files (`lucid.data.load_image`: every PIL mode, ``channels`` channels),
    match the training data's ink polarity (`lucid.data.normalise_ink`: a dark-on-light
    drawing given to a model trained on light-on-dark digits is inverted) and ``transform`` them
    into a batch."""
    from lucid.data import load_image, normalise_ink

    tensors = []
    for path in paths:
        file = Path(path).expanduser()
        if not file.is_file():
            raise FileNotFoundError(f"no image file at {path}")
        try:
            image = load_image(file, channels)
        except DataError as exc:
            raise DataError(f"{path}: cannot read the image ({exc})") from None
        tensors.append(transform(normalise_ink(image, ink)))
    return torch.stack(tensors)


@torch.no_grad()
def predict(
    model: nn.Module | str | os.PathLike[str],
    images: Sequence[str | os.PathLike[str]],
    *,
    topk: int = 5,
    weights: str | None = None,
    device: str = "cpu",
    batch_size: int = 32,
    tta: str | None = None,
) -> list[Prediction]:
    """For each image file, the ``topk`` most likely ``(label, probability)`` pairs, best first.

    ``model`` is a lucid checkpoint path (labels: the class names stored at training), a
    registered model name with ``weights`` (labels: the weights' categories, e.g. ImageNet's),
    or a module. Preprocessing is the model's own (size, crop, normalisation), and drawings of
    the opposite ink polarity to the training data's (when recorded) are inverted first.
    ``tta`` (``"flip"``: the mean of each image and its mirror, or ``"none"``) defaults to what
    the training run chose (`lucid.tasks.recorded_tta`).
    """
    from lucid.train.distributed import resolve_device

    if not isinstance(topk, int) or isinstance(topk, bool) or topk < 1:
        raise ValueError(f"topk must be a positive integer, got {topk!r}")
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    if not images:
        raise ValueError("predict needs at least one image file")
    from lucid.data import eval_sample_transform

    resolved = resolve(model, weights, require_weights=True)
    net, prep = resolved.model, resolved.preprocessing
    where = resolve_device(device, 0)
    net.to(where)
    scored = with_tta(net, tta)  # None: what the training run recorded
    categories = class_names(net)
    # PIL images in the model's channels, transformed exactly as the training run's validation.
    size = crop_side(prep)
    transform = eval_sample_transform(size, prep.resize_size or resize_size_for(size), list(prep.mean), list(prep.std))
    k = min(topk, len(categories))
    results: list[Prediction] = []
    for start in range(0, len(images), batch_size):
        batch = load_images(images[start : start + batch_size], transform, channels=prep.in_channels, ink=prep.ink).to(
            where
        )
        probabilities = scored(batch).float().softmax(dim=1).cpu()
        values, indices = probabilities.topk(k, dim=1)
        for row_values, row_indices in zip(values.tolist(), indices.tolist(), strict=True):
            results.append([(categories[i], float(p)) for p, i in zip(row_values, row_indices, strict=True)])
    return results


def format_predictions(images: Sequence[str], predictions: Sequence[Sequence[tuple[str, float]]]) -> str:
    """Text for people: each image, then its labels with percentages."""
    lines = []
    for image, ranked in zip(images, predictions, strict=True):
        lines.append(str(image))
        width = max((len(label) for label, _ in ranked), default=0)
        lines += [f"  {label:<{width}}  {100 * p:6.2f}%" for label, p in ranked]
    return "\n".join(lines)


def predictions_json(images: Sequence[str], predictions: Sequence[Sequence[tuple[str, float]]]) -> list[dict[str, Any]]:
    """JSON-ready predictions: ``[{"image": ..., "predictions": [{"label", "probability"}, ...]}]``."""
    return [
        {"image": str(image), "predictions": [{"label": label, "probability": float(p)} for label, p in ranked]}
        for image, ranked in zip(images, predictions, strict=True)
    ]


def draw_predictions(
    images: Sequence[str | os.PathLike[str]], predictions: Sequence[Prediction], out: Path, shown: int = 3
) -> list[Path]:
    """Each image as lucid reads it (upright, 8-bit), with its ``shown`` best labels and their
    probabilities written in its corner, saved as ``<stem>.label.png`` in ``out``; as detection
    draws boxes and segmentation masks. Every output is checked before the first is written."""
    from PIL import Image, ImageDraw

    from lucid.checkpoint import atomic_write
    from lucid.outputs import check_outputs
    from lucid.preprocessing import open_image

    targets = check_outputs([(item, out / f"{Path(item).stem}.label.png") for item in images], inputs=images)
    out.mkdir(parents=True, exist_ok=True)
    for item, ranked, target in zip(images, predictions, targets, strict=True):
        picture = open_image(item).convert("RGB")
        if min(picture.size) < LABELLED_SIDE:
            scale = LABELLED_SIDE / min(picture.size)
            size = (round(picture.width * scale), round(picture.height * scale))
            picture = picture.resize(size, Image.Resampling.NEAREST)
        draw = ImageDraw.Draw(picture)
        text = "\n".join(f"{label} {100 * probability:.1f}%" for label, probability in ranked[:shown])
        left, top, right, bottom = draw.multiline_textbbox((6, 6), text)
        draw.rectangle((left - 4, top - 4, right + 4, bottom + 4), fill=(0, 0, 0))
        draw.multiline_text((6, 6), text, fill=(255, 255, 255))
        atomic_write(target, partial(_save_png, picture))
    return targets


def _save_png(picture: Any, path: str) -> None:
    from lucid.outputs import png_info

    picture.save(path, format="PNG", pnginfo=png_info())

"""Drawn test images shared by the ink-polarity tests (importable: pytest puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image


def draw_digit(path: Path, index: int, size: int, dark_on_light: bool) -> Path:
    """Save scikit-learn's digit ``index`` as a ``size`` x ``size`` grey PNG at ``path``: light
    strokes on black as the digits set has them, or inverted (a paint program's black on white)."""
    from sklearn.datasets import load_digits

    image = torch.from_numpy(load_digits().images[index]).float().div(16)
    pixels = (image * 255).round().to(torch.uint8).numpy()
    picture = Image.fromarray(pixels, mode="L").resize((size, size), Image.Resampling.BILINEAR)
    if dark_on_light:
        picture = Image.eval(picture, lambda v: 255 - v)
    picture.save(path)
    return path

"""Drawn test images shared by several test files: digits for the ink-polarity tests, a YOLO box
folder for detection (importable: pytest puts ``tests/`` on ``sys.path``)."""

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


def boxes_folder(root: Path, count: int = 12) -> Path:
    """A YOLO layout (images/ + labels/ + classes.txt): white squares ("box") and grey squares'
    bounding boxes ("blob") on dark 64x48 photos."""
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("box\nblob\n")
    for i in range(count):
        image = Image.new("RGB", (64, 48), (20, 20, 30))
        x, y = 4 + (i * 7) % 30, 4 + (i * 5) % 20
        image.paste((255, 255, 255), (x, y, x + 16, y + 16))
        image.paste((128, 128, 128), (44, 28, 60, 44))
        image.save(root / "images" / f"p{i:02d}.jpg")
        lines = [f"0 {(x + 8) / 64:.4f} {(y + 8) / 48:.4f} {16 / 64:.4f} {16 / 48:.4f}", "1 0.8125 0.75 0.25 0.3333"]
        (root / "labels" / f"p{i:02d}.txt").write_text("\n".join(lines) + "\n")
    return root

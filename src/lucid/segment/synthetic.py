"""A generated segmentation data set: coloured shapes on textured backgrounds, with exact masks.

Small, quick and made anywhere (tests, docs, smoke runs): class 0 is the background, then one
class per shape kind (disc, square, triangle), and a thin border of ``ignore_index`` around
every shape (as VOC marks object outlines void). Textures and shape colours vary per image, so
a model has to use shape, not colour, and a mask that drifts from its image is visible.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["SHAPE_CLASSES", "make_shapes_dataset"]

SHAPE_CLASSES = ("background", "disc", "square", "triangle")


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Stripes plus noise in a random colour: a background that is not one flat colour."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(4, 12)
    stripes = 0.5 + 0.5 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    base = rng.uniform(40, 200, size=3)
    image = base[None, None, :] + 40 * stripes[..., None] + rng.normal(0, 12, size=(height, width, 3))
    return image


def _shape_mask(kind: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    size = rng.uniform(0.15, 0.3) * min(height, width)
    cy, cx = rng.uniform(size, height - size), rng.uniform(size, width - size)
    if kind == 1:
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= size**2
    if kind == 2:
        return (np.abs(yy - cy) <= size * 0.85) & (np.abs(xx - cx) <= size * 0.85)
    # a triangle pointing up: below the two upper edges, above the base
    top = cy - size
    return (yy <= cy + size * 0.8) & (np.abs(xx - cx) <= (yy - top) * 0.6)


def make_shapes_dataset(
    root: str | os.PathLike[str],
    *,
    train: int = 24,
    val: int = 8,
    size: tuple[int, int] = (48, 64),
    shapes_per_image: int = 2,
    ignore_index: int = 255,
    border: bool = True,
    seed: int = 0,
) -> Path:
    """Write ``root/{train,val}/{images,masks}`` (JPEG images, 8-bit class PNG masks) and ``classes.txt``.

    ``size`` is (height, width). Returns ``root``.
    """
    from PIL import Image

    folder = Path(root)
    rng = np.random.default_rng(seed)
    height, width = size
    for split, count in (("train", train), ("val", val)):
        (folder / split / "images").mkdir(parents=True, exist_ok=True)
        (folder / split / "masks").mkdir(parents=True, exist_ok=True)
        for index in range(count):
            image = _texture(rng, height, width)
            mask = np.zeros((height, width), dtype=np.uint8)
            for _ in range(shapes_per_image):
                kind = int(rng.integers(1, len(SHAPE_CLASSES)))
                region = _shape_mask(kind, height, width, rng)
                image[region] = rng.uniform(0, 255, size=3) + rng.normal(0, 8, size=(int(region.sum()), 3))
                mask[region] = kind
            if border:
                edges = np.zeros_like(mask, dtype=bool)  # pixels next to another class
                edges[:, 1:] |= mask[:, 1:] != mask[:, :-1]
                edges[1:, :] |= mask[1:, :] != mask[:-1, :]
                mask[edges] = ignore_index
            stem = f"{split}_{index:04d}"
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
                folder / split / "images" / f"{stem}.jpg", quality=95
            )
            Image.fromarray(mask, mode="L").save(folder / split / "masks" / f"{stem}.png")
    (folder / "classes.txt").write_text("\n".join(SHAPE_CLASSES) + "\n", encoding="utf-8")
    return folder

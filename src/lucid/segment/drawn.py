"""What every derived mask set shares: masks written once into a cache outside the data folder.

Segmentation reads mask files. Data sets that ship outlines (`lucid.segment.polygons`) or masks
that hold objects or segments rather than classes (`lucid.segment.segments`) are turned once
into one PNG class mask per photo, in a cache outside the data folder (`mask_cache_dir`: the
data may be read-only), keyed by the source files' paths, sizes and modification times, so a
changed file is derived again (`cached_mask`). `DrawnMasks` is what each reader returns.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lucid.data.files import cache_home
from lucid.data.images import image_header, shown_size
from lucid.errors import DataError

__all__ = [
    "BACKGROUND",
    "DrawnMasks",
    "mask_cache_dir",
    "cache_folder",
    "cached_mask",
    "save_mask",
    "photo_sizes",
    "upright_size",
    "short_path",
    "listed_file",
]

BACKGROUND = "background"  # value 0 of a drawn mask: no object


@dataclass
class DrawnMasks:
    """The (photo, drawn mask) pairs of a COCO segmentation data set: ``val`` is None when it has
    no validation file (a seeded split then); ``names`` name the values 1..K, 0 the background.
    Without ``background`` (COCO panoptic: its stuff categories cover the scene) ``names`` name
    the values 0..K-1 and unlabelled pixels hold the void value 255; ``colours``, when given, are
    the classes' own colours (for drawing predictions)."""

    train: list[tuple[Path, Path]]
    val: list[tuple[Path, Path]] | None
    names: list[str]
    description: str
    notes: list[str] = field(default_factory=list)
    background: bool = True
    colours: list[tuple[int, int, int]] = field(default_factory=list)


def mask_cache_dir() -> Path:
    """``masks/`` in lucid's cache (`lucid.data.files.cache_home`: ``$LUCID_HOME``, else ``~/.cache/lucid``)."""
    return cache_home() / "masks"


def short_path(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def save_mask(path: Path, mask: np.ndarray) -> None:
    """Write a mask PNG through a temporary file renamed into place: a reader never sees half a
    mask. Not fsynced as checkpoints are: a lost cache file is drawn again."""
    from PIL import Image

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise DataError(
            f"cannot write the drawn masks into {path.parent} ({exc.strerror or exc}); set LUCID_HOME to a "
            "writable folder"
        ) from None
    os.close(fd)
    try:
        Image.fromarray(mask, mode="L").save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def upright_size(photo: Path) -> tuple[int, int]:
    """``(width, height)`` of ``photo`` as it is shown (its EXIF orientation applied)."""
    return photo_sizes(photo)[0]


def photo_sizes(photo: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(width, height)`` of ``photo`` as it is shown (its EXIF orientation applied) and as stored."""
    header = image_header(photo)
    if header is None:
        raise DataError(f"{photo}: not a readable image")
    stored, orientation = header
    return shown_size(stored, orientation), stored


def cache_folder(source: Path, extra: str) -> Path:
    """The cache folder of the masks derived from ``source``, keyed by its path, size and time and
    by ``extra`` (what else decides the masks: the class values, the photo's size ...)."""
    stat = source.stat()
    token = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{extra}"
    return mask_cache_dir() / hashlib.sha256(token.encode()).hexdigest()[:16]


def cached_mask(source: Path, extra: str, name: str) -> Path:
    """The cache file of the mask drawn for ``name`` from ``source`` (`cache_folder`)."""
    return cache_folder(source, extra) / f"{Path(name).name}.png"


def listed_file(name: str, folders: list[Path]) -> Path | None:
    """The file an annotation names (``file_name``: a path, or a name whose folder differs), looked
    for below each of ``folders`` in turn; None when none holds it."""
    for folder in folders:
        for candidate in (folder / name, folder / Path(name).name):
            if candidate.is_file():
                return candidate
    return None

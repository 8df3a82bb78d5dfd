"""Photos stored as rows of pixel values in a CSV table: Kaggle's Digit Recognizer (``train.csv``:
``label,pixel0,...,pixel783``), Fashion-MNIST's and Sign Language MNIST's tables
(``label,pixel1,...,pixel784``), the header-less ``mnist_train.csv`` (the label, then 784 values)
and FER-2013 (``emotion,pixels,Usage``: the pixels one space-separated field, ``Usage`` naming
the split). A row holds one grey square photo, row by row.

Each labelled row is written once as a grey PNG into a cache folder (`lucid.data.files.cache_home`
``/pixels``), one folder per class, so the rows train, validate and are scored by ``lucid eval``
exactly as photos in class folders are. The cache is keyed by the table's path, size and time and
appears whole (a folder renamed into place) or not at all. torchvision's MNIST readers take the
original binary files, not these tables, and pandas is not a dependency: numpy parses each line.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lucid.data.emnist import chosen_variant, emnist_notes, mapping_names, variant_of
from lucid.data.files import ClassFiles, FolderLayout, hidden, keyed_cache_folder, split_role, written_once
from lucid.data.images import write_encoded
from lucid.data.tables import LABEL_COLUMNS, UNLABELLED_TABLES
from lucid.errors import DataError

__all__ = ["SMALLEST_SIDE", "PixelTable", "read_pixel_table", "pixel_tables", "pixel_layout", "cached_photos"]

_PIXEL_COLUMN = re.compile(r"pixels?_?\d+")
_CLASS_COLUMNS = (*LABEL_COLUMNS, "emotion")  # FER-2013 names its class column "emotion"
SMALLEST_SIDE = 8  # a photo (a row of pixels, an array's row, a mask) is at least 8 x 8
_SMALLEST_BARE = 16  # nor, without a header naming pixel columns, one of fewer than 16 x 16 (MNIST's are 28 x 28)
_HEAD = 1 << 16  # the bytes read to judge a table


@dataclass
class PixelTable:
    """How a table stores its photos: the ``label`` column (None: unlabelled, Digit Recognizer's
    ``test.csv``), the pixel columns (``pixels``: their indices, or the one column of
    space-separated values), the photo's ``side``, whether a ``header`` line comes first, and
    FER-2013's ``usage`` column (each row's split)."""

    file: Path
    label: int | None
    pixels: list[int] | int
    side: int
    header: bool
    usage: int | None = None
    channels: int = 1  # 3: each pixel's red, green and blue in turn (HAM10000's hmnist_28_28_RGB.csv)

    def rows(self) -> Iterator[tuple[int, str | None, str | None, np.ndarray]]:
        """Each row's number (1 = the first data row), label, usage and photo (``side`` x ``side``
        uint8); a row of the wrong length or of values outside 0..255 is a DataError naming it."""
        count = self.side * self.side * self.channels
        with self.file.open(encoding="utf-8-sig", newline="") as handle:
            if self.header:
                handle.readline()
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                fields = line.rstrip("\r\n").split(",")
                try:
                    if isinstance(self.pixels, int):
                        values = np.array(fields[self.pixels].split(), dtype=np.float64)
                    else:
                        values = np.array([fields[i] for i in self.pixels], dtype=np.float64)
                except (IndexError, ValueError):
                    values = np.empty(0)
                if values.size != count or not (values.min() >= 0 and values.max() <= 255):
                    shape = f"a {self.side}x{self.side} photo" + (" of RGB pixels" if self.channels == 3 else "")
                    raise DataError(f"{self.file}: row {number} is not {count} pixel values 0..255 ({shape})")
                label = fields[self.label].strip() if self.label is not None else None
                usage = fields[self.usage].strip() if self.usage is not None else None
                size = (self.side, self.side) if self.channels == 1 else (self.side, self.side, self.channels)
                yield number, label, usage, values.round().astype(np.uint8).reshape(size)


def _side(count: int) -> int | None:
    side = math.isqrt(count)
    return side if side * side == count and side >= SMALLEST_SIDE else None


def read_pixel_table(file: Path) -> PixelTable | None:
    """How ``file`` stores photos as pixel rows (judged from its first lines), or None when it is
    not such a table: a header of a class column and ``pixel0``... columns (a square count of
    them), a ``pixels`` column of space-separated values (FER-2013), or header-less rows of a
    label and a square count of values."""
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            first, second = handle.readline(_HEAD), handle.readline(_HEAD)
    except (OSError, UnicodeDecodeError):
        return None
    header = [field.strip().lower() for field in first.rstrip("\r\n").split(",")]
    label = next((header.index(c) for c in _CLASS_COLUMNS if c in header), None)
    columns = [i for i, name in enumerate(header) if _PIXEL_COLUMN.fullmatch(name)]
    if columns and (side := _side(len(columns))) is not None:
        return PixelTable(file, label, columns, side, True)
    if columns and len(columns) % 3 == 0 and (side := _side(len(columns) // 3)) is not None:
        return PixelTable(file, label, columns, side, True, channels=3)  # HAM10000's hmnist_28_28_RGB.csv
    if "pixels" in header and label is not None:
        values = second.rstrip("\r\n").split(",")
        column = header.index("pixels")
        side = _side(len(values[column].split())) if column < len(values) else None
        usage = header.index("usage") if "usage" in header else None
        return None if side is None else PixelTable(file, label, column, side, True, usage)
    side = _side(len(header) - 1) if all(field.isdigit() for field in header) else None
    if side is not None and side >= _SMALLEST_BARE:  # a few numbers per row are more likely a table's features
        return PixelTable(file, 0, list(range(1, len(header))), side, False)
    return None


def _table_role(file: Path) -> str | None:
    """The split a table's name says (``sign_mnist_train``: train, ``fashion-mnist_test``: test)."""
    words = [w for w in re.split(r"[-_ .]+", file.stem.lower()) if w]
    return next((role for word in reversed(words) if (role := split_role(word)) is not None), None)


def pixel_tables(folder: Path) -> tuple[PixelTable, PixelTable | None] | None:
    """The labelled pixel tables of ``folder`` (not walked): the training one and the validation
    one (named for validation or test: ``mnist_test.csv``), or one table and None (split by its
    ``Usage`` column, else by seed); None without one. Answer sheets and unlabelled tables (Digit
    Recognizer's ``test.csv``) are not read."""
    try:
        files = sorted(Path(e.path) for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(".csv"))
    except OSError:
        return None
    tables = [
        table
        for file in files
        if not hidden(file.name) and not any(w in file.stem.lower() for w in UNLABELLED_TABLES)
        if (table := read_pixel_table(file)) is not None and table.label is not None
    ]
    if not tables:
        return None
    variants = [v for t in tables if (v := variant_of(t.file.name)) is not None]
    if variants:  # EMNIST's six variants: one, its train and test tables
        chosen = chosen_variant(variants)[0]
        tables = [t for t in tables if variant_of(t.file.name) == chosen]
    roles = {_table_role(t.file): t for t in reversed(tables)}  # the first of each role
    train = roles.get("train") or roles.get(None) or tables[0]
    val = roles.get("val") or roles.get("test")
    return train, (val if val is not train else None)


def pixel_layout(root: str | os.PathLike[str]) -> FolderLayout | None:
    """``root``'s photos stored as pixel rows (`pixel_tables`) as a layout of class folders in the
    cache (`_cached_photos`): a training and a validation table, one table split by its ``Usage``
    (FER-2013: ``Training`` trains, ``PublicTest`` validates, ``PrivateTest`` is not used), or one
    table split by seed. None when ``root`` holds no such table."""
    base = Path(root).expanduser()
    found = pixel_tables(base) if base.is_dir() else None
    if found is None:
        return None
    train_table, val_table = found
    colour = "grey" if train_table.channels == 1 else "RGB"
    labels = f"photos stored as pixel rows of {train_table.file.name} ({train_table.side}x{train_table.side} {colour})"
    parts = _cached_photos(train_table)
    notes = [f"{base}: {labels}, written once as PNG files into {parts['train'].folder.parent}"]
    if (variant := variant_of(train_table.file.name)) is not None:
        notes += emnist_notes(base, base, variant, mapping_names(base, variant))
    if val_table is not None:
        val = _cached_photos(val_table)["train"]
        kind = "train_test" if _table_role(val_table.file) == "test" else "train_val"
        lists = f"{train_table.file.name} + {val_table.file.name}"
        return FolderLayout(base, kind, parts["train"], val, notes, lists, labels)
    if "val" in parts:
        unused = parts["test"].count() if "test" in parts else 0
        notes.append(
            f"{train_table.file}: its Usage column splits it ({parts['train'].count()} train, "
            f"{parts['val'].count()} validate" + (f"; {unused} PrivateTest rows are not used)" if unused else ")")
        )
        return FolderLayout(base, "train_val", parts["train"], parts["val"], notes, "its Usage column", labels)
    return FolderLayout(parts["train"].folder, "single", parts["train"], None, notes, labels=labels, source=base)


def _usage_role(usage: str | None) -> str:
    """FER-2013's ``Usage``: ``Training`` trains, ``PublicTest`` validates, ``PrivateTest`` tests."""
    text = (usage or "train").lower()
    if "private" in text:
        return "test"
    if "public" in text:
        return "val"
    return split_role(text) or "train"


def _cached_photos(table: PixelTable) -> dict[str, ClassFiles]:
    """The table's photos in the cache (`cached_photos`), by split role: FER-2013's ``Usage``
    gives ``train``, ``val`` and ``test``; any other table's rows are all ``train``."""

    variant = variant_of(table.file.name)
    names = mapping_names(table.file.parent, variant) if variant is not None else None

    def rows() -> Iterator[tuple[int, str | None, str, np.ndarray]]:
        for number, label, usage, photo in table.rows():
            if variant is not None:  # EMNIST's photos are stored transposed (lucid.data.emnist)
                photo, label = photo.T.copy(), (names or {}).get(label or "", label)
            yield number, label, _usage_role(usage), photo

    extra = f"table|{table.side}" + ("|rgb" if table.channels == 3 else "") + ("|upright" if variant else "")
    return cached_photos([table.file], extra, rows, str(table.file))


def cached_photos(
    sources: Sequence[Path],
    extra: str,
    rows: Callable[[], Iterator[tuple[int, str | None, str, np.ndarray | bytes]]],
    what: str,
) -> dict[str, ClassFiles]:
    """Photos stored in ``sources`` as PNG files in the cache, by split role (``train``, ``val``,
    ``test``), each a `ClassFiles` of class folders (numeric labels in number order). ``rows``
    yields each photo's number, label (None or empty: not labelled, skipped), role and pixels
    (H x W grey or H x W x 3 RGB uint8, or the bytes of an encoded image file, written as they
    are under the suffix their format has); it runs once, on the first call, into a temporary folder
    renamed into place. The cache is keyed by the sources' paths, sizes and times and ``extra``;
    ``what`` names the data in errors."""
    target = keyed_cache_folder("pixels", sources, extra)
    if not target.is_dir():
        _write_photos(rows, target, what)
    found = {
        split.name: ClassFiles(split, {name: list(files) for name, files in classes}, [], "class (a label of the data)")
        for split, classes in _listing(target, target.stat().st_ino, target.stat().st_mtime_ns)
    }
    if "train" not in found and "val" not in found:
        raise DataError(f"{what}: no labelled photos to train on")
    return found


@functools.lru_cache(maxsize=16)
def _listing(target: Path, inode: int, mtime: int) -> tuple[tuple[Path, tuple[tuple[str, tuple[Path, ...]], ...]], ...]:
    """The photos of a cache folder by split and class, listed once per process (and per folder
    ``inode`` and ``mtime``: one written again is listed again): the folder is never changed once
    renamed into place (`_write_photos`), and one ``lucid train`` reads the layout several times
    (70,000 photos take seconds to list)."""
    listed = []
    for split in sorted(p for p in target.iterdir() if p.is_dir()):
        classes = sorted((p for p in split.iterdir() if p.is_dir()), key=lambda p: _label_order(p.name))
        listed.append((split, tuple((c.name, tuple(sorted(c.iterdir()))) for c in classes)))
    return tuple(listed)


def _label_order(label: str) -> tuple[int, str]:
    return (int(label), label) if label.lstrip("-").isdigit() else (1 << 62, label)


def _write_photos(
    rows: Callable[[], Iterator[tuple[int, str | None, str, np.ndarray | bytes]]], target: Path, what: str
) -> None:
    """Every labelled photo ``rows`` yields as ``<role>/<label>/<number>.png`` under ``target``,
    which appears only once all are written (`lucid.data.files.written_once`)."""
    from PIL import Image

    def write(work: Path) -> None:
        for number, label, role, photo in rows():
            if not label:
                continue
            folder = work / role / re.sub(r"[\\/:*?\"<>|]", "_", label)
            folder.mkdir(parents=True, exist_ok=True)
            if isinstance(photo, bytes):  # an encoded file, kept as it came (no second JPEG encoding)
                write_encoded(folder / f"{number:07d}", photo, what)
            else:
                Image.fromarray(photo).save(folder / f"{number:07d}.png", compress_level=1)

    written_once(target, write, what)

"""Class masks from run-length tables: Kaggle's segmentation sets that ship one CSV of masks
rather than mask images (`lucid.data.tables.read_run_table`): Airbus Ship Detection's
``train_ship_segmentations_v2.csv`` (``ImageId,EncodedPixels``, a row per ship), Severstal's
``train.csv`` (``ImageId,ClassId,EncodedPixels``), Understanding Clouds' (``Image_Label``:
``x.jpg_Fish``), Sartorius' (``id,annotation``, a row per cell).

A row's runs are ``start length`` pairs of 1-based pixel numbers. Kaggle's rule numbers the
pixels top to bottom, then left to right (column by column); other sets number them row by row
(Sartorius, Carvana), and a table does not say which. `pixel_order` decides from the data: the
right order draws compact shapes whose outlines follow the photo's edges, the wrong one streaks
or (square photos) the shapes mirrored about the diagonal, whose outlines cross the photo's
edges at random.

Each photo's rows are drawn once into a PNG class mask in lucid's mask cache
(`lucid.segment.drawn`, keyed by the table's path, size and time): value 0 the background, the
classes 1..K (sorted; numerically when they are numbers; a table without a class column is one
class, ``object``), larger objects first so a small one lying on a larger one stays visible.
numpy decodes the runs: COCO's run-length masks (faster-coco-eval) count alternating runs of
0s and 1s column by column, not start/length pairs in either order, so no library here reads
these.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lucid.data.files import IMAGE_SUFFIXES, TEST_SPLITS, TRAIN_SPLITS, VAL_SPLITS, split_child, subfolders
from lucid.data.labels import indexed, photo_index, scan_slice_id, word_roles
from lucid.data.tables import EMPTY_RUNS, RunTable, read_run_table, run_table_files
from lucid.errors import DataError
from lucid.segment.drawn import DrawnMasks, cache_folder, mask_cache_dir, save_mask, short_path, upright_size

__all__ = ["ONE_CLASS", "ORDERS", "run_masks", "has_run_table", "pixel_order", "decode_runs"]

ONE_CLASS = "object"  # the class of a table without a class column (Airbus' ships, Sartorius' cells)
ORDERS = {
    "F": "column by column (top to bottom, then left to right: Kaggle's rule)",
    "C": "row by row (left to right, then top to bottom)",
}
ORDER_SAMPLES = 16  # photos whose runs decide the pixel order
PhotoRows = dict[Path, list[tuple[str | None, str]]]  # a photo's rows: (class, runs)


def has_run_table(root: Path) -> bool:
    """Whether ``root`` holds a run-length mask table (`run_table_files`) whose first row with
    runs names a photo below it: judged by the tables' first rows and a look-up of one name."""
    for file in run_table_files(root):
        table = read_run_table(file, head=64)
        name = next((row[0] for row in table.rows if row[2] not in EMPTY_RUNS), None) if table else None
        if name is None:
            continue
        for folder in (root, split_child(root, TRAIN_SPLITS)):
            if folder is not None and _named_photo(folder, name):
                return True
    return False


def _named_photo(folder: Path, name: str) -> bool:
    """Whether ``folder`` or one of its sub-folders holds the photo ``name`` (with or without its
    suffix), or the scan slice it names (UW-Madison's ``case123_day20_slice_0001``: `scan_slice_id`)."""
    names = [name] if name.lower().endswith(IMAGE_SUFFIXES) else [name + s for s in (".png", ".jpg", ".jpeg", ".tif")]
    if any((place / n).is_file() for place in (folder, *subfolders(folder)) for n in names):
        return True
    slice_id = _SLICE_ID.fullmatch(name)
    if slice_id is None:
        return False
    case, day, number = slice_id.groups()
    scans = folder / case / f"{case}_{day}" / "scans"
    return any(scan_slice_id(photo) == name.lower() for photo in scans.glob(f"slice_{number}_*"))


_SLICE_ID = re.compile(r"(case\d+)_(day\d+)_slice_(\d+)", re.IGNORECASE)


def run_masks(root: Path) -> DrawnMasks | None:
    """``root``'s run-length table (or its training and validation tables, named for their
    splits) drawn into class masks, else None when it has none. Photos are found below the
    training folder (``train/``, ``train_images/``) when there is one, else below ``root``, by
    path, name, or name without suffix. Photos in the listed photos' folders that the table does
    not list are background alone, unless the table has rows of no pixels (then it lists every
    photo it labels, and the others are not used); both said."""
    files = run_table_files(root)
    if not files:
        return None
    train_file, val_file = _split_tables(root, files)
    tables = [table for file in (train_file, val_file) if file and (table := read_run_table(file)) is not None]
    values = _class_values(tables)
    notes: list[str] = []
    train_folder = split_child(root, TRAIN_SPLITS) or root
    grouped = [_photo_rows(tables[0], root, train_folder, notes)]
    if len(tables) > 1:
        val_folder = split_child(root, VAL_SPLITS) or split_child(root, TEST_SPLITS) or train_folder
        grouped.append(_photo_rows(tables[1], root, val_folder, notes))
    order, reason = pixel_order(_samples(grouped[0]), tables[0].file)
    pairs = [_drawn_pairs(table, rows, order, values) for table, rows in zip(tables, grouped, strict=True)]
    names = list(values)
    notes.append(
        f"{root}: masks drawn from the runs of {' + '.join(t.file.name for t in tables)} into {mask_cache_dir()} "
        f"({len(names)} {'class' if len(names) == 1 else 'classes'} + background); pixels numbered "
        f"{ORDERS[order]}: {reason}"
    )
    table = tables[0]
    columns = ", ".join(dict.fromkeys(c for c in (table.photo_column, table.class_column, table.run_column) if c))
    description = f"run-length table: {' + '.join(short_path(root, t.file) for t in tables)} ({columns})"
    return DrawnMasks(pairs[0], pairs[1] if len(pairs) > 1 else None, names, description, notes)


def _split_tables(root: Path, files: list[Path]) -> tuple[Path, Path | None]:
    """The training table and the validation table (named for the validation or test split), if any."""

    def named(role: str) -> Path | None:
        return next((f for f in files if role in word_roles(f.stem)), None)

    val = named("val") or named("test")
    train = named("train") or (files[0] if len(files) == 1 else None)
    if train is None or train == val:
        shown = ", ".join(f.name for f in files)
        raise DataError(
            f"--data {root}: run-length tables {shown}; expected one, or one named for training (train.csv) "
            "and one for validation (val.csv)"
        )
    return train, val


def _class_values(tables: Sequence[RunTable]) -> dict[str, int]:
    """Each class the tables name -> its mask value 1..K: sorted, numerically when all are numbers."""
    classes = {cls for table in tables for _, cls, _ in table.rows if cls}
    if not classes or all(table.class_column is None for table in tables):
        return {ONE_CLASS: 1}
    numeric = all(c.lstrip("-").isdigit() for c in classes)
    order = sorted(classes, key=lambda c: (int(c), c) if numeric else (0, c))
    if len(order) >= 255:
        raise DataError(f"{tables[0].file}: {len(order)} classes; 8-bit masks hold at most 254 and a void value")
    return {name: index + 1 for index, name in enumerate(order)}


def _photo_rows(table: RunTable, root: Path, folder: Path, notes: list[str]) -> PhotoRows:
    """``table``'s rows by the photo below ``folder`` each names (a name two photos have: the one in
    the folder of most of the table's photos), with the photos in the same folders that it does
    not list (no rows: background alone, or left out); notes say both."""
    index, skipped = photo_index(folder)
    looked = [(name, cls, runs, indexed(index, name)) for name, cls, runs in table.rows]
    homes = Counter(found[0].parent for *_, found in looked if len(found) == 1).most_common(1)
    rows: PhotoRows = {}
    missing: list[str] = []
    for name, cls, runs, found in looked:
        if len(found) > 1 and homes:  # train_v2/x.jpg and test_v2/x.jpg: the folder of its other photos
            found = [photo for photo in found if photo.parent == homes[0][0]] or found
        if len(found) > 1:
            shown = ", ".join(short_path(folder, p) for p in found[:2])
            raise DataError(f"{table.file}: {name!r} names several photos below {folder} ({shown}); give their paths")
        if not found:
            missing.append(name)
            continue
        rows.setdefault(found[0], [])
        if runs not in EMPTY_RUNS:
            rows[found[0]].append((cls, runs))
    if not rows:
        raise DataError(
            f"{table.file}: names {len(table.rows)} photos by its column {table.photo_column!r}, none of them below "
            f"{folder} (e.g. {missing[0]!r})"
        )
    if missing:
        notes.append(
            f"{table.file}: {len(missing)} rows name photos not below {folder}, not used (e.g. {missing[0]!r})"
        )
    places = {photo.parent for photo in rows}
    unlisted = sorted({p for paths in index.values() for p in paths if p.parent in places} - set(rows))
    where = ", ".join(f"{short_path(root, p)}/" for p in sorted(places)[:3])
    if unlisted and table.empty_rows:
        notes.append(
            f"{table.file}: {len(unlisted)} photos in {where} are in no row (it lists photos without objects "
            "too), so they are not used"
        )
    elif unlisted:
        notes.append(
            f"{table.file}: {len(unlisted)} photos in {where} are in no row, so they hold none of its "
            f"classes: trained as background alone (e.g. {unlisted[0].name})"
        )
        rows.update({photo: [] for photo in unlisted})
    notes.extend(skipped[:3])
    return rows


def _samples(rows: PhotoRows) -> list[tuple[Path, list[str]]]:
    """Up to `ORDER_SAMPLES` photos with runs, spread over the table, and their runs."""
    drawn = [(photo, [runs for _, runs in found]) for photo, found in rows.items() if found]
    step = max(1, len(drawn) // ORDER_SAMPLES)
    return drawn[::step][:ORDER_SAMPLES]


def decode_runs(runs: str, height: int, width: int, order: str, where: str) -> np.ndarray:
    """The ``height x width`` boolean mask of ``runs`` (``start length ...``, 1-based pixel
    numbers in ``order``: "F" column by column, "C" row by row); runs past the photo are a
    DataError naming ``where``."""
    words = runs.split()
    if len(words) % 2 or not all(word.isdigit() for word in words):
        shown = runs if len(runs) <= 40 else runs[:40] + "..."
        raise DataError(
            f"{where}: {shown!r} are not runs; expected pairs of whole numbers, 'start length start length ...'"
        )
    numbers = np.asarray(words, dtype=np.int64)
    starts, lengths = numbers[0::2] - 1, numbers[1::2]
    size = height * width
    ends = starts + lengths
    if starts.min() < 0 or ends.max() > size:
        raise DataError(
            f"{where}: its runs cover pixels {int(starts.min()) + 1}..{int(ends.max())}, outside the {width}x{height} "
            f"photo's pixels 1..{size}; expected 1-based runs of this photo"
        )
    steps = np.zeros(size + 1, dtype=np.int32)
    np.add.at(steps, starts, 1)
    np.add.at(steps, ends, -1)
    flat = np.cumsum(steps[:-1]) > 0
    return flat.reshape((height, width), order="F") if order == "F" else flat.reshape((height, width))


def pixel_order(samples: Sequence[tuple[Path, Sequence[str]]], source: Path | None = None) -> tuple[str, str]:
    """How the runs of ``samples`` (photo, its runs; from the table ``source``) number pixels,
    "F" column by column or "C" row by row, and how it was decided: the order whose shapes have
    the shorter outline (by a fifth); for square photos, where the wrong order mirrors the shapes
    and keeps their outline, the order whose outlines follow the photo's edges (higher contrast
    across them, by a tenth); else Kaggle's rule, column by column, said."""
    masks = [(photo, {o: _union(runs, photo, o, source) for o in ORDERS}) for photo, runs in samples]
    outline = {o: sum(_outline(drawn[o]) for _, drawn in masks) for o in ORDERS}
    short, long = sorted(ORDERS, key=lambda o: outline[o])
    if outline[short] <= 0.8 * outline[long]:
        return short, (
            f"so drawn, the runs of {len(masks)} photos outline {outline[short]:,} pixel edges, "
            f"{outline[long]:,} the other way"
        )
    contrast = {o: float(np.mean([_edge_contrast(photo, drawn[o]) for photo, drawn in masks])) for o in ORDERS}
    low, high = sorted(ORDERS, key=lambda o: contrast[o])
    if masks and contrast[low] <= 0.9 * contrast[high]:
        return high, (
            f"so drawn, the outlines of {len(masks)} photos' shapes follow their edges "
            f"(mean contrast {contrast[high]:.1f} across them, {contrast[low]:.1f} the other way)"
        )
    return "F", "the data does not tell (shapes as compact and as well aligned either way), so Kaggle's rule"


def _union(runs: Sequence[str], photo: Path, order: str, source: Path | None) -> np.ndarray:
    width, height = upright_size(photo)
    drawn = np.zeros((height, width), dtype=bool)
    where = f"{source}, the rows of {photo.name}" if source is not None else str(photo)
    for text in runs:
        drawn |= decode_runs(text, height, width, order, where)
    return drawn


def _outline(mask: np.ndarray) -> int:
    """The number of pixel edges between a pixel in ``mask`` and one outside it."""
    return int(np.count_nonzero(mask[1:] != mask[:-1]) + np.count_nonzero(mask[:, 1:] != mask[:, :-1]))


def _edge_contrast(photo: Path, mask: np.ndarray) -> float:
    """The mean grey-level difference across ``mask``'s outline in ``photo`` (0 without one)."""
    from PIL import Image, ImageOps

    with Image.open(photo) as image:
        grey = np.asarray(ImageOps.exif_transpose(image).convert("L"), dtype=np.float32)
    if grey.shape != mask.shape:
        return 0.0
    down = np.abs(grey[1:] - grey[:-1])[mask[1:] != mask[:-1]]
    across = np.abs(grey[:, 1:] - grey[:, :-1])[mask[:, 1:] != mask[:, :-1]]
    both = np.concatenate([down, across])
    return float(both.mean()) if both.size else 0.0


def _drawn_pairs(table: RunTable, rows: PhotoRows, order: str, values: dict[str, int]) -> list[tuple[Path, Path]]:
    """(photo, cached class mask) for every photo of ``rows``, in the photos' order."""
    folder = cache_folder(table.file, f"runs|{order}|{sorted(values.items())}")
    return [(photo, _drawn_mask(folder, table, photo, rows[photo], order, values)) for photo in sorted(rows)]


def _drawn_mask(
    folder: Path, table: RunTable, photo: Path, rows: list[tuple[str | None, str]], order: str, values: dict[str, int]
) -> Path:
    """The cached class mask of one photo's rows, drawn when it is not there yet."""
    width, height = upright_size(photo)
    key = hashlib.sha256(f"{photo.resolve()}|{width}x{height}".encode()).hexdigest()[:12]
    mask = folder / f"{photo.stem}-{key}.png"
    if mask.is_file():
        return mask
    where = f"{table.file}, the rows of {photo.name}"
    objects = [(_value(values, cls, where), decode_runs(runs, height, width, order, where)) for cls, runs in rows]
    drawn = np.zeros((height, width), dtype=np.uint8)
    for value, pixels in sorted(objects, key=lambda item: -int(item[1].sum())):
        drawn[pixels] = value
    save_mask(mask, drawn)
    return mask


def _value(values: dict[str, int], cls: str | None, where: str) -> int:
    """The mask value of a row's class; a row without one in a table with classes is a DataError."""
    value = values.get(cls or ONE_CLASS)
    if value is None:
        raise DataError(f"{where}: names no class; expected one of {', '.join(values)}")
    return value

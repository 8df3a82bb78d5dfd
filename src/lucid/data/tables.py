"""CSV tables that label photos, one row each (Kaggle's ``train.csv``, ``labels.csv``,
``trainLabels.csv``; HAM10000's metadata; ISIC 2018's one-hot ground truth), and text lists of
photo and class (Tiny ImageNet's ``val_annotations.txt``).

Only the table is read here: which column names the photo and which its class, by header, and
whether the rows are a classifier's labels at all (box tables, image + mask pairs, several
classes per photo and near-unique values are not). Finding the photos is `lucid.data.labels`' job.
The standard library's ``csv`` reads the rows: the files are plain CSV, and pandas is not a
dependency of lucid.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lucid.data.files import IMAGE_SUFFIXES
from lucid.errors import DataError

__all__ = [
    "PHOTO_COLUMNS",
    "LABEL_COLUMNS",
    "BOX_COLUMNS",
    "UNLABELLED_TABLES",
    "MAX_TABLE_BYTES",
    "LabelTable",
    "read_label_table",
    "read_word_table",
]

# A table that labels photos, one row each (Kaggle: train.csv, labels.csv, trainLabels.csv,
# HAM10000_metadata.csv; Label Studio's CSV export: image, id, choice ...): the column naming the
# photo and the one naming its class, by header.
PHOTO_COLUMNS = (
    "image", "image_id", "imageid", "image_name", "filename", "file_name", "file", "fname", "path", "image_path",
    "img", "id", "id_code", "name",
)  # fmt: skip
LABEL_COLUMNS = (
    "label", "labels", "class", "class_name", "classname", "category", "target", "breed", "species", "diagnosis",
    "dx", "label_name", "class_id", "y", "choice",
)  # fmt: skip
# Columns of a box table (detection's): its rows are boxes, not labels of photos.
BOX_COLUMNS = ("xmin", "ymin", "xmax", "ymax", "bbox", "x_min", "y_min", "x1", "y1", "bbox_x", "bbox_y")
# A class column whose first word is the class and the rest its boxes (Kaggle's ImageNet LOC_val_solution.csv).
FIRST_WORD_COLUMNS = ("predictionstring",)
UNLABELLED_TABLES = ("submission",)  # a competition's answer sheet (sample_submission.csv): no labels
MAX_TABLE_BYTES = 200_000_000


@dataclass
class LabelTable:
    """A table's labels: ``rows`` ``(photo name, class)`` in file order, and its columns' names."""

    file: Path
    photo_column: str
    label_column: str
    rows: list[tuple[str, str]]
    unlabelled: int = 0  # rows that name no class (a one-hot row of zeros: Roboflow's unlabelled photos)


def read_label_table(file: Path, *, first_word: bool = False) -> LabelTable | None:
    """The ``(photo, class)`` rows of a CSV table that labels photos, or None when ``file`` is not
    one: its header has no photo column (`PHOTO_COLUMNS`) or no class column (`LABEL_COLUMNS`, or
    the one other column of a two-column table), or it holds boxes (`BOX_COLUMNS`). With
    ``first_word`` (a split folder's list) a ``PredictionString`` column's first word is the class
    (Kaggle's ImageNet ``LOC_val_solution.csv``; at a data root such a table is boxes, not labels). A
    row without a photo or a class is skipped; a file that is not CSV text is a DataError naming it."""
    if file.stat().st_size > MAX_TABLE_BYTES:
        return None
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:  # the header decides before the rows are read
            first = next(csv.reader([handle.readline()]), [])
            header = [column.strip().lower() for column in first]
            if not header or any(column in BOX_COLUMNS for column in header) or _box_sides(header):
                return None
            if not any(column in PHOTO_COLUMNS for column in header):
                return None  # before the rows are read: a pixel table of 100 MB names no photo either
            rows = [first, *csv.reader(io.StringIO(handle.read(), newline=""))]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{file}: not a readable CSV table ({exc})") from None
    if len(rows) < 2:
        return None
    photo = next((header.index(c) for c in PHOTO_COLUMNS if c in header), None)
    if photo is None:
        return None
    others = [i for i in range(len(header)) if i != photo]
    columns = (*LABEL_COLUMNS, *FIRST_WORD_COLUMNS) if first_word else LABEL_COLUMNS
    label = next((header.index(c) for c in columns if c in header and header.index(c) != photo), None)
    if label is None and len(others) == 1 and header[others[0]] not in FIRST_WORD_COLUMNS:
        label = others[0]  # Kaggle's id,has_cactus: the one other column is the class
    if label is None:
        return _one_hot_table(file, rows, photo, others)
    first_word = header[label] in FIRST_WORD_COLUMNS  # Kaggle's PredictionString: "n01751748 x y x y n01751748 ..."
    found = [
        (row[photo].strip(), row[label].split()[0] if first_word else row[label].strip())
        for row in rows[1:]
        if len(row) > max(photo, label) and row[photo].strip() and row[label].strip()
    ]
    return LabelTable(file, rows[0][photo].strip(), rows[0][label].strip(), found) if _one_class_each(found) else None


def read_word_table(file: Path) -> LabelTable | None:
    """The ``(photo, class)`` of each line of a text list without a header whose first field names
    a photo (an image file name) and whose second its class, tab- or space-separated, more fields
    allowed (Tiny ImageNet's ``val_annotations.txt``: photo, class, box); None when ``file`` is not
    one (a line of one field, a first field that is no image name, or not one class per photo)."""
    if file.stat().st_size > MAX_TABLE_BYTES:
        return None
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    rows = []
    for line in lines:
        fields = [f.strip() for f in (line.split("\t") if "\t" in line else line.split())]
        if not any(fields):
            continue
        if len(fields) < 2 or not fields[0].lower().endswith(IMAGE_SUFFIXES) or not fields[1]:
            return None
        rows.append((fields[0], fields[1]))
    return LabelTable(file, "photo", "class", rows) if rows and _one_class_each(rows) else None


def _one_hot_table(file: Path, rows: list[list[str]], photo: int, others: list[int]) -> LabelTable | None:
    """A table of one column per class with 1 in the photo's class and 0 in the others (ISIC
    2018's ``image,MEL,NV,BCC,...`` ground truth), as ``(photo, class)`` rows; else None. A row of
    zeros names no class (Roboflow exports unlabelled photos so): counted, not used."""
    names = [rows[0][i].strip() for i in others]
    found = []
    unlabelled = 0
    for row in rows[1:]:
        if len(row) <= max(photo, *others) or not row[photo].strip():
            continue
        try:
            values = [float(row[i]) for i in others]
        except ValueError:
            return None
        if not any(values):
            unlabelled += 1  # a photo of no class: not used (said), not a reason to refuse the table
            continue
        if sorted(values) != [0.0] * (len(values) - 1) + [1.0]:
            return None
        found.append((row[photo].strip(), names[values.index(1.0)]))
    if len(others) < 2 or not found or not _one_class_each(found):
        return None
    return LabelTable(file, rows[0][photo].strip(), "one column per class", found, unlabelled)


def _box_sides(header: Sequence[str]) -> bool:
    """Whether a header names a box by its corner and size (``x, y, w, h``): a box table's."""
    return {"x", "y"} <= set(header) and ({"w", "h"} <= set(header) or {"width", "height"} <= set(header))


def _one_class_each(rows: Sequence[tuple[str, str]]) -> bool:
    """Whether ``rows`` give each photo one class, as a classifier's labels do: not several
    (a table of objects or masks per photo), not file names (image + mask pairs), and not nearly
    one class per photo (a measurement or an encoded mask)."""
    classes: dict[str, str] = {}
    for name, label in rows:
        if classes.setdefault(name, label) != label or label.lower().endswith(IMAGE_SUFFIXES):
            return False
    return bool(classes) and len(set(classes.values())) * 2 <= len(classes)

"""CSV tables that label photos, one row each (Kaggle's ``train.csv``, ``labels.csv``,
``trainLabels.csv``; HAM10000's metadata; ISIC 2018's one-hot ground truth), text lists of
photo and class (Tiny ImageNet's ``val_annotations.txt``), and tables of run-length masks
(Kaggle's ``ImageId,EncodedPixels``: `read_run_table`), which label pixels, not photos.

Only the table is read here: which column names the photo and which its class, by header, and
whether the rows are a classifier's labels at all (box tables, image + mask pairs, several
classes per photo and near-unique values are not). Finding the photos is `lucid.data.labels`' job.
The standard library's ``csv`` reads the rows: the files are plain CSV, and pandas is not a
dependency of lucid.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
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
    "RUN_COLUMNS",
    "RunTable",
    "read_run_table",
    "run_table_files",
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
    "dx", "label_name", "class_id", "classid", "y", "choice",
)  # fmt: skip
# Columns of a box table (detection's): its rows are boxes, not labels of photos.
BOX_COLUMNS = ("xmin", "ymin", "xmax", "ymax", "bbox", "x_min", "y_min", "x1", "y1", "bbox_x", "bbox_y")
# A class column whose first word is the class and the rest its boxes (Kaggle's ImageNet LOC_val_solution.csv).
FIRST_WORD_COLUMNS = ("predictionstring",)
# The column of a run-length mask table (Kaggle's segmentation sets): "start length start length ..."
# per row. The last three are common words, taken for runs only when some of their cells are runs.
RUN_COLUMNS = ("encodedpixels", "rle_mask", "mask_rle", "rle", "rle_encoding", "encoding", "annotation", "segmentation")
AMBIGUOUS_RUN_COLUMNS = 5  # RUN_COLUMNS from this index on
# A photo and its class in one column, "x.jpg_3" (Severstal's first train.csv), "x.jpg_Fish" (Understanding Clouds).
PHOTO_CLASS_COLUMNS = ("imageid_classid", "image_label")
RUN_CLASS_COLUMNS = ("classid", "class_id", "class", "label", "category", "category_id", "class_name")
EMPTY_RUNS = ("", "-1", "nan")  # a row of no pixels: the photo has none of the object or class (SIIM writes -1)
_RUNS = re.compile(r"\d+(?:\s+\d+)+")
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
    if file.suffix.lower() == ".jsonl":
        rows = _json_lines(file)
        header = [column.strip().lower() for column in rows[0]] if rows else []
        if not header or any(column in BOX_COLUMNS for column in header) or _box_sides(header):
            return None
        if not any(column in PHOTO_COLUMNS for column in header):
            return None
        return _label_rows(file, header, rows, first_word)
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
    return _label_rows(file, header, rows, first_word)


def _json_lines(file: Path) -> list[list[str]]:
    """A JSON-lines file of flat objects as CSV rows: the first object's keys, then each object's
    values under them (the ``datasets`` library's ImageFolder ``metadata.jsonl``: ``{"file_name":
    "0001.png", "label": "cat"}``); no rows when its first line is no flat object. A line that is
    not JSON is a DataError naming it."""
    rows: list[list[str]] = []
    with file.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{file}:{number}: not a line of JSON ({exc})") from None
            if not isinstance(item, dict) or any(isinstance(v, (dict, list)) for v in item.values()):
                return []  # nested values (objects with boxes) are not a label table
            if not rows:
                rows.append([str(key) for key in item])
            rows.append(["" if item.get(key) is None else str(item.get(key)) for key in rows[0]])
    return rows


def _label_rows(file: Path, header: list[str], rows: list[list[str]], first_word: bool) -> LabelTable | None:
    """`read_label_table` once a table's rows are read (``rows[0]`` its header as written)."""
    if len(rows) < 2 or _run_column(header, rows[1:]) is not None:
        return None  # a run-length mask table labels pixels (segmentation's), not photos
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


def read_word_table(file: Path, *, suffixed: bool = True) -> LabelTable | None:
    """The ``(photo, class)`` of each line of a text list without a header whose first field names
    a photo (an image file name) and whose second its class, tab- or space-separated, more fields
    allowed (Tiny ImageNet's ``val_annotations.txt``: photo, class, box); None when ``file`` is not
    one (a line of one field, a first field that is no image name, or not one class per photo).
    Without ``suffixed`` the first field is a photo's name without its suffix and the class is the
    rest of the line, spaces and all (FGVC-Aircraft's ``1025794 Boeing 717``)."""
    if file.stat().st_size > MAX_TABLE_BYTES:
        return None
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    rows = []
    for line in lines:
        fields = [f.strip() for f in (line.split("\t") if "\t" in line else line.split())]
        if not suffixed:
            fields = [f.strip() for f in line.strip().split(None, 1)]
        if not any(fields):
            continue
        named = fields[0].lower().endswith(IMAGE_SUFFIXES)
        if len(fields) < 2 or named != suffixed or not fields[1]:
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


@dataclass
class RunTable:
    """A run-length mask table: ``rows`` ``(photo name, class or None, runs)`` in file order, the
    runs as written (``""`` for a row of no pixels), and the header's names of its columns."""

    file: Path
    photo_column: str
    class_column: str | None
    run_column: str
    rows: list[tuple[str, str | None, str]]

    @property
    def empty_rows(self) -> int:
        """Rows of no pixels: a table that has them lists every photo it labels (Airbus writes
        one for a photo without ships), so a photo it does not list is not known to be empty."""
        return sum(runs in EMPTY_RUNS for _, _, runs in self.rows)


def read_run_table(file: Path, *, head: int | None = None) -> RunTable | None:
    """The rows of a run-length mask table (Kaggle's ``ImageId,EncodedPixels`` of Airbus Ship
    Detection, ``ImageId,ClassId,EncodedPixels`` of Severstal, ``Image_Label,EncodedPixels`` of
    Understanding Clouds, ``img,rle_mask`` of Carvana, ``id,annotation,...`` of Sartorius), or None
    when ``file`` is not one: no photo column, no column of runs (`RUN_COLUMNS`) whose non-empty
    cells in the first rows are all ``start length`` pairs. ``head`` reads that many rows only (a
    quick look); a file that is not CSV text is a DataError naming it."""
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            first = next(reader, [])
            header = [column.strip().lower() for column in first]
            if not any(c in RUN_COLUMNS for c in header):
                return None  # decided before any row is read
            rows = []
            for row in reader:
                rows.append(row)
                if head is not None and len(rows) >= head:
                    break
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{file}: not a readable CSV table ({exc})") from None
    runs = _run_column(header, rows)
    combined = next((header.index(c) for c in PHOTO_CLASS_COLUMNS if c in header), None)
    photo = combined if combined is not None else next((header.index(c) for c in PHOTO_COLUMNS if c in header), None)
    if runs is None or photo is None or photo == runs:
        return None
    label = next(
        (header.index(c) for c in RUN_CLASS_COLUMNS if c in header and header.index(c) not in (photo, runs)), None
    )
    found = []
    for row in rows:
        if len(row) <= max(photo, runs, -1 if label is None else label) or not row[photo].strip():
            continue
        name, cls = row[photo].strip(), None if label is None else row[label].strip()
        if combined is not None:
            name, _, cls = name.rpartition("_")
        cell = row[runs].strip()
        found.append((name, cls, "" if cell.lower() in EMPTY_RUNS else cell))  # NaN, -1: no pixels
    class_column = first[label].strip() if label is not None else None
    class_column = first[combined].strip() if combined is not None else class_column  # "x.jpg_Fish": after its last _
    return RunTable(file, first[photo].strip(), class_column, first[runs].strip(), found) if found else None


def run_table_files(folder: Path) -> list[Path]:
    """The CSV files directly in ``folder`` that are run-length mask tables (`read_run_table`,
    judged by their header and first rows), sorted; answer sheets (``sample_submission.csv``) are not."""
    try:
        files = sorted(Path(e.path) for e in os.scandir(folder) if e.is_file() and e.name.lower().endswith(".csv"))
    except OSError:
        return []
    return [
        file
        for file in files
        if not file.name.startswith(".")
        and not any(w in file.stem.lower() for w in UNLABELLED_TABLES)
        and read_run_table(file, head=64) is not None
    ]


def _run_column(header: Sequence[str], rows: Sequence[Sequence[str]], look: int = 64) -> int | None:
    """The index of the column of ``header`` (`RUN_COLUMNS`) named for runs (``EncodedPixels``), or
    named by a common word (``annotation``) whose non-empty cells in the first ``look`` rows are
    all runs (an even count of whole numbers), at least one of them; else None."""
    for name in RUN_COLUMNS:
        if name not in header:
            continue
        index = header.index(name)
        cells = [row[index].strip() for row in rows[:look] if len(row) > index]
        filled = [cell for cell in cells if cell.lower() not in EMPTY_RUNS]
        if RUN_COLUMNS.index(name) < AMBIGUOUS_RUN_COLUMNS:
            return index  # named for runs (Airbus' first rows may all be empty; a bad cell is said when drawn)
        if filled and all(_RUNS.fullmatch(cell) and len(cell.split()) % 2 == 0 for cell in filled):
            return index
    return None

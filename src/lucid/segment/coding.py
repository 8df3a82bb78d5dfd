"""How a segmentation data set's masks code its classes, and reading a mask by that coding.

A mask's pixel value is its class unless the data says otherwise:

- a colour table at the data root (`read_colour_table`: Kaggle's CamVid ``class_dict.csv``, CVAT's
  ``labelmap.txt``, CamVid's ``label_colors.txt``) for colour-coded masks;
- class names (`read_class_names`: ``classes.txt``, ``classes.json``, Roboflow's ``_classes.csv``);
- ADE20K's ``objectInfo150`` (`read_object_info`), Oxford-IIIT Pet's trimaps (`trimap_coding`),
  Cityscapes' label ids (`cityscapes_coding`), black-and-white masks (`binary_coding`,
  `two_level_jpeg` for JPEG ones).

Each coding is a `ColourTable`, recorded in checkpoints, so ``lucid eval`` and int8 calibration
read masks as training did. `read_mask` decodes one file through it. Finding the images and masks
is `lucid.segment.data`'s job.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lucid.data.files import distinct_names, names_file_text
from lucid.errors import DataError

__all__ = [
    "DEFAULT_IGNORE_INDEX",
    "LOSSY_MASK_SUFFIXES",
    "CLASS_FILES",
    "mapillary_coding",
    "COLOUR_TABLE",
    "COLOUR_TABLES",
    "LABEL_MAP",
    "LABEL_COLORS",
    "VOID_NAMES",
    "void_last",
    "OBJECT_INFO",
    "BINARY_NAMES",
    "ColourTable",
    "read_mask",
    "read_colour_table",
    "read_label_map",
    "mask_colours",
    "binary_coding",
    "two_level_jpeg",
    "trimap_coding",
    "read_object_info",
    "cityscapes_coding",
    "read_class_names",
]

DEFAULT_IGNORE_INDEX = 255  # the void value: counted in neither the loss nor the metrics
LOSSY_MASK_SUFFIXES = (".jpg", ".jpeg")
# Optional files at the data root naming the classes: a JSON list (or {"classes": [...]}) or one name per line;
# Roboflow's _classes.csv ("Pixel Value, Class"); fast.ai CamVid's codes.txt (one per line, the last "Void").
CLASS_FILES = ("classes.json", "classes.txt", "_classes.csv", "codes.txt")
# A colour table for colour-coded masks: name,r,g,b per class in index order (Kaggle's CamVid).
COLOUR_TABLE = "class_dict.csv"
COLOUR_TABLES = (COLOUR_TABLE, "class_dict_seg.csv")  # class_dict_seg.csv: Kaggle's Semantic Drone Dataset
LABEL_MAP = "labelmap.txt"  # CVAT's colour table (its "Segmentation mask" export)
LABEL_COLORS = "label_colors.txt"  # CamVid's colour table ("r g b name" lines), also CVAT's "CamVid 1.0" export's
VOID_NAMES = ("void", "unlabelled", "unlabeled", "ignore")  # a colour-table row so named marks void pixels
# ADE20K's table of its classes (SceneParsing's objectInfo150.txt: Idx, Ratio, Train, Val, Name): mask
# value Idx is the class Name, and 0 ("other objects") is not scored.
OBJECT_INFO = ("objectInfo150.txt", "objectInfo150.csv")
# Black-and-white masks: 0 is the background, 255 (or, in JPEG, any level from 128 up) the one
# class; not 255 = void, which would leave nothing to learn.
BINARY_NAMES = ("background", "foreground")
JPEG_MIDDLE_SHARE = 0.05  # a two-level JPEG mask set: at most this share of pixels between 64 and 191
JPEG_LEVEL_SHARE = 0.02  # ... and at most this share at any one dark level but black (a class value fills more)


def read_mask(path: str | os.PathLike[str], colours: ColourTable | None = None) -> torch.Tensor:
    """An ``(H, W)`` uint8 class mask from a one-channel lossless image, or from a colour-coded one
    when ``colours`` (a ``class_dict.csv``: `read_colour_table`) says which colour is which class;
    a table with ``label_ids`` (Cityscapes' label-id masks) turns one-channel values into classes.

    Modes ``L`` and ``P`` (a palette PNG gives its indices, not colours: the reason PIL is used
    rather than torchvision.io), ``1`` (0/1), 16- or 32-bit integer masks whose values fit 0..255,
    and RGB/RGBA/LA files whose colour channels are equal (grey masks saved as colour). Masks coded
    by colour are refused with a message: their class of each colour is not in the file.
    """
    file = Path(path)
    mask, by_colour = _mask_file(file, colours)
    if colours is not None and colours.label_ids is not None and not by_colour:
        return colours.classes_of_ids(mask, file)
    return mask


def _mask_file(file: Path, colours: ColourTable | None) -> tuple[torch.Tensor, bool]:
    """`read_mask`'s pixels of ``file``, and whether ``colours`` decoded them from colours."""
    from PIL import Image, ImageOps

    if file.suffix.lower() in LOSSY_MASK_SUFFIXES:
        if colours is None or colours.label_ids is None:
            raise DataError(
                f"{file}: a JPEG mask; masks must be lossless (PNG), JPEG changes class values at edges (a data set "
                "of black-and-white JPEG masks is read by a threshold)"
            )
        return _jpeg_levels(file), False
    try:
        with Image.open(file) as opened:
            image = ImageOps.exif_transpose(opened)  # a mask that carries an orientation turns with it
            mode = image.mode
            array = np.asarray(image)
    except OSError as exc:
        raise DataError(f"{file}: not a readable mask image: {exc}") from None
    # Colour-coded: RGB, or a palette image whose palette holds the table's colours (CVAT's masks).
    if colours is not None and colours.label_ids is None and mode in ("RGB", "RGBA", "P"):
        with Image.open(file) as opened:
            return colours.classes_of(np.asarray(ImageOps.exif_transpose(opened).convert("RGB")), file), True
    if mode in ("L", "P"):
        return torch.from_numpy(array.astype(np.uint8, copy=True)), False
    if mode == "F":
        raise DataError(
            f"{file}: a floating-point mask (one channel, PIL mode F); class values must be whole numbers "
            "0..255 (save the mask as an 8-bit PNG)"
        )
    if mode == "1" or mode.startswith("I"):
        if array.size and (array.min() < 0 or array.max() > 255):
            raise DataError(
                f"{file}: a {mode} mask with values {int(array.min())}..{int(array.max())}; "
                "class values must be 0..255 (8-bit)"
            )
        return torch.from_numpy(array.astype(np.uint8)), False
    if mode in ("RGB", "RGBA", "LA") and array.ndim == 3:
        channels = array[..., :3] if mode != "LA" else array[..., :1]
        if all(np.array_equal(channels[..., 0], channels[..., c]) for c in range(1, channels.shape[-1])):
            return torch.from_numpy(np.ascontiguousarray(channels[..., 0], dtype=np.uint8)), False
    raise DataError(
        f"{file}: a mask must have one channel whose values are the classes (PNG mode L or P); found mode "
        f"{mode} with different colour channels (for colour-coded masks put a {COLOUR_TABLE} with the columns "
        "name,r,g,b at the data root)"
    )


def _jpeg_levels(file: Path) -> torch.Tensor:
    """The grey levels of a JPEG mask (colour JPEGs averaged to grey: their channels differ
    slightly after compression), turned upright as its image is."""
    from PIL import Image, ImageOps

    try:
        with Image.open(file) as opened:
            grey = ImageOps.exif_transpose(opened).convert("L")
            return torch.from_numpy(np.array(grey, dtype=np.uint8))
    except OSError as exc:
        raise DataError(f"{file}: not a readable mask image: {exc}") from None


def binary_coding(names: Sequence[str] = BINARY_NAMES, *, threshold: bool = False) -> ColourTable:
    """Black-and-white masks as two classes: value 0 (with ``threshold``, 0..127) is ``names[0]``
    and 255 (128..255) ``names[1]``; drawn black and white as they are stored."""
    low, high = (list(range(128)), list(range(128, 256))) if threshold else ([0], [DEFAULT_IGNORE_INDEX])
    return ColourTable(list(names), [(0, 0, 0), (255, 255, 255)], [], [low, high], [])


def two_level_jpeg(pairs: Sequence[tuple[Path, Path]], where: Path) -> ColourTable | None:
    """How JPEG masks are read: None when the masks are not JPEG; black-and-white ones (some
    white, and JPEG's blur at edges only: at most `JPEG_MIDDLE_SHARE` of the pixels between 64
    and 191, twice that between 1 and 63 and `JPEG_LEVEL_SHARE` at any one of those levels:
    Kvasir-SEG's) as `binary_coding` with a threshold at 128. Other JPEG masks (class values
    1, 2, 3 ... fill regions at a few dark levels) are a DataError: compression changes class
    values, so they cannot be read back."""
    jpeg = [mask for _, mask in pairs if mask.suffix.lower() in LOSSY_MASK_SUFFIXES]
    if not jpeg:
        return None
    counts = np.zeros(256, dtype=np.int64)
    for mask in jpeg:
        counts += np.bincount(_jpeg_levels(mask).numpy().reshape(-1), minlength=256)
    share = counts / max(int(counts.sum()), 1)
    # Black and white compressed: a little blur at the edges, spread over many levels. Class values
    # (1, 2, 3 ...) fill regions instead: many pixels near black, and at a few levels.
    middle, dark = float(share[64:192].sum()), share[1:64]
    if (
        middle > JPEG_MIDDLE_SHARE
        or dark.sum() > 2 * JPEG_MIDDLE_SHARE
        or dark.max() > JPEG_LEVEL_SHARE
        or not counts[192:].any()
    ):
        grey = 1 - share[0] - share[192:].sum()
        raise DataError(
            f"{where}: the masks are JPEG ({jpeg[0].name}) and not black and white ({grey:.1%} of the pixels "
            "neither black nor white); masks must be lossless (PNG): JPEG changes class values at edges"
        )
    return binary_coding(threshold=True)


@dataclass(frozen=True)
class ColourTable:
    """How a data set's masks code its classes. Colour-coded masks (a ``class_dict.csv``):
    ``colours[i]`` is class ``names[i]``; ``void`` colours (rows named void / unlabelled / ignore)
    become the void value 255. One-channel masks of label ids (Cityscapes', `cityscapes_coding`):
    ``label_ids[i]`` are class i's ids, ``void_ids`` void; the colours then only draw predictions."""

    names: list[str]
    colours: list[tuple[int, int, int]]
    void: list[tuple[int, int, int]] = field(default_factory=list)
    # One-channel masks of label ids (Cityscapes' labelIds): class i's ids, and the void ids.
    label_ids: list[list[int]] | None = None
    void_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "names": list(self.names),
            "colours": [list(c) for c in self.colours],
            "void": [list(c) for c in self.void],
        }
        if self.label_ids is not None:
            record.update(label_ids=[list(ids) for ids in self.label_ids], void_ids=list(self.void_ids))
        return record

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColourTable:
        def rgb(values: Sequence[Any]) -> tuple[int, int, int]:
            return int(values[0]), int(values[1]), int(values[2])

        ids = data.get("label_ids")
        return cls(
            list(data["names"]),
            [rgb(c) for c in data["colours"]],
            [rgb(c) for c in data.get("void", [])],
            None if ids is None else [[int(i) for i in group] for group in ids],
            [int(i) for i in data.get("void_ids", [])],
        )

    def classes_of_ids(self, ids: torch.Tensor, file: Path) -> torch.Tensor:
        """Class indices of a one-channel mask of label ids (void ids: the void value 255); an id
        that is neither a class's nor void is an error naming it."""
        lookup = np.full(256, -1, dtype=np.int16)
        for index, group in enumerate(self.label_ids or []):
            lookup[group] = index
        lookup[self.void_ids] = DEFAULT_IGNORE_INDEX
        classes = lookup[ids.numpy()]
        unknown = classes < 0
        if unknown.any():
            values = sorted({int(v) for v in ids.numpy()[unknown][:1000]})
            raise DataError(
                f"{file}: {int(unknown.sum())} pixels have label ids that are no class's (e.g. {values[:5]})"
            )
        return torch.from_numpy(classes.astype(np.uint8))

    def palette(self, default: np.ndarray) -> np.ndarray:
        """``default`` ``(256, 3)`` colours with the table's: class i's colour, and the void value's."""
        colours = np.array(default, dtype=np.uint8, copy=True)
        for index, colour in enumerate(self.colours):
            colours[index] = colour
        if self.void:
            colours[DEFAULT_IGNORE_INDEX] = self.void[0]
        return colours

    def classes_of(self, rgb: np.ndarray, file: Path) -> torch.Tensor:
        """Class indices of an ``(H, W, 3)`` colour mask; a colour not in the table is an error naming it."""
        entries = [*self.colours, *self.void]
        values = np.array([*range(len(self.colours)), *[DEFAULT_IGNORE_INDEX] * len(self.void)], dtype=np.uint8)
        codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
        table = np.array([(r << 16) | (g << 8) | b for r, g, b in entries], dtype=np.int64)
        order = np.argsort(table)
        position = np.clip(np.searchsorted(table[order], codes), 0, len(table) - 1)
        known = table[order][position] == codes
        if not known.all():
            rows, cols = np.nonzero(~known)
            unknown = sorted({tuple(int(v) for v in rgb[i, j]) for i, j in zip(rows[:1000], cols[:1000], strict=True)})
            raise DataError(
                f"{file}: {int((~known).sum())} pixels have colours that are not in the colour table ({COLOUR_TABLE}, "
                f"{LABEL_MAP} or {LABEL_COLORS}) "
                f"(e.g. {unknown[:3]}); add them as classes"
            )
        return torch.from_numpy(values[order[position]])


def read_colour_table(root: str | os.PathLike[str], *, values: bool = False) -> ColourTable | None:
    """The ``class_dict.csv`` at the data root (columns ``name,r,g,b``, one row per class in
    class-index order: Kaggle's CamVid format; ``class_dict_seg.csv``: the Semantic Drone
    Dataset's), else CVAT's ``labelmap.txt`` (`read_label_map`), else CamVid's ``label_colors.txt``,
    else a ``classes.json`` of colours (`_json_colour_table`), or None without any. Rows
    named void, unlabelled or ignore are the void colour, not classes. With ``values`` the table
    names one-channel masks' values instead: row i is mask value i, a void row's value void (the
    Semantic Drone Dataset's ``label_images_semantic/``, whose first row, ``unlabeled``, is value
    0: ``label_ids`` then map values to classes); where every void row follows the classes, the
    class positions are the values already and the plain table is returned (a value past the
    rows is then judged void or not by `resolve_classes`, as without a table)."""
    folder = Path(root).expanduser()
    file = next((folder / name for name in COLOUR_TABLES if (folder / name).is_file()), None)
    if file is None:
        return (
            read_label_map(folder / LABEL_MAP)
            or _label_colors(folder / LABEL_COLORS, values)
            or _json_colour_table(folder / "classes.json", values)
        )
    return _colour_rows(file, names_file_text(file), values)


def _label_colors(file: Path, values: bool) -> ColourTable | None:
    """CamVid's ``label_colors.txt`` (``64 128 64\tAnimal``: a colour and its class per line, in
    order; CVAT's "CamVid 1.0" export writes the same) as a colour table through
    `read_colour_table`'s rules; None without the file."""
    import csv
    import io

    if not file.is_file():
        return None
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "r", "g", "b"])
    for line, text in enumerate(names_file_text(file).splitlines(), 1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        found = re.fullmatch(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S.*?)\s*", text)
        if found is None:
            raise DataError(f"{file}:{line}: expected 'r g b name', got {text.strip()!r}")
        writer.writerow([found.group(4), *found.group(1, 2, 3)])
    return _colour_rows(file, out.getvalue(), values)


def _colour_rows(file: Path, text: str, values: bool) -> ColourTable:
    """`read_colour_table` of a ``name,r,g,b`` table's ``text`` (read from ``file``)."""
    import csv
    import io

    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:  # e.g. a field larger than csv's field size limit
        raise DataError(f"{file}: not a readable name,r,g,b table ({exc})") from None
    names: list[str] = []
    colours: list[tuple[int, int, int]] = []
    void: list[tuple[int, int, int]] = []
    class_rows: list[int] = []
    void_rows: list[int] = []
    for line, row in enumerate(rows, 2):
        fields = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        try:
            r, g, b = (int(fields[c]) for c in ("r", "g", "b"))
        except (KeyError, ValueError):
            r = g = b = -1
        if not all(0 <= v <= 255 for v in (r, g, b)) or not fields.get("name"):
            raise DataError(f"{file}:{line}: expected the columns name,r,g,b with 0..255 colours, got {dict(row)}")
        if fields["name"].lower() in VOID_NAMES:
            void.append((r, g, b))
            void_rows.append(line - 2)
        else:
            names.append(fields["name"])
            colours.append((r, g, b))
            class_rows.append(line - 2)
    if not 0 < len(colours) < DEFAULT_IGNORE_INDEX or len(set(colours + void)) != len(colours) + len(void):
        raise DataError(f"{file}: expected 1..254 classes with distinct colours, got {len(rows)} rows")
    if values and void_rows and min(void_rows) < max(class_rows):
        # A void row before a class row: values from there on are not the class positions. 255,
        # where no row is, is void as everywhere (a border drawn around objects).
        void_rows += [DEFAULT_IGNORE_INDEX] if len(rows) <= DEFAULT_IGNORE_INDEX else []
        return ColourTable(names, colours, void, [[row] for row in class_rows], void_rows)
    return ColourTable(names, colours, void)


def _json_colour_table(file: Path, values: bool) -> ColourTable | None:
    """A ``classes.json`` that gives each class a colour (Humans in the Loop's and Supervisely's
    ``{"classes": [{"title": "Water", "color": "#E2A929"}, ...]}``) as a colour table in its order,
    through `read_colour_table`'s rules (as if its rows were a ``class_dict.csv``'s); None without
    such a file (a plain list of names is `read_class_names`')."""
    if not file.is_file():
        return None
    try:
        data = json.loads(names_file_text(file))
    except json.JSONDecodeError as exc:
        raise DataError(f"{file}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    entries = data.get("classes") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "color" in e for e in entries):
        return None
    rows = []
    for number, entry in enumerate(entries, 1):
        colour = str(entry.get("color", "")).lstrip("#")
        name = str(entry.get("title") or entry.get("name") or "").strip()
        if not re.fullmatch(r"[0-9A-Fa-f]{6}", colour) or not name:
            raise DataError(f"{file}: class {number} needs a title and a #RRGGBB color, got {entry}")
        rows.append(f"{name},{int(colour[0:2], 16)},{int(colour[2:4], 16)},{int(colour[4:6], 16)}")
    return _colour_rows(file, "name,r,g,b\n" + "\n".join(rows), values)


def read_label_map(file: Path) -> ColourTable | None:
    """CVAT's ``labelmap.txt`` (its "Segmentation mask" export: ``label:r,g,b:parts:actions`` per
    line, ``#`` comments), as a colour table in the file's order; None without one. A label named
    void, unlabelled or ignore is the void colour."""
    if not file.is_file():
        return None
    names: list[str] = []
    colours: list[tuple[int, int, int]] = []
    void: list[tuple[int, int, int]] = []
    for line, text in enumerate(names_file_text(file).splitlines(), 1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        name, _, rest = text.partition(":")
        try:
            r, g, b = (int(v) for v in rest.split(":")[0].split(","))
        except ValueError:
            r = g = b = -1
        if not name.strip() or not all(0 <= v <= 255 for v in (r, g, b)):
            raise DataError(f"{file}:{line}: expected label:r,g,b:parts:actions, got {text.strip()!r}")
        (void if name.strip().lower() in VOID_NAMES else colours).append((r, g, b))
        if name.strip().lower() not in VOID_NAMES:
            names.append(name.strip())
    if not 0 < len(colours) < DEFAULT_IGNORE_INDEX or len(set(colours + void)) != len(colours) + len(void):
        raise DataError(f"{file}: expected 1..254 labels with distinct colours, got {len(colours) + len(void)}")
    return ColourTable(distinct_names(names, file), colours, void)


def mask_colours(folder: Path, recorded: Any = None) -> ColourTable | None:
    """The colour table that decodes ``folder``'s masks: the one a checkpoint recorded from its
    training data when it names one-channel values (``recorded["colours"]``,
    `SegmentationDataInfo.colours`), else ``folder``'s own ``class_dict.csv`` (or its parent's, for
    a split folder), else the recorded one, else None (masks hold class values).
    ``lucid eval`` and int8 calibration read masks through it, as training did."""
    kept = recorded.get("colours") if isinstance(recorded, dict) else None
    if kept and kept.get("label_ids") is not None:  # one-channel values named by a table: as training read them
        return ColourTable.from_dict(kept)
    table = read_colour_table(folder) or read_colour_table(folder.parent)
    if table is None and kept:
        table = ColourTable.from_dict(kept)
    return table


def trimap_coding() -> ColourTable:
    """Oxford-IIIT Pet's trimaps as its README defines them: value 1 the pet, 2 the background,
    3 "not classified" (the border between them), which is void."""
    return ColourTable(["pet", "background"], [(220, 20, 60), (0, 0, 0)], [(255, 255, 255)], [[1], [2]], [3])


def read_object_info(folder: Path) -> ColourTable | None:
    """ADE20K's class table at the data root (`OBJECT_INFO`: tab- or comma-separated, with the
    columns ``Idx`` and ``Name``; a name's first synonym names the class): mask value ``Idx``
    is that class and 0 ("other objects", not scored by the benchmark) is void. None without one."""
    import csv
    import io

    file = next((folder / name for name in OBJECT_INFO if (folder / name).is_file()), None)
    if file is None:
        return None
    text = names_file_text(file)
    delimiter = "\t" if "\t" in text.partition("\n")[0] else ","
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise DataError(f"{file}: not a readable Idx/Name table ({exc})") from None
    ids, names = [], []
    for line, row in enumerate(rows, 2):
        fields = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        name = re.split(r"[,;]", fields.get("name", ""))[0].strip()
        index = fields.get("idx", "")
        if not index.isdigit() or not 0 < int(index) < DEFAULT_IGNORE_INDEX or not name:
            raise DataError(f"{file}:{line}: expected the columns Idx (1..254) and Name, got {dict(row)}")
        ids.append(int(index))
        names.append(name)
    if not ids or len(set(ids)) != len(ids):
        raise DataError(f"{file}: expected one row per class with distinct Idx values, got {len(rows)} rows")
    order = sorted(range(len(ids)), key=ids.__getitem__)
    # Two classes whose first synonyms agree keep their numbers apart, so their metrics stay apart.
    named = [names[i] if names.count(names[i]) == 1 else f"{names[i]}_{ids[i]}" for i in order]
    return ColourTable(named, [], [], [[ids[i]] for i in order], [0])


def cityscapes_coding(label_ids: bool) -> ColourTable:
    """Cityscapes' 19 training classes from torchvision's class table (``Cityscapes.classes``):
    names and colours in train-id order, black for void; with ``label_ids``, which of the 34 label
    ids each class is, every other id void (cityscapesscripts' ``labelTrainIds``)."""
    from torchvision.datasets import Cityscapes

    trained = sorted(
        (c for c in Cityscapes.classes if 0 <= c.train_id < DEFAULT_IGNORE_INDEX), key=lambda c: c.train_id
    )
    names, colours = [c.name for c in trained], [tuple(c.color) for c in trained]
    if not label_ids:
        return ColourTable(names, colours, [(0, 0, 0)])
    void_ids = sorted(c.id for c in Cityscapes.classes if c.id >= 0 and c not in trained)
    return ColourTable(names, colours, [(0, 0, 0)], [[c.id] for c in trained], void_ids)


MAPILLARY_VOID = "void--unlabeled"  # Mapillary Vistas' unlabelled pixels: not scored


def mapillary_coding(config: Path) -> ColourTable:
    """Mapillary Vistas' label values from its ``config_v*.json``: value i is ``labels[i]``, named
    by its ``readable`` name and drawn in its ``color``; ``void--unlabeled`` is void. A config
    that is not such a list is a DataError naming it."""
    try:
        labels = json.loads(names_file_text(config))["labels"]
        found = [(str(item["name"]), str(item.get("readable") or item["name"]), item["color"]) for item in labels]
        colours = [(int(c[0]), int(c[1]), int(c[2])) for _, _, c in found]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise DataError(f"{config}: not Mapillary's config (a 'labels' list of name, readable, color): {exc}") from None
    kept = [i for i, (name, _, _) in enumerate(found) if name != MAPILLARY_VOID]
    void = [i for i, (name, _, _) in enumerate(found) if name == MAPILLARY_VOID]
    return ColourTable([found[i][1] for i in kept], [colours[i] for i in kept], [(0, 0, 0)], [[i] for i in kept], void)


def read_class_names(root: str | os.PathLike[str]) -> list[str] | None:
    """Class names from ``classes.json`` / ``classes.txt`` at the data root, if there is one."""
    folder = Path(root).expanduser()
    for name in CLASS_FILES:
        file = folder / name
        if not file.is_file():
            continue
        text = names_file_text(file)
        if name.endswith(".csv"):
            names = _pixel_value_names(text, file)
        elif name.endswith(".json"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError(f"{file}:{exc.lineno}: not valid JSON ({exc.msg})") from None
            data = data.get("classes") if isinstance(data, dict) else data
            if not isinstance(data, list):
                raise DataError(f'{file}: expected a JSON list of class names (or {{"classes": [...]}})')
            names = [str(c) for c in data]
        else:
            names = [line.strip() for line in text.splitlines() if line.strip()]
        return _checked_names(names, file)
    return None


def void_last(names: Sequence[str]) -> tuple[list[str], int | None]:
    """``names`` less a last name that is void (`VOID_NAMES`: fast.ai CamVid's ``codes.txt`` ends
    with ``Void``), and that name's value, the void one; else ``names`` and None."""
    if len(names) > 1 and str(names[-1]).strip().lower() in VOID_NAMES:
        return list(names[:-1]), len(names) - 1
    return list(names), None


def _pixel_value_names(text: str, file: Path) -> list[str]:
    """The class names of Roboflow's ``_classes.csv`` (``Pixel Value, Class`` rows): the name of
    mask value i at position i; the values must be 0..K-1, each once."""
    import csv
    import io

    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if any(cell.strip() for cell in row)]
    named: dict[int, str] = {}
    for line, row in enumerate(rows[1:], 2):
        value = row[0].strip() if row else ""
        if len(row) < 2 or not value.isdigit() or int(value) in named:
            raise DataError(f"{file}:{line}: expected a new pixel value and its class name, got {row}")
        named[int(value)] = row[1].strip()
    if sorted(named) != list(range(len(named))):
        raise DataError(f"{file}: pixel values {sorted(named)[:10]} are not 0..{len(named) - 1}, one class each")
    return [named[value] for value in range(len(named))]


def _checked_names(names: list[str], file: Path) -> list[str]:
    """``names`` when they can name the values of 8-bit masks: distinct, and at most 255 of them."""
    distinct_names(names, file)
    if len(names) > DEFAULT_IGNORE_INDEX:
        raise DataError(
            f"{file} names {len(names):,} classes; 8-bit masks hold at most {DEFAULT_IGNORE_INDEX} classes and a "
            "void value"
        )
    return names

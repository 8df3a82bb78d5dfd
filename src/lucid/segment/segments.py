"""Class masks derived from mask images that hold objects or segments rather than classes.

- One mask image per object (Kaggle's Data Science Bowl 2018: ``<id>/images/<id>.png`` +
  ``<id>/masks/*.png``): each photo's objects are one class, their union (`object_masks`).
- COCO panoptic segmentation (``annotations/panoptic_*.json`` + one segment PNG per photo, its
  RGB the segment id ``R + 256 G + 256² B``), read as semantic segmentation (`panoptic_masks`):
  each segment's category is its pixels' class, value k the k-th category by id (0..K-1: its
  stuff categories cover the scene, so there is no background class), and unlabelled pixels
  (segment id 0, or an id the photo's ``segments_info`` does not list) the void value 255,
  ignored by training and metrics.

Both are written once into the cache of `lucid.segment.drawn`, as outlines are.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from lucid.data.files import IMAGE_SUFFIXES, child_folder, distinct_names, subfolders, walk_images
from lucid.detect.formats import read_json
from lucid.errors import DataError
from lucid.segment.coding import BINARY_NAMES, DEFAULT_IGNORE_INDEX
from lucid.segment.drawn import (
    DrawnMasks,
    cache_folder,
    cached_mask,
    listed_file,
    mask_cache_dir,
    photo_sizes,
    save_mask,
    short_path,
)

__all__ = ["object_masks", "object_mask_folder", "panoptic_masks", "panoptic_files"]

PANOPTIC_PREFIX = "panoptic_"  # COCO's annotations/panoptic_train2017.json + panoptic_train2017/


def panoptic_files(root: Path) -> dict[str, Path]:
    """``root``'s COCO panoptic files by role (``train``/``val``/``test``/``all``, the first of a
    role by name), judged by name only: ``annotations/panoptic_*.json`` (COCO's
    ``panoptic_train2017.json``; panopticapi's ``panoptic_coco_categories.json`` is not one)."""
    annotations = child_folder(root, ("annotations",))
    if annotations is None:
        return {}
    found: dict[str, Path] = {}
    for file in sorted(annotations.glob(f"{PANOPTIC_PREFIX}*.json")):
        split = file.stem[len(PANOPTIC_PREFIX) :]
        if "categories" not in split.lower() and file.is_file():
            found.setdefault(_split_role(split), file)
    return found


def _split_role(split: str) -> str:
    """The role a COCO file's split names (``train2017``: train); ``trainval`` and others: all."""
    lowered = split.lower()
    if "trainval" in lowered:
        return "all"
    return next((role for role in ("train", "val", "test") if role in lowered), "all")


def panoptic_masks(root: Path) -> DrawnMasks | None:
    """``root``'s COCO panoptic files (`panoptic_files`) read as class masks, cached as drawn
    masks are; None without any. Value k is the k-th category by id, unlabelled pixels the void
    value 255 (no background class: `DrawnMasks.background` False). ``panoptic_train*`` trains and
    ``panoptic_val*`` validates, else one file is split by seed."""
    files = panoptic_files(root)
    if not files:
        return None
    documents = {file: _panoptic_document(file) for file in files.values()}
    categories = _panoptic_categories(documents)
    value = {category: index for index, (category, _, _) in enumerate(categories)}
    val_role = "val" if "val" in files else "test" if "test" in files else None
    notes: list[str] = []
    if "train" in files and val_role is not None:
        train = _panoptic_pairs(root, files["train"], documents[files["train"]], value, notes)
        val: list[tuple[Path, Path]] | None = _panoptic_pairs(
            root, files[val_role], documents[files[val_role]], value, notes
        )
        description = f"COCO panoptic: {short_path(root, files['train'])} + {short_path(root, files[val_role])}"
        if val_role == "test":
            notes.append(f"{root}: no validation annotations, so the test set ({files['test'].name}) validates")
    else:
        first = files.get("train") or next(iter(files.values()))
        train, val = _panoptic_pairs(root, first, documents[first], value, notes), None
        description = f"COCO panoptic: {short_path(root, first)}"
    notes.append(
        f"{root}: class masks derived from the COCO panoptic segments into {mask_cache_dir()} ({len(categories)} "
        f"categories by id as classes 0..{len(categories) - 1}; unlabelled pixels void, {DEFAULT_IGNORE_INDEX})"
    )
    colours = [colour for _, _, colour in categories if colour is not None]
    return DrawnMasks(
        train,
        val,
        [name for _, name, _ in categories],
        description,
        notes,
        background=False,
        colours=colours if len(colours) == len(categories) else [],
    )


def _panoptic_document(file: Path) -> dict[str, Any]:
    data = read_json(file)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations")):
        raise DataError(
            f"{file}: expected a COCO panoptic JSON object with 'categories', 'images' and 'annotations' (one per "
            "image, with its 'file_name' PNG and 'segments_info')"
        )
    return data


def _panoptic_categories(
    documents: dict[Path, dict[str, Any]],
) -> list[tuple[int, str, tuple[int, int, int] | None]]:
    """``(category id, name, colour)`` of every category the panoptic ``documents`` declare, by
    id (value k of a derived mask is the k-th): the declared list, not only the categories with
    segments, so the classes do not depend on which photos a split holds."""
    found: dict[int, tuple[str, tuple[int, int, int] | None]] = {}
    for file, data in documents.items():
        for number, category in enumerate(data.get("categories") or [], 1):
            try:
                identifier, name = int(category["id"]), str(category["name"])
            except (KeyError, TypeError, ValueError):
                raise DataError(
                    f"{file}: category {number} has no integer 'id' and 'name': {category!r:.100}"
                ) from None
            found.setdefault(identifier, (name, _colour(category.get("color"))))
    first = next(iter(documents))
    if not found:
        raise DataError(f"{first}: no 'categories': a COCO panoptic file names its categories")
    if len(found) > DEFAULT_IGNORE_INDEX:
        raise DataError(f"{len(found)} COCO panoptic categories; 8-bit masks hold at most 255 classes and a void value")
    ordered = sorted(found.items())
    distinct_names([name for _, (name, _) in ordered], first)
    return [(identifier, name, colour) for identifier, (name, colour) in ordered]


def _colour(value: Any) -> tuple[int, int, int] | None:
    """A category's ``color`` ``[r, g, b]``, or None when it has none."""
    if isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in value):
        return value[0], value[1], value[2]
    return None


def _segment_folder(root: Path, file: Path) -> Path:
    """The folder of ``file``'s segment PNGs: ``panoptic_train2017/`` beside it (COCO's
    ``annotations/``) or at ``root``; still zipped, or absent, is a DataError saying so."""
    for folder in dict.fromkeys((file.parent / file.stem, root / "annotations" / file.stem, root / file.stem)):
        if folder.is_dir():
            return folder
    zipped = file.with_suffix(".zip")
    if zipped.is_file():
        raise DataError(f"{file}: its segment PNGs are still zipped in {zipped}; unzip it (into {file.parent})")
    raise DataError(f"{file}: no folder of its segment PNGs ({file.stem}/ beside it or in {root})")


def _panoptic_pairs(
    root: Path, file: Path, data: dict[str, Any], value: dict[int, int], notes: list[str]
) -> list[tuple[Path, Path]]:
    """Each annotated photo of the panoptic ``file`` (its parsed ``data``) with its class mask,
    derived from its segment PNG into a cache keyed by the file's path, size and time and by the
    PNG's size and time. A missing photo or PNG is a DataError naming it; photos without an
    annotation are not used, counted in ``notes``."""
    split = file.stem[len(PANOPTIC_PREFIX) :]
    segments_dir = _segment_folder(root, file)
    folders = [root / split, root / "images" / split, root / "images", root]
    try:
        images = {int(image["id"]): str(image["file_name"]) for image in data["images"]}
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{file}: every 'images' entry needs an integer 'id' and a 'file_name'") from None
    cache = cache_folder(file, f"panoptic|{sorted(value.items())}")
    read: dict[int, tuple[str, dict[int, int]]] = {}
    for number, annotation in enumerate(data["annotations"], 1):
        try:
            image_id, png = int(annotation["image_id"]), str(annotation["file_name"])
            segments = {int(s["id"]): int(s["category_id"]) for s in annotation["segments_info"]}
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{file}: annotation {number} is not a panoptic one ('image_id', 'file_name' and 'segments_info' of "
                f"'id' and 'category_id'): {annotation!r:.120}"
            ) from None
        if image_id not in images:
            raise DataError(f"{file}: annotation {number} ({png}) is of image id {image_id}, which 'images' lacks")
        if image_id in read:
            raise DataError(f"{file}: image id {image_id} ({images[image_id]}) has two annotations")
        unknown = sorted(set(segments.values()) - set(value))
        if unknown:
            raise DataError(
                f"{file}: {png} has segments of category ids {unknown[:5]} that no 'categories' entry names"
            )
        read[image_id] = (png, segments)
    pairs = []
    for image_id, (png, segments) in sorted(read.items()):
        photo = listed_file(images[image_id], folders)
        if photo is None:
            raise DataError(f"{file}: the photo {images[image_id]!r} is in none of {[str(f) for f in folders[:2]]}")
        found = listed_file(png, [segments_dir])
        if found is None:
            raise DataError(
                f"{file}: the segment PNG {png!r} of the photo {images[image_id]!r} is not in {segments_dir}"
            )
        png_stat = found.stat()
        stamp = hashlib.sha256(f"{png_stat.st_size}|{png_stat.st_mtime_ns}".encode()).hexdigest()[:8]
        mask = cache / f"{image_id}-{stamp}.png"
        if not mask.is_file():
            save_mask(mask, _panoptic_classes(found, photo, segments, value))
        pairs.append((photo, mask))
    unannotated = len(set(images) - set(read))
    if unannotated:
        notes.append(f"{file}: {unannotated} photos have no panoptic annotation and are not used")
    return pairs


def _panoptic_classes(png: Path, photo: Path, segments: dict[int, int], value: dict[int, int]) -> np.ndarray:
    """The class mask of one segment PNG (segment id ``R + 256 G + 256² B``): each listed
    segment's category value, the void value 255 for id 0 and ids ``segments`` does not list; a
    PNG of another size than its photo (as shown or as stored) is a DataError naming both."""
    from PIL import Image

    try:
        with Image.open(png) as opened:
            rgb = np.asarray(opened.convert("RGB")).astype(np.int64)
    except OSError as exc:
        raise DataError(f"{png}: not a readable segment PNG ({exc})") from None
    height, width = rgb.shape[:2]
    upright, stored = photo_sizes(photo)
    if (width, height) not in (upright, stored):
        raise DataError(
            f"{png}: segment PNG is {width}x{height} but its photo {photo} is {upright[0]}x{upright[1]} "
            "(width x height); they must be the same size"
        )
    ids = rgb[..., 0] + (rgb[..., 1] << 8) + (rgb[..., 2] << 16)
    known = np.array(sorted(i for i in segments if i != 0), dtype=np.int64)
    if not len(known):
        return np.full((height, width), DEFAULT_IGNORE_INDEX, dtype=np.uint8)
    classes = np.array([value[segments[int(i)]] for i in known], dtype=np.uint8)
    position = np.clip(np.searchsorted(known, ids), 0, len(known) - 1)
    return np.where(known[position] == ids, classes[position], DEFAULT_IGNORE_INDEX).astype(np.uint8)


OBJECT_MASK_SPLITS = ("stage1_train",)  # DSB's training folder; its stage1_test/ has no masks

OBJECT_MASKS_LOOK = 20  # photo folders looked at to recognise the layout (its name test is cheap)

# Lossless, as lucid.segment.data.MASK_SUFFIXES (not imported: that module imports this one).
OBJECT_MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".gif")


def object_masks(root: Path) -> DrawnMasks | None:
    """``root``'s photo folders (`object_mask_folder`: ``<id>/images/<id>.png`` +
    ``<id>/masks/*.png``, one black-and-white mask per object) with the union of each photo's
    masks drawn into one cached class mask: one class (`lucid.segment.coding.BINARY_NAMES`'
    ``foreground``, value 1) on the background 0; None when ``root`` is not laid out so. Photo
    folders without masks are not used (counted in a note); no split: a seeded one."""
    base = object_mask_folder(root)
    if base is None:
        return None
    pairs, unmasked = [], 0
    for folder in subfolders(base):
        images, masks = child_folder(folder, ("images",)), child_folder(folder, ("masks",))
        if images is None:
            continue  # not a photo folder
        files = [m for m in walk_images(masks)[0] if m.suffix.lower() in OBJECT_MASK_SUFFIXES] if masks else []
        if not files:
            unmasked += 1
            continue
        pairs.append(_object_union(folder, images, files))
    notes = []
    if base != root:
        others = [f"{f.name}/" for f in subfolders(root) if f != base]
        notes.append(f"{root}: reading {base.name}/" + (f"; {', '.join(others)} not used" if others else ""))
    if unmasked:
        notes.append(
            f"{base}: {unmasked} photo folders have no masks/ folder or no masks (PNG, BMP, TIFF, GIF) in it: not used"
        )
    notes.append(
        f"{base}: one mask image per object; each photo's objects drawn as one class ({BINARY_NAMES[1]}) "
        f"into {mask_cache_dir()}"
    )
    description = f"one mask per object: {short_path(root, base) if base != root else '.'}/<id>/images + masks/"
    return DrawnMasks(pairs, None, [BINARY_NAMES[1]], description, notes)


def object_mask_folder(root: Path, look: int = OBJECT_MASKS_LOOK) -> Path | None:
    """The folder of ``root`` that holds one folder per photo, each ``<id>/images/<id>.<image>`` +
    ``<id>/masks/`` (``root`` itself, else DSB's ``stage1_train/``), judged from the names in its
    first ``look`` folders (a photo named as its folder: split folders' ``train/images/`` are
    not); None when there is none."""
    for base in (root, child_folder(root, OBJECT_MASK_SPLITS)):
        if base is not None and any(_object_folder(f) for f in subfolders(base)[:look]):
            return base
    return None


def _object_folder(folder: Path) -> bool:
    """Whether ``folder`` is a photo folder: ``images/<its name>.<image>`` beside a ``masks/`` folder."""
    images = child_folder(folder, ("images",))
    if images is None or child_folder(folder, ("masks",)) is None:
        return False
    try:
        names = [e.name for e in os.scandir(images) if e.is_file()]
    except OSError:
        return False
    return any(Path(n).stem.lower() == folder.name.lower() and n.lower().endswith(IMAGE_SUFFIXES) for n in names)


def _object_union(folder: Path, images: Path, masks: list[Path]) -> tuple[Path, Path]:
    """The photo of ``images`` (its one image) with the cached union of its object ``masks``; a
    mask not of the photo's size is a DataError naming both."""
    photos = walk_images(images)[0]
    if len(photos) != 1:
        raise DataError(f"{images}: expected the one photo of {folder.name}, got {len(photos)} images")
    photo = photos[0]
    stamp = [f"{m.name}:{s.st_size}:{s.st_mtime_ns}" for m in masks for s in (m.stat(),)]
    mask = cached_mask(photo, f"objects|{masks[0].parent.resolve()}|{';'.join(stamp)}", photo.stem)
    if not mask.is_file():
        save_mask(mask, _union(photo, masks))
    return photo, mask


def _union(photo: Path, masks: list[Path]) -> np.ndarray:
    """Value 1 where any of ``masks`` is not black, 0 elsewhere, at the photo's size (as shown, or
    as stored when the masks are of that size)."""
    from PIL import Image

    upright, stored = photo_sizes(photo)
    drawn: np.ndarray | None = None
    for file in masks:
        try:
            with Image.open(file) as opened:
                size, objects = opened.size, np.asarray(opened.convert("L")) > 0
        except OSError as exc:
            raise DataError(f"{file}: not a readable mask image ({exc})") from None
        if size not in (upright, stored) or (drawn is not None and drawn.shape != objects.shape):
            raise DataError(
                f"{file}: mask is {size[0]}x{size[1]} but its photo {photo} is {upright[0]}x{upright[1]} "
                "(width x height); "
                "each object's mask must be the photo's size"
            )
        drawn = objects if drawn is None else np.logical_or(drawn, objects)
    assert drawn is not None  # masks is never empty
    return drawn.astype(np.uint8)

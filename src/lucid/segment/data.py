"""Mask data sets: image folders with a mask per image, their layouts, and joint augmentation.

The layouts `find_layout` reads (``SPLIT`` is ``train``/``training`` for training and
``val``/``valid``/``validation``, else ``test``, for validation):

- ``DIR/SPLIT/images/`` + ``DIR/SPLIT/masks/`` (also ``labels/``, ``annotations/``, ``gt/``);
- ``DIR/SPLIT/<part>/images/`` + ``masks/`` for each of a split's parts (LoveDA's ``Urban/`` + ``Rural/``);
- ``DIR/SPLIT/`` images + a sibling ``DIR/SPLITannot/`` (SegNet's CamVid) or ``DIR/SPLIT_labels/``;
  any one folder beside such a sibling (CVAT's "CamVid 1.0" export: ``default/`` + ``default_annot/``);
- ``DIR/images/SPLIT/`` + ``DIR/masks/SPLIT/`` (ADE20K: ``images/training`` + ``annotations/training``);
- ``DIR/images/`` + ``DIR/masks/`` without splits: a seeded ``val_fraction`` of the pairs validates;
- Pascal VOC: ``DIR/JPEGImages/`` + ``DIR/SegmentationClass/``, split by
  ``DIR/ImageSets/Segmentation/{train,val}.txt`` (photos without a mask are not used);
- Cityscapes: ``DIR/leftImg8bit/SPLIT/<city>/`` + ``DIR/gtFine/SPLIT/<city>/`` train-id masks;
- outlines drawn into cached class masks (`lucid.segment.polygons`; the cache is
  `lucid.segment.drawn`'s): COCO segmentation files, YOLO segmentation labels, LabelMe JSON, a
  Supervisely project (``DIR/meta.json`` + ``DIR/DATASET/img/`` + ``DIR/DATASET/ann/``);
- masks of objects or segments turned into class masks (`lucid.segment.segments`): one mask image
  per object, drawn as one class (Data Science Bowl 2018: ``DIR/<id>/images/<id>.png`` +
  ``DIR/<id>/masks/*.png``), and COCO panoptic segmentation
  (``DIR/annotations/panoptic_train2017.json`` + its segment PNGs in
  ``DIR/annotations/panoptic_train2017/``, photos in ``DIR/train2017/``): the categories by id
  are the classes 0..K-1, unlabelled pixels void (255).

Images and masks pair by their path below their folders without the suffix; a mask may add one
tag to the image's name (``x.jpg`` + ``x_mask.png``, ``x_L.png``, ``x_label.png`` ...). Nested
folders are walked; hidden files and folders are skipped. A mask is a lossless image (PNG, BMP,
TIFF, GIF) with one channel (mode ``L``, ``P`` whose indices are the classes, ``1``, 16-bit with
values below 256, or RGB whose three channels are equal) of the image's size; its pixel value is
the class index and one void value (``ignore_index``) marks pixels that count in neither the loss
nor the metrics. JPEG masks are refused: lossy compression changes class values at edges.

Which value is void is declared by the data or the user, never guessed from pixel statistics
(see `resolve_classes`): a ``classes.txt``/``classes.json`` at the data root (or
``--classes``/``--num-classes``) names classes 0..K-1 and the one mask value outside them is
void; without names, 255 is void (torchvision's and VOC's convention) and every other value
present is a class, said in one line with the override.

Image and mask travel together through torchvision's transforms v2 as ``tv_tensors.Image`` and
``tv_tensors.Mask``: v2 applies the same random scale, crop and flip to both, resamples the
mask with nearest neighbour, fills padded mask pixels with ``ignore_index`` and leaves colour
changes to the image. That is the streamed path; pairs that fit the memory budget are decoded once
and cut a batch at a time by `lucid.segment.cache`, with the same recipe.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

# one list of image types, one walk and one seeded split for every task
from lucid.data.files import (
    IMAGE_SUFFIXES,
    MASK_DIRS,
    TEST_SPLITS,
    TRAIN_SPLITS,
    VAL_SPLITS,
    child_folder,
    hidden,
    holds_files,
    keyed_files,
    seeded_split,
    split_child,
    split_folders,
    split_role,
    subfolders,
    voc_split,
    walk_images,
    wrapped_folder,
    wrapped_note,
)
from lucid.data.labels import split_names
from lucid.errors import DataError
from lucid.preprocessing import IMAGENET_MEAN, IMAGENET_STD  # re-exported: documented here
from lucid.segment.coding import (
    BINARY_NAMES,
    CLASS_FILES,
    COLOUR_TABLES,
    DEFAULT_IGNORE_INDEX,
    LABEL_COLORS,
    LABEL_MAP,
    LOSSY_MASK_SUFFIXES,
    OBJECT_INFO,
    ColourTable,
    binary_coding,
    cityscapes_coding,
    mapillary_coding,
    read_class_names,
    read_colour_table,
    read_mask,
    read_object_info,
    trimap_coding,
    two_level_jpeg,
    void_last,
)
from lucid.segment.drawn import BACKGROUND, DrawnMasks, cached_mask, save_mask

__all__ = [
    "IMAGE_SUFFIXES",
    "MASK_SUFFIXES",
    "SegmentationLayout",
    "find_layout",
    "looks_like_segmentation",
    "holds_masks",
    "root_parts",
    "match_pairs",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SegmentationFolder",
    "SegmentationDataInfo",
    "recorded_layout",
    "declared_coding",
    "named_pairs",
    "mixed_pairs",
    "read_rgb",
    "read_pair",
    "train_transform",
    "eval_transform",
    "pad_collate",
    "PadCollate",
    "class_frequencies",
    "enet_class_weights",
    "mask_histogram",
    "resolve_classes",
    "segmentation_datasets",
    "CropChoice",
    "DEFAULT_CROP",
    "fit_crop",
]

MASK_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".gif")  # lossless: a class value must survive saving
IMAGE_DIRS = ("images", "image", "imgs", "img", "jpegimages", "images_png")  # LoveDA: images_png/ + masks_png/
# A split of images beside its masks' folder: SegNet's CamVid (train/ + trainannot/), Kaggle's (train_labels/).
BOX_SUFFIXES = (".xml", ".json", ".txt", ".csv")  # what a detection set keeps where masks would be
SIBLING_MASK_DIRS = ("{}annot", "{}_annot", "{}_labels", "{}_label", "{}_masks", "{}_mask", "{}_gt")
# What a mask's file name may add to its image's: x.jpg + x_mask.png, x_L.png (CamVid), x_label.png ...
MASK_TAGS = (
    "_mask", "_masks", "-mask", "_label", "_labels", "_labelids", "_gt", "_seg", "_segmentation", "_l", "_p",
    "_manual1", "_anno",
)  # fmt: skip  # _manual1: DRIVE's 21_manual1.gif for 21_training.tif; _anno: GlaS's
# Oxford-IIIT Pet's trimaps (annotations/trimaps/x.png): 1 pet, 2 background, 3 the border its README
# calls "not classified"; torchvision's OxfordIIITPet returns them as they are.
TRIMAPS = "trimaps"


def read_rgb(path: str | os.PathLike[str], *, exif: bool = True) -> torch.Tensor:
    """A ``(3, H, W)`` uint8 image through lucid's one decoder (`lucid.preprocessing.open_image`:
    16-bit and float images scaled to 8 bits, transparency composited over white and, with
    ``exif``, the EXIF orientation applied), so a photo gives the same pixels to segmentation
    training, eval, predict and every exported model as to classification.
    """
    from lucid.preprocessing import open_image

    try:
        image = open_image(path, exif=exif)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: not a readable image: {exc}") from None
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1)


def read_pair(
    image_path: str | os.PathLike[str], mask_path: str | os.PathLike[str], colours: ColourTable | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """An image (`read_rgb`) and its mask (`read_mask`), checked to be the same size.

    The image is turned upright by its EXIF orientation, as viewers and annotation tools show it,
    and the mask is expected in that orientation. A mask drawn on the stored, unrotated pixels (by
    a tool that ignores EXIF) is recognised by its size and then paired with the stored pixels.
    """
    image, mask = read_rgb(image_path), read_mask(mask_path, colours)
    if tuple(image.shape[-2:]) != tuple(mask.shape):
        stored = read_rgb(image_path, exif=False)
        if tuple(stored.shape[-2:]) != tuple(mask.shape):
            raise DataError(
                f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image {Path(image_path).name} is "
                f"{image.shape[2]}x{image.shape[1]} (width x height); they must be the same size"
            )
        image = stored
    return image, mask


def _keyed(folder: Path, files: Sequence[Path], suffixes: Sequence[str]) -> dict[str, Path]:
    """``files`` with one of ``suffixes``, keyed as `lucid.data.files.keyed_files` keys them (two
    files of one name are refused: only one of them could pair with a mask)."""
    return keyed_files(folder, [path for path in files if path.suffix.lower() in suffixes], "mask")


def _untagged(key: str) -> str | None:
    """``key`` without the mask tag it ends with (``x_mask`` -> ``x``), or None."""
    for tag in MASK_TAGS:
        if key.endswith(tag) and len(key) > len(tag):
            return key[: -len(tag)]
    return None


def match_pairs(images_dir: Path, masks_dir: Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths of two folders, matched by their paths below the folders without the
    suffix (a mask may add one tag: ``x_mask.png`` for ``x.jpg``; and the photo a photo tag,
    ``x_RGB.tif`` + ``x_label.tif``). An image without its mask, a mask
    without its image, or a JPEG mask is an error that names them. One folder given twice holds
    both (`mixed_pairs`)."""
    if images_dir == masks_dir:
        pairs = mixed_pairs(images_dir)
        if pairs is None:
            raise DataError(f"{images_dir}: expected each photo beside its mask (x.jpg + x_mask.png)")
        return pairs
    # lucid.data.walk_images: the classification walk (hidden entries, pipes and symlink loops skipped)
    images = _keyed(images_dir, walk_images(images_dir)[0], IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
    mask_files = walk_images(masks_dir)[0]
    lossy = _keyed(masks_dir, mask_files, LOSSY_MASK_SUFFIXES)
    masks = _keyed(masks_dir, mask_files, MASK_SUFFIXES)
    if lossy and not masks:
        masks = lossy  # black-and-white JPEG masks are read by a threshold, others refused (`two_level_jpeg`)
    if not masks:
        boxes = sorted({p.suffix.lower() for p in masks_dir.iterdir() if p.suffix.lower() in BOX_SUFFIXES})
        if boxes:
            raise DataError(
                f"{masks_dir} holds box annotations ({', '.join(boxes)} files), not masks: detection data "
                "(lucid train --task detect)"
            )
    by_image: dict[str, Path] = {}
    for key, path in masks.items():
        image_key = key if key in images else _untagged(key)
        if image_key is not None and image_key not in images:
            image_key = _photo_of(image_key, images)  # ISPRS Potsdam: x_RGB.tif + x_label.tif
        if image_key is None or image_key not in images:
            image_key = key
        if image_key in by_image:
            raise DataError(f"{masks_dir}: two masks for one image: {by_image[image_key].name} and {path.name}")
        by_image[image_key] = path
    lonely = sorted(set(images) - set(by_image))
    orphans = sorted(by_image[k].name for k in set(by_image) - set(images))
    if lonely or orphans:
        parts = []
        if lonely:
            parts.append(f"{len(lonely)} images without a mask in {masks_dir} (e.g. {lonely[:3]})")
        if orphans:
            parts.append(f"{len(orphans)} masks without an image in {images_dir} (e.g. {orphans[:3]})")
        raise DataError(
            f"images and masks must pair by name (a mask may add {MASK_TAGS[0]!r}, {MASK_TAGS[4]!r} ...): "
            + "; ".join(parts)
        )
    return [(images[k], by_image[k]) for k in sorted(images)]


def _masks_within(images: Path, masks: Path) -> Path:
    """``masks``, or the one folder in it that holds masks when it holds none itself and the image
    folder has no folder of that name (Oxford-IIIT Pet's ``annotations/`` keeps its masks in
    ``trimaps/`` beside the ``xmls/`` of its boxes)."""
    try:
        entries = [e for e in os.scandir(masks) if not hidden(e.name)]
    except OSError:
        return masks
    if any(e.is_file() and e.name.lower().endswith(MASK_SUFFIXES) for e in entries):
        return masks
    holding = [Path(e.path) for e in entries if e.is_dir() and holds_files(Path(e.path), MASK_SUFFIXES, 100)]
    if len(holding) == 1 and child_folder(images, (holding[0].name,)) is None:
        return holding[0]
    return masks


# A mask beside its photo: x_mask.png; CHASE_DB1's first observer (_1stHO); GlaS's train_1_anno.bmp.
MIXED_TAGS = ("_mask", "_masks", "-mask", "_label", "_gt", "_seg", "_segmentation", "_1stho", "_anno")
# What a photo's name may add when its mask beside it adds a mask tag: DeepGlobe's x_sat.jpg + x_mask.png.
PHOTO_TAGS = ("_sat", "_image", "_img", "_rgb", "_training", "_test")  # DRIVE: 21_training.tif + 21_manual1.gif


def _photo_of(base: str, photos: Mapping[str, Any]) -> str | None:
    """The key among ``photos`` of the photo a mask named ``base`` + a mask tag belongs to:
    ``base`` itself, else ``base`` plus one of `PHOTO_TAGS`."""
    if base in photos:
        return base
    return next((base + tag for tag in PHOTO_TAGS if base + tag in photos), None)


def mixed_pairs(folder: Path) -> list[tuple[Path, Path]] | None:
    """The photos of a folder tree that holds each beside its mask, named as the photo plus a
    mask tag (`MIXED_TAGS`: Roboflow's semantic-mask export ``x.jpg`` + ``x_mask.png``, Kaggle's LGG
    MRI ``x.tif`` + ``x_mask.tif``, CHASE_DB1's first observer ``Image_01L_1stHO.png``), or None
    unless every photo there has its mask. A second observer's drawing (``_2ndHO``) is not read;
    a photo's further masks (BUSI's ``x_mask_1.png``: another lesion) are joined with its first
    into one mask, drawn once into the cache (`_joined_mask`)."""
    files = walk_images(folder)[0]
    keyed = {path.relative_to(folder).with_suffix("").as_posix().lower(): path for path in files}
    masks: dict[str, Path] = {}
    extra: dict[str, list[Path]] = {}
    others = set()
    for key, path in keyed.items():
        if _SECOND_OBSERVER.search(key):
            others.add(key)
            continue
        more = _MORE_MASKS.fullmatch(key)
        if more is not None and (photo := _photo_of(more.group(1), keyed)) is not None:
            extra.setdefault(photo, []).append(path)
            others.add(key)
            continue
        base = next((key[: -len(tag)] for tag in MIXED_TAGS if key.endswith(tag) and len(key) > len(tag)), None)
        photo = None if base is None else _photo_of(base, keyed)
        if photo is not None and path.suffix.lower() in (*MASK_SUFFIXES, ".tiff", ".tif"):
            masks[photo] = path
    photos = [key for key in keyed if keyed[key] not in masks.values() and key not in others]
    if not masks or any(key not in masks for key in photos):
        return None
    return [
        (keyed[key], _joined_mask(masks[key], extra[key]) if key in extra else masks[key]) for key in sorted(photos)
    ]


_SECOND_OBSERVER = re.compile(r"_2ndho$|_2nd_manual$")  # CHASE_DB1's second observer's vessels
_MORE_MASKS = re.compile(r"(.+)_mask_\d+")  # BUSI: benign (4)_mask_1.png, a second lesion of benign (4)


def _joined_mask(first: Path, more: Sequence[Path]) -> Path:
    """One mask of a photo's several (each a lesion, 0 outside it): their pixel-wise maximum,
    written once into the cache (`lucid.segment.drawn.cached_mask`, keyed by the first mask and
    the others' names)."""
    from PIL import Image

    target = cached_mask(first, "joined|" + "|".join(sorted(p.name for p in more)), first.stem)
    if not target.is_file():
        arrays = []
        for path in (first, *more):
            with Image.open(path) as opened:
                arrays.append(np.asarray(opened.convert("L")))
        if len({a.shape for a in arrays}) != 1:
            raise DataError(f"{first}: its masks {[p.name for p in more]} are not of its size")
        save_mask(target, np.maximum.reduce(arrays))
    return target


def _looks_mixed(folder: Path, limit: int = 2000) -> bool:
    """Whether a folder tree seems to hold photos beside their masks (`mixed_pairs`), judged from
    the names of its first ``limit`` files: one ``x_mask.png`` beside its ``x.jpg`` will do."""
    seen = 0
    for _, _, names in os.walk(folder):
        lowered = {Path(n).stem.lower(): n for n in names if n.lower().endswith(IMAGE_SUFFIXES)}
        for stem, name in lowered.items():
            tag = next((t for t in MIXED_TAGS if stem.endswith(t) and len(stem) > len(t)), None)
            if tag is not None and _photo_of(stem[: -len(tag)], lowered) and name.lower().endswith(MASK_SUFFIXES):
                return True
        seen += len(names)
        if seen >= limit:
            return False
    return False


def _split_pairs(root: Path, split: Path) -> tuple[Path, Path] | None:
    """The (images, masks) folders of one split folder: inside it, or it and a sibling mask folder,
    or the split folder itself when it holds each photo beside its mask (given twice)."""
    images, masks = child_folder(split, IMAGE_DIRS), child_folder(split, MASK_DIRS)
    if images is not None and masks is not None:
        return images, _masks_within(images, masks)
    sibling = sibling_masks(root, split)
    if sibling is not None:
        return split, sibling
    return (split, split) if _looks_mixed(split) else None


def sibling_masks(root: Path, split: Path) -> Path | None:
    """The mask folder beside the split folder ``split``: named after it (`SIBLING_MASK_DIRS`:
    ``train/`` + ``trainannot/``), or with its image word replaced by a mask word (LIP's
    ``train_images/`` + ``train_segmentations/``, ``val_img/`` + ``val_masks/``)."""
    names = [pattern.format(split.name) for pattern in SIBLING_MASK_DIRS]
    word = re.split(r"[-_ ]", split.name)[-1]
    if word.lower() in IMAGE_DIRS and len(word) < len(split.name):
        names += [split.name[: -len(word)] + mask for mask in MASK_DIRS]
    return child_folder(root, names) or _mask_tree_split(root, split)


def _mask_tree_split(root: Path, split: Path) -> Path | None:
    """The split's namesake in a tree of mask folders beside the photos' (COCO-Stuff's
    ``train2017/`` + ``stuffthingmaps_trainval2017/train2017/``, as the COCO and stuffthingmaps
    archives unpack side by side): a folder of ``root`` whose child of the split's name holds
    masks (PNG files) and no photos of other types."""
    for folder in subfolders(root):
        inner = child_folder(folder, (split.name,))
        if folder != split and inner is not None and inner != split and holds_files(inner, MASK_SUFFIXES, 200):
            if not holds_files(inner, tuple(s for s in IMAGE_SUFFIXES if s not in MASK_SUFFIXES), 200):
                return inner
    return None


def _split_parts(root: Path, split: Path) -> list[tuple[Path, Path]] | None:
    """The (images, masks) folders of one split folder (`_split_pairs`), or, when it holds none
    itself, those of each of its sub-folders that holds an images + masks pair, read together as
    the split: LoveDA's ``Train/Urban/`` + ``Train/Rural/``, each with ``images_png/`` +
    ``masks_png/``. None when neither."""
    found = _split_pairs(root, split)
    if found is not None:
        return [found]
    parts = []
    for part in sorted(subfolders(split)):
        images, masks = child_folder(part, IMAGE_DIRS), child_folder(part, MASK_DIRS)
        if images is not None and masks is not None:
            parts.append((images, _masks_within(images, masks)))
    return parts or None


def root_parts(folder: Path) -> list[tuple[Path, Path]] | None:
    """The (images, masks) folders of a root of parts and no split folders, when every one of its
    (two or more) sub-folders holds an images + masks pair: Humans in the Loop's aerial set
    (``Tile 1/images/`` + ``Tile 1/masks/`` ... ``Tile 8/``), LoveDA's ``Urban/`` + ``Rural/`` alone.
    Split by seed, all parts together. None otherwise (a few folders that each hold a whole layout
    are `data_folder_below`'s choice)."""
    inner = subfolders(folder)
    if len(inner) < 2 or any(split_role(part.name) for part in inner):
        return None  # val/ beside another folder is a split without its train/, not a part
    parts = []
    for part in inner:
        images, masks = child_folder(part, IMAGE_DIRS), child_folder(part, MASK_DIRS)
        if images is None or masks is None:
            return None
        parts.append((images, _masks_within(images, masks)))
    return parts


def _parts_pairs(parts: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """Every (image, mask) pair of a split's parts, each part matched on its own."""
    return [pair for images, masks in parts for pair in match_pairs(images, masks)]


def _parts_text(folder: Path, parts: list[tuple[Path, Path]]) -> str:
    """How a split's parts are named in the run's first lines."""
    if len(parts) == 1:
        return f"{parts[0][0].relative_to(folder)} + {parts[0][1].relative_to(folder)}"
    names = ", ".join(f"{images.parent.name}/" for images, _ in parts)
    return f"{len(parts)} parts, each with {parts[0][0].name}/ + {parts[0][1].name}/: {names}"


@dataclass
class SegmentationLayout:
    """Where a data root's training and validation pairs are, and how it was read.

    ``kind``: ``"splits"`` (training and validation folders) or ``"single"`` (one folder of pairs,
    ``val_fraction`` of them validating, picked by ``seed``). ``notes``: lines for the user.
    """

    root: Path
    kind: str
    train: list[tuple[Path, Path]]
    val: list[tuple[Path, Path]]
    description: str
    notes: list[str]
    val_fraction: float | None = None
    seed: int | None = None
    coding: ColourTable | None = None  # how the layout's own masks code the classes (Cityscapes)
    # The folder the user named when ``root`` holds files lucid wrote for it (a Hugging Face set's pairs).
    source: Path | None = None

    @property
    def named(self) -> Path:
        """The folder that names this data to the user and in a checkpoint's record: ``source``
        when the pairs are files written for it into lucid's cache, else ``root``."""
        return self.source or self.root

    def to_dict(self) -> dict[str, Any]:
        """The record a checkpoint keeps, so evaluation re-derives a ``single`` layout's validation pairs."""
        return {"kind": self.kind, "layout": self.description, "val_fraction": self.val_fraction, "seed": self.seed}


LAYOUT_HELP = (
    "train/ and val/ (or valid/, test/), each with images/ and masks/ (or with parts that each have them); "
    "train/ + trainannot/ beside it (any X/ + X_annot/); "
    "images/train/ + masks/train/; Pascal VOC (JPEGImages/ + SegmentationClass/ + ImageSets/Segmentation/); "
    "Cityscapes (leftImg8bit/ + gtFine/ train-id masks); "
    "or one images/ + masks/ pair of folders (or train/ alone), split by --val-fraction; "
    "or a Hugging Face set (data/train-*.parquet, or save_to_disk's Arrow files, of an image and a mask column); "
    "or .npy arrays of photos and masks (images.npy + masks.npy, x_train.npy + y_train.npy)"
)


def find_layout(
    root: str | os.PathLike[str], *, val_fraction: float = 0.2, seed: int = 0, need_train: bool = True
) -> SegmentationLayout:
    """The training and validation pairs of a data root in any layout of this module's docstring.

    ``need_train=False`` (evaluation) also reads a root holding only a validation split (``train`` empty).
    """
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DataError(f"--data {folder}: no such folder")
    readers = (
        _voc_layout,
        _cityscapes_layout,
        _kitti_layout,
        _mapillary_layout,
        _coco_layout,
        _runs_layout,
        _hub_layout,
        _npy_layout,
        _stack_layout,
    )
    for reader in readers:
        known = reader(folder, val_fraction, seed)
        if known is not None:
            return known
    train_dir, val_dir, notes = split_folders(folder)
    images_top, masks_top = child_folder(folder, IMAGE_DIRS), child_folder(folder, MASK_DIRS)
    if train_dir is not None:
        layout = _split_folders_layout(folder, train_dir, val_dir, notes, val_fraction, seed)
    elif val_dir is not None and not need_train and (val_found := _split_parts(folder, val_dir)) is not None:
        layout = SegmentationLayout(folder, "splits", [], _parts_pairs(val_found), f"{val_dir.name}/", [])
    elif (images_top is None or masks_top is None) and (sibling := sibling_pair(folder)) is not None:
        layout = _single_layout(folder, *sibling, val_fraction, seed)
    elif (images_top is None or masks_top is None) and (named := named_pairs(folder)):
        layout = _named_pairs_layout(folder, named, val_fraction, seed)
    elif (images_top is None or masks_top is None) and _looks_mixed(folder):
        layout = _single_layout(folder, folder, folder, val_fraction, seed)
    elif images_top is None and (parts := root_parts(folder)) is not None:
        layout = _seeded_parts_layout(folder, parts, val_fraction, seed)
    elif images_top is None or masks_top is None:
        inner = wrapped_folder(folder)
        if inner is not None and looks_like_segmentation(inner):  # a download's root: README + the data
            layout = find_layout(inner, val_fraction=val_fraction, seed=seed, need_train=need_train)
            layout.notes.insert(0, wrapped_note(folder, inner))
            return layout
        below = data_folder_below(folder)
        if below is not None:  # a download's root with other folders beside the data's
            layout = find_layout(below, val_fraction=val_fraction, seed=seed, need_train=need_train)
            others = ", ".join(f"{f.name}/" for f in subfolders(folder) if f != below)
            layout.notes.insert(
                0, f"{folder}: reading {below.name}/, the one folder with images and masks ({others} not used)"
            )
            return layout
        several = _layout_subfolders(folder)
        if len(several) > 1:  # Massachusetts Roads: tiff/ and png/, the same data twice
            names = ", ".join(f"{f.name}/" for f in several)
            raise DataError(
                f"--data {folder}: {names} each hold images and masks; pass the one to train on (--data {several[0]})"
            )
        raise DataError(f"--data {folder}: no image/mask folders found; expected {LAYOUT_HELP}")
    elif split_child(images_top, TRAIN_SPLITS) is not None and split_child(masks_top, TRAIN_SPLITS) is not None:
        layout = _splits_inside_layout(folder, images_top, masks_top)
    else:
        layout = _single_layout(folder, images_top, _masks_within(images_top, masks_top), val_fraction, seed)
    layout.coding = declared_coding(folder, layout)
    return layout


def sibling_pair(folder: Path) -> tuple[Path, Path] | None:
    """The one photo folder of ``folder`` beside a mask folder named after it (`SIBLING_MASK_DIRS`:
    CVAT's "CamVid 1.0" export, ``default/`` + ``default_annot/``; ``photos/`` + ``photos_masks/``),
    as (images, masks); None unless exactly one folder has such a sibling."""
    inner = subfolders(folder)
    by_name = {f.name.lower(): f for f in inner}
    pairs = []
    for images in inner:
        masks = next((m for p in SIBLING_MASK_DIRS if (m := by_name.get(p.format(images.name).lower()))), None)
        if masks is not None:
            pairs.append((images, masks))
    return pairs[0] if len(pairs) == 1 else None


def named_pairs(folder: Path, most: int = 8) -> list[tuple[Path, Path]]:
    """The (images, masks) folders among ``folder``'s sub-folders (at most ``most`` of them) paired
    by their files' names rather than the folders' (ISIC 2018: ``..._Training_Input/x.jpg`` +
    ``..._Training_GroundTruth/x_segmentation.png``; CamVid's ``701_StillsRaw_full/x.png`` +
    ``LabeledApproved_full/x_L.png``; ISPRS Potsdam's ``2_Ortho_RGB/x_RGB.tif`` +
    ``5_Labels_all/x_label.tif``, a photo tag `PHOTO_TAGS` dropped): a folder of lossless masks,
    one-channel or each named with a mask tag, whose names (without the tag) are, four in five at
    least, the names of another folder's images, which are photos (not one-channel masks too: class folders of drawings
    numbered alike are classes)."""
    subs = subfolders(folder)
    if not 2 <= len(subs) <= most:
        return []
    names = {sub: _file_names(sub) for sub in subs}
    pairs = []
    for masks in subs:
        lossless = sorted(n for n in names[masks] if n.lower().endswith(MASK_SUFFIXES))
        mask_stems = [Path(n).stem.lower() for n in lossless]
        tagged = bool(mask_stems) and all(_untagged(stem) is not None for stem in mask_stems)  # colour x_L.png
        if not lossless or not (tagged or _one_channel(masks / lossless[0])):
            continue
        keys = {_untagged(stem) or stem for stem in mask_stems}
        scored = []
        for images in subs:
            stems = {Path(n).stem.lower() for n in names[images] if n.lower().endswith(IMAGE_SUFFIXES)}
            stems |= {stem[: -len(tag)] for stem in stems for tag in PHOTO_TAGS if stem.endswith(tag)}  # x_RGB.tif
            shared = len(keys & stems)
            # Photos, not masks too (class folders of drawings, each numbered 0.png ...: Four Shapes);
            # the most names shared, then the same split.
            if images != masks and shared * 5 >= len(keys) * 4 and not _one_channel(_first_image(images, names)):
                scored.append((shared, _word_role(images.name) == _word_role(masks.name), images.name, images))
        if scored:
            pairs.append((max(scored)[3], masks))
    return pairs


def _first_image(folder: Path, names: dict[Path, list[str]]) -> Path:
    return folder / min(n for n in names[folder] if n.lower().endswith(IMAGE_SUFFIXES))


def _file_names(folder: Path) -> list[str]:
    """The names of ``folder``'s non-hidden files (not walked)."""
    try:
        return [e.name for e in os.scandir(folder) if not hidden(e.name) and e.is_file()]
    except OSError:
        return []


def _one_channel(file: Path, most: int = 64) -> bool:
    """Whether an image file looks like a mask: one channel (L, P, 1, I;16 ...) and at most
    ``most`` distinct values (a grey photo, in a class folder say, has many more)."""
    from PIL import Image

    try:
        with Image.open(file) as opened:
            if opened.mode not in ("L", "P", "1", "I", "I;16", "I;16B", "I;16L"):
                return False
            return len(np.unique(np.asarray(opened))) <= most
    except OSError:
        return False


def _named_pairs_layout(
    folder: Path, pairs: list[tuple[Path, Path]], val_fraction: float, seed: int
) -> SegmentationLayout:
    """Image and mask folders paired by their files' names: one pair is split by ``val_fraction``;
    several are told apart by the split named in the image folder's name (``Training``,
    ``Validation``, ``Test``)."""
    if len(pairs) == 1:
        return _single_layout(folder, *pairs[0], val_fraction, seed)
    roles = {role: pair for pair in pairs if (role := _word_role(pair[0].name)) is not None}
    train, val = roles.get("train"), roles.get("val") or roles.get("test")
    if train is None or val is None:
        shown = ", ".join(f"{i.name}/ + {m.name}/" for i, m in pairs)
        raise DataError(
            f"--data {folder}: image and mask folders {shown}, but which trains and which validates is not in their "
            "names (train, val, test); point --data at one pair or name them"
        )
    description = f"{train[0].name}/ + {train[1].name}/, {val[0].name}/ + {val[1].name}/ (paired by file names)"
    return SegmentationLayout(folder, "splits", match_pairs(*train), match_pairs(*val), description, [])


def _word_role(name: str) -> str | None:
    """The split a folder's name names among its words (``ISIC2018_Task1-2_Training_Input``: train)."""
    words = set(re.split(r"[-_ .]+", name.lower()))
    roles = (("train", TRAIN_SPLITS), ("val", VAL_SPLITS), ("test", TEST_SPLITS))
    found = [role for role, splits in roles if words & set(splits)]
    return found[0] if len(found) == 1 else None


def declared_coding(folder: Path, layout: SegmentationLayout) -> ColourTable | None:
    """How the data's own files say its masks code the classes, where they differ from "the
    value is the class": ADE20K's ``objectInfo150.txt`` (`read_object_info`: value i is the table's
    i-th class, 0 void) or Oxford-IIIT Pet's trimaps (`trimap_coding`); else None."""
    table = read_object_info(folder)
    if table is not None:
        listed = next(name for name in OBJECT_INFO if (folder / name).is_file())
        layout.notes.append(
            f"{folder}: {listed} names {len(table.names)} classes: mask value i is its class of Idx i, "
            '0 ("other objects") is void'
        )
        return table
    pairs = layout.train or layout.val
    if pairs and all(mask.parent.name.lower() == TRIMAPS for _, mask in pairs[:100]):
        layout.notes.append(
            f"{folder}: Oxford-IIIT Pet trimaps: 1 is the pet, 2 the background, 3 the unclassified border (void)"
        )
        return trimap_coding()
    return None


def recorded_layout(
    root: str | os.PathLike[str], recorded: Any = None, *, need_train: bool = True
) -> tuple[SegmentationLayout, bool]:
    """The layout of ``root`` and whether it is split as a checkpoint's training split it:
    ``recorded`` (the checkpoint's data record) names this folder (or the one a download's root
    wraps) with a seeded split, whose fraction and seed then split it again, so its validation
    pairs are the ones held out then."""
    folder = Path(root).expanduser()
    record = recorded if isinstance(recorded, dict) else {}
    split, trained_on = record.get("split") or {}, record.get("root")
    if split.get("kind") == "single" and trained_on is not None and folder.is_dir():
        try:
            layout = find_layout(folder, val_fraction=float(split["val_fraction"]), seed=int(split["seed"]))
        except DataError:  # not a training layout (a validation split alone): not the run's folder
            layout = None
        if layout is not None and layout.named.resolve() == Path(trained_on).expanduser().resolve():
            return layout, True
    return find_layout(folder, need_train=need_train), False


def looks_like_segmentation(root: str | os.PathLike[str], *, below: bool = True) -> bool:
    """Whether ``root``'s folders are laid out as image/mask data (`find_layout`'s layouts),
    judged from folder and file names (and one mask's header, `named_pairs`), without decoding
    a file: a classifier trained on it would take ``images`` and ``masks`` for two classes. A
    download's root is judged by its one folder, or (``below``) by the one of its few folders
    that holds such data (`data_folder_below`)."""
    return segmentation_root(Path(root).expanduser(), below=below) is not None


def segmentation_root(folder: Path, *, below: bool = True) -> Path | None:
    """The folder `find_layout` reads the data from: ``folder`` when it is in one of the layouts
    itself, else a download's one folder (`wrapped_folder`), else (``below``) the one of its few
    folders that is (`data_folder_below`); None when none is."""
    if _in_a_layout(folder):
        return folder
    inner = wrapped_folder(folder)  # a download's root (VOCdevkit/VOC2012/), read as find_layout reads it
    found = None if inner is None else segmentation_root(inner, below=below)
    if found is None and below and (sub := data_folder_below(folder)) is not None:
        found = segmentation_root(sub, below=False)
    return found


def _in_a_layout(folder: Path) -> bool:
    """Whether ``folder`` itself, not a folder in it, is in one of `find_layout`'s layouts."""
    from lucid.segment.runs import has_run_table

    return _in_a_file_layout(folder) or has_run_table(folder)


def _in_a_file_layout(folder: Path) -> bool:
    """Whether ``folder`` is in one of `find_layout`'s layouts of mask files or outlines."""
    if not folder.is_dir():
        return False
    if child_folder(folder, ("JPEGImages",)) and child_folder(folder, VOC_MASKS):
        return True  # Pascal VOC
    if child_folder(folder, ("leftImg8bit",)) and child_folder(folder, ("gtFine", "gtCoarse")):
        return True  # Cityscapes
    training = child_folder(folder, ("training",))
    if all(child_folder(training, (name,)) for name in KITTI_SEMANTIC):
        return True  # KITTI semantics: training/image_2 + training/semantic
    if training is not None and any(MAPILLARY_CONFIG.fullmatch(name) for name in _entries(folder)):
        return True  # Mapillary Vistas: config_v2.0.json + training/images + training/v2.0/labels
    from lucid.segment.polygons import has_outlines, has_supervisely_outlines
    from lucid.segment.segments import object_mask_folder, panoptic_files

    if has_outlines(folder) or has_supervisely_outlines(folder):
        return True  # COCO, YOLO or LabelMe files, or a Supervisely project, that outline their objects
    if panoptic_files(folder):
        return True  # COCO panoptic: annotations/panoptic_*.json (its segment PNGs beside it)
    if object_mask_folder(folder) is not None:
        return True  # one mask image per object (Data Science Bowl 2018's <id>/images + <id>/masks)
    from lucid.segment.matmasks import sbd_folder

    if sbd_folder(folder) is not None:
        return True  # SBD: dataset/img + dataset/cls/*.mat + train.txt
    from lucid.segment.hubmasks import has_hub_masks

    if has_hub_masks(folder):
        return True  # a Hugging Face set's Parquet (or Arrow) files of photo and mask columns
    from lucid.segment.npymasks import has_npy_masks

    if has_npy_masks(folder):
        return True  # .npy photo and mask arrays (images.npy + masks.npy, x_train.npy + y_train.npy)
    from lucid.segment.stacks import stack_files

    if stack_files(folder):
        return True  # multi-page TIFF stacks of photos and masks (ISBI 2012's train-volume.tif + train-labels.tif)
    train_dir = split_child(folder, TRAIN_SPLITS)
    if train_dir is not None:
        return _split_parts(folder, train_dir) is not None
    if child_folder(folder, IMAGE_DIRS) is not None and child_folder(folder, MASK_DIRS) is not None:
        return True
    if root_parts(folder) is not None:
        return True  # parts, each with images and masks, and no splits (the Dubai aerial set's Tile 1/ ...)
    if sibling_pair(folder) is not None:
        return True  # default/ + default_annot/ (CVAT's CamVid export)
    return bool(named_pairs(folder) or _looks_mixed(folder))  # ISIC's _Input/ + _GroundTruth/; x.jpg + x_mask.png


def data_folder_below(folder: Path, most: int = 4) -> Path | None:
    """The one sub-folder of a download's root that holds image/mask data, when the root holds
    none itself and a few other folders beside it (Kaggle's Semantic Drone Dataset:
    ``dataset/semantic_drone_dataset/`` beside ``RGB_color_image_masks/`` and
    ``class_dict_seg.csv``); None when no sub-folder, or more than one, does, or the root has
    more than ``most`` folders (class folders, not a download's parts). Judged one level down
    only (each sub-folder as `looks_like_segmentation` judges it, without this rule)."""
    found = _layout_subfolders(folder, most)
    return found[0] if len(found) == 1 else None


def _layout_subfolders(folder: Path, most: int = 4) -> list[Path]:
    """The sub-folders of a download's root of two to ``most`` folders (not a plain wrapper) that
    are in one of `find_layout`'s layouts themselves (judged without the below-rule)."""
    inner = subfolders(folder)
    if not 2 <= len(inner) <= most or wrapped_folder(folder) is not None:
        return []
    return [f for f in inner if looks_like_segmentation(f, below=False)]


def holds_masks(root: str | os.PathLike[str]) -> bool:
    """`looks_like_segmentation`, less a folder whose mask folder (by name) holds box annotation
    files and no masks: Pascal VOC's detection folders (``JPEGImages/`` + ``Annotations/`` of
    XML, BCCD), YOLO's ``images/`` + ``labels/``. What ``lucid train`` claims for segmentation
    when no ``--task`` is given; the readers still name such folders' boxes in their errors."""
    from lucid.segment.segments import panoptic_files

    base = Path(root).expanduser()
    found = segmentation_root(base)
    if found is None:  # a few folders that each hold masks (tiff/ + png/): segmentation's, to be chosen from
        return sum(holds_masks(f) for f in _layout_subfolders(base)) > 1
    folder = found  # judged where the data is: a wrapped Pascal VOC folder of boxes is detection's
    if child_folder(folder, VOC_MASKS) is not None or child_folder(folder, ("leftImg8bit",)) is not None:
        return True
    if panoptic_files(folder):  # annotations/ holds JSON, and segment PNGs rather than boxes
        return True
    masks = child_folder(folder, MASK_DIRS)
    # The mask folders by name: the root's, else its parts' (VisDrone's -train/ + -val/, each images/ + annotations/).
    mask_dirs = [masks] if masks is not None else [m for _, m in root_parts(folder) or []]
    boxes_only = bool(mask_dirs) and all(
        holds_files(m, BOX_SUFFIXES) and not holds_files(m, MASK_SUFFIXES, 2000) for m in mask_dirs
    )
    return not boxes_only


# VOC's mask folders: DeepLab's SegmentationClassAug/ (SBD's 10,582 training masks with VOC's) first.
VOC_MASKS = ("SegmentationClassAug", "SegmentationClass")
AUGMENTED_LISTS = ("train_aug", "trainaug")  # ImageSets/Segmentation/ lists of the augmented training set


def _voc_layout(folder: Path, val_fraction: float, seed: int) -> SegmentationLayout | None:
    """Pascal VOC's own layout (torchvision's ``VOCSegmentation``): ``JPEGImages/`` +
    ``SegmentationClass/`` (palette PNGs: the index is the class, 255 the void border), or
    DeepLab's ``SegmentationClassAug/`` with ``train_aug.txt`` (grey PNGs alike), split by
    ``ImageSets/Segmentation/{train,val}.txt`` (`lucid.data.voc_split`). ``JPEGImages/`` also holds
    the detection photos, which have no mask: only photos with a mask are read, and said. Without
    a validation list a seeded ``val_fraction`` of the pairs validates."""
    images, masks = child_folder(folder, ("JPEGImages",)), child_folder(folder, VOC_MASKS)
    if images is None or masks is None:
        return None
    augmented = masks.name.lower() == VOC_MASKS[0].lower()
    photos = _keyed(images, walk_images(images)[0], IMAGE_SUFFIXES)
    by_id = _keyed(masks, walk_images(masks)[0], MASK_SUFFIXES)
    if not by_id:
        raise DataError(f"--data {folder}: {masks.name}/ holds no lossless masks ({', '.join(MASK_SUFFIXES)})")

    def pairs(ids: list[str], source: str) -> list[tuple[Path, Path]]:
        keys = [i.lower() for i in ids]
        missing = [i for i, k in zip(ids, keys, strict=True) if k not in photos or k not in by_id]
        if missing:
            raise DataError(
                f"--data {folder}: {len(missing)} id(s) of {source} lack a photo in {images.name}/ or a mask in "
                f"{masks.name}/ (e.g. {missing[:3]})"
            )
        return [(photos[k], by_id[k]) for k in keys]

    train_ids, val_ids, description, notes = voc_split(
        folder, "Segmentation", lambda: sorted(by_id), "masks", AUGMENTED_LISTS if augmented else ()
    )
    if augmented:
        notes.append(f"{folder}: the masks of {masks.name}/ (SBD's added to VOC's, as DeepLab trains) are read")
    unmasked = len(set(photos) - set(by_id))
    if unmasked:
        notes.append(f"{folder}: {unmasked} photos in {images.name}/ have no mask in {masks.name}/ and are not used")
    if val_ids is not None:
        train, val = pairs(train_ids, "the training list"), pairs(val_ids, "the validation list")
        return SegmentationLayout(folder, "splits", train, val, description, notes)
    train, val = seeded_split(pairs(train_ids, "the list"), val_fraction, seed, "image/mask pair")
    notes.append(
        f"{folder}: {len(train)} pairs train, {len(val)} validate (--val-fraction {val_fraction:g}, seed {seed})"
    )
    return SegmentationLayout(folder, "single", train, val, description, notes, val_fraction, seed)


def _coco_layout(folder: Path, val_fraction: float, seed: int) -> SegmentationLayout | None:
    """Outlines or per-object masks drawn into class masks (`lucid.segment.polygons`): COCO
    segmentation files (Roboflow's ``train/_annotations.coco.json`` + ``valid/``, COCO's
    ``annotations/instances_*.json``), YOLO segmentation labels (``images/`` + ``labels/`` of
    polygons), LabelMe files, a Supervisely project (``meta.json`` + ``DATASET/img`` + ``ann``), VIA
    files of regions (``train/via_region_data.json`` + ``val/``) or one mask image per object (Data
    Science Bowl 2018's ``<id>/images`` + ``<id>/masks``): value 0 background, 1..K the classes;
    COCO panoptic files (``annotations/panoptic_*.json``: value k the k-th category by id,
    unlabelled pixels the void value 255, which the coding declares void); without a validation
    split a seeded ``val_fraction`` of the photos validates. A COCO folder holding instances and
    panoptic files is read by its instances' outlines, said in a note."""
    from lucid.segment.matmasks import sbd_masks
    from lucid.segment.polygons import coco_masks, labelme_masks, region_masks, supervisely_masks, yolo_masks
    from lucid.segment.segments import object_masks, panoptic_files, panoptic_masks

    drawn = coco_masks(folder)
    if drawn is not None and (panoptic := panoptic_files(folder)):
        shown = ", ".join(file.name for file in panoptic.values())
        drawn.notes.append(
            f"{folder}: the instances files' outlines are drawn; {shown} not used (a folder without instances_*.json "
            "reads the panoptic segments)"
        )
    drawn = (
        drawn
        or panoptic_masks(folder)
        or yolo_masks(folder)
        or labelme_masks(folder)
        or supervisely_masks(folder)
        or region_masks(folder)
        or object_masks(folder)
        or sbd_masks(folder)
    )
    return None if drawn is None else _drawn_layout(folder, drawn, val_fraction, seed)


def _runs_layout(folder: Path, val_fraction: float, seed: int) -> SegmentationLayout | None:
    """A run-length mask table's rows drawn into class masks (`lucid.segment.runs`: Kaggle's
    ``ImageId,EncodedPixels`` tables), for a folder without mask files of its own (Carvana's
    ``train_masks/`` beside its ``train_masks.csv`` are read as masks)."""
    from lucid.segment.runs import run_masks

    if _in_a_file_layout(folder):
        return None
    drawn = run_masks(folder)
    return None if drawn is None else _drawn_layout(folder, drawn, val_fraction, seed)


def _stack_layout(folder: Path, val_fraction: float, seed: int) -> SegmentationLayout | None:
    """Multi-page TIFF stacks of photos and masks (`lucid.segment.stacks`: ISBI 2012's
    ``train-volume.tif`` + ``train-labels.tif``), a pair per page, split by seed."""
    from lucid.segment.stacks import stack_files, stack_pairs

    files = stack_files(folder)
    pairs = stack_pairs(folder, files) if files else None
    if not pairs:
        return None
    stacks = " + ".join(f"{p.name} + {m.name}" for p, m in files)
    train, val = seeded_split(pairs, val_fraction, seed, "page")
    description = f"TIFF stacks {stacks}, {len(val)} of {len(pairs)} pages validate"
    note = f"{folder}: each page of {stacks} written once as a PNG pair into {pairs[0][1].parent}"
    return SegmentationLayout(folder, "single", train, val, description, [note], val_fraction, seed)


def _hub_layout(folder: Path, val_fraction: float, seed: int) -> SegmentationLayout | None:
    """A Hugging Face set of photo and mask columns (`lucid.segment.hubmasks`), read from the
    files it is written into once: its own splits, else a seeded one."""
    from lucid.segment.hubmasks import hub_masks

    found = hub_masks(folder)
    if found is None:
        return None
    cache, what = found
    return _cached_layout(folder, cache, what, val_fraction, seed)


def _npy_layout(folder: Path, val_fraction: float, seed: int) -> SegmentationLayout | None:
    """Photo and mask arrays in ``.npy`` files (`lucid.segment.npymasks`), read from the files
    they are written into once: their own splits, else a seeded one."""
    from lucid.segment.npymasks import npy_masks

    found = npy_masks(folder)
    if found is None:
        return None
    cache, what = found
    return _cached_layout(folder, cache, what, val_fraction, seed)


def _cached_layout(folder: Path, cache: Path, what: str, val_fraction: float, seed: int) -> SegmentationLayout:
    """The layout of the pairs written for ``folder`` into ``cache`` (``<split>/images`` +
    ``<split>/masks``), named as ``folder``: its notes speak of the user's folder and its splits,
    not of the cache's split folders, and the checkpoint records ``folder``."""
    layout = find_layout(cache, val_fraction=val_fraction, seed=seed)
    notes = [note.replace(str(cache), str(folder)) for note in layout.notes if "split but no val/" not in note]
    if layout.kind == "single":
        notes.insert(0, f"{folder}: no validation (or test) split: the training split is split")
    layout.notes = [f"{folder}: {what}, written once as files into {cache}", *notes]
    held = layout.description.split(", ", 1)[1] if layout.kind == "single" and ", " in layout.description else None
    layout.description = what if held is None else f"{what}, {held}"  # not the cache's images/ + masks/
    layout.source = folder
    return layout


def _drawn_layout(folder: Path, drawn: DrawnMasks, val_fraction: float, seed: int) -> SegmentationLayout:
    """The layout of masks drawn into the cache: their own split, else a seeded one."""
    if drawn.val is not None:
        layout = SegmentationLayout(folder, "splits", drawn.train, drawn.val, drawn.description, drawn.notes)
    else:
        train, val = seeded_split(drawn.train, val_fraction, seed, "photo")
        description = f"{drawn.description}, {len(val)} of {len(drawn.train)} photos validate"
        layout = SegmentationLayout(folder, "single", train, val, description, drawn.notes, val_fraction, seed)
    names = [BACKGROUND, *drawn.names] if drawn.background else list(drawn.names)
    # Values are the classes; without a background (panoptic) unlabelled pixels hold 255, declared void.
    void = [] if drawn.background else [DEFAULT_IGNORE_INDEX]
    layout.coding = ColourTable(names, list(drawn.colours), [], [[value] for value in range(len(names))], void)
    return layout


CITYSCAPES_IMAGE = "_leftImg8bit"
CITYSCAPES_MASKS = ("_labelTrainIds", "_labelIds")  # train ids (prepared), else the download's label ids


def _cityscapes_layout(folder: Path, val_fraction: float, seed: int) -> SegmentationLayout | None:
    """Cityscapes (torchvision's ``Cityscapes``): ``leftImg8bit/{train,val}/<city>/x_leftImg8bit.png``
    with ``gtFine/`` (or ``gtCoarse/``) ``{train,val}/<city>/x_gtFine_labelTrainIds.png`` (the 19
    training classes 0..18, 255 void), else the download's own ``x_gtFine_labelIds.png`` (34 label
    ids, turned into those classes as cityscapesscripts does). Names, colours and ids come from
    torchvision's class table (`cityscapes_coding`)."""
    images_top = child_folder(folder, ("leftImg8bit",))
    masks_top = child_folder(folder, ("gtFine", "gtCoarse"))
    if images_top is None or masks_top is None:
        return None
    train_dir, val_dir, notes = split_folders(images_top)
    if train_dir is None or val_dir is None:
        raise DataError(f"--data {folder}: {images_top.name}/ needs train/ and val/ city folders (Cityscapes)")
    gt = "gtFine" if masks_top.name.lower() == "gtfine" else "gtCoarse"  # as the files name it
    photos = {d: _cityscapes_photos(folder, d, masks_top) for d in (train_dir, val_dir)}  # one walk each
    for kind in CITYSCAPES_MASKS:
        train, val = (_cityscapes_pairs(d, photos[d], masks_top, f"_{gt}{kind}") for d in (train_dir, val_dir))
        if train[1] == val[1] == []:
            description = (
                f"Cityscapes: {images_top.name}/ + {masks_top.name}/*{kind}.png ({train_dir.name}/ + {val_dir.name}/)"
            )
            layout = SegmentationLayout(folder, "splits", train[0], val[0], description, notes)
            layout.coding = cityscapes_coding(label_ids=kind == "_labelIds")
            return layout
    missing = train[1] or val[1]
    raise DataError(
        f"--data {folder}: {len(train[1]) + len(val[1])} photos have no mask in {masks_top.name}/ "
        f"(x_{gt}_labelTrainIds.png or x_{gt}_labelIds.png; e.g. {missing[0]})"
    )


KITTI_SEMANTIC = ("image_2", "semantic")  # KITTI's semantics benchmark: photos, and masks of Cityscapes' label ids


def _kitti_layout(folder: Path, val_fraction: float, seed: int) -> SegmentationLayout | None:
    """KITTI's semantic segmentation (``data_semantics/training/image_2/x.png`` +
    ``training/semantic/x.png``, its masks of Cityscapes' 34 label ids, as its README says, read
    as the 19 training classes by `cityscapes_coding`; ``semantic_rgb/`` and ``instance/`` not
    used), split by a seeded ``val_fraction``: ``testing/`` has no masks and is not read."""
    training = child_folder(folder, ("training",))
    images = child_folder(training, (KITTI_SEMANTIC[0],))
    masks = child_folder(training, (KITTI_SEMANTIC[1],))
    if training is None or images is None or masks is None:
        return None
    pairs = match_pairs(images, masks)
    train, val = seeded_split(pairs, val_fraction, seed, "image/mask pair")
    description = (
        f"KITTI semantics: {training.name}/{images.name}/ + {masks.name}/, {len(val)} of {len(pairs)} pairs validate"
    )
    notes = [f"{folder}: masks of Cityscapes' label ids (KITTI's semantics), read as its 19 training classes"]
    if child_folder(folder, ("testing",)) is not None:
        notes.append(f"{folder}: testing/ (photos without masks) is not used")
    layout = SegmentationLayout(folder, "single", train, val, description, notes, val_fraction, seed)
    layout.coding = cityscapes_coding(label_ids=True)
    return layout


MAPILLARY_CONFIG = re.compile(r"config_v(\d+(?:\.\d+)*)\.json", re.IGNORECASE)


def _mapillary_layout(folder: Path, val_fraction: float, seed: int) -> SegmentationLayout | None:
    """Mapillary Vistas: ``training/images/x.jpg`` + ``training/v2.0/labels/x.png`` (and
    ``validation/``; ``v1.2/`` alike), with ``config_v2.0.json`` at the root naming each label
    value (``labels``: ``readable``, ``color``); of several versions the newest whose config is
    there is read, said. ``void--unlabeled`` is void; ``testing/`` has no labels and is not read."""
    configs = sorted(
        ((tuple(int(v) for v in m.group(1).split(".")), folder / m.group(0)) for e in _entries(folder)
         if (m := MAPILLARY_CONFIG.fullmatch(e)) is not None),
        reverse=True,
    )  # fmt: skip
    training = child_folder(folder, ("training",))
    for version, config in configs:
        label = ".".join(str(v) for v in version)
        labels = child_folder(child_folder(training, (f"v{label}",)), ("labels",))
        images = child_folder(training, ("images",))
        if training is None or images is None or labels is None:
            continue
        train = match_pairs(images, labels)
        validation = child_folder(folder, ("validation",))
        val_labels = child_folder(child_folder(validation, (f"v{label}",)), ("labels",))
        val_images = child_folder(validation, ("images",))
        notes = [f"{folder}: Mapillary Vistas v{label} labels, named by {config.name}"]
        notes += [f"{folder}: {c.name} not used (v{label} is the newest here)" for _, c in configs if c != config]
        if val_images is not None and val_labels is not None:
            val = match_pairs(val_images, val_labels)
            description = f"Mapillary Vistas v{label}: training/ + validation/"
            layout = SegmentationLayout(folder, "splits", train, val, description, notes)
        else:
            train, val = seeded_split(train, val_fraction, seed, "image/mask pair")
            description = f"Mapillary Vistas v{label}: training/, {len(val)} pairs validate"
            layout = SegmentationLayout(folder, "single", train, val, description, notes, val_fraction, seed)
        layout.coding = mapillary_coding(config)
        return layout
    return None


def _entries(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if e.is_file())
    except OSError:
        return []


def _cityscapes_photos(folder: Path, split: Path, masks_top: Path) -> list[Path]:
    """The ``x_leftImg8bit.png`` photos of ``split``; none, or no mask folder of its name, is an error."""
    photos = [p for p in walk_images(split)[0] if p.stem.endswith(CITYSCAPES_IMAGE)]
    if child_folder(masks_top, (split.name,)) is None or not photos:
        raise DataError(
            f"--data {folder}: no {split.name}/ photos (x{CITYSCAPES_IMAGE}.png) with masks in {masks_top.name}/"
        )
    return photos


def _cityscapes_pairs(
    split: Path, photos: Sequence[Path], masks_top: Path, ending: str
) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Each of ``split``'s ``photos`` with its ``x<ending>.png``, and the masks missing."""
    masks = child_folder(masks_top, (split.name,)) or masks_top / split.name
    pairs, missing = [], []
    for photo in photos:
        stem = photo.relative_to(split).with_name(photo.stem[: -len(CITYSCAPES_IMAGE)]).as_posix()
        mask = masks / f"{stem}{ending}.png"
        if mask.is_file():
            pairs.append((photo, mask))
        else:
            missing.append(mask)
    return pairs, missing


def _split_folders_layout(
    folder: Path, train_dir: Path, val_dir: Path | None, notes: list[str], val_fraction: float, seed: int
) -> SegmentationLayout:
    """``train/`` + ``val/`` (or ``test/``), each with images + masks inside or beside it; a
    ``train/`` alone is split as one folder of pairs."""
    found = _split_parts(folder, train_dir)
    if found is None:
        raise DataError(
            f"--data {folder}: {train_dir.name}/ has no images/ + masks/ folders and no mask folder beside it "
            f"({SIBLING_MASK_DIRS[0].format(train_dir.name)}/ ...); expected {LAYOUT_HELP}"
        )
    if val_dir is None:
        if len(found) == 1:
            layout = _single_layout(folder, *found[0], val_fraction, seed)
        else:
            layout = _seeded_parts_layout(folder, found, val_fraction, seed)
        layout.notes.insert(0, f"{folder}: a {train_dir.name}/ split but no val/ (or valid/, test/): it is split")
        return layout
    val_found = _split_parts(folder, val_dir)
    if val_found is None and _unlabelled(folder, val_dir):  # DeepGlobe's valid/: photos, their masks withheld
        layout = _split_folders_layout(folder, train_dir, None, notes, val_fraction, seed)
        layout.notes[0] = (  # in place of "no val/": there is one, unusable
            f"{folder}: {val_dir.name}/ holds photos without masks (unlabelled), so it is not used: "
            f"{train_dir.name}/ is split"
        )
        return layout
    if val_found is None:
        raise DataError(f"--data {folder}: {val_dir.name}/ is not laid out like {train_dir.name}/ ({LAYOUT_HELP})")
    description = f"{train_dir.name}/ + {val_dir.name}/ ({_parts_text(folder, found)})"
    return SegmentationLayout(folder, "splits", _parts_pairs(found), _parts_pairs(val_found), description, notes)


def _unlabelled(root: Path, split: Path, limit: int = 2000) -> bool:
    """Whether a split folder holds photos and nothing that could be their masks: no mask folder
    in or beside it, and no file (of the first ``limit``) named as a mask. A split with masks that
    do not pair stays an error."""
    if child_folder(split, MASK_DIRS) is not None:
        return False
    if sibling_masks(root, split) is not None:
        return False
    seen = 0
    for _, _, names in os.walk(split):
        stems = [Path(n).stem.lower() for n in names if n.lower().endswith(IMAGE_SUFFIXES)]
        if any(stem.endswith(MIXED_TAGS) or _untagged(stem) is not None for stem in stems):
            return False
        seen += len(stems)
        if seen >= limit:
            break
    return seen > 0


def _seeded_parts_layout(
    folder: Path, parts: list[tuple[Path, Path]], val_fraction: float, seed: int
) -> SegmentationLayout:
    """A training split of several parts and no validation split: a seeded ``val_fraction`` of
    all their pairs validates."""
    pairs = _parts_pairs(parts)
    train, val = seeded_split(pairs, val_fraction, seed, "image/mask pair")
    description = f"{_parts_text(folder, parts)}, {len(val)} of {len(pairs)} pairs validate"
    note = (
        f"{folder}: {len(pairs)} image/mask pairs in {len(parts)} parts: {len(train)} train, {len(val)} validate "
        f"(--val-fraction {val_fraction:g}, seed {seed})"
    )
    return SegmentationLayout(folder, "single", train, val, description, [note], val_fraction, seed)


def _splits_inside_layout(folder: Path, images_top: Path, masks_top: Path) -> SegmentationLayout:
    """``images/training/`` + ``annotations/training/`` and their validation splits (ADE20K; COCO-Stuff's
    ``images/train2017/`` + ``annotations/train2017/``, its stuffthingmaps unzipped as its README says)."""
    image_train, image_val, _ = split_folders(images_top)
    mask_train, mask_val, _ = split_folders(masks_top)
    if image_train is None or mask_train is None or image_val is None or mask_val is None:
        raise DataError(f"--data {folder}: {images_top.name}/ holds a training split but no validation split")
    description = f"{images_top.name}/{{{image_train.name},{image_val.name}}} + {masks_top.name}/..."
    train, val = match_pairs(image_train, mask_train), match_pairs(image_val, mask_val)
    return SegmentationLayout(folder, "splits", train, val, description, [])


def _single_layout(
    folder: Path, images_top: Path, masks_top: Path, val_fraction: float, seed: int
) -> SegmentationLayout:
    """One ``images/`` + ``masks/`` pair of folders: split by the lists of names beside them
    (`lucid.data.labels.split_names`: Oxford-IIIT Pet's ``annotations/trainval.txt`` + ``test.txt``),
    else a seeded ``val_fraction`` of the pairs validates."""
    pairs = match_pairs(images_top, masks_top)
    listed = split_names(images_top)
    if listed is not None:
        return _listed_layout(folder, pairs, listed, f"{images_top.name}/ + {masks_top.name}/")
    named = _named_splits(pairs) if images_top == masks_top else None
    if named is not None:  # GlaS: train_1.bmp, testA_1.bmp, testB_1.bmp beside their masks in one folder
        train, val, names = named
        description = f"{images_top.name}/, split by the photos' names ({names})"
        return SegmentationLayout(folder, "splits", train, val, description, [f"{folder}: {description}"])
    train, val = seeded_split(pairs, val_fraction, seed, "image/mask pair")
    where = f"{images_top.name}/ (photos beside their masks)" if images_top == masks_top else None
    description = f"{where or f'{images_top.name}/ + {masks_top.name}/'}, {len(val)} of {len(pairs)} pairs validate"
    note = (
        f"{folder}: one folder of {len(pairs)} image/mask pairs: {len(train)} train, {len(val)} validate "
        f"(--val-fraction {val_fraction:g}, seed {seed})"
    )
    return SegmentationLayout(folder, "single", train, val, description, [note], val_fraction, seed)


def _named_splits(
    pairs: list[tuple[Path, Path]],
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, Path]], str] | None:
    """The pairs of a folder of photos beside their masks split by the word each photo's name
    begins with (GlaS: ``train_1``, ``testA_1``, ``testB_1``: the test parts validate, a ``val``
    part before them), or None unless every photo's name begins with a split's word and both a
    training and a held-out one are there."""
    roles: dict[str, list[tuple[Path, Path]]] = {}
    words: dict[str, set[str]] = {}
    for pair in pairs:
        word = re.split(r"[-_ .]", pair[0].stem, maxsplit=1)[0]
        role = split_role(word) or split_role(word.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
        if role is None:
            return None
        roles.setdefault(role, []).append(pair)
        words.setdefault(role, set()).add(word)
    held = "val" if "val" in roles else "test"
    if "train" not in roles or held not in roles:
        return None
    named = {role: "/".join(f"{word}_*" for word in sorted(found)) for role, found in words.items()}
    shown = f"{named['train']} train, {named[held]} validate"
    return roles["train"], roles[held], shown


def _listed_layout(
    folder: Path,
    pairs: list[tuple[Path, Path]],
    listed: tuple[tuple[str, list[str]], tuple[str, list[str]]],
    where: str,
) -> SegmentationLayout:
    """``pairs`` split by the training and validation image names of `lucid.data.labels.split_names`
    (each with where it was read); a listed name without its pair is a DataError, pairs in no
    list are not used (said)."""
    by_name = {image.stem.lower(): (image, mask) for image, mask in pairs}
    parts = []
    for source, listed_names in listed:
        names = list(dict.fromkeys(Path(name).name.lower() for name in listed_names))
        names = [n.rsplit(".", 1)[0] if n.endswith(IMAGE_SUFFIXES) else n for n in names]  # valid.txt: x.png
        missing = [name for name in names if name not in by_name]
        if missing:
            raise DataError(f"{source}: {len(missing)} listed image(s) have no image/mask pair (e.g. {missing[:3]})")
        parts.append([by_name[name] for name in names])
    train, val = parts
    (train_source, _), (val_source, _) = listed
    train_name, val_name = Path(train_source).name, Path(val_source).name
    notes = [f"{folder}: {where} split by {train_name} ({len(train)}) + {val_name} ({len(val)})"]
    unlisted = len(pairs) - len({*train, *val})
    if unlisted:
        notes.append(f"{folder}: {unlisted} image/mask pairs are in neither list and are not used")
    description = f"{where} split by {train_name} + {val_name}"
    return SegmentationLayout(folder, "splits", train, val, description, notes)


class SegmentationFolder(Dataset):
    """Image/mask pairs: items are ``(image, mask)`` after ``transform``.

    ``root`` is one split folder (``images/`` + ``masks/``, or ``labels/`` ...), or with ``pairs``
    the folder those (image, mask) paths came from (`find_layout`). ``colours`` (class i's
    ``(r, g, b)``, a `ColourTable`) reads colour-coded masks. Without a transform an
    item is ``(tv_tensors.Image uint8 (3, H, W), tv_tensors.Mask uint8 (H, W))``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        transform: Any = None,
        *,
        pairs: Sequence[tuple[Path, Path]] | None = None,
        colours: ColourTable | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        self.colours = colours
        if pairs is None:
            if not self.root.is_dir():
                raise DataError(f"{self.root}: no such folder (expected a split with images/ and masks/)")
            images, masks = child_folder(self.root, IMAGE_DIRS), child_folder(self.root, MASK_DIRS)
            if images is None or masks is None:
                missing = "images/" if images is None else "masks/ (or labels/, annotations/)"
                raise DataError(f"{self.root}: expected the folders images/ and masks/, {missing} is missing")
            pairs = match_pairs(images, masks)
        self.samples = [(Path(i), Path(m)) for i, m in pairs]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[Any, Any]:
        """The untransformed ``(Image, Mask)`` pair, checked to have the same size."""
        from torchvision import tv_tensors

        image, mask = read_pair(*self.samples[index], self.colours)
        return tv_tensors.Image(image), tv_tensors.Mask(mask)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        image, mask = self.load(index)
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        return image, mask


def train_transform(
    crop_size: tuple[int, int],
    ignore_index: int,
    *,
    base_size: int | None = None,
    scale: tuple[float, float] = (0.5, 2.0),
    hflip: float = 0.5,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Any:
    """Random scale (short side ``base_size * U(scale)``), padded random crop, flip, normalise.

    torchvision's segmentation reference recipe with v2: padding fills the image with 0 and the
    mask with ``ignore_index``, so padded pixels are never learned.
    """
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    low, high = scale_range(base_size or min(crop_size), scale)
    steps: list[Any] = [v2.RandomResize(low, high + 1, antialias=True)]
    steps.append(
        v2.RandomCrop(list(crop_size), pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: ignore_index})
    )
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    steps += _to_model_input(mean, std)
    return v2.Compose(steps)


def scale_range(base_size: int, scale: tuple[float, float]) -> tuple[int, int]:
    """The range ``(low, high)`` a training image's short side is rescaled to: ``scale`` times
    ``base_size`` (`scale_base`), at least 1 and 2 pixels. One rule for the streamed
    (`train_transform`) and the cached (`lucid.segment.cache.PairAugment`) paths."""
    return max(1, int(base_size * scale[0])), max(2, int(base_size * scale[1]))


DEFAULT_CROP = (256, 320)  # (height, width): the CPU recipe's crop on CamVid-size photos (docs/segmentation.md)
CROP_MULTIPLE = 16  # a fitted crop's sides: whole multiples of the network's output stride
SIZE_MULTIPLE = 8  # a photo's typical size, rounded for an export's nominal input
MIN_SIDE = 32  # the smallest fitted crop or nominal side
# Photos whose median short side is larger train (their scales relative to it) and are scored with
# their short side resized to it: camera photos of 12-24 MP were validated at full size, 11 GB for
# 8 photos of 4000x3000 on the CPU. Cityscapes' 1024x2048 keeps its full size.
WORKING_SIDE = 1024


@dataclass(frozen=True)
class CropChoice:
    """The training crop (``size``, height x width) and the photos' typical size (``photo``,
    the median height and width over their headers, rounded to `SIZE_MULTIPLE`): ``fitted``
    when the default crop was cut down to photos smaller than it, said by ``note``."""

    size: tuple[int, int]
    photo: tuple[int, int] | None
    fitted: bool = False
    resize: int | None = None  # the short side photos are resized to (`WORKING_SIDE`), or None
    median: tuple[int, int] | None = None  # the photos' own median (height, width) when resized
    base: int | None = None  # the size training scales are relative to (`scale_base`); None: no header read

    @property
    def note(self) -> str:
        if not self.fitted or self.photo is None:
            return ""
        return f"fitted to the photos' median {self.photo[0]}x{self.photo[1]}"

    @property
    def resize_note(self) -> str:
        if self.resize is None or self.median is None:
            return ""
        return (
            f"photos resized to a short side of {self.resize} to train and score (their median is "
            f"{self.median[0]}x{self.median[1]})"
        )


def fit_crop(files: Sequence[Path], crop: tuple[int, int] | None = None) -> CropChoice:
    """The training crop for photos ``files``: ``crop`` when given; else `DEFAULT_CROP`, each
    side cut down to the photos' median side (rounded down to `CROP_MULTIPLE`, at least
    `MIN_SIDE`).

    Why: a crop larger than the photo is padding, ignored by the loss but computed, and black
    pixels the evaluation's full photos never show. 101x101 photos in a 256x320 crop spend 8 of
    every 9 pixels on it. Photos as large as the crop keep it, so CamVid's recipe is unchanged."""
    from lucid.data.images import header_sizes

    try:
        sizes = header_sizes(files)
    except DataError:  # no photo's header reads: decoding names the file when a pair is read
        return CropChoice(crop or DEFAULT_CROP, None)
    height, width = float(np.median([h for _, h in sizes])), float(np.median([w for w, _ in sizes]))
    short = float(np.median([min(size) for size in sizes]))
    resize = WORKING_SIDE if short > WORKING_SIDE else None
    factor = 1.0 if resize is None else WORKING_SIDE / short
    photo = (_rounded(height * factor), _rounded(width * factor))
    median = None if resize is None else (round(height), round(width))
    base = min(WORKING_SIDE, int(short))
    if crop is not None:
        return CropChoice(crop, photo, resize=resize, median=median, base=base)

    def cut(limit: int, side: int) -> int:
        return min(limit, max(MIN_SIDE, CROP_MULTIPLE * (side // CROP_MULTIPLE)))

    fitted = (cut(DEFAULT_CROP[0], photo[0]), cut(DEFAULT_CROP[1], photo[1]))
    return CropChoice(fitted, photo, fitted != DEFAULT_CROP, resize, median, base)


def _rounded(side: float) -> int:
    """A typical side rounded to `SIZE_MULTIPLE`, at least `MIN_SIDE`."""
    return max(MIN_SIDE, SIZE_MULTIPLE * round(side / SIZE_MULTIPLE))


def scale_base(dataset: SegmentationFolder) -> int:
    """The size training scales are relative to: the training photos' median short side (over
    up to 1,000 headers, `lucid.data.images.header_sizes`; a quarter turn by EXIF orientation
    keeps the short side), so scale 1 is the resolution evaluation sees for a typical photo.
    Why the median: with the first photo's side, one large photo first in a set of small ones
    (or the reverse) set every photo's scale. At most `WORKING_SIDE`. Read with the crop
    (`fit_crop`'s ``base``); headers that do not read decode the first pair, whose error names
    the file."""
    base = fit_crop([Path(image) for image, _ in dataset.samples]).base
    return base if base is not None else min(WORKING_SIDE, *(int(d) for d in dataset.load(0)[0].shape[-2:]))


def eval_transform(
    mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, resize: int | None = None
) -> Any:
    """Full-size evaluation: only scale to float and normalise (metrics at the masks' resolution);
    with ``resize`` (a run's `WORKING_SIDE`), the short side of the photo and its mask (nearest
    neighbour, v2's rule for masks) resized to it first, as torchvision's segmentation reference
    evaluates at its base size."""
    from torchvision.transforms import v2

    steps = [v2.Resize(resize, antialias=True)] if resize else []
    return v2.Compose([*steps, *_to_model_input(mean, std)])


def _to_model_input(mean: Sequence[float], std: Sequence[float]) -> list[Any]:
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    return [
        v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64, "others": None}, scale=True),
        v2.Normalize(list(mean), list(std)),
    ]


def pad_collate(ignore_index: int) -> Any:
    """A collate function padding images (0) and masks (``ignore_index``) to the batch's largest size.

    Evaluation keeps each image at its own size; padding (ignored by loss and metrics) lets images
    of different sizes share a batch. torch's default collate only stacks equal shapes.
    """

    return PadCollate(ignore_index)


class PadCollate:
    """`pad_collate`'s callable (a class, so loader workers started by spawn or a forkserver can take it)."""

    def __init__(self, ignore_index: int) -> None:
        self.ignore_index = ignore_index

    def __call__(self, batch: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        height = max(int(image.shape[-2]) for image, _ in batch)
        width = max(int(image.shape[-1]) for image, _ in batch)
        device = batch[0][0].device  # a set kept on the GPU gives its batches there
        images = torch.zeros(len(batch), batch[0][0].shape[0], height, width, dtype=torch.float32, device=device)
        masks = torch.full((len(batch), height, width), self.ignore_index, dtype=torch.int64, device=device)
        for i, (image, mask) in enumerate(batch):
            h, w = image.shape[-2:]
            images[i, :, :h, :w] = image.as_subclass(torch.Tensor)
            masks[i, :h, :w] = mask.as_subclass(torch.Tensor)
        return images, masks


def class_frequencies(dataset: SegmentationFolder, num_classes: int, ignore_index: int) -> torch.Tensor:
    """The fraction of labelled pixels of each class over the split's masks (void not counted)."""
    counts = mask_histogram(dataset).astype(np.float64)
    counts[ignore_index] = 0.0
    counts = counts[:num_classes]
    return torch.from_numpy(counts / max(counts.sum(), 1.0))


def enet_class_weights(frequencies: torch.Tensor, c: float = 1.02) -> torch.Tensor:
    """ENet's class weights ``1 / ln(c + p_class)`` (Paszke et al., 2016): rare classes (poles, signs,
    cyclists) weigh up to ~50x, frequent ones (road, sky) ~3x, so the loss does not ignore small objects."""
    return (1.0 / torch.log(c + frequencies)).float()


def mask_histogram(dataset: SegmentationFolder) -> np.ndarray:
    """``(256,)`` int64 pixel counts of every mask value over the split's masks."""
    counts = np.zeros(256, dtype=np.int64)
    for _, mask_path in dataset.samples:  # numpy: one small histogram per mask, no thread pool needed
        counts += np.bincount(read_mask(mask_path, dataset.colours).numpy().reshape(-1), minlength=256)
    return counts


def _share(counts: np.ndarray, value: int) -> str:
    return f"{100 * counts[value] / max(int(counts.sum()), 1):.2f} % of the pixels"


def resolve_classes(
    counts: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    names_from: str = "--classes",
    num_classes: int | None = None,
    ignore_index: int | None = None,
) -> tuple[list[str], int, str]:
    """The class names, the void value and one line saying which value is void and why.

    ``counts`` is the ``(256,)`` pixel count of each mask value (`mask_histogram` of the
    splits). The rule, declared rather than guessed (a value's rarity does not tell void from a
    small class: CamVid's void is 4 % of the pixels, its bicyclists 0.3 %):

    * names given (``names`` or ``num_classes``: K classes, values 0..K-1): the void value is
      ``ignore_index`` if given, else the one mask value present that is not a class (255 when
      there is none); two or more values outside the classes are a `DataError`;
    * no names: void is ``ignore_index`` if given, else 255; every other value present is a
      class (0..the largest), and the line says how to declare the largest one void.

    Any mask value that is neither a class nor the void value is a `DataError`.
    """
    present = [int(v) for v in np.flatnonzero(counts)]
    if ignore_index is not None and not 0 <= ignore_index <= 255:
        raise DataError(f"--ignore-index must be an 8-bit mask value 0..255, got {ignore_index}")
    if names is not None or num_classes is not None:
        class_names, ignore, note = _declared_classes(counts, present, names, names_from, num_classes, ignore_index)
    else:
        class_names, ignore, note = _classes_from_masks(counts, present, ignore_index)
    count = len(class_names)
    stray = [v for v in present if v >= count and v != ignore]
    if stray:
        raise DataError(
            f"mask values {stray[:10]} ({', '.join(_share(counts, v) for v in stray[:3])}) are neither a class "
            f"(0..{count - 1}) nor the void value {ignore}: name them as classes, or pass --ignore-index V "
            "for the void one"
        )
    return class_names, ignore, note


_OVERRIDE = "override with --ignore-index V, name the classes with --classes A,B,... or DIR/classes.txt"


def _declared_classes(
    counts: np.ndarray,
    present: list[int],
    names: Sequence[str] | None,
    names_from: str,
    num_classes: int | None,
    ignore_index: int | None,
) -> tuple[list[str], int, str]:
    """`resolve_classes` when the classes are declared (``names`` or ``num_classes``: values
    0..K-1): the void value is ``ignore_index``, else the last name's value when that name is void
    (``Void``, ``unlabelled``), else the one present value that is not a class."""
    named_void = None
    if names is not None and ignore_index is None:
        names, named_void = void_last(names)
    count = len(names) if names is not None else int(num_classes or 0)
    if num_classes is not None and names is not None and count != num_classes:
        raise DataError(f"--num-classes {num_classes} but {count} class names were given ({names_from})")
    label = names_from if names is not None else f"--num-classes {count}"
    unnamed = [v for v in present if v >= count]
    if ignore_index is not None:
        ignore, why = ignore_index, "--ignore-index"
    elif named_void is not None and set(unnamed) <= {named_void}:
        ignore, why = named_void, f"the last name of {label} is void"
    elif not unnamed:
        ignore, why = DEFAULT_IGNORE_INDEX, "not in the masks"
    elif len(unnamed) == 1:
        ignore, why = unnamed[0], f"the one mask value that is not a class, {_share(counts, unnamed[0])}"
    else:
        shares = ", ".join(f"{v} ({_share(counts, v)})" for v in unnamed)
        raise DataError(
            f"the masks hold {len(unnamed)} values outside the {count} classes of {label}: {shares}; "
            "lucid ignores one void value: pass --ignore-index V for the void one and name the others as classes"
        )
    if ignore < count:
        raise DataError(
            f"--ignore-index {ignore} is one of the {count} classes (0..{count - 1}); CamVid's void is 11, "
            "the common default 255"
        )
    class_names = [str(n) for n in names] if names is not None else [f"class_{i}" for i in range(count)]
    return class_names, ignore, f"classes 0..{count - 1} ({count}, from {label}); void: {ignore} ({why}); {_OVERRIDE}"


def _classes_from_masks(counts: np.ndarray, present: list[int], ignore_index: int | None) -> tuple[list[str], int, str]:
    """`resolve_classes` without declared classes: void is ``ignore_index``, else 255, and every
    other value present is a class (0..the largest)."""
    if ignore_index is not None:
        ignore, why = ignore_index, "--ignore-index"
    else:
        ignore = DEFAULT_IGNORE_INDEX
        why = f"in the masks, {_share(counts, ignore)}" if counts[ignore] else "not in the masks"
    values = [v for v in present if v != ignore]
    if not values:
        raise DataError(f"every mask pixel is the void value {ignore}; nothing to learn")
    count = values[-1] + 1
    note = f"classes 0..{count - 1} ({count}: every mask value but the void one); void: {ignore} ({why})"
    if ignore_index is None and not counts[DEFAULT_IGNORE_INDEX]:
        note += (
            f"; if {count - 1} is void/unlabelled ({_share(counts, count - 1)}), pass --ignore-index {count - 1}"
            " or name the classes in DIR/classes.txt (the value left unnamed is void)"
        )
    else:
        note += f"; {_OVERRIDE}"
    return [f"class_{i}" for i in range(count)], ignore, note


def _black_and_white(
    counts: np.ndarray, names: Sequence[str] | None, num_classes: int | None, ignore_index: int | None
) -> bool:
    """Whether masks of these value ``counts`` are black and white (only 0 and 255: ISIC's,
    Carvana's): 255 is then the one class, not void, unless ``--ignore-index`` or a number of
    classes other than two says otherwise."""
    two = set(np.flatnonzero(counts).tolist()) == {0, DEFAULT_IGNORE_INDEX}
    return two and ignore_index is None and num_classes in (None, 2) and (names is None or len(names) == 2)


@dataclass
class SegmentationDataInfo:
    """What the model needs to know about the data: classes, ignore value, normalisation, sizes.

    ``void_note`` is the line saying which mask value is void and why (`resolve_classes`).
    """

    root: str
    classes: list[str]
    ignore_index: int
    crop_size: tuple[int, int]
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    train_images: int = 0
    val_images: int = 0
    void_note: str = ""
    split: dict[str, Any] | None = None  # SegmentationLayout.to_dict(): how the pairs were split
    layout_notes: list[str] = field(default_factory=list)
    colours: dict[str, Any] | None = None  # ColourTable.to_dict() of colour-coded masks (class_dict.csv)
    photo_size: tuple[int, int] | None = None  # the training photos' median (height, width), rounded
    crop_note: str = ""  # why the crop is not the default (`CropChoice.note`)
    resize_size: int | None = None  # the short side photos are resized to (`WORKING_SIDE`), else None
    resize_note: str = ""  # `CropChoice.resize_note`
    scale_base: int = 0  # the size training scales are relative to (`scale_base`)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "classes": list(self.classes),
            "ignore_index": self.ignore_index,
            "crop_size": list(self.crop_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "train_images": self.train_images,
            "val_images": self.val_images,
            "void_note": self.void_note,
            "split": self.split,
            "colours": self.colours,
            "photo_size": list(self.photo_size) if self.photo_size else None,
            "resize_size": self.resize_size,
        }


def _mask_coding(layout: SegmentationLayout, top: Path) -> tuple[ColourTable | None, str]:
    """How ``layout``'s masks code their classes, and where that was read: the layout's own
    coding, else a colour table (``class_dict.csv``) at the data root or a folder above it up to
    ``top`` (the ``--data`` folder: Kaggle's Semantic Drone Dataset keeps ``class_dict_seg.csv``
    at its download's root), which decodes colour masks and names one-channel masks' values by its
    rows, else black-and-white JPEG masks (cut at 128); ``(None, ...)`` for masks that hold class
    values."""
    folder = layout.root
    if layout.coding is not None:
        return layout.coding, layout.description
    places = [folder, *(p for p in folder.parents if p == top or top in p.parents)]
    for place in places:
        table = read_colour_table(place)
        if table is None:
            continue
        named = (*COLOUR_TABLES, LABEL_MAP, LABEL_COLORS, "classes.json")
        source = next((str(place / n) for n in named if (place / n).is_file()), str(place))
        if table.label_ids is None and layout.train and _one_channel_mask(layout.train[0][1]):
            table = read_colour_table(place, values=True) or table
            source += ": row i names mask value i"
        return table, source
    return two_level_jpeg([*layout.train, *layout.val], folder), "black-and-white JPEG masks, cut at 128"


def _one_channel_mask(file: Path) -> bool:
    """Whether a mask file holds one channel of values (grey or integer, not colours or a palette):
    its values are class numbers, which a colour table's rows then name."""
    from PIL import Image

    try:
        with Image.open(file) as opened:
            return opened.mode in ("L", "1", "I", "I;16", "I;16B", "I;16L")
    except OSError:
        return False


def _given_names(layout: Any, classes: Sequence[str] | None, table: Any, source: str) -> tuple[list[str] | None, str]:
    """The class names the data or the user gives, and where from: ``classes`` (``--classes``),
    else the coding ``table``'s (read from ``source``), else a class file at the data root or
    beside the training masks (Roboflow's ``train/_classes.csv``); None when nothing names them."""
    if classes is not None:
        return list(classes), "--classes"
    if table is not None:
        return list(table.names), source
    folder = layout.root
    # the user's own class file first where the pairs were written for their folder into the cache
    places = [*([layout.source] if layout.source is not None else []), folder]
    places += sorted({mask.parent for _, mask in layout.train[:1]} - {folder})
    where = next((place for place in places if any((place / n).is_file() for n in CLASS_FILES)), folder)
    names_from = next((f"{where / n}" for n in CLASS_FILES if (where / n).is_file()), "--classes")
    if layout.source is not None and where != layout.source and names_from != "--classes":
        names_from = f"{layout.source}'s class names"  # names lucid wrote beside the cached pairs
    return read_class_names(where), names_from


def segmentation_datasets(
    root: str | os.PathLike[str],
    *,
    crop_size: tuple[int, int] | None = None,
    ignore_index: int | None = None,
    num_classes: int | None = None,
    classes: Sequence[str] | None = None,
    scale: tuple[float, float] = (0.5, 2.0),
    hflip: float = 0.5,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[SegmentationFolder, SegmentationFolder, SegmentationDataInfo]:
    """The training and validation pairs of ``root`` (any layout `find_layout` reads;
    ``val_fraction`` and ``seed`` split a root without split folders) with their transforms, and
    the data's description. ``crop_size`` None fits the default crop to the photos (`fit_crop`).

    Class names: ``classes`` > a ``class_dict.csv`` colour table at the root (masks coded by
    colour) > a ``classes.json``/``classes.txt`` at the root > ``class_0 ...``;
    the void value: ``ignore_index``, else declared by the names, else 255 (`resolve_classes`,
    over the masks of both splits, so a value only the validation masks hold is caught here).
    """
    if ignore_index is not None and not 0 <= ignore_index <= 255:
        raise DataError(f"--ignore-index must be an 8-bit mask value 0..255, got {ignore_index}")
    layout = find_layout(root, val_fraction=val_fraction, seed=seed)
    folder = layout.root
    named = layout.named  # the user's folder where the pairs are files written for it
    table, source = _mask_coding(layout, Path(root).expanduser())
    train_ds = SegmentationFolder(folder, pairs=layout.train, colours=table)
    val_ds = SegmentationFolder(folder, pairs=layout.val, colours=table)
    names, names_from = _given_names(layout, classes, table, source)
    counts = mask_histogram(train_ds) + mask_histogram(val_ds)
    if table is None and _black_and_white(counts, names, num_classes, ignore_index):
        table = binary_coding(names or BINARY_NAMES)
        train_ds.colours = val_ds.colours = table
        counts[1], counts[DEFAULT_IGNORE_INDEX] = counts[DEFAULT_IGNORE_INDEX], 0
        names, names_from = list(table.names), f"{names_from if names else 'black-and-white masks'}: 255 is class 1"
    try:
        names, ignore, note = resolve_classes(
            counts, names=names, names_from=names_from, num_classes=num_classes, ignore_index=ignore_index
        )
    except DataError as exc:
        raise DataError(f"--data {named}: {exc}") from None
    crop = fit_crop([Path(image) for image, _ in train_ds.samples], crop_size)
    base = crop.base if crop.base is not None else scale_base(train_ds)
    info = SegmentationDataInfo(
        str(named.resolve()),  # resolved: a checkpoint's record must name the data from any folder
        names,
        ignore,
        crop.size,
        train_images=len(train_ds),
        val_images=len(val_ds),
        void_note=note,
        split=layout.to_dict(),
        layout_notes=list(layout.notes),
        colours=table.to_dict() if table is not None else None,
        photo_size=crop.photo,
        crop_note=crop.note,
        resize_size=crop.resize,
        resize_note=crop.resize_note,
        scale_base=base,
    )
    train_ds.transform = train_transform(crop.size, ignore, base_size=base, scale=scale, hflip=hflip)
    val_ds.transform = eval_transform(resize=crop.resize)
    return train_ds, val_ds, info

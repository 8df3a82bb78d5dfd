"""Class masks stored in MATLAB files: the Semantic Boundaries Dataset (SBD, torchvision's
``SBDataset``), ``benchmark_RELEASE/dataset/img/x.jpg`` + ``cls/x.mat`` split by ``train.txt`` +
``val.txt``.

Each ``cls/x.mat`` holds ``GTcls.Segmentation``, the class of every pixel (Pascal VOC's 20
classes, 0 the background). They are read by scipy's ``loadmat``, as torchvision reads them, and
written once as PNG masks into lucid's mask cache (`lucid.segment.drawn`), so training reads
them as any mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lucid.data.files import child_folder, keyed_files, read_id_list, walk_images
from lucid.errors import DataError
from lucid.segment.drawn import DrawnMasks, cached_mask, mask_cache_dir, photo_sizes, save_mask

__all__ = ["SBD_FOLDERS", "sbd_folder", "sbd_masks"]

SBD_FOLDERS = ("img", "cls")  # the photos and the class masks' MATLAB files


def sbd_folder(root: Path) -> Path | None:
    """SBD's ``dataset/`` folder (``img/`` + ``cls/`` of ``.mat`` files + ``train.txt``) at
    ``root``, in ``root/dataset`` or ``root/benchmark_RELEASE/dataset``; None when there is none."""
    for place in (root, root / "dataset", root / "benchmark_RELEASE" / "dataset"):
        masks = child_folder(place, (SBD_FOLDERS[1],)) if place.is_dir() else None
        if child_folder(place, (SBD_FOLDERS[0],)) is not None and masks is not None and (place / "train.txt").is_file():
            if any(p.suffix.lower() == ".mat" for p in masks.iterdir()):
                return place
    return None


def sbd_masks(root: Path) -> DrawnMasks | None:
    """SBD's photos with their class masks (drawn once from ``cls/*.mat``), split by
    ``train.txt`` + ``val.txt`` (torchvision's "train" and "val" image sets), the classes Pascal
    VOC's 20 as torchvision names them; None when ``root`` is no SBD folder. A listed photo
    without its photo or its ``.mat`` is a DataError naming it."""
    folder = sbd_folder(root)
    if folder is None:
        return None
    images, masks = folder / SBD_FOLDERS[0], folder / SBD_FOLDERS[1]
    photos = keyed_files(images, walk_images(images)[0], "mask")
    parts = []
    for name in ("train.txt", "val.txt"):
        if not (folder / name).is_file():
            continue
        pairs = []
        for ident in read_id_list(folder / name):
            photo, source = photos.get(ident.lower()), masks / f"{ident}.mat"
            if photo is None or not source.is_file():
                raise DataError(f"{folder / name}: {ident!r} has no photo in img/ or no {source.name} in cls/")
            pairs.append((photo, _drawn(source, photo)))
        parts.append(pairs)
    names = _voc_names()
    notes = [f"{folder}: SBD's cls/*.mat class masks written once as PNG files into {mask_cache_dir()}"]
    description = "SBD: img/ + cls/, " + ("train.txt + val.txt" if len(parts) > 1 else "train.txt, split by seed")
    return DrawnMasks(parts[0], parts[1] if len(parts) > 1 else None, names, description, notes)


def _voc_names() -> list[str]:
    """Pascal VOC's 20 class names as torchvision's VOC-labelled segmentation weights list them."""
    from torchvision.models.segmentation import LRASPP_MobileNet_V3_Large_Weights

    return list(LRASPP_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1.meta["categories"][1:])


def _drawn(source: Path, photo: Path) -> Path:
    """The cached PNG of one ``cls/x.mat`` mask (``GTcls.Segmentation``), checked against its photo."""
    mask = cached_mask(source, "sbd", photo.stem)
    if mask.is_file():
        return mask
    from scipy.io import loadmat

    try:
        values = np.asarray(loadmat(str(source))["GTcls"][0]["Segmentation"][0])
    except (KeyError, IndexError, ValueError, TypeError, OSError, NotImplementedError) as exc:
        raise DataError(f"{source}: not SBD's GTcls.Segmentation ({type(exc).__name__}: {exc})") from None
    (width, height), _ = photo_sizes(photo)
    if values.shape != (height, width) or values.max(initial=0) > 255:
        raise DataError(
            f"{source}: a {values.shape} mask of values up to {values.max(initial=0)}; expected its photo's "
            f"{height}x{width} pixels of classes 0..20"
        )
    save_mask(mask, values.astype(np.uint8))
    return mask

"""Segmentation sets as the Hugging Face Hub stores them (`lucid.data.hub`): a row holds a photo
and its mask, two ``Image`` columns (``segments/sidewalk-semantic``'s ``pixel_values`` +
``label``, ADE20K's ``image`` + ``annotation``), the mask's values the classes. The classes are
named by the repository's ``id2label.json`` (``{"0": "unlabeled", "1": "flat-road", ...}``, the
``transformers`` convention) when there is one.

Each split's photos and masks are written once, as they are stored, into lucid's cache as
``<split>/images/`` + ``<split>/masks/`` (and the names as ``classes.json``), which segmentation
then reads as any such folder: the train split trains, ``validation`` (else ``test``) validates.
"""

from __future__ import annotations

import json
from pathlib import Path

from lucid.data.hub import HubSet, hub_set, image_bytes, unpacked
from lucid.data.images import write_encoded
from lucid.errors import DataError

__all__ = ["MASK_WORDS", "mask_columns", "hub_masks", "has_hub_masks", "id2label_names"]

# Words that name a mask column (``annotation``, ``label``, ``semantic_mask``, ``gtFine``, ``trimap``).
MASK_WORDS = ("mask", "annotation", "label", "segment", "seg", "gt", "semantic", "trimap", "target")
ID2LABEL = "id2label.json"


def mask_columns(hub: HubSet) -> tuple[str, str] | None:
    """The photo column and the mask column of ``hub``'s rows: of two (or more) image columns, the
    mask is the first whose name holds a mask word, else the second; the photo the first other
    one. None for rows of fewer than two images."""
    images = hub.image_columns()
    if len(images) < 2:
        return None
    named = [name for name in images if any(word in name.lower() for word in MASK_WORDS)]
    mask = named[0] if named and len(named) < len(images) else images[1]
    photo = next(name for name in images if name != mask)
    return photo, mask


def id2label_names(hub: HubSet) -> list[str] | None:
    """The class names of an ``id2label.json`` at the set's root or beside its shards (ids 0..K-1,
    each named once); None without one. A file of other ids is a DataError naming it."""
    places = [hub.root, *sorted({file.parent for file in hub.files()})]
    file = next((place / ID2LABEL for place in places if (place / ID2LABEL).is_file()), None)
    if file is None:
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        named = {int(key): str(value) for key, value in data.items()}
    except (ValueError, AttributeError, OSError) as exc:
        raise DataError(f"{file}: expected a JSON object of class ids to names ({exc})") from None
    if sorted(named) != list(range(len(named))):
        raise DataError(f"{file}: expected the ids 0..{len(named) - 1}, each once; got {sorted(named)[:10]}")
    return [named[i] for i in range(len(named))]


def hub_masks(folder: Path) -> tuple[Path, str] | None:
    """The cache folder of ``folder``'s Hugging Face photos and masks (written once) and a line
    that says what was read; None when ``folder`` holds no Hugging Face set of photo and mask
    columns."""
    hub = hub_set(folder)
    columns = None if hub is None else mask_columns(hub)
    if hub is None or columns is None:
        return None
    photo, mask = columns
    names = id2label_names(hub)

    def write(work: Path) -> None:
        number = 0
        for role in hub.splits:
            for row in hub.rows(role, [photo, mask]):
                number += 1
                image, target = image_bytes(row[photo], hub.root), image_bytes(row[mask], hub.root)
                if image is None or target is None:
                    continue  # a photo without its mask (an unlabelled test split) is no pair
                for part, data in (("images", image), ("masks", target)):
                    (work / role / part).mkdir(parents=True, exist_ok=True)
                    write_encoded(work / role / part / f"{number:07d}", data, f"{hub.root}: row {number}")
        if not any(work.iterdir()):
            raise DataError(f"--data {hub.root}: {hub.describe()} holds no rows with both a photo and a mask")
        if names is not None:
            (work / "classes.json").write_text(json.dumps(names))

    extra = f"masks|{photo}|{mask}|{names}"
    cache = unpacked(hub, extra, write, str(hub.root))
    named = f", classes named by {ID2LABEL}" if names is not None else ""
    return cache, f"{hub.describe()}, photos in column {photo!r}, masks in {mask!r}{named}"


def has_hub_masks(folder: Path) -> bool:
    """Whether ``folder`` holds a Hugging Face set of photo and mask columns (nothing written)."""
    hub = hub_set(folder)
    return hub is not None and mask_columns(hub) is not None

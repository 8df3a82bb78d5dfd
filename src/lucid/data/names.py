"""Names for class folders named by ids: Udacity's flowers (``train/1/`` ... with
``cat_to_name.json``), Tiny ImageNet and ImageNet (``train/n01443537/`` with ``words.txt`` or
``LOC_synset_mapping.txt``). A run on such folders trains, reports and predicts ``goldfish``, not
``n01443537``.

Only a file of a known name is read (`NAMES_FILES`), at the data root, in the folders between the
``--data`` folder and it, or beside the ``--data`` folder (Udacity's project keeps
``cat_to_name.json`` next to ``flowers/``), and only when it names every class: a file that names
some leaves all the ids as they are, said. The class order stays the folders' (sorted ids), so
a class keeps the index torchvision's ``ImageFolder`` gives it: ImageNet's sorted synsets are
the pretrained heads' order.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from lucid.data.files import ClassFiles, names_file_text, split_role
from lucid.errors import DataError

__all__ = ["NAMES_FILES", "find_class_names", "names_folders", "renamed"]

# Files that name class ids: Udacity's JSON object {"21": "fire lily"}; WordNet lines "n01443537 goldfish, ...".
JSON_NAMES = ("cat_to_name.json", "class_to_name.json")
WORD_NAMES = ("words.txt", "LOC_synset_mapping.txt", "synset_words.txt")
NAMES_FILES = (*JSON_NAMES, *WORD_NAMES)
_ID = re.compile(r"[A-Za-z]?\d+")  # a class folder named by an id: Udacity's 21, WordNet's n01443537


def find_class_names(folders: Sequence[Path], classes: Sequence[str]) -> tuple[dict[str, str] | None, list[str]]:
    """The names of ``classes`` (folder names) from the first names file in ``folders`` (in order)
    that names every one of them, and notes: which file named them, or which file named only
    some (then the ids stay). None without such a file, or when the folder names are not ids
    (numbers, or a letter and a number: ``21``, ``n01443537``)."""
    notes: list[str] = []
    if not classes or not all(_ID.fullmatch(c) for c in classes):
        return None, notes  # folders named by words are the names (a file may map them the other way)
    for folder in dict.fromkeys(folders):
        for file in [folder / name for name in NAMES_FILES] + _other_json(folder):
            if not file.is_file():
                continue
            read = _read_names(file)
            found = {c: read[c] for c in classes if c in read}
            found = first_synonyms(found) if file.name in WORD_NAMES else found
            if len(found) == len(classes) and len(set(found.values())) == len(found):
                notes.append(f"{file}: names the {len(classes)} classes ({_shown(found)})")
                return found, notes
            if found:
                notes.append(
                    f"{file}: names {len(found)} of the {len(classes)} class folders, so the folder names stay"
                )
    return None, notes


def _other_json(folder: Path, most: int = 1 << 20) -> list[Path]:
    """The small JSON files of ``folder`` not named in `JSON_NAMES`, sorted: a data set's own map
    of class ids to names (Cassava's ``label_num_to_disease_map.json``), read only when it names
    every class."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    return [
        Path(e.path)
        for e in entries
        if e.name.lower().endswith(".json") and e.name not in JSON_NAMES and not e.name.startswith(".")
        and e.is_file() and e.stat().st_size <= most
    ]  # fmt: skip


def names_folders(given: Path, root: Path) -> list[Path]:
    """Where a names file may be, nearest first: the data ``root`` a layout was read from, the
    folders between it and the ``given`` ``--data`` folder, and the folder beside which ``given``
    lies (for a split folder, ``flowers/valid``, the one beside which its data root lies too)."""
    chain = [root]
    while chain[-1] != given and given in chain[-1].parents:
        chain.append(chain[-1].parent)
    beside = given.resolve().parent
    return [*chain, beside, *([beside.parent] if split_role(given.name) else [])]  # flowers/valid: beside flowers/


def renamed(files: ClassFiles | None, names: Mapping[str, str] | None) -> ClassFiles | None:
    """``files`` with each class folder's name replaced by its name in ``names`` (order kept)."""
    if files is None or not names:
        return files
    return replace(files, files={names.get(c, c): paths for c, paths in files.files.items()})


def _read_names(file: Path) -> dict[str, str]:
    """Id -> name of one names file: a JSON object of strings, or lines of an id and its words
    (WordNet's synonyms ``goldfish, Carassius auratus``: the first, unless two ids would share
    it, then all of them). A file that cannot be read is a DataError naming it."""
    text = names_file_text(file, 50_000_000)
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if file.name not in JSON_NAMES:
                return {}  # some other JSON file beside the data: not a names file
            raise DataError(f"{file}: not a readable JSON object of class names ({exc})") from None
        if not isinstance(data, dict) and file.name not in JSON_NAMES:
            return {}
        if not isinstance(data, dict):
            raise DataError(f"{file}: expected a JSON object of class id -> name, got a {type(data).__name__}")
        return {str(k).strip(): v.strip() for k, v in data.items() if isinstance(v, str) and v.strip()}
    words = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            words[parts[0]] = parts[1].strip()
    return words


def first_synonyms(names: Mapping[str, str]) -> dict[str, str]:
    """Each name's first comma-separated synonym where they stay distinct, else the whole name."""
    first = {k: v.split(",")[0].strip() or v for k, v in names.items()}
    return first if len(set(first.values())) == len(first) else dict(names)


def _shown(names: Mapping[str, str], most: int = 3) -> str:
    items = list(names.items())
    shown = ", ".join(f"{k}: {v}" for k, v in items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")

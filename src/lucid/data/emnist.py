"""EMNIST's files, in either of its forms: the idx files (``gzip/emnist-balanced-train-images-idx3-ubyte.gz``,
as NIST's ``gzip.zip`` unpacks and torchvision's ``EMNIST`` downloads) and Kaggle's CSV tables
(``emnist-balanced-train.csv``: the label, then 784 values). One download holds six variants
(balanced, byclass, bymerge, digits, letters, mnist), each a data set of its own.

What EMNIST does differently from MNIST, and how lucid reads it:

- each photo is stored transposed (column by column; the EMNIST readme says so, and
  torchvision's ``EMNIST`` returns them so: pytorch/vision#8783), so it is transposed back here:
  a model trained on upright letters reads the user's upright letters;
- the labels are numbers, named by ``emnist-<variant>-mapping.txt`` (``label ASCII-code``
  lines: ``10 65`` is ``A``; the letters variant's ``1 65 97`` is ``Aa``, both cases one class);
  a lower-case letter whose upper case is also a class is named ``a (lower case)``, so that no
  two class folders differ only by case;
- of several variants, one is read (`PREFERRED` order, else the first by name) and a note names
  the others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from lucid.data.files import names_file_text
from lucid.errors import DataError

__all__ = ["PREFERRED", "variant_of", "chosen_variant", "mapping_names", "emnist_notes"]

PREFERRED = ("balanced", "byclass", "bymerge", "letters", "digits", "mnist")
_NAME = re.compile(r"emnist-([a-z]+)-", re.IGNORECASE)


def variant_of(name: str) -> str | None:
    """The EMNIST variant a file's name says (``emnist-letters-train.csv``: ``letters``), else None."""
    match = _NAME.match(name)
    return match.group(1).lower() if match is not None else None


def chosen_variant(variants: Sequence[str]) -> tuple[str, list[str]]:
    """The variant to read of those present (`PREFERRED` order, else the first by name) and the others."""
    present = sorted(set(variants))
    chosen = next((v for v in PREFERRED if v in present), present[0])
    return chosen, [v for v in present if v != chosen]


def mapping_names(folder: Path, variant: str) -> dict[str, str] | None:
    """Class names by label (as text) from ``emnist-<variant>-mapping.txt`` in ``folder`` (or the
    folder above it); None without one. A line that is not two numbers is a DataError naming it."""
    name = f"emnist-{variant}-mapping.txt"
    file = next((place / name for place in (folder, folder.parent) if (place / name).is_file()), None)
    if file is None:
        return None
    codes: dict[str, str] = {}
    for number, line in enumerate(names_file_text(file).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2 or not all(f.isdigit() for f in fields):
            raise DataError(f"{file}:{number}: expected a label and its ASCII codes, got {line.strip()!r}")
        codes[fields[0]] = "".join(chr(int(code)) for code in fields[1:])  # letters: "1 65 97" is "Aa"
    upper = {c for c in codes.values() if c.isupper()}
    return {label: f"{c} (lower case)" if c.upper() in upper and c.islower() else c for label, c in codes.items()}


def emnist_notes(root: Path, folder: Path, variant: str, names: dict[str, str] | None) -> list[str]:
    """The lines that say how an EMNIST variant in ``folder`` was read: turned upright, named (or
    not), and which other variants beside it were not read."""
    others = sorted({v for p in folder.iterdir() if (v := variant_of(p.name)) is not None and v != variant})
    notes = [f"{root}: EMNIST stores each photo transposed; written upright"]
    if names is None:
        notes.append(f"{root}: no emnist-{variant}-mapping.txt, so the classes are the label numbers")
    if others:
        notes.append(
            f"{root}: read EMNIST's {variant} variant; not read: {', '.join(others)} (each a data set of its own: "
            "move the files of the one to train on into a folder of their own)"
        )
    return notes

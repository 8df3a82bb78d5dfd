"""Data given as one archive (``.zip``, ``.tar``, ``.tar.gz`` ...): unpacked once into lucid's cache.

Kaggle, Roboflow and many papers' pages hand out a data set as one archive. ``lucid train --data
set.zip`` (and ``lucid eval``) read it as the folder it holds: `data_folder` unpacks it the first
time into ``cache_home()/archives/<key>`` (`lucid.data.files.keyed_cache_folder`: keyed by the
archive's path, size and modification time, so a changed archive is unpacked again; written
into a temporary folder and renamed into place, so a folder there is whole), and later runs
read that folder. A folder inside that holds everything else (``set/`` in ``set.zip``) is the
data's root, and macOS's ``__MACOSX/`` resource files are left out.

The unpacking is the standard library's `shutil.unpack_archive`, with PEP 706's ``"data"``
filter for tar files (no member written outside the folder, no links out of it, no device files);
zip members' names are made safe by `shutil` itself.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from lucid.data.files import keyed_cache_folder, split_role, written_once
from lucid.errors import DataError

__all__ = ["archive_suffixes", "data_folder", "is_archive"]

IGNORED = "__MACOSX"  # macOS's zip tool's AppleDouble files, not data
# What the "data" filter refuses (a member outside the folder, a link out of it): PEP 706's error.
# (Python 3.11.4+; before it, tar files are not unpacked at all.)
_REFUSED: type[Exception] = getattr(tarfile, "FilterError", tarfile.TarError)


def archive_suffixes() -> dict[str, str]:
    """Each file suffix `shutil.unpack_archive` reads (``".zip"``, ``".tar.gz"`` ...) and its format."""
    return {suffix: name for name, suffixes, _ in shutil.get_unpack_formats() for suffix in suffixes}


def _format(path: Path) -> str | None:
    name = path.name.lower()
    return next((fmt for suffix, fmt in archive_suffixes().items() if name.endswith(suffix)), None)


def is_archive(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a file with an archive's suffix (`archive_suffixes`)."""
    file = Path(path).expanduser()
    return _format(file) is not None and file.is_file()


def data_folder(path: str | os.PathLike[str], flag: str = "--data") -> tuple[str, str | None]:
    """``path`` itself when it is not an archive file; else the folder its data unpacks into (once)
    and a line saying so, for the run's output. Raises `DataError` naming the archive when it does
    not unpack (damaged, or not what its suffix says) or holds no files."""
    file = Path(path).expanduser()
    fmt = _format(file)
    if fmt is None or not file.is_file():
        return str(path), None
    target = keyed_cache_folder("archives", [file], fmt)
    again = target.is_dir()
    written_once(target, lambda work: _unpack(file, fmt, work, flag), f"{flag} {path}")
    root = _data_root(target)
    if root is None:
        raise DataError(f"{flag} {path}: the archive holds no files")
    said = "read from" if again else "unpacked once into"
    return str(root), f"{flag} {path}: {said} {root} (unpacked again only when the archive changes)"


def _unpack(file: Path, fmt: str, work: Path, flag: str) -> None:
    """Unpack ``file`` (of `shutil` format ``fmt``) into the empty folder ``work``."""
    tar = fmt != "zip"
    if tar and not hasattr(tarfile, "data_filter"):
        raise DataError(f"{flag} {file}: unpacking tar files safely needs Python 3.11.4 or later; unpack it yourself")
    try:
        if tar:
            shutil.unpack_archive(file, work, fmt, filter="data")
        else:  # zip's unpacker takes no filter (Python 3.11)
            shutil.unpack_archive(file, work, fmt)
    except _REFUSED as exc:
        raise DataError(f"{flag} {file}: refused to unpack: {exc}") from None
    except (shutil.ReadError, tarfile.TarError, EOFError, ValueError) as exc:
        raise DataError(f"{flag} {file}: not a readable {fmt} archive ({exc})") from None
    shutil.rmtree(work / IGNORED, ignore_errors=True)


def _data_root(folder: Path) -> Path | None:
    """``folder``, or the one folder inside it that holds everything (``set/`` in ``set.zip``),
    followed down, but never into a split's folder (``train/`` alone stays a split, as the layouts
    read it); None when nothing is there. Hidden entries (``.DS_Store``) do not count."""
    entries = [entry for entry in folder.iterdir() if not entry.name.startswith(".")]
    if not entries:
        return None
    if len(entries) == 1 and entries[0].is_dir() and split_role(entries[0].name) is None:
        return _data_root(entries[0])
    return folder

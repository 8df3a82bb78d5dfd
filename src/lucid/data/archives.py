"""Data given as one archive (``.zip``, ``.tar``, ``.tar.gz`` ...): unpacked once into lucid's cache.

Kaggle, Roboflow and many papers' pages hand out a data set as one archive. ``lucid train --data
set.zip`` (and ``lucid eval``) read it as the folder it holds, and ``--data https://.../set.zip``
downloads it once first (`torch.hub`'s downloader): `data_folder` unpacks it the first
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

import contextlib
import os
import shutil
import sys
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from lucid.data.files import cache_home, keyed_cache_folder, split_role, written_once
from lucid.errors import DataError

__all__ = ["URL_SCHEMES", "archive_suffixes", "data_folder", "is_archive", "is_url", "local_inputs"]

URL_SCHEMES = ("http://", "https://", "file://")
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


def is_url(text: str | os.PathLike[str]) -> bool:
    """Whether ``text`` is an ``http://``, ``https://`` or ``file://`` address."""
    return str(text).lower().startswith(URL_SCHEMES)


def data_folder(path: str | os.PathLike[str], flag: str = "--data") -> tuple[str, str | None]:
    """``path`` itself when it is neither an archive file nor an address; else the folder its data
    unpacks into (once) and a line saying so, for the run's output. An address (``https://.../set.zip``)
    is downloaded once first (`torch.hub.download_url_to_file`, into ``cache_home()/downloads``).
    Raises `DataError` naming the archive when it cannot be downloaded, does not unpack (damaged,
    or not an archive) or holds no files."""
    if is_url(path):
        file, fresh = _downloaded(str(path), flag)
        return _archive_folder(str(path), file, flag, _fetched(file, fresh) + ", ")
    file = Path(path).expanduser()
    if _format(file) is None or not file.is_file():
        return str(path), None
    return _archive_folder(str(path), file, flag, "")


def local_inputs(items: Sequence[str], say: Callable[[str], None]) -> list[str]:
    """``lucid predict``'s inputs made local: an address downloaded once (an image, or an archive
    then unpacked), an archive file unpacked (`data_folder`), anything else as given; each change
    said through ``say``."""
    flag = "lucid predict"
    local = []
    for item in items:
        if is_url(item):
            file, fresh = _downloaded(item, flag)
            if _format(file) is None and _sniffed(file) is None:  # an image
                say(f"{flag} {item}: {_fetched(file, fresh)}")
                local.append(str(file))
                continue
            folder, said = _archive_folder(item, file, flag, _fetched(file, fresh) + ", ")
            say(said)
        else:
            folder, note = data_folder(item, flag)
            if note:
                say(note)
        local.append(folder)
    return local


def _fetched(file: Path, fresh: bool) -> str:
    return f"{'downloaded' if fresh else 'downloaded before'} into {file}"


def _archive_folder(given: str, file: Path, flag: str, said: str) -> tuple[str, str]:
    """The folder the archive ``file`` (``given`` by the user) unpacks into, once, and the line
    saying so (after ``said``)."""
    fmt = _format(file) or _sniffed(file)
    if fmt is None:
        raise DataError(f"{flag} {given}: the download is not a zip or tar archive ({file})")
    target = keyed_cache_folder("archives", [file], fmt)
    again = target.is_dir()
    written_once(target, lambda work: _unpack(file, fmt, work, flag), f"{flag} {given}")
    root = _data_root(target)
    if root is None:
        raise DataError(f"{flag} {given}: the archive holds no files")
    said += "read from" if again else "unpacked once into"
    return str(root), f"{flag} {given}: {said} {root} (unpacked again only when the archive changes)"


def _downloaded(url: str, flag: str) -> tuple[Path, bool]:
    """The local copy of ``url`` (downloaded now, True, or before, False): one folder per address in
    ``cache_home()/downloads``; torch.hub writes a temporary file and renames it when whole."""
    import hashlib
    import http.client
    import urllib.parse
    from urllib.error import URLError

    import torch.hub

    name = Path(urllib.parse.urlparse(url).path).name or "download"
    target = cache_home() / "downloads" / hashlib.sha256(url.encode()).hexdigest()[:16] / name
    if target.is_file():
        return target, False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(target), progress=sys.stderr.isatty())
    except (URLError, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        with contextlib.suppress(OSError):
            target.parent.rmdir()  # the address's folder, left empty (torch.hub removed its temporary file)
        raise DataError(
            f"{flag} {url}: could not download it ({reason}); download it yourself and give the file"
        ) from None
    return target, True


def _sniffed(file: Path) -> str | None:
    """The `shutil` format of a file whose name does not say (a download's address without a
    suffix, such as Roboflow's ``.../ds/abc?key=...``), from its content: ``"zip"`` or ``"tar"``
    (compressed or not: `tarfile` opens either)."""
    if zipfile.is_zipfile(file):
        return "zip"
    return "tar" if tarfile.is_tarfile(file) else None


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

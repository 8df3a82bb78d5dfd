"""A training run's output folder: owned by one process, started or resumed cleanly.

- :func:`check_out_dir` refuses, before any training, an ``--out`` that cannot be a folder
  (a file on its path) or cannot be written (read-only).
- :class:`RunLock` is an exclusive ``fcntl.flock`` on ``OUT/.lock`` holding the owner's pid, so a
  second ``lucid train --out SAME`` refuses and names the process that owns the folder. The
  kernel drops a flock when its process dies, so a killed run never leaves a stale lock.
- :func:`clean_stale_files` removes the temporary files of saves a kill interrupted
  (:func:`lucid.checkpoint.atomic_write` names them ``.NAME.XXXXXXXX.tmp``) and, for a run killed
  before its first epoch was committed (no training state yet), the run files it had begun, so a
  fresh start never appends to stale metrics.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from lucid.errors import RunFolderError

__all__ = [
    "LOCK_FILE",
    "MissingRunFolderError",
    "RunLock",
    "check_out_dir",
    "clean_stale_files",
    "stale_temp_files",
]

LOCK_FILE = ".lock"


class MissingRunFolderError(RunFolderError, FileNotFoundError):
    """``--resume`` names a folder that does not exist."""


def _blocking_file(out: Path) -> Path | None:
    """The first existing non-folder on the way from ``out`` up to the root, if any."""
    for candidate in (out, *out.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def check_out_dir(out: str | os.PathLike[str]) -> Path:
    """Create ``out`` (and its parents) and check it can be written; a one-line
    :class:`~lucid.errors.RunFolderError` naming the folder otherwise."""
    folder = Path(out).expanduser()
    blocker = _blocking_file(folder)
    if blocker is not None:
        where = "is a file" if blocker == folder else f"is inside {blocker}, which is a file"
        raise RunFolderError(f"--out {folder} {where}, not a folder; choose a folder path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"--out {folder}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunFolderError(f"--out {folder} is not writable (read-only folder); choose another folder")
    return folder


class RunLock:
    """An exclusive lock on a run folder for the life of one training process.

    Use as a context manager or call :meth:`acquire` / :meth:`release`. The lock file is removed
    on release; a process that opened the old file before the removal notices (the path no
    longer names the file it locked) and takes the lock on a fresh file instead.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`~lucid.errors.RunFolderError` naming the owner's pid."""
        import fcntl

        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise RunFolderError(
                    f"--out {self.folder}: cannot create the lock file {self.path} ({exc.strerror or exc})"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise RunFolderError(f"--out {self.folder}: cannot lock {self.path} ({exc.strerror})") from None
                raise RunFolderError(
                    f"--out {self.folder} is in use by another lucid train ({self._owner()}); wait for it to "
                    "finish or choose another folder"
                ) from None
            if self._same_file(fd):
                break
            os.close(fd)  # the owner released and removed the file meanwhile: lock the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _owner(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return f"pid {pid}" if pid.isdigit() else "a process that has not written its pid yet"

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass  # a folder that became read-only: the flock still goes with the close
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def stale_temp_files(folder: Path, names: Iterable[str]) -> list[Path]:
    """Temporary files that interrupted atomic saves of ``names`` left in ``folder``."""
    prefixes = tuple(f".{name}." for name in names)
    found = []
    for entry in folder.iterdir() if folder.is_dir() else ():
        if entry.name.startswith(prefixes) and entry.name.endswith(".tmp") and entry.is_file():
            found.append(entry)
    return sorted(found)


def clean_stale_files(folder: Path, names: Iterable[str], *, restart: bool) -> list[str]:
    """Remove temp files of killed saves and, with ``restart`` (a run that never committed an
    epoch: no training state), the run files ``names`` it had begun; returns what was removed."""
    names = list(names)
    removed = []
    for path in stale_temp_files(folder, names):
        removed.append(f"{path.name} ({path.stat().st_size:,} bytes)")
        path.unlink(missing_ok=True)
    if restart:
        for name in names:
            path = folder / name
            if path.is_file():
                removed.append(name)
                path.unlink()
    return removed

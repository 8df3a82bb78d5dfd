"""A training run's output folder, for both tasks: named, owned by one process, started or
resumed cleanly, and written one committed epoch at a time.

- `FILES` is the folder's layout (the same for classification and segmentation runs);
  `new_out_dir` names a fresh folder ``runs/MODEL-DATA-STAMP``.
- `claimed_run_folder` is the life of a run in its folder: rank 0 creates, checks and
  locks it before any data is read, and it is released (and removed when the run left it
  empty) however the run ends; a Ctrl-C is recorded in ``summary.json``.
- `commit_epoch` writes one epoch (metrics line, checkpoints, the training state as the
  commit point, summary, curves); `rewrite_metrics` puts ``metrics.jsonl`` back to a
  resumed state's history and `finish_run` writes the closing summary and curves.

- `check_out_dir` refuses, before any training, an ``--out`` that cannot be a folder
  (a file on its path) or cannot be written (read-only).
- `RunLock` is an exclusive ``fcntl.flock`` on ``OUT/.lock`` holding the owner's pid, so a
  second ``lucid train --out SAME`` refuses and names the process that owns the folder. The
  kernel drops a flock when its process dies, so a killed run never leaves a stale lock.
- `clean_stale_files` removes the temporary files of saves a kill interrupted
  (`lucid.checkpoint.atomic_write` names them ``.NAME.XXXXXXXX.tmp``) and, for a run killed
  before its first epoch was committed (no training state yet), the run files it had begun, so a
  fresh start never appends to stale metrics.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from lucid.checkpoint import atomic_write
from lucid.errors import RunFolderError, interrupted, worker_cause
from lucid.train import distributed as dist_utils
from lucid.train.metrics import append_jsonl, dumps, plot_curves, write_json
from lucid.train.state import STATE_FILE, checked_state, load_state, save_state

__all__ = [
    "FILES",
    "LOCK_FILE",
    "claim_out_dir",
    "claimed_run_folder",
    "commit_epoch",
    "finish_run",
    "mark_summary",
    "new_out_dir",
    "recorded_task",
    "resume_state",
    "rewrite_metrics",
    "MissingRunFolderError",
    "RunLock",
    "check_out_dir",
    "clean_stale_files",
    "refuse_foreign_folder",
    "stale_temp_files",
]

LOCK_FILE = ".lock"
# One layout of a run folder for both tasks.
FILES = {
    "summary": "summary.json",
    "metrics": "metrics.jsonl",
    "curves": "curves.png",
    "best": "best.safetensors",
    "last": "last.safetensors",
    "state": STATE_FILE,
}


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
    `RunFolderError` naming the folder otherwise."""
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

    Use as a context manager or call `acquire` / `release`. The lock file is removed
    on release; a process that opened the old file before the removal notices (the path no
    longer names the file it locked) and takes the lock on a fresh file instead.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise `RunFolderError` naming the owner's pid."""
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


# --------------------------------------------------------------------------------------------
# naming, claiming and releasing a run's folder
# --------------------------------------------------------------------------------------------


def new_out_dir(model: str, data_name: str, out: str | None) -> Path:
    """``out`` when given, else ``runs/MODEL-DATA-STAMP`` (with ``-2``, ``-3`` ... when taken)."""
    if out is not None:
        return Path(out).expanduser()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{model}-{data_name}-{stamp}"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def refuse_foreign_folder(out: Path) -> None:
    """A `RunFolderError` when ``out`` is not a folder a run may write into: the file system's
    root, the home folder, or a folder holding anything but a lucid run's files (a run writes six
    files into its folder and must not mix them with the user's)."""
    resolved = out.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise RunFolderError(
            f"--out {out} is {'the root folder' if resolved == Path(resolved.anchor) else 'your home folder'}; "
            "name a new folder for the run"
        )
    ours = set(FILES.values()) | {LOCK_FILE}
    foreign = sorted(
        entry.name
        for entry in out.iterdir()
        if entry.name not in ours and not (entry.name.startswith(".") and entry.name.endswith(".tmp"))
    )
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise RunFolderError(
            f"--out {out} holds other files ({shown}), so it is not a lucid run folder; name a new or empty folder"
        )


def claim_out_dir(out: Path, resuming: bool) -> tuple[RunLock, bool]:
    """Make ``out`` a writable folder this process owns (rank 0 only), before any training.

    Refuses a folder another run holds (naming its pid) or that already holds a run (unless
    resuming), removes temp files of killed saves and, when a kill came before the first epoch
    was committed, the files that run had begun, so this run starts cleanly. Returns the lock
    and whether the folder was created here.
    """
    existed = out.is_dir()
    if existed:
        refuse_foreign_folder(out)
    check_out_dir(out)
    lock = RunLock(out).acquire()
    try:
        committed = (out / FILES["state"]).exists()
        if committed and not resuming:
            raise RunFolderError(
                f"--out {out} already holds a training run; resume it with --resume {out} or choose another folder"
            )
        began = any((out / FILES[key]).exists() for key in ("metrics", "summary"))
        removed = clean_stale_files(out, FILES.values(), restart=began and not committed)
        if removed:
            note = "; it never completed an epoch, so this run starts afresh" if began and not committed else ""
            print(f"{out}: removed what an interrupted run left: {', '.join(removed)}{note}", flush=True)
    except BaseException:
        lock.release()
        raise
    return lock, not existed


@contextlib.contextmanager
def claimed_run_folder(ctx: dist_utils.DistContext, choose: Callable[[], Path], *, resuming: bool) -> Iterator[Path]:
    """The run's folder for the ``with`` block: rank 0 picks it (``choose()``), then creates,
    checks and locks it (`claim_out_dir`) before any data is read; every rank gets its path.

    On the way out the lock is released and a folder created here that the run left empty (a
    failure before anything was written) is removed; a Ctrl-C is recorded in ``summary.json``.
    """
    chosen = str(choose()) if ctx.is_main else None
    out_dir = Path(dist_utils.broadcast_object(chosen, ctx))
    claimed = dist_utils.on_main(ctx, lambda: claim_out_dir(out_dir, resuming))
    lock, created = claimed if claimed is not None else (None, False)
    try:
        yield out_dir
    except BaseException as exc:
        if ctx.is_main and interrupted(exc):  # also one that landed inside an import (an ImportError then)
            mark_summary(out_dir, "interrupted", f"stopped by Ctrl-C or SIGTERM; continue with --resume {out_dir}")
        elif ctx.is_main:  # e.g. a photo deleted mid-run: the summary says the run failed, and why
            reason = " ".join(worker_cause(str(exc)).split()) or type(exc).__name__
            mark_summary(out_dir, "failed", f"{type(exc).__name__}: {reason}"[:2000])
        raise
    finally:
        if lock is not None:
            lock.release()
            if created:
                with contextlib.suppress(OSError):
                    out_dir.rmdir()  # only if empty: a run that failed before writing anything


def mark_summary(out_dir: Path, status: str, reason: str) -> None:
    """Record in an existing summary.json how the run ended (best effort: the exit goes on)."""
    path = out_dir / FILES["summary"]
    with contextlib.suppress(OSError, ValueError):
        summary = json.loads(path.read_text())
        if isinstance(summary, dict) and summary.get("status") == "running":
            write_json(path, {**summary, "status": status, "error": reason})


def recorded_task(folder: Path) -> str | None:
    """The task of the run in ``folder`` as its training state records it (runs saved before
    tasks were recorded: ``segment`` when the config has a crop size, else ``classify``); None when
    there is no readable state (`resume_state` then says why)."""
    try:
        state = load_state(folder / FILES["state"])
    except (OSError, ValueError):
        return None
    task = state.get("task") if isinstance(state, dict) else None
    if isinstance(task, str):
        return task
    config = state.get("config") if isinstance(state, dict) else None
    if not isinstance(config, dict):
        return None
    return "segment" if "crop_size" in config else "classify"


def resume_state(resume: str, best_key: str) -> tuple[Path, dict[str, Any]]:
    """The folder ``--resume`` names and its checked training state (see
    `lucid.train.state.checked_state`; ``best_key`` is the task's best-epoch score).

    A missing folder is a `MissingRunFolderError`; a run killed before its first epoch
    was committed has nothing to resume, which the error says along with how to restart it.
    """
    folder = Path(resume).expanduser()
    if not folder.is_dir():
        raise MissingRunFolderError(f"--resume {resume}: no such run folder")
    file = folder / FILES["state"]
    if not file.exists() and (folder / FILES["metrics"]).exists():
        raise RunFolderError(
            f"--resume {folder}: the run stopped before it completed its first epoch, so there is nothing to "
            f"resume; start it again with --out {folder}"
        )
    return folder, checked_state(load_state(file), file, best_key)


# --------------------------------------------------------------------------------------------
# writing a run's epochs
# --------------------------------------------------------------------------------------------


def rewrite_metrics(out_dir: Path, history: Sequence[Mapping[str, Any]]) -> None:
    """metrics.jsonl as of a resumed run's saved state: drops lines of an epoch a kill interrupted
    (one written after the metrics line but before the state, the commit point)."""
    text = "".join(dumps(dict(r)) + "\n" for r in history)
    atomic_write(out_dir / FILES["metrics"], lambda tmp: Path(tmp).write_text(text))


def commit_epoch(
    out_dir: Path,
    record: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    *,
    is_best: bool,
    save_model: Callable[[Path], object],
    state: Callable[[], Mapping[str, Any]],
    summary: Callable[[str, str | None], Mapping[str, Any]],
    title: str,
    labels: Mapping[str, str],
) -> None:
    """Write one epoch into the run folder (rank 0): its ``metrics.jsonl`` line, ``last``
    (``save_model(path)``), ``best`` (a copy of last when ``is_best``), the training state
    (``state()``, written atomically: the commit point), then ``summary.json`` (``summary("running",
    None)``) and ``curves.png`` (`lucid.train.metrics.plot_curves`, with the task's axis ``labels``).

    When a write fails (disk full, permissions...), summary.json records the failure as
    ``summary("failed", reason)`` (if it can still be written; the caller gives the numbers of
    the epochs before this one) and a one-line `RunFolderError` says what failed and what
    is kept.
    """
    from safetensors import SafetensorError  # what safetensors raises for a failed write

    try:
        append_jsonl(out_dir / FILES["metrics"], record)
        save_model(out_dir / FILES["last"])
        if is_best:
            atomic_write(out_dir / FILES["best"], lambda tmp: shutil.copyfile(out_dir / FILES["last"], tmp))
        save_state(out_dir / FILES["state"], state())
        write_json(out_dir / FILES["summary"], summary("running", None))
        plot_curves(history, out_dir / FILES["curves"], title, **labels)
    except (OSError, SafetensorError) as exc:
        epoch = record["epoch"]
        why = getattr(exc, "strerror", None) or " ".join(str(exc).split())
        reason = f"saving epoch {epoch} into {out_dir} failed: {why}"
        kept = (
            f"free space and continue with --resume {out_dir} (from epoch {epoch - 1})"
            if epoch > 1
            else f"no epoch was saved; free space and start again with --out {out_dir}"
        )
        with contextlib.suppress(OSError):
            write_json(out_dir / FILES["summary"], summary("failed", reason))
        raise RunFolderError(f"{reason}; {kept}") from None


def finish_run(
    out_dir: Path,
    summary: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    title: str,
    labels: Mapping[str, str],
) -> None:
    """The closing ``summary.json`` and ``curves.png`` (rank 0); a failed write is a one-line
    `RunFolderError` (the epochs' checkpoints and state are already committed)."""
    try:
        write_json(out_dir / FILES["summary"], summary)
        if history:
            plot_curves(history, out_dir / FILES["curves"], title, **labels)
    except OSError as exc:
        raise RunFolderError(f"writing the run summary into {out_dir} failed: {exc.strerror or exc}") from None

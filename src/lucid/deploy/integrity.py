"""A SHA-256 digest beside every exported model file, checked before the file is run.

ONNX and OpenVINO IR files carry no checksum of their own: a flipped byte in a weight runs
silently and gives wrong answers. `lucid.deploy.export` and `lucid.deploy.quantize`
write ``<file>.sha256`` next to the model, in ``sha256sum``'s format (one ``<hex>  <name>`` line
per file: the ``.xml`` and its ``.bin`` for OpenVINO), so ``sha256sum -c model.onnx.sha256``
checks it too. `lucid.deploy.Predictor` refuses a file whose bytes differ from its digest.

A model and its digest are written as one: `write_with_digest` (and `publish`, for
the two IR files) writes the model under a temporary name, then its digest under another, and
renames the model then the digest into place. A failure before the renames (a failed check, a
digest that cannot be written) leaves the previous model and digest as they were; the
temporaries a killed export left (``.NAME.XXXXXXXX.tmp``) are removed by the next export into
the same place (`remove_stale_temporaries`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lucid.checkpoint import atomic_write
from lucid.errors import DataError, ExportError, LucidError

__all__ = [
    "DIGEST_SUFFIX",
    "check_digest",
    "check_model_output",
    "default_model_path",
    "digest_path",
    "file_sha256",
    "model_files",
    "no_space_error",
    "publish",
    "remove_stale_temporaries",
    "temporary_beside",
    "write_digest",
    "write_with_digest",
]

DIGEST_SUFFIX = ".sha256"
_CHUNK = 1 << 20


def model_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files a model consists of: an OpenVINO ``.xml`` has its weights in the ``.bin`` beside it."""
    file = Path(path)
    return [file, file.with_suffix(".bin")] if file.suffix.lower() == ".xml" else [file]


def digest_path(path: str | os.PathLike[str]) -> Path:
    """``model.onnx`` -> ``model.onnx.sha256``."""
    file = Path(path)
    return file.with_name(file.name + DIGEST_SUFFIX)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_digest(path: str | os.PathLike[str]) -> Path:
    """Write ``<path>.sha256`` for the model at ``path`` (atomically); returns the digest file."""
    lines = "".join(f"{file_sha256(f)}  {f.name}\n" for f in model_files(path))
    return atomic_write(digest_path(path), lambda tmp: Path(tmp).write_text(lines))


def _recorded(sidecar: Path) -> dict[str, str]:
    recorded: dict[str, str] = {}
    for number, line in enumerate(sidecar.read_text(errors="replace").splitlines(), 1):
        hexdigest, _, name = line.partition("  ")
        if len(hexdigest) != 64 or not name:
            raise DataError(f"{sidecar}: line {number} is not '<sha256>  <file name>'")
        recorded[name.strip()] = hexdigest.lower()
    return recorded


def check_digest(path: str | os.PathLike[str], required: bool = False) -> bool:
    """Compare the model's files with ``<path>.sha256``; raise DataError on any difference.

    Returns False when there is no digest file (a model not written by lucid) unless
    ``required``, which makes that a DataError too; True when every file matches.
    """
    file = Path(path)
    sidecar = digest_path(file)
    if not sidecar.is_file():
        if required:
            raise DataError(f"{file}: no digest file {sidecar.name} beside it (lucid export writes one)")
        return False
    recorded = _recorded(sidecar)
    for part in model_files(file):
        if part.name not in recorded:
            raise DataError(f"{sidecar} records no digest for {part.name}")
        if not part.is_file():
            raise DataError(f"{file}: its part {part} is missing")
        if file_sha256(part) != recorded[part.name]:
            raise DataError(
                f"{part} does not match the SHA-256 digest recorded at export in {sidecar.name}: the file was "
                "changed or corrupted after export; export it again (or delete the digest file to run it as it is)"
            )
    return True


def check_model_output(target: str | os.PathLike[str], inputs: Sequence[Any] = (), flag: str = "--out") -> Path:
    """``target`` if an export may be written there (`lucid.outputs.check_output` for each part,
    an IR's ``.xml`` and ``.bin``): not an input of the command, a folder or a checkpoint, and if
    it exists an export lucid wrote (its digest names it). A user's own ``model.onnx`` is an
    `lucid.outputs.OutputError` naming it, before any work."""
    from lucid.outputs import check_output

    given = [item for item in inputs if isinstance(item, (str, os.PathLike))]
    model = Path(target).expanduser()
    for part in model_files(model):
        check_output(part, inputs=given, flag=flag)
    return model


# Suffixes of files a model is read from: an output named after one goes beside it.
_SOURCE_SUFFIXES = (".safetensors", ".onnx", ".xml", ".pte", ".pt", ".ts", ".pth")


def default_model_path(source: Any, suffix: str) -> Path:
    """Where a model file goes when no path is given: beside a source file, under its stem plus
    ``suffix`` (``runs/x/best.safetensors`` with ``.onnx`` is ``runs/x/best.onnx``, as
    Ultralytics writes ``best.onnx`` beside ``best.pt``), or ``NAME`` + ``suffix`` in the current
    folder for a registered model name. A module carries no name to derive a path from."""
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"give an output path: a {type(source).__name__} has no file name to write beside")
    path = Path(source).expanduser()
    if path.suffix.lower() in _SOURCE_SUFFIXES or path.is_file():
        return path.with_name(path.stem + suffix)
    return Path(path.name + suffix)


def temporary_beside(target: Path) -> Path:
    """A new empty temporary file ``.NAME.XXXXXXXX.tmp`` in ``target``'s folder (renames stay atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(tmp)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def publish(parts: Sequence[tuple[Path, Path]], model: Path) -> Path:
    """Rename each ``(temporary, final)`` part into place, then ``<model>.sha256`` (computed from
    the temporaries) beside it. The digest is written before any rename: if it cannot be, nothing
    is renamed and the previous model and digest stay. Returns the digest file."""
    sidecar = digest_path(model)
    lines = "".join(f"{file_sha256(tmp)}  {final.name}\n" for tmp, final in parts)
    tmp_digest = temporary_beside(sidecar)
    try:
        tmp_digest.write_text(lines)
        for tmp, _ in parts:
            _fsync(tmp)
            os.chmod(tmp, 0o644)
        _fsync(tmp_digest)
        os.chmod(tmp_digest, 0o644)
        for tmp, final in parts:
            os.replace(tmp, final)
        os.replace(tmp_digest, sidecar)
    finally:
        tmp_digest.unlink(missing_ok=True)
    return sidecar


def no_space_error(target: Path, exc: BaseException, needed: int | None = None) -> ExportError | None:
    """The one-line error for a write of ``target`` that failed with ``exc`` because its disk is
    full, else None: ``ENOSPC`` anywhere in the exception's chain, or, for writers that report a
    full disk as a bare stream error (OpenVINO's ``save_model``), less free space than the
    ``needed`` bytes. Call it before the temporaries are removed."""
    if isinstance(exc, LucidError):
        return None
    try:
        free = shutil.disk_usage(target.parent).free
    except OSError:
        return None
    chain: BaseException | None = exc
    enospc = False
    while chain is not None and not enospc:
        enospc = isinstance(chain, OSError) and chain.errno == errno.ENOSPC
        chain = chain.__cause__ or chain.__context__
    if not enospc and (needed is None or free >= needed):
        return None
    return ExportError(
        f"cannot write {target}: no space left on the disk holding {target.parent} ({free:,} bytes free"
        + (f", about {needed:,} needed" if needed else "")
        + "); nothing there was replaced"
    )


def write_with_digest(target: str | os.PathLike[str], write: Callable[[str], Any]) -> Path:
    """``write(tmp)`` a one-file model, then `publish` it with its digest; on any failure the
    temporary is removed and the previous model and digest are untouched (a full disk is named
    as such, `no_space_error`)."""
    final = Path(target)
    remove_stale_temporaries(final)
    tmp = temporary_beside(final)
    try:
        write(str(tmp))
        publish([(tmp, final)], final)
    except Exception as exc:
        full = no_space_error(final, exc)
        if full is not None:
            raise full from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return final


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries an interrupted write of ``target`` (its parts and digest) left in
    its folder: ``.NAME.XXXXXXXX.tmp`` files and folders. Returns what was removed. (Two exports
    into one file at the same time are not supported: the second removes the first's temporaries.)"""
    model = Path(target)
    if not model.parent.is_dir():
        return []
    names = {part.name for part in model_files(model)} | {digest_path(model).name, model.stem}
    removed = []
    for name in names:
        for stale in model.parent.glob(f".{glob_escape(name)}.*.tmp"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    import glob

    return glob.escape(name)

"""A SHA-256 digest beside every exported model file, checked before the file is run.

ONNX and OpenVINO IR files carry no checksum of their own: a flipped byte in a weight runs
silently and gives wrong answers. :func:`lucid.deploy.export` and :func:`lucid.deploy.quantize`
write ``<file>.sha256`` next to the model, in ``sha256sum``'s format (one ``<hex>  <name>`` line
per file: the ``.xml`` and its ``.bin`` for OpenVINO), so ``sha256sum -c model.onnx.sha256``
checks it too. :class:`lucid.deploy.Predictor` refuses a file whose bytes differ from its digest.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lucid.checkpoint import atomic_write
from lucid.errors import DataError

__all__ = ["DIGEST_SUFFIX", "check_digest", "digest_path", "file_sha256", "model_files", "write_digest"]

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

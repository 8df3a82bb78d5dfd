"""Where a command may write: no output overwrites one of the command's inputs, a lucid checkpoint
or a file lucid did not write, and a run never spills into a folder that is not a run folder.

lucid marks the pictures it writes (PNG text ``Software: lucid``, a JPEG comment ``lucid``) and
the charts (a last ``%% written by lucid`` line), and names every exported model in the digest
beside it, so writing the same output again is allowed while a user's own file of the same name
is refused by name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lucid.errors import LucidError

__all__ = [
    "MARK",
    "OutputError",
    "check_output",
    "check_outputs",
    "output_folder",
    "png_info",
    "written_by_lucid",
    "CHART_MARK",
]

PREDICTIONS_ROOT = Path("runs")  # where a command's pictures go by default, beside the training runs

MARK = "lucid"
CHART_MARK = "%% written by lucid"
_PICTURES = (".png", ".jpg", ".jpeg")
_TEXT = (".md", ".mmd", ".txt")
_MODELS = (".onnx", ".xml", ".bin", ".pte", ".pt")


class OutputError(LucidError, ValueError):
    """An output path that would overwrite an input, a checkpoint or a file lucid did not write."""


def png_info() -> Any:
    """PIL's ``pnginfo`` carrying lucid's mark (``Software: lucid``)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", MARK)
    return info


def written_by_lucid(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a picture, chart or JSON that lucid wrote (its mark is there), or an
    exported model named by the ``.sha256`` digest lucid writes beside every export."""
    file = Path(path)
    suffix = file.suffix.lower()
    try:
        if suffix in _PICTURES:
            from PIL import Image

            with Image.open(file) as image:
                info = image.info
            comment = info.get("comment", b"")
            return info.get("Software") == MARK or comment in (MARK, MARK.encode())
        if suffix in _TEXT:
            if file.stat().st_size > 4 * 1024 * 1024:
                return False  # no chart lucid writes is this large
            return CHART_MARK in file.read_text(encoding="utf-8", errors="replace").splitlines()[-3:]
        if suffix == ".json":
            with file.open(encoding="utf-8", errors="replace") as handle:
                return f'"written_by": "{MARK}"' in handle.read(4096)
        if suffix in _MODELS:  # an export: the SHA-256 digest lucid writes beside it names it
            owner = file.with_suffix(".xml") if suffix == ".bin" else file
            sidecar = owner.with_name(owner.name + ".sha256")
            if not sidecar.is_file() or sidecar.stat().st_size > 4096:
                return False
            listed = {line.split("  ", 1)[-1] for line in sidecar.read_text(errors="replace").splitlines()}
            return file.name in listed
    except OSError:
        return False
    return False


def check_outputs(
    targets: Iterable[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
    *,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    flag: str = "--out",
) -> list[Path]:
    """Every ``(source, output)`` pair's output checked (`check_output`) before a command writes
    the first, and two sources that would write one output (two images of one name from
    different folders) refused by name, so a refusal never leaves half the outputs written."""
    given = list(inputs)
    checked: list[Path] = []
    writer: dict[Path, str] = {}
    for source, target in targets:
        path = check_output(target, inputs=given, flag=flag)
        if path in writer and writer[path] != str(source):
            raise OutputError(
                f"{writer[path]} and {source} would both write {path}; predict them with different {flag} folders"
            )
        writer[path] = str(source)
        checked.append(path)
    return checked


def output_folder(path: str | os.PathLike[str] | None, *, kind: str = "predict", flag: str = "--out") -> Path:
    """The folder a command writes its pictures into (the writer creates it): ``path``, or by
    default a new ``runs/<kind>-STAMP`` (with ``-2``, ``-3`` ... when taken), beside the training
    runs and never loose in the current folder. A path that is a file is refused by name."""
    import time

    if path is None:
        base = PREDICTIONS_ROOT / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
        folder, count = base, 1
        while folder.exists():
            count += 1
            folder = base.with_name(f"{base.name}-{count}")
    else:
        folder = Path(path).expanduser()
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{flag} {folder} is a file; name a folder for the pictures")
    return folder


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output(
    path: str | os.PathLike[str], *, inputs: Iterable[str | os.PathLike[str] | None] = (), flag: str = "--out"
) -> Path:
    """``path`` if a command may write it; an `OutputError` naming it otherwise: it is one of
    the command's ``inputs``, a folder, a lucid checkpoint or training state (``.safetensors``), or
    an existing file without lucid's mark."""
    target = Path(path).expanduser()
    for item in inputs:
        if item is not None and _same(target, Path(item).expanduser()):
            raise OutputError(f"{flag} {target} is an input of this command; choose another file")
    if target.is_dir():
        raise OutputError(f"{flag} {target} is a folder; name a file")
    if target.exists():
        if target.suffix.lower() == ".safetensors":
            raise OutputError(f"{flag} {target} is a checkpoint; lucid never writes over one, choose another file")
        if not written_by_lucid(target):
            raise OutputError(
                f"{flag} {target} exists and was not written by lucid; choose another name or move that file"
            )
    return target

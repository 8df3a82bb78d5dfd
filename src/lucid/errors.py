"""lucid's exception types: one base class, so callers can catch every lucid refusal at once.

Each class also derives from the built-in exception a caller would have caught before (a data
problem is still a ``ValueError``, a missing optional runtime still an ``ImportError``), so code
written against the built-ins keeps working. The ``lucid`` command line turns every
`LucidError` into one line on stderr and a non-zero exit status.
"""

from __future__ import annotations

__all__ = [
    "LucidError",
    "DataError",
    "RunFolderError",
    "ExportError",
    "MissingDependencyError",
    "interrupted",
    "worker_cause",
]


class LucidError(Exception):
    """Base class of every error lucid raises on purpose. The message names what was expected,
    what came, and the file or flag it came from."""


class DataError(LucidError, ValueError):
    """A data tree, image file or mask that cannot be used as given."""


class RunFolderError(LucidError, OSError):
    """A training run's output folder that cannot be owned, written, started or resumed."""


class ExportError(LucidError, RuntimeError):
    """An export or quantization that could not be written or did not verify."""


class MissingDependencyError(LucidError, ImportError):
    """An optional runtime is not installed; the message names the pip extra that brings it."""


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is a Ctrl-C or SIGTERM (a ``KeyboardInterrupt``), also when it arrived inside
    an import and Python re-raised it as an ImportError ("initialization failed")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def worker_cause(message: str) -> str:
    """A DataLoader worker's error re-raised in the main process carries the worker's whole
    traceback in its message ("Caught DataError in DataLoader worker process 0. Original
    Traceback ..."); the cause is its last line, which names the file and what is wrong."""
    if "in DataLoader worker process" not in message or "Original Traceback" not in message:
        return message
    last = [line for line in message.strip().splitlines() if line.strip()][-1]
    cause = last.split(": ", 1)[1] if ": " in last and not last.startswith(" ") else last
    worker = message.split(".", 1)[0].replace("Caught ", "").strip()
    return f"{cause} (raised as {worker})"

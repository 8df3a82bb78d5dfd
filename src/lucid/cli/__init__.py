"""The ``lucid`` command line: a thin layer over library functions.

Each module in this package that defines ``register(subparsers)`` adds its sub-commands, so a
new command is one new file here. Modules import heavy libraries inside their handlers, which
keeps ``lucid --help`` fast.

Every failure ends in one line on stderr, ``lucid COMMAND: error: ...``, and a non-zero exit
status (2 for a refusal of bad input, 1 for anything unexpected, 130 for Ctrl-C). Set the
environment variable ``LUCID_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import NoReturn

from lucid.clock import IMPORTED

# When lucid's command line started (a ``time.perf_counter()`` reading, taken as the ``lucid``
# package was first imported, before torch): a ``--time-budget`` counts from here, so imports and
# data set-up are part of it but time before lucid started (a shell that ``exec``s the command
# after an install) is not.
STARTED = IMPORTED

__all__ = ["build_parser", "parse_args", "main", "run", "error_line", "STARTED", "INTERRUPTED"]

INTERRUPTED = 130  # the exit status of a command ended by Ctrl-C or SIGTERM (128 + SIGINT)

# A sub-parser that sets ``intermixed`` (the name of its ``nargs="+"`` positional) takes
# positionals after options too: ``lucid predict NAME --weights DEFAULT cat.jpg``.
# ``argparse.parse_intermixed_args`` cannot be used, because it refuses parsers with sub-commands.
INTERMIXED = "intermixed"


def _command_modules() -> list:
    modules = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def build_parser() -> argparse.ArgumentParser:
    """The full ``lucid`` argument parser with every sub-command registered."""
    from lucid import __version__

    parser = argparse.ArgumentParser(
        prog="lucid",
        description="MobileNet-v3, complete: models, weights, visualisation, training and deployment.",
    )
    parser.add_argument("--version", action="version", version=f"lucid {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        module.register(subparsers)
    return parser


def parse_args(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Parse a ``lucid`` command line; positionals of an intermixed sub-command may follow its options."""
    parser = parser or build_parser()
    args, extras = parser.parse_known_args(argv)
    target = getattr(args, INTERMIXED, None)
    if extras and target and not any(item.startswith("-") for item in extras):
        setattr(args, target, [*getattr(args, target), *extras])
        extras = []
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def _errors() -> tuple[type[BaseException], ...]:
    """Failures that are the input's fault: lucid's own refusals, bad values, unreadable or
    tampered files (a missing key, too deep nesting, a decompression bomb, a broken safetensors)."""
    from lucid.errors import LucidError

    kinds: list[type[BaseException]] = [LucidError, ValueError, TypeError, OSError, KeyError, RecursionError]
    try:
        from PIL.Image import DecompressionBombError

        kinds.append(DecompressionBombError)
    except ImportError:  # pragma: no cover - Pillow is a dependency
        pass
    try:
        from safetensors import SafetensorError

        kinds.append(SafetensorError)
    except ImportError:  # pragma: no cover - safetensors is a dependency
        pass
    return tuple(kinds)


def error_line(exc: BaseException) -> str:
    """One line describing ``exc``: its message with line breaks folded, and what kind of
    problem it is where the message alone would not say."""
    from lucid.errors import worker_cause

    text = " ".join(worker_cause(str(exc)).split())
    if isinstance(exc, KeyError):
        return f"missing or unexpected key {text} (a tampered or incomplete file?)"
    if isinstance(exc, RecursionError):
        return f"input nested too deeply to read ({text})"
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
        text = f"{exc.filename}: {text}"
    try:
        from safetensors import SafetensorError

        if isinstance(exc, SafetensorError):
            return f"safetensors: {text}"
    except ImportError:  # pragma: no cover
        pass
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lucid`` console script; returns the process exit status."""
    parser = build_parser()
    args = parse_args(argv, parser)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from lucid.errors import interrupted

    debug = os.environ.get("LUCID_DEBUG", "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"lucid {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except _errors() as exc:
        if interrupted(exc):  # Ctrl-C/SIGTERM that landed inside an import
            print(f"lucid {args.command}: interrupted", file=sys.stderr)
            return INTERRUPTED
        if debug:
            raise
        print(f"lucid {args.command}: error: {error_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # anything else still ends in one line, never a traceback
        if interrupted(exc):
            print(f"lucid {args.command}: interrupted", file=sys.stderr)
            return INTERRUPTED
        if debug:
            raise
        print(
            f"lucid {args.command}: error: {type(exc).__name__}: {error_line(exc)} "
            "(unexpected; run with LUCID_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


def run() -> NoReturn:
    """The ``lucid`` console script and ``python -m lucid``: `main`, then the process exit.

    An interrupted command has already left its files whole (a run folder is committed and
    unlocked before `main` returns), but the interrupt may have landed inside a native library's
    import or call. Finalising the interpreter over that half-built state can abort the process
    (seen: "Fatal Python error: PyThreadState_Get" and status -6 instead of 130), so an
    interrupted command flushes its output and ends without finalisation.
    """
    code = main()
    if code == INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)

"""The ``lucid`` command line: a thin layer over library functions.

Each module in this package that defines ``register(subparsers)`` adds its sub-commands, so a
new command is one new file here. Modules import heavy libraries inside their handlers, which
keeps ``lucid --help`` fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lucid`` console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        # User errors: one clear line, not a traceback.
        print(f"lucid {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lucid {args.command}: interrupted", file=sys.stderr)
        return 130

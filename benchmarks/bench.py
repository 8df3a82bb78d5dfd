"""Run lucid's deployment benchmark and write docs/benchmarks.md.

    python benchmarks/bench.py                      # both models, batch 1 and 32
    python benchmarks/bench.py --repeats 40 --threads 2 --passive-wait

The same as ``lucid bench --out docs/benchmarks.md [OPTIONS]`` (see ``lucid bench --help``);
the report ends with the issue's targets, met or not.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def main(argv: list[str] | None = None) -> int:
    from lucid.cli import main as lucid_main

    options = list(sys.argv[1:] if argv is None else argv)
    if "--out" not in options:
        options += ["--out", str(REPORT)]
    return lucid_main(["bench", *options])


if __name__ == "__main__":
    sys.exit(main())

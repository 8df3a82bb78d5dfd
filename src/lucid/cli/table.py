"""What every task's ``lucid eval`` prints: its notes, strict JSON or a headline, the metrics line and
the per-class table (a leaf module: task CLIs import it)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["class_table", "print_eval"]

Column = tuple[str, Sequence[float | int | None]]


def _cell(value: float | int | None) -> str:
    """A fraction as a percentage, a count as a whole number, "-" where there is no value."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{100 * value:.2f}%"


def class_table(classes: Sequence[str], columns: Sequence[Column]) -> list[str]:
    """The lines of a table with one row per class name and one right-aligned column per
    ``(header, values)``: fractions (floats) as percentages, counts (ints) as they are."""
    width = max(len("class"), *(len(name) for name in classes))
    headers = [header for header, _ in columns]
    cells = [[_cell(value) for value in values] for _, values in columns]
    widths = [max(len(h), *(len(cell) for cell in column)) for h, column in zip(headers, cells, strict=True)]
    header = "  ".join([f"{'class':<{width}}", *(f"{h:>{w}}" for h, w in zip(headers, widths, strict=True))])
    rows = [
        "  ".join([f"{name:<{width}}", *(f"{column[i]:>{w}}" for column, w in zip(cells, widths, strict=True))])
        for i, name in enumerate(classes)
    ]
    return [header, *rows]


def print_eval(result: Any, as_json: bool) -> int:
    """Print one ``lucid eval`` result of any task and return the exit status 0.

    ``result`` has ``classes``, ``to_dict()``, ``summary()`` (the lines above the table) and
    ``class_columns()``; its ``notes``, if any, go to stderr first. Then either strict JSON (NaN
    as null) of ``to_dict()``, or the summary, the `class_table` and, when one was written, where
    the confusion matrix (``confusion_png``) is.
    """
    from lucid.train.metrics import dumps

    for note in getattr(result, "notes", ()):
        print(f"lucid eval: note: {note}", file=sys.stderr)
    if as_json:
        print(dumps(result.to_dict(), indent=2))
        return 0
    print("\n".join([*result.summary(), *class_table(result.classes, result.class_columns())]))
    picture = getattr(result, "confusion_png", None)
    if picture:
        print(f"confusion matrix: {picture}")
    return 0

"""The per-class table every task's ``lucid eval`` prints (a leaf module: task CLIs import it)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["class_table"]

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

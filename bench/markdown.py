"""Markdown helpers shared by the report, the README block and the family/recipe tables."""
from __future__ import annotations


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, spec: str = "{:.2f}", missing: str = "—") -> str:
    """A number in a table cell; `missing` where nothing was measured."""
    return missing if value is None else spec.format(value)


def fmt_diff(diff: dict[str, int]) -> str:
    """An op-count difference as 'Transpose -6, Squeeze +2'."""
    return ", ".join(f"{op} {v:+d}" for op, v in diff.items()) or "identical"

"""Parsing list-valued command-line options alike in every bench command: a list may be given
comma-separated, as repeated options, or both (`--canvas 960,1024 --canvas 1280`)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import typer

T = TypeVar("T")


def split_list(values: str | Iterable[str], cast: Callable[[str], T] = str, option: str = "") -> list[T]:
    raw = [values] if isinstance(values, str) else list(values)
    items = [part.strip() for value in raw for part in value.split(",") if part.strip()]
    try:
        return [cast(item) for item in items]
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint=option or None) from None

"""What every command shares: the two consoles and how an error is shown (one line,
a hint, the error's exit code; a traceback only with --debug)."""
from __future__ import annotations

import sys

import typer
from rich.console import Console

from .errors import ConvertError

# wide enough for the tables when piped (rich assumes 80 columns off a terminal)
console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
out = Console(width=None if sys.stdout.isatty() else 140)


def fail(e: ConvertError, debug: bool) -> None:
    if debug:
        raise e
    console.print(f"[bold red]error:[/] {e}", soft_wrap=True)
    if e.hint:
        console.print(f"[dim]hint:[/] {e.hint}", soft_wrap=True)
    raise typer.Exit(e.exit_code)

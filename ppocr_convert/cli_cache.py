"""`ppocr-convert cache ls | verify | prune | clear`: parse and render; the work is in
ppocr_convert.chain.cache_admin."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .cli_common import fail as _fail
from .cli_common import out
from .errors import ConvertError

cache_app = typer.Typer(no_args_is_help=True, help="See, verify, prune and clear the cache (PPOCR_CONVERT_CACHE).")
def _cache_root(cache_dir: Optional[Path]) -> Path:
    from .chain.sources import cache_root
    return cache_dir or cache_root()


CACHE_DIR_OPTION = typer.Option(None, "--cache-dir", help="the cache root (default: PPOCR_CONVERT_CACHE)")


def _entries_table(title: str, entries: list[dict], extra: str | None = None) -> Table:
    from .chain.cache_admin import human_size
    table = Table(title=title)
    for col in ("stage", "model", "key", "size", "age (days)", *([extra] if extra else [])):
        table.add_column(col, no_wrap=True)
    for e in entries:
        table.add_row(e["stage"], e["label"] or "-", e["key"][:16], human_size(e["bytes"]), f"{e['age_days']:.1f}",
                      *([str(e[extra])] if extra else []))
    return table


@cache_app.command("ls")
def cache_ls(cache_dir: Optional[Path] = CACHE_DIR_OPTION, as_json: bool = typer.Option(False, "--json")):
    """Entries per stage and model, their sizes and ages, and the total."""
    from .chain.cache_admin import human_size, list_entries
    root = _cache_root(cache_dir)
    entries = [e.to_dict() for e in list_entries(root)]
    total = sum(e["bytes"] for e in entries)
    if as_json:
        out.print_json(json.dumps({"root": str(root), "entries": entries, "total_bytes": total}))
        return
    out.print(_entries_table(f"cache {root}", _images_in_one_row(entries)))
    out.print(f"{len(entries)} entries, {human_size(total)}")


def _images_in_one_row(entries: list[dict]) -> list[dict]:
    """Per-image parity results (one entry per image, thousands on a large set) as one row."""
    from .parity.result_store import RESULTS_CACHE_DIR
    images = [e for e in entries if e["kind"] == RESULTS_CACHE_DIR]
    if not images:
        return entries
    row = {"stage": RESULTS_CACHE_DIR, "label": f"{len(images)} image results", "key": "-",
           "bytes": sum(e["bytes"] for e in images), "age_days": min(e["age_days"] for e in images)}
    return [e for e in entries if e["kind"] != RESULTS_CACHE_DIR] + [row]


@cache_app.command("verify")
def cache_verify(cache_dir: Optional[Path] = CACHE_DIR_OPTION,
                 fix: bool = typer.Option(False, "--fix", help="remove the damaged entries"),
                 as_json: bool = typer.Option(False, "--json")):
    """Check every entry's files against the digests recorded when it was written.
    Exit 1 when a damaged entry is left in place (without --fix)."""
    from .chain.cache_admin import list_entries, verify
    root = _cache_root(cache_dir)
    checked = len(list_entries(root))
    bad = verify(root, fix=fix)
    if as_json:
        out.print_json(json.dumps({"root": str(root), "checked": checked, "damaged": bad}))
    else:
        if bad:
            out.print(_entries_table("damaged entries" + (" (removed)" if fix else ""), bad, "problem"))
        out.print(f"{checked} entries checked, {len(bad)} damaged" + (", removed" if fix and bad else ""))
    if bad and not fix:
        raise typer.Exit(1)


@cache_app.command("prune")
def cache_prune(cache_dir: Optional[Path] = CACHE_DIR_OPTION,
                max_size: Optional[str] = typer.Option(None, "--max-size", help="e.g. 5G: drop least recently used"),
                older_than: Optional[str] = typer.Option(None, "--older-than", help="e.g. 30d: drop unused since"),
                as_json: bool = typer.Option(False, "--json")):
    """Remove entries unused for longer than --older-than, then least recently used ones
    until the cache is at most --max-size."""
    from .chain.cache_admin import human_size, parse_age, parse_size, prune
    try:
        if max_size is None and older_than is None:
            raise ConvertError("nothing to prune by", hint="give --max-size (e.g. 5G) and/or --older-than (e.g. 30d)")
        removed = [e.to_dict() for e in prune(_cache_root(cache_dir), parse_size(max_size) if max_size else None,
                                               parse_age(older_than) if older_than else None)]
    except ConvertError as e:
        _fail(e, False)
    if as_json:
        out.print_json(json.dumps({"removed": removed, "freed_bytes": sum(e["bytes"] for e in removed)}))
        return
    out.print(f"removed {len(removed)} entries, {human_size(sum(e['bytes'] for e in removed))} freed")


@cache_app.command("clear")
def cache_clear(cache_dir: Optional[Path] = CACHE_DIR_OPTION, as_json: bool = typer.Option(False, "--json")):
    """Remove every entry (the next runs rebuild what they need)."""
    from .chain.cache_admin import clear, human_size
    removed = [e.to_dict() for e in clear(_cache_root(cache_dir))]
    if as_json:
        out.print_json(json.dumps({"removed": len(removed), "freed_bytes": sum(e["bytes"] for e in removed)}))
        return
    out.print(f"removed {len(removed)} entries, {human_size(sum(e['bytes'] for e in removed))} freed")



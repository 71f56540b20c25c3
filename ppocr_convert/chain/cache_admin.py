"""`ppocr-convert cache ls | verify | prune | clear`: see, check and trim the cache.

What lives under the cache root (PPOCR_CONVERT_CACHE, default ~/.cache/ppocr-convert):
- `stages/<stage>/<key>/`: conversion stages, artifact inspections (`inspect`, keyed by
  the artifact's content) and parity reports, each sealed and verifiable;
- `paddle-reference/<model>-<key>/`: x2paddle rebuilds of Paddle references;
- `models/<model>/`: official archives fetched with --download;
- `int8-pages/seed<N>-n<M>/`: the rendered pages of the tflite-int8 calibration and gate
  sets (deterministic: regenerated identically when removed);
- `parity-images/<xx>/<key>/`: one image's parity results (parity/result_store.py), keyed
  by the image, the artifacts, the recipe and the harness code; one entry per image.
Every entry can be removed at any time: the next run rebuilds it (downloads excepted,
which need --download again). Removal renames an entry aside first, so a concurrent
reader sees it whole or not at all.
"""
from __future__ import annotations

import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError
from ..parity.result_store import RESULT_FILE, RESULTS_CACHE_DIR, ResultStore, entry_image
from ..parity.result_store import entry_problem as image_entry_problem
from .stage_cache import COMPLETE, discard_entry, entry_label, entry_problem

KINDS = ("stages", "paddle-reference", "models", "int8-pages", RESULTS_CACHE_DIR)


@dataclass
class CacheEntry:
    kind: str          # one of KINDS
    stage: str         # stage name for stage entries, else the kind
    key: str
    label: str         # the model or pipeline it was made for, where known
    bytes: int
    last_used: float   # epoch seconds (sealed marker or newest file)
    path: Path

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        d["age_days"] = round((time.time() - self.last_used) / 86400, 2)
        return d


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _last_used(path: Path, marker_name: str = COMPLETE) -> float:
    """When the entry was last written or read: its marker's mtime (touched on each hit)."""
    marker = path / marker_name
    if marker.is_file():
        return marker.stat().st_mtime
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return max((f.stat().st_mtime for f in files), default=path.stat().st_mtime)


def list_entries(root: Path) -> list[CacheEntry]:
    """Every entry under the cache root (temp dirs and locks of running builds excluded)."""
    root = Path(root)
    found: list[CacheEntry] = []
    stages = root / "stages"
    for stage_dir in sorted(stages.iterdir()) if stages.is_dir() else []:
        for entry in sorted(stage_dir.iterdir()) if stage_dir.is_dir() else []:
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            found.append(CacheEntry("stages", stage_dir.name, entry.name, entry_label(entry), _size(entry),
                                    _last_used(entry), entry))
    for kind in ("paddle-reference", "models", "int8-pages"):
        parent = root / kind
        for d in sorted(parent.iterdir()) if parent.is_dir() else []:
            if d.name.startswith(".") or not d.is_dir():
                continue
            label = re.sub(r"-[0-9a-f]{16}$", "", d.name) if kind == "paddle-reference" else d.name
            found.append(CacheEntry(kind, kind, d.name, label, _size(d), _last_used(d), d))
    for d in ResultStore(root / RESULTS_CACHE_DIR).entry_dirs():
        found.append(CacheEntry(RESULTS_CACHE_DIR, RESULTS_CACHE_DIR, d.name, entry_image(d), _size(d),
                                _last_used(d, RESULT_FILE), d))
    return found


def entry_check(entry: CacheEntry) -> str | None:
    """What is wrong with an entry (None: intact, or nothing recorded to check against)."""
    if entry.kind == "stages":
        if not (entry.path / COMPLETE).is_file():
            return "not sealed (an interrupted build)"
        return entry_problem(entry.path)
    if entry.kind == RESULTS_CACHE_DIR:
        return image_entry_problem(entry.path)
    return None


def remove(entry: CacheEntry) -> None:
    if entry.path.is_dir():
        discard_entry(entry.path)
    else:
        entry.path.unlink(missing_ok=True)


def verify(root: Path, fix: bool = False) -> list[dict]:
    """Check every entry; with fix, remove the damaged ones. Returns the damaged ones."""
    bad = []
    for entry in list_entries(root):
        problem = entry_check(entry)
        if problem is not None:
            if fix:
                remove(entry)
            bad.append({**entry.to_dict(), "problem": problem, "removed": fix})
    return bad


def prune(root: Path, max_size: int | None = None, older_than_s: float | None = None,
          now: float | None = None) -> list[CacheEntry]:
    """Remove entries unused for longer than older_than_s, then least recently used ones
    until the total is at most max_size bytes. Returns what was removed."""
    now = time.time() if now is None else now
    entries = sorted(list_entries(root), key=lambda e: e.last_used)
    removed = []
    if older_than_s is not None:
        for e in [e for e in entries if now - e.last_used > older_than_s]:
            remove(e)
            removed.append(e)
            entries.remove(e)
    if max_size is not None:
        total = sum(e.bytes for e in entries)
        for e in list(entries):
            if total <= max_size:
                break
            remove(e)
            removed.append(e)
            total -= e.bytes
    return removed


def clear(root: Path) -> list[CacheEntry]:
    entries = list_entries(root)
    for e in entries:
        remove(e)
    for kind in KINDS:  # and what builds left behind (locks, temp dirs of dead runs)
        d = Path(root) / kind
        if d.is_dir() and not any(p for p in d.rglob("*") if p.is_file() and not p.name.endswith(".lock")):
            shutil.rmtree(d, ignore_errors=True)
    return entries


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.I)
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.I)


def parse_size(text: str) -> int:
    """'5G', '500M', '1.5GiB', '1024' → bytes (powers of 1024)."""
    m = _SIZE.match(text)
    if not m:
        raise ConfigError(f"cannot read size {text!r}", hint="use e.g. 5G, 500M or a number of bytes")
    return int(float(m[1]) * 1024 ** "_kmgt".index(m[2].lower() or "_"))


def parse_age(text: str) -> float:
    """'30d', '12h', '2w' → seconds."""
    m = _AGE.match(text)
    if not m:
        raise ConfigError(f"cannot read age {text!r}", hint="use e.g. 30d, 12h or 2w")
    return float(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m[2].lower()]


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"

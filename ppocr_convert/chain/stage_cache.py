"""Content-addressed stage cache.

A stage's output directory is stored under a key made from everything that
determines it: the input's hash, the options, and the versions of the tools that
run. Nothing changed → same key → reuse; one option changed → only the stages that
depend on it get new keys.

Every entry records the sha256 of each of its files in its `.complete` marker when it is
written; a read checks them and treats a missing or changed file (a crashed disk, an
antivirus, a careless `cp`) as a miss: the entry is discarded with one warning line
naming the stage and key, and the stage is rebuilt (tests/test_cache_heal.py).

Consistency rules (each has a test in tests/test_faults.py):
* an entry is built in a private temp directory `.KEY.tmp-PID-*` and renamed into
  place only once complete (with its `.complete` marker), so an interrupted or failed
  run never leaves a partial entry where a reader looks;
* concurrent runs of the same stage take a per-key lock (`.KEY.lock`, flock, removed
  after use): the second waits and then reuses the first one's entry instead of
  building it again and renaming it from under the first;
* temp directories left by a killed process (SIGKILL, power loss) are removed by the
  next build of that key, once their owner PID is gone;
* an OSError while writing the cache (disk full, read-only) becomes a one-line
  ConvertError naming the cache directory.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import ConvertError
from ..fsutil import (DISK_ERRNOS, file_lock, replace_dir, sha256_file, sweep_stale_temp_dirs, temp_dir,
                      write_error_hint)

if TYPE_CHECKING:
    from .remote_cache import RemoteCache

log = logging.getLogger("ppocr_convert.cache")
COMPLETE = ".complete"


def cache_key(**parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


class StageCache:
    """`root/stages/<stage>/<key>/`, optionally read through / written back to a remote
    (chain/remote_cache.py) by the same keys."""

    def __init__(self, root: Path, enabled: bool = True, remote: "RemoteCache | None" = None):
        self.root = Path(root)
        self.enabled = enabled
        self.remote = remote

    def entry(self, stage: str, key: str) -> Path:
        return self.root / "stages" / stage / key

    def get(self, stage: str, key: str) -> Path | None:
        """The entry if it is complete and intact; a damaged one is discarded (a miss)."""
        path = self.entry(stage, key)
        if not self.enabled or not (path / COMPLETE).is_file():
            return None
        problem = entry_problem(path)
        if problem is None:
            with contextlib.suppress(OSError):  # last use, for `cache prune` (least recently used first)
                os.utime(path / COMPLETE)
            return path
        log.warning("cache: %s entry %s is damaged (%s); discarding it and rebuilding", stage, key, problem)
        discard_entry(path)
        return None

    def build(self, stage: str, key: str, build: Callable[[Path], None], label: str = "") -> tuple[Path, bool]:
        """Return (entry dir, reused). `build(tmpdir)` writes the stage's files; `label` (the
        model it was built for) is recorded for `cache ls`."""
        hit = self.get(stage, key)
        if hit is not None:
            return hit, True
        final = self.entry(stage, key)
        created = [d for d in (final.parent, final.parent.parent, self.root) if not d.exists()]
        try:
            return self._build(stage, key, build, final, label)
        except BaseException:
            for d in created:  # a failed first build of a stage leaves no empty directories
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise

    def _build(self, stage: str, key: str, build: Callable[[Path], None], final: Path,
               label: str) -> tuple[Path, bool]:
        with contextlib.ExitStack() as stack:
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                stack.enter_context(file_lock(final.parent / f".{key}.lock"))
                hit = self.get(stage, key)  # built by a concurrent run while we waited
                if hit is not None:
                    return hit, True
                sweep_stale_temp_dirs(final.parent, key)
                tmp = temp_dir(final.parent, key)
            except OSError as e:
                raise self._write_error(e) from e
            try:
                if self.remote is not None and self.enabled and self.remote.fetch(stage, key, tmp):
                    replace_dir(tmp, final)  # verified against its digests while unpacking
                    return final, True
                shutil.rmtree(tmp, ignore_errors=True)  # whatever a failed download left
                tmp.mkdir()
                build(tmp)
                seal_entry(tmp, label)
                # over an existing entry only with --no-cache (or an unmarked leftover)
                replace_dir(tmp, final)
            except BaseException as e:
                shutil.rmtree(tmp, ignore_errors=True)
                if isinstance(e, OSError) and (e.errno in DISK_ERRNOS or self._inside(e.filename)):
                    raise self._write_error(e) from e
                raise
        if self.remote is not None:
            self.remote.push(stage, key, final)
        return final, False

    def _inside(self, filename) -> bool:
        try:
            return filename is not None and Path(os.fsdecode(filename)).resolve().is_relative_to(self.root.resolve())
        except (TypeError, ValueError, OSError):
            return False

    def _write_error(self, e: OSError) -> ConvertError:
        where = os.fsdecode(e.filename) if e.filename else f"the stage cache {self.root}"
        return ConvertError(f"cannot write {where}: {e.strerror or e}",
                            hint=write_error_hint(e, "PPOCR_CONVERT_CACHE"))


def entry_files(entry: Path) -> list[Path]:
    """The files an entry holds (its own markers excluded), sorted."""
    return sorted(p for p in entry.rglob("*") if p.is_file() and p.name != COMPLETE)


def seal_entry(entry: Path, label: str = "") -> None:
    """Write the `.complete` marker with the sha256 of every file: the entry is done."""
    files = {str(p.relative_to(entry)): sha256_file(p) for p in entry_files(entry)}
    (entry / COMPLETE).write_text(json.dumps({"files": files, "label": label}, indent=1, sort_keys=True))


def entry_label(entry: Path) -> str:
    try:
        return str(json.loads((entry / COMPLETE).read_text()).get("label", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def entry_problem(entry: Path) -> str | None:
    """What is wrong with a sealed entry (None when every recorded file is there, unchanged,
    and nothing was added)."""
    try:
        recorded = json.loads((entry / COMPLETE).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "no readable file list"
    for rel, digest in sorted(recorded.items()):
        f = entry / rel
        try:
            if sha256_file(f) != digest:
                return f"{rel} changed"
        except OSError:
            return f"{rel} missing"
    extra = sorted(set(str(p.relative_to(entry)) for p in entry_files(entry)) - set(recorded))
    return f"{extra[0]} was added" if extra else None


def discard_entry(entry: Path) -> None:
    """Remove an entry so that no reader sees half of it: rename it aside first."""
    try:
        aside = temp_dir(entry.parent, entry.name, "old")
        os.rename(entry, aside / "x")
    except OSError:
        aside = entry  # already gone, or not renameable: remove in place
    shutil.rmtree(aside, ignore_errors=True)

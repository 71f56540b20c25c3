"""Content-addressed stage cache.

A stage's output directory is stored under a key made from everything that
determines it: the input's hash, the options, and the versions of the tools that
run. Nothing changed → same key → reuse; one option changed → only the stages that
depend on it get new keys.

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
import os
import shutil
from pathlib import Path
from typing import Callable

from ..errors import ConvertError
from ..fsutil import DISK_ERRNOS, file_lock, replace_dir, sweep_stale_temp_dirs, temp_dir, write_error_hint


def cache_key(**parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


class StageCache:
    def __init__(self, root: Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled

    def entry(self, stage: str, key: str) -> Path:
        return self.root / "stages" / stage / key

    def get(self, stage: str, key: str) -> Path | None:
        path = self.entry(stage, key)
        return path if self.enabled and (path / ".complete").is_file() else None

    def build(self, stage: str, key: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
        """Return (entry dir, reused). `build(tmpdir)` writes the stage's files."""
        hit = self.get(stage, key)
        if hit is not None:
            return hit, True
        final = self.entry(stage, key)
        created = [d for d in (final.parent, final.parent.parent, self.root) if not d.exists()]
        try:
            return self._build(stage, key, build, final)
        except BaseException:
            for d in created:  # a failed first build of a stage leaves no empty directories
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise

    def _build(self, stage: str, key: str, build: Callable[[Path], None], final: Path) -> tuple[Path, bool]:
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
                build(tmp)
                (tmp / ".complete").write_text("")
                # over an existing entry only with --no-cache (or an unmarked leftover)
                replace_dir(tmp, final)
            except BaseException as e:
                shutil.rmtree(tmp, ignore_errors=True)
                if isinstance(e, OSError) and (e.errno in DISK_ERRNOS or self._inside(e.filename)):
                    raise self._write_error(e) from e
                raise
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

"""Content-addressed stage cache.

A stage's output directory is stored under a key made from everything that
determines it: the input's hash, the options, and the versions of the tools that
run. Nothing changed → same key → reuse; one option changed → only the stages that
depend on it get new keys. Entries are built in a private temp directory and
renamed into place, so an interrupted or concurrent run never leaves a partial
entry (the first rename wins; a loser discards its copy).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


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
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}.tmp-"))
        try:
            build(tmp)
            (tmp / ".complete").write_text("")
            if final.exists():
                # a --no-cache rebuild, or a concurrent run finished first: replace atomically
                old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}.old-"))
                try:
                    os.replace(final, old / "entry")
                except FileNotFoundError:
                    pass
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                try:
                    os.replace(tmp, final)
                except OSError:
                    # another process renamed its (identical) entry first
                    shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final, False

"""The `paddle` reference stage: the Paddle inference model every other stage is
judged against. A model shipped as Paddle is its own reference; one shipped only as
ONNX (PP-OCRv6 in registry packages) gets a Paddle model rebuilt from that ONNX with
x2paddle (paddle_reference.py), cached under `<cache root>/paddle-reference/`.

The cache key is everything that decides the rebuilt model: the source ONNX's hash,
the input shape hint, the versions of the tools involved and a digest of the rebuild
code. A new x2paddle or a fix to the rebuild gets a new entry instead of a stale one.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from . import paddle_reference
from .chain.sources import ResolvedSource, cache_root, resolve
from .config import ModelConfig
from .fsutil import file_lock

CACHE_SUBDIR = "paddle-reference"


def reference_kind(source: ResolvedSource) -> str:
    """What the `paddle` stage runs for a model from this source: the Paddle original
    itself, or a Paddle model rebuilt from the ONNX (no original available offline)."""
    return "original" if source.stage == "paddle" else "rebuilt-from-onnx"


def input_shape_hint(config: ModelConfig) -> list[int]:
    """The rebuilt model's input shape, -1 where the reference takes any size: det any
    H x W, rec any width; the batch is always free."""
    n, c, h, w = config.shape
    if config.task == "det":
        return [-1, c, -1, -1]
    if config.task == "rec":
        return [-1, c, h, -1]
    return [-1, c, h, w]


def rebuild_key(source_sha256: str, hint: list[int]) -> str:
    """Cache key of a rebuild: 16 hex digits of a digest over everything that decides it."""
    parts = {"source_sha256": source_sha256, "input_shape_hint": hint,
             "tools": paddle_reference.rebuild_tool_versions(), "code": paddle_reference.rebuild_code_digest()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def reference_key(config: ModelConfig, source: ResolvedSource | None = None) -> str:
    """What identifies the model's reference without building it: the original's digest,
    or the key its rebuild is (or would be) cached under."""
    src = source or resolve(config)
    return f"original:{src.sha256}" if src.stage == "paddle" else \
        f"rebuilt:{rebuild_key(src.sha256, input_shape_hint(config))}"


def reference_dir(config: ModelConfig, source: ResolvedSource | None = None,
                  cache_dir: Path | None = None) -> tuple[Path, dict]:
    """(Paddle model dir, provenance) for the model's reference stage. A rebuild is cached
    under `cache_dir` (default: the cache root, $PPOCR_CONVERT_CACHE)."""
    src = source or resolve(config)
    if src.stage == "paddle":
        return src.path, {"kind": "original", "source": src.origin, "format": src.format}
    hint = input_shape_hint(config)
    key = rebuild_key(src.sha256, hint)
    parent = Path(cache_dir or cache_root()) / CACHE_SUBDIR
    out = parent / f"{config.name}-{key}"
    if not (out / paddle_reference.PROVENANCE_FILE).is_file():
        parent.mkdir(parents=True, exist_ok=True)
        # one rebuild per entry: a concurrent caller waits, then finds it built
        with file_lock(parent / f".{out.name}.lock"):
            if not (out / paddle_reference.PROVENANCE_FILE).is_file():
                paddle_reference.rebuild_paddle_from_onnx(src.path, out, input_shape_hint=hint)
    tools = paddle_reference.rebuild_tool_versions()
    return out, {"kind": "rebuilt-from-onnx", "source": src.origin, "tool": f"x2paddle {tools['x2paddle']}",
                 "record": paddle_reference.PROVENANCE_FILE, "cache_key": key}

"""The `paddle` reference stage: the Paddle inference model every other stage is
judged against. A model shipped as Paddle is its own reference; one shipped only as
ONNX (PP-OCRv5 in registry packages) gets a Paddle model rebuilt from that ONNX with
x2paddle (see paddle_reference.py), cached by the ONNX's hash."""
from __future__ import annotations

from pathlib import Path

from .config import ModelConfig
from .chain.sources import ResolvedSource, cache_root, resolve


def reference_kind(source: ResolvedSource) -> str:
    """What the `paddle` stage runs for a model from this source: the Paddle original
    itself, or a Paddle model rebuilt from the ONNX (no original available offline)."""
    return "original" if source.stage == "paddle" else "rebuilt-from-onnx"


def reference_dir(config: ModelConfig, source: ResolvedSource | None = None) -> tuple[Path, dict]:
    """(Paddle model dir, provenance) for the model's reference stage."""
    src = source or resolve(config)
    if src.stage == "paddle":
        return src.path, {"kind": "original", "source": src.origin, "format": src.format}
    out = cache_root() / "paddle-reference" / f"{config.name}-{src.sha256[:12]}"
    if not (out / "rebuild.json").is_file():
        from .paddle_reference import rebuild_paddle_from_onnx
        hint = [-1, *config.shape[1:]]
        if config.task in ("det",):
            hint = [-1, config.shape[1], -1, -1]
        elif config.task == "rec":
            hint = [-1, config.shape[1], config.shape[2], -1]
        rebuild_paddle_from_onnx(src.path, out, input_shape_hint=hint)
    return out, {"kind": "rebuilt-from-onnx", "source": src.origin, "tool": "x2paddle 1.6.0",
                 "record": "rebuild.json"}

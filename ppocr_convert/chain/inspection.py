"""Artifact inspection (inputs, outputs, op histogram, GPU verdict) cached by the
artifact's content.

Inspecting a .tflite loads the LiteRT interpreter and TensorFlow's analyzer (seconds,
and TensorFlow's import alone is most of a cached run); an unchanged artifact gives
the same report, so it is a stage-cache entry (`inspect`) keyed by the artifact's
sha256, the inspection code and the tool versions: verified, shared through a remote
cache and pruned like every other entry.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..fsutil import sha256_file
from ..inspect_model import ModelReport, inspect_file
from .code_digest import code_digest
from .stage_cache import StageCache, cache_key

# what a report depends on besides the file's bytes
INSPECTION_CODE = ("ppocr_convert.inspect_model",)
INSPECTION_TOOLS = ("onnx", "tensorflow", "ai-edge-litert")


def inspect_cached(path: Path, cache: StageCache | None, versions: dict[str, str], label: str = "") -> ModelReport:
    """inspect_file(path), served from the cache when this content was inspected before."""
    if cache is None or not cache.enabled:
        return inspect_file(path)
    key = cache_key(stage="inspect", artifact=sha256_file(path), code=code_digest(INSPECTION_CODE),
                    tools={k: versions.get(k) for k in INSPECTION_TOOLS})

    def build(tmp: Path) -> None:
        (tmp / "report.json").write_text(json.dumps(dataclasses.asdict(inspect_file(path))))

    entry, _ = cache.build("inspect", key, build, label=label)
    report = ModelReport.from_dict(json.loads((entry / "report.json").read_text()))
    return dataclasses.replace(report, path=str(path))

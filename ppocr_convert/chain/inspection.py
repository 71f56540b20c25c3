"""Artifact inspection (inputs, outputs, op histogram, GPU verdict) cached by the
artifact's content.

Inspecting a .tflite loads the LiteRT interpreter and TensorFlow's analyzer (seconds,
and TensorFlow's import alone is most of a cached run); an unchanged artifact gives
the same report, so it is computed once per (artifact sha256, inspection code, tool
versions) and read back from `<cache>/inspect/` afterwards.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from ..fsutil import sha256_file, temp_dir
from ..inspect_model import ModelReport, inspect_file
from .code_digest import code_digest
from .stage_cache import cache_key

# what a report depends on besides the file's bytes
INSPECTION_CODE = ("ppocr_convert.inspect_model",)
INSPECTION_TOOLS = ("onnx", "tensorflow", "ai-edge-litert")


def inspect_cached(path: Path, cache_root: Path | None, versions: dict[str, str]) -> ModelReport:
    """inspect_file(path), served from `cache_root/inspect/` when this content was seen."""
    if cache_root is None:
        return inspect_file(path)
    key = cache_key(stage="inspect", artifact=sha256_file(path), code=code_digest(INSPECTION_CODE),
                    tools={k: versions.get(k) for k in INSPECTION_TOOLS})
    entry = Path(cache_root) / "inspect" / f"{key}.json"
    try:
        report = ModelReport.from_dict(json.loads(entry.read_text()))
        return dataclasses.replace(report, path=str(path))
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or unreadable: inspect again and rewrite it
    report = inspect_file(path)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_dir(entry.parent, entry.stem)
        (tmp / "report.json").write_text(json.dumps(dataclasses.asdict(report)))
        os.replace(tmp / "report.json", entry)  # readers see a whole file or none
        os.rmdir(tmp)
    except OSError:
        pass  # a read-only or full cache only costs the next run the inspection
    return report

"""Digests of the code each stage runs, part of every stage's cache key.

Without them an edited pass would be served from cache under the old key, and the
manifest would claim provenance the artifact does not have. Each stage names the
modules whose source decides its output; a package stands for all its .py files.
"""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from ..fsutil import sha256_file

# stage → modules/packages whose source determines the stage's output
STAGE_CODE: dict[str, tuple[str, ...]] = {
    # paddle2onnx runs in p2o_worker, then the front-end repairs (frontend.FRONTEND_REPAIRS)
    "onnx-raw": ("ppocr_convert.chain.frontend", "ppocr_convert.chain.p2o_worker", "ppocr_convert.passes.manager",
                 "ppocr_convert.passes.base", "ppocr_convert.passes._util", "ppocr_convert.passes.concat_rank_fix"),
    "onnx": ("ppocr_convert.chain.passes_runner", "ppocr_convert.chain.frontend", "ppocr_convert.passes"),
    # onnx2tf's sample data is made from the packaged calibration photos
    "tflite": ("ppocr_convert.chain.backend", "ppocr_convert.chain.onnx2tf_lean", "ppocr_convert.chain.artifact_check",
               "ppocr_convert.chain.retarget", "ppocr_convert.tflite_opcodes", "ppocr_convert.data.calibration"),
    # calibration and gate sets (photos, rendered pages, the deployed preprocessing), the
    # quantizer recipe, the sensitivity ranking and the mixed-precision search
    "tflite-int8": ("ppocr_convert.chain.int8_conversion", "ppocr_convert.chain.int8_stage",
                    "ppocr_convert.chain.quantize",
                    "ppocr_convert.chain.bias_correction", "ppocr_convert.chain.sensitivity",
                    "ppocr_convert.chain.calibration", "ppocr_convert.chain.activation_ranges",
                    "ppocr_convert.chain.fp32_capture", "ppocr_convert.chain.integer_minimum",
                    "ppocr_convert.chain.integer_hard_swish", "ppocr_convert.chain.integer_gelu",
                    "ppocr_convert.chain.integer_transpose_conv", "ppocr_convert.chain.integer_large_depthwise",
                    "ppocr_convert.chain.integer_clip", "ppocr_convert.chain.shared_vectors",
                    "ppocr_convert.chain.tflite_edit", "ppocr_convert.tflite_opcodes",
                    "ppocr_convert.data.calibration", "ppocr_convert.evalset", "ppocr_convert.ocr",
                    "ppocr_convert.model_params"),
}


def module_files(name: str) -> list[Path]:
    """The source files of a module, or every file of a package (sorted, tests excluded)."""
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations:  # a package: all its files, data included
        root = Path(list(spec.submodule_search_locations)[0])
        return sorted(p for p in root.rglob("*") if p.is_file() and _counts(p))
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(name)
    return [Path(spec.origin)]


def _counts(path: Path) -> bool:
    # tests and bytecode do not change what a stage produces
    return "__pycache__" not in path.parts and not path.name.endswith(("_test.py", "_testing.py", ".pyc"))


def stage_digest(stage: str) -> str:
    return code_digest(STAGE_CODE[stage])


def code_digest(modules: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for name in modules:
        for path in module_files(name):
            h.update(f"{name}:{path.name}\0".encode())
            h.update(sha256_file(path).encode())  # cached per (size, mtime): an edit is hashed again
    return h.hexdigest()[:16]

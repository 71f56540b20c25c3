"""What the bench measures: the models, the artifact kinds (ours and the plain way's) and
which plain-way artifact each of ours is compared with. Shared by every bench module so
that a kind is spelled one way everywhere (JSON keys, tables, findings)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
IMAGES_DIR = Path(__file__).resolve().parents[2] / "shared" / "images"

MODELS = {"det": "PP-OCRv5_mobile_det", "rec": "PP-OCRv5_mobile_rec"}
TARGETS = ["onnx-raw", "onnx", "tflite-fp32", "tflite-fp16"]
OURS_VS_PLAIN = {"onnx": "plain-onnx", "tflite-fp32": "plain-tflite-fp32", "tflite-fp16": "plain-tflite-fp16"}
# every artifact timed, in the order tables list them (ours next to its plain counterpart)
ARTIFACT_KINDS = ["onnx-raw", "onnx", "plain-onnx", "tflite-fp32", "plain-tflite-fp32", "tflite-fp16",
                  "plain-tflite-fp16"]
# ours/plain above this is reported as slower (latency), below its inverse (throughput)
RATIO_TARGET = 1.05


def stage_of(kind: str) -> str:
    """The runner stage an artifact kind opens as: plain artifacts are the same formats."""
    return kind.removeprefix("plain-")


def engine_of(kind: str) -> str:
    return "TFLite (LiteRT)" if "tflite" in kind else "ONNX Runtime"


def log(msg: str, prefix: str = "bench") -> None:
    """Progress to stderr: stdout carries only the markdown report."""
    print(f"[{prefix} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

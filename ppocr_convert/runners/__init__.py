"""Runners: one NCHW-in / ONNX-layout-out interface over Paddle, ONNX Runtime and TFLite.

Engines are imported lazily so that, e.g., using ORT does not pay for importing paddle.
"""
from __future__ import annotations

from pathlib import Path

from .base import Runner, TensorSpec

__all__ = ["Runner", "TensorSpec", "open_runner"]


def open_runner(path: Path | str, stage: str, threads: int | None = None) -> Runner:
    """Open a model by its file type: a directory is a Paddle inference model,
    `.onnx` goes to ONNX Runtime, `.tflite` to the LiteRT interpreter."""
    path = Path(path)
    if path.is_dir():
        from .paddle_inference import PaddleRunner

        return PaddleRunner(path, stage=stage, threads=threads)
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        from .onnx_runtime import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, stage=stage, threads=threads)
    if suffix == ".tflite":
        from .tflite import TFLiteRunner

        return TFLiteRunner(path, stage=stage, threads=threads)
    if suffix in (".json", ".pdmodel"):  # pointed at the model file rather than its directory
        from .paddle_inference import PaddleRunner

        return PaddleRunner(path.parent, stage=stage, threads=threads)
    raise ValueError(f"don't know how to run {path} (expected a Paddle dir, .onnx or .tflite)")

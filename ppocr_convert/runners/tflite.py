"""TFLite runner. Models come from onnx2tf, which makes them NHWC: this runner hides that,
so callers keep speaking NCHW like every other stage.

Layout rules (onnx2tf conventions):
  * the single 4-D input is NHWC; we transpose NCHW -> NHWC on the way in;
  * 4-D outputs are NHWC and go back to NCHW; other ranks (rec's [N, T, C], cls's [N, 2])
    are already in ONNX layout and are returned untouched.
Integer-quantized inputs/outputs (full-int8 exports) are (de)quantized with the tensor's
scale/zero point, so callers can always send and receive float32.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import Runner, TensorSpec


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # older stacks only ship the TF copy of the interpreter
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def _nhwc_to_nchw_shape(shape) -> tuple:
    n, h, w, c = shape
    return (n, c, h, w)


class TFLiteRunner(Runner):
    def __init__(self, path: Path | str, stage: str = "tflite-fp32", threads: int | None = None):
        self.path = Path(path)
        self.stage = stage
        from ..quiet import native_stderr_silenced
        with native_stderr_silenced():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
            self._interp = _interpreter_class()(model_path=str(self.path), num_threads=threads)
            self._interp.allocate_tensors()
        inputs = self._interp.get_input_details()
        if len(inputs) != 1:
            raise ValueError(f"{self.path}: expected 1 input, model has {len(inputs)}")
        self._in = inputs[0]
        if len(self._in["shape"]) != 4:
            raise ValueError(f"{self.path}: expected a 4-D NHWC input, got shape {self._in['shape']}")
        # shape_signature keeps -1 for dims that were dynamic at conversion time; `shape`
        # only shows the current allocation (1 for those dims).
        sig = self._in.get("shape_signature")
        self._signature = tuple(int(d) for d in (sig if sig is not None and len(sig) else self._in["shape"]))

    @property
    def input_spec(self) -> TensorSpec:
        nchw = _nhwc_to_nchw_shape(self._signature)
        shape = tuple(d if d > 0 else None for d in nchw)
        return TensorSpec(self._in["name"], shape, np.dtype(self._in["dtype"]).name)

    @property
    def output_names(self) -> list[str]:
        return [d["name"] for d in self._interp.get_output_details()]

    def _ensure_input_shape(self, nhwc: tuple) -> None:
        current = tuple(int(d) for d in self._interp.get_input_details()[0]["shape"])
        if current == nhwc:
            return
        for want, sig in zip(nhwc, self._signature):
            if sig > 0 and want != sig:
                raise ValueError(
                    f"{self.path.name} is static NHWC {self._signature}; got input NHWC {nhwc} "
                    f"(NCHW {_nhwc_to_nchw_shape(nhwc)}). Feed exactly runner.static_shape."
                )
        self._interp.resize_tensor_input(self._in["index"], list(nhwc), strict=True)
        self._interp.allocate_tensors()

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        if x.ndim != 4:
            raise ValueError(f"expected NCHW input, got shape {x.shape}")
        nhwc = np.ascontiguousarray(np.transpose(x.astype(np.float32, copy=False), (0, 2, 3, 1)))
        self._ensure_input_shape(tuple(nhwc.shape))
        detail = self._interp.get_input_details()[0]
        self._interp.set_tensor(detail["index"], _quantize(nhwc, detail))
        self._interp.invoke()
        outputs = []
        for detail in self._interp.get_output_details():
            y = _dequantize(self._interp.get_tensor(detail["index"]), detail)
            outputs.append(np.transpose(y, (0, 3, 1, 2)) if y.ndim == 4 else y)
        return outputs

    def __repr__(self) -> str:
        return f"TFLiteRunner(stage={self.stage!r}, path={str(self.path)!r})"


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return x.astype(dtype, copy=False)
    scale, zero = detail["quantization"]
    if not scale:
        return x.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if y.dtype.kind == "f":
        return y.astype(np.float32, copy=False)
    scale, zero = detail["quantization"]
    if not scale:
        return y.astype(np.float32)
    return (y.astype(np.float32) - zero) * scale

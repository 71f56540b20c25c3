"""HARD_SWISH(x) rewritten as MUL(MUL(x, ADD(x, 3) with a fused RELU6), 1/6) before int8
quantization: x * relu6(x + 3) / 6, its definition, in three ops.

Why: the XNNPACK delegate (LiteRT 2.3) runs HARD_SWISH in float only. An int8 HARD_SWISH
falls back to TFLite's built-in kernel, which on PP-OCRv5 det's full-resolution feature
maps made the int8 model slower than fp32 (24 of them, and a delegate partition boundary
around each). XNNPACK runs int8 ADD with a fused RELU6 and int8 MUL, so the rewritten
model stays fully integer and stays inside XNNPACK. In float the three ops compute
hard-swish to within float rounding (1 ulp; the kernel divides by 6, this multiplies by
1/6).

Only the int8 stage's copy of the model is rewritten: fp32/fp16 artifacts keep HARD_SWISH,
which the GPU delegate runs.
"""
from __future__ import annotations

import numpy as np

from .tflite_edit import FloatGraphEditor, replace_each


def without_hard_swish(model: bytes) -> tuple[bytes, int]:
    """(`model` with every float HARD_SWISH rewritten, how many were)."""
    return replace_each(model, _hard_swish, _as_add_mul)


def _hard_swish(edit: FloatGraphEditor, o) -> tuple[int, int] | None:
    """(x, out) when `o` is a float HARD_SWISH."""
    ins, outs = [int(i) for i in o.inputs], [int(i) for i in o.outputs]
    if edit.builtin(o) != edit.schema.BuiltinOperator.HARD_SWISH or not all(map(edit.is_float, ins + outs)):
        return None
    return ins[0], outs[0]


def _as_add_mul(edit: FloatGraphEditor, o, found: tuple[int, int]) -> list:
    x, out = found
    base = edit.name(out)
    three = edit.add_tensor(f"{base}/three", values=np.array([3.0], np.float32))
    sixth = edit.add_tensor(f"{base}/one_sixth", values=np.array([1.0 / 6.0], np.float32))
    gate = edit.add_tensor(f"{base}/relu6_x_plus_3", like=x)
    scaled = edit.add_tensor(f"{base}/x_times_gate", like=out)
    return [edit.add(x, three, gate, edit.schema.ActivationFunctionType.RELU6),
            edit.mul(x, gate, scaled),
            edit.mul(scaled, sixth, out)]

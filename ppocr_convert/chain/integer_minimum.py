"""MINIMUM(x, c), c constant, rewritten as -MAXIMUM(-x, -c) before int8 quantization:
MUL(MAXIMUM(MUL(x, -1), -c), -1).

Why: onnx2tf lowers the hard-sigmoid's Clip(0, 1) (PP-LCNet's squeeze-excite gates, after
`hardsigmoid_decompose`) to MINIMUM then RELU, and ai-edge-quantizer 0.10.0 has no int8 or
int16 policy for MINIMUM, while it has one for MAXIMUM and MUL. Each MINIMUM stayed float,
wrapped in a DEQUANTIZE/QUANTIZE pair: PP-OCRv5 det kept 10, rec 2, so no file was fully
integer, which NPU delegates need. Negation is exact in floating point, so the rewritten
float model computes bit for bit what the original did; only the int8 model changes (two
requantizations per gate, on 1x1xC tensors).

Only the int8 stage's copy of the model is rewritten: the fp32/fp16 artifacts keep
MINIMUM, which the GPU delegate runs.
"""
from __future__ import annotations

import numpy as np

from .tflite_edit import FloatGraphEditor, replace_each


def without_minimum(model: bytes) -> tuple[bytes, int]:
    """(`model` with every float MINIMUM of an activation and a constant rewritten, how
    many were). MINIMUMs of two activations, or of non-float tensors, are left alone."""
    return replace_each(model, minimum_of_constant, _as_negated_maximum)


def minimum_of_constant(edit: FloatGraphEditor, o) -> tuple[int, np.ndarray, int] | None:
    """(x, c, out) when `o` is a float MINIMUM(x, c) with c constant."""
    ins, outs = [int(i) for i in o.inputs], [int(i) for i in o.outputs]
    consts = [edit.constant(i) for i in ins] if len(ins) == 2 else []
    if (edit.builtin(o) != edit.schema.BuiltinOperator.MINIMUM or len(ins) != 2
            or sum(c is not None for c in consts) != 1 or not all(map(edit.is_float, ins + outs[:1]))):
        return None
    k = 0 if consts[0] is None else 1                      # the activation input
    return ins[k], np.asarray(consts[1 - k], np.float32), outs[0]


def _as_negated_maximum(edit: FloatGraphEditor, o, found: tuple[int, np.ndarray, int]) -> list:
    schema = edit.schema
    x, c, out = found
    base = edit.name(out)
    minus_one = edit.add_tensor(f"{base}/minus_one", values=np.array([-1.0], np.float32))
    neg_c = edit.add_tensor(f"{base}/neg_bound", values=-np.asarray(c, np.float32))
    neg_x = edit.add_tensor(f"{base}/neg_x", like=x)
    neg_min = edit.add_tensor(f"{base}/neg_min", like=out)
    return [edit.mul(x, minus_one, neg_x),
            edit.add_op(schema.BuiltinOperator.MAXIMUM, [neg_x, neg_c], [neg_min],
                        schema.BuiltinOptions.MaximumMinimumOptions, schema.MaximumMinimumOptionsT()),
            edit.mul(neg_min, minus_one, out)]

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

from .tflite_edit import FloatGraphEditor


def without_minimum(model: bytes) -> tuple[bytes, int]:
    """(`model` with every float MINIMUM of an activation and a constant rewritten, how
    many were). MINIMUMs of two activations, or of non-float tensors, are left alone."""
    edit = FloatGraphEditor(model)
    schema = edit.schema
    new_ops, done = [], 0
    for o in edit.graph.operators:
        ins, outs = [int(i) for i in o.inputs], [int(i) for i in o.outputs]
        consts = [edit.constant(i) for i in ins] if len(ins) == 2 else []
        if (edit.builtin(o) != schema.BuiltinOperator.MINIMUM or len(ins) != 2
                or sum(c is not None for c in consts) != 1 or not all(map(edit.is_float, ins + outs[:1]))):
            new_ops.append(o)
            continue
        k = 0 if consts[0] is None else 1                      # the activation input
        x, c, out = ins[k], consts[1 - k], outs[0]
        base = edit.name(out)
        minus_one = edit.add_tensor(f"{base}/minus_one", values=np.array([-1.0], np.float32))
        neg_c = edit.add_tensor(f"{base}/neg_bound", values=-np.asarray(c, np.float32))
        neg_x = edit.add_tensor(f"{base}/neg_x", like=x)
        neg_min = edit.add_tensor(f"{base}/neg_min", like=out)
        new_ops += [edit.mul(x, minus_one, neg_x),
                    edit.add_op(schema.BuiltinOperator.MAXIMUM, [neg_x, neg_c], [neg_min],
                                schema.BuiltinOptions.MaximumMinimumOptions, schema.MaximumMinimumOptionsT()),
                    edit.mul(neg_min, minus_one, out)]
        done += 1
    if not done:
        return model, 0
    return edit.result(new_ops), done

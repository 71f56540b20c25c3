"""RELU(MINIMUM(x, c)), c a positive constant scalar, i.e. clip(x, 0, c), rewritten before
int8 quantization as MUL(MUL(x, 6/c) with a fused RELU6, c/6).

Why: onnx2tf lowers the hard-sigmoid's Clip(0, 1) (PP-LCNet's squeeze-excite gates, after
`hardsigmoid_decompose`) to MINIMUM then RELU. ai-edge-quantizer has no int8 policy for
MINIMUM (integer_minimum.py turns it into MAXIMUM and MULs), and LiteRT 2.3's XNNPACK has no
int8 MAXIMUM or RELU, so every gate leaves the delegate twice: the classifier's 9 gates kept
its int8 graph in 20 XNNPACK partitions. XNNPACK runs int8 MUL with a fused RELU6, so the
rewritten gate stays inside it. In float the two ops compute the clip to within float
rounding (x * 6/c, then * c/6).

Runs before integer_minimum.py (it needs the MINIMUM), on the int8 stage's copy of the model
only: fp32/fp16 artifacts keep MINIMUM and RELU, which the GPU delegate runs.
"""
from __future__ import annotations

import numpy as np

from .integer_minimum import minimum_of_constant
from .tflite_edit import FloatGraphEditor


def without_clip(model: bytes) -> tuple[bytes, int]:
    """(`model` with every float RELU(MINIMUM(x, c)) whose MINIMUM feeds only that RELU
    rewritten, how many were). Other MINIMUMs and RELUs are left alone."""
    edit = FloatGraphEditor(model)
    schema = edit.schema
    ops = list(edit.graph.operators)
    readers, graph_outputs = edit.readers(), edit.graph_outputs()
    bound_of = {}   # MINIMUM's output -> (x, c): the clips' first halves
    for o in ops:
        found = _minimum_of_positive_scalar(edit, o)
        if (found is not None and len(readers.get(int(o.outputs[0]), [])) == 1
                and int(o.outputs[0]) not in graph_outputs):
            bound_of[int(o.outputs[0])] = found
    clips = {}      # RELU op id -> (x, c, its MINIMUM's output)
    for o in ops:
        if (edit.builtin(o) == schema.BuiltinOperator.RELU and len(o.inputs) == 1
                and int(o.inputs[0]) in bound_of and edit.is_float(int(o.outputs[0]))):
            clips[id(o)] = (*bound_of[int(o.inputs[0])], int(o.inputs[0]))
    if not clips:
        return model, 0
    dropped = {m for _, _, m in clips.values()}
    new_ops = []
    for o in ops:
        if edit.builtin(o) == schema.BuiltinOperator.MINIMUM and int(o.outputs[0]) in dropped:
            continue                                   # folded into the rewrite of its RELU
        if id(o) not in clips:
            new_ops.append(o)
            continue
        x, c, _ = clips[id(o)]
        out = int(o.outputs[0])
        base = edit.name(out)
        up = edit.add_tensor(f"{base}/clip_scale_up", values=np.array([6.0 / c], np.float32))
        down = edit.add_tensor(f"{base}/clip_scale_down", values=np.array([c / 6.0], np.float32))
        six_units = edit.add_tensor(f"{base}/relu6_scaled", like=out)
        new_ops += [edit.mul(x, up, six_units, schema.ActivationFunctionType.RELU6),
                    edit.mul(six_units, down, out)]
    return edit.result(new_ops), len(clips)


def _minimum_of_positive_scalar(edit: FloatGraphEditor, o) -> tuple[int, float] | None:
    """(x, c) when `o` is a float MINIMUM(x, c) with c one positive constant value."""
    found = minimum_of_constant(edit, o)
    if found is None or found[1].size != 1 or not float(found[1].ravel()[0]) > 0:
        return None
    return found[0], float(found[1].ravel()[0])

"""Reshape that only drops size-1 axes -> Squeeze of those axes.

Why: onnx2tf keeps 4-D tensors in NHWC. An ONNX Reshape is defined on the NCHW
element order, so onnx2tf has to TRANSPOSE the tensor back to NCHW before it and
usually TRANSPOSE again after; a Squeeze of a size-1 axis needs no reordering and
onnx2tf maps it to the matching NHWC axis. Measured on PP-OCRv5 rec: the neck's
flatten [1, 120, 1, 40] -> [1, 120, 40] followed by a Transpose to [1, 40, 120] left
2 TRANSPOSE ops in the TFLite model; written as Squeeze(axis 2) it leaves none.

The rewrite is exact (same elements, same order). It needs the input shape to be
static (run after pin_shapes) so that the dropped axes are known to be size 1.
Below opset 13 Squeeze takes its axes as an attribute, which is what is written there
(PP-OCRv6 rec ships as opset 11; its neck flatten is the same one as v5's).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ._util import NamePool, attr, constant_value, inferred_shapes, opset_version
from .base import GraphPass, PassResult


def reshape_target(in_shape: list[int], spec: list[int], allowzero: bool) -> list[int] | None:
    """The output shape ONNX Reshape gives `in_shape` for `spec` (0 copies, -1 infers)."""
    out = [in_shape[i] if (d == 0 and not allowzero and i < len(in_shape)) else d for i, d in enumerate(spec)]
    total = int(np.prod(in_shape))
    if out.count(-1) > 1:
        return None
    if -1 in out:
        known = int(np.prod([d for d in out if d != -1]))
        if known == 0 or total % known:
            return None
        out[out.index(-1)] = total // known
    return out if int(np.prod(out)) == total else None


def dropped_unit_axes(in_shape: list[int], out_shape: list[int]) -> list[int] | None:
    """Axes of in_shape whose removal gives out_shape, all of size 1; None otherwise."""
    if len(out_shape) >= len(in_shape):
        return None
    # Greedy is enough: when d == out_shape[j] == 1, keeping this 1 or a later one is the same.
    axes, j = [], 0
    for i, d in enumerate(in_shape):
        if j < len(out_shape) and d == out_shape[j]:
            j += 1
        elif d == 1:
            axes.append(i)
        else:
            return None
    return axes if j == len(out_shape) else None


class ReshapeToSqueeze(GraphPass):
    name = "reshape_to_squeeze"
    description = "Reshape that only drops size-1 axes -> Squeeze (onnx2tf then needs no NCHW round trip)"

    def apply(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        reshapes = [n for n in graph.node if n.op_type == "Reshape" and n.domain in ("", "ai.onnx")]
        opset = opset_version(model)
        if not reshapes or opset < 5:  # Reshape-1 took the shape as an attribute
            return PassResult(model, False, [])
        shapes = inferred_shapes(model)
        pool = NamePool(graph)
        changes = []
        for node in reshapes:
            in_shape = shapes.get(node.input[0])
            spec = constant_value(graph, node.input[1])
            if in_shape is None or spec is None or not all(isinstance(d, int) for d in in_shape):
                continue
            out_shape = reshape_target(in_shape, [int(d) for d in spec.reshape(-1)], bool(attr(node, "allowzero", 0)))
            axes = None if out_shape is None else dropped_unit_axes(in_shape, out_shape)
            if not axes:
                continue
            name = pool.new(f"{node.name or 'Reshape'}/Squeeze")
            if opset >= 13:  # Squeeze-13 takes axes as an input, earlier ones as an attribute
                axes_name = pool.new(f"{node.name or 'Reshape'}/squeeze_axes")
                graph.initializer.append(numpy_helper.from_array(np.array(axes, dtype=np.int64), axes_name))
                squeeze = helper.make_node("Squeeze", [node.input[0], axes_name], list(node.output), name=name)
            else:
                squeeze = helper.make_node("Squeeze", [node.input[0]], list(node.output), name=name, axes=axes)
            changes.append({"node": node.name, "action": "Reshape -> Squeeze", "shape": [in_shape, out_shape],
                            "axes": axes})
            node.CopyFrom(squeeze)
        return PassResult(model, bool(changes), changes)

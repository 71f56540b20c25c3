"""Pin graph input shapes and propagate them so no symbolic dimension remains.

Why: TFLite/LiteRT and GPU delegates want fully static tensors, and onnx2tf
converts far more reliably when every value_info carries a static shape.

Propagation is onnx shape inference with data propagation, which follows
Shape -> Gather/Slice -> Concat -> Reshape chains. If dims are still unknown
after that, every `Shape` node is replaced by the value it takes when the pinned
model runs in onnxruntime (a shape does not depend on the data), inference runs
again, and only then does onnxsim fold whatever constant arithmetic is left.
Whatever is still unknown is an error naming the tensors.

Why execute instead of letting onnxsim fold `Shape`: onnxsim 0.8.1 folds the shape
of a Conv with explicit `strides` and asymmetric `pads` as if the pads were
[h_begin, h_end, w_begin, w_end] (kernel [1,3], pads [0,1,0,1] on 1x40 gives
[.., 2, 39] instead of [.., 1, 40]); PP-OCRv5 rec's official original reads its
neck width that way, so the folded Reshape target disagreed with the tensor
(`Concat ... Inferred=39 Declared=40`).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ._util import dims, fmt_names, is_static, node_inputs, strip_new_metadata
from .base import GraphPass, PassResult


def _real_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def symbolic_values(model: onnx.ModelProto) -> list[str]:
    """Names of graph inputs/outputs/value_infos whose shape is not fully static."""
    g = model.graph
    return [
        vi.name
        for vi in [*_real_inputs(model), *g.output, *g.value_info]
        if vi.type.HasField("tensor_type") and not is_static(dims(vi))
    ]


def _infer(model: onnx.ModelProto) -> onnx.ModelProto:
    """Re-derive every shape from the inputs: stale symbolic dims would otherwise
    be merged back in, so output shapes and value_info are dropped first."""
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)


def _run_zeros(model: onnx.ModelProto, shapes: dict[str, list[int]], names: list[str]) -> list[np.ndarray]:
    """Values of `names` when the model runs on zeros of the pinned input shapes (enough
    for anything that depends only on shapes)."""
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    # only the nodes the asked values depend on: the rest need not run (nor work) on zeros
    producer = {o: i for i, n in enumerate(model.graph.node) for o in n.output}
    needed, todo = set(), [producer[n] for n in names if n in producer]
    while todo:
        i = todo.pop()
        if i not in needed:
            needed.add(i)
            todo.extend(producer[x] for x in node_inputs(model.graph.node[i]) if x in producer)
    del probe.graph.node[:]
    probe.graph.node.extend(n for i, n in enumerate(model.graph.node) if i in needed)
    del probe.graph.output[:]
    del probe.graph.value_info[:]
    for name in names:
        probe.graph.output.append(helper.make_empty_tensor_value_info(name))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {}
    for inp in _real_inputs(model):
        dtype = helper.tensor_dtype_to_np_dtype(inp.type.tensor_type.elem_type)
        feeds[inp.name] = np.zeros([int(d) for d in shapes.get(inp.name, dims(inp) or [])], dtype)
    return sess.run(None, feeds)


def fold_shape_nodes(model: onnx.ModelProto, shapes: dict[str, list[int]]) -> list[str]:
    """Replace every top-level `Shape` node by an int64 initializer holding the value it
    takes when the pinned model runs. Edits `model` in place; returns the replaced nodes' names."""
    shape_nodes = [n for n in model.graph.node if n.op_type == "Shape"]
    if not shape_nodes:
        return []
    values = _run_zeros(model, shapes, [n.output[0] for n in shape_nodes])
    kept = [n for n in model.graph.node if n.op_type != "Shape"]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    for n, value in zip(shape_nodes, values):
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(value, np.int64), n.output[0]))
    return sorted(n.name or n.output[0] for n in shape_nodes)


def _declare_output_ranks(model: onnx.ModelProto, shapes: dict[str, list[int]]) -> None:
    """onnxsim needs a shape field on every output; an empty one declares a scalar and
    makes onnxsim 0.8.1 fold shapes wrongly. Declare each output's executed rank instead,
    with symbolic dims (inference fills them in)."""
    missing = [o for o in model.graph.output if not o.type.tensor_type.HasField("shape")]
    if not missing:
        return
    for out, value in zip(missing, _run_zeros(model, shapes, [o.name for o in missing])):
        shape = out.type.tensor_type.shape
        for axis in range(np.ndim(value)):
            shape.dim.add().dim_param = f"{out.name}_d{axis}"


class PinShapes(GraphPass):
    name = "pin_shapes"
    description = "Set static input shapes and propagate them to every value"

    def apply(self, model: onnx.ModelProto, *, shapes: dict[str, list[int]] | None = None) -> PassResult:
        if not shapes:
            raise self.error("option 'shapes' is required, e.g. {'x': [1, 3, 640, 640]}")
        inputs = {i.name: i for i in _real_inputs(model)}
        changes = []
        for name, new in shapes.items():
            self._validate(inputs, name, new)
            old = dims(inputs[name])
            changes.append({"tensor": name, "action": "pin_input", "old": old, "new": list(new)})

        if all(c["old"] == c["new"] for c in changes) and not symbolic_values(model):
            return PassResult(model, False, [])  # already pinned and fully propagated

        old_outputs = {o.name: dims(o) for o in model.graph.output}
        for name, new in shapes.items():
            shape = inputs[name].type.tensor_type.shape
            shape.ClearField("dim")
            for d in new:
                shape.dim.add().dim_value = int(d)

        try:
            model = _infer(model)
        except onnx.shape_inference.InferenceError as e:
            raise self.error(f"shape inference failed with {shapes}: {e}") from e

        if symbolic_values(model):
            # Shape arithmetic onnx's data propagation can't follow: shapes from execution first.
            left_before = symbolic_values(model)
            folded_shapes = fold_shape_nodes(model, shapes)
            if folded_shapes:
                model = _infer(model)
                changes.append({"action": "shape_fold", "reason": f"{len(left_before)} values not static "
                                "after onnx shape inference", "shape_nodes": folded_shapes[:20],
                                "count": len(folded_shapes)})
        if symbolic_values(model):
            # Constant arithmetic data propagation can't follow (Cast, ReduceProd, ...): fold it.
            import onnxsim

            left_before = symbolic_values(model)
            # onnxsim's checker rejects type-only value_info (no shape field), which
            # inference leaves where it stops; it re-infers them anyway.
            del model.graph.value_info[:]
            _declare_output_ranks(model, shapes)
            with contextlib.redirect_stdout(io.StringIO()):  # onnxsim prints progress
                folded, _ = onnxsim.simplify(
                    model, perform_optimization=False,  # fold constants only; no fusions here
                    overwrite_input_shapes={k: list(v) for k, v in shapes.items()})
            strip_new_metadata(model, folded)
            model = _infer(folded)
            changes.append({"action": "onnxsim_fold", "reason": f"{len(left_before)} values not static "
                            "after onnx shape inference", "values": left_before[:20]})

        left = symbolic_values(model)
        if left:
            raise self.error(f"dims still symbolic/unknown after propagation: {fmt_names(left)}")

        for out in model.graph.output:
            changes.append({"tensor": out.name, "action": "output_shape",
                            "old": old_outputs.get(out.name), "new": dims(out)})
        return PassResult(model, True, changes)

    def _validate(self, inputs: dict[str, onnx.ValueInfoProto], name: str, new) -> None:
        if name not in inputs:
            raise self.error(f"input '{name}' not in graph (inputs: {', '.join(inputs) or 'none'})")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in new):
            raise self.error(f"shape for '{name}' must be positive ints, got {list(new)}")
        old = dims(inputs[name])
        if old is None:
            return  # input declares no shape at all: nothing to contradict
        if len(old) != len(new):
            raise self.error(f"shape {list(new)} for '{name}' has rank {len(new)}, input has rank {len(old)} {old}")
        for axis, (o, n) in enumerate(zip(old, new)):
            if isinstance(o, int) and o != n:
                raise self.error(f"shape {list(new)} for '{name}' contradicts fixed dim {o} at axis {axis} "
                                 f"(input is {old})")

    def ensures(self, model: onnx.ModelProto, **options) -> None:
        left = symbolic_values(model)
        if left:
            raise self.error(f"symbolic dims remain: {fmt_names(left)}")

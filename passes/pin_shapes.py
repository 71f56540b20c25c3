"""Pin graph input shapes and propagate them so no symbolic dimension remains.

Why: TFLite/LiteRT and GPU delegates want fully static tensors, and onnx2tf
converts far more reliably when every value_info carries a static shape.

Propagation is onnx shape inference with data propagation, which follows
Shape -> Gather/Slice -> Concat -> Reshape chains. If dims are still unknown
after that, onnxsim (constant folding with `overwrite_input_shapes`) folds the
shape computations away and inference runs again. Whatever is left unknown
then is an error naming the tensors.
"""

from __future__ import annotations

import contextlib
import io

import onnx

from ._util import dims, fmt_names, is_static, strip_new_metadata
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
            # Shape arithmetic onnx's data propagation can't follow: fold it away.
            import onnxsim

            left_before = symbolic_values(model)
            # onnxsim's checker rejects type-only value_info (no shape field), which
            # inference leaves where it stops; it re-infers them anyway.
            del model.graph.value_info[:]
            for out in model.graph.output:
                if not out.type.tensor_type.HasField("shape"):
                    out.type.tensor_type.shape.SetInParent()
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
                raise self.error(f"shape {list(new)} for '{name}' contradicts fixed dim {o} at axis {axis} (input is {old})")

    def ensures(self, model: onnx.ModelProto, **options) -> None:
        left = symbolic_values(model)
        if left:
            raise self.error(f"symbolic dims remain: {fmt_names(left)}")

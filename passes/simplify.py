"""Constant folding and graph simplification with onnxsim.

Why: paddle2onnx emits many Constant/Shape/Reshape chains and BatchNorms that
fold away; a smaller, constant-folded graph converts to TFLite more reliably.
With check=True onnxsim runs the original and simplified models on random
input in onnxruntime and we fail if they disagree.
"""

from __future__ import annotations

import contextlib
import io

import onnx

from ._util import dims, is_static, op_histogram, strip_new_metadata
from .base import GraphPass, PassResult


class Simplify(GraphPass):
    name = "simplify"
    description = "onnxsim constant folding / simplification (checked with onnxruntime)"

    def apply(self, model: onnx.ModelProto, *, check: bool = True) -> PassResult:
        import onnxsim  # heavy import; only when the pass runs

        before = op_histogram(model)
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log):  # onnxsim prints progress; keep reports clean
                simplified, ok = onnxsim.simplify(model, check_n=1 if check else 0)
        except Exception as e:
            dynamic = [i.name for i in model.graph.input if not is_static(dims(i))]
            hint = f" (dynamic inputs {dynamic}: run pin_shapes first, or check=False)" if check and dynamic else ""
            raise self.error(f"onnxsim failed: {type(e).__name__}: {e}{hint}") from e
        if not ok:
            raise self.error("onnxsim's onnxruntime check failed: simplified outputs differ from the original"
                             f" ({log.getvalue().strip()[-200:]})")
        strip_new_metadata(model, simplified)

        if simplified.graph.SerializeToString() == model.graph.SerializeToString():
            return PassResult(model, False, [])
        after = op_histogram(simplified)
        delta = {op: after[op] - before[op] for op in sorted(before | after) if after[op] != before[op]}
        change = {
            "action": "onnxsim.simplify",
            "nodes_before": sum(before.values()),
            "nodes_after": sum(after.values()),
            "op_delta": delta,
            "checked": check,
        }
        return PassResult(simplified, True, [change])

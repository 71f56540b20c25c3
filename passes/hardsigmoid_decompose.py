"""HardSigmoid(x; alpha, beta) -> Clip(Add(Mul(x, alpha), beta), 0, 1).

Why: LiteRT and the ONNX GPU runtimes have no HardSigmoid kernel, while Mul, Add
and Clip are supported everywhere. The decomposition is the operator's own
definition, max(0, min(1, alpha * x + beta)), so it is numerically the same.
"""

from __future__ import annotations

from typing import Callable

import onnx
from onnx import helper

from ._util import NamePool, attr, opset_version, scalar_initializer, value_infos
from .base import GraphPass, PassResult

# ONNX defaults for HardSigmoid when the attributes are absent.
DEFAULT_ALPHA = 0.2
DEFAULT_BETA = 0.5


class _Emitter:
    """Adds the new nodes' scalar constants (shared by value and dtype) and names."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.pool = NamePool(model.graph)
        self.clip_takes_inputs = opset_version(model) >= 11  # Clip-11 moved min/max to inputs
        self._consts: dict[tuple[int, float], str] = {}
        self._types: dict[str, int] | None = None

    def elem_type(self, name: str) -> int:
        # One type-inference run for the whole pass, not one per node.
        if self._types is None:
            inferred = onnx.shape_inference.infer_shapes(self.model)
            self._types = {vi.name: vi.type.tensor_type.elem_type for vi in value_infos(inferred).values()}
            self._types.update({i.name: i.data_type for i in self.model.graph.initializer})
        if not self._types.get(name):
            raise ValueError(f"cannot determine the element type of '{name}'")
        return self._types[name]

    def const(self, value: float, elem: int, hint: str) -> str:
        key = (elem, float(value))
        if key not in self._consts:
            name = self.pool.new(hint)
            self.model.graph.initializer.append(scalar_initializer(name, value, elem))
            self._consts[key] = name
        return self._consts[key]

    def hardsigmoid(self, x: str, out: str, alpha: float, beta: float, base: str) -> list[onnx.NodeProto]:
        """Nodes computing out = clip(x * alpha + beta, 0, 1)."""
        elem = self.elem_type(x)
        scaled, shifted = self.pool.new(f"{base}/scaled"), self.pool.new(f"{base}/shifted")
        nodes = [
            helper.make_node("Mul", [x, self.const(alpha, elem, "hardsigmoid_alpha")], [scaled],
                             name=self.pool.new(f"{base}/Mul")),
            helper.make_node("Add", [scaled, self.const(beta, elem, "hardsigmoid_beta")], [shifted],
                             name=self.pool.new(f"{base}/Add")),
        ]
        if self.clip_takes_inputs:
            lo, hi = self.const(0.0, elem, "clip_zero"), self.const(1.0, elem, "clip_one")
            nodes.append(helper.make_node("Clip", [shifted, lo, hi], [out], name=self.pool.new(f"{base}/Clip")))
        else:
            nodes.append(helper.make_node("Clip", [shifted], [out], name=self.pool.new(f"{base}/Clip"),
                                          min=0.0, max=1.0))
        return nodes


def replace_nodes(
    model: onnx.ModelProto,
    op_type: str,
    build: Callable[[onnx.NodeProto, _Emitter], tuple[list[onnx.NodeProto], dict]],
) -> PassResult:
    """Replace every default-domain `op_type` node of the main graph (not
    subgraphs) by the nodes `build` returns, in place, keeping graph order.
    Shared by the decomposition passes."""
    graph = model.graph
    if not any(n.op_type == op_type and n.domain in ("", "ai.onnx") for n in graph.node):
        return PassResult(model, False, [])
    emit = _Emitter(model)
    new_nodes, changes = [], []
    for node in graph.node:
        if node.op_type == op_type and node.domain in ("", "ai.onnx"):
            nodes, record = build(node, emit)
            new_nodes.extend(nodes)
            changes.append(record)
        else:
            new_nodes.append(onnx.NodeProto.FromString(node.SerializeToString()))
    del graph.node[:]
    graph.node.extend(new_nodes)
    return PassResult(model, True, changes)


class HardSigmoidDecompose(GraphPass):
    name = "hardsigmoid_decompose"
    description = "HardSigmoid -> Mul, Add, Clip (LiteRT/ONNX GPU runtimes lack HardSigmoid)"

    def apply(self, model: onnx.ModelProto) -> PassResult:
        def build(node, emit):
            alpha = float(attr(node, "alpha", DEFAULT_ALPHA))
            beta = float(attr(node, "beta", DEFAULT_BETA))
            base = node.name or emit.pool.new("HardSigmoid")
            nodes = emit.hardsigmoid(node.input[0], node.output[0], alpha, beta, base)
            return nodes, {"node": base, "action": "HardSigmoid -> Mul, Add, Clip",
                           "alpha": alpha, "beta": beta}

        return replace_nodes(model, "HardSigmoid", build)

    def ensures(self, model: onnx.ModelProto) -> None:
        left = [n.name for n in model.graph.node if n.op_type == "HardSigmoid"]
        if left:
            raise self.error(f"HardSigmoid nodes remain: {left}")

"""HardSwish(x) -> Mul(x, Clip(Add(Mul(x, 1/6), 0.5), 0, 1)).

Optional (not in a default pipeline): for runtimes without a HardSwish kernel.
HardSwish is defined as x * HardSigmoid(x; alpha=1/6, beta=0.5), so this reuses
the HardSigmoid decomposition and multiplies by x.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .base import GraphPass, PassResult
from .hardsigmoid_decompose import replace_nodes

ALPHA = float(np.float32(1.0 / 6.0))  # the float32 value the ONNX definition uses
BETA = 0.5


class HardSwishDecompose(GraphPass):
    name = "hardswish_decompose"
    description = "HardSwish -> x * Clip(x*(1/6) + 0.5, 0, 1) (Mul, Add, Clip, Mul)"

    def apply(self, model: onnx.ModelProto) -> PassResult:
        def build(node, emit):
            x, out = node.input[0], node.output[0]
            base = node.name or emit.pool.new("HardSwish")
            gate = emit.pool.new(f"{base}/gate")
            nodes = emit.hardsigmoid(x, gate, ALPHA, BETA, base)
            nodes.append(helper.make_node("Mul", [x, gate], [out], name=emit.pool.new(f"{base}/Mul_x")))
            return nodes, {"node": base, "action": "HardSwish -> Mul, Add, Clip, Mul",
                           "alpha": ALPHA, "beta": BETA}

        return replace_nodes(model, "HardSwish", build)

    def ensures(self, model: onnx.ModelProto) -> None:
        left = [n.name for n in model.graph.node if n.op_type == "HardSwish"]
        if left:
            raise self.error(f"HardSwish nodes remain: {left}")

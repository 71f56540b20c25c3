"""Concat inputs of rank 0 next to rank-1 inputs → Unsqueeze them to rank 1.

Why: paddle2onnx 2.1.0 (legacy `.pdmodel` via Paddle 3's PIR translation) builds
shape vectors as Concat([const[1], const[1], Squeeze(Slice(Shape)), ...]) where the
Squeeze yields a scalar. The ONNX spec requires equal ranks, so onnxruntime refuses
to load the model ("All inputs to Concat must have same rank"). Lifting the scalar to
a 1-element vector is what the exporter meant and changes no value.
"""

from __future__ import annotations

import onnx
from onnx import helper

from ._util import NamePool, dims, value_infos
from .base import GraphPass, PassResult


def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    ranks = {}
    for name, vi in value_infos(inferred).items():
        shape = dims(vi)
        if shape is not None:
            ranks[name] = len(shape)
    for init in model.graph.initializer:
        ranks[init.name] = len(init.dims)
    return ranks


class ConcatRankFix(GraphPass):
    name = "concat_rank_fix"
    description = "Unsqueeze scalar Concat inputs next to 1-D ones (paddle2onnx emits them; onnxruntime refuses)"

    def apply(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        concats = [n for n in graph.node if n.op_type == "Concat"]
        if not concats:
            return PassResult(model, False, [])
        ranks = _ranks(model)
        pool = NamePool(graph)
        axes = None
        new_nodes, changes = [], []
        for node in graph.node:
            if node.op_type == "Concat":
                known = [ranks.get(i) for i in node.input]
                if 0 in known and 1 in known and all(r in (0, 1) for r in known if r is not None):
                    if axes is None:  # Unsqueeze-13 takes axes as an input
                        axes = pool.new("concat_rank_fix_axes0")
                        graph.initializer.append(helper.make_tensor(axes, onnx.TensorProto.INT64, [1], [0]))
                    lifted = []
                    for i, name in enumerate(node.input):
                        if ranks.get(name) == 0:
                            out = pool.new(f"{name}/as_1d")
                            new_nodes.append(helper.make_node("Unsqueeze", [name, axes], [out],
                                                              name=pool.new(f"{node.name or 'Concat'}/Unsqueeze{i}")))
                            node.input[i] = out
                            lifted.append(name)
                    changes.append({"node": node.name, "action": "Unsqueeze scalar inputs to rank 1",
                                    "inputs": lifted})
            new_nodes.append(node)
        if not changes:
            return PassResult(model, False, [])
        del graph.node[:]
        graph.node.extend(new_nodes)
        return PassResult(model, True, changes)

    def requires(self, model: onnx.ModelProto) -> None:
        from ._util import opset_version
        if opset_version(model) < 13:
            raise self.error("needs opset >= 13 (Unsqueeze with axes as an input)")

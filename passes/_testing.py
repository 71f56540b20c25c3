"""Helpers for the pass tests: tiny hand-built models and onnxruntime runs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def make_model(nodes, inputs, outputs, initializers=(), opset: int = 17, value_info=()):
    """inputs/outputs: (name, shape[, elem_type]); initializers: {name: ndarray}."""

    def vi(spec):
        name, shape, *rest = spec
        return helper.make_tensor_value_info(name, rest[0] if rest else F, shape)

    if isinstance(initializers, dict):
        initializers = [numpy_helper.from_array(v, k) for k, v in initializers.items()]
    graph = helper.make_graph(
        list(nodes), "test", [vi(i) for i in inputs], [vi(o) for o in outputs],
        initializer=list(initializers), value_info=[vi(v) for v in value_info],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def op_types(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


def random_feeds(model: onnx.ModelProto, shapes: dict[str, list[int]] | None = None, seed: int = 0):
    rng = np.random.default_rng(seed)
    inits = {i.name for i in model.graph.initializer}
    feeds = {}
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        shape = (shapes or {}).get(inp.name) or [d.dim_value for d in inp.type.tensor_type.shape.dim]
        dtype = helper.tensor_dtype_to_np_dtype(inp.type.tensor_type.elem_type)
        # Spread over [-4, 4] so piecewise ops (Clip, HardSigmoid) hit every branch.
        feeds[inp.name] = (rng.standard_normal(shape) * 2).astype(dtype)
    return feeds


def run(model: onnx.ModelProto, feeds) -> list[np.ndarray]:
    opts = ort.SessionOptions()
    # Compare the graph as written, not ORT's fused rewrite of it.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def assert_same_outputs(a: onnx.ModelProto, b: onnx.ModelProto, feeds, rtol=1e-6, atol=1e-6):
    for x, y in zip(run(a, feeds), run(b, feeds), strict=True):
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


def check(model: onnx.ModelProto) -> None:
    onnx.checker.check_model(model, full_check=True)


def assert_input_not_mutated(graph_pass, model: onnx.ModelProto, **options) -> None:
    """GraphPass.run works on a copy: the caller's model must come back byte-identical."""
    before = model.SerializeToString()
    graph_pass.run(model, **options)
    assert model.SerializeToString() == before

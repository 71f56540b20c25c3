import json

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from ppocr_convert.passes._testing import assert_same_outputs, check, make_model, op_types, random_feeds, run
from ppocr_convert.passes.hardsigmoid_decompose import HardSigmoidDecompose

H = helper.make_node


def hardsigmoid_model(opset=17, elem=TensorProto.FLOAT, **attrs):
    nodes = [H("HardSigmoid", ["x"], ["h"], name="hs", **attrs), H("Relu", ["h"], ["y"], name="relu")]
    return make_model(nodes, [("x", [2, 3, 4, 5], elem)], [("y", [2, 3, 4, 5], elem)], opset=opset)


def test_decomposes_into_mul_add_clip():
    model = hardsigmoid_model(alpha=0.3, beta=0.4)
    result = HardSigmoidDecompose().run(model)

    assert result.modified
    assert op_types(result.model) == ["Mul", "Add", "Clip", "Relu"]
    check(result.model)
    assert_same_outputs(model, result.model, random_feeds(model))
    (change,) = result.changes
    assert change["node"] == "hs"
    assert change["alpha"] == pytest.approx(0.3) and change["beta"] == pytest.approx(0.4)
    json.dumps(result.changes)


def test_default_alpha_beta_when_attributes_absent():
    model = hardsigmoid_model()
    result = HardSigmoidDecompose().run(model)
    assert result.changes[0]["alpha"] == pytest.approx(0.2)
    assert result.changes[0]["beta"] == pytest.approx(0.5)
    assert_same_outputs(model, result.model, random_feeds(model))


def test_constants_take_the_input_dtype():
    model = hardsigmoid_model(elem=TensorProto.DOUBLE, alpha=0.25)
    result = HardSigmoidDecompose().run(model)
    check(result.model)
    assert {t.data_type for t in result.model.graph.initializer} == {TensorProto.DOUBLE}
    assert all(numpy_helper.to_array(t).shape == () for t in result.model.graph.initializer)
    # onnxruntime has no double HardSigmoid kernel: compare with the definition instead.
    feeds = random_feeds(model)
    (y,) = run(result.model, feeds)
    np.testing.assert_allclose(y, np.clip(0.25 * feeds["x"] + 0.5, 0, 1), rtol=1e-15, atol=0)


def test_opset_10_uses_clip_attributes():
    model = hardsigmoid_model(opset=10, alpha=0.3)
    result = HardSigmoidDecompose().run(model)
    clip = result.model.graph.node[2]
    assert clip.op_type == "Clip" and len(clip.input) == 1
    check(result.model)
    assert_same_outputs(model, result.model, random_feeds(model))


def test_nodes_with_equal_parameters_share_constants():
    nodes = [H("HardSigmoid", ["x"], ["a"]), H("HardSigmoid", ["a"], ["y"])]
    model = make_model(nodes, [("x", [8])], [("y", [8])])
    result = HardSigmoidDecompose().run(model)
    assert op_types(result.model) == ["Mul", "Add", "Clip"] * 2
    assert len(result.model.graph.initializer) == 4  # alpha, beta, 0, 1
    check(result.model)
    assert_same_outputs(model, result.model, random_feeds(model))


def test_no_match_leaves_graph_unchanged():
    model = make_model([H("Relu", ["x"], ["y"])], [("x", [4])], [("y", [4])])
    result = HardSigmoidDecompose().run(model)
    assert not result.modified and result.changes == []
    assert result.model.SerializeToString() == model.SerializeToString()


def test_input_model_not_mutated():
    model = hardsigmoid_model()
    before = model.SerializeToString()
    HardSigmoidDecompose().run(model)
    assert model.SerializeToString() == before

import json

import numpy as np
import pytest
from onnx import helper

from ppocr_convert.passes._testing import assert_same_outputs, check, make_model, op_types, random_feeds
from ppocr_convert.passes.reshape_to_squeeze import ReshapeToSqueeze, dropped_unit_axes, reshape_target

H = helper.make_node


def reshape_model(in_shape, spec, out_shape, opset=17):
    nodes = [H("Reshape", ["x", "shape"], ["r"], name="flatten"), H("Relu", ["r"], ["y"], name="relu")]
    return make_model(nodes, [("x", in_shape)], [("y", out_shape)],
                      {"shape": np.array(spec, dtype=np.int64)}, opset=opset)


def test_flatten_of_unit_height_becomes_squeeze():
    model = reshape_model([1, 8, 1, 5], [1, 8, -1], [1, 8, 5])
    result = ReshapeToSqueeze().run(model)
    assert result.modified
    assert op_types(result.model) == ["Squeeze", "Relu"]
    check(result.model)
    assert_same_outputs(model, result.model, random_feeds(model), rtol=0, atol=0)
    (change,) = result.changes
    assert change["axes"] == [2] and change["node"] == "flatten"
    json.dumps(result.changes)


def test_opset_11_squeeze_takes_axes_as_an_attribute():
    # PP-OCRv6 rec ships as opset 11 with the same neck flatten as v5
    model = reshape_model([1, 8, 1, 5], [1, 8, -1], [1, 8, 5], opset=11)
    result = ReshapeToSqueeze().run(model)
    assert result.modified
    assert op_types(result.model) == ["Squeeze", "Relu"]
    squeeze = result.model.graph.node[0]
    assert list(squeeze.input) == ["x"] and [list(a.ints) for a in squeeze.attribute] == [[2]]
    check(result.model)
    assert_same_outputs(model, result.model, random_feeds(model), rtol=0, atol=0)


def test_gemm_flatten_of_unit_batch_becomes_squeeze_at_opset_11():
    # v6's Linear layers: [1, N, C] -Reshape [-1, C]-> [N, C] -> Gemm
    model = reshape_model([1, 6, 4], [-1, 4], [6, 4], opset=11)
    result = ReshapeToSqueeze().run(model)
    assert result.changes[0]["axes"] == [0]
    check(result.model)
    assert_same_outputs(model, result.model, random_feeds(model), rtol=0, atol=0)


def test_opset_before_reshape_5_is_left_alone():
    model = make_model([H("Reshape", ["x"], ["r"], shape=[1, 8, 5], name="flatten"), H("Relu", ["r"], ["y"])],
                       [("x", [1, 8, 1, 5])], [("y", [1, 8, 5])], opset=4)
    result = ReshapeToSqueeze().run(model)
    assert not result.modified
    assert result.model.SerializeToString() == model.SerializeToString()


def test_zero_copies_and_several_axes():
    model = reshape_model([1, 4, 1, 1], [0, -1], [1, 4])
    result = ReshapeToSqueeze().run(model)
    assert result.changes[0]["axes"] == [2, 3]
    assert_same_outputs(model, result.model, random_feeds(model), rtol=0, atol=0)


@pytest.mark.parametrize("in_shape,spec,out_shape", [
    ([1, 8, 2, 5], [1, 8, -1], [1, 8, 10]),   # merges real axes
    ([1, 8, 5], [1, 5, 8], [1, 5, 8]),         # reorders
    ([1, 8, 5], [1, 1, 8, 5], [1, 1, 8, 5]),   # adds an axis
])
def test_real_reshapes_are_left_alone(in_shape, spec, out_shape):
    model = reshape_model(in_shape, spec, out_shape)
    result = ReshapeToSqueeze().run(model)
    assert not result.modified
    assert result.model.SerializeToString() == model.SerializeToString()


def test_dynamic_input_is_left_alone():
    model = reshape_model([1, 8, 1, "w"], [1, 8, -1], [1, 8, "w"])
    assert not ReshapeToSqueeze().run(model).modified


def test_shape_helpers():
    assert reshape_target([1, 120, 1, 40], [0, 0, -1], allowzero=False) == [1, 120, 40]
    assert reshape_target([2, 3], [4, -1], allowzero=False) is None
    assert dropped_unit_axes([1, 1, 5], [1, 5]) == [1]
    assert dropped_unit_axes([1, 5, 1], [5, 1]) == [0]
    assert dropped_unit_axes([2, 3], [3, 2]) is None

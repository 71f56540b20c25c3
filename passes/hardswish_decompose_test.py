from onnx import helper

from ppocr_convert.passes._testing import assert_same_outputs, check, make_model, op_types, random_feeds
from ppocr_convert.passes.hardswish_decompose import HardSwishDecompose

H = helper.make_node


def test_decomposes_into_x_times_hardsigmoid():
    model = make_model([H("HardSwish", ["x"], ["y"], name="hsw")], [("x", [2, 8, 6])], [("y", [2, 8, 6])], opset=14)
    result = HardSwishDecompose().run(model)

    assert result.modified
    assert op_types(result.model) == ["Mul", "Add", "Clip", "Mul"]
    check(result.model)
    assert_same_outputs(model, result.model, random_feeds(model))
    assert result.changes[0]["node"] == "hsw"
    assert abs(result.changes[0]["alpha"] - 1 / 6) < 1e-7


def test_no_match_leaves_graph_unchanged():
    model = make_model([H("HardSigmoid", ["x"], ["y"])], [("x", [4])], [("y", [4])], opset=14)
    result = HardSwishDecompose().run(model)
    assert not result.modified and result.changes == []
    assert result.model.SerializeToString() == model.SerializeToString()

import numpy as np
import onnx
from onnx import helper

from ppocr_convert.passes._testing import make_model, op_types, run as run_ort
from ppocr_convert.passes.concat_rank_fix import ConcatRankFix


def _shape_vector_model(scalar: bool):
    # Concat([1], [2], Squeeze(Slice(Shape(x))) , [4]) → Reshape target, as paddle2onnx emits it
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="Shape"),
        helper.make_node("Slice", ["shape", "s", "e"], ["w1"], name="Slice"),
        helper.make_node("Squeeze", ["w1"], ["w0"], name="Squeeze") if scalar
        else helper.make_node("Identity", ["w1"], ["w0"], name="Identity"),
        helper.make_node("Concat", ["one", "w0", "neg"], ["target"], name="Concat", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="Reshape"),
    ]
    inits = {"s": np.array([3], np.int64), "e": np.array([4], np.int64),
             "one": np.array([1], np.int64), "neg": np.array([-1], np.int64)}
    return make_model(nodes, [("x", [1, 2, 3, 4])], [("y", [1, 4, 6])], inits, opset=14)


def test_scalar_input_is_lifted_and_model_loads():
    model = _shape_vector_model(scalar=True)
    result = ConcatRankFix().run(model)
    assert result.modified
    assert op_types(result.model) == ["Shape", "Slice", "Squeeze", "Unsqueeze", "Concat", "Reshape"]
    assert result.changes[0]["inputs"] == ["w0"]
    onnx.checker.check_model(result.model, full_check=True)
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 4)).astype(np.float32)
    (y,) = run_ort(result.model, {"x": x})
    np.testing.assert_array_equal(y, x.reshape(1, 4, -1))


def test_no_match_when_ranks_agree():
    model = _shape_vector_model(scalar=False)
    result = ConcatRankFix().run(model)
    assert not result.modified
    assert result.model.SerializeToString() == model.SerializeToString()

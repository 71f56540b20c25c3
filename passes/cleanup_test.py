import json

import numpy as np
import pytest
from onnx import helper, numpy_helper

from ppocr_convert.passes._testing import assert_same_outputs, check, make_model, op_types, random_feeds
from ppocr_convert.passes.base import PassError
from ppocr_convert.passes.cleanup import Cleanup

H = helper.make_node


def messy_model():
    """Out of order, a Constant node, a dead branch, an unused initializer,
    stale value_info, and empty/duplicate node names."""
    const = H("Constant", [], ["k"], name="dup", value=numpy_helper.from_array(np.float32(3), "k"))
    nodes = [
        H("Mul", ["r", "k"], ["y"], name="dup"),  # uses r before Relu defines it
        H("Relu", ["x"], ["r"], name=""),
        H("Neg", ["x"], ["dead"], name="neg"),  # feeds nothing
        const,
    ]
    return make_model(nodes, [("x", [2, 3])], [("y", [2, 3])],
                      {"unused": np.zeros(5, np.float32)}, value_info=[("gone", [1]), ("r", [2, 3])])


def test_cleans_sorts_and_names():
    model = messy_model()
    result = Cleanup().run(model)
    g = result.model.graph

    assert result.modified
    assert op_types(result.model) == ["Relu", "Mul"]
    assert [n.name for n in g.node] == ["Relu_0", "dup"]
    assert [t.name for t in g.initializer] == ["k"]
    assert [v.name for v in g.value_info] == ["r"]
    check(result.model)
    assert_same_outputs(model, result.model, random_feeds(model), rtol=0, atol=0)
    assert {c["action"]: c["count"] for c in result.changes} == {
        "constants_to_initializers": 1, "dead_nodes_removed": 1, "initializers_removed": 1,
        "value_info_removed": 1, "nodes_renamed": 1, "nodes_reordered": 2,
    }
    json.dumps(result.changes)


def test_constant_that_is_a_graph_output_stays_a_node():
    const = H("Constant", [], ["y"], name="c", value=numpy_helper.from_array(np.ones(2, np.float32)))
    model = make_model([const], [], [("y", [2])])
    result = Cleanup().run(model)
    assert not result.modified and op_types(result.model) == ["Constant"]
    check(result.model)


def test_cycle_is_an_error_naming_the_pass():
    nodes = [H("Add", ["x", "b"], ["a"], name="A"), H("Relu", ["a"], ["b"], name="B"), H("Neg", ["a"], ["y"], name="C")]
    model = make_model(nodes, [("x", [2])], [("y", [2])])
    with pytest.raises(PassError, match=r"^cleanup: graph has a cycle"):
        Cleanup().run(model)


def test_requires_ir_version_4():
    model = make_model([H("Relu", ["x"], ["y"], name="r")], [("x", [2])], [("y", [2])])
    model.ir_version = 3
    with pytest.raises(PassError, match=r"^cleanup: needs IR version >= 4"):
        Cleanup().run(model)


def test_no_match_leaves_graph_unchanged():
    nodes = [H("Relu", ["x"], ["r"], name="relu"), H("Mul", ["r", "k"], ["y"], name="mul")]
    model = make_model(nodes, [("x", [2, 3])], [("y", [2, 3])], {"k": np.float32(3)})
    result = Cleanup().run(model)
    assert not result.modified and result.changes == []
    assert result.model.SerializeToString() == model.SerializeToString()

import json

import numpy as np
import pytest
from onnx import helper

from ppocr_convert.passes._testing import assert_same_outputs, check, make_model, op_types, random_feeds
from ppocr_convert.passes.base import PassError
from ppocr_convert.passes.simplify import Simplify

H = helper.make_node


def test_folds_constant_subgraph():
    nodes = [H("Add", ["a", "b"], ["c"]), H("Mul", ["c", "two"], ["d"]), H("Add", ["x", "d"], ["y"])]
    inits = {"a": np.ones(4, np.float32), "b": np.arange(4, dtype=np.float32), "two": np.float32(2)}
    model = make_model(nodes, [("x", [3, 4])], [("y", [3, 4])], inits)
    result = Simplify().run(model)

    assert result.modified
    assert op_types(result.model) == ["Add"]
    check(result.model)
    assert_same_outputs(model, result.model, random_feeds(model))
    assert result.changes == [{"action": "onnxsim.simplify", "nodes_before": 3, "nodes_after": 1,
                               "op_delta": {"Add": -1, "Mul": -1}, "checked": True}]
    assert not any(p.key.startswith("onnxsim.") for p in result.model.metadata_props)
    json.dumps(result.changes)


def test_no_match_leaves_graph_unchanged():
    model = make_model([H("Relu", ["x"], ["y"], name="relu")], [("x", [2, 4])], [("y", [2, 4])])
    result = Simplify().run(model)
    assert not result.modified and result.changes == []
    assert result.model.SerializeToString() == model.SerializeToString()


def test_check_needs_static_inputs_and_says_so():
    model = make_model([H("Relu", ["x"], ["y"], name="relu")], [("x", [2, "W"])], [("y", [2, "W"])])
    with pytest.raises(PassError, match=r"^simplify: onnxsim failed.*run pin_shapes first, or check=False"):
        Simplify().run(model)
    assert not Simplify().run(model, check=False).modified

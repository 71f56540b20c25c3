import json

import pytest
from onnx import helper

import ppocr_convert.passes.manager as manager
from ppocr_convert.passes import PassError, PassResult, available, run_pipeline
from ppocr_convert.passes._testing import assert_same_outputs, check, make_model, op_types, random_feeds
from ppocr_convert.passes.base import GraphPass

H = helper.make_node


def model_with_hardsigmoid():
    nodes = [H("HardSigmoid", ["x"], ["h"], name="hs"), H("Relu", ["h"], ["y"], name="")]
    return make_model(nodes, [("x", ["N", 4])], [("y", ["N", 4])])


def test_available_lists_every_pass():
    assert available() == ["attention_split_heads", "cleanup", "concat_rank_fix", "gelu_decompose",
                           "hardsigmoid_decompose", "hardswish_decompose", "pin_shapes", "reshape_to_squeeze",
                           "resize_asymmetric", "simplify", "squeeze_roundtrip"]


def test_runs_in_the_given_order_and_reports_each_pass():
    model = model_with_hardsigmoid()
    names = ["hardsigmoid_decompose", "pin_shapes", "cleanup"]
    out, reports = run_pipeline(model, names, {"pin_shapes": {"shapes": {"x": [2, 4]}}})

    assert [r.name for r in reports] == names
    assert all(r.modified for r in reports)
    assert op_types(out) == ["Mul", "Add", "Clip", "Relu"]
    # cleanup ran last, so the Relu that came in nameless has a name
    assert [n.name for n in out.graph.node][-1] == "Relu_0"
    check(out)
    assert_same_outputs(model, out, random_feeds(out))
    json.dumps([r.to_dict() for r in reports])
    assert set(reports[0].to_dict()) == {"name", "modified", "changes", "seconds"}


def test_order_matters():
    # cleanup before the decomposition leaves the decomposition's nodes as it made them
    out, _ = run_pipeline(model_with_hardsigmoid(), ["cleanup", "hardsigmoid_decompose"])
    assert [n.name for n in out.graph.node][:3] == ["hs/Mul", "hs/Add", "hs/Clip"]


def test_caller_model_is_not_mutated():
    model = model_with_hardsigmoid()
    before = model.SerializeToString()
    run_pipeline(model, ["hardsigmoid_decompose", "cleanup"])
    assert model.SerializeToString() == before


def test_unknown_pass_names_the_available_ones():
    with pytest.raises(PassError) as e:
        run_pipeline(model_with_hardsigmoid(), ["cleanup", "nope"])
    assert str(e.value).startswith("nope: unknown pass (available: attention_split_heads, cleanup, concat_rank_fix")


def test_unknown_option_is_an_error():
    with pytest.raises(PassError, match=r"^cleanup: unknown option\(s\) bogus \(accepted: none\)"):
        run_pipeline(model_with_hardsigmoid(), ["cleanup"], {"cleanup": {"bogus": 1}})


def test_options_for_a_pass_not_in_the_pipeline_are_an_error():
    with pytest.raises(PassError, match=r"^pin_shape: options given for a pass not in the pipeline"):
        run_pipeline(model_with_hardsigmoid(), ["pin_shapes"], {"pin_shape": {"shapes": {"x": [1, 4]}}})


class Boom(GraphPass):
    name = "boom"

    def apply(self, model) -> PassResult:
        raise ValueError("something\nbroke")


def test_exceptions_inside_a_pass_name_the_pass(monkeypatch):
    monkeypatch.setitem(manager.REGISTRY, "boom", Boom)
    with pytest.raises(PassError) as e:
        run_pipeline(model_with_hardsigmoid(), ["hardsigmoid_decompose", "boom"])
    assert str(e.value) == "boom: ValueError: something broke"
    assert e.value.pass_name == "boom"
    assert isinstance(e.value.__cause__, ValueError)


def test_pass_errors_propagate_unchanged():
    with pytest.raises(PassError) as e:
        run_pipeline(model_with_hardsigmoid(), ["pin_shapes"], {"pin_shapes": {"shapes": {"y": [1]}}})
    assert str(e.value) == "pin_shapes: input 'y' not in graph (inputs: x)"

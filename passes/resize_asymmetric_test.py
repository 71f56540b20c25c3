import json

import numpy as np
import pytest
from onnx import helper, numpy_helper

from ppocr_convert.passes._testing import check, make_model, op_types, random_feeds, run
from ppocr_convert.passes._util import attr
from ppocr_convert.passes.resize_asymmetric import ResizeAsymmetric, source_indices

H = helper.make_node


def resize_model(scales=(1, 1, 2, 2), shape=(1, 2, 5, 7), name="Resize.0", opset=13, **attrs):
    """x -> Resize(scales from an initializer) -> y."""
    attrs.setdefault("mode", "nearest")
    node = H("Resize", ["x", "", "scales"], ["y"], name=name, **attrs)
    out = [int(np.float32(s) * np.float32(d)) for s, d in zip(scales, shape)]
    return make_model([node], [("x", list(shape))], [("y", out)],
                      {"scales": np.array(scales, np.float32)}, opset=opset)


def outputs(model):
    return run(model, random_feeds(model))[0]


@pytest.mark.parametrize("ctm", ["half_pixel", "pytorch_half_pixel", "asymmetric"])
@pytest.mark.parametrize("nearest_mode", ["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"])
def test_source_index_model_matches_onnxruntime(ctm, nearest_mode):
    # The exactness verdict rests on this model of onnxruntime's nearest Resize.
    for scale in (2.0, 3.0, 0.5, 1.5, 1 / 3):
        for n in (1, 5, 8):
            model = resize_model((1, 1, 1, scale), (1, 1, 1, n), coordinate_transformation_mode=ctm,
                                 nearest_mode=nearest_mode)
            (y,) = run(model, {"x": np.arange(n, dtype=np.float32).reshape(1, 1, 1, n)})
            out = int(np.float32(scale) * np.float32(n))
            np.testing.assert_array_equal(y.ravel(), source_indices(n, out, scale, ctm, nearest_mode))


def test_nearest_2x_half_pixel_becomes_asymmetric_floor_exactly():
    model = resize_model()  # defaults: half_pixel, round_prefer_floor
    result = ResizeAsymmetric().run(model)

    assert result.modified
    assert op_types(result.model) == ["Resize"]
    node = result.model.graph.node[0]
    assert attr(node, "coordinate_transformation_mode") == "asymmetric"
    assert attr(node, "nearest_mode") == "floor"
    check(result.model)
    np.testing.assert_array_equal(outputs(model), outputs(result.model))
    (change,) = result.changes
    assert change["node"] == "Resize.0" and change["exact"] is True
    assert change["nearest_mode"] == "round_prefer_floor -> floor"
    assert change["scales"] == [1, 1, 2, 2]
    json.dumps(result.changes)


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil"])
@pytest.mark.parametrize("ctm", ["half_pixel", "pytorch_half_pixel"])
def test_integer_upsampling_is_exact(k, nearest_mode, ctm):
    model = resize_model((1, 1, k, k), coordinate_transformation_mode=ctm, nearest_mode=nearest_mode)
    result = ResizeAsymmetric().run(model)
    assert result.changes[0]["exact"] is True
    assert attr(result.model.graph.node[0], "nearest_mode") == "floor"
    np.testing.assert_array_equal(outputs(model), outputs(result.model))


def test_half_pixel_floor_upsampling_is_inexact_and_differs():
    model = resize_model(nearest_mode="floor")
    result = ResizeAsymmetric().run(model)
    (change,) = result.changes
    assert change["exact"] is False and "no nearest_mode" in change["reason"]
    assert attr(result.model.graph.node[0], "coordinate_transformation_mode") == "asymmetric"
    assert attr(result.model.graph.node[0], "nearest_mode") == "floor"  # left as it was
    check(result.model)
    assert not np.array_equal(outputs(model), outputs(result.model))


def test_linear_is_inexact_and_differs():
    model = resize_model(mode="linear")
    result = ResizeAsymmetric().run(model)
    (change,) = result.changes
    assert change["exact"] is False and "linear" in change["reason"]
    check(result.model)
    assert not np.allclose(outputs(model), outputs(result.model))


def test_sizes_from_constant_node_with_static_input():
    sizes = helper.make_node("Constant", [], ["sizes"], name="c",
                             value=numpy_helper.from_array(np.array([1, 2, 10, 14], np.int64)))
    node = H("Resize", ["x", "", "", "sizes"], ["y"], name="r", mode="nearest")
    model = make_model([sizes, node], [("x", [1, 2, 5, 7])], [("y", [1, 2, 10, 14])], opset=13)
    result = ResizeAsymmetric().run(model)
    assert op_types(result.model) == ["Constant", "Resize"]
    assert result.changes[0]["exact"] is True and result.changes[0]["scales"] == [1, 1, 2, 2]
    check(result.model)
    np.testing.assert_array_equal(outputs(model), outputs(result.model))


def test_dynamic_scale_is_rewritten_with_exact_none():
    node = H("Resize", ["x", "", "scales"], ["y"], name="r", mode="nearest")
    model = make_model([node], [("x", [1, 1, 4, 4]), ("scales", [4])], [("y", list("nchw"))], opset=13)
    result = ResizeAsymmetric().run(model)
    assert result.modified
    assert result.changes[0]["exact"] is None and result.changes[0]["reason"] == "scale not static"
    assert attr(result.model.graph.node[0], "coordinate_transformation_mode") == "asymmetric"
    check(result.model)


def test_only_exact_skips_inexact_nodes():
    nodes = [
        H("Resize", ["x", "", "s"], ["a"], name="nearest", mode="nearest"),
        H("Resize", ["a", "", "s"], ["y"], name="linear", mode="linear"),
    ]
    model = make_model(nodes, [("x", [1, 1, 3, 3])], [("y", [1, 1, 12, 12])], {"s": np.array([1, 1, 2, 2], np.float32)})
    result = ResizeAsymmetric().run(model, only_exact=True)
    ctms = [attr(n, "coordinate_transformation_mode", "half_pixel") for n in result.model.graph.node]
    assert ctms == ["asymmetric", "half_pixel"]
    assert [c["action"] for c in result.changes] == [
        "coordinate_transformation_mode half_pixel -> asymmetric", "skipped (only_exact)"]
    check(result.model)
    np.testing.assert_array_equal(outputs(model), outputs(result.model))


def test_no_match_when_already_asymmetric():
    model = resize_model(coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    result = ResizeAsymmetric().run(model)
    assert not result.modified and result.changes == []
    assert result.model.SerializeToString() == model.SerializeToString()


@pytest.mark.parametrize("scale", [0.5, 1 / 3, 1.5, 2.0, 2.5, 3.0])
@pytest.mark.parametrize("nearest_mode", ["floor", "ceil", "round_prefer_floor", "round_prefer_ceil"])
def test_verdict_agrees_with_onnxruntime(scale, nearest_mode):
    # Exact -> identical outputs; inexact -> outputs differ (on this 12x18 input).
    model = resize_model((1, 1, scale, scale), (1, 1, 12, 18), nearest_mode=nearest_mode)
    result = ResizeAsymmetric().run(model)
    same = np.array_equal(outputs(model), outputs(result.model))
    assert result.changes[0]["exact"] is same

"""`xnnpack_check`: which ops XNNPACK leaves to TFLite's kernels. The pure rule on node
lists, then real tiny models: a float model XNNPACK takes whole, and int8 models where
it must say no."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.xnnpack_check import Node, judge_nodes, xnnpack_report
from tiny_tflite import to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 8, 8, 4)


def test_one_partition_holding_everything():
    nodes = [Node("CONV_2D", (0, 9), (1,)), Node("ADD", (1, 8), (2,)), Node("DELEGATE", (0, 9, 8), (2,))]
    report = judge_nodes(nodes, {2})
    assert report.all_inside and report.outside == {} and report.ops == 2


def test_an_op_between_two_partitions_is_outside():
    # CONV | HARD_SWISH | CONV: the middle op writes what the second partition reads
    nodes = [Node("CONV_2D", (0,), (1,)), Node("HARD_SWISH", (1,), (2,)), Node("CONV_2D", (2,), (3,)),
             Node("DELEGATE", (0,), (1,)), Node("DELEGATE", (2,), (3,))]
    report = judge_nodes(nodes, {3})
    assert (report.partitions, report.outside) == (2, {"HARD_SWISH": 1})
    assert not report.all_inside and "HARD_SWISH x1" in report.verdict()


def test_a_chain_outside_is_followed_back_from_the_model_output():
    # CONV in XNNPACK, then RELU -> MAXIMUM on TFLite's kernels up to the model output
    nodes = [Node("CONV_2D", (0,), (1,)), Node("RELU", (1,), (2,)), Node("MAXIMUM", (2, 7), (3,)),
             Node("DELEGATE", (0,), (1,))]
    assert judge_nodes(nodes, {3}).outside == {"MAXIMUM": 1, "RELU": 1}


def test_no_partition_means_every_op_outside():
    nodes = [Node("CONV_2D", (0,), (1,)), Node("RELU", (1,), (2,))]
    report = judge_nodes(nodes, {2})
    assert report.partitions == 0 and report.outside == {"CONV_2D": 1, "RELU": 1}
    assert "no op" in report.verdict()


def test_real_models(tmp_path):
    from ppocr_convert.chain.quantize import _quantize, build_recipe, calibrated_ranges, input_name
    from ppocr_convert.inspect_model import import_tensorflow
    tf = import_tensorflow()
    model = to_tflite(lambda x: tf.maximum(tf.nn.relu(x) * 2.0 + x, 0.5), SHAPE)
    path = tmp_path / "fp32.tflite"
    path.write_bytes(model)
    assert xnnpack_report(path).all_inside        # float RELU, MUL, ADD, MAXIMUM: all XNNPACK's
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(4)]
    int8 = _quantize(model, build_recipe(), calibrated_ranges(path, input_name(model), xs, 1), tmp_path)
    (tmp_path / "int8.tflite").write_bytes(int8)
    report = xnnpack_report(tmp_path / "int8.tflite")   # the counter-case: no int8 RELU / MAXIMUM
    assert report.partitions >= 1 and {"RELU", "MAXIMUM"} <= set(report.outside)

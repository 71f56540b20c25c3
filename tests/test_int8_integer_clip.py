"""`integer_clip.without_clip`: RELU(MINIMUM(x, c)) rewritten as MUL(x, 6/c) with a fused
RELU6 and MUL(c/6) must compute the clip in float, must leave every other MINIMUM/RELU
alone, and must keep the int8 squeeze-excite gate inside XNNPACK, on tiny models converted
for real."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import int8_stage
from ppocr_convert.chain.integer_clip import without_clip
from ppocr_convert.inspect_model import import_tensorflow
from ppocr_convert.xnnpack_check import xnnpack_report
from tiny_tflite import all_int8, assert_computes_the_same, conv_weights, mean_nmse, normal_samples, op_names, to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 8, 8, 4)


def _gate(bound: float = 1.0):
    """A squeeze-excite-like gate, x * clip(0.2 x + 0.5, 0, bound), as onnx2tf lowers it."""
    tf = import_tensorflow()
    (w,) = conv_weights(0, (1, 1, 4, 4), std=0.5)

    def fn(x):
        y = tf.nn.conv2d(x, w, 1, "SAME")
        return y * tf.nn.relu(tf.minimum(y * 0.2 + 0.5, bound))
    return to_tflite(fn, SHAPE)


def _samples(n: int, seed: int = 1) -> list[np.ndarray]:
    return normal_samples(SHAPE, n, 4.0, seed)


@pytest.mark.parametrize("bound", [1.0, 2.0, 0.25])   # 6: TensorFlow fuses it into a RELU6
def test_rewrite_computes_the_clip_in_float(bound):
    model = _gate(bound)
    assert {"MINIMUM", "RELU"} <= set(op_names(model))
    rewritten, n = without_clip(model)
    assert n == 1
    ops = op_names(rewritten)
    assert "MINIMUM" not in ops and "RELU" not in ops
    xs = _samples(4)   # scale 4: gate inputs below 0, inside and above the bound
    assert_computes_the_same(model, rewritten, xs)


def test_a_wrong_bound_would_be_caught():
    """Counter-case for the float check above: clipping at another bound reads differently
    on the same inputs (the test inputs do reach the bound)."""
    xs = _samples(2)
    a = int8_stage.run_samples(_gate(1.0), xs)
    b = int8_stage.run_samples(without_clip(_gate(0.5))[0], xs)
    assert max(float(np.abs(p - q).max()) for p, q in zip(a, b)) > 0.1


def test_clips_that_are_not_relu_of_minimum_of_a_positive_constant_are_left_alone():
    tf = import_tensorflow()
    (w,) = conv_weights(0, (1, 1, 4, 4), std=0.5)
    others = {
        # the MINIMUM's result is read by another op too: the RELU alone cannot absorb it
        "shared": lambda x: tf.nn.relu(tf.minimum(x, 1.0)) + tf.minimum(x, 1.0),
        "negative bound": lambda x: tf.nn.relu(tf.minimum(x, -1.0)) + x,
        "minimum of two activations": lambda x: tf.nn.relu(tf.minimum(x, tf.nn.conv2d(x, w, 1, "SAME"))),
        "minimum without relu": lambda x: tf.minimum(x, 1.0) * 2.0,
    }
    for name, fn in others.items():
        model = to_tflite(fn, SHAPE)
        assert "MINIMUM" in op_names(model), name
        assert without_clip(model) == (model, 0), name


def test_the_int8_gate_stays_inside_xnnpack_and_reads_as_well(tmp_path):
    model = _gate()
    xs = _samples(8)
    plain, q = all_int8(model, xs)
    assert q.rewritten["clip"] == 0 and q.rewritten["minimum"] == 1
    int8, q = all_int8(model, xs, rewrite_clip=True)
    assert q.rewritten["clip"] == 1 and q.rewritten["minimum"] == 0   # the clip took the MINIMUM
    for name, m in (("plain", plain), ("rewritten", int8)):
        (tmp_path / f"{name}.tflite").write_bytes(m)
    assert not xnnpack_report(tmp_path / "plain.tflite").all_inside   # int8 MAXIMUM/RELU stay out
    assert xnnpack_report(tmp_path / "rewritten.tflite").all_inside
    test = _samples(4, seed=2)
    err_plain, err_rewritten = mean_nmse(model, plain, test), mean_nmse(model, int8, test)
    assert err_rewritten < max(2 * err_plain, 1e-3), (err_rewritten, err_plain)

"""`integer_minimum.without_minimum`: MINIMUM(x, c) rewritten as -MAXIMUM(-x, -c) must
compute bit for bit what it did in float, and must be what makes the int8 model fully
integer (ai-edge-quantizer has no MINIMUM policy), on tiny models converted for real."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import int8_stage
from ppocr_convert.chain.integer_minimum import without_minimum
from ppocr_convert.chain.quantize import Int8Quantizer, _quantize, build_recipe, calibrated_ranges, input_name
from ppocr_convert.chain.sensitivity import nmse
from ppocr_convert.inspect_model import import_tensorflow
from ppocr_convert.integer_check import integer_report
from tiny_tflite import conv_weights, normal_samples, op_names, to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 8, 8, 4)


@pytest.fixture(scope="module")
def gate_model() -> bytes:
    """A squeeze-excite-like gate: x * clip(0.2 x + 0.5, 0, 1), as onnx2tf lowers it."""
    tf = import_tensorflow()
    (w,) = conv_weights(0, (1, 1, 4, 4), std=0.5)

    def fn(x):
        y = tf.nn.conv2d(x, w, 1, "SAME")
        return y * tf.nn.relu(tf.minimum(y * 0.2 + 0.5, 1.0))
    return to_tflite(fn, SHAPE)


def _samples(n: int, scale: float = 4.0) -> list[np.ndarray]:
    return normal_samples(SHAPE, n, scale)


def test_rewrite_is_bit_identical_in_float(gate_model):
    assert "MINIMUM" in op_names(gate_model)
    rewritten, n = without_minimum(gate_model)
    assert n == 1
    ops = op_names(rewritten)
    assert "MINIMUM" not in ops and "MAXIMUM" in ops and ops.count("MUL") == op_names(gate_model).count("MUL") + 2
    xs = _samples(4)   # scale 4: many gate inputs pass the bound of 1, both branches run
    for a, b in zip(int8_stage.run_samples(gate_model, xs), int8_stage.run_samples(rewritten, xs)):
        np.testing.assert_array_equal(a, b)


def test_minimum_of_two_activations_is_left_alone():
    tf = import_tensorflow()
    model = to_tflite(lambda x: tf.minimum(x, tf.nn.relu(-x)) + 1.0, SHAPE)
    assert "MINIMUM" in op_names(model)
    out, n = without_minimum(model)
    assert n == 0 and out == model


def test_the_rewrite_is_what_makes_int8_fully_integer(gate_model, tmp_path):
    xs = _samples(8)
    # counter-case: the original model quantized as the stage quantizes, minus the rewrite
    path = tmp_path / "fp32.tflite"
    path.write_bytes(gate_model)
    plain = _quantize(gate_model, build_recipe(), calibrated_ranges(path, input_name(gate_model), xs, 1), tmp_path)
    (tmp_path / "plain.tflite").write_bytes(plain)
    report = integer_report(tmp_path / "plain.tflite")
    assert not report.fully_integer and "MINIMUM" in report.float_ops

    q = Int8Quantizer(gate_model, xs, bias_correction=0)
    try:
        assert q.rewritten["minimum"] == 1
        int8 = q.quantize(build_recipe())
    finally:
        q.close()
    (tmp_path / "int8.tflite").write_bytes(int8)
    assert integer_report(tmp_path / "int8.tflite").fully_integer
    test = _samples(4, 3.0)
    ref, got = int8_stage.run_samples(gate_model, test), int8_stage.run_samples(int8, test)
    assert np.mean([nmse(a, b) for a, b in zip(ref, got)]) < 1e-3


def test_a_model_without_minimum_comes_back_unchanged():
    tf = import_tensorflow()
    model = to_tflite(lambda x: tf.nn.relu(x) * 2.0, SHAPE)
    assert without_minimum(model) == (model, 0)

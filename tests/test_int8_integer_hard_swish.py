"""`integer_hard_swish.without_hard_swish`: HARD_SWISH(x) rewritten as x * relu6(x + 3) / 6
in three ops must compute hard-swish in float (to rounding), and must be what keeps the int8
model inside the XNNPACK delegate (which has no int8 HARD_SWISH), on tiny models converted
for real."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import int8_stage
from ppocr_convert.chain.integer_hard_swish import without_hard_swish
from ppocr_convert.inspect_model import import_tensorflow
from ppocr_convert.integer_check import integer_report
from ppocr_convert.xnnpack_check import xnnpack_report
from tiny_tflite import all_int8, conv_weights, mean_nmse, normal_samples, op_names, to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 8, 8, 4)


@pytest.fixture(scope="module")
def swish_model() -> bytes:
    """conv → hard-swish → conv, as PP-LCNet's blocks are (TensorFlow's converter fuses the
    expression into one HARD_SWISH op)."""
    tf = import_tensorflow()
    w1, w2 = conv_weights(0, (1, 1, 4, 4), (1, 1, 4, 4), std=0.5)

    def fn(x):
        y = tf.nn.conv2d(x, w1, 1, "SAME")
        return tf.nn.conv2d(y * tf.nn.relu6(y + 3.0) / 6.0, w2, 1, "SAME")
    return to_tflite(fn, SHAPE)


def _samples(n: int, scale: float = 4.0, seed: int = 1) -> list[np.ndarray]:
    return normal_samples(SHAPE, n, scale, seed)


def _xnnpack(model: bytes, path):
    path.write_bytes(model)
    return xnnpack_report(path)


def test_rewrite_computes_hard_swish_in_float(swish_model):
    assert "HARD_SWISH" in op_names(swish_model)
    rewritten, n = without_hard_swish(swish_model)
    assert n == 1
    assert op_names(rewritten) == ["CONV_2D", "ADD", "MUL", "MUL", "CONV_2D"]
    xs = _samples(4)   # scale 4: inputs below -3, inside (-3, 3) and above 3, all three pieces run
    for a, b in zip(int8_stage.run_samples(swish_model, xs), int8_stage.run_samples(rewritten, xs)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * float(np.abs(a).max()))


def test_rewrite_would_be_caught_if_it_were_wrong(swish_model):
    """Counter-case for the float check above: hard-swish and plain x differ on these
    samples, so a rewrite that dropped the gate could not pass it."""
    tf = import_tensorflow()
    w1, w2 = conv_weights(0, (1, 1, 4, 4), (1, 1, 4, 4), std=0.5)
    identity = to_tflite(lambda x: tf.nn.conv2d(tf.nn.conv2d(x, w1, 1, "SAME"), w2, 1, "SAME"), SHAPE)
    xs = _samples(2)
    a, b = int8_stage.run_samples(swish_model, xs)[0], int8_stage.run_samples(identity, xs)[0]
    assert np.abs(a - b).max() > 0.1 * np.abs(a).max()


def test_a_model_without_hard_swish_comes_back_unchanged():
    tf = import_tensorflow()
    model = to_tflite(lambda x: tf.nn.relu(x) * 2.0, SHAPE)
    assert without_hard_swish(model) == (model, 0)


def _int8(model: bytes, xs: list[np.ndarray], rewrite: bool) -> tuple[bytes, int]:
    int8, q = all_int8(model, xs, rewrite_hard_swish=rewrite)
    return int8, q.rewritten["hard_swish"]


def test_the_rewrite_is_what_keeps_int8_inside_xnnpack(swish_model, tmp_path):
    xs = _samples(8)
    # counter-case: the stage without the rewrite (the `[int8]` default): fully integer, but
    # XNNPACK leaves the int8 HARD_SWISH out, splitting the graph in two
    plain, n = _int8(swish_model, xs, rewrite=False)
    assert n == 0 and "HARD_SWISH" in op_names(plain)
    report = _xnnpack(plain, tmp_path / "plain.tflite")   # QUANTIZE, CONV_2D | HARD_SWISH | CONV_2D, DEQUANTIZE
    assert (report.partitions, report.outside) == (2, {"HARD_SWISH": 1})

    int8, n = _int8(swish_model, xs, rewrite=True)
    assert n == 1
    assert "HARD_SWISH" not in op_names(int8)
    assert _xnnpack(int8, tmp_path / "int8.tflite").all_inside
    assert integer_report(tmp_path / "int8.tflite").fully_integer
    # and it reads as well as the int8 HARD_SWISH did
    test = _samples(4, 3.0, seed=2)
    err_plain, err_rewritten = mean_nmse(swish_model, plain, test), mean_nmse(swish_model, int8, test)
    assert err_rewritten < max(2 * err_plain, 1e-3), (err_rewritten, err_plain)

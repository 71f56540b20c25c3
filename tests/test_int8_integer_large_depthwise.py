"""`integer_large_depthwise.without_large_depthwise`: a depthwise convolution wider than 5x5
rewritten as summed pieces of at most 5x5 must compute what it did in float, must leave
small, strided and dilated ones alone, and must keep the int8 model integer and inside
XNNPACK, on tiny models converted for real."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import int8_stage
from ppocr_convert.chain.integer_large_depthwise import _chunks, without_large_depthwise
from ppocr_convert.chain.tflite_edit import FloatGraphEditor
from ppocr_convert.inspect_model import import_tensorflow
from ppocr_convert.integer_check import integer_report
from ppocr_convert.xnnpack_check import xnnpack_report
from tiny_tflite import all_int8, assert_computes_the_same, mean_nmse, normal_samples, op_names, to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 12, 12, 4)


def _depthwise(kernel: tuple[int, int] = (7, 7), padding: str = "SAME", stride: int = 1, dilation: int = 1,
               seed: int = 0):
    """conv -> depthwise conv (+ bias, ReLU, as PP-OCRv6 small det's neck) -> output."""
    tf = import_tensorflow()
    rng = np.random.default_rng(seed)
    w1 = tf.constant(rng.normal(0, 0.5, (1, 1, 4, 4)).astype(np.float32))
    wd = tf.constant(rng.normal(0, 0.3, (*kernel, 4, 1)).astype(np.float32))
    bias = tf.constant(rng.normal(0, 0.5, (4,)).astype(np.float32))

    def fn(x):
        y = tf.nn.conv2d(x, w1, 1, "SAME")
        z = tf.nn.depthwise_conv2d(y, wd, (1, stride, stride, 1), padding, dilations=(dilation, dilation))
        return tf.nn.relu(z + bias)
    return to_tflite(fn, SHAPE)


def _samples(n: int, seed: int = 1) -> list[np.ndarray]:
    return normal_samples(SHAPE, n, 2.0, seed)


def test_chunks_cover_the_kernel_once():
    assert _chunks(7) == [(0, 5), (5, 2)]
    assert _chunks(9) == [(0, 5), (5, 4)]
    assert _chunks(11) == [(0, 5), (5, 5), (10, 1)]


@pytest.mark.parametrize("kernel, padding", [((7, 7), "SAME"), ((7, 7), "VALID"), ((9, 3), "SAME"), ((6, 6), "SAME")])
def test_rewrite_computes_the_depthwise_convolution_in_float(kernel, padding):
    model = _depthwise(kernel, padding)
    rewritten, n = without_large_depthwise(model)
    assert n == 1
    ops = op_names(rewritten)
    pieces = len(_chunks(kernel[0])) * len(_chunks(kernel[1]))
    assert ops.count("DEPTHWISE_CONV_2D") == pieces and ops.count("SLICE") == pieces
    assert ops.count("PAD") == (1 if padding == "SAME" else 0)
    xs = _samples(3)
    assert_computes_the_same(model, rewritten, xs)


def test_a_piece_slid_by_one_tap_would_be_caught():
    """Counter-case for the float check above: the same pieces with one window's slice one
    column off (a wrong offset in the split) read differently."""
    model = _depthwise()
    rewritten, _ = without_large_depthwise(model)
    edit = FloatGraphEditor(rewritten)
    ops = list(edit.graph.operators)
    last_slice = [o for o in ops if edit.builtin(o) == edit.schema.BuiltinOperator.SLICE][-1]
    begin = int(last_slice.inputs[1])
    values = edit.constant(begin).copy()
    values[2] -= 1
    edit.obj.buffers[edit.graph.tensors[begin].buffer].data = np.frombuffer(values.astype(np.int32).tobytes(),
                                                                           np.uint8)
    broken = edit.result(ops)
    xs = _samples(1)
    a, b = int8_stage.run_samples(model, xs)[0], int8_stage.run_samples(broken, xs)[0]
    assert np.abs(a - b).max() > 0.05 * np.abs(a).max()


@pytest.mark.parametrize("kernel, stride, dilation", [((5, 5), 1, 1), ((3, 3), 1, 1), ((7, 7), 2, 1), ((7, 7), 1, 2)])
def test_small_strided_or_dilated_depthwise_convolutions_are_left_alone(kernel, stride, dilation):
    model = _depthwise(kernel, "SAME", stride, dilation)
    assert "DEPTHWISE_CONV_2D" in op_names(model)
    assert without_large_depthwise(model) == (model, 0)


def test_the_rewritten_int8_model_is_integer_inside_xnnpack_and_reads_as_well(tmp_path):
    model = _depthwise()
    xs = _samples(8)
    plain, q = all_int8(model, xs, rewrite_large_depthwise=False)
    assert q.rewritten["large_depthwise"] == 0 and op_names(plain).count("DEPTHWISE_CONV_2D") == 1
    int8, q = all_int8(model, xs, rewrite_large_depthwise=True)
    assert q.rewritten["large_depthwise"] == 1 and op_names(int8).count("DEPTHWISE_CONV_2D") == 4
    path = tmp_path / "int8.tflite"
    path.write_bytes(int8)
    assert integer_report(path).fully_integer
    assert xnnpack_report(path).all_inside
    test = _samples(4, seed=2)
    err_plain, err_rewritten = mean_nmse(model, plain, test), mean_nmse(model, int8, test)
    # 4 pieces and 3 partial sums each rounded to int8 where the 7x7 op rounds once: more
    # error, by a bounded factor (measured 2.6x here; the det gate judges the real model)
    assert err_rewritten < 4 * err_plain, (err_rewritten, err_plain)

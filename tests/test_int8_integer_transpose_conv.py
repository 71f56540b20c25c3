"""`integer_transpose_conv.without_transpose_conv`: a kernel == stride TRANSPOSE_CONV
rewritten as a 1x1 CONV_2D and a pixel shuffle must compute what it did in float, must leave
every other TRANSPOSE_CONV alone, and must keep the int8 model integer and inside XNNPACK,
on tiny models converted for real."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import int8_stage
from ppocr_convert.chain.integer_transpose_conv import without_transpose_conv
from ppocr_convert.inspect_model import import_tensorflow
from ppocr_convert.integer_check import integer_report
from ppocr_convert.xnnpack_check import xnnpack_report
from tiny_tflite import all_int8, assert_computes_the_same, mean_nmse, normal_samples, op_names, to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 8, 8, 4)


def _upsampler(kernel: int = 2, stride: int = 2, padding: str = "VALID", channels_out: int = 3, seed: int = 0):
    """conv -> transposed conv (+ bias, ReLU) as DBNet's head upsamples, then its output."""
    tf = import_tensorflow()
    rng = np.random.default_rng(seed)
    w1 = tf.constant(rng.normal(0, 0.5, (1, 1, 4, 4)).astype(np.float32))
    wt = tf.constant(rng.normal(0, 0.5, (kernel, kernel, channels_out, 4)).astype(np.float32))
    bias = tf.constant(rng.normal(0, 0.5, (channels_out,)).astype(np.float32))
    n, h, w, _ = SHAPE
    size = (h * stride, w * stride) if padding == "SAME" else ((h - 1) * stride + kernel, (w - 1) * stride + kernel)

    def fn(x):
        y = tf.nn.conv2d(x, w1, 1, "SAME")
        up = tf.nn.conv2d_transpose(y, wt, (n, *size, channels_out), stride, padding)
        return tf.nn.relu(up + bias)
    return to_tflite(fn, SHAPE)


def _samples(n: int, seed: int = 1) -> list[np.ndarray]:
    return normal_samples(SHAPE, n, 2.0, seed)


@pytest.mark.parametrize("stride", [2, 4])
def test_rewrite_computes_the_transposed_convolution_in_float(stride):
    model = _upsampler(kernel=stride, stride=stride)
    assert "TRANSPOSE_CONV" in op_names(model)
    rewritten, n = without_transpose_conv(model)
    assert n == 1
    ops = op_names(rewritten)
    assert "TRANSPOSE_CONV" not in ops and ops.count("CONV_2D") == 2
    assert ops[ops.index("CONV_2D", 1):][:4] == ["CONV_2D", "RESHAPE", "TRANSPOSE", "RESHAPE"]
    xs = _samples(3)
    assert_computes_the_same(model, rewritten, xs)


def test_a_wrong_pixel_shuffle_would_be_caught():
    """Counter-case for the float check above: the same 1x1 conv with its output channels
    moved to the wrong pixels (the shuffle's transpose left out) reads differently."""
    model = _upsampler()
    rewritten, _ = without_transpose_conv(model)
    from ppocr_convert.chain.tflite_edit import FloatGraphEditor
    edit = FloatGraphEditor(rewritten)
    ops = list(edit.graph.operators)
    t = next(i for i, o in enumerate(ops) if edit.builtin(o) == edit.schema.BuiltinOperator.TRANSPOSE)
    perm = int(ops[t].inputs[1])
    edit.obj.buffers[edit.graph.tensors[perm].buffer].data = np.frombuffer(
        np.array([0, 1, 2, 3], np.int32).tobytes(), np.uint8)   # identity: no shuffle across pixels
    broken = edit.result(ops)
    xs = _samples(1)
    a, b = int8_stage.run_samples(model, xs)[0], int8_stage.run_samples(broken, xs)[0]
    assert np.abs(a - b).max() > 0.1 * np.abs(a).max()


@pytest.mark.parametrize("kernel, stride, padding", [(3, 2, "VALID"), (2, 2, "SAME"), (4, 2, "SAME")])
def test_overlapping_or_padded_transposed_convolutions_are_left_alone(kernel, stride, padding):
    """Only VALID kernel == stride is one tap per output pixel (SAME with kernel == stride
    would be too, but is not what the models hold, and is left alone)."""
    model = _upsampler(kernel, stride, padding)
    assert "TRANSPOSE_CONV" in op_names(model)
    assert without_transpose_conv(model) == (model, 0)


def _int8(model: bytes, xs: list[np.ndarray], rewrite: bool) -> tuple[bytes, int]:
    int8, q = all_int8(model, xs, rewrite_transpose_conv=rewrite)
    return int8, q.rewritten["transpose_conv"]


def test_the_rewritten_int8_model_is_integer_inside_xnnpack_and_reads_as_well(tmp_path):
    model = _upsampler(channels_out=8)
    xs = _samples(8)
    plain, n = _int8(model, xs, rewrite=False)
    assert n == 0 and "TRANSPOSE_CONV" in op_names(plain)
    int8, n = _int8(model, xs, rewrite=True)
    assert n == 1 and "TRANSPOSE_CONV" not in op_names(int8)
    path = tmp_path / "int8.tflite"
    path.write_bytes(int8)
    assert integer_report(path).fully_integer
    assert xnnpack_report(path).all_inside
    test = _samples(4, seed=2)
    err_plain, err_rewritten = mean_nmse(model, plain, test), mean_nmse(model, int8, test)
    assert err_rewritten < max(2 * err_plain, 1e-3), (err_rewritten, err_plain)


def test_a_model_without_transpose_conv_comes_back_unchanged():
    tf = import_tensorflow()
    model = to_tflite(lambda x: tf.nn.relu(x) * 2.0, SHAPE)
    assert without_transpose_conv(model) == (model, 0)

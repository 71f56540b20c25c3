"""`integer_gelu.without_erf_gelu`: the Erf-form GELU as `gelu_decompose` writes it, rewritten
as k * x * sigmoid(1.702 x), must be found by what it computes (and nothing else must be),
must stay within the approximation's 0.021 of GELU in float, and must be what keeps the int8
model integer and inside XNNPACK, on tiny models converted for real."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ppocr_convert.passes.gelu_decompose import AS_A, AS_P
from ppocr_convert.chain import int8_stage
from ppocr_convert.chain.integer_gelu import without_erf_gelu
from ppocr_convert.inspect_model import import_tensorflow
from ppocr_convert.integer_check import integer_report
from ppocr_convert.xnnpack_check import xnnpack_report
from tiny_tflite import all_int8, mean_nmse, normal_samples, op_names, to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 8, 8, 4)
SQRT2 = math.sqrt(2.0)


def decomposed_gelu(tf, x, scale: float = 0.5, gauss: float = -0.5, a1: float = AS_A[0]):
    """scale * x * (1 + erf(x / sqrt2)) the way `passes.gelu_decompose.decomposition` writes
    it (A&S 7.1.26, sign-free); `gauss` and `a1` let a test write something that is not GELU."""
    ax = tf.abs(x)
    t = 1.0 / (ax * (AS_P / SQRT2) + 1.0)
    b = [scale * a for a in (a1, *AS_A[1:])]
    poly = t * b[4]
    for k in (3, 2, 1, 0):
        poly = (poly + b[k]) * t
    tail = ax * (poly * tf.exp((x * x) * gauss))
    head = tf.nn.relu(x) if scale == 0.5 else x + ax
    return head - tail


def _model(body, seed: int = 0) -> bytes:
    """conv -> body(y) -> conv, as PP-OCRv6's blocks are."""
    tf = import_tensorflow()
    rng = np.random.default_rng(seed)
    w1, w2 = (tf.constant(rng.normal(0, 0.8, (1, 1, 4, 4)).astype(np.float32)) for _ in range(2))
    return to_tflite(lambda x: tf.nn.conv2d(body(tf, tf.nn.conv2d(x, w1, 1, "SAME")), w2, 1, "SAME"), SHAPE)


@pytest.fixture(scope="module")
def gelu_model() -> bytes:
    return _model(decomposed_gelu)


def _samples(n: int, scale: float = 3.0, seed: int = 1) -> list[np.ndarray]:
    return normal_samples(SHAPE, n, scale, seed)


def _sigmoid_gelu(tf, y, scale: float = 0.5):
    return 2.0 * scale * y * tf.sigmoid(1.702 * y)


@pytest.mark.parametrize("scale", [0.5, 1.0])
def test_rewrite_computes_the_sigmoid_gelu_in_float(scale):
    """GELU (RELU head) and 2*GELU (x + |x| head, what is left once onnxsim folded the 0.5)."""
    model = _model(lambda tf, y: decomposed_gelu(tf, y, scale))
    assert "EXP" in op_names(model)
    rewritten, n = without_erf_gelu(model)
    assert n == 1
    extra = [] if scale == 0.5 else ["MUL"]
    assert op_names(rewritten) == ["CONV_2D", "MUL", "LOGISTIC", "MUL", *extra, "CONV_2D"]
    xs = _samples(4)
    want = int8_stage.run_samples(_model(lambda tf, y: _sigmoid_gelu(tf, y, scale)), xs)
    for a, b in zip(want, int8_stage.run_samples(rewritten, xs)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * float(np.abs(a).max()))
    # and it is the approximation, not the identity: it moves the output, a little
    for a, b in zip(int8_stage.run_samples(model, xs), int8_stage.run_samples(rewritten, xs)):
        assert 0 < np.abs(a - b).max() < 0.05 * float(np.abs(a).max())


@pytest.mark.parametrize("not_gelu", [
    lambda tf, y: decomposed_gelu(tf, y, gauss=-1.0),          # exp(-x^2): erf of x, not x/sqrt2
    lambda tf, y: decomposed_gelu(tf, y, a1=0.3),              # one A&S coefficient wrong
    lambda tf, y: y * tf.exp(-y * y) + tf.abs(y),              # EXP of x, something else
])
def test_what_does_not_compute_gelu_is_left_alone(not_gelu):
    model = _model(not_gelu)
    assert "EXP" in op_names(model)
    assert without_erf_gelu(model) == (model, 0)


def test_a_gelu_whose_inner_value_is_read_elsewhere_is_left_alone():
    """The converter shares one ABS between the GELU and a second |x|: replacing the GELU's
    ops would orphan that reader."""
    model = _model(lambda tf, y: decomposed_gelu(tf, y) + tf.abs(y) * 0.25)
    assert op_names(model).count("ABS") == 1
    assert without_erf_gelu(model) == (model, 0)


def _int8(model: bytes, xs: list[np.ndarray], rewrite: bool) -> tuple[bytes, int]:
    int8, q = all_int8(model, xs, rewrite_gelu=rewrite)
    return int8, q.rewritten["gelu"]


def test_the_rewrite_is_what_keeps_int8_integer_and_inside_xnnpack(gelu_model, tmp_path):
    xs = _samples(8)
    # counter-case: the stage without the rewrite (the `[int8]` default): ABS and EXP stay
    # float, DIV and RELU run outside XNNPACK
    plain, n = _int8(gelu_model, xs, rewrite=False)
    assert n == 0
    (tmp_path / "plain.tflite").write_bytes(plain)
    assert not integer_report(tmp_path / "plain.tflite").fully_integer
    assert not xnnpack_report(tmp_path / "plain.tflite").all_inside

    int8, n = _int8(gelu_model, xs, rewrite=True)
    assert n == 1
    (tmp_path / "int8.tflite").write_bytes(int8)
    assert integer_report(tmp_path / "int8.tflite").fully_integer
    assert xnnpack_report(tmp_path / "int8.tflite").all_inside
    # and it reads about as well as the decomposed int8 GELU did, against the exact fp32 model
    test = _samples(4, seed=2)
    err_plain, err_rewritten = mean_nmse(gelu_model, plain, test), mean_nmse(gelu_model, int8, test)
    assert err_rewritten < max(2 * err_plain, 1e-3), (err_rewritten, err_plain)


def test_a_model_without_gelu_comes_back_unchanged():
    tf = import_tensorflow()
    model = to_tflite(lambda x: tf.nn.relu(x) * 2.0, SHAPE)
    assert without_erf_gelu(model) == (model, 0)

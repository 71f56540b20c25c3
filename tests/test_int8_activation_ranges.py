"""`[int8] activation_percentile`: activation ranges from a central percentile of the
calibration values instead of their min/max (chain/activation_ranges.py), checked on the
helpers and on tiny models quantized for real by ai-edge-quantizer, both ways: rare
outliers that only stretch the range (clipping must win) and rare values that are the
signal (clipping must lose: why rec keeps min/max)."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import activation_ranges as ar
from ppocr_convert.chain import int8_stage
from ppocr_convert.chain.quantize import Int8Quantizer, build_recipe
from ppocr_convert.chain.sensitivity import nmse
from ppocr_convert.inspect_model import import_tensorflow
from tiny_tflite import to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 32, 32, 4)


def test_percentile_range_holds_zero_and_clips_both_tails():
    v = np.concatenate([np.linspace(1.0, 2.0, 10_000), [500.0]])
    lo, hi = ar.percentile_range(v, 99.9)
    assert lo == 0.0                      # widened to hold the zero point
    assert 1.9 < hi < 2.0                 # the single 500 is clipped away
    assert ar.percentile_range(v, 100.0) == (0.0, 500.0)
    lo, hi = ar.percentile_range(-v, 99.9)
    assert -2.0 < lo < -1.9 and hi == 0.0


@pytest.mark.parametrize("bad", [50.0, 100.5, 0.0])
def test_percentile_outside_the_range_is_refused(bad):
    with pytest.raises(ValueError, match="percentile"):
        ar.percentile_range(np.ones(10), bad)


def test_clipped_qsvs_replaces_ranges_and_keeps_the_rest():
    one = np.ones((1, 1, 1, 1), np.float32)
    qsvs = {"x": {"min": -one, "max": one}, "a": {"min": -9 * one, "max": 99 * one},
            "b": {"min": -one, "max": one, "other": 7}}
    values = {"x": np.array([-100.0, 100.0]), "a": np.r_[np.linspace(-1, 1, 100_000), 99.0],
              "b": np.linspace(-0.5, 0.5, 1000)}
    out = ar.clipped_qsvs(qsvs, values, 99.99, keep={"x"})
    assert out["x"] is qsvs["x"]                                   # kept: the model input
    assert out["a"]["max"].shape == (1, 1, 1, 1) and float(out["a"]["max"].item()) < 1.01
    assert float(out["a"]["min"].item()) > -1.01
    assert out["b"]["other"] == 7                                  # other keys survive
    assert ar.clipped_qsvs(qsvs, {}, 99.99) == qsvs                # no values: unchanged


def _model(w1: np.ndarray, w2: np.ndarray) -> bytes:
    tf = import_tensorflow()
    c1, c2 = tf.constant(w1), tf.constant(w2)

    def fn(x):
        # squaring turns rare moderate input values into rare outliers inside the graph
        return tf.nn.conv2d(tf.nn.relu(tf.nn.conv2d(x * x, c1, 1, "SAME")), c2, 1, "SAME")

    return to_tflite(fn, SHAPE)


@pytest.fixture(scope="module")
def model() -> bytes:
    rng = np.random.default_rng(0)
    return _model(rng.normal(0, 0.3, (3, 3, 4, 8)).astype(np.float32),
                  rng.normal(0, 0.3, (1, 1, 8, 8)).astype(np.float32))


def _error(model: bytes, calibration: list[np.ndarray], test: list[np.ndarray], percentile: float) -> float:
    q = Int8Quantizer(model, calibration, bias_correction=0, activation_percentile=percentile)
    try:
        int8 = q.quantize(build_recipe())
    finally:
        q.close()
    ref, got = int8_stage.run_samples(model, test), int8_stage.run_samples(int8, test)
    return float(np.mean([nmse(a, b) for a, b in zip(ref, got)]))


def _with_spikes(rng, n: int, spikes: int, value: float) -> list[np.ndarray]:
    """Normal values but for `spikes` of `value` per sample."""
    out = []
    for _ in range(n):
        x = rng.normal(0, 1, SHAPE).astype(np.float32)
        x.reshape(-1)[rng.integers(0, x.size, spikes)] = value
        out.append(x)
    return out


def test_percentile_ranges_win_where_rare_outliers_only_stretch_the_range(model):
    rng = np.random.default_rng(1)
    calibration = _with_spikes(rng, 8, 2, 30.0)      # 2 values of 4096 per calibration sample
    test = _with_spikes(rng, 4, 0, 30.0)            # the images the model then reads have none
    minmax, clipped = _error(model, calibration, test, 100.0), _error(model, calibration, test, 99.9)
    assert clipped < 0.5 * minmax, (clipped, minmax)


def test_percentile_ranges_lose_where_the_rare_values_are_the_signal(model):
    rng = np.random.default_rng(2)

    def sparse(n):  # silence with a few strong pixels: clipping them erases what the model sees
        out = []
        for _ in range(n):
            x = np.zeros(SHAPE, np.float32)
            x.reshape(-1)[rng.integers(0, x.size, 3)] = 30.0
            out.append(x)
        return out
    calibration, test = sparse(8), sparse(4)
    minmax, clipped = _error(model, calibration, test, 100.0), _error(model, calibration, test, 99.9)
    assert clipped > 5 * minmax, (clipped, minmax)


def test_the_model_input_keeps_its_min_max_range(model):
    rng = np.random.default_rng(3)
    calibration = [x * 0 + 1 for x in _with_spikes(rng, 4, 0, 0.0)]
    for x in calibration:
        x.reshape(-1)[:3] = 300.0  # 3 of 4096 input values: the percentile would clip them
    q = Int8Quantizer(model, calibration, bias_correction=0, activation_percentile=99.0)
    try:
        assert float(np.max(q.qsvs[q.input]["max"])) == pytest.approx(300.0)
    finally:
        q.close()


def test_widened_qsvs_scales_every_range_but_the_kept_ones():
    one = np.ones((1, 1, 1, 1), np.float32)
    qsvs = {"x": {"min": -one, "max": one}, "a": {"min": -2 * one, "max": 3 * one}}
    out = ar.widened_qsvs(qsvs, 2.0, keep={"x"})
    assert out["x"] is qsvs["x"]
    assert out["a"]["min"].item() == -4.0 and out["a"]["max"].item() == 6.0
    assert ar.widened_qsvs(qsvs, 1.0) is qsvs
    with pytest.raises(ValueError, match="margin"):
        ar.widened_qsvs(qsvs, 0.5)


def _int16_error(model: bytes, calibration: list[np.ndarray], test: list[np.ndarray], margin: float) -> float:
    q = Int8Quantizer(model, calibration, bias_correction=0, input_range=(-4.0, 4.0), range_margin=margin)
    try:
        int16 = q.quantize(build_recipe(activation_bits=16))
    finally:
        q.close()
    ref, got = int8_stage.run_samples(model, test), int8_stage.run_samples(int16, test)
    return float(np.mean([nmse(a, b) for a, b in zip(ref, got)]))


def test_a_range_margin_keeps_int16_activations_that_pass_the_calibrated_max(model):
    rng = np.random.default_rng(4)
    quiet = [rng.normal(0, 0.5, SHAPE).astype(np.float32) for _ in range(8)]   # what calibration saw
    loud = [rng.normal(0, 1.0, SHAPE).astype(np.float32) for _ in range(4)]    # a deployed input, 2x wider
    plain, widened = _int16_error(model, quiet, loud, 1.0), _int16_error(model, quiet, loud, 2.0)
    assert widened < 0.25 * plain, (widened, plain)
    # where the inputs stay inside the calibrated ranges, the halved int16 resolution costs ~nothing
    assert _int16_error(model, quiet, quiet[:4], 2.0) < 1e-4

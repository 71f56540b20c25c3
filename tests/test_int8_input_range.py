"""The int8 model input's quantization range is what preprocessing can produce, not what
calibration happened to see (activation_ranges.with_input_range, calibration.input_range): real
photos rarely hold pure white, so a calibrated range clips every brighter deployed pixel."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import calibration as cal
from ppocr_convert.chain import int8_stage
from ppocr_convert.chain.quantize import Int8Quantizer, build_recipe
from ppocr_convert.chain.sensitivity import nmse
from ppocr_convert.config import load_model_config
from ppocr_convert.inspect_model import import_tensorflow
from tiny_tflite import to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 8, 16, 3)


def test_input_range_follows_each_models_normalisation():
    assert cal.input_range(load_model_config("PP-OCRv5_mobile_rec")) == pytest.approx((-1.0, 1.0))
    lo, hi = cal.input_range(load_model_config("PP-OCRv5_mobile_det"))
    # ImageNet mean / std: the lowest value is black in the first channel, the highest white in the third
    assert lo == pytest.approx((0 - 0.485) / 0.229) and hi == pytest.approx((1 - 0.406) / 0.225)


@pytest.fixture(scope="module")
def model() -> bytes:
    """PAD then conv: the input feeds a pass-through op first, as onnx2tf writes PP-OCR models."""
    tf = import_tensorflow()
    w = tf.constant(np.random.default_rng(0).normal(0, 0.3, (3, 3, 3, 4)).astype(np.float32))

    def fn(x):
        return tf.nn.conv2d(tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]), w, 1, "VALID")

    return to_tflite(fn, SHAPE)


@pytest.mark.parametrize("bits", [8, 16])
def test_a_full_range_input_is_not_clipped_where_calibration_saw_less(model, bits):
    rng = np.random.default_rng(1)
    dim = [rng.uniform(-0.7, 0.7, SHAPE).astype(np.float32) for _ in range(8)]   # no pure white
    bright = [rng.uniform(-1.0, 1.0, SHAPE).astype(np.float32) for _ in range(4)]  # deployed lines

    def error(value_range):
        q = Int8Quantizer(model, dim, bias_correction=0, input_range=value_range)
        try:
            rng_in = (float(np.min(q.qsvs[q.input]["min"])), float(np.max(q.qsvs[q.input]["max"])))
            int8 = q.quantize(build_recipe(activation_bits=bits))
        finally:
            q.close()
        ref, got = int8_stage.run_samples(model, bright), int8_stage.run_samples(int8, bright)
        return rng_in, float(np.mean([nmse(a, b) for a, b in zip(ref, got)]))

    calibrated, clipped = error(None)
    full, kept = error((-1.0, 1.0))
    assert calibrated[1] < 0.71 and full == pytest.approx((-1.0, 1.0))
    assert kept < 0.25 * clipped, (kept, clipped)

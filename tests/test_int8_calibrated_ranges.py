"""`quantize.calibrated_ranges`: ai-edge-quantizer's profiler-based calibration must give
the ranges its default (every-tensor-kept) mode gives, on a tiny model calibrated for
real both ways, and must follow the samples it is given."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain.quantize import SIGNATURE_KEY, build_recipe, calibrated_ranges, input_name
from ppocr_convert.inspect_model import import_tensorflow
from tiny_tflite import conv_weights, to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 16, 16, 3)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[bytes, object]:
    tf = import_tensorflow()
    w1, w2 = conv_weights(0, (3, 3, 3, 8), (1, 1, 8, 4))

    def fn(x):
        h = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
        return tf.sigmoid(tf.nn.conv2d(h, w2, 1, "SAME") + tf.reduce_mean(h, axis=[1, 2], keepdims=True)[..., :4])

    m = to_tflite(fn, SHAPE)
    path = tmp_path_factory.mktemp("calib") / "m.tflite"
    path.write_bytes(m)
    return m, path


def _samples(scale: float) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [(scale * rng.standard_normal(SHAPE)).astype(np.float32) for _ in range(6)]


def _default_mode(path, name: str, samples: list[np.ndarray]) -> dict:
    from ai_edge_quantizer import quantizer
    q = quantizer.Quantizer(str(path))
    q.load_quantization_recipe(build_recipe())
    return q.calibrate({SIGNATURE_KEY: [{name: s} for s in samples]}, num_threads=1)


def test_ranges_match_the_default_calibration_mode(model):
    m, path = model
    name = input_name(m)
    got = calibrated_ranges(path, name, _samples(1.0), threads=1)
    ref = _default_mode(path, name, _samples(1.0))
    assert set(got) == set(ref) and len(got) >= 5
    for tensor, entry in ref.items():
        for key in ("min", "max"):
            a, b = np.asarray(entry[key]).ravel(), got[tensor][key].ravel()
            assert got[tensor][key].dtype == np.float32
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=f"{tensor} {key}")


def test_ranges_follow_the_samples(model):
    # the counter-case: equal ranges must not come from ignoring the samples
    m, path = model
    name = input_name(m)
    small = calibrated_ranges(path, name, _samples(1.0), threads=1)
    large = calibrated_ranges(path, name, _samples(3.0), threads=1)
    np.testing.assert_allclose(large[name]["max"], 3 * small[name]["max"], rtol=1e-5)
    assert float(large[name]["min"].item()) < 2.5 * float(small[name]["min"].item())

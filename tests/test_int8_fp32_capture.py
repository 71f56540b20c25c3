"""`fp32_capture.capture`: one fp32 pass serving bias correction's input means and the
percentile ranges' value subsets must give exactly what each got from its own pass (so
the artifacts stay the same), on a tiny model run for real."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import activation_ranges as ar
from ppocr_convert.chain.bias_correction import input_means
from ppocr_convert.chain.fp32_capture import capture
from ppocr_convert.inspect_model import import_tensorflow
from tiny_tflite import conv_weights, to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 24, 24, 3)


@pytest.fixture(scope="module")
def model() -> bytes:
    tf = import_tensorflow()
    w1, w2 = conv_weights(0, (3, 3, 3, 8), (1, 1, 8, 4))
    return to_tflite(lambda x: tf.nn.conv2d(tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME")), w2, 1, "SAME"), SHAPE)


@pytest.fixture(scope="module")
def samples() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(5)]


def test_one_pass_gives_what_the_two_separate_passes_gave(model, samples):
    names = ar.activation_tensors(model)
    assert len(names) >= 2
    both = capture(model, samples, means_of=names, mean_samples=3, values_of=names, value_samples=5, per_sample=100)
    alone_means = input_means(model, samples[:3], names)
    alone_values = ar.tensor_samples(model, samples, names, per_sample=100)
    assert set(both.channel_means) == set(alone_means) == names
    for n in names:
        np.testing.assert_array_equal(both.channel_means[n], alone_means[n])
        np.testing.assert_array_equal(both.value_subsets[n], alone_values[n])
        assert both.value_subsets[n].size == 5 * 100


def test_means_cover_only_their_own_samples_and_subsets_follow_the_seed(model, samples):
    # counter-cases: the equalities above must not hold by construction
    names = ar.activation_tensors(model)
    three = capture(model, samples, means_of=names, mean_samples=3).channel_means
    five = capture(model, samples, means_of=names, mean_samples=5).channel_means
    assert any(not np.allclose(three[n], five[n]) for n in names)
    a = capture(model, samples, values_of=names, value_samples=2, per_sample=50, seed=0).value_subsets
    b = capture(model, samples, values_of=names, value_samples=2, per_sample=50, seed=1).value_subsets
    assert any(not np.array_equal(a[n], b[n]) for n in names)


def test_nothing_asked_runs_nothing(model, samples):
    out = capture(model, samples, means_of=ar.activation_tensors(model), mean_samples=0)
    assert out.channel_means == {} and out.value_subsets == {}

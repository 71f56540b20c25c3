"""run_samples deals samples to several interpreters on threads: the outputs must come back
in the samples' order and equal, bit for bit, what one interpreter gives."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.inspect_model import import_tensorflow
from tiny_tflite import conv_weights, normal_samples, to_tflite

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def conv_model() -> bytes:
    tf = import_tensorflow()
    w1, w2 = conv_weights(3, (3, 3, 3, 8), (3, 3, 8, 4))

    def fn(x):
        y = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
        return tf.nn.conv2d(y, w2, 2, "SAME")
    return to_tflite(fn, (1, 16, 24, 3))


@pytest.mark.parametrize("workers", [2, 3, 7])
def test_outputs_in_order_and_equal_to_one_interpreter(conv_model, workers):
    from ppocr_convert.chain.int8_stage import run_samples
    xs = normal_samples((1, 16, 24, 3), 7, 1.0)
    one = run_samples(conv_model, xs, workers=1)
    many = run_samples(conv_model, xs, workers=workers)
    assert len(many) == len(xs)
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a, b)
    # the samples differ, so a shuffled order could not pass the equality above
    assert not np.array_equal(one[0], one[1])


def test_no_samples_gives_no_outputs(conv_model):
    from ppocr_convert.chain.int8_stage import run_samples
    assert run_samples(conv_model, [], workers=2) == []

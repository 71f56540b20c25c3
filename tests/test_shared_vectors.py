"""Each repeated vector of an int8 TFLite written once (chain/shared_vectors.py): the file
shrinks, every buffer still holds its bytes, and inference is bit for bit what it was."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain.shared_vectors import with_shared_vectors
from tiny_tflite import conv_weights, normal_samples, to_tflite

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SHAPE = (1, 8, 8, 3)
C = 128


@pytest.fixture(scope="module")
def float_model() -> bytes:
    """Three 128-channel convolutions: their weights' and biases' zero-point vectors (128
    int64 zeros each) are equal, as in every per-channel int8 model; the two 3x3x128x128
    weights (147 kB each) make ai-edge-quantizer store buffers after the flatbuffer (it does
    from 256 kB of buffers of 1 kB or more)."""
    from ppocr_convert.inspect_model import import_tensorflow
    tf = import_tensorflow()
    w1, w2, w3 = conv_weights(3, (3, 3, 3, C), (3, 3, C, C), (3, 3, C, C), std=0.05)
    b = tf.constant(np.linspace(-0.2, 0.2, C, dtype=np.float32))

    def fn(x):
        y = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME") + b)
        y = tf.nn.relu(tf.nn.conv2d(y, w2, 1, "SAME") + b * 0.5)
        return tf.nn.conv2d(y, w3, 1, "SAME") - b
    return to_tflite(fn, SHAPE)


def _plain_int8(model: bytes, xs: list[np.ndarray]) -> bytes:
    """ai-edge-quantizer's own output, before Int8Quantizer shares its vectors."""
    from ppocr_convert.chain.quantize import Int8Quantizer, _quantize, build_recipe
    q = Int8Quantizer(model, xs, bias_correction=0)
    try:
        return _quantize(q._path.read_bytes(), build_recipe(), q.qsvs, q._tmp)
    finally:
        q.close()


def _buffers(model: bytes) -> list[bytes]:
    """Each buffer's bytes, read where the file keeps them (inside the flatbuffer, or at
    `offset`/`size` after it)."""
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    obj = fbu.convert_bytearray_to_object(bytearray(model))
    return [bytes(model[b.offset:b.offset + b.size]) if b.offset > 1
            else (b"" if b.data is None else bytes(np.asarray(b.data, np.uint8))) for b in obj.buffers]


def _external(model: bytes) -> int:
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    return sum(1 for b in fbu.convert_bytearray_to_object(bytearray(model)).buffers if b.offset > 1)


@pytest.fixture(scope="module")
def int8_pair(float_model):
    xs = normal_samples(SHAPE, 6, 1.0)
    plain = _plain_int8(float_model, xs)
    shared, saved = with_shared_vectors(plain)
    return plain, shared, saved, xs


def test_the_file_shrinks_by_what_it_shared(int8_pair):
    plain, shared, saved, _ = int8_pair
    # ai-edge-quantizer keeps weight buffers after the flatbuffer: the relocation is exercised
    assert _external(plain) > 0 and _external(shared) > 0
    # at least the zero points of two of the three weights and two of the three biases
    assert saved >= 4 * C * 8
    assert len(shared) < len(plain)
    # each vector not written again also drops its 4-byte length and alignment padding
    assert saved <= len(plain) - len(shared) <= 1.05 * saved + 64


def test_every_buffer_keeps_its_bytes(int8_pair):
    plain, shared, _, _ = int8_pair
    assert _buffers(shared) == _buffers(plain)


def test_inference_is_bit_identical(int8_pair):
    from ppocr_convert.chain.int8_stage import run_samples
    plain, shared, _, xs = int8_pair
    for a, b in zip(run_samples(plain, xs), run_samples(shared, xs)):
        assert np.array_equal(a, b)


def test_a_second_pass_finds_nothing_to_share(int8_pair):
    _, shared, _, _ = int8_pair
    assert with_shared_vectors(shared) == (shared, 0)


def test_the_quantizer_ships_shared_vectors(float_model):
    """Int8Quantizer.quantize returns the shared form and says what it saved: the stage's
    int8.json records it (`repeated_vector_bytes_written_once`)."""
    from ppocr_convert.chain.quantize import Int8Quantizer, build_recipe
    xs = normal_samples(SHAPE, 6, 1.0)
    q = Int8Quantizer(float_model, xs, bias_correction=0)
    try:
        model = q.quantize(build_recipe())
        assert q.shared_bytes(model) >= 4 * C * 8
        assert with_shared_vectors(model)[1] == 0
        assert q.shared_bytes(b"not a result") == 0
    finally:
        q.close()

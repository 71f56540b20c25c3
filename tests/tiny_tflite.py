"""Tiny float TFLite models for the int8 unit tests: converted for real by TensorFlow,
with the serving signature ai-edge-quantizer calibrates through."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ppocr_convert.chain.quantize import with_signature
from ppocr_convert.inspect_model import import_tensorflow


def to_tflite(fn: Callable, shape: tuple[int, ...]) -> bytes:
    """`fn` (TensorFlow ops on one float32 input of `shape`) as a .tflite with a signature."""
    tf = import_tensorflow()
    f = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32)])
    return with_signature(tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert())


def conv_weights(seed: int, *shapes: tuple[int, ...], std: float = 0.3) -> list:
    """Seeded normal filters as TensorFlow constants, one per shape."""
    tf = import_tensorflow()
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(0, std, s).astype(np.float32)) for s in shapes]

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


def all_int8(model: bytes, xs: list[np.ndarray], **rewrites: bool):
    """`model` quantized all-int8 as the stage does (no bias correction), with the given
    `Int8Quantizer` rewrite options: (int8 model, the quantizer, whose `*_rewritten` counts
    say what the rewrites found)."""
    from ppocr_convert.chain.quantize import Int8Quantizer, build_recipe
    q = Int8Quantizer(model, xs, bias_correction=0, **rewrites)
    try:
        return q.quantize(build_recipe()), q
    finally:
        q.close()


def mean_nmse(reference: bytes, model: bytes, xs: list[np.ndarray]) -> float:
    """`model`'s mean output NMSE against `reference` on `xs`."""
    from ppocr_convert.chain.int8_stage import run_samples
    from ppocr_convert.chain.sensitivity import nmse
    return float(np.mean([nmse(a, b) for a, b in zip(run_samples(reference, xs), run_samples(model, xs))]))

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


def op_names(model: bytes) -> list[str]:
    """The builtin name of every op of subgraph 0, in order."""
    from ppocr_convert.chain.sensitivity import graph_ops
    return [o.op for o in graph_ops(model)]


def normal_samples(shape: tuple[int, ...], n: int, scale: float, seed: int = 1) -> list[np.ndarray]:
    """`n` seeded float32 inputs of `shape`, normal with standard deviation `scale`."""
    rng = np.random.default_rng(seed)
    return [(scale * rng.standard_normal(shape)).astype(np.float32) for _ in range(n)]


def conv_weights(seed: int, *shapes: tuple[int, ...], std: float = 0.3) -> list:
    """Seeded normal filters as TensorFlow constants, one per shape."""
    tf = import_tensorflow()
    rng = np.random.default_rng(seed)
    return [tf.constant(rng.normal(0, std, s).astype(np.float32)) for s in shapes]


def all_int8(model: bytes, xs: list[np.ndarray], **rewrites: bool):
    """`model` quantized all-int8 as the stage does (no bias correction), with the rewrites
    switched on as the configs do (`rewrite_clip=True`): (int8 model, the quantizer, whose
    `rewritten` counts say what each rewrite found)."""
    from ppocr_convert.chain.quantize import Int8Quantizer, build_recipe
    q = Int8Quantizer(model, xs, bias_correction=0,
                      rewrites=[k.removeprefix("rewrite_") for k, on in rewrites.items() if on])
    try:
        return q.quantize(build_recipe()), q
    finally:
        q.close()


def mean_nmse(reference: bytes, model: bytes, xs: list[np.ndarray]) -> float:
    """`model`'s mean output NMSE against `reference` on `xs`."""
    from ppocr_convert.chain.int8_stage import run_samples
    from ppocr_convert.chain.sensitivity import nmse
    return float(np.mean([nmse(a, b) for a, b in zip(run_samples(reference, xs), run_samples(model, xs))]))


def assert_computes_the_same(reference: bytes, model: bytes, xs: list[np.ndarray]) -> None:
    """`model` reads every input of `xs` as `reference` does, to float rounding (1e-5 of the
    output's peak), and the outputs are not all near zero (something was compared)."""
    from ppocr_convert.chain.int8_stage import run_samples
    for a, b in zip(run_samples(reference, xs), run_samples(model, xs)):
        assert a.shape == b.shape
        assert np.abs(a).max() > 0.1
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5 * float(np.abs(a).max()))

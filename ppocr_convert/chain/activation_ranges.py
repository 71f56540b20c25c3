"""Activation ranges for int8 calibration: percentile clipping (`[int8]
activation_percentile`), a safety margin (`[int8] activation_range_margin`) and the model
input's range from its preprocessing (`with_input_range`).

ai-edge-quantizer calibrates each activation tensor to the min and max it saw. One int8
scale then spans the tensor's rarest extreme: on PP-OCRv5 mobile det the backbone's
hard-swish outputs reach 412 while 99.99 % of their values stay under 74, and most
channels span under 11 (a channel's median range). Min/max spends the 256 levels on the
outliers and rounds the common channels to a few steps; the depthwise convolutions after
them come out as noise (their int8 output's NMSE against fp32 reached 21).

Clipping each tensor's range to a central percentile of its calibration values keeps
the levels for the values that occur. Measured on the det gate pages (12 rendered pages,
175 lines, fp32 93.7 % line accuracy, all ops int8): min/max 78.3 %, 99.9 % 92.0 %,
99.99 % 93.1 %, 99.999 % 85.7 %. Rec is the counter-case: its SVTR attention needs its
outliers (all-int8 w320 bucket: min/max 75.0 %, 99.99 % 59.8 %), so only det's config
turns this on.

The model input keeps its min/max range: it is the pixel tensor an app feeds, and
clipping it would saturate real pixels.

The margin is the opposite trade, for int16 activations (rec's a16w8), where resolution
is cheap and clipping is not: every range is widened by a factor. The calibration crops
hold few lines as long as the w1280 bucket's, and longer lines drive activations past the
calibrated max. Rendered seed-3 lines routed to w1280 (150 lines, fp32 67.3 %, a16w8):
margin 1 60.0 %, margin 2 64.7 % (CER 8.05 vs fp32 8.17 %), margin 8 64.7 %. A factor of 2
costs one of the 16 bits.
"""
from __future__ import annotations

from typing import Any

import numpy as np

#: values kept per tensor per sample (a uniform random subset): enough for a 99.99th
#: percentile from 16 samples (32 values beyond it) at about 128 MB for det's 200 tensors
VALUES_PER_SAMPLE = 20_000
SAMPLES = 16


def percentile_range(values: np.ndarray, percentile: float) -> tuple[float, float]:
    """The central `percentile` range of `values` (both tails), widened to hold 0 (an
    int8 zero point must be exact)."""
    if not 50.0 < percentile <= 100.0:
        raise ValueError(f"activation percentile {percentile}: choose in (50, 100]")
    lo, hi = np.percentile(values, [100.0 - percentile, percentile])
    return min(float(lo), 0.0), max(float(hi), 0.0)


def tensor_samples(model: bytes, samples: list[np.ndarray], names: set[str],
                   per_sample: int = VALUES_PER_SAMPLE, seed: int = 0) -> dict[str, np.ndarray]:
    """Per tensor name: a seeded uniform subset of its float values over the samples
    (the fp32 model run with every tensor kept; one sample at a time)."""
    from .fp32_capture import capture
    return capture(model, samples, values_of=names, value_samples=len(samples), per_sample=per_sample,
                   seed=seed).value_subsets


def activation_tensors(model: bytes) -> set[str]:
    """Every op output of `model`: the tensors ai-edge-quantizer calibrates besides the
    graph inputs, known before calibration (so one fp32 pass can sample them together
    with bias correction's means)."""
    from .sensitivity import graph_ops
    return {t for op in graph_ops(model) for t in op.outputs}


def clipped_qsvs(qsvs: dict[str, Any], values: dict[str, np.ndarray], percentile: float,
                 keep: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """`qsvs` (ai-edge-quantizer's calibration result: tensor name → {"min", "max"} arrays)
    with each tensor's range replaced by the percentile range of its `values`. Tensors in
    `keep`, and tensors without values, keep the range they had."""
    out = {}
    for name, entry in qsvs.items():
        v = values.get(name)
        if name in keep or v is None or v.size == 0:
            out[name] = entry
            continue
        lo, hi = percentile_range(v, percentile)
        out[name] = {**entry, "min": np.full_like(entry["min"], lo), "max": np.full_like(entry["max"], hi)}
    return out


def widened_qsvs(qsvs: dict[str, Any], factor: float, keep: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """`qsvs` with every range but those of `keep` scaled by `factor` (>= 1) about zero."""
    if factor < 1.0:
        raise ValueError(f"activation range margin {factor}: at least 1")
    if factor == 1.0:
        return qsvs
    return {name: entry if name in keep else {**entry, "min": entry["min"] * np.float32(factor),
                                              "max": entry["max"] * np.float32(factor)}
            for name, entry in qsvs.items()}


#: ops that only move their input's values (PAD adds zeros, inside any input range): a model
#: input's range carries through them
_PASS_THROUGH = ("PAD", "RESHAPE")


def with_input_range(qsvs: dict, model: bytes, input_tensor: str, value_range: tuple[float, float]) -> dict:
    """`qsvs` with the model input's range (and that of the pass-through ops it feeds)
    widened to `value_range`, the values its preprocessing can produce.

    Why: calibration sets the input's range from the samples it saw, and real photos rarely
    hold pure white. PP-OCRv5 rec's calibration crops spanned -0.72..0.76 of the possible
    -1..1, so every brighter pixel of a deployed line was clipped in the input's QUANTIZE
    (rendered seed-3 lines at w320, a16w8: 28 of 283 lines read differently from fp32, 15
    with the full range)."""
    from .sensitivity import graph_ops
    names = {input_tensor} | {t for op in graph_ops(model) if input_tensor in op.inputs and op.op in _PASS_THROUGH
                              for t in op.outputs}
    out = dict(qsvs)
    lo, hi = value_range
    for name in names & set(qsvs):
        entry = qsvs[name]
        out[name] = {**entry, "min": np.minimum(entry["min"], np.float32(lo)).astype(np.asarray(entry["min"]).dtype),
                     "max": np.maximum(entry["max"], np.float32(hi)).astype(np.asarray(entry["max"]).dtype)}
    return out

"""One pass of the fp32 model over the calibration samples, every tensor kept, for the
two int8 steps that need float activations: bias correction (each weighted op's input
mean per channel) and percentile ranges (a value subset of each activation tensor).

Each took its own pass before, on the same first 16 samples; on PP-OCRv5 det at its
1024x1024 canvas one pass is about 24 s on 2 cores, so sharing it saves one.

The value subsets must not depend on what else is captured: the random generator draws
only for `values_of` tensors, in sorted name order, sample after sample (what
`activation_ranges.tensor_samples` always did), so ranges, and artifacts, stay the same.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Fp32Activations:
    #: per tensor name: its per-channel (last axis) mean over the first `mean_samples` samples
    channel_means: dict[str, np.ndarray] = field(default_factory=dict)
    #: per tensor name: a seeded uniform subset of its values over the first `value_samples`
    value_subsets: dict[str, np.ndarray] = field(default_factory=dict)


def capture(model: bytes, samples: list[np.ndarray], means_of: Iterable[str] = (), mean_samples: int = 0,
            values_of: Iterable[str] = (), value_samples: int = 0, per_sample: int = 20_000,
            seed: int = 0) -> Fp32Activations:
    """Run `model` (float) once per sample, up to the larger sample count, and collect both."""
    from .sensitivity import Capture
    rng = np.random.default_rng(seed)
    wanted_means = set(means_of) if mean_samples > 0 else set()
    wanted_values = sorted(set(values_of)) if value_samples > 0 else []
    means: dict[str, list[np.ndarray]] = {}
    values: dict[str, list[np.ndarray]] = {n: [] for n in wanted_values}
    runs = max(mean_samples if wanted_means else 0, value_samples if wanted_values else 0)
    for k, s in enumerate(samples[:runs]):
        run = Capture(model, s)
        if k < mean_samples:
            for n in wanted_means:
                a = run.get(n)
                if a is not None and a.ndim >= 1:
                    means.setdefault(n, []).append(a.reshape(-1, a.shape[-1]).astype(np.float64).mean(axis=0))
        if k < value_samples:
            for n in wanted_values:
                a = run.get(n)
                if a is None:
                    continue
                a = a.ravel()
                values[n].append(a[rng.integers(0, a.size, per_sample)] if a.size > per_sample else a.copy())
        del run
    return Fp32Activations({n: np.mean(v, axis=0) for n, v in means.items()},
                           {n: np.concatenate(v) for n, v in values.items() if v})

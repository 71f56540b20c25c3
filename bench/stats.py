"""Pure arithmetic on measurements: medians over repetitions, ours/plain ratios, ranges
and histogram differences. No I/O, so the tables built from them are unit-testable."""
from __future__ import annotations

import statistics
from collections.abc import Iterable


def median_of(values: Iterable[float | None]) -> float | None:
    """Median of the values that were measured; None when none were (a stage that did not
    run in any repetition, e.g. paddle2onnx with an ONNX source)."""
    measured = [float(v) for v in values if v is not None]
    return statistics.median(measured) if measured else None


def ratio(ours: float | None, plain: float | None) -> float | None:
    """ours / plain, or None when either side is missing (the plain way has no such step)
    or plain is zero."""
    if ours is None or plain is None or plain == 0:
        return None
    return ours / plain


def value_range(values: Iterable[float]) -> list[float]:
    """[min, max] of the repetitions, to judge noise next to a median."""
    vals = [float(v) for v in values]
    return [min(vals), max(vals)]


def hist_diff(ours: dict[str, int], plain: dict[str, int]) -> dict[str, int]:
    """Op count ours - plain for every op whose count differs, sorted by op name."""
    return {op: ours.get(op, 0) - plain.get(op, 0) for op in sorted(set(ours) | set(plain))
            if ours.get(op, 0) != plain.get(op, 0)}

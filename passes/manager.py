"""Run an explicit, ordered list of passes and report what each one did."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import onnx

from .attention_split_heads import AttentionSplitHeads
from .base import GraphPass, PassError
from .cleanup import Cleanup
from .concat_rank_fix import ConcatRankFix
from .gelu_decompose import GeluDecompose
from .hardsigmoid_decompose import HardSigmoidDecompose
from .hardswish_decompose import HardSwishDecompose
from .pin_shapes import PinShapes
from .reshape_to_squeeze import ReshapeToSqueeze
from .resize_asymmetric import ResizeAsymmetric
from .simplify import Simplify
from .squeeze_roundtrip import SqueezeRoundTrip

REGISTRY: dict[str, type[GraphPass]] = {
    cls.name: cls
    for cls in (ConcatRankFix, HardSigmoidDecompose, HardSwishDecompose, GeluDecompose, ResizeAsymmetric,
                PinShapes, ReshapeToSqueeze, SqueezeRoundTrip, AttentionSplitHeads, Simplify, Cleanup)
}


@dataclass
class PassReport:
    name: str
    modified: bool
    changes: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def available() -> list[str]:
    return sorted(REGISTRY)


def get(name: str) -> type[GraphPass]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise PassError(name, f"unknown pass (available: {', '.join(available())})") from None


def run_pipeline(
    model: onnx.ModelProto,
    names: list[str],
    options: dict[str, dict[str, Any]] | None = None,
) -> tuple[onnx.ModelProto, list[PassReport]]:
    """Run passes `names` in order; `options[name]` are that pass's keyword options.

    The caller's model is never modified. Any failure is a PassError naming the pass.
    """
    options = dict(options or {})
    passes = [get(n)() for n in names]  # resolve every name before running anything
    stray = sorted(set(options) - set(names))
    if stray:
        raise PassError(stray[0], f"options given for a pass not in the pipeline {names}")

    current = onnx.ModelProto()
    current.CopyFrom(model)
    reports = []
    for p in passes:
        start = time.perf_counter()
        try:
            result = p.run(current, **options.get(p.name, {}))
        except PassError:
            raise
        except Exception as e:  # GraphPass.run wraps already; this guards odd subclasses
            raise PassError(p.name, f"{type(e).__name__}: {e}") from e
        reports.append(PassReport(p.name, result.modified, result.changes, time.perf_counter() - start))
        current = result.model
    return current, reports

"""ONNX graph rewriting passes (model-agnostic: no PaddleOCR knowledge here).

    from ppocr_convert.passes import run_pipeline
    model, reports = run_pipeline(model, ["hardsigmoid_decompose", "pin_shapes", "cleanup"],
                                  {"pin_shapes": {"shapes": {"x": [1, 3, 640, 640]}}})
"""

from .base import GraphPass, PassError, PassResult
from .manager import REGISTRY, PassReport, available, run_pipeline

__all__ = ["GraphPass", "PassError", "PassResult", "PassReport", "REGISTRY", "available", "run_pipeline"]

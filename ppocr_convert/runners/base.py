"""One interface for every stage's model (Polygraphy-style runners).

Every runner takes NCHW float32 (the layout PaddleOCR models are defined in) and
returns outputs in the layout of the Paddle/ONNX model, so the OCR pipeline and the
parity harness never need to know which engine ran. A runner of a static-shape model
advertises that shape; the pipeline adapts its input to it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple  # ints, or None/str for dynamic dims (NCHW for inputs)
    dtype: str

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) and d > 0 for d in self.shape)


class Runner(ABC):
    """Runs one model file of one stage. `stage` is one of the fixed stage names."""

    stage: str
    path: Path

    @property
    @abstractmethod
    def input_spec(self) -> TensorSpec: ...

    @property
    def static_shape(self) -> tuple[int, int, int, int] | None:
        """NCHW shape the model only accepts, or None when H/W are free."""
        spec = self.input_spec
        return tuple(spec.shape) if spec.is_static else None

    @abstractmethod
    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """x: NCHW float32 batch. Returns the model's outputs (NCHW / ONNX layout)."""

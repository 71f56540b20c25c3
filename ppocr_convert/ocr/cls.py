"""Text-line orientation classifier (tools/infer/predict_cls.py + ClsPostProcess)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .rec import resize_norm


@dataclass(frozen=True)
class ClsParams:
    height: int = 48
    width: int = 192  # cls_image_shape 3,48,192: fixed width, aspect kept then zero-padded
    mean: float = 0.5
    std: float = 0.5
    labels: tuple[str, ...] = ("0", "180")
    thresh: float = 0.9  # rotate only when confidently upside down
    batch_size: int = 6


def preprocess_batch(crops: list[np.ndarray], params: ClsParams) -> np.ndarray:
    return np.stack([resize_norm(c, params.height, params.width, params.mean, params.std) for c in crops])


def decode(probs: np.ndarray, params: ClsParams) -> list[tuple[str, float]]:
    """[N, num_labels] probabilities -> (label, score) per crop."""
    probs = np.asarray(probs).reshape(len(probs), -1)
    idx = probs.argmax(axis=1)
    return [(params.labels[i], float(probs[n, i])) for n, i in enumerate(idx)]


def apply_orientation(crops: list[np.ndarray], results: list[tuple[str, float]], params: ClsParams) -> list[np.ndarray]:
    """Rotate by 180° the crops classified '180' with score > thresh; others unchanged."""
    out = []
    for crop, (label, score) in zip(crops, results):
        out.append(cv2.rotate(crop, cv2.ROTATE_180) if "180" in label and score > params.thresh else crop)
    return out

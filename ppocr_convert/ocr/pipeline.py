"""Reference OCR system (TextSystem in tools/infer/predict_system.py) over any Runner.

det -> sort boxes -> crop -> (cls) -> rec, with PaddleOCR's dynamic shapes unless a runner
declares fixed dims, in which case the pipeline feeds exactly those:
  * det with fixed H, W: the image is stretched to H x W (DetParams.static_hw);
  * rec with fixed W (and/or H): crops are resized into that width (RecParams.static_width);
  * fixed batch N (rec/cls): batches of N, the last one zero-padded and the padding dropped.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..runners.base import Runner
from . import cls as cls_ops
from . import det as det_ops
from . import rec as rec_ops
from .cls import ClsParams
from .det import DetParams
from .geometry import crop_rotated, sort_order
from .image_io import ImageLoadError, load_image
from .rec import RecParams

__all__ = ["OCRPipeline", "OCRResult", "OCRLine", "load_image", "ImageLoadError"]


@dataclass
class OCRLine:
    box: np.ndarray  # [4, 2] float32, tl/tr/br/bl in original image pixels
    det_score: float
    text: str
    confidence: float  # CTC mean max-probability of the kept steps
    angle: str | None = None  # cls label ('0'/'180') when a classifier ran

    def to_dict(self, ndigits: int = 4) -> dict:
        d = {
            "box": [[round(float(x), 1), round(float(y), 1)] for x, y in np.asarray(self.box).reshape(4, 2)],
            "det_score": round(float(self.det_score), ndigits),
            "text": self.text,
            "confidence": round(float(self.confidence), ndigits),
        }
        if self.angle is not None:
            d["angle"] = self.angle
        return d


@dataclass
class OCRResult:
    lines: list[OCRLine]
    det_prob_map: np.ndarray  # raw det output [1, 1, H', W'] at the det input resolution
    image_hw: tuple[int, int]
    det_input_hw: tuple[int, int]
    timing: dict[str, float] = field(default_factory=dict)  # seconds

    @property
    def texts(self) -> list[str]:
        return [line.text for line in self.lines]

    def to_dict(self, ndigits: int = 4) -> dict:
        return {
            "image_hw": list(self.image_hw),
            "det_input_hw": list(self.det_input_hw),
            "lines": [line.to_dict(ndigits) for line in self.lines],
            "timing_ms": {k: round(v * 1000.0, 2) for k, v in self.timing.items()},
        }


def _fixed(dim) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


class OCRPipeline:
    def __init__(
        self,
        det: Runner,
        rec: Runner | Sequence[Runner],
        charset: list[str],
        det_params: DetParams | None = None,
        rec_params: RecParams | None = None,
        cls: Runner | None = None,
        cls_params: ClsParams | None = None,
        drop_score: float = 0.0,  # PaddleOCR 3.x default; tools/infer used 0.5
    ):
        # several static-width rec models = width buckets (narrowest first)
        recs = sorted(rec, key=lambda r: r.input_spec.shape[3]) if isinstance(rec, (list, tuple)) else [rec]
        self.rec_buckets = recs if len(recs) > 1 else []
        rec = recs[0]
        self.det, self.rec, self.cls = det, rec, cls
        self.charset = list(charset)
        self.drop_score = drop_score
        self.det_params = self._adapt_det(det, det_params or DetParams())
        self.rec_params = self._adapt_rec(rec, rec_params or RecParams())
        self.cls_params = self._adapt_cls(cls, cls_params or ClsParams()) if cls is not None else None

    # --- shape adaptation: obey whatever the model file fixes -------------------------------
    @staticmethod
    def _adapt_det(runner: Runner, params: DetParams) -> DetParams:
        _, _, h, w = runner.input_spec.shape
        if _fixed(h) and _fixed(w):
            return dataclasses.replace(params, static_hw=(h, w))
        return params

    @staticmethod
    def _adapt_rec(runner: Runner, params: RecParams) -> RecParams:
        n, _, h, w = runner.input_spec.shape
        changes = {}
        if _fixed(h):
            changes["height"] = h
        if _fixed(w):
            changes["static_width"] = w
        if _fixed(n):
            changes["batch_size"] = n
        return dataclasses.replace(params, **changes)

    @staticmethod
    def _adapt_cls(runner: Runner, params: ClsParams) -> ClsParams:
        n, _, h, w = runner.input_spec.shape
        changes = {k: v for k, v in (("height", _fixed(h)), ("width", _fixed(w)), ("batch_size", _fixed(n))) if v}
        return dataclasses.replace(params, **changes)

    # --- stages ----------------------------------------------------------------------------
    def detect(self, img_bgr: np.ndarray) -> tuple[np.ndarray, list[float], np.ndarray, dict]:
        """(boxes [K,4,2] in reading order, scores, raw prob map, timing)."""
        t0 = time.perf_counter()
        x, shape_info = det_ops.preprocess(img_bgr, self.det_params)
        t1 = time.perf_counter()
        prob_map = self.det.run(x)[0]
        t2 = time.perf_counter()
        boxes, scores = det_ops.postprocess(prob_map, shape_info, self.det_params)
        order = sort_order(boxes)
        boxes, scores = boxes[order], [scores[i] for i in order]
        t3 = time.perf_counter()
        timing = {"det_pre": t1 - t0, "det_infer": t2 - t1, "det_post": t3 - t2}
        return boxes, scores, prob_map, timing

    def classify(self, crops: list[np.ndarray]) -> tuple[list[np.ndarray], list[tuple[str, float]], float]:
        """Orientation per crop; returns crops with confident '180' ones rotated."""
        params = self.cls_params
        results, infer = _batched(self.cls, crops, params.batch_size, ("0", 0.0),
                                  lambda batch: cls_ops.preprocess_batch(batch, params),
                                  lambda probs: cls_ops.decode(probs, params))
        return cls_ops.apply_orientation(crops, results, params), results, infer

    def recognize(self, crops: list[np.ndarray]) -> tuple[list[tuple[str, float]], float]:
        """(text, confidence) per crop, in input order; also the pure inference time."""
        if self.rec_buckets:
            return self._recognize_buckets(crops)
        params = self.rec_params
        return _batched(self.rec, crops, params.batch_size, ("", 0.0),
                        lambda batch: rec_ops.preprocess_batch(batch, params),
                        lambda probs: rec_ops.ctc_greedy_decode(probs, self.charset))

    def _recognize_buckets(self, crops: list[np.ndarray]) -> tuple[list[tuple[str, float]], float]:
        """Each line through the narrowest width bucket that holds it; longer lines in
        overlapping windows of the widest, stitched by CTC step."""
        widths = {int(r.input_spec.shape[3]): r for r in self.rec_buckets}
        widest = max(widths)
        results: list[tuple[str, float]] = []
        infer = 0.0
        for crop in crops:
            bucket = rec_ops.choose_bucket(rec_ops.needed_width(crop, self.rec_params.height), list(widths))
            t = time.perf_counter()
            if bucket is not None:
                runner = widths[bucket]
                x = rec_ops.preprocess_batch([crop], dataclasses.replace(self.rec_params, static_width=bucket))
                probs = _run_padded(runner, x, runner.input_spec.shape[0])
            else:
                runner = widths[widest]
                x, starts, total = rec_ops.window_inputs(crop, self.rec_params, widest, widest // 4)
                probs = np.concatenate([_run_padded(runner, x[i:i + 1], runner.input_spec.shape[0])
                                        for i in range(len(x))])
                probs = rec_ops.stitch_windows(probs, starts, widest, total)
            infer += time.perf_counter() - t
            results.append(rec_ops.ctc_greedy_decode(probs, self.charset)[0])
        return results, infer

    def run(self, img_bgr: np.ndarray) -> OCRResult:
        if img_bgr is None or img_bgr.ndim != 3 or img_bgr.shape[2] != 3 or img_bgr.dtype != np.uint8:
            raise ValueError("expected a BGR uint8 HxWx3 image (use load_image)")
        t_start = time.perf_counter()
        boxes, det_scores, prob_map, timing = self.detect(img_bgr)

        t = time.perf_counter()
        crops = [crop_rotated(img_bgr, box) for box in boxes]
        timing["crop"] = time.perf_counter() - t

        angles: list[str | None] = [None] * len(crops)
        if self.cls is not None and crops:
            t = time.perf_counter()
            crops, cls_results, cls_infer = self.classify(crops)
            angles = [label for label, _ in cls_results]
            timing["cls"], timing["cls_infer"] = time.perf_counter() - t, cls_infer

        t = time.perf_counter()
        rec_results, rec_infer = self.recognize(crops) if crops else ([], 0.0)
        timing["rec"], timing["rec_infer"] = time.perf_counter() - t, rec_infer

        lines = [
            OCRLine(box=box, det_score=score, text=text, confidence=conf, angle=angle)
            for box, score, (text, conf), angle in zip(boxes, det_scores, rec_results, angles)
            if conf >= self.drop_score
        ]
        timing["total"] = time.perf_counter() - t_start
        return OCRResult(
            lines=lines,
            det_prob_map=prob_map,
            image_hw=(int(img_bgr.shape[0]), int(img_bgr.shape[1])),
            det_input_hw=(int(prob_map.shape[-2]), int(prob_map.shape[-1])),
            timing=timing,
        )


def _batched(runner: Runner, crops: list[np.ndarray], batch_size: int, empty, preprocess, decode):
    """PaddleOCR's batching for cls and rec: crops grouped by aspect ratio, each batch
    preprocessed, run (padded to a fixed batch dim) and decoded back into input order.
    Returns (results, pure inference seconds)."""
    results = [empty] * len(crops)
    infer = 0.0
    for idx_batch in _aspect_batches(crops, batch_size):
        x = preprocess([crops[i] for i in idx_batch])
        t = time.perf_counter()
        probs = _run_padded(runner, x, runner.input_spec.shape[0])
        infer += time.perf_counter() - t
        for i, res in zip(idx_batch, decode(probs)):
            results[i] = res
    return results, infer


def _aspect_batches(crops: list[np.ndarray], batch_size: int) -> list[list[int]]:
    """PaddleOCR sorts crops by width/height so each batch pads little (np.argsort, as upstream)."""
    ratios = np.array([c.shape[1] / float(c.shape[0]) for c in crops])
    order = [int(i) for i in np.argsort(ratios)]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _run_padded(runner: Runner, x: np.ndarray, batch_dim) -> np.ndarray:
    """Run one batch; a model with a fixed batch dim gets zero-padded to it."""
    n = len(x)
    fixed = _fixed(batch_dim)
    if fixed and n < fixed:
        x = np.concatenate([x, np.zeros((fixed - n,) + x.shape[1:], dtype=x.dtype)])
    return runner.run(x)[0][:n]

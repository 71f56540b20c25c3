"""The per-image unit of a parity run: the reference and every stage on one image.

An `ImageWorker` opens every stage's models once (one intra-op thread each, so that N
workers on N cores do not oversubscribe, and so that the numbers do not depend on how
many workers ran: any --workers and any engine give identical per-image results) and
then takes images one at a time. Per image it holds the reference's same-input outputs
(det map, rec logits per line crop) only while that image's stages are compared with
them, so nothing grows with the number of images.

What an image yields is the same as the stage-by-stage harness gave: the reference's
lines and ground-truth scores, per stage the same-input statistics, the deployed
pipeline's lines and comparisons, and the static-shape strategies on the dynamic weights.
An image the pipeline cannot read is skipped with the reader's message; an image any
stage crashes on is skipped with the crash (the gate fails on those).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import model_params
from ..ocr import OCRPipeline, load_image
from ..ocr.det import preprocess as det_preprocess
from ..ocr.geometry import crop_rotated
from ..ocr.rec import choose_bucket, ctc_greedy_decode, needed_width, preprocess_batch
from ..runners import Runner, open_runner
from .gate import CRASH_PREFIX
from .heatmap import heatmap_thumbnail
from .metrics import argmax_agreement, binary_agreement, compare_lines, tensor_stats
from .pipelines import PipelineConfig
from .records import from_jsonable, to_jsonable
from .report_schema import (
    DetTensorStats,
    ImageEntry,
    ImageReference,
    LineComparison,
    RecTensorStats,
    SameInputImage,
    StageImageResult,
    StrategyImageResult,
    TextPair,
)
from .result_store import ImageResult

# intra-op threads of every model in a worker; part of the result cache's recipe
WORKER_THREADS = 1


@dataclass
class StageModels:
    stage: str
    det: Path
    rec: Path | list[Path]  # several static-width rec models = width buckets


@dataclass
class WorkSpec:
    """Everything a worker needs, picklable (sent to spawned processes and Ray actors)."""
    pipe: PipelineConfig
    stage_models: dict[str, StageModels]  # "paddle" and every target
    targets: list[str]
    strategy_stage: str | None  # where the static-shape strategies run (None: not at all)
    threads: int = WORKER_THREADS


@dataclass
class ImageTask:
    index: int
    path: Path
    gt_lines: list[dict] | None  # ground truth of this image (None: no --labels)


@dataclass
class StageRunners:
    """One stage's open inference sessions."""
    det: Runner
    rec: Runner | list[Runner]  # a list: the static width buckets

    @classmethod
    def open(cls, models: StageModels, threads: int | None = None) -> StageRunners:
        rec = models.rec
        return cls(open_runner(models.det, models.stage, threads=threads),
                   [open_runner(p, models.stage, threads=threads) for p in rec] if isinstance(rec, list)
                   else open_runner(rec, models.stage, threads=threads))


def failure_reason(path: Path, e: Exception) -> str:
    return f"{path.name}: {CRASH_PREFIX}: {e.__class__.__name__}: {e}"[:500]


class ImageWorker:
    """Holds every stage's sessions; `process(task)` runs one image through all of them."""

    def __init__(self, spec: WorkSpec):
        self.spec = spec
        pipe = spec.pipe
        det_cfg, rec_cfg = pipe.det_config, pipe.rec_config
        self.charset = model_params.charset(rec_cfg)
        self.dparams, self.rparams = model_params.det_params(det_cfg), model_params.rec_params(rec_cfg)
        self.static_hw = tuple(det_cfg.shape[2:])
        self.widths = list(rec_cfg.raw.get("widths") or [rec_cfg.shape[3]])
        self.runners = {s: StageRunners.open(spec.stage_models[s], spec.threads) for s in ["paddle", *spec.targets]}
        self.ocrs = {s: OCRPipeline(r.det, r.rec, self.charset, self.dparams, self.rparams,
                                    drop_score=pipe.drop_score) for s, r in self.runners.items()}
        self.strategies: dict[str, OCRPipeline] = {}
        if spec.strategy_stage is not None:
            from .harness import static_strategies
            r = self.runners[spec.strategy_stage]
            self.strategies = static_strategies(r.det, r.rec, det_cfg, self.widths, self.charset, self.dparams,
                                                self.rparams, pipe.drop_score)

    def close(self) -> None:
        self.runners.clear()
        self.ocrs.clear()
        self.strategies.clear()

    def same_inputs(self, img: np.ndarray, boxes: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """The deployed det tensor, and the reference's line crops each at the width bucket
        the deployed pipeline would pick (squashed into the widest if longer)."""
        x_det, _ = det_preprocess(img, dataclasses.replace(self.dparams, static_hw=self.static_hw))
        crops = [crop_rotated(img, b) for b in boxes]
        crop_widths = [choose_bucket(needed_width(c, self.rparams.height), self.widths) or max(self.widths)
                       for c in crops]
        x_rec = [preprocess_batch([c], dataclasses.replace(self.rparams, static_width=w))
                 for c, w in zip(crops, crop_widths)]
        return x_det, x_rec

    def process(self, task: ImageTask) -> ImageResult:
        path = Path(task.path)
        try:
            img = load_image(path)
        except ValueError as e:
            return ImageResult(task.index, path.name, skipped=str(e))
        try:
            entry, heatmaps = self._image(img, task.gt_lines)
        except Exception as e:  # one image the pipeline cannot take must not sink the whole run
            return ImageResult(task.index, path.name, skipped=failure_reason(path, e))
        return ImageResult(task.index, path.name, entry=to_jsonable(entry), heatmaps=heatmaps)

    def _image(self, img: np.ndarray, gt_lines: list[dict] | None) -> tuple[ImageEntry, dict[str, bytes]]:
        spec = self.spec
        runners, ocr = self.runners["paddle"], self.ocrs["paddle"]
        ref_result = ocr.run(img)
        ref_lines = [line.to_dict() for line in ref_result.lines]
        entry = ImageEntry(
            image_hw=list(img.shape[:2]), stages={},
            reference=ImageReference(ref_lines, list(ref_result.det_input_hw),
                                     _compare(gt_lines, ref_lines) if gt_lines is not None else None),
            ground_truth=gt_lines)
        boxes = [line.box for line in ref_result.lines]
        x_det, x_rec = self.same_inputs(img, boxes)
        ref_det = runners.det.run(x_det)[0]
        ref_rec = [_rec_runner(runners.rec, x.shape[3]).run(x)[0] for x in x_rec]
        ref_texts = [ctc_greedy_decode(r, self.charset)[0][0] for r in ref_rec]
        if spec.strategy_stage == "paddle":
            self._strategies(entry, img, ref_lines, gt_lines)
        heatmaps: dict[str, bytes] = {}
        for stage in spec.targets:
            runners, ocr = self.runners[stage], self.ocrs[stage]
            cand_det = runners.det.run(x_det)[0]
            cand_rec = [_rec_runner(runners.rec, x.shape[3]).run(x)[0] for x in x_rec]
            cand_texts = [ctc_greedy_decode(r, self.charset)[0][0] for r in cand_rec]
            same = SameInputImage(
                det=DetTensorStats(**tensor_stats(ref_det, cand_det),
                                   binary_agreement=binary_agreement(ref_det, cand_det, self.dparams.thresh)),
                rec=(RecTensorStats(**tensor_stats(_flat(ref_rec), _flat(cand_rec)),
                                    argmax_agreement=argmax_agreement(_flat(ref_rec), _flat(cand_rec)))
                     if ref_rec else None),
                lines=len(ref_texts),
                same_text_lines=sum(a == b for a, b in zip(ref_texts, cand_texts)),
                texts=[TextPair(a, b) for a, b in zip(ref_texts, cand_texts) if a != b])
            heatmaps[stage] = _png(heatmap_thumbnail(np.abs(ref_det - cand_det)[0, 0]))
            del cand_det, cand_rec
            t0 = time.perf_counter()
            result = ocr.run(img)
            cand_lines = [line.to_dict() for line in result.lines]
            seconds = round(time.perf_counter() - t0, 3)
            entry.stages[stage] = StageImageResult(
                same_input=same, lines=cand_lines, det_input_hw=list(result.det_input_hw),
                pipeline=_compare(ref_lines, cand_lines),
                ground_truth=_compare(gt_lines, cand_lines) if gt_lines is not None else None,
                seconds=seconds)
            if spec.strategy_stage == stage:
                self._strategies(entry, img, ref_lines, gt_lines)
        return entry, heatmaps

    def _strategies(self, entry: ImageEntry, img: np.ndarray, ref_lines: list[dict],
                    gt_lines: list[dict] | None) -> None:
        for name, s in self.strategies.items():
            lines = [line.to_dict() for line in s.run(img).lines]
            entry.strategies[name] = StrategyImageResult(lines, _compare(ref_lines, lines),
                                                         _compare(gt_lines, lines) if gt_lines is not None else None)


def _compare(ref_lines: list[dict], cand_lines: list[dict]) -> LineComparison:
    return from_jsonable(LineComparison, compare_lines(ref_lines, cand_lines))


def _png(thumbnail: np.ndarray) -> bytes:
    import cv2
    ok, buf = cv2.imencode(".png", thumbnail)
    if not ok:
        raise ValueError("could not encode the det-difference heat map")
    return buf.tobytes()


def _rec_runner(runner, width: int):
    """The bucket runner of that width (a dynamic or single runner takes any width)."""
    if isinstance(runner, list):
        return next(r for r in runner if r.input_spec.shape[3] == width)
    return runner


def _flat(outputs: list[np.ndarray]) -> np.ndarray:
    """Rec outputs of different widths have different step counts: flatten steps."""
    return np.concatenate([o.reshape(-1, o.shape[-1]) for o in outputs])

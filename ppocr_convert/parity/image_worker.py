"""The per-image unit of a parity run: the reference and every stage on each image.

An `ImageWorker` takes a chunk of images and runs it stage by stage: the reference's
sessions are opened, every image of the chunk goes through them, they are closed, then the
next stage's are opened. Every model gets one intra-op thread, so that N workers on N cores
do not oversubscribe and the numbers do not depend on how many workers ran: any --workers,
any chunk size and any engine give identical per-image results. Per image it holds the
reference's same-input outputs (det map, rec logits per line crop) only until its chunk is
done, so nothing grows with the number of images.

What an image yields: the reference's lines and ground-truth scores, per stage the
same-input statistics, the deployed pipeline's lines and comparisons, and the static-shape
strategies on the dynamic weights. An image the pipeline cannot read is skipped with the
reader's message; an image any stage crashes on is skipped with the crash (the gate fails
on those).
"""
from __future__ import annotations

import dataclasses
import tempfile
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
from .metrics import PairedStats, binary_agreement, compare_lines, tensor_stats
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
    """Runs chunks of images stage by stage: `process_chunk(tasks)` opens the reference's
    sessions, runs every image of the chunk through them, closes them, then does the same
    for each target in turn. Only one stage's sessions are open at any time (on 12 PP-OCRv5
    photos a worker peaked at 1.2 GB; with every stage open at once and whole-image logit
    comparisons, 2.9 GB), and opening a stage (0.1-0.3 s) is paid once per chunk, not per image."""

    def __init__(self, spec: WorkSpec):
        self.spec = spec
        pipe = spec.pipe
        det_cfg, rec_cfg = pipe.det_config, pipe.rec_config
        self.charset = model_params.charset(rec_cfg)
        self.dparams, self.rparams = model_params.det_params(det_cfg), model_params.rec_params(rec_cfg)
        self.static_hw = tuple(det_cfg.shape[2:])
        self.widths = list(rec_cfg.raw.get("widths") or [rec_cfg.shape[3]])

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

    def process_chunk(self, tasks: list[ImageTask]) -> list[ImageResult]:
        """One result per task, in task order. An image the reader rejects is skipped with its
        message; an image a stage crashes on is skipped with the crash and not run further."""
        items: list[_InFlight] = []
        for task in tasks:
            path = Path(task.path)
            try:
                items.append(_InFlight(task, load_image(path)))
            except ValueError as e:
                items.append(_InFlight(task, None, skipped=str(e)))
        # the reference's rec logits wait on disk for the targets (one image's can be hundreds
        # of MB: lines x steps x 18,385 classes); the det map and the inputs stay in memory
        with tempfile.TemporaryDirectory(prefix="ppocr-parity-") as spill:
            for stage in ["paddle", *self.spec.targets]:
                live = [it for it in items if it.skipped is None]
                if not live:
                    break
                runners = StageRunners.open(self.spec.stage_models[stage], self.spec.threads)
                ocr = self._pipeline(runners)
                strategies = self._strategies_on(runners) if self.spec.strategy_stage == stage else {}
                for it in live:
                    try:
                        if stage == "paddle":
                            self._reference(it, runners, ocr, Path(spill) / f"{it.task.index}.npz")
                        else:
                            self._stage(it, stage, runners, ocr)
                        self._strategies(it, strategies)
                    except Exception as e:  # one image the pipeline cannot take must not sink the whole run
                        it.skipped = failure_reason(Path(it.task.path), e)
                del runners, ocr, strategies  # this stage's sessions go before the next stage's open
        return [it.result() for it in items]

    def _pipeline(self, runners: StageRunners) -> OCRPipeline:
        return OCRPipeline(runners.det, runners.rec, self.charset, self.dparams, self.rparams,
                           drop_score=self.spec.pipe.drop_score)

    def _strategies_on(self, runners: StageRunners) -> dict[str, OCRPipeline]:
        from .harness import static_strategies
        assert not isinstance(runners.rec, list), "the static-shape strategies need a dynamic-width rec"
        return static_strategies(runners.det, runners.rec, self.spec.pipe.det_config, self.widths, self.charset,
                                 self.dparams, self.rparams, self.spec.pipe.drop_score)

    def _reference(self, it: _InFlight, runners: StageRunners, ocr: OCRPipeline, spill: Path) -> None:
        """The reference's own reading, then its outputs on the same inputs every target
        gets, kept until the chunk is done (the rec logits in `spill`)."""
        img = it.img
        assert img is not None
        gt_lines = it.task.gt_lines
        ref_result = ocr.run(img)
        it.ref_lines = [line.to_dict() for line in ref_result.lines]
        it.entry = ImageEntry(
            image_hw=list(img.shape[:2]), stages={},
            reference=ImageReference(it.ref_lines, list(ref_result.det_input_hw),
                                     _compare(gt_lines, it.ref_lines) if gt_lines is not None else None),
            ground_truth=gt_lines)
        it.x_det, it.x_rec = self.same_inputs(img, [line.box for line in ref_result.lines])
        it.ref_det = runners.det.run(it.x_det)[0]
        ref_rec = []
        for x in it.x_rec:
            ref_rec.append(_rec_runner(runners.rec, x.shape[3]).run(x)[0])
            it.ref_texts.append(ctc_greedy_decode(ref_rec[-1], self.charset)[0][0])
        np.savez(spill, *ref_rec)
        it.ref_rec = spill

    def _stage(self, it: _InFlight, stage: str, runners: StageRunners, ocr: OCRPipeline) -> None:
        img, gt_lines, entry = it.img, it.task.gt_lines, it.entry
        assert img is not None and entry is not None and it.ref_det is not None
        cand_det = runners.det.run(it.x_det)[0]
        ref_det, ref_texts = it.ref_det, it.ref_texts
        rec_stats, cand_texts = PairedStats(), []
        with np.load(it.ref_rec) as ref_rec:  # line by line: one line's logits in memory at a time
            for i, x in enumerate(it.x_rec):
                cand = _rec_runner(runners.rec, x.shape[3]).run(x)[0]
                cand_texts.append(ctc_greedy_decode(cand, self.charset)[0][0])
                rec_stats.add(ref_rec[f"arr_{i}"], cand)
                del cand
        same = SameInputImage(
            det=DetTensorStats(**tensor_stats(ref_det, cand_det),
                               binary_agreement=binary_agreement(ref_det, cand_det, self.dparams.thresh)),
            rec=(RecTensorStats(**rec_stats.tensor_stats(), argmax_agreement=rec_stats.argmax_agreement())
                 if it.x_rec else None),
            lines=len(ref_texts),
            same_text_lines=sum(a == b for a, b in zip(ref_texts, cand_texts)),
            texts=[TextPair(a, b) for a, b in zip(ref_texts, cand_texts) if a != b])
        it.heatmaps[stage] = _png(heatmap_thumbnail(np.abs(ref_det - cand_det)[0, 0]))
        del cand_det
        t0 = time.perf_counter()
        result = ocr.run(img)
        cand_lines = [line.to_dict() for line in result.lines]
        seconds = round(time.perf_counter() - t0, 3)
        entry.stages[stage] = StageImageResult(
            same_input=same, lines=cand_lines, det_input_hw=list(result.det_input_hw),
            pipeline=_compare(it.ref_lines, cand_lines),
            ground_truth=_compare(gt_lines, cand_lines) if gt_lines is not None else None,
            seconds=seconds)

    def _strategies(self, it: _InFlight, strategies: dict[str, OCRPipeline]) -> None:
        entry, gt_lines = it.entry, it.task.gt_lines
        assert it.img is not None and entry is not None
        for name, s in strategies.items():
            lines = [line.to_dict() for line in s.run(it.img).lines]
            entry.strategies[name] = StrategyImageResult(lines, _compare(it.ref_lines, lines),
                                                         _compare(gt_lines, lines) if gt_lines is not None else None)


@dataclass
class _InFlight:
    """One image of a chunk between stages: the photo, the reference's same-input outputs
    every target is compared with, and the entry being filled in."""
    task: ImageTask
    img: np.ndarray | None
    skipped: str | None = None
    entry: ImageEntry | None = None
    ref_lines: list[dict] = dataclasses.field(default_factory=list)
    x_det: np.ndarray | None = None
    x_rec: list[np.ndarray] = dataclasses.field(default_factory=list)
    ref_det: np.ndarray | None = None
    ref_rec: Path | None = None  # an .npz of the reference's rec logits, one array per line crop
    ref_texts: list[str] = dataclasses.field(default_factory=list)
    heatmaps: dict[str, bytes] = dataclasses.field(default_factory=dict)

    def result(self) -> ImageResult:
        name = Path(self.task.path).name
        if self.skipped is not None or self.entry is None:
            return ImageResult(self.task.index, name, skipped=self.skipped)
        return ImageResult(self.task.index, name, entry=to_jsonable(self.entry), heatmaps=self.heatmaps)


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

"""Parity harness: the same reference DBNet + CTC pipeline on every stage's models.

Two views, both against the `paddle` reference:
1. same-input: identical tensors into every stage — what conversion itself changed;
2. pipeline: every stage run as it would be deployed (its own static shape) on the
   images — what static shapes and FP16 cost the user.

The result is a typed `ParityReport` (report_schema.py), judged by gate.py.
"""
from __future__ import annotations

import dataclasses
import gc
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import model_params
from ..chain.conversion import ConvertOptions, convert
from ..config import TARGETS, ModelConfig
from ..errors import ConfigError, ParityError
from ..ocr import OCRPipeline, load_image
from ..ocr.det import preprocess as det_preprocess
from ..ocr.geometry import crop_rotated
from ..ocr.rec import choose_bucket, ctc_greedy_decode, needed_width, preprocess_batch
from ..reference import reference_dir
from ..runners import Runner, open_runner
from .gate import CRASH_PREFIX, apply_gate, validate_tolerances
from .heatmap import heatmap_thumbnail
from ..memory import RssSampler
from .metrics import aggregate_lines, argmax_agreement, binary_agreement, compare_lines, tensor_stats
from .pipelines import PipelineConfig
from .records import from_jsonable
from .report_schema import (
    DeployedRecipe,
    DetTensorStats,
    GroundTruthSummary,
    ImageEntry,
    ImageReference,
    LineAggregate,
    LineComparison,
    ParityReport,
    RecTensorStats,
    ReferenceInfo,
    SameInputImage,
    SameInputSummary,
    SkippedImage,
    StageImageResult,
    StageSummary,
    StrategyImageResult,
    StrategySummary,
    TextPair,
)

ProgressFn = Callable[[str, str], None]


@dataclass
class StageModels:
    stage: str
    det: Path
    rec: Path | list[Path]  # several static-width rec models = width buckets


@dataclass
class ParityRun:
    result: ParityReport
    # (image, stage) → BGR thumbnail of |Δ det prob| on the same input (heatmap.py)
    det_heatmaps: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    peak_rss_mb: float | None = None  # this process and its children while the run lasted

    @property
    def report(self) -> dict:
        """report.json's content (a fresh dict on each access), for readers of the JSON shape."""
        return self.result.to_dict()


def build_stage_models(pipe: PipelineConfig, targets: list[str], work_dir: Path, cache_dir: Path | None,
                       progress: ProgressFn) -> tuple[dict[str, StageModels], dict]:
    det_cfg, rec_cfg = pipe.det_config, pipe.rec_config
    convs = {}
    for cfg in (det_cfg, rec_cfg):
        progress("convert", cfg.name)
        convs[cfg.name] = convert(cfg, ConvertOptions(targets=[t for t in targets], out_dir=work_dir / "artifacts",
                                                      cache_dir=cache_dir), progress)
    progress("reference", "Paddle reference models")
    det_ref, det_prov = reference_dir(det_cfg, cache_dir=cache_dir)
    rec_ref, rec_prov = reference_dir(rec_cfg, cache_dir=cache_dir)
    models = {"paddle": StageModels("paddle", det_ref, rec_ref)}
    for t in targets:
        models[t] = StageModels(t, *(artifact_paths(convs[cfg.name], t) for cfg in (det_cfg, rec_cfg)))
    provenance = {"det": det_prov, "rec": rec_prov,
                  "artifacts": {name: {t: {"sha256": m["sha256"], "bytes": m["bytes"]}
                                       for t, m in r.manifests.items()} for name, r in convs.items()}}
    if "tflite-int8" in targets:  # report.html's INT8 section: gate, kept blocks, sensitivity
        from .int8_view import int8_summary
        provenance["int8"] = {name: int8_summary(r.manifests["tflite-int8"].get("int8", []))
                              for name, r in convs.items()}
    return models, provenance


def artifact_paths(result, target: str) -> Path | list[Path]:
    """The model file of a target, or its width buckets' files."""
    m, d = result.manifests[target], result.artifact_dirs[target]
    if m.get("buckets"):
        return [d / b["file"] for b in m["buckets"]]
    return d / m["file"]


class ReferenceOutputs:
    """The reference's same-input outputs (det map, rec logits per line crop), spilled to
    disk under the work dir: every later stage is compared with them, and rec logits alone
    are ~3-12 MB a line (18385 classes), far too much to hold for a whole image set."""

    def __init__(self, work_dir: Path):
        work_dir.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(dir=work_dir, prefix="reference-outputs-"))

    def _path(self, index: int) -> Path:
        return self.dir / f"{index}.npz"

    def save(self, index: int, det: np.ndarray, rec: list[np.ndarray]) -> None:
        np.savez(self._path(index), det=det, **{f"rec{i}": r for i, r in enumerate(rec)})

    def load(self, index: int) -> tuple[np.ndarray, list[np.ndarray]]:
        with np.load(self._path(index)) as z:
            n_rec = sum(k.startswith("rec") for k in z.files)
            return z["det"], [z[f"rec{i}"] for i in range(n_rec)]

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class StageRunners:
    """One stage's open inference sessions. Held for one pass over the images, then
    dropped: sessions of several stages open at once cost gigabytes (release peaked at
    9.7 GB when all stages' sessions were held together)."""
    det: Runner
    rec: Runner | list[Runner]  # a list: the static width buckets

    @classmethod
    def open(cls, models: StageModels) -> StageRunners:
        rec = models.rec
        return cls(open_runner(models.det, models.stage),
                   [open_runner(p, models.stage) for p in rec] if isinstance(rec, list)
                   else open_runner(rec, models.stage))


@dataclass
class _Image:
    """What the reference pass leaves for the stage passes of one image."""
    index: int
    path: Path
    ref_boxes: list[np.ndarray]  # unrounded, to cut exactly the crops the reference read
    ref_texts: list[str]  # the reference's same-input decodes of those crops
    gt_lines: list[dict] | None


@dataclass
class _Context:
    """Everything a pass needs that does not change between stages."""
    pipe: PipelineConfig
    charset: list[str]
    dparams: object
    rparams: object
    static_hw: tuple[int, int]
    widths: list[int]
    progress: ProgressFn

    def ocr(self, runners: StageRunners) -> OCRPipeline:
        return OCRPipeline(runners.det, runners.rec, self.charset, self.dparams, self.rparams,
                           drop_score=self.pipe.drop_score)

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


def _failure_reason(path: Path, e: Exception) -> str:
    return f"{path.name}: {CRASH_PREFIX}: {e.__class__.__name__}: {e}"[:500]


def run_parity(pipe: PipelineConfig, images: list[Path], targets: list[str], work_dir: Path,
               cache_dir: Path | None = None, progress: ProgressFn = lambda s, m: None,
               stage_models: dict[str, StageModels] | None = None, labels: dict | None = None,
               with_strategies: bool = True) -> ParityRun:
    """`labels`: optional ground truth {image name: [{"text", "box"}]}; every stage (and the
    reference) is then also scored against it.

    Stage by stage: the reference runs on every image first (its same-input outputs go to
    disk), then each target stage opens its models, runs every image and is closed before
    the next one opens, so at most one stage's sessions are in memory at a time."""
    for t in targets:
        if t not in TARGETS:
            raise ConfigError(f"unknown target {t!r}", hint=f"choose from {', '.join(TARGETS)}")
    validate_tolerances(pipe.tolerances)
    det_cfg, rec_cfg = pipe.det_config, pipe.rec_config
    provenance: dict = {}
    with RssSampler() as rss:
        if stage_models is None:
            stage_models, provenance = build_stage_models(pipe, targets, work_dir, cache_dir, progress)
        dparams, rparams = model_params.det_params(det_cfg), model_params.rec_params(rec_cfg)
        ctx = _Context(pipe, model_params.charset(rec_cfg), dparams, rparams, tuple(det_cfg.shape[2:]),
                       list(rec_cfg.raw.get("widths") or [rec_cfg.shape[3]]), progress)
        # the static-shape strategies on dynamic weights (plain recipe, deployed det + one rec
        # width, ...) cost three more pipeline runs per image; a benchmark may skip them. They
        # run on onnx-raw if converted, else on the reference, during that stage's pass.
        strategy_stage = ("onnx-raw" if "onnx-raw" in targets else "paddle") if with_strategies else None
        ref_outputs = ReferenceOutputs(Path(work_dir))
        try:
            per_image, kept, skipped, strategy_names = _reference_pass(
                ctx, stage_models["paddle"], images, labels, ref_outputs, strategy_stage == "paddle")
            heatmaps: dict[tuple[str, str], np.ndarray] = {}
            for stage in targets:
                gc.collect()  # the previous stage's sessions are unreferenced now: free them before opening more
                strategy_names += _stage_pass(ctx, stage_models[stage], per_image, kept, skipped, ref_outputs,
                                              heatmaps, with_strategies=strategy_stage == stage)
            gc.collect()
        finally:
            ref_outputs.remove()

    if images and not per_image:
        raise ParityError(f"none of the {len(images)} images could be scored; first: {skipped[0].reason}",
                          hint="pass a directory of readable photos (.jpg/.png)")
    summary = {s: summarise_stage(s, per_image) for s in targets}
    report = ParityReport(
        pipeline=pipe.name,
        models={"det": det_cfg.name, "rec": rec_cfg.name},
        reference=ReferenceInfo(
            stage="paddle",
            det_resize={k: det_cfg.preprocess.get(k) for k in ("limit_side_len", "limit_type", "max_side_limit")},
            rec_height=rparams.height, rec_min_width=rparams.width, drop_score=pipe.drop_score, models=provenance,
            ground_truth=(ground_truth_summary([e.reference.ground_truth for e in per_image.values()])
                          if labels is not None else None)),
        deployed=DeployedRecipe(list(ctx.static_hw), dparams.resize_mode, dparams.upscale, dparams.pad_value,
                                ctx.widths[0], ctx.widths),
        labels=labels is not None,
        # static-shape recipes on the same (dynamic) weights, to show what each recipe costs
        strategies={name: strategy_summary(name, per_image) for name in strategy_names},
        targets=list(targets),
        images=list(per_image),
        skipped_images=skipped,
        stages=summary,
        failures=[],
        per_image=per_image,
    )
    apply_gate(report, pipe.tolerances)
    return ParityRun(report, heatmaps, rss.peak_mb)


def _reference_pass(ctx: _Context, models: StageModels, images: list[Path], labels: dict | None,
                    ref_outputs: ReferenceOutputs, with_strategies: bool):
    """The reference on every image: its lines, its same-input outputs (to disk), and the
    ground-truth scores; returns (per_image, kept images, skipped, strategy names)."""
    runners = StageRunners.open(models)
    ocr = ctx.ocr(runners)
    strategies = _strategies(ctx, runners) if with_strategies else {}
    per_image: dict[str, ImageEntry] = {}
    kept: dict[str, _Image] = {}
    skipped: list[SkippedImage] = []
    for n, path in enumerate(images):
        ctx.progress("images", f"paddle {n + 1}/{len(images)} {path.name}")
        try:
            img = load_image(path)
        except ValueError as e:
            skipped.append(SkippedImage(path.name, str(e)))
            continue
        try:
            ref_result = ocr.run(img)
            ref_lines = [line.to_dict() for line in ref_result.lines]
            gt_lines = labels.get(path.name, []) if labels is not None else None
            entry = ImageEntry(
                image_hw=list(img.shape[:2]), stages={},
                reference=ImageReference(ref_lines, list(ref_result.det_input_hw),
                                         _compare(gt_lines, ref_lines) if gt_lines is not None else None),
                ground_truth=gt_lines)
            boxes = [line.box for line in ref_result.lines]
            x_det, x_rec = ctx.same_inputs(img, boxes)
            ref_det = runners.det.run(x_det)[0]
            ref_rec = [_rec_runner(runners.rec, x.shape[3]).run(x)[0] for x in x_rec]
            ref_outputs.save(n, ref_det, ref_rec)
            ref_texts = [ctc_greedy_decode(r, ctx.charset)[0][0] for r in ref_rec]
            entry.strategies = {name: _strategy_result(s.run(img).lines, ref_lines, gt_lines)
                                for name, s in strategies.items()}
        except Exception as e:  # one image the pipeline cannot take must not sink the whole run
            skipped.append(SkippedImage(path.name, _failure_reason(path, e)))
            continue
        per_image[path.name] = entry
        kept[path.name] = _Image(n, path, boxes, ref_texts, gt_lines)
    return per_image, kept, skipped, list(strategies)


def _stage_pass(ctx: _Context, models: StageModels, per_image: dict[str, ImageEntry], kept: dict[str, _Image],
                skipped: list[SkippedImage], ref_outputs: ReferenceOutputs,
                heatmaps: dict[tuple[str, str], np.ndarray], with_strategies: bool) -> list[str]:
    """One target stage on every image still in the run, against the reference's outputs.
    An image this stage crashes on leaves the whole run (as if no stage had scored it)."""
    stage = models.stage
    runners = StageRunners.open(models)
    ocr = ctx.ocr(runners)
    strategies = _strategies(ctx, runners) if with_strategies else {}
    for n, (name, image) in enumerate(list(kept.items())):
        ctx.progress("images", f"{stage} {n + 1}/{len(kept)} {name}")
        entry = per_image[name]
        try:
            img = load_image(image.path)
            x_det, x_rec = ctx.same_inputs(img, image.ref_boxes)
            ref_det, ref_rec = ref_outputs.load(image.index)
            cand_det = runners.det.run(x_det)[0]
            cand_rec = [_rec_runner(runners.rec, x.shape[3]).run(x)[0] for x in x_rec]
            cand_texts = [ctc_greedy_decode(r, ctx.charset)[0][0] for r in cand_rec]
            ref_texts = image.ref_texts
            same = SameInputImage(
                det=DetTensorStats(**tensor_stats(ref_det, cand_det),
                                   binary_agreement=binary_agreement(ref_det, cand_det, ctx.dparams.thresh)),
                rec=(RecTensorStats(**tensor_stats(_flat(ref_rec), _flat(cand_rec)),
                                    argmax_agreement=argmax_agreement(_flat(ref_rec), _flat(cand_rec)))
                     if ref_rec else None),
                lines=len(ref_texts),
                same_text_lines=sum(a == b for a, b in zip(ref_texts, cand_texts)),
                texts=[TextPair(a, b) for a, b in zip(ref_texts, cand_texts) if a != b])
            heatmap = heatmap_thumbnail(np.abs(ref_det - cand_det)[0, 0])
            del ref_det, ref_rec, cand_det, cand_rec
            t0 = time.perf_counter()
            result = ocr.run(img)
            cand_lines = [line.to_dict() for line in result.lines]
            seconds = round(time.perf_counter() - t0, 3)
            ref_lines = entry.reference.lines
            entry.stages[stage] = StageImageResult(
                same_input=same, lines=cand_lines, det_input_hw=list(result.det_input_hw),
                pipeline=_compare(ref_lines, cand_lines),
                ground_truth=_compare(image.gt_lines, cand_lines) if image.gt_lines is not None else None,
                seconds=seconds)
            heatmaps[(name, stage)] = heatmap
            for sname, s in strategies.items():
                entry.strategies[sname] = _strategy_result(s.run(img).lines, ref_lines, image.gt_lines)
        except Exception as e:  # as in the reference pass: skip the image, keep the reason
            skipped.append(SkippedImage(name, _failure_reason(image.path, e)))
            del per_image[name], kept[name]
            for key in [k for k in heatmaps if k[0] == name]:
                del heatmaps[key]
    return list(strategies)


def _compare(ref_lines: list[dict], cand_lines: list[dict]) -> LineComparison:
    return from_jsonable(LineComparison, compare_lines(ref_lines, cand_lines))


def _strategy_result(lines, ref_lines: list[dict], gt_lines: list[dict] | None) -> StrategyImageResult:
    lines = [line.to_dict() for line in lines]
    return StrategyImageResult(lines, _compare(ref_lines, lines),
                               _compare(gt_lines, lines) if gt_lines is not None else None)


def _strategies(ctx: _Context, runners: StageRunners) -> dict[str, OCRPipeline]:
    return static_strategies(runners.det, runners.rec, ctx.pipe.det_config, ctx.widths, ctx.charset, ctx.dparams,
                             ctx.rparams, ctx.pipe.drop_score)


class FixedWidth:
    """A dynamic rec runner seen as a static one of `width` (same weights, same numbers as a
    static export up to float noise): lets the harness compare recipes without converting."""

    def __init__(self, runner, width: int):
        self.runner, self.stage = runner, runner.stage
        n, c, h, _ = runner.input_spec.shape
        self.input_spec = dataclasses.replace(runner.input_spec, shape=(1, c, h, width))

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self.runner.run(x)


def static_strategies(det: Runner, rec: Runner, det_cfg: ModelConfig, widths: list[int], charset, dparams, rparams,
                      drop_score: float) -> dict[str, OCRPipeline]:
    """The plain recipe, the deployed one, and the deployed det with one rec width, all run
    on dynamic-shape weights `det`/`rec` (onnx-raw if converted, else the Paddle reference)."""
    canvas = tuple(det_cfg.shape[2:])
    plain_det = dataclasses.replace(dparams, static_hw=(640, 640), resize_mode="stretch")
    deployed_det = dataclasses.replace(dparams, static_hw=canvas)
    name = f"{canvas[0]}x{canvas[1]} {dparams.resize_mode}"
    out = {
        "plain: 640x640 stretch + rec 320": (plain_det, [FixedWidth(rec, 320)]),
        f"deployed det ({name}) + rec {min(widths)} only": (deployed_det, [FixedWidth(rec, min(widths))]),
        f"deployed: {name} + rec {'/'.join(map(str, widths))}": (deployed_det, [FixedWidth(rec, w) for w in widths]),
    }
    return {k: OCRPipeline(det, r if len(r) > 1 else r[0], charset, d, rparams, drop_score=drop_score)
            for k, (d, r) in out.items()}


def strategy_summary(name: str, per_image: dict[str, ImageEntry]) -> StrategySummary:
    entries = [e.strategies[name] for e in per_image.values() if name in e.strategies]
    gt = [e.ground_truth for e in entries]
    return StrategySummary(_aggregate([e.vs_reference for e in entries]),
                           ground_truth_summary(gt) if entries and None not in gt else None)


def _rec_runner(runner, width: int):
    """The bucket runner of that width (a dynamic or single runner takes any width)."""
    if isinstance(runner, list):
        return next(r for r in runner if r.input_spec.shape[3] == width)
    return runner


def _flat(outputs: list[np.ndarray]) -> np.ndarray:
    """Rec outputs of different widths have different step counts: flatten steps."""
    return np.concatenate([o.reshape(-1, o.shape[-1]) for o in outputs])


def _aggregate(comparisons: list[LineComparison]) -> LineAggregate:
    # aggregate_lines reads only the scalar counts, which vars() exposes without a deep copy
    return LineAggregate(**aggregate_lines([vars(c) for c in comparisons]))


def ground_truth_summary(per_image: list[LineComparison]) -> GroundTruthSummary:
    agg = _aggregate(per_image)
    return GroundTruthSummary(gt_det_recall=agg.det_recall, gt_det_precision=agg.det_precision,
                              gt_line_accuracy=agg.line_exact_match, gt_cer=agg.cer, gt_lines=agg.ref_lines)


def summarise_stage(stage: str, per_image: dict[str, ImageEntry]) -> StageSummary:
    entries = [e.stages[stage] for e in per_image.values() if stage in e.stages]
    same = [e.same_input for e in entries]
    recs = [s.rec for s in same if s.rec]
    lines = sum(s.lines for s in same)
    same_input = SameInputSummary(
        det_max_abs=max((s.det.max_abs for s in same), default=0.0),
        det_mean_abs=float(np.mean([s.det.mean_abs for s in same])) if same else 0.0,
        det_cosine_min=min((s.det.cosine for s in same), default=1.0),
        det_binary_agreement=float(np.mean([s.det.binary_agreement for s in same])) if same else 1.0,
        rec_max_abs=max((r.max_abs for r in recs), default=0.0),
        rec_argmax_agreement=float(np.mean([r.argmax_agreement for r in recs])) if recs else 1.0,
        lines=lines,
        line_text_agreement=sum(s.same_text_lines for s in same) / lines if lines else 1.0,
    )
    gt = [e.ground_truth for e in entries]
    return StageSummary(same_input, _aggregate([e.pipeline for e in entries]),
                        ground_truth_summary(gt) if entries and None not in gt else None)

"""Parity harness: the same reference DBNet + CTC pipeline on every stage's models.

Two views, both against the `paddle` reference:
1. same-input: identical tensors into every stage — what conversion itself changed;
2. pipeline: every stage run as it would be deployed (its own static shape) on the
   images — what static shapes and FP16 cost the user.

Per image (image_worker.py), on an engine (engine.py: in process, a spawned process pool,
or Ray), each image's result stored as it finishes (result_store.py) and the report
aggregated from the stored results. The result is a typed `ParityReport`
(report_schema.py), judged by gate.py.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
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
from ..memory import RssSampler
from ..ocr import OCRPipeline
from ..reference import reference_dir
from ..runners import Runner
from .engine import make_engine
from .gate import apply_gate, validate_tolerances
from .image_worker import ImageTask, StageModels, StageRunners, WorkSpec, failure_reason  # noqa: F401
from .metrics import aggregate_lines
from .pipelines import PipelineConfig
from .records import from_jsonable
from .report_schema import (
    DeployedRecipe,
    GroundTruthSummary,
    ImageEntry,
    ImageReference,
    LineAggregate,
    LineComparison,
    ParityReport,
    ReferenceInfo,
    SameInputSummary,
    SkippedImage,
    StageSummary,
    StrategyImageResult,
    StrategySummary,
)
from .result_store import ResultStore, ResultsWriter, file_digest, image_key, json_digest, read_results

ProgressFn = Callable[[str, str], None]

RESULTS_FILE = "results.jsonl"  # every image's result, one JSON line each, in image order
# report.json holds every image's full results up to this many images; beyond, only the
# summaries (each image's results stay in results.jsonl, the HTML shows the worst ones)
PER_IMAGE_INLINE_MAX = 200


@dataclass
class ParityRun:
    result: ParityReport
    # (image, stage) → PNG of |Δ det prob| on the same input (heatmap.py), in the result store
    det_heatmaps: dict[tuple[str, str], Path] = field(default_factory=dict)
    peak_rss_mb: float | None = None  # this process and its children while the run lasted
    run_dir: Path | None = None  # results.jsonl (image order) and the run's own entries; remove() drops it
    computed: int = 0  # images measured by this run
    reused: int = 0  # images whose stored results were reused
    seconds: float = 0.0
    engine: str = "local"
    workers: int = 1
    worker_peak_rss_mb: list[float] = field(default_factory=list)  # per pool worker / Ray actor

    @property
    def report(self) -> dict:
        """report.json's content (a fresh dict on each access), for readers of the JSON shape."""
        return self.result.to_dict()

    @property
    def results_path(self) -> Path | None:
        return self.run_dir / RESULTS_FILE if self.run_dir is not None else None

    def remove(self) -> None:
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def build_stage_models(pipe: PipelineConfig, targets: list[str], work_dir: Path, cache_dir: Path | None,
                       progress: ProgressFn, calibration_images: Path | None = None,
                       gate_pages: Path | None = None) -> tuple[dict[str, StageModels], dict]:
    """`calibration_images`, `gate_pages`: the user's INT8 data (chain/int8_inputs.py), so
    the tflite-int8 stage measured is the one `convert` built with them."""
    det_cfg, rec_cfg = pipe.det_config, pipe.rec_config
    convs = {}
    for cfg in (det_cfg, rec_cfg):
        progress("convert", cfg.name)
        convs[cfg.name] = convert(cfg, ConvertOptions(targets=[t for t in targets], out_dir=work_dir / "artifacts",
                                                      cache_dir=cache_dir, calibration_images=calibration_images,
                                                      gate_pages=gate_pages), progress)
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


def run_parity(pipe: PipelineConfig, images: list[Path], targets: list[str], work_dir: Path,
               cache_dir: Path | None = None, progress: ProgressFn = lambda s, m: None,
               stage_models: dict[str, StageModels] | None = None, labels: dict | None = None,
               with_strategies: bool = True, workers: int | None = 1, engine: str = "local",
               ray_address: str | None = None, results_cache: Path | None = None,
               refresh: bool = False, calibration_images: Path | None = None,
               gate_pages: Path | None = None) -> ParityRun:
    """`labels`: optional ground truth {image name: [{"text", "box"}]}; every stage (and the
    reference) is then also scored against it.

    Image by image: an engine (engine.py: this process, a spawned process pool of `workers`,
    or a Ray actor pool) runs every stage on each image (image_worker.py) and each image's
    result is stored as it finishes (result_store.py). With `results_cache` the entries are
    kept there, keyed by content, and a later run computes only the images it lacks
    (`refresh`: compute all and rewrite the entries); without one they live in the run's
    work dir. The report is then aggregated from the stored results in image order, one image
    at a time, so it is the same for any number of workers and any engine, and memory does
    not grow with the number of images."""
    for t in targets:
        if t not in TARGETS:
            raise ConfigError(f"unknown target {t!r}", hint=f"choose from {', '.join(TARGETS)}")
    validate_tolerances(pipe.tolerances)
    det_cfg, rec_cfg = pipe.det_config, pipe.rec_config
    the_engine = make_engine(engine, workers, ray_address)
    provenance: dict = {}
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale_runs(work_dir)
    run_dir = Path(tempfile.mkdtemp(dir=work_dir, prefix=f"parity-run-{os.getpid()}-"))
    # the caller removes it after reading the report (ParityRun.remove); a run that fails
    # removes it here, so a bad input leaves nothing behind
    try:
        start = time.perf_counter()
        with RssSampler() as rss:
            if stage_models is None:
                stage_models, provenance = build_stage_models(pipe, targets, work_dir, cache_dir, progress,
                                                              calibration_images, gate_pages)
            # the static-shape strategies on dynamic weights (plain recipe, deployed det + one rec
            # width, ...) cost three more pipeline runs per image; a benchmark may skip them. They
            # run on onnx-raw if converted, else on the reference.
            strategy_stage = ("onnx-raw" if "onnx-raw" in targets else "paddle") if with_strategies else None
            spec = WorkSpec(pipe, {s: stage_models[s] for s in ["paddle", *targets]}, list(targets), strategy_stage)
            store = ResultStore(results_cache if results_cache is not None else run_dir / "entries")
            keys = image_keys(spec, images, labels)
            todo = [ImageTask(i, path, labels.get(path.name, []) if labels is not None else None)
                    for i, path in enumerate(images) if refresh or results_cache is None or not store.has(keys[i])]
            progress("images", f"{len(images) - len(todo)} of {len(images)} images already measured, "
                               f"{len(todo)} to run ({the_engine.name}, {the_engine.workers} workers)")
            done = len(images) - len(todo)
            with ResultsWriter(run_dir / "results.partial.jsonl") as partial:
                for result in the_engine.run(spec, todo):
                    store.put(keys[result.index], result)  # durable before it counts as done
                    partial.write(result)
                    done += 1
                    progress("images", f"{done}/{len(images)} {result.image}")
            aggregated = aggregate(store, keys, images, run_dir / "results.jsonl", len(targets) > 0)
        seconds = time.perf_counter() - start

        per_image, skipped, strategy_names = aggregated.per_image, aggregated.skipped, aggregated.strategy_names
        if images and not aggregated.n_scored:
            raise ParityError(f"none of the {len(images)} images could be scored; first: {skipped[0].reason}",
                              hint="pass a directory of readable photos (.jpg/.png)")
        dparams, rparams = model_params.det_params(det_cfg), model_params.rec_params(rec_cfg)
        widths = list(rec_cfg.raw.get("widths") or [rec_cfg.shape[3]])
        inline = aggregated.n_scored <= PER_IMAGE_INLINE_MAX
        report = ParityReport(
            pipeline=pipe.name,
            models={"det": det_cfg.name, "rec": rec_cfg.name},
            reference=ReferenceInfo(
                stage="paddle",
                det_resize={k: det_cfg.preprocess.get(k) for k in ("limit_side_len", "limit_type", "max_side_limit")},
                rec_height=rparams.height, rec_min_width=rparams.width, drop_score=pipe.drop_score, models=provenance,
                ground_truth=(ground_truth_summary([e.reference.ground_truth for e in per_image.values()])
                              if labels is not None else None)),
            deployed=DeployedRecipe(list(det_cfg.shape[2:]), dparams.resize_mode, dparams.upscale, dparams.pad_value,
                                    widths[0], widths),
            labels=labels is not None,
            # static-shape recipes on the same (dynamic) weights, to show what each recipe costs
            strategies={name: strategy_summary(name, per_image) for name in strategy_names},
            targets=list(targets),
            images=list(per_image),
            skipped_images=skipped,
            stages={s: summarise_stage(s, per_image) for s in targets},
            failures=[],
            per_image={},
            results_file=RESULTS_FILE,
            per_image_inline=inline,
        )
        apply_gate(report, pipe.tolerances)
        if inline:  # small sets keep every image's full results in report.json too
            report.per_image = {line["image"]: from_jsonable(ImageEntry, line["entry"])
                                for line in read_results(run_dir / "results.jsonl") if "entry" in line}
        heatmaps = {(line["image"], stage): store.heatmap_path(keys[i], stage)
                    for i, line in enumerate(read_results(run_dir / "results.jsonl"))
                    for stage in ((line.get("entry") or {}).get("stages") or {})}
        worker_rss = dict(getattr(the_engine, "worker_peak_rss_mb", {}))
        return ParityRun(report, heatmaps, rss.peak_mb, run_dir=run_dir, computed=len(todo),
                         reused=len(images) - len(todo), seconds=seconds, engine=the_engine.name,
                         workers=the_engine.workers, worker_peak_rss_mb=list(worker_rss.values()))
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        with contextlib.suppress(OSError):   # the work dir too, when nothing else is in it
            work_dir.rmdir()
        raise


def sweep_stale_runs(work_dir: Path) -> None:
    """Remove the run dirs of interrupted runs (their process is gone): what they finished
    is in the result cache, not there."""
    for d in work_dir.glob("parity-run-*"):
        try:
            pid = int(d.name.split("-")[2])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (ValueError, IndexError, PermissionError, OSError):
            continue


# modules whose code decides a per-image result: part of the result cache key
RESULT_CODE = ("ppocr_convert.parity.image_worker", "ppocr_convert.parity.harness", "ppocr_convert.parity.metrics",
               "ppocr_convert.parity.heatmap", "ppocr_convert.parity.records", "ppocr_convert.parity.report_schema",
               "ppocr_convert.ocr", "ppocr_convert.runners", "ppocr_convert.model_params")


def image_keys(spec: WorkSpec, images: list[Path], labels: dict | None) -> list[str]:
    """Each image's cache key: its bytes, the artifacts' bytes, the recipe, the harness code."""
    from ..chain.code_digest import code_digest
    artifacts = json_digest({s: [file_digest(m.det)] + [file_digest(p) for p in (m.rec if isinstance(m.rec, list)
                                                                                   else [m.rec])]
                             for s, m in spec.stage_models.items()})
    pipe = spec.pipe
    recipe = {"pipeline": pipe.name, "drop_score": pipe.drop_score, "targets": spec.targets,
              "strategy_stage": spec.strategy_stage, "threads": spec.threads,
              "params": [(c.name, c.preprocess, c.postprocess, c.shape, c.raw.get("widths"))
                         for c in (pipe.det_config, pipe.rec_config)]}
    code = code_digest(RESULT_CODE)
    keys = []
    for path in images:
        gt = labels.get(Path(path).name, []) if labels is not None else None
        keys.append(image_key(file_digest(path), artifacts, json_digest([recipe, gt]), code))
    return keys


@dataclass
class Aggregated:
    per_image: dict[str, ImageEntry]  # compact: the figures summaries read, no lines
    skipped: list[SkippedImage]
    strategy_names: list[str]
    n_scored: int


def aggregate(store: ResultStore, keys: list[str], images: list[Path], out: Path, _targets: bool) -> Aggregated:
    """Read every image's stored result in image order, write results.jsonl (one line each)
    and keep only the figures the summaries need (no lines, pairs or texts)."""
    per_image: dict[str, ImageEntry] = {}
    skipped: list[SkippedImage] = []
    names: list[str] = []
    with ResultsWriter(out) as writer:
        for i, path in enumerate(images):
            result = store.get(keys[i])
            if result is None:  # vanished or damaged between the run and now
                raise ParityError(f"the stored result of {Path(path).name} is missing or damaged",
                                  hint="run again (with --no-cache to recompute every image)")
            # entries are keyed by content: a copy of a photo under another name shares its entry
            result.index, result.image = i, Path(path).name
            writer.write(result)
            if result.skipped is not None:
                skipped.append(SkippedImage(result.image, result.skipped))
                continue
            entry = from_jsonable(ImageEntry, result.entry)
            for name in entry.strategies:
                if name not in names:
                    names.append(name)
            per_image[result.image] = compact(entry)
    return Aggregated(per_image, skipped, names, len(per_image))


def compact(entry: ImageEntry) -> ImageEntry:
    """The entry without the parts only report.html and results.jsonl need (lines, pairs, texts)."""
    def cmp(c: LineComparison | None) -> LineComparison | None:
        return None if c is None else dataclasses.replace(c, pairs=[])
    ref = entry.reference
    return ImageEntry(
        image_hw=entry.image_hw,
        stages={s: dataclasses.replace(r, lines=[], pipeline=cmp(r.pipeline), ground_truth=cmp(r.ground_truth),
                                       same_input=dataclasses.replace(r.same_input, texts=[]))
                for s, r in entry.stages.items()},
        reference=ImageReference([], ref.det_input_hw, cmp(ref.ground_truth)),
        ground_truth=None,
        strategies={n: StrategyImageResult([], cmp(s.vs_reference), cmp(s.ground_truth))
                    for n, s in entry.strategies.items()})


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

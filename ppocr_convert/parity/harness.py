"""Parity harness: the same reference DBNet + CTC pipeline on every stage's models.

Two views, both against the `paddle` reference:
1. same-input: identical tensors into every stage — what conversion itself changed;
2. pipeline: every stage run as it would be deployed (its own static shape) on the
   images — what static shapes and FP16 cost the user.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import model_params
from ..config import TARGETS, ModelConfig
from ..chain.conversion import ConvertOptions, convert
from ..errors import ConfigError, ParityError
from ..ocr import OCRPipeline, load_image
from ..ocr.det import preprocess as det_preprocess
from ..ocr.geometry import crop_rotated
from ..ocr.rec import choose_bucket, ctc_greedy_decode, needed_width, preprocess_batch
from ..reference import reference_dir
from ..runners import open_runner
from .metrics import aggregate_lines, argmax_agreement, binary_agreement, compare_lines, tensor_stats
from .pipelines import PipelineConfig

ProgressFn = Callable[[str, str], None]


@dataclass
class StageModels:
    stage: str
    det: Path
    rec: Path | list[Path]  # several static-width rec models = width buckets


@dataclass
class ParityRun:
    report: dict
    det_maps: dict = field(default_factory=dict)  # (image, stage) → |Δ prob map| on the same input


def build_stage_models(pipe: PipelineConfig, targets: list[str], work_dir: Path, cache_dir: Path | None,
                       progress: ProgressFn) -> tuple[dict[str, StageModels], dict]:
    det_cfg, rec_cfg = pipe.det_config, pipe.rec_config
    convs = {}
    for cfg in (det_cfg, rec_cfg):
        progress("convert", cfg.name)
        convs[cfg.name] = convert(cfg, ConvertOptions(targets=[t for t in targets], out_dir=work_dir / "artifacts",
                                                      cache_dir=cache_dir), progress)
    progress("reference", "Paddle reference models")
    det_ref, det_prov = reference_dir(det_cfg)
    rec_ref, rec_prov = reference_dir(rec_cfg)
    models = {"paddle": StageModels("paddle", det_ref, rec_ref)}
    for t in targets:
        models[t] = StageModels(t, *(artifact_paths(convs[cfg.name], t) for cfg in (det_cfg, rec_cfg)))
    provenance = {"det": det_prov, "rec": rec_prov,
                  "artifacts": {name: {t: {"sha256": m["sha256"], "bytes": m["bytes"]}
                                       for t, m in r.manifests.items()} for name, r in convs.items()}}
    return models, provenance


def artifact_paths(result, target: str) -> Path | list[Path]:
    """The model file of a target, or its width buckets' files."""
    m, d = result.manifests[target], result.artifact_dirs[target]
    if m.get("buckets"):
        return [d / b["file"] for b in m["buckets"]]
    return d / m["file"]


def _open_rec(paths: Path | list[Path], stage: str):
    return [open_runner(p, stage) for p in paths] if isinstance(paths, list) else open_runner(paths, stage)


def run_parity(pipe: PipelineConfig, images: list[Path], targets: list[str], work_dir: Path,
               cache_dir: Path | None = None, progress: ProgressFn = lambda s, m: None,
               stage_models: dict[str, StageModels] | None = None, labels: dict | None = None,
               with_strategies: bool = True) -> ParityRun:
    """`labels`: optional ground truth {image name: [{"text", "box"}]}; every stage (and the
    reference) is then also scored against it."""
    for t in targets:
        if t not in TARGETS:
            raise ConfigError(f"unknown target {t!r}", hint=f"choose from {', '.join(TARGETS)}")
    det_cfg, rec_cfg = pipe.det_config, pipe.rec_config
    provenance = {}
    if stage_models is None:
        stage_models, provenance = build_stage_models(pipe, targets, work_dir, cache_dir, progress)
    charset = model_params.charset(rec_cfg)
    dparams, rparams = model_params.det_params(det_cfg), model_params.rec_params(rec_cfg)
    static_hw = tuple(det_cfg.shape[2:])
    widths = list(rec_cfg.raw.get("widths") or [rec_cfg.shape[3]])
    stages = ["paddle", *targets]
    runners = {s: (open_runner(stage_models[s].det, s), _open_rec(stage_models[s].rec, s)) for s in stages}
    pipelines = {s: OCRPipeline(d, r, charset, dparams, rparams, drop_score=pipe.drop_score)
                 for s, (d, r) in runners.items()}
    # the static-shape strategies on dynamic weights (plain recipe, deployed det + one rec
    # width, ...) cost three more pipeline runs per image; a benchmark may skip them
    strategies = (static_strategies(runners, det_cfg, widths, charset, dparams, rparams, pipe.drop_score)
                  if with_strategies else {})

    per_image, det_maps, skipped = {}, {}, []
    for n, path in enumerate(images):
        progress("images", f"{n + 1}/{len(images)} {path.name}")
        try:
            img = load_image(path)
        except ValueError as e:
            skipped.append({"image": path.name, "reason": str(e)})
            continue
        try:
            entry = {"image_hw": list(img.shape[:2]), "stages": {}}
            ref_result = pipelines["paddle"].run(img)
            ref_lines = [l.to_dict() for l in ref_result.lines]
            entry["reference"] = {"lines": ref_lines, "det_input_hw": list(ref_result.det_input_hw)}
            gt_lines = labels.get(path.name, []) if labels is not None else None
            if gt_lines is not None:
                entry["ground_truth"] = gt_lines
                entry["reference"]["ground_truth"] = compare_lines(gt_lines, ref_lines)

            # same-input view: the deployed det tensor, and the reference's line crops each at the
            # width bucket the deployed pipeline would pick (squashed into the widest if longer)
            x_det, _ = det_preprocess(img, dataclasses.replace(dparams, static_hw=static_hw))
            crops = [crop_rotated(img, l.box) for l in ref_result.lines]
            crop_widths = [choose_bucket(needed_width(c, rparams.height), widths) or max(widths) for c in crops]
            x_rec = [preprocess_batch([c], dataclasses.replace(rparams, static_width=w)) for c, w in zip(crops, crop_widths)]
            ref_det = runners["paddle"][0].run(x_det)[0]
            ref_rec = [_rec_runner(runners["paddle"][1], x.shape[3]).run(x)[0] for x in x_rec]
            ref_texts = [ctc_greedy_decode(r, charset)[0][0] for r in ref_rec]

            for s in targets:
                det_r, rec_r = runners[s]
                cand_det = det_r.run(x_det)[0]
                cand_rec = [_rec_runner(rec_r, x.shape[3]).run(x)[0] for x in x_rec]
                cand_texts = [ctc_greedy_decode(r, charset)[0][0] for r in cand_rec]
                same = {
                    "det": {**tensor_stats(ref_det, cand_det),
                            "binary_agreement": binary_agreement(ref_det, cand_det, dparams.thresh)},
                    "rec": ({**tensor_stats(_flat(ref_rec), _flat(cand_rec)),
                             "argmax_agreement": argmax_agreement(_flat(ref_rec), _flat(cand_rec))}
                            if ref_rec else None),
                    "lines": len(ref_texts),
                    "same_text_lines": sum(a == b for a, b in zip(ref_texts, cand_texts)),
                    "texts": [{"ref": a, "cand": b} for a, b in zip(ref_texts, cand_texts) if a != b],
                }
                det_maps[(path.name, s)] = np.abs(ref_det - cand_det)[0, 0]
                t0 = time.perf_counter()
                result = pipelines[s].run(img)
                cand_lines = [l.to_dict() for l in result.lines]
                entry["stages"][s] = {"same_input": same, "lines": cand_lines,
                                      "det_input_hw": list(result.det_input_hw),
                                      "pipeline": compare_lines(ref_lines, cand_lines),
                                      **({"ground_truth": compare_lines(gt_lines, cand_lines)}
                                         if gt_lines is not None else {}),
                                      "seconds": round(time.perf_counter() - t0, 3)}
            entry["strategies"] = {}
            for name, ocr in strategies.items():
                lines = [l.to_dict() for l in ocr.run(img).lines]
                entry["strategies"][name] = {"lines": lines, "vs_reference": compare_lines(ref_lines, lines),
                                             **({"ground_truth": compare_lines(gt_lines, lines)}
                                                if gt_lines is not None else {})}
            per_image[path.name] = entry
        except Exception as e:  # one image the pipeline cannot take must not sink the whole run
            for s in targets:
                det_maps.pop((path.name, s), None)
            skipped.append({"image": path.name, "reason": f"{path.name}: processing failed: "
                                                          f"{e.__class__.__name__}: {e}"[:500]})

    if images and not per_image:
        raise ParityError(f"none of the {len(images)} images could be scored; first: {skipped[0]['reason']}",
                          hint="pass a directory of readable photos (.jpg/.png)")
    summary = {s: summarise_stage(s, per_image) for s in targets}
    failures = check_tolerances(pipe, summary) + crashed_images(skipped)
    report = {
        "pipeline": pipe.name,
        "models": {"det": det_cfg.name, "rec": rec_cfg.name},
        "reference": {
            "stage": "paddle",
            "det_resize": {k: det_cfg.preprocess.get(k) for k in ("limit_side_len", "limit_type", "max_side_limit")},
            "rec_height": rparams.height, "rec_min_width": rparams.width, "drop_score": pipe.drop_score,
            "models": provenance,
            **({"ground_truth": ground_truth_summary([e["reference"]["ground_truth"] for e in per_image.values()])}
               if labels is not None else {}),
        },
        "deployed": {"det_static_hw": list(static_hw), "det_resize": dparams.resize_mode,
                     "det_upscale": dparams.upscale, "det_pad_value": dparams.pad_value,
                     "rec_static_width": widths[0], "rec_widths": widths},
        "labels": labels is not None,
        # static-shape recipes on the same (dynamic) weights, to show what each recipe costs
        "strategies": {name: strategy_summary(name, per_image) for name in strategies},
        "targets": targets,
        "images": list(per_image),
        "skipped_images": skipped,
        "stages": {s: {**summary[s], "verdict": "fail" if any(f["stage"] in (s, "all") for f in failures) else "pass"}
                   for s in targets},
        "failures": failures,
        "per_image": per_image,
    }
    return ParityRun(report, det_maps)


class FixedWidth:
    """A dynamic rec runner seen as a static one of `width` (same weights, same numbers as a
    static export up to float noise): lets the harness compare recipes without converting."""

    def __init__(self, runner, width: int):
        self.runner, self.stage = runner, runner.stage
        n, c, h, _ = runner.input_spec.shape
        self.input_spec = dataclasses.replace(runner.input_spec, shape=(1, c, h, width))

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self.runner.run(x)


def static_strategies(runners: dict, det_cfg: ModelConfig, widths: list[int], charset, dparams, rparams,
                      drop_score: float) -> dict[str, OCRPipeline]:
    """The plain recipe, the deployed one, and the deployed det with one rec width, all run
    on dynamic-shape weights (onnx-raw if converted, else the Paddle reference)."""
    det, rec = runners["onnx-raw"] if "onnx-raw" in runners else runners["paddle"]
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


def strategy_summary(name: str, per_image: dict) -> dict:
    entries = [e["strategies"][name] for e in per_image.values() if name in e.get("strategies", {})]
    out = {"vs_reference": aggregate_lines([e["vs_reference"] for e in entries])}
    if entries and all("ground_truth" in e for e in entries):
        out["ground_truth"] = ground_truth_summary([e["ground_truth"] for e in entries])
    return out


def _rec_runner(runner, width: int):
    """The bucket runner of that width (a dynamic or single runner takes any width)."""
    if isinstance(runner, list):
        return next(r for r in runner if r.input_spec.shape[3] == width)
    return runner


def _flat(outputs: list[np.ndarray]) -> np.ndarray:
    """Rec outputs of different widths have different step counts: flatten steps."""
    return np.concatenate([o.reshape(-1, o.shape[-1]) for o in outputs])


def ground_truth_summary(per_image: list[dict]) -> dict:
    agg = aggregate_lines(per_image)
    return {"gt_det_recall": agg["det_recall"], "gt_det_precision": agg["det_precision"],
            "gt_line_accuracy": agg["line_exact_match"], "gt_cer": agg["cer"], "gt_lines": agg["ref_lines"]}


def summarise_stage(stage: str, per_image: dict) -> dict:
    entries = [e["stages"][stage] for e in per_image.values() if stage in e["stages"]]
    same = [e["same_input"] for e in entries]
    recs = [s["rec"] for s in same if s["rec"]]
    lines = sum(s["lines"] for s in same)
    same_input = {
        "det_max_abs": max((s["det"]["max_abs"] for s in same), default=0.0),
        "det_mean_abs": float(np.mean([s["det"]["mean_abs"] for s in same])) if same else 0.0,
        "det_cosine_min": min((s["det"]["cosine"] for s in same), default=1.0),
        "det_binary_agreement": float(np.mean([s["det"]["binary_agreement"] for s in same])) if same else 1.0,
        "rec_max_abs": max((r["max_abs"] for r in recs), default=0.0),
        "rec_argmax_agreement": float(np.mean([r["argmax_agreement"] for r in recs])) if recs else 1.0,
        "lines": lines,
        "line_text_agreement": sum(s["same_text_lines"] for s in same) / lines if lines else 1.0,
    }
    pipeline = aggregate_lines([e["pipeline"] for e in entries])
    out = {"same_input": same_input, "pipeline": pipeline}
    if entries and all("ground_truth" in e for e in entries):
        out["ground_truth"] = ground_truth_summary([e["ground_truth"] for e in entries])
    return out


def crashed_images(skipped: list[dict]) -> list[dict]:
    """An image the pipeline crashed on (not one it refused to read) is a bug in a stage or
    the harness: the gate must not pass on the images that happened to work."""
    crashed = [s for s in skipped if "processing failed" in s["reason"]]
    if not crashed:
        return []
    return [{"stage": "all", "view": "run", "metric": "images_crashed", "value": len(crashed), "limit": 0,
             "first": crashed[0]["reason"][:300]}]


def check_tolerances(pipe: PipelineConfig, summary: dict) -> list[dict]:
    failures = []
    for view in ("same_input", "pipeline", "ground_truth"):
        for stage, limits in pipe.tolerances.get(view, {}).items():
            if stage not in summary:
                continue
            for metric, limit in limits.items():
                value = summary[stage].get(view, {}).get(metric)
                if value is None:
                    continue
                lower_is_better = metric.endswith(("max_abs", "mean_abs", "cer"))  # gt_cer too
                if (value > limit) if lower_is_better else (value < limit):
                    failures.append({"stage": stage, "view": view, "metric": metric,
                                     "value": round(value, 6), "limit": limit})
    return failures

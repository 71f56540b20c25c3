"""`ppocr-convert release`: every model × every target, then the parity gate, then one
signed-off `dist/manifest.json`. Everything is built in a staging directory next to
`dist/` and swapped in only when the gate passes, so a failed release publishes
nothing and leaves the previous `dist/` as it was."""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .chain.backend import tool_versions
from .config import ModelConfig, load_model_config, model_names
from .chain.conversion import ConversionResult, ConvertOptions, check_targets, convert
from .errors import ConvertError, ParityError
from .goldens import list_images
from .parity.harness import StageModels, artifact_paths, check_tolerances, crashed_images, run_parity
from .parity.pipelines import PipelineConfig, load_pipeline, pipeline_names
from .parity.report import write_report
from .parity.report_html import render_html
from .reference import reference_dir
from .chain.sources import cache_root, resolve
from .fsutil import sha256_files
from .chain.stage_cache import StageCache, cache_key
from .fsutil import replace_dir

DEFAULT_TARGETS = ["onnx", "tflite-fp32", "tflite-fp16"]
# bump when the harness's results change for the same inputs (invalidates cached parity)
HARNESS_VERSION = "2"

ProgressFn = Callable[[str, str], None]


@dataclass
class ReleaseResult:
    out_dir: Path
    manifest: dict
    skipped: list[dict]


def available_models() -> tuple[list[str], list[dict]]:
    """Models with a source on this machine, and the ones skipped with the reason."""
    ok, skipped = [], []
    for name in model_names():
        try:
            resolve(load_model_config(name))
            ok.append(name)
        except ConvertError as e:
            skipped.append({"model": name, "reason": str(e)})
    return ok, skipped


def _images_fingerprint(images: list[Path]) -> str:
    return sha256_files(images)


def _parity(pipe: PipelineConfig, convs: dict[str, ConversionResult], targets: list[str], images: list[Path],
            images_dir: Path, out_dir: Path, cache: StageCache, progress: ProgressFn) -> dict:
    """Run (or reuse) the parity report of one pipeline; returns report.json's content."""
    det, rec = convs[pipe.det_config.name], convs[pipe.rec_config.name]
    det_ref, _ = reference_dir(pipe.det_config)
    rec_ref, _ = reference_dir(pipe.rec_config)
    stage_models = {"paddle": StageModels("paddle", det_ref, rec_ref)}
    for t in targets:
        stage_models[t] = StageModels(t, artifact_paths(det, t), artifact_paths(rec, t))
    # tolerances are not part of the key: they judge the measurements, they don't change them
    key = cache_key(stage="parity", harness=HARNESS_VERSION, drop_score=pipe.drop_score, pipeline=(
        pipe.det_config.name, pipe.rec_config.name),
        params=[(c.preprocess, c.postprocess, c.shape) for c in (pipe.det_config, pipe.rec_config)],
        artifacts={t: [det.manifests[t]["sha256"], rec.manifests[t]["sha256"]] for t in targets},
        reference=[det.manifests[targets[0]]["source"]["sha256"], rec.manifests[targets[0]]["source"]["sha256"]],
        images=_images_fingerprint(images), tools=tool_versions())

    def build(tmp: Path) -> None:
        progress("parity", f"{pipe.name} on {len(images)} images")
        run = run_parity(pipe, images, targets, tmp, stage_models=stage_models,
                         progress=lambda s, m: progress("parity", f"{pipe.name} {m}"))
        write_report(run, tmp / "report", images_dir)

    entry, reused = cache.build("parity", key, build, label=pipe.name)
    if reused:
        progress("parity", f"{pipe.name}: reusing cached measurements")
    shutil.copytree(entry / "report", out_dir)
    report = json.loads((out_dir / "report.json").read_text())
    # the cache holds measurements; the gate is always judged with today's tolerances
    report["failures"] = check_tolerances(pipe, report["stages"]) + crashed_images(report["skipped_images"])
    for stage, summary in report["stages"].items():
        summary["verdict"] = "fail" if any(f["stage"] in (stage, "all") for f in report["failures"]) else "pass"
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    (out_dir / "report.html").write_text(render_html(report, images_dir, out_dir / "assets"), encoding="utf-8")
    return report


def release(out_dir: Path, images_dir: Path, models: list[str] | None = None, targets: list[str] | None = None,
            use_cache: bool = True, cache_dir: Path | None = None,
            progress: ProgressFn = lambda s, m: None) -> ReleaseResult:
    targets = list(targets or DEFAULT_TARGETS)
    check_targets(targets)
    skipped: list[dict] = []
    if models is None:
        models, skipped = available_models()
    configs: list[ModelConfig] = [load_model_config(m) for m in models]
    images = list_images(images_dir) if images_dir and Path(images_dir).is_dir() else []
    if not images:
        raise ConvertError(f"no images for the parity gate in {images_dir}", hint="pass --images DIR")
    cache_dir = cache_dir or cache_root()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.staging-"))
    failures: list[dict] = []  # read by the handler below even when parity itself raised
    try:
        convs: dict[str, ConversionResult] = {}
        for cfg in configs:
            progress("convert", cfg.name)
            convs[cfg.name] = convert(cfg, ConvertOptions(targets=targets, out_dir=staging, use_cache=use_cache,
                                                          cache_dir=cache_dir),
                                      lambda s, m, n=cfg.name: progress("convert", f"{n} › {s}: {m}"))
        cache = StageCache(cache_dir, enabled=use_cache)
        parity: dict[str, dict] = {}
        for name in pipeline_names():
            pipe = load_pipeline(name)
            if pipe.det_config.name in convs and pipe.rec_config.name in convs:
                parity[name] = _parity(pipe, convs, targets, images, images_dir, staging / "parity" / name,
                                       cache, progress)
        failures = [{"pipeline": p, **f} for p, rep in parity.items() for f in rep["failures"]]
        manifest = release_manifest(convs, targets, parity, skipped, images)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        if failures:
            first = failures[0]
            raise ParityError(
                f"parity gate failed: {len(failures)} check(s), first {first['pipeline']} {first['stage']} "
                f"{first['view']} {first['metric']}={first['value']} (limit {first['limit']})",
                hint="nothing was published; see the parity reports, fix or loosen configs/pipelines/*.toml")
        replace_dir(staging, out_dir)
    except BaseException as e:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(e, ParityError):
            e.failures = failures  # type: ignore[attr-defined]
        raise
    return ReleaseResult(out_dir, manifest, skipped)


def release_manifest(convs: dict[str, ConversionResult], targets: list[str], parity: dict[str, dict],
                     skipped: list[dict], images: list[Path]) -> dict:
    covered = {}
    for pipe_name, rep in parity.items():
        for role in ("det", "rec"):
            covered[rep["models"][role]] = pipe_name
    artifacts = []
    for name, conv in convs.items():
        for t in targets:
            m = conv.manifests[t]
            pipe_name = covered.get(name)
            if pipe_name:
                stage = parity[pipe_name]["stages"][t]
                summary = {"pipeline": pipe_name, "report": f"parity/{pipe_name}/report.html",
                           "verdict": stage["verdict"],
                           "same_input": {k: round(v, 6) for k, v in stage["same_input"].items()},
                           "pipeline_view": {k: round(v, 6) for k, v in stage["pipeline"].items()}}
            else:
                summary = {"verdict": "not covered", "reason": "no det+rec pipeline in configs/pipelines uses it"}
            artifacts.append({
                "model": name, "target": t,
                "path": f"{name}/{t}/{m['file']}",
                "bytes": m["bytes"], "sha256": m["sha256"],
                **({"buckets": [{"width": b["width"], "path": f"{name}/{t}/{b['file']}", "bytes": b["bytes"],
                                 "sha256": b["sha256"]} for b in m["buckets"]]} if m.get("buckets") else {}),
                "deploy": m.get("deploy"),
                "source": {"kind": m["source"]["kind"], "origin": m["source"]["origin"],
                           "sha256": m["source"]["sha256"], "stage_entered": m["stage_entered"]},
                "tools": m["tools"],
                "passes": m["passes"],
                "inputs": m["inputs"],
                "gpu_delegate": m["gpu_delegate"]["verdict"],
                "parity": summary,
            })
    verdicts = {p: ("fail" if rep["failures"] else "pass") for p, rep in parity.items()}
    return {
        "release": {"targets": targets, "models": list(convs), "skipped_models": skipped,
                    "parity_images": len(images), "parity": verdicts},
        "artifacts": artifacts,
        "reproducibility": {
            "deterministic": "model files, per-target manifest.json and this file",
            "varies": "build.json (timings, cache hits, memory) next to each artifact",
        },
    }

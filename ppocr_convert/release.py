"""`ppocr-convert release`: every model × every target, then the parity gate, then one
signed-off `dist/manifest.json`. Everything is built in a staging directory next to
`dist/` and swapped in only when the gate passes, so a failed release publishes
nothing and leaves the previous `dist/` as it was."""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .chain.backend import tool_versions
from .chain.conversion import ConversionResult, ConvertOptions, check_targets, convert
from .chain.sources import cache_root, resolve
from .chain.remote_cache import remote_from_env
from .chain.stage_cache import StageCache, cache_key, discard_entry
from .config import ModelConfig, load_model_config, model_names
from .errors import ConvertError, ParityError
from .fsutil import replace_dir, sha256_files
from .memory import RssSampler
from .ocr.image_io import list_images
from .parity.gate import apply_gate, int8_gate_failures
from .parity.harness import StageModels, artifact_paths, run_parity
from .parity.pipelines import PipelineConfig, load_pipeline, pipeline_names
from .parity.records import to_jsonable
from .parity.report import read_report, write_json_and_html, write_report
from .parity.report_schema import SCHEMA_VERSION, ParityReport
from .parity.engine import RELEASE_MEMORY_BUDGET, default_workers
from .parity.result_store import RESULTS_CACHE_DIR
from .reference import reference_dir, reference_key

# tflite-int8 is opt-in (--targets tflite-int8) until it meets its targets: on PP-OCRv5 the
# det still misses its accuracy target and a16w8 rec its speed target (README, INT8)
DEFAULT_TARGETS = ["onnx", "tflite-fp32", "tflite-fp16"]
# bump when the harness's results change for the same inputs (invalidates cached parity);
# the report's SCHEMA_VERSION is part of the key too
HARNESS_VERSION = "4"  # 4: chunks stage by stage, rec logits compared line by line

ProgressFn = Callable[[str, str], None]


@dataclass
class ReleaseResult:
    out_dir: Path
    manifest: dict
    skipped: list[dict]
    build: dict = field(default_factory=dict)  # build.json: what varies between identical releases


@dataclass
class ParityRecord:
    """How one pipeline's parity report was obtained, for build.json."""
    reused: bool
    seconds: float
    peak_rss_mb: float | None  # None when the cached report was reused (nothing ran)

    def to_dict(self) -> dict:
        return {"reused": self.reused, "seconds": round(self.seconds, 2),
                "peak_rss_mb": None if self.peak_rss_mb is None else round(self.peak_rss_mb, 1)}


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
            images_dir: Path, out_dir: Path, cache: StageCache,
            progress: ProgressFn, workers: int | None = None) -> tuple[ParityReport, ParityRecord]:
    """Run (or reuse) the parity report of one pipeline, judged with today's tolerances."""
    det, rec = convs[pipe.det_config.name], convs[pipe.rec_config.name]
    # tolerances are not part of the key: they judge the measurements, they don't change them.
    # The references enter by their own keys (a rebuild with new tools is a new reference),
    # and are built only when the measurements are not cached (an x2paddle rebuild is a minute)
    key = cache_key(stage="parity", harness=HARNESS_VERSION, report_schema=SCHEMA_VERSION,
                    drop_score=pipe.drop_score, pipeline=(pipe.det_config.name, pipe.rec_config.name),
                    params=[(c.preprocess, c.postprocess, c.shape) for c in (pipe.det_config, pipe.rec_config)],
                    artifacts={t: [det.manifests[t]["sha256"], rec.manifests[t]["sha256"]] for t in targets},
                    reference=[reference_key(pipe.det_config), reference_key(pipe.rec_config)],
                    images=_images_fingerprint(images), tools=tool_versions())
    peak: list[float] = []

    def build(tmp: Path) -> None:
        progress("parity", f"{pipe.name}: Paddle reference models")
        det_ref, _ = reference_dir(pipe.det_config, cache_dir=cache.root)
        rec_ref, _ = reference_dir(pipe.rec_config, cache_dir=cache.root)
        stage_models = {"paddle": StageModels("paddle", det_ref, rec_ref)}
        for t in targets:
            stage_models[t] = StageModels(t, artifact_paths(det, t), artifact_paths(rec, t))
        progress("parity", f"{pipe.name} on {len(images)} images (in a child process)")
        peak.append(measure_in_child(pipe.name, images, targets, tmp, stage_models, images_dir, workers,
                                     results_cache=gate_results_cache(cache)))

    start = time.perf_counter()
    entry, reused = cache.build("parity", key, build, label=pipe.name)
    try:
        report = read_report(entry / "report" / "report.json")
    except ParityError:
        if not reused:
            raise
        # an intact cached report this version cannot read (written by another schema
        # version under the same key): measure again rather than misread it
        progress("parity", f"{pipe.name}: cached report unreadable, rebuilding")
        discard_entry(entry)
        entry, reused = cache.build("parity", key, build, label=pipe.name)
        report = read_report(entry / "report" / "report.json")
    if reused:
        progress("parity", f"{pipe.name}: reusing cached measurements")
    record = ParityRecord(reused, time.perf_counter() - start, peak[-1] if peak else None)
    shutil.copytree(entry / "report", out_dir)
    # the cache holds measurements; the gate is always judged with today's tolerances
    apply_gate(report, pipe.tolerances)
    write_json_and_html(report, out_dir, images_dir)
    return report, record


def gate_results_cache(cache: StageCache) -> Path | None:
    """Where the gate stores per-image results as they finish, so that a killed release, run
    again, measures only the images its gate had not reached; None with --no-cache (every
    image measured again, nothing reused)."""
    return cache.root / RESULTS_CACHE_DIR if cache.enabled else None


def measure_in_child(pipeline: str, images: list[Path], targets: list[str], work_dir: Path,
                     stage_models: dict[str, StageModels], images_dir: Path,
                     workers: int | None = None, results_cache: Path | None = None) -> float | None:
    """run_parity + write_report in a fresh (spawned) process; returns its peak RSS.

    After a release has converted a dozen models in this process, the memory the
    runtimes keep (allocator arenas, library caches, a TensorFlow import) stays resident:
    a parity run on top of it peaked at 6.2 GB. A child starts from nothing and gives all
    of it back when it exits. Errors come back as the same ConvertError (errors.py keeps
    them picklable); Ctrl-C terminates the child. The child is not a daemon (a
    ProcessPoolExecutor's, not a multiprocessing.Pool's): it starts the parity workers."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        peak = pool.submit(_parity_in_child, pipeline, images, targets, work_dir, stage_models, images_dir,
                           workers, results_cache).result()
    except BaseException:
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    # a clean exit, not a SIGTERM: Paddle's signal handler would print a crash banner
    pool.shutdown(wait=True)
    return peak


def _parity_in_child(pipeline: str, images: list[Path], targets: list[str], work_dir: Path,
                     stage_models: dict[str, StageModels], images_dir: Path,
                     workers: int | None = None, results_cache: Path | None = None) -> float | None:
    run = run_parity(load_pipeline(pipeline), images, targets, work_dir, stage_models=stage_models,
                     workers=workers, results_cache=results_cache)
    try:
        write_report(run, work_dir / "report", images_dir)
    finally:
        run.remove()
    return run.peak_rss_mb


def build_info(parity: dict[str, ParityRecord], rss: RssSampler | None = None, seconds: float | None = None) -> dict:
    """dist/build.json: what varies between identical releases (manifest.json does not).
    `peak_rss_mb` is the whole release's (this process and the converters it ran, sampled
    every 50 ms); each phase's peak is listed beside it."""
    measured = [r.peak_rss_mb for r in parity.values() if r.peak_rss_mb is not None]
    whole = rss.peak_mb if rss is not None else max(measured, default=None)
    return {"peak_rss_mb": None if whole is None else round(whole, 1),
            "peak_rss_mb_by_phase": {k: round(v, 1) for k, v in (rss.peaks_mb if rss else {}).items()},
            "seconds": None if seconds is None else round(seconds, 1),
            "parity": {name: r.to_dict() for name, r in parity.items()}}


def release(out_dir: Path, images_dir: Path, models: list[str] | None = None, targets: list[str] | None = None,
            use_cache: bool = True, cache_dir: Path | None = None, remote_cache: str | None = None,
            progress: ProgressFn = lambda s, m: None, workers: int | None = None,
            memory_budget: int | None = RELEASE_MEMORY_BUDGET, calibration_images: Path | None = None,
            gate_pages: Path | None = None) -> ReleaseResult:
    """`workers`: the parity gate's (default: the cores, as `memory_budget` allows for all
    workers together; None: as the machine's free memory allows). `calibration_images`,
    `gate_pages`: the user's INT8 data for every model's tflite-int8 (int8_inputs.py)."""
    targets = list(targets or DEFAULT_TARGETS)
    workers = workers or default_workers(memory_budget)
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
    rss = RssSampler(phase="start").start()
    start = time.perf_counter()
    try:
        convs: dict[str, ConversionResult] = {}
        for cfg in configs:
            rss.mark(f"convert {cfg.name}")
            progress("convert", cfg.name)
            convs[cfg.name] = convert(cfg, ConvertOptions(targets=targets, out_dir=staging, use_cache=use_cache,
                                                          cache_dir=cache_dir, remote_cache=remote_cache,
                                                          calibration_images=calibration_images,
                                                          gate_pages=gate_pages),
                                      lambda s, m, n=cfg.name: progress("convert", f"{n} › {s}: {m}"))
        # refused before the parity run (minutes) measures what would not be published anyway
        failures = int8_failures(convs, targets)
        if failures:
            first = failures[0]
            raise ParityError(
                f"int8 gate failed: {len(failures)} check(s), first {first['pipeline']} "
                f"{first['metric']}={first['value']} (limit {first['limit']})",
                hint="nothing was published; the tflite-int8 stage's own ground-truth gate missed "
                     "(int8[].gate in its manifest, limits in [int8] of configs/defaults/*.toml); "
                     "release without --targets tflite-int8 or fix the quantization")
        cache = StageCache(cache_dir, enabled=use_cache, remote=remote_from_env(remote_cache))
        parity: dict[str, ParityReport] = {}
        records: dict[str, ParityRecord] = {}
        for name in pipeline_names():
            pipe = load_pipeline(name)
            if pipe.det_config.name in convs and pipe.rec_config.name in convs:
                rss.mark(f"parity {name}")
                parity[name], records[name] = _parity(pipe, convs, targets, images, images_dir,
                                                      staging / "parity" / name, cache, progress, workers)
        failures = [{"pipeline": p, **to_jsonable(f)} for p, rep in parity.items() for f in rep.failures]
        manifest = release_manifest(convs, targets, parity, skipped, images)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        rss.mark("publish")
        build = build_info(records, rss, time.perf_counter() - start)
        build["parity_workers"] = workers
        build["memory_budget_mb"] = None if memory_budget is None else round(memory_budget / 2**20)
        (staging / "build.json").write_text(json.dumps(build, indent=2) + "\n")
        if failures:
            first = failures[0]
            raise ParityError(
                f"parity gate failed: {len(failures)} check(s), first {first['pipeline']} {first['stage']} "
                f"{first['view']} {first['metric']}={first['value']} (limit {first['limit']})",
                hint="nothing was published; see the parity reports, fix or loosen configs/pipelines/*.toml")
        replace_dir(staging, out_dir)
        rss.finish()
    except BaseException as e:
        rss.finish()
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(e, ParityError):
            e.failures = failures  # type: ignore[attr-defined]
        raise
    return ReleaseResult(out_dir, manifest, skipped, build)


def int8_failures(convs: dict[str, ConversionResult], targets: list[str]) -> list[dict]:
    """Every tflite-int8 file whose own stage gate missed, as release failure rows."""
    if "tflite-int8" not in targets:
        return []
    # "pipeline" names the model and its file: the CLI's failure table shows that column
    return [{**to_jsonable(f), "pipeline": f"{name} {f.first}"} for name, conv in convs.items()
            for f in int8_gate_failures(conv.manifests["tflite-int8"].get("int8", []))]


def release_manifest(convs: dict[str, ConversionResult], targets: list[str], parity: dict[str, ParityReport],
                     skipped: list[dict], images: list[Path]) -> dict:
    covered = {}
    for pipe_name, rep in parity.items():
        for role in ("det", "rec"):
            covered[rep.models[role]] = pipe_name
    artifacts = []
    for name, conv in convs.items():
        for t in targets:
            m = conv.manifests[t]
            pipe_name = covered.get(name)
            if pipe_name:
                stage = parity[pipe_name].stages[t]
                summary = {"pipeline": pipe_name, "report": f"parity/{pipe_name}/report.html",
                           "verdict": stage.verdict,
                           "same_input": {k: round(v, 6) for k, v in to_jsonable(stage.same_input).items()},
                           "pipeline_view": {k: round(v, 6) for k, v in to_jsonable(stage.pipeline).items()}}
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
    verdicts = {p: ("pass" if rep.passed else "fail") for p, rep in parity.items()}
    return {
        "release": {"targets": targets, "models": list(convs), "skipped_models": skipped,
                    "parity_images": len(images), "parity": verdicts},
        "artifacts": artifacts,
        "reproducibility": {
            "deterministic": "model files, per-target manifest.json and this file",
            "varies": "build.json (timings, cache hits, memory) next to each artifact and at the top "
                      "(parity runs' peak_rss_mb)",
        },
    }

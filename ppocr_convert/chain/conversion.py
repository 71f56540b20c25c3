"""The conversion chain: source → onnx-raw → onnx → tflite-fp32/fp16 → dist/.

One `Conversion` holds what a run decided (config, options, source, shapes, passes,
tool versions, code digests) and runs the stages in order; each stage goes through
the content-addressed stage cache, whose keys include the input's digest, the
options, the tool versions and the digest of the code that builds the stage.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import TARGETS, ModelConfig
from ..errors import ConfigError, GpuCompatibilityError
from ..fsutil import sha256_file
from ..inspect_model import ModelReport
from . import backend, frontend, int8_conversion, sources
from .artifact_check import check_artifacts, expected_outputs
from .code_digest import stage_digest
from .inspection import inspect_cached
from .int8_inputs import user_int8_data
from .manifest import target_manifest
from .passes_runner import pass_options, run_passes
from .publish import publish_all
from .remote_cache import remote_from_env
from .retarget import RetargetError, retarget_verified
from .stage_cache import StageCache, cache_key

logger = logging.getLogger("ppocr_convert")
ProgressFn = Callable[[str, str], None]  # (stage, message)

# DBNet's backbone downsamples by 32 and its FPN adds the levels back up: a det input
# whose sides are not multiples of 32 fails in shape inference, deep inside a pass
DET_STRIDE = 32

# the tool versions each stage's output depends on (part of its cache key)
STAGE_TOOLS = {
    "onnx-raw": ("paddlepaddle", "paddle2onnx", "onnx"),
    "onnx": ("onnx", "onnxsim", "onnxruntime", "onnx-graphsurgeon"),
    "tflite": ("onnx2tf", "tensorflow", "tf_keras", "onnx", "onnxsim"),
    "tflite-int8": ("ai-edge-quantizer", "ai-edge-litert", "numpy"),
}


@dataclass
class ConvertOptions:
    targets: list[str]
    out_dir: Path = Path("dist")
    model_dir: Path | None = None
    download: bool = False
    shape: tuple[int, ...] | None = None
    opset: int | None = None
    passes: list[str] | None = None          # replaces the config's list
    skip_passes: list[str] = field(default_factory=list)
    use_cache: bool = True
    strict_gpu: bool = False
    cache_dir: Path | None = None
    remote_cache: str | None = None        # fsspec URL; default PPOCR_CONVERT_REMOTE_CACHE
    jobs: int | None = None                # onnx2tf runs at once (rec buckets); default: cores, memory
    retarget_buckets: bool = True          # wider rec buckets re-emitted from the narrowest (verified)
    calibration_images: Path | None = None  # tflite-int8: the user's photos, calibrated on first
    gate_pages: Path | None = None         # tflite-int8: the user's labelled pages, replacing the gate pages


@dataclass
class StageRecord:
    stage: str
    cached: bool
    seconds: float
    peak_rss_mb: float | None = None
    log: str | None = None
    detail: dict | None = None             # how the stage was built, when there are several ways

    def to_dict(self) -> dict:
        return {"stage": self.stage, "cached": self.cached, "seconds": round(self.seconds, 2),
                "peak_rss_mb": None if self.peak_rss_mb is None else round(self.peak_rss_mb, 1),
                **({"detail": self.detail} if self.detail else {})}


@dataclass
class ConversionResult:
    model: str
    manifests: dict[str, dict]          # target → manifest
    artifact_dirs: dict[str, Path]
    stages: list[StageRecord]           # timings and cache hits (also in each build.json)


@dataclass
class StaticBuild:
    """The `onnx` (and `tflite`) stage outputs of one static shape (one rec width bucket)."""
    shape: tuple[int, ...]
    files: dict[str, Path]              # target → file in the stage cache
    pass_reports: list[dict]


def convert(config: ModelConfig, options: ConvertOptions, progress: ProgressFn = lambda s, m: None) -> ConversionResult:
    return Conversion(config, options, progress).run()


class Conversion:
    """One model through the chain, as the options ask."""

    def __init__(self, config: ModelConfig, options: ConvertOptions, progress: ProgressFn = lambda s, m: None):
        check_targets(options.targets)
        if options.shape is not None and options.shape[1] != config.shape[1]:
            raise ConfigError(f"--shape {'x'.join(map(str, options.shape))} has {options.shape[1]} channels, "
                              f"{config.name} takes {config.shape[1]}",
                              hint=f"use e.g. {'x'.join(map(str, config.shape))}")
        if config.task == "det" and options.shape is not None and (options.shape[2] % DET_STRIDE
                                                                  or options.shape[3] % DET_STRIDE):
            n, c, h, w = options.shape
            fit = [max(DET_STRIDE, round(v / DET_STRIDE) * DET_STRIDE) for v in (h, w)]
            raise ConfigError(f"--shape {n}x{c}x{h}x{w}: a det model's height and width must be multiples "
                              f"of {DET_STRIDE}", hint=f"DBNet downsamples by {DET_STRIDE}; use e.g. "
                                                       f"{n}x{c}x{fit[0]}x{fit[1]}")
        # the user's int8 data is read now: a bad file fails before minutes of conversion
        self.user_int8 = user_int8_data(options.calibration_images, options.gate_pages, options.targets)
        self.config, self.options, self.progress = config, options, progress
        self.shape = tuple(options.shape or config.shape)
        self.shapes = static_shapes(config, options)
        self.opset = options.opset or config.opset
        self.passes = pass_list(config, options)
        self.cache = StageCache(options.cache_dir or sources.cache_root(), enabled=options.use_cache,
                                remote=remote_from_env(options.remote_cache))
        self.versions = {**backend.tool_versions(), **int8_conversion.tool_versions()}
        self.code_digests = {stage: stage_digest(stage) for stage in STAGE_TOOLS}
        self.records: list[StageRecord] = []
        self.frontend_repairs: list[dict] = []
        self.pass_reports: list[dict] = []
        self.bucket_methods: dict[int, dict] = {}  # rec width → how its tflite was made
        self.int8_info: dict[Path, dict] = {}  # tflite-int8 file -> its int8.json (manifest)

    def run(self) -> ConversionResult:
        # tool logs live here; kept after a failure, because the error message names them
        self.logs_dir = Path(tempfile.mkdtemp(prefix="ppocr-convert-logs-"))
        self.progress("source", f"resolving {self.config.name}")
        self.source = sources.resolve(self.config, self.options.model_dir, self.options.download)
        self.dict_path = sources.dictionary_path(self.config, self.source)
        raw_path = self.build_raw()
        targets = self.options.targets
        wants_tflite = any(t.startswith("tflite") for t in targets)
        builds: list[StaticBuild] = []
        if wants_tflite and len(self.shapes) > 1 and self.options.retarget_buckets:
            builds, base_result = self.build_onnx_during_base_conversion(raw_path)
            self.build_tflite_buckets(builds, base_result)
        else:
            if any(t != "onnx-raw" for t in targets):
                builds = [self.build_onnx(shape, raw_path) for shape in self.shapes]
            if wants_tflite:
                self.build_tflite_buckets(builds)
        if "tflite-int8" in targets:
            int8_conversion.build_int8(self, builds)
        if builds:
            self.pass_reports = builds[0].pass_reports
        files = {t: [raw_path] if t == "onnx-raw" else [b.files[t] for b in builds] for t in targets}
        result = self.publish(files)
        shutil.rmtree(self.logs_dir, ignore_errors=True)
        return result

    # --- stages --------------------------------------------------------------------
    def tools(self, stage: str) -> dict[str, str]:
        return {k: self.versions[k] for k in STAGE_TOOLS[stage]}

    def build_raw(self) -> Path:
        """onnx-raw: paddle2onnx (+ repairs) for a Paddle source, a copy for an ONNX one;
        a recogniser gets its dictionary embedded in the ONNX metadata."""
        src = self.source
        metadata = {"ppocr_convert.model": self.config.name}
        if self.dict_path is not None:
            metadata["character"] = "\n".join(frontend.read_dictionary(self.dict_path))
        from_paddle = src.stage == "paddle"
        self.progress("onnx-raw", "paddle2onnx" if from_paddle else "copying packaged ONNX")
        key = cache_key(stage="onnx-raw", source=src.sha256, format=src.format, opset=self.opset, meta=metadata,
                        tools=self.tools("onnx-raw") if from_paddle else {}, code=self.code_digests["onnx-raw"])
        log = self.logs_dir / "paddle2onnx.log"

        def build(tmp: Path) -> None:
            out, stats = tmp / "model.onnx", {}
            if from_paddle:
                run, repairs = frontend.paddle_to_onnx(src, out, self.opset, log)
                stats = {**run.to_dict(), "repairs": repairs}
            else:
                frontend.copy_onnx(src, out)
            frontend.embed_metadata(out, metadata)
            (tmp / "stage.json").write_text(json.dumps(stats))

        entry, record = self.cached_stage("onnx-raw", key, build, log)
        self.records.append(record)
        self.frontend_repairs = json.loads((entry / "stage.json").read_text()).get("repairs", [])
        return entry / "model.onnx"

    def tag(self, shape: tuple[int, ...]) -> str:
        return f"[w{shape[3]}]" if len(self.shapes) > 1 else ""

    def build_onnx(self, shape: tuple[int, ...], raw_path: Path) -> StaticBuild:
        """onnx: the passes with the input pinned to `shape`."""
        tag = self.tag(shape)
        self.progress("onnx", f"{tag} passes: {', '.join(self.passes) or '(none)'}")
        options = pass_options(self.config.input_name, shape, self.passes)
        key = cache_key(stage="onnx", input=sha256_file(raw_path), passes=self.passes, options=options,
                        tools=self.tools("onnx"), code=self.code_digests["onnx"])
        log = self.logs_dir / "passes.log"
        entry, record = self.cached_stage("onnx", key, lambda tmp: run_passes(raw_path, tmp, self.passes, options, log),
                                          tag=tag)
        self.records.append(record)
        return StaticBuild(shape, {"onnx": entry / "model.onnx"}, json.loads((entry / "passes.json").read_text()))

    def build_onnx_during_base_conversion(
            self, raw_path: Path) -> tuple[list[StaticBuild], tuple[dict[str, Path], StageRecord]]:
        """The narrowest bucket's `onnx`, then its onnx2tf run (a process of its own, about
        one core) while this thread runs the wider buckets' passes on the other core."""
        base = self.build_onnx(self.shapes[0], raw_path)
        cancel = threading.Event()
        pool = ThreadPoolExecutor(1, thread_name_prefix="onnx2tf")
        try:
            future = pool.submit(self.build_tflite, base.files["onnx"], self.tag(base.shape), cancel)
            builds = [base] + [self.build_onnx(shape, raw_path) for shape in self.shapes[1:]]
            return builds, future.result()
        except BaseException:
            cancel.set()  # a failing pass or Ctrl-C: stop onnx2tf rather than wait for it
            raise
        finally:
            pool.shutdown(wait=True)

    def build_tflite_buckets(self, builds: list[StaticBuild],
                             base_result: tuple[dict[str, Path], StageRecord] | None = None) -> None:
        """tflite for every static shape. A rec's narrowest bucket goes through onnx2tf;
        each wider one is re-emitted from it (retarget.py, verified against its ONNX) and
        only converted by onnx2tf when that check fails or --convert-each-width asks;
        those onnx2tf runs go in parallel (one per core, as memory allows)."""
        results: dict[int, tuple[dict[str, Path], StageRecord]] = {}
        pending = list(range(len(builds)))
        if len(builds) > 1 and self.options.retarget_buckets:
            base = builds[0]
            results[0] = base_result or self.build_tflite(base.files["onnx"], self.tag(base.shape))
            pending = []
            for i, build in enumerate(builds[1:], start=1):
                try:
                    results[i] = self.build_retargeted(build, base, results[0][0])
                except RetargetError as exc:
                    logger.warning("%s %s: converting with onnx2tf, the width could not be re-emitted: %s",
                                   self.config.name, self.tag(build.shape), exc)
                    pending.append(i)
        for i, result in zip(pending, self.convert_in_parallel([builds[i] for i in pending])):
            results[i] = result
        for i, build in enumerate(builds):
            files, record = results[i]
            build.files.update(files)
            self.records.append(record)  # in bucket order, whichever finished first
            self.bucket_methods[build.shape[3]] = self.method_of(record)

    def convert_in_parallel(self, builds: list[StaticBuild]) -> list[tuple[dict[str, Path], StageRecord]]:
        jobs = backend.parallel_conversions(len(builds), self.options.jobs) if builds else 1
        if jobs == 1:
            return [self.build_tflite(b.files["onnx"], self.tag(b.shape)) for b in builds]
        cancel = threading.Event()
        pool = ThreadPoolExecutor(jobs, thread_name_prefix="onnx2tf")
        try:
            futures = [pool.submit(self.build_tflite, b.files["onnx"], self.tag(b.shape), cancel) for b in builds]
            return [f.result() for f in futures]
        except BaseException:
            cancel.set()  # Ctrl-C reaches this thread only: stop the workers' onnx2tf runs
            raise
        finally:
            pool.shutdown(wait=True)

    def build_retargeted(self, build: StaticBuild, base: StaticBuild,
                         base_files: dict[str, Path]) -> tuple[dict[str, Path], StageRecord]:
        """tflite of a wider rec bucket, written from the base bucket's artifacts."""
        tag, width = self.tag(build.shape), build.shape[3]
        self.progress("tflite", f"{tag} re-emitting the w{base.shape[3]} model for width {width}")
        key = cache_key(stage="tflite", method="retarget", input=sha256_file(build.files["onnx"]),
                        base={t: sha256_file(p) for t, p in sorted(base_files.items())},
                        tools=self.tools("tflite"), code=self.code_digests["tflite"])

        def emit(tmp: Path) -> None:
            t0 = time.perf_counter()
            models, record = retarget_verified(base_files, build.files["onnx"], width)
            for target, model in models.items():
                (tmp / f"{target}.tflite").write_bytes(model)
            (tmp / "stage.json").write_text(json.dumps({**record, "seconds": time.perf_counter() - t0}))

        entry, record = self.cached_stage("tflite", key, emit, tag=tag)
        return {t: entry / f"{t}.tflite" for t in ("tflite-fp32", "tflite-fp16")}, record

    @staticmethod
    def method_of(record: StageRecord) -> dict:
        """How a bucket's artifacts were made, for the manifest (read from the stage entry)."""
        return record.detail or {"method": "onnx2tf"}

    def build_tflite(self, onnx_path: Path, tag: str,
                     cancel: threading.Event | None = None) -> tuple[dict[str, Path], StageRecord]:
        self.progress("tflite", f"{tag} onnx2tf (about a minute)")
        key = cache_key(stage="tflite", input=sha256_file(onnx_path), tools=self.tools("tflite"),
                        code=self.code_digests["tflite"])
        # one log per bucket: the buckets' onnx2tf runs may be running at the same time
        log = self.logs_dir / ("onnx2tf.log" if not tag else f"onnx2tf-{tag.strip('[]')}.log")

        def build(tmp: Path) -> None:
            # onnx2tf without its whole-graph validation inference (onnx2tf_lean.py), kept
            # only if it computes what the ONNX computes; else onnx2tf as it comes
            # The fp32 file is checked: the fp16 one comes from the same graph in the same run
            # (only its weights are rounded, after the layout decisions the inference informs).
            t0 = time.perf_counter()
            work = Path(tempfile.mkdtemp(prefix="onnx2tf-", dir=tmp))
            with ThreadPoolExecutor(1, thread_name_prefix="check") as pool:
                # the ONNX side of the check runs on one thread while onnx2tf converts
                expected = pool.submit(expected_outputs, onnx_path, 1, 1)
                outs, run = backend.onnx_to_tflite(onnx_path, work, log, cancel, validation_inference=False)
                checks, problems = check_artifacts({"tflite-fp32": outs["tflite-fp32"].read_bytes()}, onnx_path,
                                                   count=1, expected=expected.result())
            detail: dict = {"method": "onnx2tf", "validation_inference": False, "checks": checks}
            if problems:
                logger.warning("%s %s: onnx2tf without its validation inference wrote a model that differs from "
                            "the ONNX (%s); converting again with it", self.config.name, tag or "", "; ".join(problems))
                shutil.rmtree(work)
                work = Path(tempfile.mkdtemp(prefix="onnx2tf-", dir=tmp))
                outs, run = backend.onnx_to_tflite(onnx_path, work, log, cancel, validation_inference=True)
                detail = {"method": "onnx2tf", "validation_inference": True, "lean_rejected": problems}
            for target, path in outs.items():
                os.replace(path, tmp / f"{target}.tflite")
            shutil.rmtree(work)
            # the stage's time includes the check, not only onnx2tf's
            (tmp / "stage.json").write_text(json.dumps({**run.to_dict(), **detail, "onnx2tf_seconds": run.seconds,
                                                        "seconds": round(time.perf_counter() - t0, 2)}))

        entry, record = self.cached_stage("tflite", key, build, log, tag=tag)
        return {t: entry / f"{t}.tflite" for t in ("tflite-fp32", "tflite-fp16")}, record

    def cached_stage(self, stage: str, key: str, build: Callable[[Path], None], log: Path | None = None,
                     tag: str = "") -> tuple[Path, StageRecord]:
        t0 = time.perf_counter()
        entry, hit = self.cache.build(stage, key, build, label=self.config.name)
        stats = json.loads((entry / "stage.json").read_text()) if (entry / "stage.json").is_file() else {}
        seconds = time.perf_counter() - t0 if hit else stats.get("seconds", time.perf_counter() - t0)
        detail = {k: stats[k] for k in ("method", "from_width", "validation_inference", "lean_rejected", "checks")
                  if k in stats} or None
        return entry, StageRecord(f"{stage}{tag}", hit, seconds, None if hit else stats.get("peak_rss_mb"),
                                  str(log) if log else None, detail)

    # --- publish: check every target first, write all next to dist/, then swap them in,
    # so a strict-GPU failure, a full disk or an interrupt leaves dist/ as it was ----------
    def publish(self, files: dict[str, list[Path]]) -> ConversionResult:
        self.progress("publish", "inspecting artifacts")
        t0 = time.perf_counter()
        manifests: dict[str, dict] = {}
        named: dict[str, list[tuple[Path, str]]] = {}
        for target, paths in files.items():
            reports = [inspect_cached(p, self.cache, self.versions, self.config.name) for p in paths]
            if self.options.strict_gpu and target != "onnx-raw":
                self.check_gpu(target, reports)
            manifests[target] = target_manifest(self, target, paths, reports)
            names = [b["file"] for b in manifests[target].get("buckets", [])] or [manifests[target]["file"]]
            named[target] = list(zip(paths, names))
        for target in files:
            self.progress(target, "writing artifact")
        build = {"stages": [r.to_dict() for r in self.records],
                 "pass_seconds": {r["name"]: r.get("seconds") for r in self.pass_reports}}
        dirs = publish_all(self.options.out_dir / self.config.name, named, manifests, self.dict_path, build)
        # publish (inspection, hashing, manifests, the dist/ swap) is reported to callers such
        # as the bench; build.json, written above, holds the cached-or-built stages only
        self.records.append(StageRecord("publish", False, time.perf_counter() - t0))
        return ConversionResult(self.config.name, manifests, dirs, self.records)

    def check_gpu(self, target: str, reports: list[ModelReport]) -> None:
        for report in reports:
            if report.gpu_issues:
                first = report.gpu_issues[0]
                raise GpuCompatibilityError(
                    f"{self.config.name} {target}: {len(report.gpu_issues)} op(s) the GPU delegate cannot run, "
                    f"first {first.op} at {first.node or 'graph'} ({first.reason})",
                    hint="add a pass for it, or drop --strict-gpu to accept CPU fallback")


def pass_list(config: ModelConfig, options: ConvertOptions) -> list[str]:
    from ..passes.manager import available
    names = list(options.passes) if options.passes is not None else list(config.passes)
    unknown = [n for n in names + list(options.skip_passes) if n not in available()]
    if unknown:
        raise ConfigError(f"unknown pass {unknown[0]!r}", hint=f"available passes: {', '.join(available())}")
    return [n for n in names if n not in options.skip_passes]


def check_targets(targets: list[str]) -> None:
    for t in targets:
        if t not in TARGETS:
            raise ConfigError(f"unknown target {t!r}", hint=f"choose from {', '.join(TARGETS)}")


def static_shapes(config: ModelConfig, options: ConvertOptions) -> list[tuple[int, ...]]:
    """The static shapes to build: --shape, else the config's rec width buckets, else its shape."""
    if options.shape is not None:
        return [tuple(options.shape)]
    widths = config.raw.get("widths")
    if config.task == "rec" and widths:
        n, c, h, _ = config.shape
        return [(n, c, h, int(w)) for w in sorted(widths)]
    return [tuple(config.shape)]

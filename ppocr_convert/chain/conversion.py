"""The conversion chain: source → onnx-raw → onnx → tflite-fp32/fp16 → dist/.

Each stage is cached by content (stage_cache); artifacts are published into
`dist/<model>/<target>/` by building them next to it and renaming, so a failed or
interrupted run leaves the previous artifacts untouched.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import onnx

from . import backend, frontend, sources
from ..config import STAGES, TARGETS, ModelConfig
from ppocr_convert.passes.base import PassError

from ..errors import ConfigError, ConvertError, GpuCompatibilityError, PassFailedError
from ..inspect_model import inspect_file
from ..reference import reference_kind
from ..fsutil import replace_dir, sweep_stale_temp_dirs, temp_dir, write_error_hint
from .stage_cache import StageCache, cache_key

ProgressFn = Callable[[str, str], None]  # (stage, message)

ARTIFACT_EXT = {"onnx-raw": ".onnx", "onnx": ".onnx", "tflite-fp32": ".tflite", "tflite-fp16": ".tflite"}


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


@dataclass
class StageRecord:
    stage: str
    cached: bool
    seconds: float
    peak_rss_mb: float | None = None
    log: str | None = None

    def to_dict(self) -> dict:
        return {"stage": self.stage, "cached": self.cached, "seconds": round(self.seconds, 2),
                "peak_rss_mb": None if self.peak_rss_mb is None else round(self.peak_rss_mb, 1)}


@dataclass
class ConversionResult:
    model: str
    manifests: dict[str, dict]          # target → manifest
    artifact_dirs: dict[str, Path]
    stages: list[StageRecord]           # timings and cache hits (also in each build.json)


def pass_list(config: ModelConfig, options: ConvertOptions) -> list[str]:
    from ppocr_convert.passes.manager import available
    names = list(options.passes) if options.passes is not None else list(config.passes)
    unknown = [n for n in names + list(options.skip_passes) if n not in available()]
    if unknown:
        raise ConfigError(f"unknown pass {unknown[0]!r}", hint=f"available passes: {', '.join(available())}")
    return [n for n in names if n not in options.skip_passes]


def check_targets(targets: list[str]) -> None:
    for t in targets:
        if t not in TARGETS:
            raise ConfigError(f"unknown target {t!r}", hint=f"choose from {', '.join(TARGETS)}")


def convert(config: ModelConfig, options: ConvertOptions, progress: ProgressFn = lambda s, m: None) -> ConversionResult:
    check_targets(options.targets)
    shape = tuple(options.shape or config.shape)
    if options.shape is not None and options.shape[1] != config.shape[1]:
        raise ConfigError(f"--shape {'x'.join(map(str, options.shape))} has {options.shape[1]} channels, "
                          f"{config.name} takes {config.shape[1]}", hint=f"use e.g. {'x'.join(map(str, config.shape))}")
    opset = options.opset or config.opset
    passes = pass_list(config, options)
    cache = StageCache(options.cache_dir or sources.cache_root(), enabled=options.use_cache)
    versions = backend.tool_versions()
    records: list[StageRecord] = []
    logs_dir = Path(tempfile.mkdtemp(prefix="ppocr-convert-logs-"))

    progress("source", f"resolving {config.name}")
    src = sources.resolve(config, options.model_dir, options.download)
    dict_path = sources.dictionary_path(config, src)
    metadata = {"ppocr_convert.model": config.name}
    if dict_path is not None:
        metadata["character"] = "\n".join(frontend.read_dictionary(dict_path))

    # --- onnx-raw -------------------------------------------------------------
    progress("onnx-raw", "paddle2onnx" if src.stage == "paddle" else "copying packaged ONNX")
    raw_key = cache_key(stage="onnx-raw", source=src.sha256, format=src.format, opset=opset, meta=metadata,
                        tools={k: versions[k] for k in ("paddlepaddle", "paddle2onnx", "onnx")} if src.stage == "paddle" else {})
    raw_stats: dict = {}

    def build_raw(tmp: Path) -> None:
        out = tmp / "model.onnx"
        if src.stage == "paddle":
            run, repairs = frontend.paddle_to_onnx(src, out, opset, logs_dir / "paddle2onnx.log")
            raw_stats.update(run.to_dict(), repairs=repairs)
        else:
            frontend.copy_onnx(src, out)
        frontend.embed_metadata(out, metadata)
        (tmp / "stage.json").write_text(json.dumps(raw_stats))

    t0 = time.perf_counter()
    raw_dir, hit = cache.build("onnx-raw", raw_key, build_raw)
    records.append(_record("onnx-raw", hit, t0, raw_dir, logs_dir / "paddle2onnx.log"))
    raw_path = raw_dir / "model.onnx"
    frontend_repairs = json.loads((raw_dir / "stage.json").read_text()).get("repairs", [])

    # --- onnx (passes) and tflite, once per static shape (rec width buckets) ----
    shapes = static_shapes(config, options)
    need_tflite = any(t.startswith("tflite") for t in options.targets)
    built = []
    if any(t != "onnx-raw" for t in options.targets):
        for static in shapes:
            built.append(_static_stages(config, static, passes, raw_path, need_tflite, cache, versions,
                                        records, logs_dir, progress, tag=_shape_tag(static, shapes)))
    pass_reports = built[0]["pass_reports"] if built else None
    stage_files = {"onnx-raw": [raw_path],
                   **{t: [b[t] for b in built] for t in ("onnx", "tflite-fp32", "tflite-fp16") if built and t in built[0]}}

    # --- publish: check every target first, write all next to dist/, then swap them in,
    # so a strict-GPU failure, a full disk or an interrupt leaves dist/ as it was ----------
    progress("publish", "inspecting artifacts")
    t_publish = time.perf_counter()
    manifests, dirs = {}, {}
    files: dict[str, list[tuple[Path, str]]] = {}
    for target in options.targets:
        paths = stage_files[target]
        target_shapes = shapes if target != "onnx-raw" else [shape]
        reports = [inspect_file(p) for p in paths]
        for report in reports:
            if options.strict_gpu and report.gpu_issues and target != "onnx-raw":
                first = report.gpu_issues[0]
                raise GpuCompatibilityError(
                    f"{config.name} {target}: {len(report.gpu_issues)} op(s) the GPU delegate cannot run, "
                    f"first {first.op} at {first.node or 'graph'} ({first.reason})",
                    hint="add a pass for it, or drop --strict-gpu to accept CPU fallback")
        names = [artifact_name(config, target, s if len(paths) > 1 else None) for s in target_shapes]
        manifests[target] = build_manifest(config, src, target, paths[0], reports[0], versions, records,
                                           target_shapes[0], opset, passes if target != "onnx-raw" else [],
                                           pass_reports if target != "onnx-raw" else [], dict_path, frontend_repairs)
        manifests[target]["file"] = names[0]
        if len(paths) > 1:
            manifests[target]["buckets"] = [bucket_entry(s, n, p, r) for s, n, p, r in
                                            zip(target_shapes, names, paths, reports)]
            manifests[target]["options"]["widths"] = [s[3] for s in target_shapes]
        if len(reports) > 1:  # the verdict covers every width bucket, not just the first
            manifests[target]["gpu_delegate"] = bucketed_gpu_verdict(target_shapes, reports)
        files[target] = list(zip(paths, names))
    staged = {}
    try:
        for target in options.targets:
            progress(target, "writing artifact")
            staged[target] = stage_publish(options.out_dir / config.name / target, files[target],
                                           manifests[target], dict_path, build_record(records, pass_reports))
        for target, tmp in staged.items():
            dirs[target] = swap_in(tmp, options.out_dir / config.name / target)
    finally:
        for tmp in staged.values():
            shutil.rmtree(tmp, ignore_errors=True)  # no-op for those swapped in
    shutil.rmtree(logs_dir, ignore_errors=True)
    # publish (inspection, hashing, manifests, the dist/ swap) is reported to callers such as
    # the bench; build.json, written above, holds the cached-or-built stages only
    records.append(StageRecord("publish", False, time.perf_counter() - t_publish))
    return ConversionResult(config.name, manifests, dirs, records)


def short_message(text: str, limit: int = 300) -> str:
    """One line of at most `limit` characters (the full text goes to a log)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"


def _record(stage: str, hit: bool, t0: float, entry: Path, log: Path | None = None) -> StageRecord:
    stats = json.loads((entry / "stage.json").read_text()) if (entry / "stage.json").is_file() else {}
    return StageRecord(stage, hit, time.perf_counter() - t0 if hit else stats.get("seconds", time.perf_counter() - t0),
                       None if hit else stats.get("peak_rss_mb"), str(log) if log else None)


def artifact_name(config: ModelConfig, target: str, shape: tuple | None = None) -> str:
    """`<model>[_w<width>]<suffix>`: the width names a rec bucket."""
    suffix = {"onnx-raw": ".raw", "onnx": "", "tflite-fp32": "_fp32", "tflite-fp16": "_fp16"}[target]
    bucket = f"_w{shape[3]}" if shape is not None else ""
    return f"{config.name}{bucket}{suffix}{ARTIFACT_EXT[target]}"


def static_shapes(config: ModelConfig, options: "ConvertOptions") -> list[tuple[int, ...]]:
    """The static shapes to build: --shape, else the config's rec width buckets, else its shape."""
    if options.shape is not None:
        return [tuple(options.shape)]
    widths = config.raw.get("widths")
    if config.task == "rec" and widths:
        n, c, h, _ = config.shape
        return [(n, c, h, int(w)) for w in sorted(widths)]
    return [tuple(config.shape)]


def bucketed_gpu_verdict(shapes: list[tuple], reports: list) -> dict:
    """One GPU verdict for all width buckets: each issue names its bucket."""
    from ..inspect_model import GpuIssue, format_gpu_verdict
    issues = [GpuIssue(i.op, f"w{s[3]} {i.node}".strip(), i.reason)
              for s, r in zip(shapes, reports) for i in r.gpu_issues]
    return {"verdict": format_gpu_verdict(issues), "issues": [vars(i) for i in issues]}


def _shape_tag(shape: tuple, shapes: list[tuple]) -> str:
    return f"[w{shape[3]}]" if len(shapes) > 1 else ""


def bucket_entry(shape: tuple, name: str, path: Path, report) -> dict:
    return {"width": shape[3], "shape_nchw": list(shape), "file": name, "bytes": path.stat().st_size,
            "sha256": sources.sha256_file(path), "inputs": [vars(t) for t in report.inputs],
            "outputs": [vars(t) for t in report.outputs], "op_histogram": report.op_histogram,
            "gpu_delegate": {"verdict": report.gpu_verdict, "issues": [vars(i) for i in report.gpu_issues]}}


def _static_stages(config, shape, passes, raw_path, need_tflite, cache, versions, records, logs_dir, progress,
                   tag: str = "") -> dict:
    """onnx (passes with the input pinned to `shape`) and, when asked, tflite, both cached."""
    progress("onnx", f"{tag} passes: {', '.join(passes) or '(none)'}")
    pass_options = {"pin_shapes": {"shapes": {config.input_name: list(shape)}}}
    onnx_key = cache_key(stage="onnx", input=sources.sha256_file(raw_path), passes=passes, options=pass_options,
                         tools={k: versions[k] for k in ("onnx", "onnxsim", "onnxruntime", "ppocr-convert")})

    def build_onnx(tmp: Path) -> None:
        from ppocr_convert.passes.manager import run_pipeline
        t = time.perf_counter()
        try:
            model, reports = run_pipeline(onnx.load(str(raw_path)), passes, pass_options)
        except PassError as e:
            # onnx's inference errors run to thousands of characters on one line: the
            # terminal gets the start, the log gets everything
            log = logs_dir / "passes.log"
            log.write_text(f"{e}\n", encoding="utf-8")
            raise PassFailedError(short_message(str(e)), log_path=str(log),
                                  hint=f"skip the pass with --skip-pass, or change --shape; full text in {log}") from e
        onnx.save(model, str(tmp / "model.onnx"))
        frontend.check_loads_in_onnxruntime(tmp / "model.onnx")
        (tmp / "passes.json").write_text(json.dumps([r.to_dict() for r in reports], indent=1, default=str))
        (tmp / "stage.json").write_text(json.dumps({"seconds": round(time.perf_counter() - t, 2)}))

    t0 = time.perf_counter()
    onnx_dir, hit = cache.build("onnx", onnx_key, build_onnx)
    records.append(_record(f"onnx{tag}", hit, t0, onnx_dir))
    out = {"onnx": onnx_dir / "model.onnx", "pass_reports": json.loads((onnx_dir / "passes.json").read_text())}
    if not need_tflite:
        return out
    progress("tflite", f"{tag} onnx2tf (about a minute)")
    tfl_key = cache_key(stage="tflite", input=sources.sha256_file(out["onnx"]),
                        tools={k: versions[k] for k in ("onnx2tf", "tensorflow", "tf_keras", "onnx", "onnxsim")})
    tfl_stats: dict = {}

    def build_tflite(tmp: Path) -> None:
        work = Path(tempfile.mkdtemp(prefix="onnx2tf-", dir=tmp))
        outs, run = backend.onnx_to_tflite(out["onnx"], work, logs_dir / "onnx2tf.log")
        tfl_stats.update(run.to_dict())
        for target, path in outs.items():
            os.replace(path, tmp / f"{target}.tflite")
        shutil.rmtree(work)
        (tmp / "stage.json").write_text(json.dumps(tfl_stats))

    t0 = time.perf_counter()
    tfl_dir, hit = cache.build("tflite", tfl_key, build_tflite)
    records.append(_record(f"tflite{tag}", hit, t0, tfl_dir, logs_dir / "onnx2tf.log"))
    out.update({t: tfl_dir / f"{t}.tflite" for t in ("tflite-fp32", "tflite-fp16")})
    return out


def build_manifest(config, src, target, artifact, report, versions, records, shape, opset, passes, pass_reports,
                   dict_path, frontend_repairs) -> dict:
    entered = STAGES.index(src.stage)
    return {
        "model": config.name,
        "target": target,
        "task": config.task,
        "file": artifact_name(config, target),
        "bytes": artifact.stat().st_size,
        "sha256": sources.sha256_file(artifact),
        "source": {**src.to_dict(), "path": src.path.name},
        "stage_entered": src.stage,
        # what the parity `paddle` stage is for this model: "original" or "rebuilt-from-onnx"
        "reference": reference_kind(src),
        "stages_run": [s for s in STAGES[entered:STAGES.index(target) + 1] if s != "paddle"],
        "config": {"file": config.config_path.name if config.config_path else None,
                   "sha256": sources.sha256_file(config.config_path) if config.config_path else None},
        "options": {"shape_nchw": list(shape), "opset": opset},
        "tools": versions,
        "frontend_repairs": _without_timings(frontend_repairs),
        "passes": passes,
        # without timings: manifest.json must be identical across identical builds
        "pass_changes": _without_timings(pass_reports),
        "inputs": [vars(t) for t in report.inputs],
        "outputs": [vars(t) for t in report.outputs],
        "op_histogram": report.op_histogram,
        "static_shapes": report.static_shapes,
        "gpu_delegate": {"verdict": report.gpu_verdict, "issues": [vars(i) for i in report.gpu_issues]},
        "dictionary": dict_path.name if dict_path else None,
        # how an app must feed the model, machine-readably (see deployment_recipe)
        "deploy": deployment_recipe(config, target, shape),
        "preprocess": config.preprocess,
        "postprocess": config.postprocess,
    }


def deployment_recipe(config: ModelConfig, target: str, shape) -> dict:
    """Everything an Android/iOS team (or a checker) needs to feed the artifact exactly as
    the parity harness did: layout, channel order, resize, padding, normalisation."""
    pre = config.preprocess
    layout = "NHWC" if target.startswith("tflite") else "NCHW"
    norm = {"scale": pre.get("scale"), "mean": pre.get("mean"), "std": pre.get("std"),
            "formula": "(pixel * scale - mean) / std, per channel, in the channel order below"}
    common = {"input_layout": layout, "channel_order": pre.get("channel_order", "BGR"), "dtype": "float32",
              "normalize": norm}
    if target == "onnx-raw":
        return {**common, "shape": "dynamic (the PaddleOCR reference resize applies)"}
    if config.task == "det":
        mode = pre.get("resize_mode", "stretch")
        recipe = {**common, "resize": mode, "canvas_hw": list(shape[2:])}
        if mode == "letterbox":
            recipe.update({
                "scale": "s = min(canvas_h / h, canvas_w / w)" + ("" if pre.get("upscale") else ", capped at 1"),
                "upscale_small_images": bool(pre.get("upscale", False)),
                "placement": "top-left; the rest of the canvas is padding",
                "pad_value": pre.get("pad_value", 0), "pad_applies_to": "pixels, before normalisation",
                "boxes_to_image": "divide output coordinates by s; ignore the padded area",
            })
        else:
            recipe["boxes_to_image"] = "scale x by w / canvas_w and y by h / canvas_h"
        return recipe
    if config.task == "rec":
        widths = config.raw.get("widths") or [shape[3]]
        return {**common, "height": shape[2], "widths": sorted(widths),
                "resize": "keep aspect: width = ceil(height * w / h)",
                "choose_width": "the narrowest bucket >= that width",
                "pad": "zeros on the right, after normalisation",
                "longer_than_widest": f"windows of the widest width overlapping by a quarter "
                                      f"({max(widths) // 4} px); keep each window's CTC steps between "
                                      "the middles of its overlaps, concatenate, then CTC-decode",
                "decode": "CTC greedy: argmax per step, collapse repeats, drop index 0 (blank); "
                          "index i>0 is dictionary line i, the last index is a space"}
    return {**common, "height": shape[2], "width": shape[3], "resize": "keep aspect, pad right with zeros"}


def _without_timings(reports: list[dict] | None) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in reports or []]


def build_record(records: list[StageRecord], pass_reports: list[dict] | None) -> dict:
    return {"stages": [r.to_dict() for r in records],
            "pass_seconds": {r["name"]: r.get("seconds") for r in pass_reports or []}}


def stage_publish(target_dir: Path, artifacts: list[tuple[Path, str]], manifest: dict, dict_path: Path | None,
                  build: dict | None = None) -> Path:
    """Write the artifact dir into a private temp dir next to its final place."""
    try:
        target_dir.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_temp_dirs(target_dir.parent, target_dir.name)  # left by a killed run
        tmp = temp_dir(target_dir.parent, target_dir.name)
    except OSError as e:
        raise _output_error(target_dir, e) from e
    try:
        for artifact, name in artifacts:
            shutil.copyfile(artifact, tmp / name)
        if dict_path is not None:
            shutil.copyfile(dict_path, tmp / dict_path.name)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        # what varies between identical builds (timings, cache hits, memory) lives apart
        (tmp / "build.json").write_text(json.dumps(build, indent=2) + "\n")
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise _output_error(target_dir, e) from e
        raise
    return tmp


def swap_in(tmp: Path, target_dir: Path) -> Path:
    """Replace target_dir by tmp atomically (concurrent runs: last one wins, none fails)."""
    try:
        replace_dir(tmp, target_dir)
    except OSError as e:
        raise _output_error(target_dir, e) from e
    return target_dir


def publish(target_dir: Path, artifact: Path, manifest: dict, dict_path: Path | None, config: ModelConfig,
            build: dict | None = None) -> Path:
    """Write the artifact dir next to its final place, then swap it in."""
    return swap_in(stage_publish(target_dir, [(artifact, manifest["file"])], manifest, dict_path, build), target_dir)


def _output_error(target_dir: Path, e: OSError) -> ConvertError:
    return ConvertError(f"cannot write {target_dir}: {e.strerror or e}", hint=write_error_hint(e, "--out"))

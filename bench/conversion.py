"""Conversion cost: ours (`convert()`, cold in a fresh stage cache, then cached) against the
plain way (onnxsim + graphsurgeon, then the onnx2tf CLI), per model and repetition.

Each repetition runs ours cold -> plain onnxsim+gs -> plain onnx2tf -> ours cached, every
step in its own process (see `bench.workers`) so each one's peak RSS is its own. The v5
source is the packaged paddle2onnx ONNX, so neither side runs paddle2onnx. Artifacts are
checked to be byte-identical across repetitions and between cold and cached runs.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

from bench.stats import median_of, ratio, value_range
from bench.subjects import MODELS, TARGETS, log

REPO = Path(__file__).resolve().parents[1]


def run_worker(kind: str, args: list[str], work: Path, env: dict | None = None) -> dict:
    """`python -m bench.workers KIND ...` through run_tool: its JSON plus the process's wall
    time and peak RSS (whole process tree) under "process"."""
    from ppocr_convert.toolrun import run_tool
    result = work / f"{kind}-{time.monotonic_ns()}.json"
    argv = [sys.executable, "-m", "bench.workers", kind, "--result", str(result), *args]
    run = run_tool(f"bench worker {kind}", argv, work / f"{result.stem}.log", cwd=REPO, env=env)
    data = json.loads(result.read_text())
    data["process"] = {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb}
    return data


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bench_conversion(work: Path, reps: int, models: list[str]) -> tuple[dict, dict]:
    """(results per model key, artifact paths {model key: {kind: path}} of the first repetition)."""
    from bench.plain_way import onnx2tf_cli
    from ppocr_convert.chain import sources
    from ppocr_convert.config import load_model_config

    out: dict = {}
    paths: dict = {}
    for key in models:
        name = MODELS[key]
        cfg = load_model_config(name)
        src = sources.packaged_onnx_source(cfg)
        if src is None:
            raise SystemExit(f"{cfg.name}: no packaged ONNX installed (make setup)")
        runs = []
        for i in range(reps):
            step = f"{name} [{i + 1}/{reps}]"
            cache = work / f"cache-{key}-{i}"
            env = {"PPOCR_CONVERT_CACHE": str(cache)}

            def ours(label: str) -> dict:
                return run_worker("convert", ["--model", name, "--out-dir", str(work / f"dist-{label}-{i}"),
                                              "--cache-dir", str(cache), "--src", str(src.path)], work, env)

            log(f"{step}: ours, cold (fresh cache)")
            cold = ours("cold")
            log(f"{step}: plain way, onnxsim + graphsurgeon")
            plain_dir = work / f"plain-{key}-{i}"
            plain_dir.mkdir()
            plain_onnx = plain_dir / "plain.onnx"
            p_onnx = run_worker("plain-onnx", ["--src", str(src.path), "--dst", str(plain_onnx), "--input-name",
                                               cfg.input_name, "--shape", ",".join(map(str, cfg.shape))], work)
            log(f"{step}: plain way, onnx2tf CLI")
            p_tfl, tflite_files = onnx2tf_cli(plain_onnx, plain_dir)
            log(f"{step}: ours, cached (same cache)")
            cached = ours("cached")
            plain_files = {"plain-onnx": plain_onnx, **tflite_files}
            runs.append({"ours_cold": cold, "ours_cached": cached,
                         "plain": {"onnx": p_onnx, "onnx2tf": p_tfl,
                                   "sha256": {k: _sha256(f) for k, f in plain_files.items()}}})
            if i == 0:
                paths[key] = {t: Path(cold["artifacts"][t]["path"]) for t in TARGETS} | plain_files
        out[key] = {"model": name, "source": src.origin, "source_stage": src.stage, "reps": reps, "runs": runs,
                    "reproducible": reproducibility(runs)}
        for kind, p in paths[key].items():
            if not p.is_file():
                raise SystemExit(f"missing artifact {kind}: {p}")
    return out, paths


def reproducibility(runs: list[dict]) -> dict:
    """Whether every repetition produced byte-identical artifacts (ours cold, ours cached vs
    cold, plain), per artifact."""
    ours = {t: {r["ours_cold"]["artifacts"][t]["sha256"] for r in runs} for t in TARGETS}
    cached = {t: {r["ours_cached"]["artifacts"][t]["sha256"] for r in runs} for t in TARGETS}
    plain = {k: {r["plain"]["sha256"][k] for r in runs} for k in runs[0]["plain"]["sha256"]}
    return {"ours_across_cold_runs": {t: len(v) == 1 for t, v in ours.items()},
            "ours_cached_equals_cold": {t: ours[t] == cached[t] for t in TARGETS},
            "plain_across_runs": {k: len(v) == 1 for k, v in plain.items()}}


def _stage_values(run: dict, stage: str, field: str) -> list[float]:
    """`field` of a stage's records: rec builds one onnx/tflite stage per width bucket
    ("onnx[w320]", "onnx[w640]", ...), so a stage may have several."""
    return [s[field] for s in run["stages"]
            if (s["stage"] == stage or s["stage"].startswith(stage + "[")) and s[field] is not None]


def stage_seconds(run: dict, stage: str) -> float | None:
    """Seconds of a stage in one conversion, summed over width buckets."""
    values = _stage_values(run, stage, "seconds")
    return sum(values) if values else None


def stage_peak_rss(run: dict, stage: str) -> float | None:
    """Peak RSS of a stage's own tool process, the largest over width buckets (peaks do not add up)."""
    values = _stage_values(run, stage, "peak_rss_mb")
    return max(values) if values else None


def stage_buckets(run: dict, stage: str) -> int:
    """How many times a stage ran in one conversion (rec: one per width bucket)."""
    return sum(1 for s in run["stages"] if s["stage"] == stage or s["stage"].startswith(stage + "["))


def onnx2tf_runs(run: dict) -> int:
    """How many of a conversion's tflite stages ran onnx2tf (the others were re-emitted from
    the narrowest rec bucket, chain/retarget.py)."""
    return sum(1 for s in run["stages"] if (s["stage"] == "tflite" or s["stage"].startswith("tflite["))
               and (s.get("detail") or {}).get("method") != "retarget")


def conversion_rows(conv: dict) -> list[dict]:
    """One row per model and stage, medians over the repetitions. Peak RSS: in-process stages
    = the converting process (sampled per phase); onnx2tf = its own process tree (run_tool), on
    both sides; total = the whole worker process (plain: the larger of its two steps)."""
    rows = []
    for key, c in conv.items():
        runs = c["runs"]
        cold = [r["ours_cold"] for r in runs]
        cached = [r["ours_cached"] for r in runs]

        def ours_row(stage: str, label: str, rss: list) -> dict:
            return {"model": key, "stage": label, "ours_s": median_of(stage_seconds(r, stage) for r in cold),
                    "ours_rss": median_of(rss), "cached_s": median_of(stage_seconds(r, stage) for r in cached)}

        def phase_rss(phase: str) -> list:
            return [r["phase_peak_rss_mb"].get(phase) for r in cold]

        plain_onnx_s = [r["plain"]["onnx"]["seconds"] for r in runs]
        plain_tfl_s = [r["plain"]["onnx2tf"]["seconds"] for r in runs]
        rows += [
            ours_row("onnx-raw", "onnx-raw (front-end)", phase_rss("onnx-raw"))
            | {"plain": "none: source is ONNX (no paddle2onnx)", "plain_s": None, "plain_rss": None},
            ours_row("onnx", "onnx (passes)", phase_rss("onnx"))
            | {"plain": "onnxsim + graphsurgeon", "plain_s": median_of(plain_onnx_s),
               "plain_rss": median_of(r["plain"]["onnx"]["process"]["peak_rss_mb"] for r in runs),
               "ours_range": value_range(stage_seconds(r, "onnx") for r in cold),
               "plain_range": value_range(plain_onnx_s)},
            ours_row("tflite", "tflite (onnx2tf)", [stage_peak_rss(r, "tflite") for r in cold])
            | {"plain": "onnx2tf CLI", "plain_s": median_of(plain_tfl_s),
               "plain_rss": median_of(r["plain"]["onnx2tf"]["peak_rss_mb"] for r in runs),
               "ours_range": value_range(stage_seconds(r, "tflite") for r in cold),
               "plain_range": value_range(plain_tfl_s)},
            ours_row("publish", "publish (inspect, manifest)", phase_rss("publish"))
            | {"plain": "none", "plain_s": None, "plain_rss": None},
            {"model": key, "stage": "total (convert() / plain steps)",  # plain peak: the larger of its two steps
             "ours_s": median_of(r["convert_total_s"] for r in cold),
             "ours_rss": median_of(r["process"]["peak_rss_mb"] for r in cold),
             "cached_s": median_of(r["convert_total_s"] for r in cached),
             "plain": "onnxsim+gs + onnx2tf", "plain_s": median_of(a + b for a, b in zip(plain_onnx_s, plain_tfl_s)),
             "plain_rss": median_of(max(r["plain"]["onnx"]["process"]["peak_rss_mb"],
                                        r["plain"]["onnx2tf"]["peak_rss_mb"]) for r in runs)},
        ]
    for r in rows:
        r["time_ratio"] = ratio(r["ours_s"], r["plain_s"])
        r["rss_ratio"] = ratio(r["ours_rss"], r["plain_rss"])
    return rows


def pass_seconds(conv: dict) -> dict:
    """Median seconds per pass of our onnx stage, and the rest of the stage (load, save, the
    ORT load check), per model key."""
    out = {}
    for key, c in conv.items():
        cold = [r["ours_cold"] for r in c["runs"]]
        names = list(cold[0]["pass_seconds"])
        medians = {n: median_of(r["pass_seconds"].get(n) for r in cold) for n in names}
        medians["(load, save, ORT load check)"] = median_of(
            stage_seconds(r, "onnx") - sum(v or 0 for v in r["pass_seconds"].values()) for r in cold)
        out[key] = medians
    return out

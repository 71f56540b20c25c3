"""Benchmark ppocr-convert against "the plain way", in one run, reported as ratios.

    .venv/bin/python -m bench.run_bench            # full run: ~3.5 min on 2 idle cores, ~6 min when busy
    .venv/bin/python -m bench.run_bench --quick    # smoke run (~1.5 min): 1 conversion each, 5 reps, 4 images

What it measures (PP-OCRv5 mobile det and rec):

1. conversion: wall time and peak RSS per stage (onnx-raw front-end, onnx passes, onnx2tf,
   publish) of `convert()` in a fresh cache (cold) and again with that cache (cached),
   against the plain way people script it: onnxsim (static input shape) + an
   onnx-graphsurgeon edit (HardSigmoid -> Mul/Add/Clip, cleanup, toposort) + the onnx2tf
   CLI. The v5 source is the packaged paddle2onnx ONNX, so neither side runs paddle2onnx.
   Each conversion runs in its own child process (this script, `--worker ...`) so that
   its peak RSS is its own: in-process stages are sampled with psutil while they run, the
   onnx2tf child's peak comes from `toolrun.run_tool` on both sides. `--conv-reps` runs
   (default 3), medians reported; artifacts are checked to be byte-identical across runs.
2. artifact speed: median/p90 latency per artifact and thread count on a fixed-shape
   input (the configs' deployable shapes: det 1x3x1024x1024 letterboxed, rec 1x3x48x320), every artifact through
   `ppocr_convert.runners.open_runner` (NCHW float32 in). All artifacts of one model are
   measured in interleaved rounds (random order per round) so machine drift hits them
   alike, and every switch of engine first waits until ONNX Runtime's spinning worker
   threads have gone idle (they burn ~40 ms of CPU after a multi-threaded run, which on
   2 CPUs would be charged to whatever runs next). CPU used by other processes meanwhile
   is reported next to the numbers. Plus end-to-end OCR images/s per runner kind on the
   real photos in ../shared/images.
3. size: bytes per artifact, ratio to onnx-raw and to the plain-way artifact.
4. op counts: TFLite (and ONNX) op histograms, TRANSPOSE in particular, ours vs plain;
   TFLite op sequences (op, shapes) and ONNX Runtime's optimized graphs are compared too,
   so a latency gap can be told apart from noise.

Prints markdown (stdout; progress goes to stderr) and writes
bench/results/bench-<UTC timestamp>.json and bench/results/latest.json.
"""
from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
IMAGES_DIR = Path(__file__).resolve().parents[2] / "shared" / "images"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

MODELS = {"det": "PP-OCRv5_mobile_det", "rec": "PP-OCRv5_mobile_rec"}
TARGETS = ["onnx-raw", "onnx", "tflite-fp32", "tflite-fp16"]
OURS_VS_PLAIN = {"onnx": "plain-onnx", "tflite-fp32": "plain-tflite-fp32", "tflite-fp16": "plain-tflite-fp16"}
RATIO_TARGET = 1.05


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ======================================================================================
# RSS sampling (used inside the worker processes)
# ======================================================================================

def tree_rss_mb(proc) -> float:
    import psutil
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        procs = [proc]
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


class RssSampler(threading.Thread):
    """Polls this process tree's RSS; `mark(label)` starts a new phase. Keeps per-phase
    peak RSS and wall time."""

    def __init__(self, interval: float = 0.02):
        super().__init__(daemon=True)
        import psutil
        self.proc = psutil.Process()
        self.interval = interval
        self.label = "startup"
        self.peaks: dict[str, float] = {}
        self.walls: dict[str, float] = {}
        self._t = time.perf_counter()
        self._lock = threading.Lock()
        self._stop_event = threading.Event()

    def sample(self) -> None:
        rss = tree_rss_mb(self.proc)
        with self._lock:
            self.peaks[self.label] = max(self.peaks.get(self.label, 0.0), rss)

    def mark(self, label: str) -> None:
        if label == self.label:
            return
        self.sample()
        now = time.perf_counter()
        with self._lock:
            self.walls[self.label] = self.walls.get(self.label, 0.0) + now - self._t
            self.label, self._t = label, now
        self.sample()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def finish(self) -> None:
        self.mark("done")
        self._stop_event.set()


# ======================================================================================
# workers (child processes)
# ======================================================================================

def worker_convert(a) -> dict:
    """One `convert()` of one model, all four targets; per-phase wall and peak RSS."""
    sampler = RssSampler()
    sampler.start()
    sampler.mark("imports")
    from ppocr_convert.config import load_model_config
    from ppocr_convert.chain.conversion import ConvertOptions, convert

    import ppocr_convert.chain.conversion as convert_module

    # Phases from the progress callback: source, onnx-raw, then onnx and tflite once per rec
    # width bucket (the sampler adds up a label's walls); the first inspect_file call starts
    # "publish", and everything after it (per-target messages reuse stage names) stays there.
    phases = ("source", "onnx-raw", "onnx", "tflite")
    state = {"publish": False}

    def to_publish() -> None:
        state["publish"] = True
        sampler.mark("publish")

    def progress(stage: str, _msg: str) -> None:
        if state["publish"] or stage not in phases:
            to_publish()
        else:
            sampler.mark(stage)

    inspect_file = getattr(convert_module, "inspect_file", None)
    if inspect_file is not None:
        def inspect_and_mark(*args, **kwargs):
            to_publish()
            return inspect_file(*args, **kwargs)
        convert_module.inspect_file = inspect_and_mark

    cfg = load_model_config(a.model)
    opts = ConvertOptions(targets=list(TARGETS), out_dir=Path(a.out_dir), cache_dir=Path(a.cache_dir), use_cache=True,
                          model_dir=Path(a.src) if a.src else None)
    t0 = time.perf_counter()
    result = convert(cfg, opts, progress=progress)
    total = time.perf_counter() - t0
    sampler.finish()
    return {
        "model": a.model,
        "convert_total_s": total,
        "stages": [{"stage": s.stage, "cached": s.cached, "seconds": s.seconds, "peak_rss_mb": s.peak_rss_mb}
                   for s in result.stages],
        "phase_peak_rss_mb": sampler.peaks,
        "phase_wall_s": sampler.walls,
        "artifacts": {t: {"path": str(result.artifact_dirs[t] / m["file"]), "bytes": m["bytes"],
                          "sha256": m["sha256"], "op_histogram": m["op_histogram"],
                          "gpu_verdict": m["gpu_delegate"]["verdict"]}
                      for t, m in result.manifests.items()},
        "pass_seconds": _pass_seconds(result),
    }


def _pass_seconds(result) -> dict:
    """Seconds per pass of the onnx stage: build.json next to the artifact (timings kept
    out of manifest.json), else the manifest's pass reports."""
    build = result.artifact_dirs["onnx"] / "build.json"
    if build.is_file():
        secs = json.loads(build.read_text()).get("pass_seconds")
        if secs:
            return secs
    return {r["name"]: r["seconds"] for r in result.manifests["onnx"].get("pass_changes", []) if "seconds" in r}


def worker_plain_onnx(a) -> dict:
    """The plain way's ONNX step: onnxsim with a static input shape, then an
    onnx-graphsurgeon edit (HardSigmoid -> Mul/Add/Clip), cleanup, toposort."""
    sampler = RssSampler()
    sampler.start()
    sampler.mark("imports")
    import onnx
    shape = [int(d) for d in a.shape.split(",")]
    sampler.mark("plain-onnx")
    t0 = time.perf_counter()
    import onnxsim
    import onnx_graphsurgeon as gs
    model = onnx.load(a.src)
    t_load = time.perf_counter()
    model, ok = onnxsim.simplify(model, overwrite_input_shapes={a.input_name: shape})
    if not ok:
        raise RuntimeError("onnxsim check failed")
    t_sim = time.perf_counter()
    graph = gs.import_onnx(model)
    replaced = 0
    for node in [n for n in graph.nodes if n.op == "HardSigmoid"]:
        alpha = float(node.attrs.get("alpha", 0.2))
        beta = float(node.attrs.get("beta", 0.5))
        x, y = node.inputs[0], node.outputs[0]
        scaled = gs.Variable(f"{node.name}_scaled", dtype=np.float32)
        shifted = gs.Variable(f"{node.name}_shifted", dtype=np.float32)
        graph.nodes.append(gs.Node("Mul", f"{node.name}_mul",
                                   inputs=[x, gs.Constant(f"{node.name}_alpha", np.array(alpha, np.float32))],
                                   outputs=[scaled]))
        graph.nodes.append(gs.Node("Add", f"{node.name}_add",
                                   inputs=[scaled, gs.Constant(f"{node.name}_beta", np.array(beta, np.float32))],
                                   outputs=[shifted]))
        graph.nodes.append(gs.Node("Clip", f"{node.name}_clip",
                                   inputs=[shifted, gs.Constant(f"{node.name}_lo", np.array(0.0, np.float32)),
                                           gs.Constant(f"{node.name}_hi", np.array(1.0, np.float32))],
                                   outputs=[y]))
        node.inputs.clear()
        node.outputs.clear()
        replaced += 1
    graph.cleanup().toposort()
    model = gs.export_onnx(graph)
    t_gs = time.perf_counter()
    onnx.save(model, a.dst)
    total = time.perf_counter() - t0
    sampler.finish()
    return {
        "seconds": total,
        "steps_s": {"load_and_imports": t_load - t0, "onnxsim": t_sim - t_load, "graphsurgeon": t_gs - t_sim,
                    "save": total - (t_gs - t0)},
        "hardsigmoid_replaced": replaced,
        "peak_rss_mb": sampler.peaks.get("plain-onnx"),
        "phase_peak_rss_mb": sampler.peaks,
    }


WORKERS = {"convert": worker_convert, "plain-onnx": worker_plain_onnx}


def run_worker(kind: str, args: list[str], work: Path, env: dict) -> dict:
    from ppocr_convert.toolrun import run_tool
    result = work / f"{kind}-{time.monotonic_ns()}.json"
    argv = [sys.executable, "-m", "bench.run_bench", "--worker", kind, "--result", str(result), *args]
    run = run_tool(f"bench worker {kind}", argv, work / f"{result.stem}.log", cwd=REPO, env=env)
    data = json.loads(result.read_text())
    data["process"] = {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb}
    return data


# ======================================================================================
# 1. conversion
# ======================================================================================

def bench_conversion(work: Path, reps: int) -> tuple[dict, dict]:
    """Returns (results per model, artifact paths {model: {kind: path}}). Each repetition:
    ours cold (fresh cache) -> plain onnxsim+gs -> plain onnx2tf -> ours cached."""
    import hashlib

    from ppocr_convert.chain import sources
    from ppocr_convert.chain.backend import SAMPLE_DATA_NAME, sample_data
    from ppocr_convert.config import load_model_config
    from ppocr_convert.toolrun import run_tool

    onnx2tf = str(Path(sys.executable).with_name("onnx2tf"))
    out: dict = {}
    paths: dict = {}
    for key, name in MODELS.items():
        cfg = load_model_config(name)
        src = sources.packaged_onnx_source(cfg)
        if src is None:
            raise SystemExit(f"{cfg.name}: no packaged ONNX installed (make setup)")
        shape = ",".join(str(d) for d in cfg.shape)
        runs = []
        for i in range(reps):
            cache = work / f"cache-{key}-{i}"
            env = {"PPOCR_CONVERT_CACHE": str(cache)}
            log(f"{name} [{i + 1}/{reps}]: ours, cold (fresh cache)")
            cold = run_worker("convert", ["--model", name, "--out-dir", str(work / f"dist-cold-{i}"),
                                          "--cache-dir", str(cache), "--src", str(src.path)], work, env)
            log(f"{name} [{i + 1}/{reps}]: plain way, onnxsim + graphsurgeon")
            plain_dir = work / f"plain-{key}-{i}"
            plain_dir.mkdir()
            plain_onnx = plain_dir / "plain.onnx"
            p_onnx = run_worker("plain-onnx", ["--src", str(src.path), "--shape", shape, "--input-name",
                                               cfg.input_name, "--dst", str(plain_onnx)], work, {})
            log(f"{name} [{i + 1}/{reps}]: plain way, onnx2tf CLI")
            tf_work = plain_dir / "onnx2tf"
            tf_work.mkdir()
            shutil.copyfile(plain_onnx, tf_work / "copy.onnx")  # onnx2tf rewrites its input in place
            np.save(tf_work / SAMPLE_DATA_NAME, sample_data())  # else it downloads one (offline here)
            run = run_tool("onnx2tf", [onnx2tf, "-i", "copy.onnx", "-o", "outdir"], plain_dir / "onnx2tf.log",
                           cwd=tf_work)
            p_tfl = {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb}
            log(f"{name} [{i + 1}/{reps}]: ours, cached (same cache)")
            cached = run_worker("convert", ["--model", name, "--out-dir", str(work / f"dist-cached-{i}"),
                                            "--cache-dir", str(cache), "--src", str(src.path)], work, env)
            plain_files = {"plain-onnx": plain_onnx,
                           "plain-tflite-fp32": tf_work / "outdir" / "copy_float32.tflite",
                           "plain-tflite-fp16": tf_work / "outdir" / "copy_float16.tflite"}
            runs.append({"ours_cold": cold, "ours_cached": cached,
                         "plain": {"onnx": p_onnx, "onnx2tf": p_tfl,
                                   "sha256": {k: hashlib.sha256(f.read_bytes()).hexdigest() for k, f in plain_files.items()}}})
            if i == 0:
                paths[key] = {t: Path(cold["artifacts"][t]["path"]) for t in TARGETS} | plain_files
        ours_sha = {t: {r["ours_cold"]["artifacts"][t]["sha256"] for r in runs} for t in TARGETS}
        ours_sha_cached = {t: {r["ours_cached"]["artifacts"][t]["sha256"] for r in runs} for t in TARGETS}
        plain_sha = {k: {r["plain"]["sha256"][k] for r in runs} for k in runs[0]["plain"]["sha256"]}
        out[key] = {"model": name, "source": src.origin, "source_stage": src.stage, "reps": reps, "runs": runs,
                    "reproducible": {"ours_across_cold_runs": {t: len(v) == 1 for t, v in ours_sha.items()},
                                     "ours_cached_equals_cold": {t: ours_sha[t] == ours_sha_cached[t] for t in TARGETS},
                                     "plain_across_runs": {k: len(v) == 1 for k, v in plain_sha.items()}}}
        for k, p in paths[key].items():
            if not p.is_file():
                raise SystemExit(f"missing artifact {k}: {p}")
    return out, paths


def stage_seconds(run: dict, stage: str) -> float:
    """Seconds of a stage, summed over rec width buckets ("onnx[w320]", "onnx[w640]", ...)."""
    return sum(s["seconds"] for s in run["stages"] if s["stage"] == stage or s["stage"].startswith(stage + "["))


def _med(values):
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def conversion_rows(conv: dict) -> list[dict]:
    """Medians over the repetitions. Peak RSS: in-process stages = the converting process
    (sampled); onnx2tf = its own process tree (run_tool), on both sides."""
    rows = []
    for key, c in conv.items():
        runs = c["runs"]

        def stage(which, st, field):
            # rec builds one onnx/tflite stage per width bucket ("onnx[w320]", ...): seconds add
            # up, memory peaks do not
            def one(run):
                vals = [s[field] for s in run[which]["stages"]
                        if s["stage"] == st or s["stage"].startswith(st + "[")]
                vals = [v for v in vals if v is not None]
                if not vals:
                    return None
                return max(vals) if "rss" in field else sum(vals)
            return _med([one(r) for r in runs])

        def phase(which, kind, ph):
            return _med([r[which][kind].get(ph) for r in runs])

        def plain(step, field):
            return _med([r["plain"][step][field] for r in runs])

        rows.append({"model": key, "stage": "onnx-raw (front-end)",
                     "ours_s": stage("ours_cold", "onnx-raw", "seconds"),
                     "ours_rss": phase("ours_cold", "phase_peak_rss_mb", "onnx-raw"),
                     "cached_s": stage("ours_cached", "onnx-raw", "seconds"),
                     "plain": "none: source is ONNX (no paddle2onnx)", "plain_s": None, "plain_rss": None})
        rows.append({"model": key, "stage": "onnx (passes)",
                     "ours_s": stage("ours_cold", "onnx", "seconds"),
                     "ours_rss": phase("ours_cold", "phase_peak_rss_mb", "onnx"),
                     "cached_s": stage("ours_cached", "onnx", "seconds"),
                     "plain": "onnxsim + graphsurgeon", "plain_s": plain("onnx", "seconds"),
                     "plain_rss": plain("onnx", "peak_rss_mb")})
        rows.append({"model": key, "stage": "tflite (onnx2tf)",
                     "ours_s": stage("ours_cold", "tflite", "seconds"),
                     "ours_rss": stage("ours_cold", "tflite", "peak_rss_mb"),
                     "cached_s": stage("ours_cached", "tflite", "seconds"),
                     "plain": "onnx2tf CLI", "plain_s": plain("onnx2tf", "seconds"),
                     "plain_rss": plain("onnx2tf", "peak_rss_mb")})
        rows.append({"model": key, "stage": "publish (inspect, manifest)",
                     "ours_s": phase("ours_cold", "phase_wall_s", "publish"),
                     "ours_rss": phase("ours_cold", "phase_peak_rss_mb", "publish"),
                     "cached_s": phase("ours_cached", "phase_wall_s", "publish"),
                     "plain": "none", "plain_s": None, "plain_rss": None})
        rows.append({"model": key, "stage": "total (convert() / plain steps)",
                     "ours_s": _med([r["ours_cold"]["convert_total_s"] for r in runs]),
                     "ours_rss": _med([r["ours_cold"]["process"]["peak_rss_mb"] for r in runs]),
                     "cached_s": _med([r["ours_cached"]["convert_total_s"] for r in runs]),
                     "plain": "onnxsim+gs + onnx2tf",
                     "plain_s": _med([r["plain"]["onnx"]["seconds"] + r["plain"]["onnx2tf"]["seconds"] for r in runs]),
                     "plain_rss": _med([max(r["plain"]["onnx"]["process"]["peak_rss_mb"], r["plain"]["onnx2tf"]["peak_rss_mb"])
                                        for r in runs])})
        # min..max of the key timings, to judge noise
        rows[-4]["ours_range"] = _range([stage_seconds(r["ours_cold"], "onnx") for r in runs])
        rows[-4]["plain_range"] = _range([r["plain"]["onnx"]["seconds"] for r in runs])
        rows[-3]["ours_range"] = _range([stage_seconds(r["ours_cold"], "tflite") for r in runs])
        rows[-3]["plain_range"] = _range([r["plain"]["onnx2tf"]["seconds"] for r in runs])
    for r in rows:
        r["time_ratio"] = _ratio(r["ours_s"], r["plain_s"])
        r["rss_ratio"] = _ratio(r["ours_rss"], r["plain_rss"])
    return rows


def _range(values) -> list[float]:
    return [float(min(values)), float(max(values))]


def pass_seconds(conv: dict) -> dict:
    """Median seconds per pass of our onnx stage, and the rest of the stage (save + ORT load check)."""
    out = {}
    for key, c in conv.items():
        runs = c["runs"]
        names = list(runs[0]["ours_cold"]["pass_seconds"])
        med = {n: _med([r["ours_cold"]["pass_seconds"].get(n) for r in runs]) for n in names}
        med["(load, save, ORT load check)"] = _med([
            stage_seconds(r["ours_cold"], "onnx")
            - sum(v or 0 for v in r["ours_cold"]["pass_seconds"].values()) for r in runs])
        out[key] = med
    return out


# ======================================================================================
# 2. artifact speed
# ======================================================================================

class CpuLoad:
    """CPU used by other processes (and stolen by the hypervisor) while a block ran, as a
    fraction of the machine's capacity: the noise this script cannot control."""

    def __enter__(self):
        import psutil
        self._psutil = psutil
        self.me = psutil.Process()
        self.sys0, self.own0, self.t0 = psutil.cpu_times(), self._own(), time.perf_counter()
        return self

    def _own(self) -> float:
        t = self.me.cpu_times()
        return t.user + t.system

    def __exit__(self, *exc):
        sys1, own1 = self._psutil.cpu_times(), self._own()
        wall = time.perf_counter() - self.t0
        cap = wall * (os.cpu_count() or 1)

        def busy(t):
            return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "steal", 0.0) - getattr(t, "guest", 0.0) \
                - getattr(t, "guest_nice", 0.0)

        self.other = max(0.0, (busy(sys1) - busy(self.sys0) - (own1 - self.own0)) / cap)
        self.steal = max(0.0, (getattr(sys1, "steal", 0.0) - getattr(self.sys0, "steal", 0.0)) / cap)
        self.own = (own1 - self.own0) / cap
        return False

    def to_dict(self) -> dict:
        return {"other_procs": round(self.other, 3), "steal": round(self.steal, 3), "own": round(self.own, 3)}


def settle(max_s: float = 0.3, window_s: float = 0.02) -> float:
    """Wait until this process stops using CPU (at most max_s). ONNX Runtime's intra-op
    threads keep spinning ~40 ms after a run with threads > 1 (measured here); on a
    2-CPU machine that steals a core from whichever engine runs next, so every switch
    of engine waits for the spinning to stop. Returns the seconds waited."""
    import psutil
    me = psutil.Process()

    def cpu() -> float:
        t = me.cpu_times()
        return t.user + t.system

    t0 = time.perf_counter()
    prev = cpu()
    while time.perf_counter() - t0 < max_s:
        time.sleep(window_s)
        cur = cpu()
        if cur - prev < window_s / 4:
            break
        prev = cur
    return time.perf_counter() - t0


def bench_latency(paths: dict, threads: list[int], reps: int, warmup: int, rounds: int) -> list[dict]:
    from ppocr_convert.runners import open_runner

    from ppocr_convert.config import load_model_config

    # the shape the artifacts were built for: the config's deployable shape (rec: its
    # narrowest width bucket, the file the manifest names first)
    shapes = {key: tuple(load_model_config(name).shape) for key, name in MODELS.items()}
    rng = np.random.default_rng(0)
    rows = []
    for key in MODELS:
        x = rng.uniform(-1.0, 1.0, size=shapes[key]).astype(np.float32)
        kinds = ["onnx-raw", "onnx", "plain-onnx", "tflite-fp32", "plain-tflite-fp32",
                 "tflite-fp16", "plain-tflite-fp16"]
        for n in threads:
            log(f"latency {key} {'x'.join(map(str, shapes[key]))}, {n} thread(s), {reps} reps x {len(kinds)} artifacts")
            runners = {k: open_runner(paths[key][k], _stage(k), threads=n) for k in kinds}
            for r in runners.values():
                for _ in range(warmup):
                    r.run(x)
            times: dict[str, list[float]] = {k: [] for k in kinds}
            chunks = [reps // rounds + (1 if i < reps % rounds else 0) for i in range(rounds)]
            order_rng = random.Random(n)
            with CpuLoad() as load:
                for i, count in enumerate(chunks):
                    order = list(kinds)
                    order_rng.shuffle(order)  # no artifact always follows the same one
                    for k in order:
                        run = runners[k].run
                        settle()  # the previous engine's threads must stop spinning first
                        run(x)  # untimed: re-warm caches for this model
                        for _ in range(count):
                            t = time.perf_counter()
                            run(x)
                            times[k].append(time.perf_counter() - t)
            for k in kinds:
                ms = np.array(times[k]) * 1000.0
                bounds = np.cumsum([0] + chunks)
                rounds_ms = [ms[bounds[j]:bounds[j + 1]].tolist() for j in range(len(chunks))]
                rows.append({"model": key, "threads": n, "artifact": k, "engine": _engine(k),
                             "shape": list(shapes[key]), "reps": len(ms),
                             "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
                             "min_ms": float(ms.min()), "mean_ms": float(ms.mean()), "cpu_load": load.to_dict(),
                             "rounds_ms": rounds_ms})
            del runners
            gc.collect()
    by = {(r["model"], r["threads"], r["artifact"]): r for r in rows}
    for r in rows:
        plain = by.get((r["model"], r["threads"], OURS_VS_PLAIN.get(r["artifact"], "")))
        if plain:
            r["vs_plain_median"] = r["median_ms"] / plain["median_ms"]
            r["vs_plain_p90"] = r["p90_ms"] / plain["p90_ms"]
            r["vs_plain_min"] = r["min_ms"] / plain["min_ms"]
            # paired: ours and plain ran close in time within each round, so the per-round
            # ratio cancels slow drift of the machine; its spread says how sure the ratio is
            per_round = [float(np.median(a)) / float(np.median(b))
                         for a, b in zip(r["rounds_ms"], plain["rounds_ms"]) if len(a) and len(b)]
            r["vs_plain_paired"] = float(np.median(per_round))
            r["vs_plain_paired_iqr"] = [float(np.percentile(per_round, 25)), float(np.percentile(per_round, 75))]
        if r["artifact"].endswith("tflite-fp32"):
            ort = by[(r["model"], r["threads"], "onnx" if r["artifact"] == "tflite-fp32" else "plain-onnx")]
            r["vs_ort_onnx_median"] = r["median_ms"] / ort["median_ms"]
    return rows


def _stage(kind: str) -> str:
    return kind.removeprefix("plain-")


def _engine(kind: str) -> str:
    return "TFLite (LiteRT)" if "tflite" in kind else "ONNX Runtime"


def bench_pipeline(paths: dict, images: list[Path], threads: int, kinds: list[str]) -> list[dict]:
    from ppocr_convert.config import load_model_config
    from ppocr_convert.model_params import charset, det_params, rec_params
    from ppocr_convert.ocr import ImageLoadError, OCRPipeline, load_image
    from ppocr_convert.runners import open_runner

    det_cfg, rec_cfg = load_model_config(MODELS["det"]), load_model_config(MODELS["rec"])
    chars = charset(rec_cfg)
    pipes = {}
    for k in kinds:
        pipes[k] = OCRPipeline(open_runner(paths["det"][k], _stage(k), threads=threads),
                               open_runner(paths["rec"][k], _stage(k), threads=threads),
                               chars, det_params(det_cfg), rec_params(rec_cfg))
    loaded = []
    for p in images:
        try:
            loaded.append((p.name, load_image(p)))
        except ImageLoadError as e:
            log(f"skipping {p.name}: {e}")
    log(f"pipeline: {len(loaded)} images x {len(kinds)} runner kinds, {threads} threads")
    for pipe in pipes.values():  # warm-up: one image each, untimed
        pipe.run(loaded[0][1])
    per = {k: {"total": [], "det_infer": [], "rec_infer": [], "lines": 0} for k in kinds}
    order_rng = random.Random(0)
    with CpuLoad() as load:
        for _name, img in loaded:
            order = list(kinds)
            order_rng.shuffle(order)  # no runner kind always follows the same one
            for k in order:
                settle()  # wait for the previous kind's ORT threads to stop spinning
                t = time.perf_counter()
                res = pipes[k].run(img)
                per[k]["total"].append(time.perf_counter() - t)
                per[k]["det_infer"].append(res.timing.get("det_infer", 0.0))
                per[k]["rec_infer"].append(res.timing.get("rec_infer", 0.0))
                per[k]["lines"] += len(res.lines)
    rows = []
    for k in kinds:
        total = sum(per[k]["total"])
        rows.append({"runner": k, "engine": _engine(k), "threads": threads, "images": len(loaded),
                     "images_per_s": len(loaded) / total, "median_ms_per_image": 1000 * float(np.median(per[k]["total"])),
                     "det_infer_s": sum(per[k]["det_infer"]), "rec_infer_s": sum(per[k]["rec_infer"]),
                     "total_s": total, "lines": per[k]["lines"], "cpu_load": load.to_dict()})
    by = {r["runner"]: r for r in rows}
    for r in rows:
        plain = by.get(OURS_VS_PLAIN.get(r["runner"], ""))
        if plain:
            r["vs_plain_throughput"] = r["images_per_s"] / plain["images_per_s"]
    return rows


# ======================================================================================
# 3. size, 4. op counts
# ======================================================================================

def size_rows(paths: dict) -> list[dict]:
    rows = []
    for key in MODELS:
        raw = paths[key]["onnx-raw"].stat().st_size
        for k, p in paths[key].items():
            b = p.stat().st_size
            plain = paths[key].get(OURS_VS_PLAIN.get(k, ""))
            rows.append({"model": key, "artifact": k, "bytes": b, "vs_onnx_raw": b / raw,
                         "vs_plain": b / plain.stat().st_size if plain else None})
    return rows


def op_rows(paths: dict, conv: dict, work: Path) -> list[dict]:
    from ppocr_convert.inspect_model import inspect_file  # imports paddle before tensorflow itself

    rows = []
    for key in MODELS:
        hists = {}
        for k in ["onnx-raw", "onnx", "plain-onnx", "tflite-fp32", "plain-tflite-fp32", "tflite-fp16", "plain-tflite-fp16"]:
            ours = conv[key]["runs"][0]["ours_cold"]["artifacts"].get(k)
            if ours is not None:
                hist, verdict = ours["op_histogram"], ours["gpu_verdict"]
            else:
                rep = inspect_file(paths[key][k])
                hist, verdict = rep.op_histogram, rep.gpu_verdict
            hists[k] = hist
            rows.append({"model": key, "artifact": k, "format": "tflite" if "tflite" in k else "onnx",
                         "ops": sum(hist.values()), "transpose": hist.get("TRANSPOSE", hist.get("Transpose", 0)),
                         "op_histogram": hist, "gpu_verdict": verdict})
        for r in rows:
            if r["model"] == key and r["artifact"] in OURS_VS_PLAIN:
                r["diff_vs_plain"] = hist_diff(hists[r["artifact"]], hists[OURS_VS_PLAIN[r["artifact"]]])
                if r["format"] == "onnx":
                    ho = ort_optimized_histogram(paths[key][r["artifact"]], work)
                    hp = ort_optimized_histogram(paths[key][OURS_VS_PLAIN[r["artifact"]]], work)
                    r["ort_optimized"] = {"ours": ho, "plain": hp, "diff": hist_diff(ho, hp)}
                if r["format"] == "tflite":
                    r["structure_vs_plain"] = compare_signatures(
                        tflite_signature(paths[key][r["artifact"]]),
                        tflite_signature(paths[key][OURS_VS_PLAIN[r["artifact"]]]))
    return rows


def tflite_signature(path: Path) -> list[tuple]:
    """(op, input shapes, output shapes, output dtypes) per op, in execution order: two
    models with the same signature run the same kernels on the same tensor shapes."""
    from ppocr_convert.runners.tflite import _interpreter_class
    interp = _interpreter_class()(model_path=str(path))
    tensors = {d["index"]: d for d in interp.get_tensor_details()}

    def shp(i):
        return tuple(int(v) for v in tensors[i]["shape"]) if i in tensors else None

    return [(op["op_name"], tuple(shp(int(i)) for i in op["inputs"] if i >= 0),
             tuple(shp(int(i)) for i in op["outputs"]), tuple(np.dtype(t).name for t in op.get("result_types", [])))
            for op in interp._get_ops_details()]


def _scalars_as_one(sig: list[tuple]) -> list[tuple]:
    """Treat every one-element shape ((), (1,), (1, 1, 1, 1)) as the same scalar: kernels
    broadcast them alike."""
    def norm(shapes):
        return tuple("scalar" if s is not None and int(np.prod(s)) == 1 else s for s in shapes)
    return [(op, norm(ins), norm(outs), dt) for op, ins, outs, dt in sig]


def compare_signatures(a: list[tuple], b: list[tuple]) -> dict:
    def first_diff(x, y):
        return next((i for i, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))

    out = {"identical": a == b, "identical_up_to_scalar_rank": _scalars_as_one(a) == _scalars_as_one(b),
           "ops": [len(a), len(b)]}
    if not out["identical"]:
        i = first_diff(a, b)
        out.update(first_difference_at=i, ours=str(a[i]) if i < len(a) else None, plain=str(b[i]) if i < len(b) else None,
                   n_ops_differing=sum(1 for u, v in zip(a, b) if u != v) + abs(len(a) - len(b)))
    if not out["identical_up_to_scalar_rank"]:
        na, nb = _scalars_as_one(a), _scalars_as_one(b)
        i = first_diff(na, nb)
        out.update(first_real_difference_at=i, ours_real=str(a[i]) if i < len(a) else None,
                   plain_real=str(b[i]) if i < len(b) else None,
                   n_ops_really_differing=sum(1 for u, v in zip(na, nb) if u != v) + abs(len(na) - len(nb)),
                   same_ops_in_other_order=sorted(map(str, na)) == sorted(map(str, nb)))
    return out


def ort_optimized_histogram(path: Path, work: Path) -> dict:
    """Op histogram of the graph ONNX Runtime actually runs (after its own fusions, at the
    runner's default optimization level), saved with optimized_model_filepath."""
    import onnx
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    out = work / f"ort-opt-{path.parent.name}-{path.stem}-{time.monotonic_ns()}.onnx"
    opts.optimized_model_filepath = str(out)
    ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    model = onnx.load(str(out))
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


def hist_diff(ours: dict, plain: dict) -> dict:
    return {op: ours.get(op, 0) - plain.get(op, 0) for op in sorted(set(ours) | set(plain))
            if ours.get(op, 0) != plain.get(op, 0)}


# ======================================================================================
# findings
# ======================================================================================

def findings(res: dict) -> list[str]:
    lat, pipe, ops, conv_rows = res["latency"], res["pipeline"], res["ops"], res["conversion_rows"]
    out = []
    opsby = {(r["model"], r["artifact"]): r for r in ops}
    latby = {(r["model"], r["threads"], r["artifact"]): r for r in lat}
    slow = 0
    for r in lat:
        ratio = r.get("vs_plain_median")
        if ratio is None or ratio <= RATIO_TARGET:
            continue
        slow += 1
        o = opsby[(r["model"], r["artifact"])]
        struct = o.get("structure_vs_plain", {})
        if struct.get("identical_up_to_scalar_rank"):
            same = (" same op sequence on the same tensor shapes as plain (up to the rank of scalar constants), so "
                    "the same kernels run: the gap is measurement noise")
        elif struct.get("same_ops_in_other_order"):
            same = " same ops on the same shapes as plain, some in another order"
        else:
            same = f" op histogram ours-plain: {_fmt_diff(o.get('diff_vs_plain') or {})}"
        lo, hi = r["vs_plain_paired_iqr"]
        consistent = ("consistently slower across rounds" if lo > 1.0 else
                      "not consistent across rounds (IQR includes 1)")
        out.append(f"SLOWER: {r['model']} {r['artifact']} at {r['threads']} thread(s): ours/plain median {ratio:.3f} "
                   f"(p90 {r['vs_plain_p90']:.3f}, min {r['vs_plain_min']:.3f}, per round {r['vs_plain_paired']:.3f} "
                   f"[IQR {lo:.2f}-{hi:.2f}]: {consistent}); other processes used "
                   f"{r['cpu_load']['other_procs'] * 100:.0f} % of the CPUs meanwhile;{same}")
    for r in pipe:
        ratio = r.get("vs_plain_throughput")
        if ratio is not None and ratio < 1 / RATIO_TARGET:
            slow += 1
            out.append(f"SLOWER: pipeline {r['runner']}: throughput ours/plain {ratio:.3f} (< {1 / RATIO_TARGET:.3f}); "
                       f"other processes used {r['cpu_load']['other_procs'] * 100:.0f} % of the CPUs meanwhile")
    if not slow:
        out.append(f"no artifact of ours is slower than its plain-way counterpart by more than "
                   f"{(RATIO_TARGET - 1) * 100:.0f} % (median latency, end-to-end throughput)")
    for r in ops:
        if "diff_vs_plain" not in r:
            continue
        struct = r.get("structure_vs_plain")
        if struct is not None:
            if struct["identical"]:
                verdict = "op sequence and tensor shapes identical to plain"
            elif struct["identical_up_to_scalar_rank"]:
                verdict = (f"op sequence and tensor shapes identical to plain except the rank of one-element constant "
                           f"operands in {struct['n_ops_differing']} ops (first: op #{struct['first_difference_at']}, "
                           f"ours {struct['ours']} vs plain {struct['plain']})")
            elif struct["same_ops_in_other_order"]:
                verdict = (f"the same ops on the same shapes (up to scalar rank) as plain, {struct['n_ops_really_differing']} "
                           f"in another order (first op #{struct['first_real_difference_at']}: ours {struct['ours_real']} "
                           f"vs plain {struct['plain_real']})")
            else:
                verdict = (f"differs from plain in {struct['n_ops_really_differing']} ops, first op "
                           f"#{struct['first_real_difference_at']}: ours {struct['ours_real']} vs plain {struct['plain_real']}")
            out.append(f"op mix {r['model']} {r['artifact']}: {r['ops']} ops, {r['transpose']} TRANSPOSE, "
                       f"histogram ours-plain {_fmt_diff(r['diff_vs_plain'])}; {verdict}")
        else:
            opt = r.get("ort_optimized", {})
            out.append(f"op mix {r['model']} {r['artifact']} (ONNX) ours-plain: {_fmt_diff(r['diff_vs_plain'])}; "
                       f"after ONNX Runtime's own graph optimizations ({sum(opt.get('ours', {}).values())} vs "
                       f"{sum(opt.get('plain', {}).values())} nodes): {_fmt_diff(opt.get('diff', {}))}")
    for model in MODELS:
        for thr in sorted({r["threads"] for r in lat if r["threads"] > 1}):
            worse = [(art, r["median_ms"] / latby[(model, 1, art)]["median_ms"]) for (m, t, art), r in latby.items()
                     if m == model and t == thr and (model, 1, art) in latby
                     and r["median_ms"] > latby[(model, 1, art)]["median_ms"] * RATIO_TARGET]
            if worse:
                load = latby[(model, thr, worse[0][0])]["cpu_load"]
                out.append(f"{model}: {thr} threads slower than 1 thread for " +
                           ", ".join(f"{art} x{x:.2f}" for art, x in worse) +
                           f" (median); other processes used {load['other_procs'] * 100:.0f} % of the CPUs meanwhile "
                           f"(steal {load['steal'] * 100:.0f} %): with {os.cpu_count()} CPUs and a busy neighbour, "
                           f"every parallel section waits for a descheduled thread")
    for r in conv_rows:
        if r["time_ratio"] is not None and r["time_ratio"] > RATIO_TARGET:
            rng = ""
            if "ours_range" in r:
                rng = (f"; range over runs ours {r['ours_range'][0]:.1f}-{r['ours_range'][1]:.1f} s, "
                       f"plain {r['plain_range'][0]:.1f}-{r['plain_range'][1]:.1f} s")
            out.append(f"conversion {r['model']} {r['stage']}: ours/plain time {r['time_ratio']:.2f} "
                       f"({r['ours_s']:.1f} s vs {r['plain_s']:.1f} s, median){rng}")
    for key, secs in res.get("pass_seconds", {}).items():
        if len(secs) <= 1:
            continue
        out.append(f"{key} onnx stage, seconds per pass: " + ", ".join(f"{n} {v:.2f}" for n, v in secs.items() if v is not None))
    for key, c in res["conversion"].items():
        rep = c["reproducible"]
        bad = [f"ours {t}" for t, ok in rep["ours_across_cold_runs"].items() if not ok]
        bad += [f"cached {t}" for t, ok in rep["ours_cached_equals_cold"].items() if not ok]
        bad += [f"plain {t}" for t, ok in rep["plain_across_runs"].items() if not ok]
        out.append(f"{key}: artifacts byte-identical across {c['reps']} cold run(s) and the cached runs"
                   if not bad else f"{key}: NOT byte-identical across runs: {', '.join(bad)}")
    return out


def _fmt_diff(d: dict) -> str:
    return ", ".join(f"{op} {v:+d}" for op, v in d.items()) or "identical"


# ======================================================================================
# rendering
# ======================================================================================

def _ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def _f(v, fmt="{:.2f}", none="—"):
    return none if v is None else fmt.format(v)


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_info() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu_count": os.cpu_count(), "cpu_model": model, "platform": platform.platform()}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        import psutil
        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:
        pass
    info["loadavg_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def render(res: dict) -> str:
    m, a = res["machine"], res["args"]
    tools = res["tool_versions"]
    out = [f"## ppocr-convert benchmark ({res['timestamp']})", "",
           f"machine: {m['cpu_count']} CPUs ({m['cpu_model']}), {m.get('memory_gib', '?')} GiB RAM, "
           f"load avg at start {m['loadavg_start']}, loadavg at end {res.get('loadavg_end')}",
           "tools: " + ", ".join(f"{k} {v}" for k, v in tools.items()),
           f"run: conversions x{a['conv_reps']}; latency reps {a['reps']} after {a['warmup']} warm-ups in "
           f"{a['rounds']} interleaved rounds; "
           f"threads {a['threads']}; {res['pipeline'][0]['images'] if res['pipeline'] else 0} images; "
           f"wall {res['wall_s']:.0f} s{' (--quick)' if a['quick'] else ''}",
           f"CPU used by other processes: latency {res['other_load_latency'] * 100:.0f} %, "
           f"end-to-end {res['other_load_pipeline'] * 100:.0f} % (share of all CPUs)",
           "plain way = onnxsim (static input shape) + onnx-graphsurgeon (HardSigmoid -> Mul/Add/Clip, cleanup, "
           "toposort) + onnx2tf CLI. Source of both: packaged PP-OCRv5 ONNX (paddle2onnx output; "
           "no paddle2onnx run on either side). Ratios are ours / plain; latency target <= 1.05.", ""]

    out += ["### 1. Conversion (cold = fresh stage cache, cached = same cache again)", ""]
    out.append(table(
        ["model", "stage", "ours cold s", "ours peak RSS MB", "ours cached s", "plain way", "plain s",
         "plain peak RSS MB", "time ours/plain", "RSS ours/plain"],
        [[r["model"], r["stage"], _f(r["ours_s"], "{:.1f}"), _f(r["ours_rss"], "{:.0f}"), _f(r["cached_s"]),
          r["plain"], _f(r["plain_s"], "{:.1f}"), _f(r["plain_rss"], "{:.0f}"), _f(r["time_ratio"]),
          _f(r["rss_ratio"])] for r in res["conversion_rows"]]))
    out += ["", f"Median of {a['conv_reps']} run(s). Peak RSS: in-process stages = the converting process "
            "(sampled every 20 ms); onnx2tf = its own process tree on both sides; total = whole process tree "
            "(ours: the `convert()` process; plain: the larger of its two steps). Ours' onnx stage includes "
            "onnxsim's ORT check and an ORT load check; publish = inspect (TensorFlow analyzer), sha256, manifest.", ""]

    shapes = {r["model"]: "x".join(map(str, r["shape"])) for r in res.get("latency", []) if "shape" in r}
    out += [f"### 2a. Artifact latency (fixed input: det {shapes.get('det', '?')}, rec {shapes.get('rec', '?')}; ms)", ""]
    lat = res["latency"]
    by = {(r["model"], r["threads"], r["artifact"]): r for r in lat}
    rows = []
    for r in lat:
        if r["artifact"].startswith("plain-"):
            continue
        plain = by.get((r["model"], r["threads"], OURS_VS_PLAIN.get(r["artifact"], "")))
        rows.append([r["model"], r["threads"], f"{r['artifact']} ({r['engine']})", _f(r["median_ms"]), _f(r["p90_ms"]),
                     _f(plain["median_ms"] if plain else None), _f(plain["p90_ms"] if plain else None),
                     _f(r.get("vs_plain_median"), "{:.3f}"), _f(r.get("vs_plain_p90"), "{:.3f}"),
                     _f(r.get("vs_plain_min"), "{:.3f}"),
                     (f"{r['vs_plain_paired']:.3f} [{r['vs_plain_paired_iqr'][0]:.2f}-{r['vs_plain_paired_iqr'][1]:.2f}]"
                      if "vs_plain_paired" in r else "—"),
                     f"{r['cpu_load']['other_procs'] * 100:.0f}"])
    out.append(table(["model", "thr", "artifact (engine)", "ours median", "ours p90", "plain median", "plain p90",
                      "ours/plain median", "ours/plain p90", "ours/plain min", "ours/plain per round [IQR]",
                      "other load %"], rows))
    out += ["", "per round = median over the interleaved rounds of (ours median / plain median) within the round, "
            "with its interquartile range: robust to drift. other load % = CPU used by other processes during that "
            "model/threads block, as a share of all CPUs (noise this run cannot control)."]
    out += ["", "TFLite FP32 / ONNX Runtime on `onnx` (median, same threads; TFLite includes the runner's "
            "NCHW->NHWC input transpose):", ""]
    out.append(table(["model", "thr", "ours tflite-fp32 / ours onnx", "plain tflite-fp32 / plain onnx"],
                     [[r["model"], r["threads"], _f(r["vs_ort_onnx_median"], "{:.3f}"),
                       _f(by[(r["model"], r["threads"], "plain-tflite-fp32")]["vs_ort_onnx_median"], "{:.3f}")]
                      for r in lat if r["artifact"] == "tflite-fp32"]))

    out += ["", f"### 2b. End-to-end OCR (det + rec, {res['pipeline'][0]['threads'] if res['pipeline'] else '?'} "
            "threads, real photos; onnx-raw runs det at PaddleOCR's dynamic size, static ones at their static shapes)", ""]
    out.append(table(["runner", "images", "images/s", "median ms/image", "det infer s", "rec infer s", "lines",
                      "throughput ours/plain"],
                     [[f"{r['runner']} ({r['engine']})", r["images"], _f(r["images_per_s"]),
                       _f(r["median_ms_per_image"], "{:.0f}"), _f(r["det_infer_s"]), _f(r["rec_infer_s"]), r["lines"],
                       _f(r.get("vs_plain_throughput"), "{:.3f}")] for r in res["pipeline"]]))

    out += ["", "### 3. Size", ""]
    out.append(table(["model", "artifact", "bytes", "vs onnx-raw", "ours/plain"],
                     [[r["model"], r["artifact"], f"{r['bytes']:,}", _f(r["vs_onnx_raw"], "{:.3f}"),
                       _f(r["vs_plain"], "{:.3f}")] for r in res["size"]]))

    out += ["", "### 4. Op counts", ""]
    def same(r):
        st = r.get("structure_vs_plain")
        if st is None:
            opt = r.get("ort_optimized")
            return "" if opt is None else f"after ORT optimization: {_fmt_diff(opt['diff'])}"
        if st["identical"]:
            return "yes"
        if st["identical_up_to_scalar_rank"]:
            return f"yes, up to the rank of scalar constants ({st['n_ops_differing']} ops)"
        if st["same_ops_in_other_order"]:
            return f"same ops + shapes, {st['n_ops_really_differing']} in another order"
        return f"no ({st['n_ops_really_differing']} ops differ, first #{st['first_real_difference_at']})"

    out.append(table(["model", "artifact", "ops", "TRANSPOSE", "GPU delegate", "histogram ours - plain",
                      "same kernels as plain"],
                     [[r["model"], r["artifact"], r["ops"], r["transpose"], r["gpu_verdict"],
                       _fmt_diff(r["diff_vs_plain"]) if "diff_vs_plain" in r else "", same(r)] for r in res["ops"]]))

    out += ["", "### Findings", ""] + [f"- {f}" for f in res["findings"]]
    return "\n".join(out) + "\n"


# ======================================================================================
# main
# ======================================================================================

def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.run_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 conversion each, 5 reps after 2 warm-ups, 4 images (~1.5 min)")
    p.add_argument("--reps", type=int, help="timed repetitions per artifact and thread count (default 30)")
    p.add_argument("--warmup", type=int, help="untimed warm-up runs per artifact (default 5)")
    p.add_argument("--rounds", type=int, help="interleaved rounds the reps are split into (default 10)")
    p.add_argument("--conv-reps", type=int, help="conversions per side and model, median reported (default 3; --quick 1)")
    p.add_argument("--threads", default="1,2", help="thread counts for latency (default 1,2)")
    p.add_argument("--pipeline-threads", type=int, default=2)
    p.add_argument("--images", type=int, help="max photos for the end-to-end run (default all; --quick 4)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir with artifacts and logs")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    # worker mode (internal)
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    for name in ("--model", "--out-dir", "--cache-dir", "--src", "--shape", "--input-name", "--dst"):
        p.add_argument(name, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.reps = a.reps or (5 if a.quick else 30)
    a.warmup = a.warmup if a.warmup is not None else (2 if a.quick else 5)
    a.rounds = max(1, min(a.rounds or (1 if a.quick else 10), a.reps))
    a.conv_reps = max(1, a.conv_reps or (1 if a.quick else 3))
    a.images = a.images or (4 if a.quick else None)
    a.threads = [int(t) for t in a.threads.split(",")]
    return a


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.worker:
        data = WORKERS[a.worker](a)
        Path(a.result).write_text(json.dumps(data, default=str))
        return 0

    from ppocr_convert.chain.backend import tool_versions

    t_start = time.perf_counter()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    res: dict = {"timestamp": stamp, "machine": machine_info(), "tool_versions": tool_versions(),
                 "args": {"quick": a.quick, "conv_reps": a.conv_reps, "reps": a.reps, "warmup": a.warmup, "rounds": a.rounds,
                          "threads": a.threads, "pipeline_threads": a.pipeline_threads, "images": a.images}}
    images = sorted(p for p in IMAGES_DIR.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if IMAGES_DIR.is_dir() else []
    if a.images:
        images = images[:a.images]
    work = Path(tempfile.mkdtemp(prefix="ppocr-bench-"))
    try:
        conv, paths = bench_conversion(work, a.conv_reps)
        res["conversion"] = conv
        res["conversion_rows"] = conversion_rows(conv)
        res["pass_seconds"] = pass_seconds(conv)
        res["latency"] = bench_latency(paths, a.threads, a.reps, a.warmup, a.rounds)
        if images:
            kinds = ["onnx-raw", "onnx", "plain-onnx", "tflite-fp32", "plain-tflite-fp32", "tflite-fp16",
                     "plain-tflite-fp16"]
            res["pipeline"] = bench_pipeline(paths, images, a.pipeline_threads, kinds)
        else:
            log(f"no images in {IMAGES_DIR}; skipping the end-to-end run")
            res["pipeline"] = []
        res["size"] = size_rows(paths)
        log("op histograms")
        res["ops"] = op_rows(paths, conv, work)
        res["other_load_latency"] = float(np.mean([r["cpu_load"]["other_procs"] for r in res["latency"]]))
        res["other_load_pipeline"] = (res["pipeline"][0]["cpu_load"]["other_procs"] if res["pipeline"] else 0.0)
        res["findings"] = findings(res)
        res["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        res["wall_s"] = time.perf_counter() - t_start
        md = render(res)
        res["markdown"] = md
        print(md)
        a.results_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(res, indent=1, default=str)
        (a.results_dir / f"bench-{stamp}.json").write_text(text)
        (a.results_dir / "latest.json").write_text(text)
        log(f"wrote {a.results_dir / f'bench-{stamp}.json'} and latest.json ({res['wall_s']:.0f} s)")
    finally:
        if a.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

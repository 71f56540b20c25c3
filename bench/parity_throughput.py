"""Parity throughput: images per second of a whole parity run (reference + every stage +
the static-shape strategies) at 1 and 2 local workers and on Ray in local mode, peak RSS
per worker, identical per-image lines across them, and what a resumed run costs.

    .venv/bin/python -m bench.parity_throughput --images .cache/evalset --limit 200
    .venv/bin/python -m bench.parity_throughput --images ../shared/images --workers 1,2 --ray --resume

Each configuration runs in a fresh spawned process with an empty result store (nothing
reused), so its numbers are its own. `--resume` measures a run killed (SIGTERM to its
process group) halfway through — half the full run's time, counted on both from where a
run's clock starts — and then run again with the same result cache: the ratio of the
second run's wall time (and CPU time, workers included) to a full run's. `--rss-sizes
100,1000` runs the largest worker count on the first 100 and the first 1000 images and
reports each run's peak RSS (flat memory: the larger set costs no more). Progress goes to
stderr, the markdown table to stdout, the JSON to bench/results/parity-<timestamp>.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from bench.cli_args import split_list
from bench.subjects import IMAGES_DIR, RESULTS_DIR, log

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])

TARGETS = ["onnx-raw", "onnx", "tflite-fp32", "tflite-fp16"]


def one_run(pipeline: str, images: list[str], workers: int, engine: str, results_cache: str | None,
            work: str, labels: str | None = None, targets: list[str] | None = None,
            strategies: bool = True, started: str | None = None) -> dict:
    """One parity run in this process (called in a fresh child): wall time, RSS, lines digest.
    `started`: a file touched when the run's clock starts (the resume bench kills from there)."""
    import paddle  # noqa: F401  (before TensorFlow/LiteRT)

    from ppocr_convert.parity.harness import run_parity
    from ppocr_convert.parity.labels import load_labels
    from ppocr_convert.parity.engine import worker_peak_rss_mb
    from ppocr_convert.parity.pipelines import load_pipeline
    from ppocr_convert.parity.result_store import read_results, without_timings

    pipe = load_pipeline(pipeline)
    paths = [Path(p) for p in images]
    t0 = time.perf_counter()
    if started:
        Path(started).touch()
    with tree_cpu_load() as load:  # other processes' CPU while this ran: the noise on a shared machine
        run = run_parity(pipe, paths, targets or TARGETS, Path(work), workers=workers, engine=engine,
                         with_strategies=strategies,
                         results_cache=Path(results_cache) if results_cache else None,
                         labels=load_labels(Path(labels)) if labels else None)
    seconds = time.perf_counter() - t0
    h = hashlib.sha256()
    n_lines = 0
    assert run.results_path is not None
    for line in read_results(run.results_path):
        h.update(json.dumps(without_timings(line), sort_keys=True, ensure_ascii=False).encode())
        n_lines += 1
    per_worker = run.worker_peak_rss_mb or [worker_peak_rss_mb()]  # in process: this process is the worker
    run.remove()
    return {"engine": engine, "workers": workers, "images": len(paths), "computed": run.computed,
            "seconds": round(seconds, 2), "images_per_s": round(len(paths) / seconds, 4),
            "peak_rss_mb_tree": round(run.peak_rss_mb or 0.0, 1),
            "peak_rss_mb_per_worker": [round(x, 1) for x in sorted(per_worker)],
            "lines_sha256": h.hexdigest(), "lines": n_lines, "cpu_load": load.to_dict(),
            "cpu_s": round(load.own * seconds * (os.cpu_count() or 1), 1)}


def tree_cpu_load():
    """bench.measure.CpuLoad counting this process's joined children (the pool workers) as
    its own. Ray's actors are the raylet's children, not ours: on the Ray rows they still
    count as other processes."""
    from bench.measure import CpuLoad

    class TreeCpuLoad(CpuLoad):
        def _own_cpu(self) -> float:
            t = self._me.cpu_times()
            return t.user + t.system + t.children_user + t.children_system

    return TreeCpuLoad()


def in_child(**kwargs) -> dict:
    """`one_run` in a fresh spawned process (its own memory, nothing imported before)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(one_run, **kwargs).result()


def killed_then_resumed(pipeline: str, images: list[str], workers: int, full: dict, work: Path) -> dict:
    """Start a run with a result cache, SIGTERM its process group at half the full run's time,
    then run again with the same cache: the second run's wall time over a full run's."""
    cache = work / "resume-cache"
    started = work / "killed.started"
    full_s = full["seconds"]
    args = [sys.executable, "-m", "bench.parity_throughput", "one", "--pipeline", pipeline, "--workers", str(workers),
            "--cache", str(cache), "--work", str(work / "killed"), "--list", str(work / "images.txt"),
            "--started", str(started)]
    (work / "images.txt").write_text("\n".join(images))
    proc = subprocess.Popen(args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # halfway by the run's own clock: a full run's `seconds` start after its process has
    # started and imported Paddle, so the killed run's do too (else its interpreter start-up
    # would come out of its half)
    if not wait_for(started, proc):
        raise RuntimeError("the run to be killed exited before it started; run it alone: " + " ".join(args))
    time.sleep(full_s / 2)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait()
    stored = sum(1 for _ in cache.rglob("result.json")) if cache.exists() else 0
    log(f"killed at {full_s / 2:.0f} s with {stored}/{len(images)} images stored; running again")
    again = in_child(pipeline=pipeline, images=images, workers=workers, engine="local",
                     results_cache=str(cache), work=str(work / "resumed"))
    return {"killed_after_s": round(full_s / 2, 1), "stored_when_killed": stored, "resumed": again,
            "cost_ratio": round(again["seconds"] / full_s, 3),
            "cpu_ratio": round(again["cpu_s"] / full["cpu_s"], 3) if full.get("cpu_s") else None}


def wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 600.0) -> bool:
    """Wait until `path` exists; False when `proc` exits first or the wait times out."""
    t0 = time.perf_counter()
    while not path.exists():
        if proc.poll() is not None or time.perf_counter() - t0 > timeout_s:
            return False
        time.sleep(0.05)
    return True


@app.command("one", hidden=True)
def one_command(pipeline: str = typer.Option(...), workers: int = typer.Option(...), cache: Path = typer.Option(...),
                work: Path = typer.Option(...), list_file: Path = typer.Option(..., "--list"),
                started: Optional[Path] = typer.Option(None, "--started")):
    """Internal: one run with a result cache (the process `--resume` kills)."""
    images = list_file.read_text().split("\n")
    print(json.dumps(one_run(pipeline, images, workers, "local", str(cache), str(work),
                             started=str(started) if started else None)))


@app.command("run")
def main(
    images_dir: Path = typer.Option(IMAGES_DIR, "--images", help="photos or an evalset directory"),
    limit: Optional[int] = typer.Option(None, "--limit", help="first N images (evalset: 200 for `make bench`)"),
    pipeline: str = typer.Option("PP-OCRv5_mobile", "--pipeline"),
    workers: str = typer.Option("1,2", "--workers", help="local worker counts, comma-separated"),
    ray: bool = typer.Option(False, "--ray", help="also Ray Data in local mode (largest worker count)"),
    resume: bool = typer.Option(False, "--resume", help="also a run killed halfway, then resumed"),
    rss_sizes: str = typer.Option("", "--rss-sizes", help="e.g. 100,1000: peak RSS at those set sizes"),
    rss_targets: str = typer.Option("", "--rss-targets",
                                    help="stages of the --rss-sizes runs (default: all four; e.g. onnx to make a "
                                         "1,000-image run affordable), run without the static-shape strategies"),
    rss_only: bool = typer.Option(False, "--rss-only", help="only the --rss-sizes runs (largest --workers)"),
    results_dir: Path = typer.Option(RESULTS_DIR, "--results-dir"),
):
    """Measure, print the markdown table, write the JSON."""
    from ppocr_convert.ocr.image_io import list_images
    images = [str(p) for p in list_images(images_dir)][:limit]
    counts = split_list(workers, int, "--workers")
    res: dict = {"timestamp": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"), "pipeline": pipeline,
                 "images_dir": str(images_dir), "images": len(images), "cores": os.cpu_count(), "runs": []}
    with tempfile.TemporaryDirectory(prefix="ppocr-parity-bench-") as tmp:
        work = Path(tmp)
        configs = [] if rss_only else [("local", n) for n in counts] + ([("ray", max(counts))] if ray else [])
        for engine, n in configs:
            log(f"{engine} x{n} on {len(images)} images")
            r = in_child(pipeline=pipeline, images=images, workers=n, engine=engine, results_cache=None,
                         work=str(work / f"{engine}{n}"))
            log(f"  {r['images_per_s']:.3f} images/s, peak RSS per worker {r['peak_rss_mb_per_worker']} MB")
            res["runs"].append(r)
        if res["runs"]:
            base = res["runs"][0]
            res["identical_lines"] = all(r["lines_sha256"] == base["lines_sha256"] for r in res["runs"])
            for r in res["runs"]:
                r["speedup_vs_first"] = round(r["images_per_s"] / base["images_per_s"], 3)
        if resume and res["runs"]:
            full = next(r for r in res["runs"] if r["engine"] == "local" and r["workers"] == max(counts))
            res["resume"] = killed_then_resumed(pipeline, images, max(counts), full, work)
        sizes = split_list(rss_sizes, int, "--rss-sizes") if rss_sizes else []
        if sizes:
            from ppocr_convert.ocr.image_io import list_images as li
            pool = [str(p) for p in li(images_dir)]
            res["rss_by_size"] = []
            for size in sizes:
                subset = [pool[i % len(pool)] for i in range(size)] if size > len(pool) else pool[:size]
                light = split_list(rss_targets, str, "--rss-targets") if rss_targets else None
                r = in_child(pipeline=pipeline, images=subset, workers=max(counts), engine="local",
                             results_cache=None, work=str(work / f"rss{size}"), targets=light,
                             strategies=light is None)
                r["targets"] = light or TARGETS
                log(f"  {size} images: peak RSS tree {r['peak_rss_mb_tree']} MB, per worker "
                    f"{r['peak_rss_mb_per_worker']}")
                res["rss_by_size"].append({"size": size, **r})
    res["markdown"] = render(res)
    print(res["markdown"])
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / f"parity-{res['timestamp']}.json"
    out.write_text(json.dumps(res, indent=1))
    log(f"wrote {out}")


def render(res: dict) -> str:
    rows = ["| engine | workers | images | images/s | × first row | peak RSS per worker (MB) | peak RSS all (MB) "
            "| other processes' CPU |", "|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        rows.append(f"| {r['engine']} | {r['workers']} | {r['images']} | {r['images_per_s']:.3f} | "
                    f"{r['speedup_vs_first']:.2f} | {', '.join(f'{x:.0f}' for x in r['peak_rss_mb_per_worker'])} | "
                    f"{r['peak_rss_mb_tree']:.0f} | {100 * r['cpu_load']['other_procs']:.0f} % |")
    out = "\n".join(rows) if res["runs"] else ""
    if res["runs"]:
        same = "yes" if res["identical_lines"] else "NO"
        out += f"\n\nIdentical per-image lines (timings aside) in every run: {same}."
    if "resume" in res:
        rs = res["resume"]
        out += (f"\nKilled at {rs['killed_after_s']} s ({rs['stored_when_killed']} images stored), run again: "
                f"{rs['resumed']['seconds']} s = {rs['cost_ratio']:.2f}× a full run "
                f"({rs['resumed']['computed']} images computed"
                + (f"; CPU time {rs['cpu_ratio']:.2f}×" if rs.get("cpu_ratio") is not None else "") + ").")
    for r in res.get("rss_by_size", []):
        out += (f"\n{r['size']} images ({', '.join(r.get('targets', TARGETS))}): peak RSS "
                f"{r['peak_rss_mb_tree']:.0f} MB all processes, {r['seconds']:.0f} s, per worker "
                f"{', '.join(f'{x:.0f}' for x in r['peak_rss_mb_per_worker'])} MB.")
    return out


if __name__ == "__main__":
    app()

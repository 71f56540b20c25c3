"""Benchmark ppocr-convert against "the plain way", in one run, reported as ratios.

    .venv/bin/python -m bench.run_bench            # full run: ~11 min on 2 idle cores
    .venv/bin/python -m bench.run_bench --quick    # smoke run: 1 conversion each, 5 reps, 4 images
    .venv/bin/python -m bench.run_bench --quick --models det --threads 1 --images 0   # det only, no end-to-end

What it measures (PP-OCRv5 mobile det and rec), one module each:

1. `bench.conversion`: wall time and peak RSS per stage of `convert()` cold and cached,
   against onnxsim + graphsurgeon + the onnx2tf CLI (`bench.plain_way`);
2. `bench.latency`: median/p90 latency per artifact and thread count, interleaved;
   `bench.end_to_end`: OCR images/s per runner kind on the photos in ../shared/images;
3. `bench.structure`: bytes per artifact, op histograms, TFLite op sequences compared.

Prints markdown (stdout; progress goes to stderr) and writes
bench/results/bench-<UTC timestamp>.json and bench/results/latest.json, from which
`python -m bench.readme_table` rewrites the README's table.
"""
from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from bench.cli_args import split_list
from bench.subjects import ARTIFACT_KINDS, IMAGES_DIR, MODELS, RESULTS_DIR, log
from ppocr_convert.ocr.image_io import list_images

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@dataclass
class RunOptions:
    quick: bool
    models: list[str]
    conv_reps: int
    reps: int
    warmup: int
    rounds: int
    threads: list[int]
    pipeline_threads: int
    images: int | None  # None: every photo; 0: no end-to-end run


def resolve_options(quick: bool, models: str, conv_reps: int | None, reps: int | None, warmup: int | None,
                    rounds: int | None, threads: str, pipeline_threads: int, images: int | None) -> RunOptions:
    """Fill the defaults (--quick has smaller ones) and check the lists."""
    keys = split_list(models, option="--models")
    unknown = [m for m in keys if m not in MODELS]
    if unknown or not keys:
        raise typer.BadParameter(f"choose from {', '.join(MODELS)} (comma-separated)", param_hint="--models")
    reps = reps or (5 if quick else 30)
    return RunOptions(
        quick=quick, models=keys,
        conv_reps=max(1, conv_reps or (1 if quick else 3)),
        reps=reps,
        warmup=warmup if warmup is not None else (2 if quick else 5),
        rounds=max(1, min(rounds or (1 if quick else 10), reps)),  # a round times each artifact at least once
        threads=split_list(threads, int, "--threads"),
        pipeline_threads=pipeline_threads,
        images=images if images is not None else (4 if quick else None))


def photos(limit: int | None) -> list[Path]:
    if limit == 0 or not IMAGES_DIR.is_dir():
        return []
    found = list_images(IMAGES_DIR)
    return found[:limit] if limit else found


def run(opts: RunOptions, work: Path) -> dict:
    """Every measurement, in the order that keeps the latency ones on a quiet machine
    (conversions first, their children gone by then)."""
    from bench.conversion import bench_conversion, conversion_rows, pass_seconds
    from bench.end_to_end import bench_pipeline
    from bench.findings import findings
    from bench.latency import bench_latency
    from bench.measure import load_average, machine_info
    from bench.structure import op_rows, size_rows
    from ppocr_convert.chain.backend import tool_versions

    t_start = time.perf_counter()
    res: dict = {"timestamp": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"), "machine": machine_info(),
                 "tool_versions": tool_versions(), "args": asdict(opts)}
    conv, paths = bench_conversion(work, opts.conv_reps, opts.models)
    res["conversion"] = conv
    res["conversion_rows"] = conversion_rows(conv)
    res["pass_seconds"] = pass_seconds(conv)
    res["latency"] = bench_latency(paths, opts.models, opts.threads, opts.reps, opts.warmup, opts.rounds)
    images = photos(opts.images)
    res["pipeline"] = []
    if not {"det", "rec"} <= set(opts.models):
        log("end-to-end OCR needs both det and rec; skipped")
    elif not images:
        log(f"no images (--images 0, or none in {IMAGES_DIR}); skipping the end-to-end run")
    else:
        res["pipeline"] = bench_pipeline(paths, images, opts.pipeline_threads, ARTIFACT_KINDS)
    res["size"] = size_rows(paths)
    log("op histograms")
    res["ops"] = op_rows(paths, conv, work)
    res["other_load_latency"] = statistics.fmean(r["cpu_load"]["other_procs"] for r in res["latency"])
    res["other_load_pipeline"] = res["pipeline"][0]["cpu_load"]["other_procs"] if res["pipeline"] else 0.0
    res["findings"] = findings(res)
    res["loadavg_end"] = load_average()
    res["wall_s"] = time.perf_counter() - t_start
    return res


def write_results(res: dict, results_dir: Path) -> Path:
    """bench-<timestamp>.json (history) and latest.json (what `make bench-readme` renders)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(res, indent=1, default=str)
    stamped = results_dir / f"bench-{res['timestamp']}.json"
    stamped.write_text(text)
    (results_dir / "latest.json").write_text(text)
    return stamped


@app.command()
def main(
    quick: bool = typer.Option(False, "--quick",
                               help="smoke run: 1 conversion each, 5 reps after 2 warm-ups, 4 images"),
    models: str = typer.Option("det,rec", "--models", help="which PP-OCRv5 models, comma-separated: det, rec"),
    reps: Optional[int] = typer.Option(None, "--reps", help="timed repetitions per artifact and thread count "
                                                            "(default 30; --quick 5)"),
    warmup: Optional[int] = typer.Option(None, "--warmup", help="untimed warm-up runs per artifact (default 5)"),
    rounds: Optional[int] = typer.Option(None, "--rounds", help="interleaved rounds the reps are split into "
                                                                "(default 10)"),
    conv_reps: Optional[int] = typer.Option(None, "--conv-reps", help="conversions per side and model, median "
                                                                      "reported (default 3; --quick 1)"),
    threads: str = typer.Option("1,2", "--threads", help="thread counts for latency"),
    pipeline_threads: int = typer.Option(2, "--pipeline-threads", help="threads for the end-to-end run"),
    images: Optional[int] = typer.Option(None, "--images", help="max photos for the end-to-end run "
                                                                "(default all; --quick 4; 0 skips it)"),
    keep: bool = typer.Option(False, "--keep", help="keep the temp dir with artifacts and logs"),
    results_dir: Path = typer.Option(RESULTS_DIR, "--results-dir", help="where the results JSON goes"),
):
    """Convert, time and compare; print the markdown report and write the results JSON."""
    from bench.report import render

    opts = resolve_options(quick, models, conv_reps, reps, warmup, rounds, threads, pipeline_threads, images)
    work = Path(tempfile.mkdtemp(prefix="ppocr-bench-"))
    try:
        res = run(opts, work)
        res["markdown"] = render(res)
        print(res["markdown"])
        stamped = write_results(res, results_dir)
        log(f"wrote {stamped} and latest.json ({res['wall_s']:.0f} s)")
    finally:
        if keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    app()

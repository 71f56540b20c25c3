"""Model families side by side: PP-OCRv5 mobile, PP-OCRv6 tiny and PP-OCRv6 small, each
converted and deployed with its config's recipe (det letterboxed into its static canvas,
rec width buckets), reported as one markdown table.

    .venv/bin/python -m bench.families --evalset .cache/evalset     # make bench-families

Per family:
1. latency of the tflite-fp16 det (its canvas) and rec (narrowest bucket) artifacts at 1 and
   2 threads (LiteRT, XNNPACK), all families' artifacts measured in interleaved rounds so that
   machine drift hits them alike (ratios within one run are what to compare);
2. sizes of the fp16 det file and all rec bucket files;
3. ground truth on the labelled evalset (`make evalset`): the parity harness runs the
   dynamic Paddle reference and the deployed tflite-fp16 pipeline on every page and scores
   both against labels.json (line accuracy, CER, det recall).

Writes bench/results/families-<UTC timestamp>.json and families-latest.json.
"""
from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

import typer

from bench.cli_args import split_list
from bench.evalset_parity import (
    DEPLOYED,
    convert_deployed,
    import_converters_in_order,
    load_evalset,
    percent,
    reference_models,
    require_evalset,
    score_deployed,
)
from bench.markdown import markdown_table
from bench.subjects import RESULTS_DIR, log

FAMILIES = ["PP-OCRv5_mobile", "PP-OCRv6_tiny", "PP-OCRv6_small"]


def convert_families(pipelines: list[str], out: Path) -> dict:
    """{pipeline: {"pipe", "det": path, "rec": path or [bucket paths]}} (stage cache reused)."""
    from ppocr_convert.parity.pipelines import load_pipeline
    arts = {}
    for name in pipelines:
        pipe = load_pipeline(name)
        entry = {"pipe": pipe}
        for task, cfg in (("det", pipe.det_config), ("rec", pipe.rec_config)):
            log(f"converting {cfg.name} to {DEPLOYED}", "families")
            entry[task] = convert_deployed(cfg, out)
        arts[name] = entry
    return arts


def _first(paths):
    """The timed file: det's only one, rec's narrowest bucket."""
    return paths[0] if isinstance(paths, list) else paths


def bench_latency(arts: dict, threads: list[int], reps: int, rounds: int) -> dict:
    import numpy as np

    from ppocr_convert.runners import open_runner
    rng = np.random.default_rng(0)
    out: dict = {}
    for n in threads:
        runners, inputs = {}, {}
        for name, a in arts.items():
            for task in ("det", "rec"):
                runner = open_runner(_first(a[task]), DEPLOYED, threads=n)
                runners[(name, task)] = runner
                inputs[(name, task)] = rng.uniform(-1, 1, size=runner.input_spec.shape).astype(np.float32)
                for _ in range(3):
                    runner.run(inputs[(name, task)])
        times = {k: [] for k in runners}
        order_rng = random.Random(n)
        per_round = max(1, reps // rounds)
        log(f"latency, {n} thread(s): {len(runners)} artifacts x {per_round * rounds} reps, interleaved", "families")
        for _ in range(rounds):
            order = list(runners)
            order_rng.shuffle(order)  # no artifact always follows the same one
            for k in order:
                runners[k].run(inputs[k])  # untimed: re-warm caches for this model
                for _ in range(per_round):
                    t = time.perf_counter()
                    runners[k].run(inputs[k])
                    times[k].append((time.perf_counter() - t) * 1000.0)
        for (name, task), ms in times.items():
            out.setdefault(name, {}).setdefault(task, {})[n] = {
                "median_ms": statistics.median(ms), "p90_ms": float(np.percentile(ms, 90)),
                "shape": list(runners[(name, task)].input_spec.shape)}
    return out


def sizes(arts: dict) -> dict:
    out = {}
    for name, a in arts.items():
        rec = a["rec"] if isinstance(a["rec"], list) else [a["rec"]]
        out[name] = {"det_bytes": Path(a["det"]).stat().st_size, "rec_bytes": sum(Path(p).stat().st_size for p in rec),
                     "rec_buckets": len(rec)}
    return out


def ground_truth(arts: dict, evalset_dir: Path, work: Path) -> dict:
    evalset = load_evalset(evalset_dir)
    out = {}
    for name, a in arts.items():
        log(f"evalset ({len(evalset.images)} pages): {name} reference + deployed {DEPLOYED}", "families")
        reference = reference_models(a["pipe"])
        scores = score_deployed(a["pipe"], a["det"], a["rec"], evalset, work / name, reference)
        out[name] = scores | {"reference_kind": reference.kind}
    return out


def render(res: dict) -> str:
    threads = res["threads"]
    head = ["family", "GT line acc. fp16 (ref)", "CER fp16 (ref)", "det recall fp16"]
    head += [f"det ms {n}t" for n in threads] + [f"rec ms {n}t" for n in threads]
    head += ["det fp16 MB", "rec fp16 MB (buckets)"]
    rows = []
    for name in res["families"]:
        gt = res.get("ground_truth", {}).get(name)
        lat, size = res["latency"][name], res["size"][name]
        row = [name]
        if gt:
            f, r = gt[DEPLOYED], gt["reference"]
            row += [f"{percent(f['gt_line_accuracy'])} ({percent(r['gt_line_accuracy'])})",
                    f"{percent(f['gt_cer'])} ({percent(r['gt_cer'])})", percent(f["gt_det_recall"])]
        else:
            row += ["—", "—", "—"]
        # JSON keys are strings after a round trip; the fresh dict has int keys
        row += [f"{_per_thread(lat['det'], n)['median_ms']:.1f}" for n in threads]
        row += [f"{_per_thread(lat['rec'], n)['median_ms']:.1f}" for n in threads]
        row += [f"{size['det_bytes'] / 1e6:.1f}", f"{size['rec_bytes'] / 1e6:.1f} ({size['rec_buckets']})"]
        rows.append(row)
    return markdown_table(head, rows)


def _per_thread(by_threads: dict, n: int) -> dict:
    return by_threads[n] if n in by_threads else by_threads[str(n)]


app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@app.command()
def main(
    families: List[str] = typer.Option([",".join(FAMILIES)], "--families",
                                       help="pipelines to compare, comma-separated or repeated"),
    evalset: Optional[Path] = typer.Option(None, "--evalset",
                                           help="labelled set from `make evalset` (omit to skip ground truth)"),
    threads: str = typer.Option("1,2", "--threads", help="thread counts for latency, comma-separated"),
    reps: int = typer.Option(20, "--reps", help="timed runs per artifact and thread count"),
    rounds: int = typer.Option(5, "--rounds", help="interleaved rounds the reps are split into"),
    results_dir: Path = typer.Option(RESULTS_DIR, "--results-dir", help="where the results JSON goes"),
):
    """Convert each family to tflite-fp16, time it, size it and score it; print one table."""
    if evalset is not None:
        require_evalset(evalset)
    import_converters_in_order()
    t0 = time.perf_counter()
    thread_counts = split_list(threads, int, "--threads")
    names = split_list(families, option="--families")
    res: dict = {"timestamp": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"), "families": names,
                 "threads": thread_counts}
    with tempfile.TemporaryDirectory(prefix="ppocr-families-") as tmp:
        arts = convert_families(names, Path(tmp) / "dist")
        res["latency"] = bench_latency(arts, thread_counts, reps, rounds)  # first, on a quiet machine
        res["size"] = sizes(arts)
        if evalset is not None:
            res["ground_truth"] = ground_truth(arts, evalset, Path(tmp) / "parity")
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    res["markdown"] = render(res)
    print(res["markdown"])
    results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(res, indent=1, default=str)
    (results_dir / f"families-{res['timestamp']}.json").write_text(text)
    (results_dir / "families-latest.json").write_text(text)
    log(f"wrote {results_dir / 'families-latest.json'} ({res['wall_s']:.0f} s)", "families")


if __name__ == "__main__":
    app()

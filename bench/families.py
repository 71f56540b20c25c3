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

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
FAMILIES = ["PP-OCRv5_mobile", "PP-OCRv6_tiny", "PP-OCRv6_small"]


def log(msg: str) -> None:
    print(f"[families] {msg}", file=sys.stderr, flush=True)


def convert_fp16(pipelines: list[str], out: Path) -> dict:
    """{pipeline: {"det": path, "rec": [bucket paths], "det_cfg", "rec_cfg"}} (stage cache reused)."""
    from ppocr_convert.chain.conversion import ConvertOptions, convert
    from ppocr_convert.parity.harness import artifact_paths
    from ppocr_convert.parity.pipelines import load_pipeline
    arts = {}
    for name in pipelines:
        pipe = load_pipeline(name)
        entry = {"pipe": pipe}
        for task, cfg in (("det", pipe.det_config), ("rec", pipe.rec_config)):
            log(f"converting {cfg.name} to tflite-fp16")
            result = convert(cfg, ConvertOptions(targets=["tflite-fp16"], out_dir=out))
            entry[task] = artifact_paths(result, "tflite-fp16")
        arts[name] = entry
    return arts


def bench_latency(arts: dict, threads: list[int], reps: int, rounds: int) -> dict:
    from ppocr_convert.runners import open_runner
    rng = np.random.default_rng(0)
    out: dict = {}
    for n in threads:
        runners, inputs = {}, {}
        for name, a in arts.items():
            for task in ("det", "rec"):
                path = a[task][0] if isinstance(a[task], list) else a[task]
                runner = open_runner(path, "tflite-fp16", threads=n)
                key = (name, task)
                runners[key] = runner
                inputs[key] = rng.uniform(-1, 1, size=runner.input_spec.shape).astype(np.float32)
                for _ in range(3):
                    runner.run(inputs[key])
        times = {k: [] for k in runners}
        order_rng = random.Random(n)
        per_round = max(1, reps // rounds)
        log(f"latency, {n} thread(s): {len(runners)} artifacts x {per_round * rounds} reps, interleaved")
        for _ in range(rounds):
            order = list(runners)
            order_rng.shuffle(order)
            for k in order:
                runners[k].run(inputs[k])  # untimed: re-warm caches for this model
                for _ in range(per_round):
                    t = time.perf_counter()
                    runners[k].run(inputs[k])
                    times[k].append((time.perf_counter() - t) * 1000.0)
        for (name, task), ms in times.items():
            out.setdefault(name, {}).setdefault(task, {})[n] = {
                "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
                "shape": list(runners[(name, task)].input_spec.shape)}
    return out


def sizes(arts: dict) -> dict:
    out = {}
    for name, a in arts.items():
        rec = a["rec"] if isinstance(a["rec"], list) else [a["rec"]]
        out[name] = {"det_bytes": Path(a["det"]).stat().st_size, "rec_bytes": sum(Path(p).stat().st_size for p in rec),
                     "rec_buckets": len(rec)}
    return out


def ground_truth(arts: dict, evalset: Path, work: Path) -> dict:
    from ppocr_convert.goldens import list_images
    from ppocr_convert.parity.harness import StageModels, run_parity
    from ppocr_convert.parity.labels import load_labels
    from ppocr_convert.reference import reference_dir
    labels = load_labels(evalset / "labels.json")
    images = list_images(evalset)
    out = {}
    for name, a in arts.items():
        pipe = a["pipe"]
        log(f"evalset ({len(images)} pages): {name} reference + deployed tflite-fp16")
        (det_ref, det_prov), (rec_ref, rec_prov) = reference_dir(pipe.det_config), reference_dir(pipe.rec_config)
        models = {"paddle": StageModels("paddle", det_ref, rec_ref),
                  "tflite-fp16": StageModels("tflite-fp16", a["det"], a["rec"])}
        report = run_parity(pipe, images, ["tflite-fp16"], work / name, stage_models=models, labels=labels,
                            with_strategies=False).report
        out[name] = {"reference": report["reference"]["ground_truth"],
                     "tflite-fp16": report["stages"]["tflite-fp16"]["ground_truth"],
                     "reference_kind": {"det": det_prov["kind"], "rec": rec_prov["kind"]}}
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
            f, r = gt["tflite-fp16"], gt["reference"]
            row += [f"{100 * f['gt_line_accuracy']:.1f} % ({100 * r['gt_line_accuracy']:.1f} %)",
                    f"{100 * f['gt_cer']:.1f} % ({100 * r['gt_cer']:.1f} %)", f"{100 * f['gt_det_recall']:.1f} %"]
        else:
            row += ["—", "—", "—"]
        row += [f"{lat['det'][n]['median_ms']:.1f}" for n in threads]
        row += [f"{lat['rec'][n]['median_ms']:.1f}" for n in threads]
        row += [f"{size['det_bytes'] / 1e6:.1f}", f"{size['rec_bytes'] / 1e6:.1f} ({size['rec_buckets']})"]
        rows.append(row)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.families", description=__doc__.split("\n\n")[0])
    p.add_argument("--families", nargs="+", default=FAMILIES)
    p.add_argument("--evalset", type=Path, help="labelled set from `make evalset` (omit to skip ground truth)")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    a = p.parse_args(argv)
    if a.evalset is not None and not (a.evalset / "labels.json").is_file():
        raise SystemExit(f"{a.evalset}/labels.json not found: run `make evalset` first")
    from ppocr_convert.inspect_model import import_tensorflow  # noqa: F401  (paddle before TF)
    t0 = time.perf_counter()
    threads = [int(t) for t in a.threads.split(",")]
    res: dict = {"timestamp": datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"), "families": a.families,
                 "threads": threads}
    with tempfile.TemporaryDirectory(prefix="ppocr-families-") as tmp:
        arts = convert_fp16(a.families, Path(tmp) / "dist")
        res["latency"] = bench_latency(arts, threads, a.reps, a.rounds)  # first, on a quiet machine
        res["size"] = sizes(arts)
        if a.evalset is not None:
            res["ground_truth"] = ground_truth(arts, a.evalset, Path(tmp) / "parity")
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    res["markdown"] = render(res)
    print(res["markdown"])
    a.results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(res, indent=1, default=str)
    (a.results_dir / f"families-{res['timestamp']}.json").write_text(text)
    (a.results_dir / "families-latest.json").write_text(text)
    log(f"wrote {a.results_dir / 'families-latest.json'} ({res['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

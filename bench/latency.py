"""Artifact latency: every artifact of a model (ours and the plain way's) on one fixed-shape
input, per thread count, through `ppocr_convert.runners.open_runner` (NCHW float32 in).

All artifacts of one model are measured in interleaved rounds (random order per round) so
machine drift hits them alike, and every switch of engine first waits until ONNX Runtime's
spinning worker threads have gone idle (`measure.settle`). CPU used by other processes
meanwhile is recorded next to the numbers.
"""
from __future__ import annotations

import gc
import random
import statistics
import time

from bench.measure import CpuLoad, settle
from bench.subjects import ARTIFACT_KINDS, MODELS, OURS_VS_PLAIN, engine_of, log, stage_of


def split_into_rounds(reps: int, rounds: int) -> list[int]:
    """Repetitions per round, as even as possible, the first rounds taking the remainder."""
    return [reps // rounds + (1 if i < reps % rounds else 0) for i in range(rounds)]


def bench_latency(paths: dict, models: list[str], threads: list[int], reps: int, warmup: int,
                  rounds: int) -> list[dict]:
    import numpy as np

    from ppocr_convert.config import load_model_config
    from ppocr_convert.runners import open_runner

    # the shape the artifacts were built for: the config's deployable shape (rec: its
    # narrowest width bucket, the file the manifest names first)
    shapes = {key: tuple(load_model_config(MODELS[key]).shape) for key in models}
    rng = np.random.default_rng(0)
    rows = []
    for key in models:
        x = rng.uniform(-1.0, 1.0, size=shapes[key]).astype(np.float32)
        for n in threads:
            log(f"latency {key} {'x'.join(map(str, shapes[key]))}, {n} thread(s), {reps} reps x "
                f"{len(ARTIFACT_KINDS)} artifacts")
            runners = {k: open_runner(paths[key][k], stage_of(k), threads=n) for k in ARTIFACT_KINDS}
            for r in runners.values():
                for _ in range(warmup):
                    r.run(x)
            per_round = split_into_rounds(reps, rounds)
            times: dict[str, list[list[float]]] = {k: [] for k in ARTIFACT_KINDS}
            order_rng = random.Random(n)
            with CpuLoad() as load:
                for count in per_round:
                    order = list(ARTIFACT_KINDS)
                    order_rng.shuffle(order)  # no artifact always follows the same one
                    for k in order:
                        run = runners[k].run
                        settle()  # the previous engine's threads must stop spinning first
                        run(x)  # untimed: re-warm caches for this model
                        ms = []
                        for _ in range(count):
                            t = time.perf_counter()
                            run(x)
                            ms.append((time.perf_counter() - t) * 1000.0)
                        times[k].append(ms)
            for k in ARTIFACT_KINDS:
                rows.append({"model": key, "threads": n, "artifact": k, "engine": engine_of(k),
                             "shape": list(shapes[key]), "cpu_load": load.to_dict(), "rounds_ms": times[k]}
                            | latency_summary(times[k]))
            del runners
            gc.collect()
    return compare_with_plain(rows)


def latency_summary(rounds_ms: list[list[float]]) -> dict:
    """Median, p90, min and mean over all timed runs of one artifact."""
    import numpy as np
    ms = np.array([v for r in rounds_ms for v in r])
    return {"reps": len(ms), "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "min_ms": float(ms.min()), "mean_ms": float(ms.mean())}


def compare_with_plain(rows: list[dict]) -> list[dict]:
    """Adds ours/plain ratios to our rows (median, p90, min, and per round) and, on the
    tflite-fp32 rows, the ratio to ONNX Runtime on the onnx artifact of the same side."""
    import numpy as np
    by = {(r["model"], r["threads"], r["artifact"]): r for r in rows}
    for r in rows:
        plain = by.get((r["model"], r["threads"], OURS_VS_PLAIN.get(r["artifact"], "")))
        if plain:
            r["vs_plain_median"] = r["median_ms"] / plain["median_ms"]
            r["vs_plain_p90"] = r["p90_ms"] / plain["p90_ms"]
            r["vs_plain_min"] = r["min_ms"] / plain["min_ms"]
            # paired: ours and plain ran close in time within each round, so the per-round
            # ratio cancels slow drift of the machine; its spread says how sure the ratio is
            per_round = [statistics.median(a) / statistics.median(b)
                         for a, b in zip(r["rounds_ms"], plain["rounds_ms"]) if len(a) and len(b)]
            r["vs_plain_paired"] = float(np.median(per_round))
            r["vs_plain_paired_iqr"] = [float(np.percentile(per_round, 25)), float(np.percentile(per_round, 75))]
        if r["artifact"].endswith("tflite-fp32"):
            onnx_kind = "onnx" if r["artifact"] == "tflite-fp32" else "plain-onnx"
            ort = by.get((r["model"], r["threads"], onnx_kind))
            if ort:
                r["vs_ort_onnx_median"] = r["median_ms"] / ort["median_ms"]
    return rows

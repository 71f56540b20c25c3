"""Findings: the sentences under the report's tables that say what the numbers mean, each
one derived from the results so that a run explains its own outliers (is a slower artifact
running different kernels, or the same ones on a busy machine?)."""
from __future__ import annotations

import os

from bench.markdown import fmt_diff
from bench.subjects import RATIO_TARGET


def findings(res: dict) -> list[str]:
    return (_slower_artifacts(res) + _op_mix(res["ops"]) + _threads_slower(res["latency"])
            + _slower_conversions(res) + _reproducibility(res["conversion"]))


def _structure_note(struct: dict, diff: dict) -> str:
    if struct.get("identical_up_to_scalar_rank"):
        return (" same op sequence on the same tensor shapes as plain (up to the rank of scalar constants), so "
                "the same kernels run: the gap is measurement noise")
    if struct.get("same_ops_in_other_order"):
        return " same ops on the same shapes as plain, some in another order"
    return f" op histogram ours-plain: {fmt_diff(diff)}"


def _slower_artifacts(res: dict) -> list[str]:
    out = []
    ops_by = {(r["model"], r["artifact"]): r for r in res["ops"]}
    for r in res["latency"]:
        r_ratio = r.get("vs_plain_median")
        if r_ratio is None or r_ratio <= RATIO_TARGET:
            continue
        o = ops_by[(r["model"], r["artifact"])]
        note = _structure_note(o.get("structure_vs_plain", {}), o.get("diff_vs_plain") or {})
        lo, hi = r["vs_plain_paired_iqr"]
        consistent = ("consistently slower across rounds" if lo > 1.0
                      else "not consistent across rounds (IQR includes 1)")
        out.append(f"SLOWER: {r['model']} {r['artifact']} at {r['threads']} thread(s): ours/plain median {r_ratio:.3f} "
                   f"(p90 {r['vs_plain_p90']:.3f}, min {r['vs_plain_min']:.3f}, per round {r['vs_plain_paired']:.3f} "
                   f"[IQR {lo:.2f}-{hi:.2f}]: {consistent}); other processes used "
                   f"{r['cpu_load']['other_procs'] * 100:.0f} % of the CPUs meanwhile;{note}")
    for r in res["pipeline"]:
        r_ratio = r.get("vs_plain_throughput")
        if r_ratio is not None and r_ratio < 1 / RATIO_TARGET:
            out.append(f"SLOWER: pipeline {r['runner']}: throughput ours/plain {r_ratio:.3f} "
                       f"(< {1 / RATIO_TARGET:.3f}); "
                       f"other processes used {r['cpu_load']['other_procs'] * 100:.0f} % of the CPUs meanwhile")
    if not out:
        out.append(f"no artifact of ours is slower than its plain-way counterpart by more than "
                   f"{(RATIO_TARGET - 1) * 100:.0f} % (median latency, end-to-end throughput)")
    return out


def _tflite_verdict(struct: dict) -> str:
    if struct["identical"]:
        return "op sequence and tensor shapes identical to plain"
    if struct["identical_up_to_scalar_rank"]:
        return (f"op sequence and tensor shapes identical to plain except the rank of one-element constant "
                f"operands in {struct['n_ops_differing']} ops (first: op #{struct['first_difference_at']}, "
                f"ours {struct['ours']} vs plain {struct['plain']})")
    if struct["same_ops_in_other_order"]:
        return (f"the same ops on the same shapes (up to scalar rank) as plain, {struct['n_ops_really_differing']} "
                f"in another order (first op #{struct['first_real_difference_at']}: ours {struct['ours_real']} "
                f"vs plain {struct['plain_real']})")
    return (f"differs from plain in {struct['n_ops_really_differing']} ops, first op "
            f"#{struct['first_real_difference_at']}: ours {struct['ours_real']} vs plain {struct['plain_real']}")


def _op_mix(ops: list[dict]) -> list[str]:
    out = []
    for r in ops:
        if "diff_vs_plain" not in r:
            continue
        struct = r.get("structure_vs_plain")
        if struct is not None:
            out.append(f"op mix {r['model']} {r['artifact']}: {r['ops']} ops, {r['transpose']} TRANSPOSE, "
                       f"histogram ours-plain {fmt_diff(r['diff_vs_plain'])}; {_tflite_verdict(struct)}")
        else:
            opt = r.get("ort_optimized", {})
            out.append(f"op mix {r['model']} {r['artifact']} (ONNX) ours-plain: {fmt_diff(r['diff_vs_plain'])}; "
                       f"after ONNX Runtime's own graph optimizations ({sum(opt.get('ours', {}).values())} vs "
                       f"{sum(opt.get('plain', {}).values())} nodes): {fmt_diff(opt.get('diff', {}))}")
    return out


def _threads_slower(lat: list[dict]) -> list[str]:
    """More threads slower than one: on 2 CPUs with a busy neighbour every parallel section
    waits for a descheduled thread."""
    out = []
    by = {(r["model"], r["threads"], r["artifact"]): r for r in lat}
    for model in dict.fromkeys(r["model"] for r in lat):
        for thr in sorted({r["threads"] for r in lat if r["threads"] > 1}):
            worse = [(art, r["median_ms"] / by[(model, 1, art)]["median_ms"]) for (m, t, art), r in by.items()
                     if m == model and t == thr and (model, 1, art) in by
                     and r["median_ms"] > by[(model, 1, art)]["median_ms"] * RATIO_TARGET]
            if worse:
                load = by[(model, thr, worse[0][0])]["cpu_load"]
                out.append(f"{model}: {thr} threads slower than 1 thread for "
                           + ", ".join(f"{art} x{x:.2f}" for art, x in worse)
                           + f" (median); other processes used {load['other_procs'] * 100:.0f} % of the CPUs meanwhile "
                           f"(steal {load['steal'] * 100:.0f} %): with {os.cpu_count()} CPUs and a busy neighbour, "
                           f"every parallel section waits for a descheduled thread")
    return out


def _slower_conversions(res: dict) -> list[str]:
    out = []
    for r in res["conversion_rows"]:
        if r["time_ratio"] is not None and r["time_ratio"] > RATIO_TARGET:
            spread = ""
            if "ours_range" in r:
                spread = (f"; range over runs ours {r['ours_range'][0]:.1f}-{r['ours_range'][1]:.1f} s, "
                          f"plain {r['plain_range'][0]:.1f}-{r['plain_range'][1]:.1f} s")
            out.append(f"conversion {r['model']} {r['stage']}: ours/plain time {r['time_ratio']:.2f} "
                       f"({r['ours_s']:.1f} s vs {r['plain_s']:.1f} s, median){spread}")
    for key, secs in res.get("pass_seconds", {}).items():
        if len(secs) > 1:
            out.append(f"{key} onnx stage, seconds per pass: "
                       + ", ".join(f"{n} {v:.2f}" for n, v in secs.items() if v is not None))
    return out


def _reproducibility(conversion: dict) -> list[str]:
    out = []
    for key, c in conversion.items():
        rep = c["reproducible"]
        bad = [f"ours {t}" for t, ok in rep["ours_across_cold_runs"].items() if not ok]
        bad += [f"cached {t}" for t, ok in rep["ours_cached_equals_cold"].items() if not ok]
        bad += [f"plain {t}" for t, ok in rep["plain_across_runs"].items() if not ok]
        out.append(f"{key}: artifacts byte-identical across {c['reps']} cold run(s) and the cached runs"
                   if not bad else f"{key}: NOT byte-identical across runs: {', '.join(bad)}")
    return out

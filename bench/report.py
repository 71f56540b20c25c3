"""The full markdown report of one bench run (printed on stdout and stored in the results
JSON as "markdown"): conversion, latency, end-to-end, size, op counts, findings."""
from __future__ import annotations

from bench.markdown import fmt, fmt_diff, markdown_table
from bench.subjects import OURS_VS_PLAIN


def render(res: dict) -> str:
    sections = [_header(res), _conversion(res), _latency(res), _end_to_end(res), _size(res), _ops(res),
                "### Findings\n\n" + "\n".join(f"- {f}" for f in res["findings"])]
    return "\n\n".join(sections) + "\n"


def _header(res: dict) -> str:
    m, a, pipe = res["machine"], res["args"], res["pipeline"]
    return "\n".join([
        f"## ppocr-convert benchmark ({res['timestamp']})", "",
        f"machine: {m['cpu_count']} CPUs ({m['cpu_model']}), {m.get('memory_gib', '?')} GiB RAM, "
        f"load avg at start {m['loadavg_start']}, loadavg at end {res.get('loadavg_end')}",
        "tools: " + ", ".join(f"{k} {v}" for k, v in res["tool_versions"].items()),
        f"run: models {', '.join(a.get('models', ['det', 'rec']))}; conversions x{a['conv_reps']}; latency reps "
        f"{a['reps']} after {a['warmup']} warm-ups in {a['rounds']} interleaved rounds; threads {a['threads']}; "
        f"{pipe[0]['images'] if pipe else 0} images; wall {res['wall_s']:.0f} s{' (--quick)' if a['quick'] else ''}",
        f"CPU used by other processes: latency {res['other_load_latency'] * 100:.0f} %, "
        f"end-to-end {res['other_load_pipeline'] * 100:.0f} % (share of all CPUs)",
        "plain way = onnxsim (static input shape) + onnx-graphsurgeon (HardSigmoid -> Mul/Add/Clip, cleanup, "
        "toposort) + onnx2tf CLI. Source of both: packaged PP-OCRv5 ONNX (paddle2onnx output; "
        "no paddle2onnx run on either side). Ratios are ours / plain; latency target <= 1.05."])


def _conversion(res: dict) -> str:
    reps = res["args"]["conv_reps"]
    table = markdown_table(
        ["model", "stage", "ours cold s", "ours peak RSS MB", "ours cached s", "plain way", "plain s",
         "plain peak RSS MB", "time ours/plain", "RSS ours/plain"],
        [[r["model"], r["stage"], fmt(r["ours_s"], "{:.1f}"), fmt(r["ours_rss"], "{:.0f}"), fmt(r["cached_s"]),
          r["plain"], fmt(r["plain_s"], "{:.1f}"), fmt(r["plain_rss"], "{:.0f}"), fmt(r["time_ratio"]),
          fmt(r["rss_ratio"])] for r in res["conversion_rows"]])
    return "\n\n".join([
        "### 1. Conversion (cold = fresh stage cache, cached = same cache again)", table,
        f"Median of {reps} run(s). Peak RSS: in-process stages = the converting process "
        "(sampled every 20 ms); onnx2tf = its own process tree on both sides; total = whole process tree "
        "(ours: the `convert()` process; plain: the larger of its two steps). Ours' onnx stage includes "
        "an ORT load check; rec's tflite stage = onnx2tf on the narrowest bucket + the wider ones re-emitted "
        "and checked against their ONNX; publish = inspect (LiteRT op list, cached by content), "
        "sha256, manifest."])


def _latency(res: dict) -> str:
    lat = res["latency"]
    shapes = ", ".join(f"{m} {'x'.join(map(str, r['shape']))}"
                       for m, r in {r["model"]: r for r in lat}.items())
    by = {(r["model"], r["threads"], r["artifact"]): r for r in lat}
    rows = []
    for r in lat:
        if r["artifact"].startswith("plain-"):
            continue
        plain = by.get((r["model"], r["threads"], OURS_VS_PLAIN.get(r["artifact"], "")))
        paired = (f"{r['vs_plain_paired']:.3f} [{r['vs_plain_paired_iqr'][0]:.2f}-{r['vs_plain_paired_iqr'][1]:.2f}]"
                  if "vs_plain_paired" in r else "—")
        rows.append([r["model"], r["threads"], f"{r['artifact']} ({r['engine']})", fmt(r["median_ms"]),
                     fmt(r["p90_ms"]), fmt(plain["median_ms"] if plain else None),
                     fmt(plain["p90_ms"] if plain else None), fmt(r.get("vs_plain_median"), "{:.3f}"),
                     fmt(r.get("vs_plain_p90"), "{:.3f}"), fmt(r.get("vs_plain_min"), "{:.3f}"), paired,
                     f"{r['cpu_load']['other_procs'] * 100:.0f}"])
    vs_ort = [[r["model"], r["threads"], fmt(r.get("vs_ort_onnx_median"), "{:.3f}"),
               fmt(by[(r["model"], r["threads"], "plain-tflite-fp32")].get("vs_ort_onnx_median"), "{:.3f}")]
              for r in lat if r["artifact"] == "tflite-fp32"]
    return "\n\n".join([
        f"### 2a. Artifact latency (fixed input: {shapes}; ms)",
        markdown_table(["model", "thr", "artifact (engine)", "ours median", "ours p90", "plain median", "plain p90",
                        "ours/plain median", "ours/plain p90", "ours/plain min", "ours/plain per round [IQR]",
                        "other load %"], rows),
        "per round = median over the interleaved rounds of (ours median / plain median) within the round, "
        "with its interquartile range: robust to drift. other load % = CPU used by other processes during that "
        "model/threads block, as a share of all CPUs (noise this run cannot control).",
        "TFLite FP32 / ONNX Runtime on `onnx` (median, same threads; TFLite includes the runner's "
        "NCHW->NHWC input transpose):",
        markdown_table(["model", "thr", "ours tflite-fp32 / ours onnx", "plain tflite-fp32 / plain onnx"], vs_ort)])


def _end_to_end(res: dict) -> str:
    pipe = res["pipeline"]
    if not pipe:  # --images 0, no photos, or a run without both det and rec
        return "### 2b. End-to-end OCR\n\nnot run in this run"
    return "\n\n".join([
        f"### 2b. End-to-end OCR (det + rec, {pipe[0]['threads']} threads, real photos; onnx-raw "
        "runs det at PaddleOCR's dynamic size, static ones at their static shapes)",
        markdown_table(["runner", "images", "images/s", "median ms/image", "det infer s", "rec infer s", "lines",
                        "throughput ours/plain"],
                       [[f"{r['runner']} ({r['engine']})", r["images"], fmt(r["images_per_s"]),
                         fmt(r["median_ms_per_image"], "{:.0f}"), fmt(r["det_infer_s"]), fmt(r["rec_infer_s"]),
                         r["lines"], fmt(r.get("vs_plain_throughput"), "{:.3f}")] for r in pipe])])


def _size(res: dict) -> str:
    return "### 3. Size\n\n" + markdown_table(
        ["model", "artifact", "bytes", "vs onnx-raw", "ours/plain"],
        [[r["model"], r["artifact"], f"{r['bytes']:,}", fmt(r["vs_onnx_raw"], "{:.3f}"), fmt(r["vs_plain"], "{:.3f}")]
         for r in res["size"]])


def same_kernels(row: dict) -> str:
    """The op-count table's verdict on whether ours runs the same kernels as plain."""
    st = row.get("structure_vs_plain")
    if st is None:
        opt = row.get("ort_optimized")
        return "" if opt is None else f"after ORT optimization: {fmt_diff(opt['diff'])}"
    if st["identical"]:
        return "yes"
    if st["identical_up_to_scalar_rank"]:
        return f"yes, up to the rank of scalar constants ({st['n_ops_differing']} ops)"
    if st["same_ops_in_other_order"]:
        return f"same ops + shapes, {st['n_ops_really_differing']} in another order"
    return f"no ({st['n_ops_really_differing']} ops differ, first #{st['first_real_difference_at']})"


def _ops(res: dict) -> str:
    return "### 4. Op counts\n\n" + markdown_table(
        ["model", "artifact", "ops", "TRANSPOSE", "GPU delegate", "histogram ours - plain", "same kernels as plain"],
        [[r["model"], r["artifact"], r["ops"], r["transpose"], r["gpu_verdict"],
          fmt_diff(r["diff_vs_plain"]) if "diff_vs_plain" in r else "", same_kernels(r)] for r in res["ops"]])

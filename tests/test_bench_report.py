"""The README benchmark block and the full markdown report, rendered from a small results
JSON shaped like the one `python -m bench.run_bench` writes (built here from synthetic
measurements through the same aggregation functions, then round-tripped through JSON)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bench.conversion import conversion_rows
from bench.end_to_end import throughput_vs_plain
from bench.findings import findings
from bench.latency import compare_with_plain, latency_summary
from bench.readme_table import MarkerError, app, readme_block, replace_block
from bench.report import render

pytestmark = pytest.mark.unit

SHAPES = {"det": [1, 3, 1024, 1024], "rec": [1, 3, 48, 320]}
# (ours, plain) median ms per model, threads and artifact
LATENCY = {
    ("det", 1): {"onnx": (480.0, 400.0), "tflite-fp32": (240.0, 240.0), "tflite-fp16": (240.0, 200.0)},
    ("det", 2): {"onnx": (280.0, 280.0), "tflite-fp32": (140.0, 140.0), "tflite-fp16": (150.0, 150.0)},
    ("rec", 1): {"onnx": (18.0, 18.0), "tflite-fp32": (17.0, 17.0), "tflite-fp16": (17.0, 17.0)},
    ("rec", 2): {"onnx": (16.0, 16.0), "tflite-fp32": (12.0, 12.0), "tflite-fp16": (10.0, 10.0)},
}


def _conversion(buckets: int, tflite_s: float, publish_s: float, total_s: float, plain: tuple) -> dict:
    tags = [f"[w{320 * 2 ** i}]" for i in range(buckets)] if buckets > 1 else [""]
    stages = [{"stage": "onnx-raw", "cached": False, "seconds": 0.2, "peak_rss_mb": None}]
    for i, tag in enumerate(tags):
        stages += [{"stage": f"onnx{tag}", "cached": False, "seconds": 1.0, "peak_rss_mb": None},
                   {"stage": f"tflite{tag}", "cached": False, "seconds": tflite_s, "peak_rss_mb": 1100.0,
                    **({"detail": {"method": "retarget", "from_width": 320}} if i else {})}]
    stages.append({"stage": "publish", "cached": False, "seconds": publish_s, "peak_rss_mb": None})
    ours = {"convert_total_s": total_s, "stages": stages, "phase_peak_rss_mb": {"onnx": 500.0, "publish": 600.0},
            "process": {"peak_rss_mb": 1200.0}}
    cached = dict(ours, convert_total_s=2.6)
    return {"runs": [{"ours_cold": ours, "ours_cached": cached,
                      "plain": {"onnx": {"seconds": plain[0], "process": {"peak_rss_mb": 400.0}},
                                "onnx2tf": {"seconds": plain[1], "peak_rss_mb": 1000.0}}}],
            "reps": 1, "reproducible": {"ours_across_cold_runs": {"onnx": True}, "ours_cached_equals_cold": {},
                                        "plain_across_runs": {}}}


def _latency_rows(models: list[str]) -> list[dict]:
    rows = []
    for (model, threads), arts in LATENCY.items():
        if model not in models:
            continue
        for artifact, (ours, plain) in arts.items():
            for kind, ms in ((artifact, ours), (f"plain-{artifact}", plain)):
                rounds = [[ms, ms], [ms, ms]]
                rows.append({"model": model, "threads": threads, "artifact": kind, "shape": SHAPES[model],
                             "engine": "x", "cpu_load": {"other_procs": 0.01, "steal": 0.0, "own": 0.5},
                             "rounds_ms": rounds} | latency_summary(rounds))
    return compare_with_plain(rows)


def _ops(model: str, artifact: str, transpose: int, **extra) -> dict:
    return {"model": model, "artifact": artifact, "format": "tflite" if "tflite" in artifact else "onnx",
            "ops": 100, "transpose": transpose, "gpu_verdict": "ok", "op_histogram": {}} | extra


SCALAR_RANK_ONLY = {"identical": False, "identical_up_to_scalar_rank": True, "n_ops_differing": 2,
                    "first_difference_at": 7, "ours": "a", "plain": "b"}


def results(models: tuple[str, ...] = ("det", "rec")) -> dict:
    conv = {"det": _conversion(1, 7.6, 2.7, 14.7, (3.0, 7.6)),
            "rec": _conversion(3, 27.0, 4.1, 87.4, (0.7, 14.5))}
    conv = {k: v for k, v in conv.items() if k in models}
    onnx_ops = [_ops(m, a, 0, **({"diff_vs_plain": {}, "ort_optimized": {"ours": {}, "plain": {}, "diff": {}}}
                                  if a == "onnx" else {}))
                for m in ("det", "rec") for a in ("onnx", "plain-onnx")]
    ops = onnx_ops + [_ops("det", "tflite-fp32", 0, diff_vs_plain={}, structure_vs_plain={
                "identical": True, "identical_up_to_scalar_rank": True}),
           _ops("det", "plain-tflite-fp32", 0),
           _ops("det", "tflite-fp16", 0, diff_vs_plain={}, structure_vs_plain=SCALAR_RANK_ONLY),
           _ops("rec", "tflite-fp32", 0, diff_vs_plain={"TRANSPOSE": -6}, structure_vs_plain=dict(
                SCALAR_RANK_ONLY, identical_up_to_scalar_rank=False, n_ops_really_differing=9,
                first_real_difference_at=3, ours_real="x", plain_real="y", same_ops_in_other_order=False)),
           _ops("rec", "plain-tflite-fp32", 6)]
    sizes = [{"model": m, "artifact": a, "bytes": b, "vs_onnx_raw": b / raw, "vs_plain": None}
             for m, raw, fp16 in (("det", 1000, 510), ("rec", 2000, 1000))
             for a, b in (("onnx-raw", raw), ("tflite-fp32", raw), ("tflite-fp16", fp16))]
    pipeline = throughput_vs_plain([
        {"runner": k, "images_per_s": v, "images": 30, "threads": 2, "engine": "x", "median_ms_per_image": 1.0,
         "det_infer_s": 1.0, "rec_infer_s": 1.0, "lines": 90, "cpu_load": {"other_procs": 0.0}}
        for k, v in (("onnx-raw", 6.8), ("onnx", 2.7), ("plain-onnx", 2.7), ("tflite-fp32", 5.0),
                     ("plain-tflite-fp32", 5.0), ("tflite-fp16", 4.8), ("plain-tflite-fp16", 4.8))])
    res = {"timestamp": "20261122T101500Z", "wall_s": 675.2,
           "machine": {"cpu_count": 2, "cpu_model": "Intel Xeon", "loadavg_start": [0.1]},
           "tool_versions": {"onnx2tf": "1.28.8"},
           "args": {"quick": False, "models": list(models), "conv_reps": 1, "reps": 30, "warmup": 5, "rounds": 10,
                    "threads": [1, 2]},
           "conversion": conv, "conversion_rows": conversion_rows(conv),
           "latency": _latency_rows(list(models)),
           "pipeline": pipeline if set(models) == {"det", "rec"} else [],
           "size": [s for s in sizes if s["model"] in models], "ops": [o for o in ops if o["model"] in models],
           "other_load_latency": 0.01, "other_load_pipeline": 0.0}
    return json.loads(json.dumps(res))  # what a reader of the results file gets


def test_readme_block_reproduces_the_table_structure():
    lines = readme_block(results()).splitlines()
    assert lines[0] == ("Latest run (2 × Intel Xeon, 2026-11-22, 675 s; shapes: det 1×3×1024×1024, rec 1×3×48×320; "
                        "conversions median of 1, latency median of 30 reps; ratios are ours / plain, measured "
                        "interleaved in the same run):")
    table = [line for line in lines if line.startswith("|")]
    assert table == [
        "|  | det 1024×1024 | rec 48×320 |",
        "|---|---|---|",
        "| conversion, cold (s) | 14.7 vs 10.6 plain (1.39×; inspect + manifest 2.7 s) "
        "| 87.4 vs 15.2 plain (5.75×; 3 width buckets, 1 through onnx2tf and 2 re-emitted: tflite stage 81.0 s "
        "vs 14.5 s plain; "
        "inspect + manifest 4.1 s) |",
        "| conversion, cached (s) | 2.6 | 2.6 |",
        "| onnx latency median, 1 / 2 threads (ms) | 480.0 / 280.0 (ratio 1.20 / 1.00) | 18.0 / 16.0 (1.00 / 1.00) |",
        "| tflite-fp32 median, 1 / 2 threads (ms) | 240.0 / 140.0 (1.00 / 1.00) | 17.0 / 12.0 (1.00 / 1.00) |",
        "| tflite-fp16 median, 1 / 2 threads (ms) | 240.0 / 150.0 (1.20* / 1.00) | 17.0 / 10.0 (1.00 / 1.00) |",
        "| tflite-fp32 / onnxruntime, same threads | 0.50 / 0.50 | 0.94 / 0.75 |",
        "| TRANSPOSE ops in TFLite (plain way) | 0 (0) | 0 (6) |",
        "| size fp32 / fp16 vs onnx-raw | 1.00 / 0.51 | 1.00 / 0.50 |",
    ]
    assert lines[-1] == ("End to end on 30 photos (2 threads): onnx-raw (dynamic det) 6.8 images/s, onnx 2.7, "
                         "tflite-fp32 5.0, tflite-fp16 4.8 (ours / plain 1.00, 1.00, 1.00).")


def test_only_a_same_kernels_ratio_is_starred_as_noise():
    block = readme_block(results())
    # det onnx is 1.20 too, but ONNX has no op-sequence comparison: not marked
    assert "(ratio 1.20 / 1.00)" in block and "1.20*" in block
    assert "\\* above 1.05, but the artifact runs the same op sequence" in block


def test_a_reduced_run_renders_its_own_columns():
    block = readme_block(results(models=("det",)))
    assert "|  | det 1024×1024 |\n" in block
    assert "rec" not in block.split("\n\n")[1]  # the table
    assert "End to end" not in block  # no pipeline without rec


README = """# title

intro, kept as it is

<!-- bench:begin -->
old table
<!-- bench:end -->

prose after the table, kept too
"""


def test_replace_block_leaves_text_outside_the_markers_untouched():
    new = replace_block(README, "| new |")
    before, after = README.split("old table")
    assert new.startswith(before.rstrip("\n"))
    assert new.endswith(after.lstrip("\n"))
    assert "old table" not in new and "\n\n| new |\n\n" in new
    assert replace_block(new, "| new |") == new  # idempotent


@pytest.mark.parametrize("broken, message", [
    (README.replace("<!-- bench:end -->\n", ""), "<!-- bench:end --> not found"),
    (README.replace("<!-- bench:begin -->\n", ""), "<!-- bench:begin --> not found"),
    (README + "<!-- bench:begin -->\n", "<!-- bench:begin --> found 2 times"),
    ("<!-- bench:end -->\nx\n<!-- bench:begin -->\n", "comes before"),
])
def test_a_missing_or_misplaced_marker_is_a_clear_error(broken, message):
    with pytest.raises(MarkerError, match=message):
        replace_block(broken, "| new |")


def test_command_rewrites_checks_and_reports_errors(tmp_path):
    readme, data = tmp_path / "README.md", tmp_path / "latest.json"
    readme.write_text(README)
    data.write_text(json.dumps(results()))
    runner = CliRunner()

    stale = runner.invoke(app, [str(data), "--readme", str(readme), "--check"])
    assert stale.exit_code == 1 and readme.read_text() == README

    done = runner.invoke(app, [str(data), "--readme", str(readme)])
    assert done.exit_code == 0, done.output
    text = readme.read_text()
    assert text.startswith("# title\n\nintro, kept as it is\n\n<!-- bench:begin -->\n\nLatest run (")
    assert text.endswith("<!-- bench:end -->\n\nprose after the table, kept too\n")
    assert runner.invoke(app, [str(data), "--readme", str(readme), "--check"]).exit_code == 0

    readme.write_text("no markers here\n")
    broken = runner.invoke(app, [str(data), "--readme", str(readme)])
    assert broken.exit_code == 2 and "<!-- bench:begin --> not found" in broken.output
    assert readme.read_text() == "no markers here\n"

    missing = runner.invoke(app, [str(tmp_path / "none.json"), "--readme", str(readme)])
    assert missing.exit_code == 2 and "make bench" in missing.output


def test_full_report_has_every_section_and_its_findings():
    res = results()
    res["findings"] = findings(res)
    res["pass_seconds"] = {}
    res["tool_versions"] = {"onnx2tf": "1.28.8"}
    res["loadavg_end"] = [0.2]
    md = render(res)
    for heading in ("### 1. Conversion",
                    "### 2a. Artifact latency (fixed input: det 1x3x1024x1024, rec 1x3x48x320; ms)",
                    "### 2b. End-to-end OCR (det + rec, 2 threads", "### 3. Size", "### 4. Op counts", "### Findings"):
        assert heading in md
    assert any(f.startswith("SLOWER: det tflite-fp16 at 1 thread(s)") and "measurement noise" in f
               for f in res["findings"])
    assert any(f.startswith("conversion rec total") for f in res["findings"])


def test_report_of_a_reduced_run_says_what_was_not_run():
    res = results(models=("det",))
    res.update(findings=[], pass_seconds={}, loadavg_end=[0.2])
    md = render(res)
    assert "(fixed input: det 1x3x1024x1024; ms)" in md
    assert "### 2b. End-to-end OCR\n\nnot run in this run" in md

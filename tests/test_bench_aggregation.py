"""Pure pieces of the bench: medians over repetitions, ours/plain ratios, the conversion
table's rows, latency ratios, phase tracking and option defaults. No conversions, no timing."""
from __future__ import annotations

import pytest
import typer

from bench.cli_args import split_list
from bench.conversion import conversion_rows, pass_seconds, stage_buckets, stage_seconds
from bench.end_to_end import throughput_vs_plain
from bench.latency import compare_with_plain, latency_summary, split_into_rounds
from bench.run_bench import resolve_options
from bench.stats import hist_diff, median_of, ratio, value_range
from bench.structure import compare_signatures
from bench.workers import phase_tracker

pytestmark = pytest.mark.unit


def test_median_of_ignores_unmeasured_values():
    assert median_of([3.0, None, 1.0, 2.0]) == 2.0
    assert median_of([4.0, 1.0, 3.0, 2.0]) == 2.5  # even count: mean of the middle two
    assert median_of(v for v in [5.0]) == 5.0
    assert median_of([None, None]) is None
    assert median_of([]) is None


def test_ratio_is_missing_without_a_plain_side():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None
    assert ratio(3.0, None) is None
    assert ratio(3.0, 0) is None


def test_value_range_and_hist_diff():
    assert value_range(iter([2.0, 5.0, 3.0])) == [2.0, 5.0]
    assert hist_diff({"Conv": 3, "Transpose": 6}, {"Conv": 3, "Squeeze": 2}) == {"Squeeze": -2, "Transpose": 6}
    assert hist_diff({"Conv": 1}, {"Conv": 1}) == {}


def _ours(total: float, stages: list[tuple], peaks: dict, process_rss: float = 900.0) -> dict:
    return {"convert_total_s": total,
            "stages": [{"stage": s, "cached": False, "seconds": sec, "peak_rss_mb": rss} for s, sec, rss in stages],
            "phase_peak_rss_mb": peaks, "process": {"peak_rss_mb": process_rss},
            "pass_seconds": {"pin_shapes": 0.5, "hardsigmoid": 0.25}}


def _rec_run(scale: float) -> dict:
    """One repetition of a rec conversion with two width buckets; `scale` varies the timings."""
    cold = _ours(100 * scale, [("source", 0.1, None), ("onnx-raw", 1.0 * scale, None),
                               ("onnx[w320]", 2.0 * scale, None), ("tflite[w320]", 20.0 * scale, 1000.0),
                               ("onnx[w640]", 3.0 * scale, None), ("tflite[w640]", 30.0 * scale, 1200.0),
                               ("publish", 4.0 * scale, None)],
                 {"onnx-raw": 300.0, "onnx": 500.0, "publish": 700.0})
    cached = _ours(3 * scale, [("onnx-raw", 0.1, None), ("onnx[w320]", 0.1, None), ("tflite[w320]", 0.2, None),
                               ("onnx[w640]", 0.1, None), ("tflite[w640]", 0.2, None), ("publish", 2.0 * scale, None)],
                   {})
    return {"ours_cold": cold, "ours_cached": cached,
            "plain": {"onnx": {"seconds": 5.0 * scale, "process": {"peak_rss_mb": 400.0}},
                      "onnx2tf": {"seconds": 15.0 * scale, "peak_rss_mb": 1100.0}}}


def test_stage_seconds_sum_width_buckets_and_keep_onnx_raw_apart():
    run = _rec_run(1.0)["ours_cold"]
    assert stage_seconds(run, "onnx") == 5.0
    assert stage_seconds(run, "onnx-raw") == 1.0
    assert stage_seconds(run, "tflite") == 50.0
    assert stage_seconds(run, "publish") == 4.0
    assert stage_seconds(run, "paddle2onnx") is None
    assert stage_buckets(run, "tflite") == 2


def test_conversion_rows_are_medians_over_repetitions():
    conv = {"rec": {"runs": [_rec_run(1.0), _rec_run(3.0), _rec_run(2.0)]}}
    rows = {r["stage"]: r for r in conversion_rows(conv)}
    onnx = rows["onnx (passes)"]
    assert onnx["ours_s"] == 10.0  # per run 5, 15, 10 (two buckets summed): median 10
    assert onnx["plain_s"] == 10.0
    assert onnx["time_ratio"] == 1.0
    assert onnx["ours_range"] == [5.0, 15.0]
    tflite = rows["tflite (onnx2tf)"]
    assert tflite["ours_s"] == 100.0 and tflite["plain_s"] == 30.0
    assert tflite["ours_rss"] == 1200.0  # peaks do not add up over buckets: the larger one
    assert tflite["rss_ratio"] == pytest.approx(1200 / 1100)
    publish = rows["publish (inspect, manifest)"]
    assert publish["ours_s"] == 8.0 and publish["cached_s"] == 4.0  # from the publish stage record
    assert publish["ours_rss"] == 700.0 and publish["time_ratio"] is None
    total = rows["total (convert() / plain steps)"]
    assert total["ours_s"] == 200.0 and total["cached_s"] == 6.0
    assert total["plain_s"] == 40.0 and total["time_ratio"] == 5.0
    assert total["plain_rss"] == 1100.0  # the larger of the plain way's two steps
    assert rows["onnx-raw (front-end)"]["plain_s"] is None


def test_pass_seconds_split_the_onnx_stage():
    conv = {"rec": {"runs": [_rec_run(1.0)]}}
    assert pass_seconds(conv)["rec"] == {"pin_shapes": 0.5, "hardsigmoid": 0.25,
                                         "(load, save, ORT load check)": 4.25}


def test_split_into_rounds_is_even_and_complete():
    assert split_into_rounds(30, 10) == [3] * 10
    assert split_into_rounds(7, 3) == [3, 2, 2]
    assert sum(split_into_rounds(5, 5)) == 5


def _lat(artifact: str, rounds_ms: list[list[float]], threads: int = 1) -> dict:
    row = {"model": "det", "threads": threads, "artifact": artifact, "rounds_ms": rounds_ms}
    return row | latency_summary(rounds_ms)


def test_latency_ratios_against_plain_and_onnxruntime():
    rows = compare_with_plain([
        _lat("onnx", [[10.0, 10.0], [12.0, 12.0]]), _lat("plain-onnx", [[10.0, 10.0], [10.0, 10.0]]),
        _lat("tflite-fp32", [[5.0, 5.0], [5.0, 5.0]]), _lat("plain-tflite-fp32", [[4.0, 4.0], [6.0, 6.0]]),
    ])
    by = {r["artifact"]: r for r in rows}
    assert by["onnx"]["median_ms"] == 11.0 and by["onnx"]["vs_plain_median"] == 1.1
    assert by["onnx"]["vs_plain_paired"] == pytest.approx(1.1)  # per round 1.0 and 1.2
    assert by["onnx"]["vs_plain_paired_iqr"] == pytest.approx([1.05, 1.15])
    assert by["tflite-fp32"]["vs_plain_median"] == 1.0
    assert by["tflite-fp32"]["vs_ort_onnx_median"] == pytest.approx(5 / 11)
    assert by["plain-tflite-fp32"]["vs_ort_onnx_median"] == 0.5
    assert "vs_plain_median" not in by["plain-onnx"]


def test_throughput_vs_plain():
    rows = throughput_vs_plain([{"runner": "onnx", "images_per_s": 3.0}, {"runner": "plain-onnx", "images_per_s": 2.0},
                                {"runner": "onnx-raw", "images_per_s": 6.0}])
    assert rows[0]["vs_plain_throughput"] == 1.5
    assert "vs_plain_throughput" not in rows[2]


def test_phase_tracker_keeps_publish_once_started():
    marks = []
    progress = phase_tracker(marks.append)
    for stage in ["source", "onnx-raw", "onnx", "tflite", "onnx", "tflite", "publish", "onnx-raw", "onnx",
                  "tflite-fp32"]:
        progress(stage, "")
    assert marks == ["source", "onnx-raw", "onnx", "tflite", "onnx", "tflite"] + ["publish"] * 4


def test_compare_signatures_tells_scalar_rank_from_real_differences():
    conv = ("CONV_2D", ((1, 8, 8, 3),), ((1, 8, 8, 4),), ("float32",))
    add_a = ("ADD", ((1, 8, 8, 4), (1,)), ((1, 8, 8, 4),), ("float32",))
    add_b = ("ADD", ((1, 8, 8, 4), ()), ((1, 8, 8, 4),), ("float32",))
    same_up_to_rank = compare_signatures([conv, add_a], [conv, add_b])
    assert not same_up_to_rank["identical"] and same_up_to_rank["identical_up_to_scalar_rank"]
    assert same_up_to_rank["first_difference_at"] == 1 and same_up_to_rank["n_ops_differing"] == 1
    reordered = compare_signatures([conv, add_a], [add_a, conv])
    assert not reordered["identical_up_to_scalar_rank"] and reordered["same_ops_in_other_order"]
    assert compare_signatures([conv], [conv]) == {"identical": True, "identical_up_to_scalar_rank": True,
                                                  "ops": [1, 1]}


def test_quick_defaults_and_explicit_options():
    quick = resolve_options(True, "det", None, None, None, None, "1", 2, None)
    assert (quick.models, quick.conv_reps, quick.reps, quick.warmup, quick.rounds, quick.images) == \
        (["det"], 1, 5, 2, 1, 4)
    full = resolve_options(False, "det,rec", None, 3, 0, 10, "1,2", 2, 0)
    assert full.rounds == 3  # never more rounds than reps: every round times every artifact
    assert full.warmup == 0 and full.images == 0 and full.threads == [1, 2]
    with pytest.raises(typer.BadParameter, match="det, rec"):
        resolve_options(False, "det,cls", None, None, None, None, "1", 2, None)


def test_split_list_accepts_commas_and_repeats():
    assert split_list(["960,1024", "1280"], int) == [960, 1024, 1280]
    assert split_list(" det , rec ") == ["det", "rec"]
    with pytest.raises(typer.BadParameter):
        split_list("1,two", int, "--threads")

"""OCR comparison metrics on hand-made lines (fast)."""
import numpy as np
import pytest

from ppocr_convert.parity.metric_table import METRICS, metric
from ppocr_convert.parity.metrics import (
    aggregate_lines,
    box_iou,
    compare_lines,
    edit_distance,
    match_boxes,
    tensor_stats,
)


def box(x, y, w=100, h=20):
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("正品促销", "正品促销") == 0


def test_iou_and_matching():
    assert box_iou(box(0, 0), box(0, 0)) == pytest.approx(1.0)
    assert box_iou(box(0, 0), box(50, 0)) == pytest.approx(1 / 3)
    # greedy one-to-one: the better overlap wins, a candidate is used once
    assert match_boxes([box(0, 0), box(0, 100)], [box(5, 0), box(0, 0)]) == [(0, 1, pytest.approx(1.0))]


def test_compare_lines_counts_text_and_boxes():
    ref = [{"box": box(0, 0), "text": "Hello world"}, {"box": box(0, 50), "text": "abc"}]
    cand = [{"box": box(2, 1), "text": "Helloworld"}, {"box": box(0, 50), "text": "abd"},
            {"box": box(0, 200), "text": "xx"}]
    r = compare_lines(ref, cand)
    assert r["matched"] == 2 and r["exact_lines"] == 1  # spaces are ignored
    assert r["det_recall"] == 1.0 and r["det_precision"] == pytest.approx(2 / 3)
    assert r["char_errors"] == 1 + 2  # one substitution + the extra line inserted
    assert r["cer"] == pytest.approx(3 / 13)
    agg = aggregate_lines([r, compare_lines(ref, ref)])
    assert agg["line_exact_match"] == pytest.approx(3 / 4)
    assert agg["text_agreement"] == 0.5


def test_no_lines_anywhere_is_perfect_agreement():
    r = compare_lines([], [])
    assert r["det_f1"] == 1.0 and r["line_exact_match"] == 1.0 and r["cer"] == 0.0


def test_tensor_stats():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    s = tensor_stats(a, a + np.array([0, 0, 0.5], np.float32))
    assert s["max_abs"] == pytest.approx(0.5) and s["median_abs"] == 0 and 0.99 < s["cosine"] < 1


@pytest.mark.parametrize("seed", [0, 1])
def test_paired_stats_line_by_line_equal_the_stats_of_all_lines_at_once(seed):
    """Rec logits are compared one line at a time (memory of one line); the figures must be
    those of the whole image's logits compared at once, and a changed line must show."""
    from ppocr_convert.parity.metrics import PairedStats, argmax_agreement
    rng = np.random.default_rng(seed)
    refs = [rng.standard_normal((1, t, 97)).astype(np.float32) for t in (40, 80, 160)]
    cands = [r + rng.normal(0, 1e-3, r.shape).astype(np.float32) for r in refs]
    cands[1][0, 5] = refs[1][0, 5][::-1]  # one step's class scores reversed: another argmax
    acc = PairedStats()
    for r, c in zip(refs, cands):
        acc.add(r, c)
    flat = [np.concatenate([x.reshape(-1, 97) for x in xs]) for xs in (refs, cands)]
    whole = tensor_stats(*flat)
    for k, v in acc.tensor_stats().items():
        assert v == pytest.approx(whole[k], rel=1e-6), k
    assert acc.argmax_agreement() == pytest.approx(argmax_agreement(*flat)) and acc.argmax_agreement() < 1.0
    same = PairedStats()
    for r in refs:
        same.add(r, r.copy())
    assert same.tensor_stats()["max_abs"] == 0.0 and same.tensor_stats()["cosine"] == pytest.approx(1.0)
    assert same.argmax_agreement() == 1.0
    with pytest.raises(ValueError):
        PairedStats().tensor_stats()


# ---------------------------------------------------------------- the metric table and the gate

def _stage_summary(**values):
    """A StageSummary at the ideal value of every metric, with `values` overriding some."""
    from ppocr_convert.parity.report_schema import GroundTruthSummary, LineAggregate, SameInputSummary, StageSummary
    si = SameInputSummary(det_max_abs=0.0, det_mean_abs=0.0, det_cosine_min=1.0, det_binary_agreement=1.0,
                          rec_max_abs=0.0, rec_argmax_agreement=1.0, lines=3, line_text_agreement=1.0)
    pl = LineAggregate(det_precision=1.0, det_recall=1.0, det_f1=1.0, line_exact_match=1.0, cer=0.0,
                       text_agreement=1.0, ref_lines=3, cand_lines=3)
    gt = GroundTruthSummary(gt_det_recall=1.0, gt_det_precision=1.0, gt_line_accuracy=1.0, gt_cer=0.0, gt_lines=3)
    for part in (si, pl, gt):
        for k, v in values.items():
            if hasattr(part, k):
                setattr(part, k, v)
    return StageSummary(si, pl, gt)


@pytest.mark.parametrize("m", METRICS, ids=lambda m: m.name)
def test_gate_and_html_agree_on_every_metric(m, tmp_path):
    """The gate fails exactly the values the page shows as out of the limit, with the limit's
    direction written the way the gate checks it."""
    from ppocr_convert.parity import report_view
    from ppocr_convert.parity.gate import check_tolerances
    limit = 0.5
    worse = limit - 0.25 if m.higher_is_better else limit + 0.25
    better = limit + 0.25 if m.higher_is_better else limit - 0.25
    tolerances = {m.view: {"onnx": {m.name: limit}}}
    for value, fails in ((worse, True), (limit, False), (better, False)):
        stages = {"onnx": _stage_summary(**{m.name: value})}
        failures = check_tolerances(tolerances, stages)
        assert bool(failures) == fails, (m.name, value)
        assert m.breaks(value, limit) == fails
    failure = check_tolerances(tolerances, {"onnx": _stage_summary(**{m.name: worse})})[0]
    assert (failure.view, failure.metric, failure.value, failure.limit) == (m.view, m.name, worse, limit)
    # the page's failure row states the limit in the gate's direction and format
    _, limit_text = report_view._failure_numbers(m.name, failure)
    assert limit_text == f"{'≥' if m.higher_is_better else '≤'} {m.fmt(limit)}"
    # and its colour bands run the same way: the good band is green, beyond warn is red
    if m.good is not None:
        assert m.grade(m.good) == "good"
        beyond = m.warn - 0.1 if m.higher_is_better else m.warn * 2 + 0.1
        assert m.grade(beyond) == "bad"
    if m.margin_vs_reference is not None:
        assert m.grade_against(better, limit) == "good" and m.grade_against(worse, limit) == "bad"
    # a summary column shows the same cell the gate judged: marked, with the same limit
    if m.view in ("same_input", "pipeline"):
        cell = report_view.summary_cell("onnx", _stage_summary(**{m.name: worse}).view(m.view), m,
                                        {("onnx", m.view, m.name): failure})
        assert cell.cls == "bad gate" and cell.note == f"✗ limit {limit_text}"


def test_unknown_metric_names_raise():
    from ppocr_convert.errors import ConfigError
    from ppocr_convert.parity.gate import check_tolerances
    with pytest.raises(ConfigError, match="unknown parity metric 'det_f2'") as e:
        metric("det_f2")
    assert "det_f1" in e.value.hint
    with pytest.raises(ConfigError, match="'cer' in view 'same_input'"):
        metric("cer", view="same_input")
    # a typo in configs/pipelines/*.toml fails the run instead of silently skipping the check,
    # even for a stage that was not measured
    with pytest.raises(ConfigError, match="line_exact_macth"):
        check_tolerances({"pipeline": {"tflite-fp16": {"line_exact_macth": 0.3}}}, {"onnx": _stage_summary()})
    with pytest.raises(ConfigError, match="unknown parity view 'pipline'"):
        check_tolerances({"pipline": {"onnx": {"det_f1": 0.5}}}, {"onnx": _stage_summary()})


def test_a_tolerance_typo_stops_parity_before_any_model_runs(tmp_path):
    import dataclasses

    from ppocr_convert.errors import ConfigError
    from ppocr_convert.parity.harness import StageModels, run_parity
    from ppocr_convert.parity.pipelines import load_pipeline
    pipe = dataclasses.replace(load_pipeline("PP-OCRv5_mobile"), tolerances={"same_input": {"onnx": {"cer": 0.1}}})
    missing = StageModels("paddle", tmp_path / "no-det", tmp_path / "no-rec")  # would fail if opened
    with pytest.raises(ConfigError, match="unknown parity metric 'cer' in view 'same_input'"):
        run_parity(pipe, [tmp_path / "a.jpg"], ["onnx"], tmp_path / "work",
                   stage_models={"paddle": missing, "onnx": missing})


def test_every_shipped_tolerance_names_a_known_metric():
    from ppocr_convert.parity.pipelines import load_pipeline, pipeline_names
    for name in pipeline_names():
        for view, stages in load_pipeline(name).tolerances.items():
            for limits in stages.values():
                for metric_name in limits:
                    assert metric(metric_name, view).view == view


def test_crashed_images_fail_every_stage():
    from ppocr_convert.parity.gate import crashed_images
    from ppocr_convert.parity.report_schema import SkippedImage
    skipped = [SkippedImage("a.png", "file is empty"), SkippedImage("b.png", "b.png: processing failed: boom")]
    [f] = crashed_images(skipped)
    assert (f.stage, f.metric, f.value, f.first) == ("all", "images_crashed", 1, "b.png: processing failed: boom")
    assert crashed_images(skipped[:1]) == []

"""The tflite-int8 stage's pure pieces: recipes, sensitivity ordering, the block search,
calibration preprocessing, the gate arithmetic and the fully-integer verdict."""
from __future__ import annotations

import re

import numpy as np
import pytest

from ppocr_convert.chain import sensitivity as sens
from ppocr_convert.chain.int8_stage import judge, text_scores
from ppocr_convert.chain.quantize import (OPTIONAL_REWRITES, Int8Quantizer, build_recipe, graph_rewrites, kept_ops,
                                         scope_regex)
from ppocr_convert.integer_check import OpTypes, judge_ops

pytestmark = pytest.mark.unit


def test_recipe_int8_everywhere_with_float_io():
    recipe = build_recipe()
    base = recipe[0]
    assert base["regex"] == ".*" and base["operation"] == "*"
    cfg = base["op_config"]
    assert cfg["weight_tensor_config"] == {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE",
                                           "dtype": "INT"}
    assert cfg["activation_tensor_config"]["num_bits"] == 8 and not cfg["activation_tensor_config"]["symmetric"]
    assert cfg["compute_precision"] == "INTEGER"
    # model input and output stay float32: the app feeds it like the fp32 artifact
    assert [(e["operation"], e["algorithm_key"]) for e in recipe[1:]] == [("INPUT", "no_quantize"),
                                                                          ("OUTPUT", "no_quantize")]
    assert kept_ops(recipe) == []


def test_recipe_overrides_name_one_op_each_and_come_after_the_default():
    scope = "model/tf.math.add_3/Add;model/conv(1)/x;"
    recipe = build_recipe([(scope, "int16"), ("other;", "float")])
    kept = kept_ops(recipe)
    assert kept == [{"regex": scope_regex(scope), "mode": "int16"}, {"regex": scope_regex("other;"), "mode": "float"}]
    assert re.search(kept[0]["regex"], scope) and not re.search(kept[0]["regex"], scope + "more;")
    int16 = recipe[1]["op_config"]["activation_tensor_config"]
    assert int16["num_bits"] == 16 and int16["symmetric"]  # TFLite's 16x8 kernels need symmetric
    assert recipe[2]["algorithm_key"] == "no_quantize"
    with pytest.raises(ValueError):
        build_recipe([("x;", "int4")])


def test_recipe_with_int16_activations_everywhere():
    recipe = build_recipe([("x;", "float")], activation_bits=16)
    act = recipe[0]["op_config"]["activation_tensor_config"]
    assert act["num_bits"] == 16 and act["symmetric"]                      # a16w8: TFLite's 16x8 kernels
    assert recipe[0]["op_config"]["weight_tensor_config"]["num_bits"] == 8
    assert kept_ops(recipe) == [{"regex": scope_regex("x;"), "mode": "float"}]
    with pytest.raises(ValueError):
        build_recipe(activation_bits=4)


def _op(i, name="CONV_2D", inputs=(), outputs=None):
    return sens.OpInfo(i, name, f"t{i};", tuple(inputs), outputs or (f"t{i}",))


def test_every_optional_rewrite_is_a_config_switch_and_unknown_names_are_refused():
    """`[int8] rewrite_<name>` reaches Int8Quantizer for each OPTIONAL_REWRITES name, in
    graph_rewrites' order; a misspelt name fails before any work instead of being ignored."""
    from ppocr_convert.chain.int8_stage import DEFAULTS
    from ppocr_convert.config_schema import Int8Options
    names = [name for name, _ in graph_rewrites()]
    assert set(OPTIONAL_REWRITES) == set(names) - {"minimum"}
    assert names.index("clip") < names.index("minimum")   # the clip needs the MINIMUM
    for name in OPTIONAL_REWRITES:
        assert DEFAULTS[f"rewrite_{name}"] is False and f"rewrite_{name}" in Int8Options.model_fields
    with pytest.raises(ValueError, match="unknown int8 rewrite"):
        Int8Quantizer(b"", [], rewrites=["hardswish"])


def test_every_stage_default_can_be_set_in_a_config_and_nothing_else_can():
    """DEFAULTS and the `[int8]` schema name the same options: a default the schema lacks
    could never be changed from a config, a schema field without a default would KeyError."""
    from ppocr_convert.chain.int8_stage import DEFAULTS
    from ppocr_convert.config_schema import Int8Options
    assert set(DEFAULTS) == set(Int8Options.model_fields)


def test_rank_ops_by_the_error_each_op_adds():
    ops = [_op(0, inputs=("x",)), _op(1, "HARD_SWISH", ("t0",)), _op(2, "MEAN", ("t1",)), _op(3, "ADD", ("t2", "t0"))]
    errors = {"t0": 0.01, "t1": 0.03, "t2": 0.50, "t3": 0.505}
    ranked = sens.rank_ops(ops, errors)
    assert [s.op.index for s in ranked] == [2, 1, 0, 3]
    assert ranked[0].added_error == pytest.approx(0.47)
    assert ranked[-1].added_error == pytest.approx(0.005)  # vs its worst input t2, not t0


def test_rank_ops_skips_ops_without_measured_outputs_and_keeps_graph_order_on_ties():
    ops = [_op(0, "RESHAPE", ("x",)), _op(1, "RESHAPE", ("t0",)), _op(2, "PAD", ("t1",))]
    ranked = sens.rank_ops(ops, {"t0": 0.0, "t1": 0.0})
    assert [s.op.index for s in ranked] == [0, 1]


def test_nmse():
    ref = np.array([0.0, 1.0, 2.0, 3.0])
    assert sens.nmse(ref, ref) == 0.0
    assert sens.nmse(ref, ref + 0.5) == pytest.approx(0.25 / ref.var())
    assert np.isnan(sens.nmse(ref, ref[:2]))


def _ranked(scores):
    """Ops 0..n-1; a weighted op opens a block every other op."""
    out = []
    for i, s in enumerate(scores):
        out.append(sens.OpSensitivity(_op(i, "CONV_2D" if i % 2 == 0 else "ADD"), s, s))
    return out


def test_blocks_group_a_weighted_op_with_the_ops_after_it_and_rank_them():
    blocks = sens.blocks(_ranked([0.1, 0.1, 0.0, 0.0, 0.9, -0.2]))
    assert [(b.index, [o.op.index for o in b.ops]) for b in blocks] == [(2, [4, 5]), (0, [0, 1]), (1, [2, 3])]
    assert blocks[0].score == pytest.approx(0.9)  # negative contributions do not cancel


def test_search_keeps_blocks_one_at_a_time_until_the_gate_passes_then_stops():
    blocks = sens.blocks(_ranked([0.3, 0.0, 0.9, 0.0, 0.5, 0.0, 0.0, 0.0]))
    tried = []

    def quantize(keep):
        tried.append(list(keep))
        return f"model-{len(keep)}".encode()

    def gate(model):  # passes once 4 ops (two blocks) are out of int8
        return model == b"model-4", {"line_accuracy": len(model)}

    result = sens.mixed_precision_search(blocks, quantize, gate, mode="float")
    assert result.passed and result.model == b"model-4"
    assert [b.index for b in result.blocks] == [1, 2]         # worst first: block of op 2, then op 4
    assert result.kept == [("t2;", "float"), ("t3;", "float"), ("t4;", "float"), ("t5;", "float")]
    assert [s.passed for s in result.steps] == [False, False, True]
    assert len(tried) == 3  # all-int8, +1 block, +2 blocks: nothing after the pass


def test_search_that_never_passes_stops_at_the_budget_and_says_so():
    blocks = sens.blocks(_ranked([0.3, 0.0, 0.9, 0.0, 0.5, 0.0, 0.0, 0.0]))
    result = sens.mixed_precision_search(blocks, lambda keep: b"m", lambda m: (False, {}), max_kept=2)
    assert not result.passed and len(result.steps) == 3 and len(result.steps[-1].kept) == 4
    # no step scored better than all-int8: that is what it returns (ties keep fewer ops out)
    assert result.chosen == 0 and result.blocks == [] and result.kept == []
    # a block adding no error is never a candidate
    none = sens.mixed_precision_search(sens.blocks(_ranked([0.0, 0.0])), lambda k: b"m", lambda m: (False, {}))
    assert none.blocks == [] and len(none.steps) == 1


def test_search_that_never_passes_returns_its_best_step_not_its_last():
    blocks = sens.blocks(_ranked([0.3, 0.0, 0.9, 0.0, 0.5, 0.0, 0.7, 0.0]))
    # all-int8, then +1, +2, +3, +4 blocks: not monotonic, best after the first block
    figures = {0: (0.50, 0.10), 2: (0.80, 0.03), 4: (0.60, 0.05), 6: (0.70, 0.04), 8: (0.75, 0.02)}

    def gate(model):
        acc, cer = figures[int(model.decode().split("-")[1])]
        return False, {"line_accuracy": acc, "cer": cer}

    result = sens.mixed_precision_search(blocks, lambda keep: f"model-{len(keep)}".encode(), gate, max_kept=4)
    assert not result.passed and len(result.steps) == 5          # every step tried and recorded
    assert result.model == b"model-2" and result.chosen == 1
    assert result.kept == [("t2;", "float"), ("t3;", "float")]
    assert [b.index for b in result.blocks] == [1]
    assert result.figures["line_accuracy"] == 0.80


def test_search_step_rank_prefers_a_pass_then_accuracy_then_cer_then_fewer_kept_ops():
    r = sens.step_rank
    assert r(True, {"line_accuracy": 0.5}, 9) > r(False, {"line_accuracy": 0.9}, 0)
    assert r(False, {"line_accuracy": 0.8, "cer": 0.05}, 4) > r(False, {"line_accuracy": 0.7, "cer": 0.01}, 0)
    assert r(False, {"line_accuracy": 0.8, "cer": 0.02}, 4) > r(False, {"line_accuracy": 0.8, "cer": 0.03}, 0)
    assert r(False, {"line_accuracy": 0.8, "cer": 0.02}, 2) > r(False, {"line_accuracy": 0.8, "cer": 0.02}, 4)
    assert r(False, {"argmax_agreement": 0.99}, 0) > r(False, {"argmax_agreement": 0.98}, 0)  # cls gate
    # the search ties go to the earlier step (fewer ops out of int8)
    blocks = sens.blocks(_ranked([0.3, 0.0, 0.9, 0.0]))
    same = sens.mixed_precision_search(blocks, lambda k: f"m{len(k)}".encode(),
                                       lambda m: (False, {"line_accuracy": 0.5}))
    assert same.chosen == 0 and same.kept == [] and same.blocks == []


def test_gate_arithmetic():
    s = text_scores(["abc", "xyz", ""], ["abc", "xy", "q"])
    assert s["line_accuracy"] == pytest.approx(1 / 3)
    assert s["cer"] == pytest.approx(2 / 6)
    fp32 = {"line_accuracy": 0.85, "cer": 0.02}
    limits = {"max_accuracy_drop": 0.01, "max_cer_rise": 0.005}
    assert judge({"line_accuracy": 0.84, "cer": 0.025}, fp32, limits) == []
    (acc,) = judge({"line_accuracy": 0.839, "cer": 0.02}, fp32, limits)
    assert acc["metric"] == "line_accuracy" and acc["value"] == 0.839 and acc["limit"] == pytest.approx(0.84)
    assert [m["metric"] for m in judge({"line_accuracy": 0.86, "cer": 0.026}, fp32, limits)] == ["cer"]
    assert [m["metric"] for m in judge({"line_accuracy": 0.5, "cer": 0.5}, fp32, limits)] == ["line_accuracy", "cer"]


def test_judged_gate_scores_fp32_once_and_says_no_to_a_worse_candidate():
    from ppocr_convert.chain.int8_stage import judged_gate
    figures = {b"fp32": {"line_accuracy": 0.85, "cer": 0.02}, b"same": {"line_accuracy": 0.85, "cer": 0.02},
               b"worse": {"line_accuracy": 0.80, "cer": 0.02}}
    scored = []

    def score(model: bytes) -> dict:
        scored.append(model)
        return figures[model]

    gate = judged_gate(score, b"fp32", {"max_accuracy_drop": 0.01, "max_cer_rise": 0.005})
    passed, same = gate(b"same")
    assert passed and same["missed"] == [] and same["fp32"] == figures[b"fp32"]
    passed, worse = gate(b"worse")
    assert not passed and [m["metric"] for m in worse["missed"]] == ["line_accuracy"]
    assert scored == [b"fp32", b"same", b"worse"]


def test_rec_calibration_samples_use_recs_own_normalisation_and_the_deployed_bucket():
    from ppocr_convert.chain import calibration as cal
    from ppocr_convert.config import load_model_config
    config = load_model_config("PP-OCRv5_mobile_rec")
    white = np.full((48, 100, 3), 255, np.uint8)      # needs 100 px: bucket 320
    black_long = np.zeros((48, 900, 3), np.uint8)     # needs 900 px: bucket 1280
    widths = [320, 640, 1280]
    assert cal.route(white, 48, widths) == 320 and cal.route(black_long, 48, widths) == 1280
    x = cal.rec_tensor(white, config, 320)
    assert x.shape == (1, 48, 320, 3) and x.dtype == np.float32        # NHWC, as the TFLite takes it
    assert np.allclose(x[0, :, :100], 1.0)      # (255/255 - 0.5) / 0.5, not ImageNet's
    assert np.allclose(x[0, :, 100:], 0.0)      # right-padded with zeros after normalisation
    assert np.allclose(cal.rec_tensor(black_long, config, 1280)[0, :, :900], -1.0)
    # a bucket's own lines first, then others fill its share
    samples = cal.rec_samples([white, black_long], config, 1280, widths, n=2)
    assert [s.shape for s in samples] == [(1, 48, 1280, 3)] * 2 and np.allclose(samples[0][0, :, :900], -1.0)
    assert cal.samples_digest(samples) == cal.samples_digest([s.copy() for s in samples])
    assert cal.samples_digest(samples) != cal.samples_digest(samples[:1])


def _lines(*widths: int) -> list[tuple[np.ndarray, str]]:
    """Gate lines 48 px high, `w` px wide each, labelled by their width."""
    return [(np.zeros((48, w, 3), np.uint8), f"w{w}") for w in widths]


def test_wide_bucket_gate_draws_its_own_lines_from_further_pages_before_padded_narrower_ones():
    from ppocr_convert.chain import calibration as cal
    widths = [320, 640, 1280]
    # page 0 has one w1280 line and three narrow ones; pages 1-3 one w1280 line each
    page_lines = [_lines(900, 100, 100, 600)] + [_lines(100, 1000)] * 3
    got = cal.bucket_gate_lines(page_lines, 48, 1280, widths, base_pages=1, n=3)
    # three lines of its own (pages 0-2), none padded, page 3 not needed
    assert [t for _, t in got.lines] == ["w900", "w1000", "w1000"] and got.own == 3 and got.pages == 3
    # the counter-example: limited to the base page, narrower lines padded to w1280 fill its share
    old = cal.bucket_gate_lines(page_lines[:1], 48, 1280, widths, base_pages=1, n=3)
    assert [t for _, t in old.lines] == ["w900", "w100", "w100"] and old.own == 1 and old.pages == 1
    # when every page is used up, the fill comes after all the bucket's own lines
    short = cal.bucket_gate_lines(page_lines, 48, 1280, widths, base_pages=1, n=6)
    assert [t for _, t in short.lines][:4] == ["w900", "w1000", "w1000", "w1000"] and short.own == 4
    assert len(short.lines) == 6 and short.pages == 4


def test_a_bucket_with_enough_lines_of_its_own_keeps_every_line_of_the_base_pages_and_no_more():
    from ppocr_convert.chain import calibration as cal
    page_lines = [_lines(100, 200, 900)] * 3 + [_lines(100)] * 5
    got = cal.bucket_gate_lines(page_lines, 48, 320, [320, 640, 1280], base_pages=3, n=2)
    # 6 own lines on the 3 base pages: all judged (as with the 12 pages alone), no page after
    assert got.own == 6 and len(got.lines) == 6 and got.pages == 3


def test_det_calibration_samples_are_letterboxed_bgr_with_imagenet_normalisation(tmp_path):
    import cv2

    from ppocr_convert.chain import calibration as cal
    from ppocr_convert.config import load_model_config
    config = load_model_config("PP-OCRv5_mobile_det")
    img = np.zeros((200, 400, 3), np.uint8)
    img[:, :, 0] = 255  # blue in BGR
    cv2.imwrite(str(tmp_path / "a.png"), img)
    (x,) = cal.det_samples(config, [tmp_path / "a.png"])
    assert x.shape == (1, 1024, 1024, 3)
    # channel 0 is B (BGR, as PaddleOCR feeds), normalised with ImageNet's first mean/std
    assert x[0, 10, 10, 0] == pytest.approx((1.0 - 0.485) / 0.229, rel=1e-4)
    assert x[0, 10, 10, 1] == pytest.approx((0.0 - 0.456) / 0.224, rel=1e-4)
    # letterbox: no upscaling, black padding below and right of the 200x400 image
    assert x[0, 500, 10, 0] == pytest.approx((0.0 - 0.485) / 0.229, rel=1e-4)


def test_fully_integer_verdict():
    q = OpTypes("QUANTIZE", ("FLOAT32",), ("INT8",))
    conv = OpTypes("CONV_2D", ("INT8",), ("INT8",), weight="INT8")
    fc = OpTypes("FULLY_CONNECTED", ("INT8",), ("INT8",), weight="INT8")
    dq = OpTypes("DEQUANTIZE", ("INT8",), ("FLOAT32",))
    yes = judge_ops([q, conv, fc, dq])
    assert yes.fully_integer and yes.float_ops == {} and yes.int8_weight_share == 1.0
    assert yes.verdict() == "fully integer"
    # counter-example: an op left in float between a DEQUANTIZE and a QUANTIZE
    mid_dq = OpTypes("DEQUANTIZE", ("INT8",), ("FLOAT32",))
    minimum = OpTypes("MINIMUM", ("FLOAT32",), ("FLOAT32",))
    mid_q = OpTypes("QUANTIZE", ("FLOAT32",), ("INT8",))
    float_conv = OpTypes("CONV_2D", ("FLOAT32",), ("FLOAT32",), weight="FLOAT32")
    no = judge_ops([q, conv, mid_dq, minimum, float_conv, mid_q, fc, dq])
    assert not no.fully_integer
    assert no.float_ops == {"MINIMUM": 1, "CONV_2D": 1}
    assert no.int8_weight_share == pytest.approx(2 / 3)
    assert no.verdict().startswith("not fully integer: float")
    assert yes.int16_activation_ops == no.int16_activation_ops == 0
    # a16w8: integer, and the 16-bit activations are counted (inspect's CPU note)
    q16 = OpTypes("QUANTIZE", ("FLOAT32",), ("INT16",))
    conv16 = OpTypes("CONV_2D", ("INT16",), ("INT16",), weight="INT8")
    dq16 = OpTypes("DEQUANTIZE", ("INT16",), ("FLOAT32",))
    a16 = judge_ops([q16, conv16, dq16])
    assert a16.fully_integer and a16.int16_activation_ops == 3
    assert a16.to_dict()["int16_activation_ops"] == 3
    # a Flex op is never integer
    assert not judge_ops([q, OpTypes("FlexErf", ("INT8",), ("INT8",), custom=True), dq]).fully_integer


def test_report_int8_rows_from_manifest_entries():
    from ppocr_convert.parity.int8_view import build_int8, int8_summary
    entry = {"width": 320, "gate": {"passed": False, "line_accuracy": 0.8, "cer": 0.05, "lines": 100,
                                    "fp32": {"line_accuracy": 0.88, "cer": 0.02}},
             "kept_blocks": [{"name": "#12 CONV_2D (+3 ops)"}], "kept_ops": [{"regex": "^a;$", "mode": "float"}] * 4,
             "integer": {"fully_integer": False, "float_ops": {"CONV_2D": 1}, "int8_weight_share": 0.9},
             "calibration": {"digest": "abcd"}, "recipe": [{"regex": ".*"}],
             "sensitivity": {"blocks": [{"name": "#12 CONV_2D (+3 ops)", "score": 0.5,
                                         "worst_op": {"op": "CONV_2D", "index": 12}}]}}
    summary = int8_summary([entry, {**entry, "width": 640}])
    assert "recipe" not in summary[0] and summary[0]["kept_ops"] == 4
    rows = build_int8({"int8": {"rec": summary}})
    assert [r.file for r in rows] == ["w320", "w640"] and rows[0].passed is False
    assert "80.0 %" in rows[0].gate and "fp32 88.0 %" in rows[0].gate
    assert rows[0].kept.startswith("1 block(s), 4 ops") and "CONV_2D x1" in rows[0].integer
    assert rows[0].ranking == [("#12 CONV_2D (+3 ops)", "0.5", "CONV_2D #12")]
    assert "own width" not in rows[0].gate  # manifests from before the rec gate counted them
    wide = {**entry, "gate": {**entry["gate"], "lines": 60, "own_lines": 57, "pages": 96}}
    (row,) = build_int8({"int8": {"rec": int8_summary([wide])}})
    assert "on 60 lines (57 of its own width, from 96 gate pages)" in row.gate
    assert build_int8({}) == []
    # the classifier's gate counts crops (each line upright and turned 180°); older manifests lines
    cls = [{"width": 192, "gate": {"passed": True, "argmax_agreement": 0.994, **count}} for count in
           ({"crops": 350}, {"lines": 175})]
    assert [r.gate for r in build_int8({"int8": {"cls": cls}})] == ["argmax agreement 99.4 % on 350 crops",
                                                                    "argmax agreement 99.4 % on 175 lines"]


def test_report_int8_rows_say_whose_photos_and_pages_calibrated_and_gated():
    from ppocr_convert.parity.int8_view import build_int8, calibration_sources, int8_summary
    packaged = {"digest": "abcd", "images": 31, "sources": {"user_images": 0},
                "inputs": {"gate_source": {"rendered_pages": {"seed": 2, "n": 12}}}}
    yours = {"digest": "ef01", "images": 50, "sources": {"user_images": 19},
             "inputs": {"gate_source": {"user_pages": 8}}}
    assert calibration_sources(packaged) == "31 images; gate on 12 rendered pages (seed 2)"
    assert calibration_sources(yours) == "50 images (19 yours, first); gate on your 8 labelled pages"
    assert calibration_sources({"digest": "abcd"}) == ""   # manifests from before the sources were kept
    rows = build_int8({"int8": {"det": int8_summary([{"width": 1024, "gate": {"passed": True}, "calibration": c}
                                                     for c in (packaged, yours)])}})
    assert [r.sources for r in rows] == [calibration_sources(packaged), calibration_sources(yours)]
    assert [r.calibration for r in rows] == ["abcd", "ef01"]


def _entry(width: int, passed: bool, missed: list[tuple[str, float, float]] = (), **figures) -> dict:
    return {"width": width, "gate": {"passed": passed, **figures,
                                     "missed": [{"metric": m, "value": v, "limit": lim} for m, v, lim in missed]}}


def test_int8_gate_failures_say_no_for_each_missed_figure_of_each_file():
    from ppocr_convert.parity.gate import INT8_GATE_VIEW, int8_gate_failures
    entries = [_entry(320, True, line_accuracy=0.94),
               # det's best step, shipped though no step passed (README, INT8): 93.1 vs 93.7 %
               _entry(1024, False, [("line_accuracy", 0.931, 0.932), ("cer", 0.025, 0.014)], line_accuracy=0.931)]
    fails = int8_gate_failures(entries)
    assert [(f.stage, f.view, f.metric, f.first) for f in fails] == [
        ("tflite-int8", INT8_GATE_VIEW, "line_accuracy", "w1024"), ("tflite-int8", INT8_GATE_VIEW, "cer", "w1024")]
    assert fails[0].value == 0.931 and fails[0].limit == pytest.approx(0.932)
    assert fails[1].limit == pytest.approx(0.014)
    # the rows are the stage's own verdict: the limits are not re-derived here
    (cls,) = int8_gate_failures([_entry(192, False, [("argmax_agreement", 0.97, 0.99)])])
    assert (cls.metric, cls.value, cls.limit) == ("argmax_agreement", 0.97, 0.99)
    # a gate that said no with no figure named still refuses
    assert [f.metric for f in int8_gate_failures([{"gate": {"passed": False}}])] == ["passed"]
    assert int8_gate_failures([e for e in entries if e["gate"]["passed"]]) == []


def test_release_rows_for_int8_gate_failures_only_when_int8_is_released():
    from types import SimpleNamespace

    from ppocr_convert.release import int8_failures
    conv = SimpleNamespace(manifests={"tflite-int8": {"int8": [_entry(640, False, [("line_accuracy", 0.5, 0.69)],
                                                                      line_accuracy=0.5)]}})
    rows = int8_failures({"PP-OCRv5_mobile_rec": conv}, ["tflite-fp32", "tflite-int8"])
    assert [(r["pipeline"], r["stage"], r["metric"]) for r in rows] == [
        ("PP-OCRv5_mobile_rec w640", "tflite-int8", "line_accuracy")]
    assert int8_failures({"PP-OCRv5_mobile_rec": conv}, ["tflite-fp32"]) == []

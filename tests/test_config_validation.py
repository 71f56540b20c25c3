"""Config validation: every shipped config passes; a broken one fails at load time with
ONE ConfigError naming each problem's file and key path (and at the CLI, one clean
message and exit 2, no traceback)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ppocr_convert.config import check_configs, load_model_config, load_pipeline_file, model_names
from ppocr_convert.config_schema import PIPELINE_METRICS
from ppocr_convert.errors import ConfigError

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
PIPELINES = sorted(p.stem for p in (CONFIGS / "pipelines").glob("*.toml"))


def broken_copy(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """A copy of configs/ with `old` replaced by `new` in each named file."""
    root = tmp_path / "configs"
    shutil.copytree(CONFIGS, root)
    for name, (old, new) in edits.items():
        path = root / name
        text = path.read_text()
        assert old in text, f"{name} no longer contains {old!r}: update this test"
        path.write_text(text.replace(old, new, 1))
    return root


def problems_of(load) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load()
    e = info.value
    assert e.hint and "\n" not in str(e)
    assert str(e) == "; ".join(e.problems)
    return e.problems


# ---- what ships validates ------------------------------------------------------------------

def test_every_shipped_config_validates():
    check_configs(CONFIGS)  # raises one ConfigError listing everything otherwise


@pytest.mark.parametrize("name", model_names(CONFIGS))
def test_every_shipped_model_config_loads(name):
    config = load_model_config(name, CONFIGS)
    assert config.name == name and config.preprocess and config.tolerances


@pytest.mark.parametrize("name", PIPELINES)
def test_every_shipped_pipeline_config_loads(name):
    data = load_pipeline_file(name, CONFIGS)
    assert data["name"] == name and set(data["tolerances"]) <= set(PIPELINE_METRICS)


# ---- counter-examples ----------------------------------------------------------------------

def test_typo_in_a_key_names_file_key_and_the_likely_key(tmp_path):
    root = broken_copy(tmp_path, {"PP-OCRv6_small_det.toml": ("[postprocess]", "[postproces]")})
    assert problems_of(lambda: load_model_config("PP-OCRv6_small_det", root)) == [
        "PP-OCRv6_small_det.toml: postproces: unknown key (did you mean 'postprocess'?)"]


def test_typo_in_a_nested_key(tmp_path):
    root = broken_copy(tmp_path, {"PP-OCRv6_small_det.toml": ("box_thresh = 0.45", "box_thres = 0.45")})
    assert problems_of(lambda: load_model_config("PP-OCRv6_small_det", root)) == [
        "PP-OCRv6_small_det.toml: postprocess.box_thres: unknown key (did you mean 'box_thresh'?)"]


def test_a_problem_in_the_defaults_names_the_defaults_file(tmp_path):
    root = broken_copy(tmp_path, {"defaults/det.toml": ("limit_type = \"max\"", "limit_type = \"maximum\"")})
    (problem,) = problems_of(lambda: load_model_config("PP-OCRv5_mobile_det", root))
    assert problem.startswith("defaults/det.toml: preprocess.limit_type: input should be 'max', 'min' or")
    assert problem.endswith("(got 'maximum')")


def test_tolerance_naming_an_unknown_stage(tmp_path):
    root = broken_copy(tmp_path, {"PP-OCRv6_tiny_det.toml": ('"tflite-fp16" = {', '"tflite_fp16" = {')})
    assert problems_of(lambda: load_model_config("PP-OCRv6_tiny_det", root)) == [
        "PP-OCRv6_tiny_det.toml: tolerances.tflite_fp16: unknown stage (did you mean 'tflite-fp16'?); "
        "stages here: onnx-raw, onnx, tflite-fp32, tflite-fp16, tflite-int8"]


def test_tolerance_naming_an_unknown_metric(tmp_path):
    root = broken_copy(tmp_path, {"defaults/rec.toml": ('"onnx" = { max_abs', '"onnx" = { max_ab')})
    assert problems_of(lambda: load_model_config("PP-OCRv5_mobile_rec", root)) == [
        "defaults/rec.toml: tolerances.onnx.max_ab: unknown metric (did you mean 'max_abs'?); "
        "metrics here: max_abs, mean_abs, argmax_agreement"]


def test_tolerance_on_a_metric_the_task_never_measures(tmp_path):
    # a det model has no argmax: this limit would never be checked
    root = broken_copy(tmp_path, {"PP-OCRv6_tiny_det.toml": ('"tflite-fp16" = { binary_agreement',
                                                             '"tflite-fp16" = { argmax_agreement')})
    (problem,) = problems_of(lambda: load_model_config("PP-OCRv6_tiny_det", root))
    assert problem.startswith("PP-OCRv6_tiny_det.toml: tolerances.tflite-fp16.argmax_agreement: unknown metric")


def test_wrong_type(tmp_path):
    root = broken_copy(tmp_path, {"PP-OCRv4_mobile_rec.toml": ("num_classes = 6625", 'num_classes = "6625"')})
    assert problems_of(lambda: load_model_config("PP-OCRv4_mobile_rec", root)) == [
        "PP-OCRv4_mobile_rec.toml: num_classes: input should be a valid integer (got '6625')"]


def test_out_of_range_and_unknown_pass(tmp_path):
    root = broken_copy(tmp_path, {"PP-OCRv6_tiny_rec.toml": ("widths = [320, 512", "widths = [0, 512"),
                                  "PP-OCRv6_small_rec.toml": ('"attention_split_heads", "cleanup"',
                                                              '"attention_split_head", "cleanup"')})
    assert problems_of(lambda: load_model_config("PP-OCRv6_tiny_rec", root)) == [
        "PP-OCRv6_tiny_rec.toml: widths[0]: input should be greater than 0 (got 0)"]
    assert problems_of(lambda: load_model_config("PP-OCRv6_small_rec", root)) == [
        "PP-OCRv6_small_rec.toml: passes[7]: unknown pass 'attention_split_head' "
        "(did you mean 'attention_split_heads'?)"]


def test_two_problems_are_both_listed(tmp_path):
    root = broken_copy(tmp_path, {"PP-OCRv6_tiny_det.toml": ("unclip_ratio = 1.4",
                                                             "unclip_ratio = \"1.4\"\ncolour = 1"),
                                  "defaults/det.toml": ("resize_mode", "resize_mod")})
    assert problems_of(lambda: load_model_config("PP-OCRv6_tiny_det", root)) == [
        "defaults/det.toml: preprocess.resize_mod: unknown key (did you mean 'resize_mode'?)",
        "PP-OCRv6_tiny_det.toml: postprocess.unclip_ratio: input should be a valid number (got '1.4')",
        "PP-OCRv6_tiny_det.toml: postprocess.colour: unknown key; keys here: thresh, box_thresh, unclip_ratio, "
        "max_candidates, score_mode, use_dilation"]


def test_sources_and_name_are_checked(tmp_path):
    root = broken_copy(tmp_path, {"PP-OCRv4_mobile_det.toml": ('name = "PP-OCRv4_mobile_det"',
                                                               'name = "PP-OCRv4_det"'),
                                  "PP-OCRv6_tiny_rec.toml": ('"rec.onnx" = "9ef6', '"rec.onnx" = "XXef6')})
    assert problems_of(lambda: load_model_config("PP-OCRv4_mobile_det", root)) == [
        "PP-OCRv4_mobile_det.toml: name: 'PP-OCRv4_det' differs from the file name 'PP-OCRv4_mobile_det'"]
    (problem,) = problems_of(lambda: load_model_config("PP-OCRv6_tiny_rec", root))
    assert problem.startswith("PP-OCRv6_tiny_rec.toml: sources[0].sha256.\"rec.onnx\": sha256 'XXef6")


def test_pipeline_config_problems(tmp_path):
    root = broken_copy(tmp_path, {"pipelines/PP-OCRv6_tiny.toml": ('det = "PP-OCRv6_tiny_det"',
                                                                   'det = "PP-OCRv6_tiny_rec"')})
    text = (root / "pipelines" / "PP-OCRv6_tiny.toml").read_text()
    text = text.replace("[tolerances.pipeline]", "[tolerances.pipelin]").replace(
        '"onnx" = { line_text_agreement', '"onnx" = { line_text_agreemnt')
    (root / "pipelines" / "PP-OCRv6_tiny.toml").write_text(text)
    problems = problems_of(lambda: load_pipeline_file("PP-OCRv6_tiny", root))
    assert problems == [
        "pipelines/PP-OCRv6_tiny.toml: tolerances.same_input.onnx.line_text_agreemnt: unknown metric "
        "(did you mean 'line_text_agreement'?); metrics here: " + ", ".join(PIPELINE_METRICS["same_input"]),
        "pipelines/PP-OCRv6_tiny.toml: tolerances.pipelin: unknown view (did you mean 'pipeline'?); "
        "views here: same_input, pipeline, ground_truth",
        "pipelines/PP-OCRv6_tiny.toml: det: 'PP-OCRv6_tiny_rec' is a rec model, not a det model"]
    # check_configs reports the same, with every other file's problems (none here)
    assert problems_of(lambda: check_configs(root)) == problems


def test_pipeline_metrics_are_the_metric_tables():
    """The tolerance metric names are the parity metric table's (the one the gate and the
    report read): a metric renamed there must be renamed here, or limits on it would never
    be checked."""
    from ppocr_convert.parity.metric_table import VIEWS, metrics_of
    assert set(PIPELINE_METRICS) == set(VIEWS)
    for view in VIEWS:
        assert set(PIPELINE_METRICS[view]) == {m.name for m in metrics_of(view)}, view


# ---- the CLI -----------------------------------------------------------------------------------

def test_cli_reports_a_broken_config_in_one_message(tmp_path):
    root = broken_copy(tmp_path, {"defaults/det.toml": ("[preprocess]", "[preproces]")})
    cli = Path(sys.executable).with_name("ppocr-convert")
    env = {**os.environ, "PPOCR_CONVERT_CONFIGS": str(root), "PPOCR_CONVERT_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": str(REPO), "COLUMNS": "300"}  # this checkout's package, not an installed one
    r = subprocess.run([str(cli), "PP-OCRv5_mobile_det", "--out", str(tmp_path / "dist")], env=env,
                       capture_output=True, text=True, timeout=120)
    output = r.stdout + r.stderr
    assert r.returncode == 2, output
    assert "defaults/det.toml: preproces: unknown key (did you mean 'preprocess'?)" in output
    assert "hint:" in output and "Traceback" not in output
    assert not (tmp_path / "dist").exists()


def test_cli_list_reports_a_broken_config_without_a_traceback(tmp_path):
    root = broken_copy(tmp_path, {"PP-OCRv5_mobile_rec.toml": ("extends = ", "extend = ")})
    cli = Path(sys.executable).with_name("ppocr-convert")
    env = {**os.environ, "PPOCR_CONVERT_CONFIGS": str(root), "PYTHONPATH": str(REPO), "COLUMNS": "300"}
    r = subprocess.run([str(cli), "list"], env=env, capture_output=True, text=True, timeout=120)
    output = r.stdout + r.stderr
    assert r.returncode == 2, output
    assert "extend: unknown key" in output and "Traceback" not in output


def test_int8_activation_range_options_are_bounded(tmp_path):
    root = broken_copy(tmp_path, {"defaults/det.toml": ("activation_percentile = 99.99", "activation_percentile = 40"),
                                  "defaults/rec.toml": ("activation_range_margin = 2.0",
                                                        "activation_range_margin = 0.5")})
    det = problems_of(lambda: load_model_config("PP-OCRv5_mobile_det", root))
    rec = problems_of(lambda: load_model_config("PP-OCRv5_mobile_rec", root))
    assert len(det) == 1 and "int8.activation_percentile" in det[0] and "greater than 50" in det[0], det
    assert len(rec) == 1 and "int8.activation_range_margin" in rec[0] and "greater than or equal to 1" in rec[0], rec


def test_int8_gate_pages_cannot_drop_below_the_twelve_every_gate_starts_from(tmp_path):
    root = broken_copy(tmp_path, {"PP-OCRv6_small_rec.toml": ("gate_pages = 96", "gate_pages = 4")})
    problems = problems_of(lambda: load_model_config("PP-OCRv6_small_rec", root))
    assert len(problems) == 1 and "int8.gate_pages" in problems[0] and "greater than or equal to 12" in problems[0]
    assert load_model_config("PP-OCRv6_small_rec").raw["int8"]["gate_pages"] == 96  # what ships loads

"""Issue: static shapes without losing text. On the project's labelled set, the default
deployable artifacts, fed as their manifests declare, read at least as well as the
dynamic-shape Paddle reference (slow: 40 rendered pages, one parity run)."""
from __future__ import annotations

import json

import pytest

from conftest import FIGURES, render_labelled_pages
from ppocr_convert.ocr.image_io import list_images
from ppocr_convert.model_params import det_params, rec_params
from ppocr_convert.parity.harness import build_stage_models, run_parity
from ppocr_convert.parity.labels import load_labels
from ppocr_convert.parity.pipelines import load_pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evalset(tmp_path_factory):
    return render_labelled_pages(tmp_path_factory.mktemp("evalset") / "set", 40).parent


def _fp16_on_evalset(pipeline, evalset, tmp_path_factory, session_cache, with_strategies=True):
    pipe = load_pipeline(pipeline)
    work = tmp_path_factory.mktemp(f"evalset-parity-{pipeline}")
    models, _ = build_stage_models(pipe, ["tflite-fp16"], work, session_cache, lambda s, m: None)
    # two workers: the same per-image results as one (test_parity_scale.py) in half the wall
    # time on CI's two cores; these two runs were half of `make test`
    run = run_parity(pipe, list_images(evalset), ["tflite-fp16"], work, stage_models=models,
                     labels=load_labels(evalset / "labels.json"), with_strategies=with_strategies, workers=2)
    report = run.report
    FIGURES[f"evalset {pipeline} (ground truth)"] = {
        "paddle dynamic": report["reference"]["ground_truth"],
        "tflite-fp16 deployed": report["stages"]["tflite-fp16"]["ground_truth"],
        **{name: s.get("ground_truth") for name, s in report["strategies"].items()},
    }
    return report


@pytest.fixture(scope="module")
def fp16_on_evalset(evalset, tmp_path_factory, session_cache):
    return _fp16_on_evalset("PP-OCRv5_mobile", evalset, tmp_path_factory, session_cache)


@pytest.fixture(scope="module")
def v6_small_fp16_on_evalset(evalset, tmp_path_factory, session_cache):
    # its test compares the deployed fp16 with its reference and v5 only: the three static-shape
    # strategies (three more Paddle pipeline runs a page) are v5's test's business
    return _fp16_on_evalset("PP-OCRv6_small", evalset, tmp_path_factory, session_cache, with_strategies=False)


def test_fp16_static_recipe_reads_as_well_as_the_dynamic_reference(fp16_on_evalset):
    ref = fp16_on_evalset["reference"]["ground_truth"]
    fp16 = fp16_on_evalset["stages"]["tflite-fp16"]["ground_truth"]
    assert ref["gt_lines"] > 400
    assert fp16["gt_line_accuracy"] >= ref["gt_line_accuracy"], (fp16, ref)
    assert fp16["gt_cer"] <= ref["gt_cer"], (fp16, ref)


def test_v6_small_deployed_reads_as_well_as_its_reference_and_better_than_v5(v6_small_fp16_on_evalset,
                                                                            fp16_on_evalset):
    """PP-OCRv6 small through the same recipe (1024 letterbox + rec 320/640/1280): at least its
    own dynamic reference, and above PP-OCRv5 mobile's deployed fp16 on the same pages."""
    ref = v6_small_fp16_on_evalset["reference"]["ground_truth"]
    fp16 = v6_small_fp16_on_evalset["stages"]["tflite-fp16"]["ground_truth"]
    v5 = fp16_on_evalset["stages"]["tflite-fp16"]["ground_truth"]
    assert fp16["gt_line_accuracy"] >= ref["gt_line_accuracy"], (fp16, ref)
    assert fp16["gt_line_accuracy"] > v5["gt_line_accuracy"], (fp16, v5)


def test_plain_recipe_is_reported_and_worse(fp16_on_evalset):
    strategies = fp16_on_evalset["strategies"]
    plain = strategies["plain: 640x640 stretch + rec 320"]["ground_truth"]
    deployed = next(s for n, s in strategies.items() if n.startswith("deployed:"))["ground_truth"]
    assert plain["gt_line_accuracy"] + 0.05 < deployed["gt_line_accuracy"]


def test_manifests_declare_the_recipe_the_harness_used(converted):
    """An app team reproduces the feed from manifest.json alone: check it says what the
    harness did (det canvas/resize/pad/upscale/normalisation, rec height and widths)."""
    det = converted("PP-OCRv5_mobile_det")["manifests"]["tflite-fp16"]["deploy"]
    rec = converted("PP-OCRv5_mobile_rec")["manifests"]["tflite-fp16"]["deploy"]
    pipe = load_pipeline("PP-OCRv5_mobile")
    dp = det_params(pipe.det_config, static_hw=tuple(pipe.det_config.shape[2:]))
    assert det["input_layout"] == "NHWC" and det["channel_order"] == "BGR"
    assert det["resize"] == dp.resize_mode == "letterbox"
    assert tuple(det["canvas_hw"]) == dp.static_hw
    assert det["pad_value"] == dp.pad_value and det["upscale_small_images"] == dp.upscale
    assert det["normalize"]["mean"] == list(dp.mean) and det["normalize"]["std"] == list(dp.std)
    rp = rec_params(pipe.rec_config)
    widths = json.loads(json.dumps(pipe.rec_config.raw["widths"]))
    assert rec["height"] == rp.height and rec["widths"] == sorted(widths)
    buckets = converted("PP-OCRv5_mobile_rec")["manifests"]["tflite-fp16"]["buckets"]
    assert [b["width"] for b in buckets] == sorted(widths)
    assert all(b["inputs"][0]["shape"] == [1, rp.height, b["width"], 3] for b in buckets)

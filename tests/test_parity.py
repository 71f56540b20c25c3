"""Parity harness on the real PP-OCRv5 models and photos (slow; one run per session)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import FIGURES
from ppocr_convert.goldens import golden_path
from ppocr_convert.parity.harness import StageModels, build_stage_models, run_parity
from ppocr_convert.parity.pipelines import load_pipeline

pytestmark = pytest.mark.slow
TARGETS = ["onnx-raw", "onnx", "tflite-fp32", "tflite-fp16"]


@pytest.fixture(scope="session")
def v5(tmp_path_factory, session_cache, images):
    pipe = load_pipeline("PP-OCRv5_mobile")
    work = tmp_path_factory.mktemp("parity")
    models, _ = build_stage_models(pipe, TARGETS, work, session_cache, lambda s, m: None)
    run = run_parity(pipe, images, TARGETS, work, stage_models=models)
    FIGURES["parity PP-OCRv5_mobile"] = {
        s: {"same_input": {k: round(v, 5) for k, v in r["same_input"].items()},
            "pipeline": {k: round(v, 4) for k, v in r["pipeline"].items()}}
        for s, r in run.report["stages"].items()}
    return pipe, models, run


def test_same_input_fp32_stages_read_every_line_like_paddle(v5):
    _, _, run = v5
    stages = run.report["stages"]
    for stage in ("onnx-raw", "onnx", "tflite-fp32"):
        si = stages[stage]["same_input"]
        assert si["lines"] > 50
        assert si["line_text_agreement"] == 1.0, (stage, si)
        assert si["det_binary_agreement"] > 0.999
    assert run.report["failures"] == [], run.report["failures"]


def test_pipeline_view_surfaces_static_shape_cost(v5):
    _, _, run = v5
    stages = run.report["stages"]
    # the dynamic onnx-raw reads like the reference; the static 640x640/48x320 recipe does not
    assert stages["onnx-raw"]["pipeline"]["line_exact_match"] > 0.99
    assert stages["onnx"]["pipeline"]["line_exact_match"] < 0.9
    per_image = run.report["per_image"]
    assert all("pipeline" in e["stages"]["onnx"] for e in per_image.values())


def test_reference_matches_goldens(v5):
    _, _, run = v5
    golden = json.loads(golden_path("PP-OCRv5_mobile").read_text(encoding="utf-8"))["results"]
    assert set(golden) == set(run.report["per_image"])
    for image, entry in run.report["per_image"].items():
        lines = entry["reference"]["lines"]
        assert [l["text"] for l in lines] == [g["text"] for g in golden[image]], image
        for l, g in zip(lines, golden[image]):
            assert np.abs(np.array(l["box"]) - np.array(g["box"])).max() <= 2, image
            assert abs(l["confidence"] - g["confidence"]) < 0.01


def test_harness_catches_perturbed_weights(v5, tmp_path, images):
    pipe, models, _ = v5
    rec_files = models["onnx"].rec if isinstance(models["onnx"].rec, list) else [models["onnx"].rec]
    broken = []
    for path in rec_files:  # every width bucket gets the same damage
        model = onnx.load(str(path))
        rng = np.random.default_rng(0)
        for init in model.graph.initializer:  # perturb every big float weight by 20 % noise
            w = numpy_helper.to_array(init)
            if w.dtype == np.float32 and w.size > 1000:
                noise = 1 + 0.2 * rng.standard_normal(w.shape).astype(np.float32)
                init.CopyFrom(numpy_helper.from_array(w * noise, init.name))
        broken.append(tmp_path / f"broken_{path.name}")
        onnx.save(model, str(broken[-1]))
    subset = [p for p in images if p.name in ("en.jpg", "ch_en_num.jpg", "japan.jpg")]
    run = run_parity(pipe, subset, ["onnx"], tmp_path,
                     stage_models={"paddle": models["paddle"], "onnx": StageModels("onnx", models["onnx"].det, broken)})
    failed = {(f["stage"], f["view"], f["metric"]) for f in run.report["failures"]}
    assert ("onnx", "same_input", "line_text_agreement") in failed
    assert run.report["stages"]["onnx"]["verdict"] == "fail"


V6_SUBSET = ["en.jpg", "ch_en_num.jpg", "japan.jpg", "text_det.jpg", "ch_doc_server.png", "korean.jpg",
             "short.png", "text_rec.jpg"]


@pytest.fixture(scope="session")
def v6_small(tmp_path_factory, session_cache, images):
    """PP-OCRv6 small on a subset of the photos (its reference: the x2paddle rebuild)."""
    pipe = load_pipeline("PP-OCRv6_small")
    work = tmp_path_factory.mktemp("parity-v6")
    subset = [p for p in images if p.name in V6_SUBSET]
    models, provenance = build_stage_models(pipe, TARGETS, work, session_cache, lambda s, m: None)
    run = run_parity(pipe, subset, TARGETS, work, stage_models=models)
    FIGURES["parity PP-OCRv6_small (subset)"] = {
        s: {"same_input": {k: round(v, 5) for k, v in r["same_input"].items()}} for s, r in run.report["stages"].items()}
    return run, provenance


def test_v6_small_same_input_stages_read_like_its_reference(v6_small):
    run, provenance = v6_small
    assert provenance["det"]["kind"] == provenance["rec"]["kind"] == "rebuilt-from-onnx"
    stages = run.report["stages"]
    for stage in ("onnx-raw", "onnx", "tflite-fp32"):
        si = stages[stage]["same_input"]
        assert si["lines"] > 15
        assert si["line_text_agreement"] == 1.0, (stage, si)
    assert stages["tflite-fp16"]["same_input"]["line_text_agreement"] >= 0.95
    assert run.report["failures"] == [], run.report["failures"]


def test_v6_small_reference_matches_goldens(v6_small):
    run, _ = v6_small
    golden = json.loads(golden_path("PP-OCRv6_small").read_text(encoding="utf-8"))["results"]
    for image, entry in run.report["per_image"].items():
        assert [l["text"] for l in entry["reference"]["lines"]] == [g["text"] for g in golden[image]], image

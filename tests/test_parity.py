"""Parity harness on the real PP-OCRv5 models and photos (slow; one run per session), and
how many inference sessions it holds at once (packaged ONNX models; seconds)."""
from __future__ import annotations

import gc
import json
from pathlib import Path

import numpy as np
import onnx
import psutil
import pytest
from conftest import FIGURES
from onnx import numpy_helper

from ppocr_convert.goldens import golden_path
from ppocr_convert.parity.harness import StageModels, build_stage_models, run_parity
from ppocr_convert.parity.pipelines import load_pipeline
from ppocr_convert.runners import Runner

TARGETS = ["onnx-raw", "onnx", "tflite-fp32", "tflite-fp16"]
CALIBRATION = Path(__file__).resolve().parents[1] / "ppocr_convert" / "data" / "calibration"


def live_runners() -> int:
    gc.collect()
    return sum(isinstance(o, Runner) for o in gc.get_objects())


@pytest.mark.models
def test_harness_opens_each_stage_once_and_releases_every_session(tmp_path, monkeypatch):
    """A chunk of images runs stage by stage (image_worker.py): each stage's models are
    opened once per chunk (not once per image), only one stage's sessions are open at a time
    (the previous stage's are released before the next opens: memory of one stage, not all),
    and every session is released when the run ends. Real ONNX Runtime sessions, the
    packaged PP-OCRv5 ONNX as every stage."""
    from ppocr_convert.chain.sources import packaged_onnx_source
    from ppocr_convert.parity import image_worker
    pipe = load_pipeline("PP-OCRv5_mobile")
    sources = [packaged_onnx_source(c) for c in (pipe.det_config, pipe.rec_config)]
    if None in sources:
        pytest.fail("packaged PP-OCRv5 ONNX not installed (make setup)")
    det, rec = (s.path for s in sources)
    models = {s: StageModels(s, det, rec) for s in ("paddle", "onnx-raw", "onnx")}
    opened = []
    real_open = image_worker.StageRunners.open
    before = live_runners()

    def counting_open(stage_models, threads=None):
        opened.append((stage_models.stage, threads, live_runners() - before))
        return real_open(stage_models, threads)
    monkeypatch.setattr(image_worker.StageRunners, "open", counting_open)
    from ppocr_convert.parity import engine
    monkeypatch.setattr(engine, "CHUNKS_PER_WORKER", 1)  # both images in one chunk (2 would be one each)
    images = [CALIBRATION / "07_en.jpg", CALIBRATION / "16_text_rec.jpg"]
    run = run_parity(pipe, images, ["onnx-raw", "onnx"], tmp_path / "work", stage_models=models)
    # once each, one intra-op thread each (the same numbers for any number of workers), and
    # no session of an earlier stage alive when the next opens
    assert opened == [("paddle", 1, 0), ("onnx-raw", 1, 0), ("onnx", 1, 0)]
    assert live_runners() == before
    # the same model on every side: identical readings
    assert run.result.failures == [] and run.result.stages["onnx"].same_input.line_text_agreement == 1.0
    names = list(run.result.strategies)  # in the order static_strategies lists them, run after run
    assert [n.split(" ")[0] for n in names] == ["plain:", "deployed", "deployed:"]
    assert all(list(e.strategies) == names for e in run.result.per_image.values())
    assert run.computed == 2 and run.peak_rss_mb > 100
    run.remove()
    assert not list((tmp_path / "work").iterdir()), "the run's stored results are removed with it"


@pytest.fixture(scope="session")
def v5(tmp_path_factory, session_cache, images):
    pipe = load_pipeline("PP-OCRv5_mobile")
    work = tmp_path_factory.mktemp("parity")
    models, _ = build_stage_models(pipe, TARGETS, work, session_cache, lambda s, m: None)
    from ppocr_convert.toolrun import tree_rss
    # this process and its children, as the run's peak is measured (a child an earlier test
    # left running must not count as the run's growth)
    baseline_mb = tree_rss(psutil.Process()) / 2**20
    # two workers (identical results to one, test_parity_scale.py): the suite is faster on
    # 2 cores, and each worker's peak is measured on its own
    run = run_parity(pipe, images, TARGETS, work, stage_models=models, workers=2)
    FIGURES["parity PP-OCRv5_mobile peak RSS MB"] = {"before": round(baseline_mb), "peak": round(run.peak_rss_mb),
                                                     "workers": [round(w) for w in run.worker_peak_rss_mb]}
    FIGURES["parity PP-OCRv5_mobile"] = {
        s: {"same_input": {k: round(v, 5) for k, v in r["same_input"].items()},
            "pipeline": {k: round(v, 4) for k, v in r["pipeline"].items()}}
        for s, r in run.report["stages"].items()}
    return pipe, models, run


@pytest.mark.slow
def test_full_parity_run_stays_within_the_release_memory_budget(v5):
    """All photos, paddle + four stages, two workers: every worker stays under the per-worker
    peak the default worker counts are sized by (release fits its workers to a 3 GB budget
    with it), and the run's own growth (this process and its workers; what the test session
    held before is not the harness's) under that many workers' worth."""
    from ppocr_convert.parity.engine import WORKER_PEAK_BYTES
    peak = FIGURES["parity PP-OCRv5_mobile peak RSS MB"]
    per_worker_mb = WORKER_PEAK_BYTES / 2**20
    assert len(peak["workers"]) == 2 and max(peak["workers"]) < per_worker_mb, peak
    assert peak["peak"] - peak["before"] < 2 * per_worker_mb, peak


@pytest.mark.slow
def test_same_input_fp32_stages_read_every_line_like_paddle(v5):
    _, _, run = v5
    stages = run.report["stages"]
    for stage in ("onnx-raw", "onnx", "tflite-fp32"):
        si = stages[stage]["same_input"]
        assert si["lines"] > 50
        assert si["line_text_agreement"] == 1.0, (stage, si)
        assert si["det_binary_agreement"] > 0.999
    assert run.report["failures"] == [], run.report["failures"]


@pytest.mark.slow
def test_pipeline_view_surfaces_static_shape_cost(v5):
    _, _, run = v5
    stages = run.report["stages"]
    # the dynamic onnx-raw reads like the reference; the static recipe's own pipeline score is
    # reported per image next to it (its value is the recipe's business, judged by the gate)
    assert stages["onnx-raw"]["pipeline"]["line_exact_match"] > 0.99
    assert 0 <= stages["onnx"]["pipeline"]["line_exact_match"] <= 1
    per_image = run.report["per_image"]
    assert all("pipeline" in e["stages"]["onnx"] for e in per_image.values())


@pytest.mark.slow
def test_reference_matches_goldens(v5):
    _, _, run = v5
    golden = json.loads(golden_path("PP-OCRv5_mobile").read_text(encoding="utf-8"))["results"]
    assert set(golden) == set(run.report["per_image"])
    for image, entry in run.report["per_image"].items():
        lines = entry["reference"]["lines"]
        assert [line["text"] for line in lines] == [g["text"] for g in golden[image]], image
        for line, g in zip(lines, golden[image]):
            assert np.abs(np.array(line["box"]) - np.array(g["box"])).max() <= 2, image
            assert abs(line["confidence"] - g["confidence"]) < 0.01


@pytest.mark.slow
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
    # no static-shape strategies: without onnx-raw they would be three more Paddle runs a photo
    run = run_parity(pipe, subset, ["onnx"], tmp_path, with_strategies=False,
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
    # its tests read the stages and the reference, not the static-shape strategies
    run = run_parity(pipe, subset, TARGETS, work, stage_models=models, workers=2, with_strategies=False)
    FIGURES["parity PP-OCRv6_small (subset)"] = {
        s: {"same_input": {k: round(v, 5) for k, v in r["same_input"].items()}}
        for s, r in run.report["stages"].items()}
    return run, provenance


@pytest.mark.slow
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


@pytest.mark.slow
def test_v6_small_reference_matches_goldens(v6_small):
    run, _ = v6_small
    golden = json.loads(golden_path("PP-OCRv6_small").read_text(encoding="utf-8"))["results"]
    for image, entry in run.report["per_image"].items():
        assert [line["text"] for line in entry["reference"]["lines"]] == [g["text"] for g in golden[image]], image

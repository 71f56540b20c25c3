"""Release: all or nothing behind the parity gate; identical inputs give identical bytes."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from ppocr_convert.chain.conversion import ConvertOptions, convert
from ppocr_convert.config import FLOAT_TARGETS as TARGETS, load_model_config
from ppocr_convert.errors import ParityError
from ppocr_convert.parity.report_schema import SCHEMA_VERSION

pytestmark = pytest.mark.slow
MODELS = ["PP-OCRv5_mobile_det", "PP-OCRv5_mobile_rec"]


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def few_images(images, tmp_path_factory):
    d = tmp_path_factory.mktemp("release-images")
    for p in images:
        if p.name in ("en.jpg", "ch_en_num.jpg", "japan.jpg"):
            (d / p.name).write_bytes(p.read_bytes())
    return d


def test_release_writes_manifest_then_a_failing_gate_keeps_the_previous_dist(few_images, session_cache, tmp_path,
                                                                            monkeypatch):
    from ppocr_convert import release as rel
    dist = tmp_path / "dist"
    result = rel.release(dist, few_images, models=MODELS, targets=["onnx"], cache_dir=session_cache)
    manifest = json.loads((dist / "manifest.json").read_text())
    assert manifest == result.manifest
    assert {(a["model"], a["target"]) for a in manifest["artifacts"]} == {(m, "onnx") for m in MODELS}
    for a in manifest["artifacts"]:
        assert (dist / a["path"]).is_file() and a["sha256"] and a["gpu_delegate"] == "compatible"
        assert a["parity"]["verdict"] == "pass" and a["parity"]["pipeline"] == "PP-OCRv5_mobile"
        assert a["tools"]["onnx2tf"] and a["passes"]
    assert (dist / "parity" / "PP-OCRv5_mobile" / "report.html").is_file()
    before = snapshot(dist)

    real = rel.load_pipeline

    def impossible(name):
        pipe = real(name)
        return dataclasses.replace(pipe, tolerances={"pipeline": {"onnx": {"det_f1": 1.01}}})
    monkeypatch.setattr(rel, "load_pipeline", impossible)
    with pytest.raises(ParityError, match=r"parity gate failed: .*onnx pipeline det_f1"):
        rel.release(dist, few_images, models=MODELS, targets=["onnx"], cache_dir=session_cache)
    assert snapshot(dist) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dist.")]


def test_two_clean_builds_are_byte_identical(converted, tmp_path):
    """A second build from scratch (own cache, --no-cache) reproduces every artifact and
    manifest.json byte for byte; only build.json (timings) differs."""
    name = "PP-OCRv4_mobile_rec"  # enters at `paddle`: the whole chain, paddle2onnx included
    first = converted(name)
    again = convert(load_model_config(name), ConvertOptions(targets=list(TARGETS), out_dir=tmp_path / "dist",
                                                            cache_dir=tmp_path / "cache", use_cache=False))
    for t in TARGETS:
        a, b = first["dirs"][t], again.artifact_dirs[t]
        for f in (first["manifests"][t]["file"], "manifest.json"):
            assert (a / f).read_bytes() == (b / f).read_bytes(), f"{t}/{f} differs"


def test_release_with_only_unreadable_images_fails_the_gate_cleanly(session_cache, tmp_path):
    """Regression: every image unreadable used to end in UnboundLocalError, not the gate."""
    from ppocr_convert import release as rel
    from ppocr_convert.errors import ConvertError
    bad = tmp_path / "images"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "garbage.png").write_bytes(b"not an image at all")
    dist = tmp_path / "dist"
    with pytest.raises(ConvertError, match="none of the 2 images could be scored"):
        rel.release(dist, bad, models=MODELS, targets=["onnx"], cache_dir=session_cache)
    assert not dist.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dist.")]


def test_release_records_parity_memory_and_rebuilds_a_stale_cached_report(few_images, session_cache, tmp_path):
    """dist/build.json carries the parity runs' peak RSS; an intact cached report.json from
    another schema version (here: the untyped harness's, without schema_version) is measured
    again, not misread."""
    from ppocr_convert import release as rel
    from ppocr_convert.chain.stage_cache import entry_label, seal_entry
    dist = tmp_path / "dist"
    first = rel.release(dist, few_images, models=MODELS, targets=["onnx"], cache_dir=session_cache)
    assert json.loads((dist / "build.json").read_text()) == first.build
    record = first.build["parity"]["PP-OCRv5_mobile"]
    assert record["reused"] or record["peak_rss_mb"] > 0
    cached = list((session_cache / "stages" / "parity").glob("*/report/report.json"))
    assert cached
    for path in cached:
        data = json.loads(path.read_text())
        del data["schema_version"]
        path.write_text(json.dumps(data))
        entry = path.parents[1]
        seal_entry(entry, entry_label(entry))  # intact as far as the cache can tell: only the schema is old
    again = rel.release(dist, few_images, models=MODELS, targets=["onnx"], cache_dir=session_cache)
    record = again.build["parity"]["PP-OCRv5_mobile"]
    assert record["reused"] is False and record["peak_rss_mb"] > 0
    # the whole release's peak (process tree, sampled per phase) covers the parity child's own
    phases = again.build["peak_rss_mb_by_phase"]
    assert {"convert PP-OCRv5_mobile_det", "parity PP-OCRv5_mobile", "publish"} <= set(phases)
    assert again.build["peak_rss_mb"] == max(phases.values())
    assert phases["parity PP-OCRv5_mobile"] >= 0.8 * record["peak_rss_mb"]
    assert all(json.loads(p.read_text())["schema_version"] == SCHEMA_VERSION for p in cached)
    published = json.loads((dist / "parity" / "PP-OCRv5_mobile" / "report.json").read_text())
    assert published["schema_version"] == SCHEMA_VERSION

"""Rec width buckets: the narrowest goes through onnx2tf and the others are re-emitted
from it; when that fails (or --convert-each-width) onnx2tf runs go in parallel (one per
core), records stay in bucket order, and one failing bucket stops the others. The converter is replaced by a stand-in
that writes files and sleeps: this tests the orchestration, not onnx2tf (the slow
integration tests convert the real buckets)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ppocr_convert.chain import backend, conversion
from ppocr_convert.chain.conversion import Conversion, ConvertOptions, StaticBuild
from ppocr_convert.chain.retarget import RetargetError
from ppocr_convert.config import load_model_config
from ppocr_convert.errors import PassFailedError, ToolError
from ppocr_convert.toolrun import ToolRun

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _stand_in_files_pass_the_check(monkeypatch):
    # the stand-in writes text, not models: what the check says is tested in test_retarget.py
    monkeypatch.setattr(conversion, "check_artifacts", lambda models, onnx_path, count=2, expected=None: ({}, []))
    monkeypatch.setattr(conversion, "expected_outputs", lambda onnx_path, count=2, threads=None: [])


def _conversion(tmp_path, jobs, retarget=False):
    conv = Conversion(load_model_config("PP-OCRv5_mobile_rec"),
                      ConvertOptions(targets=["tflite-fp16"], cache_dir=tmp_path / "cache", jobs=jobs,
                                     retarget_buckets=retarget))
    conv.logs_dir = tmp_path / "logs"
    conv.logs_dir.mkdir(exist_ok=True)
    builds = []
    for shape in conv.shapes:
        onnx = tmp_path / f"w{shape[3]}.onnx"
        onnx.write_bytes(f"model {shape[3]}".encode())
        builds.append(StaticBuild(shape, {"onnx": onnx}, []))
    return conv, builds


def _stand_in(running: list, peak: list, fail_width: int | None = None):
    lock = threading.Lock()

    def convert(onnx_path: Path, workdir: Path, log_path: Path, cancel=None, validation_inference=True):
        with lock:
            running.append(onnx_path.name)
            peak.append(len(running))
        try:
            width = int(onnx_path.stem[1:])
            deadline = time.monotonic() + (0.2 if width == fail_width else 1.0 + width / 1280)
            while time.monotonic() < deadline:
                if cancel is not None and cancel.is_set():
                    raise ToolError("onnx2tf was stopped")
                time.sleep(0.02)
            if width == fail_width:
                raise ToolError(f"onnx2tf failed on w{width}")
            workdir.mkdir(parents=True, exist_ok=True)
            outs = {}
            for target in ("tflite-fp32", "tflite-fp16"):
                outs[target] = workdir / f"{target}.tflite"
                outs[target].write_bytes(f"{target} {width}".encode())
            log_path.write_text("ok")
            return outs, ToolRun("onnx2tf", [], 1.0, 1.0, log_path, 0)
        finally:
            with lock:
                running.remove(onnx_path.name)
    return convert


def test_buckets_run_in_parallel_and_records_keep_bucket_order(tmp_path, monkeypatch):
    running, peak = [], []
    monkeypatch.setattr(backend, "onnx_to_tflite", _stand_in(running, peak))
    conv, builds = _conversion(tmp_path, jobs=2)
    conv.build_tflite_buckets(builds)
    assert max(peak) == 2  # two at a time, never three
    assert [r.stage for r in conv.records] == ["tflite[w320]", "tflite[w640]", "tflite[w1280]"]
    for b in builds:
        assert b.files["tflite-fp16"].read_bytes() == f"tflite-fp16 {b.shape[3]}".encode()
    assert sorted(p.name for p in conv.logs_dir.iterdir()) == ["onnx2tf-w1280.log", "onnx2tf-w320.log",
                                                               "onnx2tf-w640.log"]


def test_one_job_runs_them_one_after_another(tmp_path, monkeypatch):
    running, peak = [], []
    monkeypatch.setattr(backend, "onnx_to_tflite", _stand_in(running, peak))
    conv, builds = _conversion(tmp_path, jobs=1)
    conv.build_tflite_buckets(builds)
    assert max(peak) == 1 and len(conv.records) == 3


def test_a_failing_bucket_stops_the_others_and_leaves_no_entry(tmp_path, monkeypatch):
    running, peak = [], []
    monkeypatch.setattr(backend, "onnx_to_tflite", _stand_in(running, peak, fail_width=320))
    conv, builds = _conversion(tmp_path, jobs=3)
    t0 = time.monotonic()
    with pytest.raises(ToolError, match="w320"):
        conv.build_tflite_buckets(builds)
    assert time.monotonic() - t0 < 1.5  # the 2 s buckets were cancelled, not waited for
    assert running == []
    stages = tmp_path / "cache" / "stages" / "tflite"
    assert not stages.exists() or not any(p.name == ".complete" for p in stages.rglob("*"))


def test_default_parallelism_follows_cores_and_memory(monkeypatch):
    import os

    import psutil
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    mem = type("M", (), {"available": 3 * backend.ONNX2TF_PEAK_BYTES + 1})
    monkeypatch.setattr(psutil, "virtual_memory", lambda: mem)
    assert backend.parallel_conversions(6) == 3  # memory-bound
    assert backend.parallel_conversions(2) == 2
    assert backend.parallel_conversions(6, requested=1) == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert backend.parallel_conversions(3) == 1


def _retarget_stand_in(calls: list, fail_width: int | None = None):
    def retarget_verified(sources, onnx_path, width):
        calls.append((sorted(p.read_bytes().decode() for p in sources.values()), width))
        if width == fail_width:
            raise RetargetError(f"tflite-fp16 at width {width} is not the ONNX's model: mean_abs_diff 0.4 > 0.001")
        return ({t: f"{t} {width} from base".encode() for t in sources},
                {"method": "retarget", "from_width": 320, "checks": {}})
    return retarget_verified


def test_wider_buckets_are_re_emitted_from_the_narrowest(tmp_path, monkeypatch):
    running, peak, calls = [], [], []
    monkeypatch.setattr(backend, "onnx_to_tflite", _stand_in(running, peak))
    monkeypatch.setattr(conversion, "retarget_verified", _retarget_stand_in(calls))
    conv, builds = _conversion(tmp_path, jobs=2, retarget=True)
    conv.build_tflite_buckets(builds)
    assert sorted(p.name for p in conv.logs_dir.iterdir()) == ["onnx2tf-w320.log"]  # one onnx2tf run
    assert [w for _, w in calls] == [640, 1280]
    assert calls[0][0] == ["tflite-fp16 320", "tflite-fp32 320"]  # from the w320 artifacts
    assert builds[2].files["tflite-fp16"].read_bytes() == b"tflite-fp16 1280 from base"
    assert conv.bucket_methods[320]["method"] == "onnx2tf"
    assert conv.bucket_methods[1280]["method"] == "retarget"
    assert [r.stage for r in conv.records] == ["tflite[w320]", "tflite[w640]", "tflite[w1280]"]


def test_a_bucket_that_fails_its_check_is_converted_by_onnx2tf(tmp_path, monkeypatch, caplog):
    running, peak, calls = [], [], []
    monkeypatch.setattr(backend, "onnx_to_tflite", _stand_in(running, peak))
    monkeypatch.setattr(conversion, "retarget_verified", _retarget_stand_in(calls, fail_width=640))
    conv, builds = _conversion(tmp_path, jobs=2, retarget=True)
    conv.build_tflite_buckets(builds)
    assert "mean_abs_diff 0.4" in caplog.text
    assert builds[1].files["tflite-fp16"].read_bytes() == b"tflite-fp16 640"  # onnx2tf's
    assert builds[2].files["tflite-fp16"].read_bytes() == b"tflite-fp16 1280 from base"
    assert conv.bucket_methods[640]["method"] == "onnx2tf"
    # the failed attempt left no cache entry: a second run tries again and converts again
    calls.clear()
    conv2, builds2 = _conversion(tmp_path, jobs=2, retarget=True)
    conv2.build_tflite_buckets(builds2)
    assert [w for _, w in calls] == [640]  # w1280's re-emitted entry is cached


def test_wider_buckets_passes_run_while_the_narrowest_converts_and_a_failure_stops_it(tmp_path, monkeypatch):
    running, peak = [], []
    monkeypatch.setattr(backend, "onnx_to_tflite", _stand_in(running, peak))
    conv, builds = _conversion(tmp_path, jobs=2, retarget=True)
    by_width = {b.shape[3]: b for b in builds}
    seen_running = []

    def build_onnx(shape, raw_path):
        if shape[3] != 320:
            time.sleep(0.1)
            seen_running.append(list(running))  # onnx2tf on w320 is running meanwhile
        if shape[3] == 1280:
            raise PassFailedError("attention_split_heads: broken graph")
        return by_width[shape[3]]

    monkeypatch.setattr(conv, "build_onnx", build_onnx)
    t0 = time.monotonic()
    with pytest.raises(PassFailedError):
        conv.build_onnx_during_base_conversion(tmp_path / "raw.onnx")
    assert seen_running[0] == ["w320.onnx"]
    assert time.monotonic() - t0 < 1.0  # the 1.25 s w320 run was stopped, not waited for
    assert running == []


def test_an_artifact_that_fails_its_check_is_converted_again_with_onnx2tfs_validation(tmp_path, monkeypatch):
    flags = []
    stand_in = _stand_in([], [])

    def convert(onnx_path, workdir, log_path, cancel=None, validation_inference=True):
        flags.append(validation_inference)
        return stand_in(onnx_path, workdir, log_path, cancel)

    monkeypatch.setattr(backend, "onnx_to_tflite", convert)
    monkeypatch.setattr(conversion, "check_artifacts",
                        lambda models, onnx_path, count=2, expected=None:
                        ({}, ["tflite-fp16: mean_abs_diff 0.3 > 0.01"]))
    conv, builds = _conversion(tmp_path, jobs=1)
    files, record = conv.build_tflite(builds[0].files["onnx"], "")
    assert flags == [False, True]  # lean first, then onnx2tf as it comes
    assert record.detail == {"method": "onnx2tf", "validation_inference": True,
                             "lean_rejected": ["tflite-fp16: mean_abs_diff 0.3 > 0.01"]}
    assert files["tflite-fp16"].read_bytes() == b"tflite-fp16 320"

"""Cache entries verify and heal: a damaged entry is discarded with one warning line
naming its stage and key, rebuilt, and the rebuilt artifact is byte-identical."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ppocr_convert.chain.stage_cache import COMPLETE, StageCache, entry_problem

CLI = str(Path(sys.executable).with_name("ppocr-convert"))


def _build_counter(calls: list):
    def build(tmp: Path) -> None:
        calls.append(1)
        (tmp / "model.onnx").write_bytes(b"weights" * 1000)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "stage.json").write_text("{}")
    return build


@pytest.mark.unit
@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "add", "legacy-marker"])
def test_a_damaged_entry_is_a_miss_with_one_warning_and_is_rebuilt(tmp_path, caplog, damage):
    cache, calls = StageCache(tmp_path), []
    entry, hit = cache.build("onnx", "k1", _build_counter(calls))
    original = (entry / "model.onnx").read_bytes()
    assert not hit and cache.build("onnx", "k1", _build_counter(calls)) == (entry, True) and len(calls) == 1
    model = entry / "model.onnx"
    if damage == "truncate":
        model.write_bytes(original[:100])
    elif damage == "flip":  # same size, one byte changed
        model.write_bytes(original[:10] + bytes([original[10] ^ 1]) + original[11:])
    elif damage == "delete":
        (entry / "sub" / "stage.json").unlink()
    elif damage == "add":
        (entry / "stray.tmp").write_text("x")
    else:  # an entry sealed before file digests were recorded
        (entry / COMPLETE).write_text("")
    assert entry_problem(entry) is not None
    with caplog.at_level(logging.WARNING, logger="ppocr_convert"):
        again, hit = cache.build("onnx", "k1", _build_counter(calls))
    assert not hit and len(calls) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "onnx entry k1 is damaged" in warnings[0], warnings
    assert (again / "model.onnx").read_bytes() == original and entry_problem(again) is None
    assert not [p for p in again.parent.iterdir() if p.name.startswith(".")]  # nothing left aside


@pytest.mark.unit
def test_an_intact_entry_is_a_hit(tmp_path):
    cache, calls = StageCache(tmp_path), []
    entry, _ = cache.build("tflite", "k", _build_counter(calls))
    os.utime(entry / "model.onnx", ns=(1, 1))  # a copy that changed timestamps only
    assert cache.build("tflite", "k", _build_counter(calls)) == (entry, True) and len(calls) == 1


@pytest.mark.models
def test_a_truncated_onnx_entry_heals_in_one_run_from_the_cli(tmp_path):
    """The user's report: truncate stages/onnx/<key>/model.onnx, convert again."""
    env = {**os.environ, "PPOCR_CONVERT_CACHE": str(tmp_path / "cache")}
    argv = [CLI, "PP-OCRv6_tiny_det", "-t", "onnx", "--out", str(tmp_path / "dist")]
    first = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    artifact = tmp_path / "dist" / "PP-OCRv6_tiny_det" / "onnx" / "PP-OCRv6_tiny_det.onnx"
    built = artifact.read_bytes()
    [entry] = (tmp_path / "cache" / "stages" / "onnx").iterdir()
    cached = entry / "model.onnx"
    cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2])

    second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    warning_lines = [line for line in second.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning_lines) == 1, second.stderr
    assert f"onnx entry {entry.name} is damaged (model.onnx changed)" in warning_lines[0]
    assert artifact.read_bytes() == built
    assert entry_problem(entry) is None

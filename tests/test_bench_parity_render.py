"""bench.parity_throughput's table: throughput rows, resume line, RSS by set size."""
from __future__ import annotations

import pytest

from bench.parity_throughput import render

pytestmark = pytest.mark.unit


def _run(workers: int, ips: float, sha: str) -> dict:
    return {"engine": "local", "workers": workers, "images": 20, "images_per_s": ips, "speedup_vs_first": ips / 0.1,
            "peak_rss_mb_per_worker": [1100.0] * workers, "peak_rss_mb_tree": 1500.0 * workers,
            "cpu_load": {"other_procs": 0.1}, "lines_sha256": sha}


def test_throughput_rows_say_whether_lines_were_identical():
    same = render({"runs": [_run(1, 0.1, "a"), _run(2, 0.19, "a")], "identical_lines": True})
    assert "| local | 2 | 20 | 0.190 | 1.90 | 1100, 1100 | 3000 |" in same and "every run: yes" in same
    differ = render({"runs": [_run(1, 0.1, "a"), _run(2, 0.19, "b")], "identical_lines": False})
    assert "every run: NO" in differ


def test_rss_only_runs_render_without_a_throughput_table():
    text = render({"runs": [], "rss_by_size": [
        {"size": 100, "targets": ["onnx"], "peak_rss_mb_tree": 2000.0, "seconds": 70.0,
         "peak_rss_mb_per_worker": [900.0, 950.0]},
        {"size": 1000, "targets": ["onnx"], "peak_rss_mb_tree": 2050.0, "seconds": 700.0,
         "peak_rss_mb_per_worker": [910.0, 960.0]}]})
    assert "| engine |" not in text and "identical" not in text
    assert "100 images (onnx): peak RSS 2000 MB all processes, 70 s, per worker 900, 950 MB." in text
    assert "1000 images (onnx): peak RSS 2050 MB" in text


def test_resume_line_gives_wall_and_cpu_ratios():
    resume = {"killed_after_s": 60.0, "stored_when_killed": 14, "cost_ratio": 0.55, "cpu_ratio": 0.52,
              "resumed": {"seconds": 66.0, "computed": 16}}
    text = render({"runs": [_run(2, 0.25, "a")], "identical_lines": True, "resume": resume})
    assert "Killed at 60.0 s (14 images stored), run again: 66.0 s = 0.55× a full run " \
           "(16 images computed; CPU time 0.52×)." in text
    older = render({"runs": [_run(2, 0.25, "a")], "identical_lines": True,
                    "resume": {**resume, "cpu_ratio": None}})
    assert "(16 images computed)." in older


def test_the_kill_clock_waits_for_the_run_to_start_and_not_for_a_run_that_died(tmp_path):
    import subprocess
    import sys

    from bench.parity_throughput import wait_for
    marker = tmp_path / "started"
    died = subprocess.Popen([sys.executable, "-c", "pass"])
    assert not wait_for(marker, died, timeout_s=30)
    starts = subprocess.Popen([sys.executable, "-c", f"import pathlib, time; time.sleep(0.3); "
                                                     f"pathlib.Path({str(marker)!r}).touch(); time.sleep(5)"])
    try:
        assert wait_for(marker, starts, timeout_s=30) and marker.exists()
    finally:
        starts.kill()
        starts.wait()

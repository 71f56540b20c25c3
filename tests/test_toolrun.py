"""The one subprocess runner: exit status, timeout and the process group it kills."""
from __future__ import annotations

import sys
import time

import psutil
import pytest

from ppocr_convert.errors import ToolError
from ppocr_convert.toolrun import run_tool

pytestmark = pytest.mark.unit


def test_nonzero_exit_names_the_telling_line(tmp_path):
    log = tmp_path / "t.log"
    with pytest.raises(ToolError) as e:
        run_tool("demo", [sys.executable, "-c", "print('step 1'); print('ValueError: bad axis'); "
                                             "print('cleanup'); raise SystemExit(3)"], log)
    assert "exit 3" in str(e.value) and "ValueError: bad axis" in str(e.value)
    assert "cleanup" in log.read_text()


def test_timeout_kills_the_whole_process_group(tmp_path):
    # the child spawns a grandchild; both must be gone when run_tool returns
    script = ("import subprocess, sys, time; "
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              "print(p.pid, flush=True); time.sleep(60)")
    log = tmp_path / "t.log"
    t0 = time.perf_counter()
    with pytest.raises(ToolError, match="did not finish within 1 s"):
        run_tool("sleeper", [sys.executable, "-c", script], log, timeout=1)
    assert time.perf_counter() - t0 < 30
    grandchild = int(log.read_text().split()[0])
    deadline = time.time() + 5
    while psutil.pid_exists(grandchild) and psutil.Process(grandchild).status() != psutil.STATUS_ZOMBIE:
        assert time.time() < deadline, "grandchild survived the timeout"
        time.sleep(0.1)


def test_success_measures_time_and_memory(tmp_path):
    script = "import time; x = bytearray(50_000_000); time.sleep(0.5); print(len(x))"
    run = run_tool("ok", [sys.executable, "-c", script], tmp_path / "t.log")
    assert run.returncode == 0
    assert run.peak_rss_mb > 40  # the 50 MB buffer was seen


def test_error_line_drops_colour_codes_and_crash_banners(tmp_path):
    from ppocr_convert.toolrun import last_error_line
    log = tmp_path / "p2o.log"
    log.write_text("[Paddle2ONNX] Start parsing\n"
                   "\x1b[31m[ERROR][Paddle2ONNX] Only support weight with lod_level = 0.\x1b[0m\n"
                   "--------------------------------------\n"
                   "FatalError: `Process abort signal` is detected by the operating system.\n"
                   ".\x1b[0m\n")
    assert last_error_line(log) == "[ERROR][Paddle2ONNX] Only support weight with lod_level = 0."


def test_cancel_from_another_thread_stops_the_tool(tmp_path):
    import threading
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    t0 = time.perf_counter()
    with pytest.raises(ToolError, match="was stopped"):
        run_tool("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "t.log", cancel=cancel)
    assert time.perf_counter() - t0 < 30

"""Run an external converter (paddle2onnx, onnx2tf) as a child process.

Why a child process: the tools print floods of logs from C++ (which Python cannot
silence in-process), they hold 1-2 GB that is returned only when they exit, and a
child can be killed cleanly on Ctrl-C. Logs go to a file that is shown on failure
or with --verbose; wall time and peak RSS (the whole process tree) are measured.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from .errors import ToolError

# Quiet TensorFlow/absl/glog without hiding errors.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "GLOG_minloglevel": "2", "FLAGS_call_stack_level": "0"}


@dataclass
class ToolRun:
    tool: str
    argv: list[str]
    seconds: float
    peak_rss_mb: float
    log_path: Path
    returncode: int

    def to_dict(self) -> dict:
        return {"tool": self.tool, "seconds": round(self.seconds, 2),
                "peak_rss_mb": round(self.peak_rss_mb, 1), "returncode": self.returncode}


# how often a running tool's process tree is sampled (RSS) and cancel/timeout checked: each
# sample lists every process (psutil children), 1.5 ms of CPU; every 50 ms that was 0.9 s
# of a 2-core machine's CPU during one det conversion
POLL_SECONDS = 0.2


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def run_tool(tool: str, argv: list[str], log_path: Path, cwd: Path | None = None,
             env: dict | None = None, hint: str | None = None, timeout: float | None = None,
             cancel: threading.Event | None = None) -> ToolRun:
    """Run `argv` in its own process group with its output in `log_path`; raise ToolError
    (one line, the log's most telling line) on a non-zero exit or after `timeout` seconds.
    Setting `cancel` (from another thread) stops the tool: a run in a worker thread
    cannot receive Ctrl-C itself."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **QUIET_ENV, **(env or {})}
    start = time.perf_counter()
    peak = 0
    with open(log_path, "wb") as log:
        # own process group, so an interrupt kills the tool and all it spawned
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=cwd, env=full_env, start_new_session=True)
        ps = psutil.Process(child.pid)
        try:
            while child.poll() is None:
                peak = max(peak, tree_rss(ps))
                if cancel is not None and cancel.is_set():
                    _kill_group(child)
                    raise ToolError(f"{tool} was stopped", hint="the run was interrupted", log_path=str(log_path))
                if timeout is not None and time.perf_counter() - start > timeout:
                    _kill_group(child)
                    raise ToolError(f"{tool} did not finish within {timeout:.0f} s and was stopped",
                                    hint=hint or f"see the log so far: {log_path}", log_path=str(log_path))
                try:  # returns as soon as the tool exits; otherwise sample again in 0.2 s
                    child.wait(timeout=POLL_SECONDS)
                except subprocess.TimeoutExpired:
                    pass
        except BaseException:
            _kill_group(child)
            raise
    run = ToolRun(tool, argv, time.perf_counter() - start, peak / 2**20, log_path, child.returncode)
    if child.returncode != 0:
        last = last_error_line(log_path)
        raise ToolError(f"{tool} failed (exit {child.returncode}): {last}",
                        hint=hint or f"see the full log: {log_path}", log_path=str(log_path))
    return run


def _kill_group(child: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


class Interrupted(KeyboardInterrupt):
    """SIGTERM/SIGHUP (or SIGINT) arrived: unwinds like Ctrl-C, so every `except
    BaseException` cleanup on the way (tool process group killed, temp dirs removed)
    runs; `exit_code` is the shell convention 128 + signal number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


def interrupt_exit_code(exc: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return getattr(exc, "exit_code", 128 + signal.SIGINT)


_interrupted = False


def _on_signal(signum, frame) -> None:
    global _interrupted
    if _interrupted:
        # cleanup of the first interrupt is running (it takes at most ~10 s: the tool's
        # process group gets SIGTERM, then SIGKILL); a second signal must not cut it short
        return
    _interrupted = True
    raise Interrupted(signum)


def install_signal_handlers() -> None:
    """Make SIGTERM/SIGHUP (and SIGINT) raise `Interrupted` in the main thread.

    Python's default SIGTERM action kills the process without unwinding: a running
    onnx2tf would keep going and temp dirs would stay behind. Call once from the CLI
    entry; a no-op outside the main thread (signal handlers can only be set there).
    """
    global _interrupted
    if threading.current_thread() is not threading.main_thread():
        return
    _interrupted = False
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_IGN:
            continue  # e.g. nohup: respect an inherited "ignore"
        signal.signal(sig, _on_signal)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# a process-level crash line says that the tool died, not why: the line before it is better
_GENERIC = ("process abort signal", "segmentation fault", "is detected by the operating system")


def last_error_line(log_path: Path) -> str:
    """The line of a tool's log most likely to say what went wrong (for a one-line error):
    colour codes removed, explicit error lines preferred over generic crash banners."""
    try:
        text = _ANSI.sub("", log_path.read_text(errors="replace"))
    except OSError:
        return "no log"
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if len(line.strip(" .-=*|")) > 2]  # rules, stray dots, empty
    for keys in (("[error]", "error:", "exception:"), ("error", "exception", "failed", "must", "not supported")):
        for line in reversed(lines):
            low = line.lower()
            if any(k in low for k in keys) and not any(g in low for g in _GENERIC):
                return line[:300]
    return lines[-1][:300] if lines else "no output"

"""Measuring what the bench cannot control or see from outside a function call: peak RSS
per phase of an in-process conversion, CPU used by other processes while a block ran,
waiting for ONNX Runtime's spinning threads, and the machine the numbers come from.

Whole child processes (the conversion workers, the onnx2tf CLI) are measured by
`ppocr_convert.toolrun.run_tool` (wall and peak RSS of the process tree); phases inside
one `convert()` by `ppocr_convert.memory.RssSampler`.
"""
from __future__ import annotations

import os
import platform
import time
from pathlib import Path


class CpuLoad:
    """CPU used by other processes (and stolen by the hypervisor) while a block ran, as a
    fraction of the machine's capacity: the noise this bench cannot control, reported next
    to the numbers it affected."""

    def __enter__(self):
        import psutil
        self._psutil = psutil
        self._me = psutil.Process()
        self._sys0, self._own0, self._t0 = psutil.cpu_times(), self._own_cpu(), time.perf_counter()
        return self

    def _own_cpu(self) -> float:
        t = self._me.cpu_times()
        return t.user + t.system

    def __exit__(self, *exc):
        sys1, own1 = self._psutil.cpu_times(), self._own_cpu()
        capacity = (time.perf_counter() - self._t0) * (os.cpu_count() or 1)

        def busy(t):
            idle_like = ("iowait", "steal", "guest", "guest_nice")
            return sum(t) - t.idle - sum(getattr(t, name, 0.0) for name in idle_like)

        own = own1 - self._own0
        self.other = max(0.0, (busy(sys1) - busy(self._sys0) - own) / capacity)
        self.steal = max(0.0, (getattr(sys1, "steal", 0.0) - getattr(self._sys0, "steal", 0.0)) / capacity)
        self.own = own / capacity
        return False

    def to_dict(self) -> dict:
        return {"other_procs": round(self.other, 3), "steal": round(self.steal, 3), "own": round(self.own, 3)}


def settle(max_s: float = 0.3, window_s: float = 0.02) -> float:
    """Wait until this process stops using CPU (at most max_s); returns the seconds waited.

    ONNX Runtime's intra-op threads keep spinning ~40 ms after a run with threads > 1
    (measured here); on a 2-CPU machine that steals a core from whichever engine runs
    next, so every switch of engine waits for the spinning to stop."""
    import psutil
    me = psutil.Process()

    def cpu() -> float:
        t = me.cpu_times()
        return t.user + t.system

    t0 = time.perf_counter()
    prev = cpu()
    while time.perf_counter() - t0 < max_s:
        time.sleep(window_s)
        cur = cpu()
        if cur - prev < window_s / 4:
            break
        prev = cur
    return time.perf_counter() - t0


def machine_info() -> dict:
    """CPU model and count, memory, load at start: ratios are comparable only within one machine."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu_count": os.cpu_count(), "cpu_model": model, "platform": platform.platform()}
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    try:
        import psutil
        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    info["loadavg_start"] = load_average()
    return info


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]

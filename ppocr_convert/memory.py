"""Peak resident memory of this process and its children, sampled in a thread: the one
sampler used by the parity harness (`peak_rss_mb` in dist/build.json), the bench (per
conversion phase) and the tests (growth over a block).

The parity gate of `make release` once peaked at 9.7 GB because every stage's inference
sessions were open at once; a parity worker now holds one stage's sessions at a time
(parity/image_worker.py), and this sampler is how the release proves it. Whole child
processes run through `toolrun.run_tool`, which measures them with the same `tree_rss`.
"""
from __future__ import annotations

import threading

import psutil

from .toolrun import tree_rss


class RssSampler:
    """`with RssSampler() as rss: ...` then `rss.peak_mb` (and `rss.grew_mb` over the
    value on entry). `mark(phase)` starts a named phase; `peaks_mb` keeps each phase's peak
    (a phase entered twice keeps the larger). Sampled every `interval` seconds, and on
    entry, on each mark and on exit, so a short block is still measured."""

    def __init__(self, interval: float = 0.05, phase: str = "run"):
        self.interval = interval
        self.phase = phase
        self.peaks_mb: dict[str, float] = {}
        self.start_mb = 0.0
        self._proc = psutil.Process()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self) -> None:
        mb = tree_rss(self._proc) / 2**20
        with self._lock:
            self.peaks_mb[self.phase] = max(self.peaks_mb.get(self.phase, 0.0), mb)

    def mark(self, phase: str) -> None:
        if phase == self.phase:
            return
        self.sample()  # the old phase's last value, then the new one's first
        with self._lock:
            self.phase = phase
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def start(self) -> "RssSampler":
        self.start_mb = tree_rss(self._proc) / 2**20
        self.sample()
        self._thread.start()
        return self

    def finish(self) -> dict[str, float]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sample()
        return dict(self.peaks_mb)

    def __enter__(self) -> "RssSampler":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.finish()

    @property
    def peak_mb(self) -> float:
        return max(self.peaks_mb.values(), default=0.0)

    @property
    def grew_mb(self) -> float:
        return self.peak_mb - self.start_mb

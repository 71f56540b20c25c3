"""Peak resident memory of this process and its children while a block runs.

The parity gate of `make release` once peaked at 9.7 GB because every stage's inference
sessions were open at once; the harness now holds one stage at a time, and this sampler
is how the release proves it (`peak_rss_mb` in dist/build.json).
"""
from __future__ import annotations

import threading

import psutil

from ..toolrun import tree_rss  # one definition of "process tree RSS" for tools and the harness


class PeakRssSampler:
    """`with PeakRssSampler() as rss: ...` then `rss.peak_mb`. A daemon thread samples the
    tree's RSS every `interval` seconds, plus once on entry and once on exit, so a block
    shorter than one interval is still measured."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak_bytes = 0
        self._proc = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def sample(self) -> None:
        self.peak_bytes = max(self.peak_bytes, tree_rss(self._proc))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> PeakRssSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20

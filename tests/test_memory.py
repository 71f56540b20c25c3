"""The one RSS sampler: peaks per phase, growth over a block."""
from __future__ import annotations

import pytest

from ppocr_convert.memory import RssSampler

pytestmark = pytest.mark.unit


def test_a_block_that_allocates_is_seen_and_phases_keep_their_own_peaks():
    with RssSampler(interval=0.01, phase="small") as rss:
        rss.mark("big")
        buf = bytearray(200 * 2**20)  # touched below, so it is resident
        buf[:: 4096] = b"x" * len(buf[:: 4096])
        rss.sample()
        del buf
        rss.mark("after")
    assert rss.grew_mb > 150
    assert rss.peaks_mb["big"] - rss.peaks_mb["small"] > 150
    assert rss.peak_mb == max(rss.peaks_mb.values())

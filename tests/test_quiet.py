"""--verbose is a process setting: native stderr chatter is hidden unless it is on, and
nothing leaks into the environment that child processes inherit."""
from __future__ import annotations

import os

import pytest

from ppocr_convert import quiet

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("verbose", [False, True])
def test_native_stderr_follows_the_verbose_setting(verbose, capfd):
    quiet.set_verbose(verbose)
    try:
        with quiet.native_stderr_silenced():
            os.write(2, b"absl: native start-up line\n")  # below Python: what TF/LiteRT write
    finally:
        quiet.set_verbose(False)
    assert ("native start-up line" in capfd.readouterr().err) is verbose
    assert not any(k.startswith("PPOCR_CONVERT_VERBOSE") for k in os.environ)

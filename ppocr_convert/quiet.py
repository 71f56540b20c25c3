"""Silence native-library chatter (TensorFlow's absl start-up lines, LiteRT's delegate
INFO) that Python logging cannot reach, so the CLI's progress and errors stay readable.
Only around calls known to chatter; real errors surface as exceptions anyway."""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    if os.environ.get("PPOCR_CONVERT_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

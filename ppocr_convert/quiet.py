"""Silence native-library chatter (TensorFlow's absl start-up lines, LiteRT's delegate
INFO) that Python logging cannot reach, so the CLI's progress and errors stay readable.
Only around calls known to chatter; real errors surface as exceptions anyway."""
from __future__ import annotations

import contextlib
import os
import sys


# Set by the CLI's --verbose (a process setting, not an environment variable: the child
# processes that run the converters must not inherit it; their logs go to files anyway).
_verbose = False


def set_verbose(verbose: bool) -> None:
    global _verbose
    _verbose = verbose


def is_verbose() -> bool:
    return _verbose


@contextlib.contextmanager
def native_stderr_silenced():
    if _verbose:
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

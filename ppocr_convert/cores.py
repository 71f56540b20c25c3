"""How many CPU cores this process may run on: the one count the parity workers and the
int8 stage's gates size themselves by."""
from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (its affinity set on Linux), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)

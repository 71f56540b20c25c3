"""How many CPU cores this process may run on (the one count the parity workers and the
int8 stage's gates size themselves by), and work dealt to one thread per core."""
from __future__ import annotations

import os
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def usable_cores() -> int:
    """The cores this process may run on (its affinity set on Linux), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def deal(work: Callable[[list[T]], list[R]], items: Sequence[T], workers: int | None = None) -> list[R]:
    """`work` (a share of the items -> one result per item, in order) run on `workers`
    interleaved shares of `items` (default: one per usable core), each on its own thread;
    the results in the items' order. For work whose native code releases the GIL (TFLite's
    invoke()): each share gets its own interpreters inside `work`."""
    n = max(1, min(workers or usable_cores(), len(items)))
    if n == 1:
        return work(list(items))
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(n, thread_name_prefix="deal") as pool:
        parts = list(pool.map(work, [list(items[k::n]) for k in range(n)]))
    out: list = [None] * len(items)
    for k, part in enumerate(parts):
        out[k::n] = part
    return out

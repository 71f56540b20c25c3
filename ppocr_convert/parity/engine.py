"""Engines: where a parity run's per-image work runs.

One interface, `Engine.run(spec, tasks)`, yields an `ImageResult` per task as each
finishes (in any order); the harness stores and aggregates them. Every engine runs the
same `ImageWorker` (image_worker.py) on chunks of images, stage by stage (one stage's
models open at a time, opened once per chunk), with one intra-op thread per model: any
engine, any number of workers and any chunk size give identical results.

* `LocalEngine(workers=1)`: in this process, one image after the other.
* `LocalEngine(workers=N)`: N spawned processes (never forked: Paddle and TensorFlow
  state does not survive a fork), each with its own `ImageWorker`.
* `RayEngine(workers=N, address=None)`: Ray Data `map_batches` over an actor pool of N
  actors, each holding one `ImageWorker`; with no address a local Ray is started, with
  one (`ray://host:10001` or `host:6379`) an existing cluster is joined. Install with
  `pip install 'ppocr-convert[ray]'`; every node needs the models and photos at the same
  paths (a shared filesystem), which the run's results do not: they come back to the driver.
"""
from __future__ import annotations

import logging
import os
from typing import Iterable, Iterator, Protocol

from ..errors import ConfigError
from .image_worker import ImageTask, ImageWorker, WorkSpec
from .result_store import ImageResult

ENGINES = ("local", "ray")


class Engine(Protocol):
    name: str
    workers: int

    def run(self, spec: WorkSpec, tasks: list[ImageTask]) -> Iterator[ImageResult]: ...


# a worker holds one stage's models at a time and one rec line's logits per comparison.
# Measured (release's gate on the 30 photos, two workers, the whole parity process tree):
# PP-OCRv4 3.9 GB (its Paddle det at 1024x1024 dominates), v6 small 3.1, v5 2.3, v6 tiny
# 2.1; so up to ~1.9 GB a worker (before: every stage open at once and whole-image logit
# comparisons, 2.8-3.3 GB a worker on v5)
WORKER_PEAK_BYTES = 2 * 2**30
# `release` keeps its parity gate's workers within this, so that the whole release stays
# under it (the converters run one at a time before it, each at most 1.7 GB)
RELEASE_MEMORY_BUDGET = 3 * 2**30


def default_workers(memory_budget: int | None = None) -> int:
    """The machine's cores (those this process may run on), as memory allows: the memory
    available now and, when given, a budget for all workers together (at least one worker)."""
    from ..cores import usable_cores
    cores = usable_cores()
    import psutil
    n = min(cores, psutil.virtual_memory().available // WORKER_PEAK_BYTES)
    if memory_budget is not None:
        n = min(n, memory_budget // WORKER_PEAK_BYTES)
    return max(1, int(n))


# images per chunk: each stage's sessions (0.1-0.3 s to open, ~0.7 s of CPU for all five
# stages) are opened once per chunk, and a chunk's images are stored only when it is done,
# so a killed run loses the chunks in flight. Measured on 4 photos, CPU seconds: chunks of
# 4: 21.4/22.0, of 2: 21.3/22.1, of 1: 23.6/24.2 (+10 %). 2 costs no measurable throughput
# and halves what a kill loses, which a rerun pays again (30 photos, 2 workers, killed
# halfway: the rerun 0.67x a full run with 4, 0.40-0.41x with 2); on small sets chunks
# shrink so that every worker gets CHUNKS_PER_WORKER of them (load balance)
CHUNK_IMAGES = 2
CHUNKS_PER_WORKER = 4


def chunks(tasks: list[ImageTask], workers: int) -> list[list[ImageTask]]:
    """Consecutive chunks of at most CHUNK_IMAGES images."""
    size = max(1, min(CHUNK_IMAGES, -(-len(tasks) // (max(workers, 1) * CHUNKS_PER_WORKER))))
    return [tasks[i:i + size] for i in range(0, len(tasks), size)]


def make_engine(name: str = "local", workers: int | None = None, address: str | None = None) -> Engine:
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    n = workers or default_workers()
    if name == "local":
        if address:
            raise ConfigError("--ray-address needs --engine ray")
        return LocalEngine(n)
    if name == "ray":
        return RayEngine(n, address)
    raise ConfigError(f"unknown engine {name!r}", hint=f"choose from {', '.join(ENGINES)}")


# ---------------------------------------------------------------- local: this process or a spawned pool

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_WORKER: ImageWorker | None = None  # the ImageWorker of a pool process, opened by _init_worker


def _init_worker(spec: WorkSpec, ignore_sigint: bool = False) -> None:
    global _WORKER
    if ignore_sigint:  # Ctrl-C reaches the whole process group: the parent stops the pool
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", str(spec.threads))
    import cv2
    cv2.setNumThreads(spec.threads)  # OpenCV's own pool (resize, warps) would take every core per worker
    import paddle  # noqa: F401  (before TensorFlow/LiteRT: the other order segfaults Paddle Inference)
    _WORKER = ImageWorker(spec)


def _process(chunk: list[ImageTask]) -> list[ImageResult]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.process_chunk(chunk)


def worker_peak_rss_mb() -> float:
    """This process's peak resident memory so far. On Linux VmHWM, its own address space's
    high-water mark: ru_maxrss survives exec, so a spawned worker's would start at its
    parent's size (a 3.9 GB test session made every worker report 3.9 GB)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _process_with_rss(chunk: list[ImageTask]) -> tuple[list[ImageResult], int, float]:
    return _process(chunk), os.getpid(), worker_peak_rss_mb()


class LocalEngine:
    name = "local"

    def __init__(self, workers: int = 1):
        self.workers = workers
        self.worker_peak_rss_mb: dict[int, float] = {}  # pid → peak RSS, filled as results come

    def run(self, spec: WorkSpec, tasks: list[ImageTask]) -> Iterator[ImageResult]:
        if not tasks:
            return
        if self.workers == 1 or len(tasks) == 1:
            yield from self._inline(spec, tasks)
        else:
            yield from self._pool(spec, tasks)

    def _inline(self, spec: WorkSpec, tasks: Iterable[ImageTask]) -> Iterator[ImageResult]:
        worker = ImageWorker(spec)  # holds no sessions between chunks: nothing to close
        for chunk in chunks(list(tasks), 1):
            yield from worker.process_chunk(chunk)

    def _pool(self, spec: WorkSpec, tasks: list[ImageTask]) -> Iterator[ImageResult]:
        import multiprocessing
        n = min(self.workers, len(tasks))
        work = chunks(tasks, n)
        # the BLAS/OpenMP pools are sized when a worker first imports numpy, before its
        # initializer runs: the spawned workers inherit these from this process's environment
        saved = {k: os.environ.get(k) for k in THREAD_ENV}
        os.environ.update({k: str(spec.threads) for k in THREAD_ENV})
        try:
            pool = multiprocessing.get_context("spawn").Pool(n, initializer=_init_worker, initargs=(spec, True))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        try:
            for results, pid, rss in pool.imap_unordered(_process_with_rss, work, chunksize=1):
                self.worker_peak_rss_mb[pid] = max(self.worker_peak_rss_mb.get(pid, 0.0), rss)
                yield from results
        except BaseException:
            pool.terminate()
            pool.join()
            raise
        # a clean exit, not Pool.__exit__'s SIGTERM: Paddle's signal handler would print a crash banner
        pool.close()
        pool.join()


# ---------------------------------------------------------------- ray: Ray Data actor pool

class _RayImageWorker:
    """A Ray Data actor: one ImageWorker for its lifetime; a batch is one chunk of image tasks."""

    def __init__(self, spec: WorkSpec):
        _init_worker(spec)

    def __call__(self, batch: dict) -> dict:
        import pickle

        import numpy as np
        results, pid, rss = _process_with_rss([pickle.loads(blob) for blob in batch["task"]])
        return {"result": np.array([pickle.dumps((r, pid, rss)) for r in results], dtype=object)}


class RayEngine:
    name = "ray"

    def __init__(self, workers: int = 1, address: str | None = None):
        self.workers = workers
        self.address = address
        self.worker_peak_rss_mb: dict[int, float] = {}

    def run(self, spec: WorkSpec, tasks: list[ImageTask]) -> Iterator[ImageResult]:
        if not tasks:
            return
        try:
            import ray
        except ImportError:
            raise ConfigError("--engine ray needs Ray, which is not installed",
                              hint="install the optional ray extra of ppocr-convert (Ray Data 2.60.0, pinned in "
                                   "requirements.lock)") from None
        import pickle
        started = False
        if not ray.is_initialized():
            # no address: a local Ray on this machine's cores; else join the cluster
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     num_cpus=None if self.address else max(self.workers, 1), logging_level=logging.WARNING)
            started = True
        try:
            logging.getLogger("ray.data").setLevel(logging.WARNING)  # execution plans, progress: not ours to show
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = False
            # tasks are pickled: paths and ground-truth lines travel as bytes, not Arrow columns
            size = len(chunks(tasks, self.workers)[0])  # batches of one chunk each, as the local pool's
            items = ray.data.from_items([{"task": pickle.dumps(t)} for t in tasks],
                                        override_num_blocks=-(-len(tasks) // size))
            ds = items.map_batches(_RayImageWorker, fn_constructor_args=(spec,), batch_size=size,
                                concurrency=self.workers, num_cpus=spec.threads, batch_format="numpy")
            for row in ds.iter_rows():
                result, pid, rss = pickle.loads(row["result"])
                self.worker_peak_rss_mb[pid] = max(self.worker_peak_rss_mb.get(pid, 0.0), rss)
                yield result
        finally:
            if started:
                ray.shutdown()

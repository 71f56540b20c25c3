"""Faults (issue 6): each failure exits non-zero with one clear line and leaves `dist/`
and the cache byte-for-byte as they were; interrupted and concurrent runs leave nothing
half-written. Input errors (bad names, model dirs, archives) are in test_cli_errors.py,
odd image files in test_parity_images.py.

Fast tests run in-process through CliRunner on PP-OCRv5_mobile_det `-t onnx` (packaged
ONNX, a few seconds). The interrupt and concurrency tests run the real CLI in
subprocesses and run onnx2tf (marked slow, ~1.5 min together).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from ppocr_convert.config import load_model_config
from typer.testing import CliRunner

from ppocr_convert.cli import app
from ppocr_convert.chain.stage_cache import StageCache
from ppocr_convert.fsutil import replace_dir, sweep_stale_temp_dirs

runner = CliRunner()
CLI = str(Path(sys.executable).with_name("ppocr-convert"))
V5_DET = "PP-OCRv5_mobile_det"
V4_DET = "PP-OCRv4_mobile_det"


# ---------------------------------------------------------------- helpers

def snapshot(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under root, plus every directory (so an
    empty temp dir left behind shows up too)."""
    if not root.exists():
        return {}
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "symlink:" + os.readlink(p)
        elif p.is_dir():
            out[rel + "/"] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def hidden_leftovers(root: Path) -> list[str]:
    """Temp dirs (`.X.tmp-*`, `.X.old-*`) and lock files anywhere under root."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob(".*") if p.name != ".complete")


def incomplete_entries(cache: Path) -> list[str]:
    stages = cache / "stages"
    if not stages.exists():
        return []
    return sorted(f"{e.parent.name}/{e.name}" for e in stages.glob("*/*")
                  if not e.name.startswith(".") and not (e / ".complete").is_file())


def cli(args: list[str], cache: Path):
    """Run the CLI in-process; returns the click Result."""
    env = {"PPOCR_CONVERT_CACHE": str(cache)}
    return runner.invoke(app, args, env=env)


def error_line(result) -> str:
    """The one `error:` line (rich may wrap a long one at 140 columns: joined back)."""
    text = result.output
    assert "Traceback" not in text, text
    assert text.count("error:") == 1, text
    msg = text[text.index("error:"):]
    msg = msg.split("hint:")[0]
    return " ".join(msg.split())


def check_artifact(target_dir: Path) -> dict:
    manifest = json.loads((target_dir / "manifest.json").read_text())
    model = target_dir / manifest["file"]
    assert hashlib.sha256(model.read_bytes()).hexdigest() == manifest["sha256"]
    assert model.stat().st_size == manifest["bytes"]
    return manifest


@pytest.fixture
def v5_onnx(tmp_path):
    """A cache and a dist/ holding PP-OCRv5_mobile_det's onnx artifact (a previous good run)."""
    cache, dist = tmp_path / "cache", tmp_path / "dist"
    r = cli([V5_DET, "-t", "onnx", "--out", str(dist)], cache)
    assert r.exit_code == 0, r.output
    return cache, dist


# ---------------------------------------------------------------- GPU delegate

def test_op_the_gpu_delegate_cannot_run_is_named_and_strict_gpu_fails(v5_onnx):
    cache, dist = v5_onnx
    skip = ["--skip-pass", "hardsigmoid_decompose"]
    # without --strict-gpu: converted, and the manifest names each op and node
    other = dist.parent / "dist-lenient"
    r = cli([V5_DET, "-t", "onnx", *skip, "--out", str(other)], cache)
    assert r.exit_code == 0, r.output
    manifest = check_artifact(other / V5_DET / "onnx")
    issues = manifest["gpu_delegate"]["issues"]
    assert issues and all(i["op"] == "HardSigmoid" for i in issues)
    assert {i["node"] for i in issues} >= {"HardSigmoid.0"} and all(i["node"] for i in issues)
    assert "hardsigmoid_decompose" in issues[0]["reason"]
    assert manifest["gpu_delegate"]["verdict"] == f"incompatible: HardSigmoid x{len(issues)}"
    r = runner.invoke(app, ["inspect", str(other / V5_DET / "onnx" / manifest["file"])])
    assert r.exit_code == 0 and "HardSigmoid HardSigmoid.0:" in r.output

    # with --strict-gpu: exit 5, the op and node named, nothing written anywhere (the
    # inspection cache may learn the report of an artifact it had not seen: that is a
    # finished fact about valid bytes, not a half-written result)
    def snapshot_cache(root: Path) -> dict:
        return {k: v for k, v in snapshot(root).items() if not k.startswith("stages/inspect/")}
    before = snapshot(dist), snapshot_cache(cache)
    r = cli([V5_DET, "-t", "onnx", *skip, "--strict-gpu", "--out", str(dist)], cache)
    assert r.exit_code == 5
    line = error_line(r)
    assert f"{V5_DET} onnx: {len(issues)} op(s) the GPU delegate cannot run, first HardSigmoid at HardSigmoid.0" in line
    assert "drop --strict-gpu" in r.output
    assert (snapshot(dist), snapshot_cache(cache)) == before

    # several targets: every one is checked before any is published (onnx-raw is exempt)
    r = cli([V5_DET, "-t", "onnx-raw", "-t", "onnx", *skip, "--strict-gpu", "--out", str(dist)], cache)
    assert r.exit_code == 5
    assert (snapshot(dist), snapshot_cache(cache)) == before

    # the default pass list leaves nothing for the delegate to refuse
    r = cli([V5_DET, "-t", "onnx", "--strict-gpu", "--out", str(dist)], cache)
    assert r.exit_code == 0, r.output


# ---------------------------------------------------------------- output not writable / disk full

def test_out_path_through_a_regular_file_fails_cleanly(v5_onnx, tmp_path):
    # root ignores permission bits, so a path through a regular file is what really fails
    cache, _ = v5_onnx
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    before = snapshot(cache)
    for out in (blocker, blocker / "dist"):
        r = cli([V5_DET, "-t", "onnx", "--out", str(out)], cache)
        assert r.exit_code == 1
        line = error_line(r)
        assert line.startswith(f"error: cannot write {out}") and "Not a directory" in line
        assert "is a file, not a directory" in r.output
    assert blocker.read_text() == "x" and snapshot(cache) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="platform: root writes through chmod 555")
def test_read_only_out_dir_fails_cleanly(v5_onnx):
    cache, dist = v5_onnx
    before = snapshot(dist), snapshot(cache)
    (dist / V5_DET).chmod(0o555)
    try:
        r = cli([V5_DET, "-t", "onnx", "--out", str(dist)], cache)
    finally:
        (dist / V5_DET).chmod(0o755)
    assert r.exit_code == 1 and "Permission denied" in error_line(r) and "not writable" in r.output
    assert (snapshot(dist), snapshot(cache)) == before


@pytest.mark.parametrize("fail_on", [1, 2])
def test_disk_full_while_publishing_keeps_the_previous_artifacts(v5_onnx, monkeypatch, fail_on):
    """ENOSPC on the first or the second target's copy: dist/ keeps both previous artifacts."""
    cache, dist = v5_onnx
    r = cli([V5_DET, "-t", "onnx-raw", "-t", "onnx", "--out", str(dist)], cache)
    assert r.exit_code == 0, r.output
    before = snapshot(dist), snapshot(cache)
    real_copy = shutil.copyfile
    copies = []

    def copyfile(src, dst, *a, **k):
        if Path(dst).is_relative_to(dist):
            copies.append(dst)
            if len(copies) == fail_on:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real_copy(src, dst, *a, **k)
    monkeypatch.setattr(shutil, "copyfile", copyfile)
    r = cli([V5_DET, "-t", "onnx-raw", "-t", "onnx", "--out", str(dist)], cache)
    assert r.exit_code == 1
    line = error_line(r)
    assert line.startswith(f"error: cannot write {dist / V5_DET}") and "No space left on device" in line
    assert "the disk is full" in r.output
    assert (snapshot(dist), snapshot(cache)) == before
    check_artifact(dist / V5_DET / "onnx")


def test_disk_full_while_writing_the_cache_leaves_no_entry(v5_onnx, monkeypatch):
    import onnx
    cache, dist = v5_onnx
    before = snapshot(dist), snapshot(cache)

    def save(model, path, *a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    monkeypatch.setattr(onnx, "save", save)
    # another pass list → a new `onnx` stage key, so the passes run and save into the cache
    r = cli([V5_DET, "-t", "onnx", "--skip-pass", "cleanup", "--out", str(dist)], cache)
    assert r.exit_code == 1
    line = error_line(r)
    assert line.startswith(f"error: cannot write {cache}") and "No space left on device" in line
    assert "PPOCR_CONVERT_CACHE" in r.output
    assert (snapshot(dist), snapshot(cache)) == before


# ---------------------------------------------------------------- stage cache and publish primitives

def test_concurrent_builds_of_one_key_build_once(tmp_path):
    cache = StageCache(tmp_path / "cache")
    calls, results, errors = [], [], []

    def build(tmp: Path) -> None:
        calls.append(tmp)
        time.sleep(0.3)
        (tmp / "out.txt").write_text("done")

    def worker():
        try:
            results.append(cache.build("onnx", "k" * 32, build))
        except BaseException as e:  # pragma: no cover - shown by the assert below
            errors.append(e)
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(calls) == 1
    assert sorted(hit for _, hit in results) == [False] + [True] * 5
    entry = cache.entry("onnx", "k" * 32)
    assert (entry / "out.txt").read_text() == "done" and (entry / ".complete").is_file()
    assert hidden_leftovers(tmp_path / "cache") == []


def test_failed_or_interrupted_build_leaves_nothing(tmp_path):
    cache = StageCache(tmp_path / "cache")
    for exc in (RuntimeError("tool failed"), KeyboardInterrupt()):
        def build(tmp: Path) -> None:
            (tmp / "half.bin").write_bytes(b"x" * 100)
            raise exc
        with pytest.raises(type(exc)):
            cache.build("tflite", "a" * 32, build)
    assert not (tmp_path / "cache").exists()  # not even the directories it had to create


def test_temp_dirs_of_a_killed_run_are_swept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stage = tmp_path / "cache" / "stages" / "onnx"
    stage.mkdir(parents=True)
    key = "b" * 32
    stale = stage / f".{key}.tmp-{dead.pid}-x1y2"
    mine = stage / f".{key}.tmp-{os.getpid()}-live"
    for d in (stale, mine):
        d.mkdir()
        (d / "model.onnx").write_bytes(b"partial")
    StageCache(tmp_path / "cache").build("onnx", key, lambda tmp: (tmp / "model.onnx").write_bytes(b"ok"))
    assert not stale.exists() and mine.exists()  # a live process's temp dir is never touched
    shutil.rmtree(mine)
    assert hidden_leftovers(tmp_path / "cache") == []
    assert sweep_stale_temp_dirs(stage) == []


def test_replace_dir_under_contention(tmp_path):
    dst = tmp_path / "dist" / "m" / "tflite-fp16"
    dst.parent.mkdir(parents=True)
    errors = []

    def worker(n: int):
        try:
            for i in range(15):
                src = tmp_path / "dist" / "m" / f".tflite-fp16.tmp-{os.getpid()}-{n}-{i}"
                src.mkdir()
                (src / "model.tflite").write_text(f"{n}-{i}")
                (src / "manifest.json").write_text(f"{n}-{i}")
                replace_dir(src, dst)
        except BaseException as e:  # pragma: no cover
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert (dst / "model.tflite").read_text() == (dst / "manifest.json").read_text()
    assert hidden_leftovers(tmp_path / "dist") == []


def test_sigterm_unwinds_like_ctrl_c_once_handlers_are_installed():
    from ppocr_convert.toolrun import Interrupted, install_signal_handlers, interrupt_exit_code
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        install_signal_handlers()
        with pytest.raises(Interrupted) as e:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here, in the main thread
        assert isinstance(e.value, KeyboardInterrupt) and interrupt_exit_code(e.value) == 143
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal during cleanup is ignored
        time.sleep(0.05)
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    assert interrupt_exit_code(KeyboardInterrupt()) == 130


# ---------------------------------------------------------------- interrupt and concurrency (real CLI)

def _spawn(args: list[str], cache: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PPOCR_CONVERT_CACHE": str(cache)}
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        # Ctrl-C's default disposition, as at a terminal: a shell starts background jobs (a CI
        # runner's, say) with SIGINT ignored, and the CLI rightly keeps an inherited ignore
        return subprocess.Popen([CLI, *args], stdout=out, stderr=err, env=env,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_child(proc: subprocess.Popen, needle: str, timeout: float) -> psutil.Process:
    ps = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"CLI exited ({proc.returncode}) before {needle} started"
        for child in ps.children(recursive=True):
            try:
                if any(needle in part for part in child.cmdline()):
                    return child
            except psutil.Error:
                continue
        time.sleep(0.1)
    raise AssertionError(f"{needle} did not start within {timeout}s")


def _processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and any(text in a for a in p.info["cmdline"] or []):
                found.append(p)
        except psutil.Error:
            continue
    return found


@pytest.fixture(scope="module")
def v4_seed_cache(tmp_path_factory) -> Path:
    """A cache holding PP-OCRv4_mobile_det's onnx-raw and onnx stages (paddle2onnx once)."""
    cache = tmp_path_factory.mktemp("seed-cache")
    out = tmp_path_factory.mktemp("seed-dist")
    r = subprocess.run([CLI, V4_DET, "-t", "onnx", "--out", str(out)], capture_output=True, text=True,
                       env={**os.environ, "PPOCR_CONVERT_CACHE": str(cache)}, timeout=300)
    assert r.returncode == 0, r.stderr
    return cache


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_during_onnx2tf_leaves_nothing_half_written(sig, v4_seed_cache, tmp_path):
    cache, dist = tmp_path / "cache", tmp_path / "dist"
    shutil.copytree(v4_seed_cache, cache)
    # a previous artifact in the place this run would publish to
    prev = dist / V4_DET / "tflite-fp16"
    prev.mkdir(parents=True)
    (prev / "manifest.json").write_text('{"previous": true}')
    before = snapshot(dist), snapshot(cache)

    args = [V4_DET, "-t", "tflite-fp16", "--out", str(dist)]
    proc = _spawn(args, cache, tmp_path / "run")
    try:
        tool = _wait_for_child(proc, "onnx2tf", timeout=120)
        time.sleep(2.0)  # let it get going: its working copy now lies in the cache's temp dir
        assert any((cache / "stages").glob("tflite/.*.tmp-*")), "interrupt should hit a build in progress"
        t0 = time.monotonic()
        proc.send_signal(sig)
        rc = proc.wait(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = (tmp_path / "run.err").read_text()
    assert rc == 128 + sig, (rc, stderr)
    assert took < 20, f"took {took:.1f}s to stop"
    assert "Traceback" not in stderr and [l for l in stderr.splitlines() if l.startswith("interrupted")], stderr
    assert not tool.is_running() or tool.status() == psutil.STATUS_ZOMBIE
    assert _processes_mentioning(str(cache)) == [], "onnx2tf (or a child) outlived the interrupt"
    # nothing published, nothing half-built in the cache: both exactly as before
    assert (snapshot(dist), snapshot(cache)) == before
    assert incomplete_entries(cache) == [] and hidden_leftovers(cache) == []

    # the next run converts normally
    r = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PPOCR_CONVERT_CACHE": str(cache)})
    assert r.returncode == 0, r.stderr
    manifest = check_artifact(prev)
    assert manifest["target"] == "tflite-fp16"
    assert len(list((cache / "stages" / "tflite").iterdir())) == 1
    assert incomplete_entries(cache) == [] and hidden_leftovers(cache) == [] and hidden_leftovers(dist) == []


@pytest.mark.slow
def test_two_conversions_at_once_into_one_cache_and_out(tmp_path):
    cache, dist = tmp_path / "cache", tmp_path / "dist"
    args = [V5_DET, "-t", "tflite-fp16", "--out", str(dist)]
    procs = [_spawn(args, cache, tmp_path / f"run{i}") for i in range(2)]
    try:
        rcs = [p.wait(timeout=400) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    errs = [(tmp_path / f"run{i}.err").read_text() for i in range(2)]
    assert rcs == [0, 0], errs

    # each stage was built once: the second run waited for the first and reused its entry
    stage_lines = [l for e in errs for l in e.splitlines() if l.startswith("stages:")]
    assert len(stage_lines) == 2, errs
    for stage in ("onnx-raw", "onnx", "tflite"):
        assert sum(f"{stage} cached" in l for l in stage_lines) == 1, stage_lines

    # one complete entry per stage, no temp dirs or locks left
    stages = cache / "stages"
    assert sorted(p.name for p in stages.iterdir()) == ["inspect", "onnx", "onnx-raw", "tflite"]
    for d in stages.iterdir():
        entries = list(d.iterdir())
        assert len(entries) == 1 and (entries[0] / ".complete").is_file(), entries
    assert hidden_leftovers(cache) == [] and hidden_leftovers(dist) == []

    # the artifact is whole: the manifest's hash is the file's, and LiteRT loads it
    target = dist / V5_DET / "tflite-fp16"
    assert sorted(p.name for p in (dist / V5_DET).iterdir()) == ["tflite-fp16"]
    manifest = check_artifact(target)
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_path=str(target / manifest["file"]))
    interp.allocate_tensors()
    _, c, h, w = load_model_config("PP-OCRv5_mobile_det").shape
    assert list(interp.get_input_details()[0]["shape"]) == [1, h, w, c]

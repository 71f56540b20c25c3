"""Seeded fuzzing of everything a user hands the tool: model files (ONNX, TFLite,
inference.json, .pdiparams), cache entries, images and label files, damaged at random
offsets. Every case must end in a one-line error with a hint, or succeed (a heal, or
damage the format tolerates); never a traceback, a hang or a signal; and a failed
conversion leaves dist/ as it was.

Cases run in a child process (tests/fuzz_driver.py) so that a native crash is seen as a
signal. `make fuzz` runs 200 cases; `make test` runs FUZZ_EXAMPLES (default 24).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.models, pytest.mark.slow]

DRIVER = Path(__file__).with_name("fuzz_driver.py")
ANSWER = "@@fuzz-answer@@ "
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "24"))
CASE_TIMEOUT_S = 300  # a paddle2onnx run on damaged-but-parsable weights takes ~15 s
KINDS = ["onnx", "tflite", "paddle-json", "pdiparams", "cache-entry", "image", "labels"]
DAMAGES = ["truncate", "flip-bit", "overwrite-16", "zero-64", "insert-8"]
TALLY: dict[str, int] = {}


def damage(path: Path, how: str, fraction: float, seed: int) -> None:
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    at = min(int(fraction * len(data)), max(len(data) - 1, 0))
    if how == "truncate":
        data = data[:at]
    elif how == "flip-bit":
        data[at] ^= 1 << rng.randrange(8)
    elif how == "overwrite-16":
        data[at:at + 16] = bytes(rng.randrange(256) for _ in range(16))
    elif how == "zero-64":
        data[at:at + 64] = bytes(len(data[at:at + 64]))
    else:
        data[at:at] = bytes(rng.randrange(256) for _ in range(8))
    path.write_bytes(bytes(data))


def snapshot(root: Path, artifacts_only: bool = False) -> dict[str, str]:
    """File digests under root; artifacts_only leaves out build.json (timings, cache hits)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not (artifacts_only and p.name == "build.json")} \
        if root.exists() else {}


class Driver:
    """One long-lived child running cases; restarted after a crash or a hang."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None

    def run(self, case: dict) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, str(DRIVER)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + CASE_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not ready:
                self.close()
                return {"hang": True}
            line = self.proc.stdout.readline()
            if not line:  # the child died
                code = self.proc.wait()
                self.proc = None
                return {"signal": -code if code < 0 else None, "died": code}
            if line.startswith(ANSWER):
                return json.loads(line[len(ANSWER):])

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def driver():
    d = Driver()
    yield d
    d.close()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, images):
    """Good inputs of every kind, a warm cache and a dist/ from a good run."""
    from ppocr_convert.chain.sources import package_path
    from ppocr_convert.cli import app
    from ppocr_convert.config import load_model_config
    from ppocr_convert.inspect_model import import_tensorflow
    from typer.testing import CliRunner
    root = tmp_path_factory.mktemp("fuzz")
    det6 = package_path(load_model_config("PP-OCRv6_tiny_det").sources[0])
    shutil.copyfile(det6, root / "model.onnx")
    shutil.copytree(package_path(load_model_config("PP-OCRv5_mobile_det").sources[0]), root / "paddle")
    tf = import_tensorflow()
    fn = tf.function(lambda x: tf.nn.relu(tf.nn.conv2d(x, tf.ones([3, 3, 3, 4]), 1, "SAME")) + 1.0)
    concrete = fn.get_concrete_function(tf.TensorSpec([1, 16, 16, 3], tf.float32))
    (root / "model.tflite").write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn).convert())
    shutil.copyfile(images[0], root / f"image{images[0].suffix}")
    (root / "labels.json").write_text(json.dumps(
        {"a.jpg": [{"text": "PP-OCR", "box": [[0, 0], [40, 0], [40, 12], [0, 12]]}]}))
    runner = CliRunner()
    for target in ("onnx", "onnx-raw"):
        r = runner.invoke(app, ["PP-OCRv6_tiny_det", "-t", target, "--out", str(root / "dist")],
                          env={"PPOCR_CONVERT_CACHE": str(root / "cache")})
        assert r.exit_code == 0, r.output
    return root


def case_for(kind: str, how: str, fraction: float, seed: int, root: Path, work: Path) -> tuple[dict, Path | None]:
    """Damage a fresh copy of the input of `kind`; returns (driver case, dist dir or None)."""
    shutil.copytree(root / "dist", work / "dist")
    shutil.copytree(root / "cache", work / "cache")
    cache, dist = str(work / "cache"), str(work / "dist")
    convert = ["--out", dist]
    if kind == "onnx":
        shutil.copyfile(root / "model.onnx", work / "model.onnx")
        damage(work / "model.onnx", how, fraction, seed)
        return {"op": "cli", "cache": cache,
                "argv": ["PP-OCRv6_tiny_det", "--model-dir", str(work / "model.onnx"), "-t", "onnx-raw", *convert]}, \
            work / "dist"
    if kind == "tflite":
        shutil.copyfile(root / "model.tflite", work / "model.tflite")
        damage(work / "model.tflite", how, fraction, seed)
        return {"op": "cli", "cache": cache, "argv": ["inspect", str(work / "model.tflite")]}, None
    if kind in ("paddle-json", "pdiparams"):
        shutil.copytree(root / "paddle", work / "paddle")
        damage(work / "paddle" / ("inference.json" if kind == "paddle-json" else "inference.pdiparams"),
               how, fraction, seed)
        return {"op": "cli", "cache": cache,
                "argv": ["PP-OCRv5_mobile_det", "--model-dir", str(work / "paddle"), "-t", "onnx-raw", *convert]}, \
            work / "dist"
    if kind == "cache-entry":
        files = sorted(p for p in (work / "cache" / "stages").rglob("*") if p.is_file())
        damage(random.Random(seed).choice(files), how, fraction, seed)
        return {"op": "cli", "cache": cache, "argv": ["PP-OCRv6_tiny_det", "-t", "onnx", *convert]}, None
    name = "image.jpg" if kind == "image" else "labels.json"
    source = next(root.glob("image.*")) if kind == "image" else root / name
    shutil.copyfile(source, work / name)
    damage(work / name, how, fraction, seed)
    return {"op": "load_image" if kind == "image" else "load_labels", "path": str(work / name)}, None


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), how=st.sampled_from(DAMAGES), fraction=st.floats(0, 1),
       seed=st.integers(0, 2**16))
def test_damaged_inputs_end_in_an_error_line_or_a_heal(pristine, driver, tmp_path_factory, kind, how, fraction,
                                                      seed):
    work = tmp_path_factory.mktemp("case")
    case, dist = case_for(kind, how, fraction, seed, pristine, work)
    before = snapshot(pristine / "dist")
    answer = driver.run(case)
    label = f"{kind}/{how}@{fraction:.3f}"
    assert not answer.get("hang"), f"{label}: no answer within {CASE_TIMEOUT_S} s"
    assert "died" not in answer, f"{label}: the process died (signal {answer.get('signal')})"
    assert answer["exception"] is None, f"{label}: traceback\n{answer['exception']}"
    output = answer["output"]
    assert "Traceback" not in output, f"{label}: {output[-2000:]}"
    if answer["exit"] != 0:
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and len(errors[0]) <= 420, f"{label}: {output[-2000:]}"
        # an unreadable image is a per-image skip reason in the parity report, not a fatal
        # error: one line is its contract; everything else also gives a hint
        assert kind == "image" or "hint:" in output, f"{label}: no hint: {output[-2000:]}"
        if dist is not None:
            assert snapshot(dist) == before, f"{label}: dist/ changed by a failed run"
    elif kind == "cache-entry":  # a heal: one warning, and the artifact as before
        assert output.count("warning:") <= 1, output
        assert snapshot(work / "dist", artifacts_only=True) == snapshot(pristine / "dist", artifacts_only=True), \
            f"{label}: the healed artifact differs"
    TALLY[f"{kind} exit {answer['exit']}"] = TALLY.get(f"{kind} exit {answer['exit']}", 0) + 1
    shutil.rmtree(work, ignore_errors=True)


def test_fuzz_tally():
    """Prints what the cases ended in (run after the fuzz test, in file order)."""
    from conftest import FIGURES
    if TALLY:
        FIGURES["fuzz"] = dict(sorted(TALLY.items()))

"""The test-suite's own rules: every test is `unit` or `models`, and under CI=true a
`models` test that would skip (assets missing) fails instead."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

CONFTEST = Path(__file__).with_name("conftest.py")
SAMPLE = '''
import pytest

@pytest.mark.models
def test_needs_weights():
    pytest.skip("weight package missing")

def test_plain_skip():
    pytest.skip("not on this platform")

@pytest.mark.models
def test_platform_skip():
    pytest.skip("platform: root ignores chmod")

def test_uses_photos(images):
    pass
'''


def _run(tmp_path: Path, ci: str | None) -> str:
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    return r.stdout


def test_models_tests_fail_instead_of_skipping_under_ci(tmp_path):
    out = _run(tmp_path, "true")
    assert "FAILED test_sample.py::test_needs_weights" in out and "weight package missing" in out
    assert "SKIPPED" in out and "not on this platform" in out  # a unit test may still skip
    assert "root ignores chmod" in out and "FAILED test_sample.py::test_platform_skip" not in out


def test_outside_ci_missing_assets_skip(tmp_path):
    out = _run(tmp_path, None)
    assert "FAILED" not in out and "4 skipped" in out


def test_every_collected_test_is_unit_or_models():
    repo = CONFTEST.parents[1]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "--co", "-p", "no:cacheprovider",
                        "-m", "not unit and not models"], capture_output=True, text=True, cwd=repo, timeout=300)
    assert "no tests collected" in r.stdout, r.stdout[-2000:]
    assert r.returncode == 5  # pytest's "nothing collected"

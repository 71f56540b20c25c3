"""The release workflow is valid (two real linters) and calls the make targets people run."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "release.yml"
TEST_WORKFLOW = WORKFLOWS / "test.yml"
BIN = Path(sys.executable).parent


def test_workflow_matches_the_github_schema():
    r = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                        str(WORKFLOW), str(TEST_WORKFLOW)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_workflow_has_no_zizmor_findings():
    r = subprocess.run([str(BIN / "zizmor"), "--offline", str(WORKFLOW.parent)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_workflow_runs_the_local_make_targets():
    text = WORKFLOW.read_text()
    targets = re.findall(r"\bmake (\w[\w-]*)", text)
    assert {"setup", "release"} <= set(targets)
    makefile = (REPO / "Makefile").read_text()
    for t in targets:
        assert re.search(rf"^{re.escape(t)}:", makefile, re.M), f"workflow calls `make {t}`, the Makefile lacks it"


def test_test_workflow_runs_the_readme_test_command_under_ci():
    text = TEST_WORKFLOW.read_text()
    assert re.search(r"^\s+run: make test$", text, re.M)
    assert re.search(r'^\s+CI: "true"$', text, re.M)  # skips for missing assets fail there
    assert "pull_request" in text and "push" in text
    assert "make test" in (REPO / "README.md").read_text()

"""The release workflow is valid (two real linters) and calls the make targets people run."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
BIN = Path(sys.executable).parent


def test_workflow_matches_the_github_schema():
    r = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                       capture_output=True, text=True)
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

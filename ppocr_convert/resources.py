"""Where the data shipped with ppocr-convert lives: model/pipeline configs, goldens,
calibration photos.

An installed wheel carries them inside the package (`ppocr_convert/configs/`,
`ppocr_convert/golden/`, `ppocr_convert/data/calibration/`; see the package-dir
mapping in pyproject.toml) and they are found through `importlib.resources`. A source
checkout (or an editable install of one) keeps `configs/` and `golden/` at the
repository root, so there the package has no such directory and the root's is used.
Everything here returns a real `Path`: the package is never imported from a zip.
"""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

PACKAGE = "ppocr_convert"


def package_dir() -> Path:
    """The directory of the imported ppocr_convert package."""
    return Path(str(files(PACKAGE))).resolve()


def source_root() -> Path | None:
    """The repository root when ppocr_convert runs from a source checkout (editable
    installs included), else None. A checkout is recognised by the files that sit next
    to the package only there: pyproject.toml and passes/__init__.py."""
    root = package_dir().parent
    if (root / "pyproject.toml").is_file() and (root / "passes" / "__init__.py").is_file():
        return root
    return None


def _data_dir(name: str) -> Path:
    """`name` inside the installed package, else at the checkout's root."""
    packaged = package_dir() / name
    if packaged.is_dir():
        return packaged
    root = source_root()
    if root is not None and (root / name).is_dir():
        return root / name
    return packaged  # missing either way: callers report the path they looked in


def configs_dir() -> Path:
    """Model and pipeline configs (or $PPOCR_CONVERT_CONFIGS)."""
    env = os.environ.get("PPOCR_CONVERT_CONFIGS")
    if env:
        return Path(env)
    return _data_dir("configs")


def golden_dir() -> Path:
    """Reference results and op histograms written by `make goldens`."""
    return _data_dir("golden")


def calibration_dir() -> Path:
    """Photos onnx2tf calibrates with (inside the package in both layouts)."""
    return package_dir() / "data" / "calibration"


def repo_file(name: str) -> Path | None:
    """A file at the repository root (requirements-models.txt, ...): only a source
    checkout has one; None when installed from a wheel."""
    root = source_root()
    return root / name if root is not None else None

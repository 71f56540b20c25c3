"""ppocr-convert: PaddleOCR models to ONNX and TFLite, each stage checked against Paddle.

Layout. The wheel installs one top-level package: the graph passes as
`ppocr_convert.passes`, the configs, goldens and calibration photos as package data
(see ppocr_convert.resources). The repository keeps `passes/`, `configs/` and
`golden/` at its root and pyproject.toml maps them into the package when building.

In a source checkout (`python -m pytest` from the root, `PYTHONPATH=.`, or an
editable install) `ppocr_convert/` has no `passes` subdirectory, so the one finder
below maps the name `ppocr_convert.passes` to the checkout's `passes/`, the same
mapping the wheel applies at build time. It is registered only when this package sits
next to that `passes/` (it never is in an installed wheel) and goes first on
sys.meta_path, so a checkout (a git worktree, say) uses its own passes even when the
environment holds an editable install of another checkout, whose setuptools finder
would map the name elsewhere.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    # the single version source is pyproject.toml's [project].version, read back from
    # the installed metadata (a wheel, or an editable install's dist-info)
    __version__ = version("ppocr-convert")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"


class _SourcePassesFinder(importlib.abc.MetaPathFinder):
    """`ppocr_convert.passes` → `<checkout>/passes` (source checkouts only)."""

    name = __name__ + ".passes"

    def __init__(self, directory: Path):
        self.directory = directory

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        # submodules (ppocr_convert.passes.base, ...) are then found by the ordinary
        # path finder in the package's __path__, i.e. in <checkout>/passes
        return importlib.util.spec_from_file_location(
            fullname, self.directory / "__init__.py", submodule_search_locations=[str(self.directory)])


def _map_source_passes() -> None:
    here = Path(__file__).resolve().parent
    if (here / "passes").is_dir():  # installed: the wheel holds ppocr_convert/passes/
        return
    source = here.parent / "passes"
    if not (source / "__init__.py").is_file() or not (here.parent / "pyproject.toml").is_file():
        return
    # a re-import (importlib.reload) replaces the earlier finder instead of adding one
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != _SourcePassesFinder.__name__]
    sys.meta_path.insert(0, _SourcePassesFinder(source))


_map_source_passes()

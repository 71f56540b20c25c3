"""Shared fixtures. Real-model conversions run once per test session (cached in a
session temp dir) so CI stays well under its limit."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Paddle before TensorFlow: the other order segfaults Paddle Inference in one process
# (see ppocr_convert.inspect_model.import_tensorflow); some tests import TensorFlow.
import paddle  # noqa: F401,E402

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO.parent / "shared" / "images"

# figures reported by tests (parity numbers etc.), printed at the end of the run
FIGURES: dict[str, dict] = {}


def shared_images() -> list[Path]:
    if not IMAGES.is_dir():
        return []
    return sorted(p for p in IMAGES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


@pytest.fixture(scope="session")
def images() -> list[Path]:
    found = shared_images()
    if not found:
        pytest.skip(f"real photos not found next to the repo ({IMAGES.relative_to(REPO.parent)})")
    return found


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stage-cache")


@pytest.fixture(scope="session")
def converted(tmp_path_factory, session_cache):
    """convert(name) → {target: artifact path}; each model converted once per session."""
    from ppocr_convert.config import FLOAT_TARGETS, load_model_config
    from ppocr_convert.chain.conversion import ConvertOptions, convert

    dist = tmp_path_factory.mktemp("dist")
    done: dict[str, dict] = {}

    def get(name: str) -> dict:
        if name not in done:
            result = convert(load_model_config(name),
                             ConvertOptions(targets=list(FLOAT_TARGETS), out_dir=dist, cache_dir=session_cache))
            done[name] = {
                "dirs": result.artifact_dirs,
                "manifests": result.manifests,
                "stages": result.stages,
                "paths": {t: result.artifact_dirs[t] / m["file"] for t, m in result.manifests.items()},
            }
        return done[name]

    return get


# Fixtures that hand a test real weights or photos: a test using one is a `models` test.
MODEL_FIXTURES = {"converted", "paddle_reference", "images", "v5_onnx", "v5_pipeline"}


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def render_labelled_pages(out_dir: Path, n_images: int) -> Path:
    """The evaluation set's first `n_images` pages (seed 0) rendered into out_dir; returns
    labels.json's path. Skips when the fonts are missing, except in CI, which installs them
    (a Debian package, .ci/run)."""
    from ppocr_convert.evalset.fonts import FontsNotFound, find_fonts
    from ppocr_convert.evalset.generate import generate
    try:
        find_fonts()
    except FontsNotFound as e:
        if running_in_ci():
            raise
        pytest.skip(str(e))
    return generate(out_dir, n_images=n_images, seed=0)


def pytest_collection_modifyitems(config, items):
    """Every test is `unit` or `models` (`slow` ones are `models` too): `make test-fast`
    runs `-m unit`, which needs no weight package, photo or font."""
    for item in items:
        uses_models = (item.get_closest_marker("slow") or item.get_closest_marker("models")
                       or MODEL_FIXTURES & set(getattr(item, "fixturenames", ())))
        if uses_models and not item.get_closest_marker("models"):
            item.add_marker("models")
        if not uses_models:
            item.add_marker("unit")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a `models` test that skips (photos, fonts or a weight package missing)
    fails: CI must not pass by testing nothing."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and running_in_ci() and item.get_closest_marker("models"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if "platform:" in reason:  # not about assets (e.g. root ignores chmod): a real skip
            return
        report.outcome = "failed"
        report.longrepr = f"CI=true: a models test may not skip ({reason})"


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.write_sep("=", "measured figures")
        terminalreporter.write_line(json.dumps(FIGURES, indent=1, ensure_ascii=False))


@pytest.fixture(scope="session")
def paddle_reference(tmp_path_factory):
    """name → Paddle model dir for the `paddle` reference stage: the packaged Paddle
    model for v4; for v5 (shipped only as ONNX) a rebuild via x2paddle."""
    from ppocr_convert.config import load_model_config
    from ppocr_convert.chain.sources import resolve

    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            config = load_model_config(name)
            src = resolve(config)
            if src.stage == "paddle":
                built[name] = src.path
            else:
                from ppocr_convert.paddle_reference import rebuild_paddle_from_onnx
                built[name] = rebuild_paddle_from_onnx(src.path, tmp_path_factory.mktemp("paddle-ref") / name)
        return built[name]

    return get

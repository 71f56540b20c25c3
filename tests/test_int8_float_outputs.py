"""`[int8] float_outputs`: the op that writes the model output (rec's final SOFTMAX) stays
float in every recipe the stage tries, on a tiny conv → fully-connected → softmax model
quantized for real by ai-edge-quantizer. Why: at int16 activations (a16w8) TFLite's
SOFTMAX tops out below the OCR pipeline's 0.5 drop score, so every line is dropped."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import int8_stage
from ppocr_convert.chain import sensitivity as sens
from ppocr_convert.inspect_model import import_tensorflow
from ppocr_convert.integer_check import integer_report
from tiny_tflite import to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 8, 16, 4)
CLASSES = 18385  # PP-OCRv5 rec's: the int16 SOFTMAX cap shows with this many classes, not with 10


@pytest.fixture(scope="module")
def model() -> bytes:
    tf = import_tensorflow()
    rng = np.random.default_rng(0)
    w = tf.constant(rng.normal(0, 0.3, (3, 3, 4, 8)).astype(np.float32))
    fc = tf.constant(rng.normal(0, 0.5, (8, CLASSES)).astype(np.float32))

    def fn(x):
        y = tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME"))        # (1, 8, 16, 8)
        y = tf.reduce_mean(y, axis=1)                          # (1, 16, 8): a sequence, like rec's
        return tf.nn.softmax(8.0 * tf.matmul(y, fc), axis=-1)  # (1, 16, CLASSES)

    return to_tflite(fn, SHAPE)


def _samples(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.normal(0, 1, SHAPE).astype(np.float32) for _ in range(n)]


def _quantize(model: bytes, **options) -> int8_stage.Int8Build:
    opts = {**int8_stage.DEFAULTS, "bias_correction": 0, **options}
    return int8_stage.quantize_model(model, _samples(8), lambda m: (True, {"line_accuracy": 1.0}), opts, {})


def _softmax_types(path) -> tuple:
    (op,) = [o for o in _ops(path) if o.name == "SOFTMAX"]
    return op.inputs + op.outputs


def _ops(path):
    from ppocr_convert.integer_check import read_op_types
    return read_op_types(path)


def test_output_ops_names_the_op_writing_the_model_output(model):
    assert [op.op for op in sens.output_ops(model)] == ["SOFTMAX"]


@pytest.mark.parametrize("bits", [8, 16])
def test_float_outputs_keeps_the_final_softmax_float_and_the_rest_integer(model, tmp_path, bits):
    kept = _quantize(model, activation_bits=bits, float_outputs=True)
    plain = _quantize(model, activation_bits=bits, float_outputs=False)
    (tmp_path / "kept.tflite").write_bytes(kept.model)
    (tmp_path / "plain.tflite").write_bytes(plain.model)
    assert set(_softmax_types(tmp_path / "kept.tflite")) == {"FLOAT32"}
    assert "FLOAT32" not in _softmax_types(tmp_path / "plain.tflite")
    # only the softmax left integer compute: the conv and the fully connected stay int8-weighted
    report = integer_report(tmp_path / "kept.tflite")
    assert report.float_ops == {"SOFTMAX": 1} and report.int8_weight_share == 1.0
    assert kept.info["float_outputs"] == [sens.output_ops(model)[0].scope]
    assert [k["mode"] for k in kept.info["kept_ops"]] == ["float"] and plain.info["kept_ops"] == []
    # inspect's CPU note on 16-bit activations: said for a16w8, never for a8w8
    assert (report.int16_activation_ops > 0) == (bits == 16)
    from typer.testing import CliRunner

    from ppocr_convert.cli import app
    r = CliRunner().invoke(app, ["inspect", str(tmp_path / "kept.tflite")])
    assert r.exit_code == 0, r.output
    assert ("16-bit activations on" in r.output) == (bits == 16)


def test_float_softmax_gives_the_confidence_fp32_gives_where_int16_caps_it(model):
    """The figure the OCR pipeline drops lines by (0.5): the max probability per time step."""
    xs = _samples(8)[:4]
    ref = np.stack(int8_stage.run_samples(model, xs)).max(-1)
    capped = np.stack(int8_stage.run_samples(_quantize(model, activation_bits=16).model, xs)).max(-1)
    kept = np.stack(int8_stage.run_samples(_quantize(model, activation_bits=16, float_outputs=True).model, xs)).max(-1)
    # the cause: TFLite's int16 SOFTMAX tabulates exp on [-10, 0] only, so each of the other
    # 18384 classes adds at least e^-10 to the sum: the top probability cannot pass ~0.55
    assert ref.max() > 0.9 and capped.max() < 0.5
    assert kept.max() > 0.9 and np.abs(kept - ref).mean() < 0.05

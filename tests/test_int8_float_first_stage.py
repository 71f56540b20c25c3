"""`[int8] float_first_stage`: a det's stem, up to its second downsampling, stays float in
every recipe the stage tries (sensitivity.first_stage_ops), on tiny conv models quantized
for real by ai-edge-quantizer. Why: all-int8 there loses a dark, low-contrast page's text
(README, INT8)."""
from __future__ import annotations

import pytest

from ppocr_convert.chain import int8_stage
from ppocr_convert.chain import sensitivity as sens
from ppocr_convert.inspect_model import import_tensorflow
from ppocr_convert.integer_check import integer_report
from tiny_tflite import conv_weights, normal_samples, to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 16, 16, 3)


def _convs(strides: list[int]) -> bytes:
    """One ReLU conv per stride, 8 channels each."""
    tf = import_tensorflow()
    ws = conv_weights(0, (3, 3, 3, 8), *[(3, 3, 8, 8)] * (len(strides) - 1))

    def fn(x):
        for w, s in zip(ws, strides):
            x = tf.nn.relu(tf.nn.conv2d(x, w, s, "SAME"))
        return x
    return to_tflite(fn, SHAPE)


@pytest.fixture(scope="module")
def backbone() -> bytes:
    return _convs([2, 1, 2, 1])   # 16 -> 8 -> 8 -> 4 -> 4: the first two are the stem


def test_the_first_stage_ends_at_the_second_downsampling(backbone):
    ops = sens.graph_ops(backbone)
    assert [op.op for op in ops] == ["CONV_2D"] * 4
    assert [op.index for op in sens.first_stage_ops(backbone)] == [0, 1]


def test_a_stem_that_quarters_the_input_at_once_has_no_first_stage():
    assert sens.first_stage_ops(_convs([4, 1])) == []


def test_a_model_that_never_downsamples_is_all_first_stage():
    assert [op.index for op in sens.first_stage_ops(_convs([1, 1]))] == [0, 1]


def _quantize(model: bytes, **options) -> int8_stage.Int8Build:
    opts = {**int8_stage.DEFAULTS, "bias_correction": 0, **options}
    return int8_stage.quantize_model(model, normal_samples(SHAPE, 8, 1.0),
                                     lambda m: (True, {"line_accuracy": 1.0}), opts, {})


def test_float_first_stage_keeps_the_stem_float_and_the_rest_int8(backbone, tmp_path):
    kept, plain = _quantize(backbone, float_first_stage=True), _quantize(backbone)
    (tmp_path / "kept.tflite").write_bytes(kept.model)
    (tmp_path / "plain.tflite").write_bytes(plain.model)
    stem = [op.scope for op in sens.first_stage_ops(backbone)]
    assert kept.info["float_first_stage"] == stem and plain.info["float_first_stage"] == []
    assert [k["mode"] for k in kept.info["kept_ops"]] == ["float", "float"] and plain.info["kept_ops"] == []
    # the two stem convs compute in float; the two after the downsampling keep int8 weights
    kept_report, plain_report = integer_report(tmp_path / "kept.tflite"), integer_report(tmp_path / "plain.tflite")
    assert kept_report.float_ops == {"CONV_2D": 2} and kept_report.int8_weight_share == 0.5
    assert plain_report.float_ops == {} and plain_report.int8_weight_share == 1.0

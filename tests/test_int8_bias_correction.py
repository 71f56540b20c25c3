"""Bias correction of int8 weights (chain/bias_correction.py) on tiny TFLite models: the
int8 model's mean output per channel matches fp32's, ops kept in float get their own bias
back, and the shift formula matches a direct convolution for every weighted op layout."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import bias_correction as bc
from ppocr_convert.chain.quantize import Int8Quantizer, build_recipe, weight_only_recipe
from ppocr_convert.inspect_model import import_tensorflow
from tiny_tflite import to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 12, 40, 8)


@pytest.fixture(scope="module")
def model() -> bytes:
    """conv 3x3 (8→16) + bias → depthwise 3x3 + bias → conv 1x1 (16→4) + bias. Inputs
    with a large per-channel mean, like the uniform padding of a rec line: the case where
    int8 weight rounding turns into one offset per output channel."""
    tf = import_tensorflow()
    rng = np.random.default_rng(0)
    w1 = tf.constant(rng.normal(0, 0.2, (3, 3, 8, 16)).astype(np.float32))
    b1 = tf.constant(rng.normal(0, 0.1, 16).astype(np.float32))
    dw = tf.constant(rng.normal(0, 0.3, (3, 3, 16, 1)).astype(np.float32))
    b2 = tf.constant(rng.normal(0, 0.1, 16).astype(np.float32))
    w3 = tf.constant(rng.normal(0, 0.3, (1, 1, 16, 4)).astype(np.float32))
    b3 = tf.constant(rng.normal(0, 0.1, 4).astype(np.float32))

    def fn(x):
        y = tf.nn.bias_add(tf.nn.conv2d(x, w1, 1, "SAME"), b1)
        y = tf.nn.bias_add(tf.nn.depthwise_conv2d(y, dw, [1, 1, 1, 1], "SAME"), b2)
        return tf.nn.bias_add(tf.nn.conv2d(y, w3, 1, "SAME"), b3)

    return to_tflite(fn, SHAPE)


def _samples(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    offset = np.linspace(-3, 3, SHAPE[-1]).astype(np.float32)  # a constant level per channel
    return [(offset + rng.normal(0, 0.3, SHAPE)).astype(np.float32) for _ in range(n)]


def _run(model: bytes, xs: list[np.ndarray]) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=model)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    out = []
    for x in xs:
        it.set_tensor(i, x)
        it.invoke()
        out.append(np.array(it.get_tensor(o)))
    return np.stack(out)


def _mean_error(model: bytes, reference: bytes, xs) -> float:
    """RMS over output channels of the mean (over samples and positions) output error."""
    err = _run(model, xs) - _run(reference, xs)
    return float(np.sqrt((err.mean(axis=(0, 1, 2, 3)) ** 2).mean()))


def test_corrected_int8_weights_keep_each_channels_mean_output(model):
    calibration, held_out = _samples(8, 1), _samples(8, 2)
    q = Int8Quantizer(model, calibration)
    assert len(q.biases) == 3  # every weighted op
    off = Int8Quantizer(model, calibration, bias_correction=0)
    try:
        plain, fixed = off._run(off.model, weight_only_recipe()), q._run(q._path.read_bytes(), weight_only_recipe())
        before, after = _mean_error(plain, model, held_out), _mean_error(fixed, model, held_out)
        assert before > 5e-3 and after < before / 4, (before, after)
        # the same through the static (int8 activations) recipe the stage ships
        s_before = _mean_error(off.quantize(build_recipe()), model, held_out)
        s_after = _mean_error(q.quantize(build_recipe()), model, held_out)
        assert s_after < s_before / 2, (s_before, s_after)
    finally:
        q.close()
        off.close()


def test_an_op_kept_in_float_gets_its_original_bias_back(model):
    q = Int8Quantizer(model, _samples(4, 1))
    try:
        from ai_edge_litert.tools import flatbuffer_utils as fbu
        obj = fbu.convert_bytearray_to_object(bytearray(q.model))
        graph = obj.subgraphs[0]
        scopes = [bc.op_scope(graph, op) for kind, op in bc._weighted_ops(obj)]
        everything_float = build_recipe([(s, "float") for s in scopes])
        # nothing int8 left: the float model, original biases and all
        xs = _samples(2, 3)
        assert np.allclose(_run(q.quantize(everything_float), xs), _run(q.model, xs), atol=1e-4)
        one_float = q.quantize(build_recipe([(scopes[0], "float")]))
        assert bc.weight_errors(q.model, one_float).keys() == set(scopes[1:])
    finally:
        q.close()


def test_bias_correction_can_be_switched_off(model):
    q = Int8Quantizer(model, _samples(2, 1), bias_correction=0)
    try:
        assert q.biases == {} and q._path.read_bytes() == q.model
    finally:
        q.close()


@pytest.mark.parametrize("groups", [1, 4])
def test_output_shift_of_a_conv_matches_a_direct_convolution(groups):
    rng = np.random.default_rng(groups)
    cin, cout = 8, 12
    dw = rng.normal(size=(cout, 3, 3, cin // groups))
    mean = rng.normal(size=cin)
    # a constant input (the mean everywhere), one VALID output position
    patch = np.broadcast_to(mean, (3, 3, cin))
    per_group, width = cout // groups, cin // groups
    direct = np.array([np.sum(dw[j] * patch[..., (j // per_group) * width:(j // per_group + 1) * width])
                       for j in range(cout)])
    assert np.allclose(bc.output_shift("CONV_2D", dw, mean), direct)


def test_output_shift_of_depthwise_and_fully_connected():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=6)
    dw = rng.normal(size=(1, 5, 5, 12))  # depth multiplier 2: output channel c reads input c // 2
    assert np.allclose(bc.output_shift("DEPTHWISE_CONV_2D", dw, mean),
                       dw.sum(axis=(0, 1, 2)) * mean[np.arange(12) // 2])
    fc = rng.normal(size=(3, 6))
    assert np.allclose(bc.output_shift("FULLY_CONNECTED", fc, mean), fc @ mean)


def test_stage_progress_counts_the_blocks_kept_and_the_manifest_names_the_chosen_step(model):
    from ppocr_convert.chain import int8_stage
    messages = []
    options = {**int8_stage.DEFAULTS, "max_blocks": 2, "sensitivity_samples": 2, "bias_correction": 2}
    result = int8_stage.quantize_model(model, _samples(4, 1), lambda m: (False, {"line_accuracy": 0.5, "cer": 0.1}),
                                       options, {"digest": "x"}, messages.append)
    steps = result.info["search"]
    assert len(steps) == 3  # all-int8, then one block, then two
    kept = [m.split(" block(s)")[0] for m in messages if "block(s) kept" in m]
    assert kept == ["1", "2"], messages
    # nothing beat all-int8 (equal figures): the shipped model is step 0, and says so
    assert result.info["search_chosen_step"] == 0 and result.info["kept_blocks"] == []
    assert result.info["scheme"]["bias_correction"] == {"ops": 3, "samples": 2}


def test_weight_only_int8_keeps_float_compute_and_is_bias_corrected(model):
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    from ppocr_convert.chain.quantize import quantize_weights_only
    calibration, held_out = _samples(8, 1), _samples(8, 2)
    plain = quantize_weights_only(model, calibration, bias_correction=0)
    fixed = quantize_weights_only(model, calibration)
    obj = fbu.convert_bytearray_to_object(bytearray(fixed))
    names = [str(fbu.opcode_to_name(obj, op.opcodeIndex)) for op in obj.subgraphs[0].operators]
    assert names.count("DEQUANTIZE") == 3 and "QUANTIZE" not in names  # int8 weights, float activations
    assert len(bc.weight_errors(model, fixed)) == 3
    assert _mean_error(fixed, model, held_out) < _mean_error(plain, model, held_out) / 4

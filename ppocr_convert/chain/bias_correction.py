"""Bias correction for int8 weights (the empirical form of Nagel et al. 2019, "Data-Free
Quantization Through Weight Equalization and Bias Correction").

Rounding a weighted op's weights to int8 (per output channel, symmetric) leaves an error
dW whose effect on the output has a non-zero mean: E[dW x] = dW E[x], one offset per
output channel. Per-channel int8 keeps dW small (about 1 % of each channel's weights on
PP-OCRv5 rec), but the offset is what a uniform region turns that error into: PP-OCR rec's
right padding (every line narrower than its width bucket) is constant, so there the whole
error is that offset, and the PP-LCNetV3 backbone amplifies it layer after layer (measured:
the padded columns' error reaches the size of the signal while the text columns' stays
~5 %), then the SVTR neck's attention mixes the damaged padding into every character.
The correction: before quantizing, subtract dW E[x] from each weighted op's float bias,
E[x] its input's per-channel mean over calibration samples (fp32 model). The quantizer
rounds the very same weights afterwards (the bias does not change a weight scale), so the
int8 op's mean output matches fp32's.

Only ops whose weights end up int8 may keep the corrected bias: an op kept in float
needs its original one (`Int8Quantizer` restores it per recipe).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")

_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 9: np.int8, 7: np.int16, 4: np.int64}  # schema.TensorType


def _name(graph, i: int) -> str:
    n = graph.tensors[i].name
    return n.decode() if isinstance(n, bytes) else str(n)


def op_scope(graph, op) -> str:
    """How a recipe names an op: its output tensor names, each followed by ';'."""
    return "".join(f"{_name(graph, o)};" for o in op.outputs if o >= 0)


def _constant(obj, raw: bytes, graph, i: int) -> np.ndarray | None:
    """A constant tensor's values, wherever the flatbuffer keeps them (inline, or, as
    ai-edge-quantizer writes large models, after the flatbuffer at an offset)."""
    t = graph.tensors[i]
    buf = obj.buffers[t.buffer]
    if buf is None or t.type not in _DTYPES:
        return None
    if buf.data is not None and len(buf.data) > 0:
        data = np.asarray(buf.data, np.uint8).tobytes()
    elif getattr(buf, "offset", 0) and buf.offset > 1 and buf.size:
        data = raw[buf.offset:buf.offset + buf.size]
    else:
        return None
    return np.frombuffer(data, _DTYPES[t.type]).reshape(t.shape)


def _weight(obj, raw: bytes, graph, op, producers: dict[int, Any]) -> tuple[np.ndarray, Any] | None:
    """(values, tensor) of a weighted op's weights (input 1), through an explicit DEQUANTIZE."""
    i = op.inputs[1]
    if _constant(obj, raw, graph, i) is None and i in producers:
        i = producers[i].inputs[0]
    values = _constant(obj, raw, graph, i)
    return None if values is None else (values, graph.tensors[i])


def _weighted_ops(obj) -> list[tuple[str, Any]]:
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    graph = obj.subgraphs[0]
    return [(str(fbu.opcode_to_name(obj, op.opcodeIndex)), op) for op in graph.operators
            if str(fbu.opcode_to_name(obj, op.opcodeIndex)) in WEIGHTED_OPS]


def weight_errors(fp32: bytes, quantized: bytes) -> dict[str, np.ndarray]:
    """Per weighted op scope: its int8 weights (as `quantized` holds them, dequantized)
    minus its float weights. Ops whose weights stayed float are left out."""
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    a = fbu.convert_bytearray_to_object(bytearray(fp32))
    b = fbu.convert_bytearray_to_object(bytearray(quantized))
    ga, gb = a.subgraphs[0], b.subgraphs[0]
    producers = {o: op for op in gb.operators for o in op.outputs}
    by_scope = {op_scope(gb, op): op for op in gb.operators}
    out = {}
    for _, op in _weighted_ops(a):
        scope = op_scope(ga, op)
        w = _constant(a, fp32, ga, op.inputs[1])
        qop = by_scope.get(scope)
        found = _weight(b, quantized, gb, qop, producers) if qop is not None else None
        if found is None or w is None:
            continue
        q, tensor = found
        quant = tensor.quantization
        if quant is None or quant.scale is None or q.dtype.kind not in "iu":
            continue
        scale = np.asarray(quant.scale, np.float64)
        zero = np.asarray(quant.zeroPoint if quant.zeroPoint is not None else [0], np.float64)
        if scale.size > 1:
            shape = [-1 if ax == quant.quantizedDimension else 1 for ax in range(q.ndim)]
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        out[scope] = (q.astype(np.float64) - zero) * scale - w.astype(np.float64)
    return out


def output_shift(op: str, dw: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Mean change of each output channel that weight error `dw` causes on inputs whose
    per-channel mean is `mean` (TFLite layouts; image borders ignored)."""
    mean = np.asarray(mean, np.float64)
    if op == "FULLY_CONNECTED":          # dw [out, in]
        return dw @ mean
    if op == "DEPTHWISE_CONV_2D":        # dw [1, kh, kw, in * multiplier]
        return dw.sum(axis=(0, 1, 2)) * np.repeat(mean, dw.shape[3] // mean.shape[0])
    # CONV_2D dw [out, kh, kw, in / groups]; a grouped conv reads its group's slice of the input
    per_input = dw.sum(axis=(1, 2))
    width = dw.shape[3]
    groups = mean.shape[0] // width
    per_group = dw.shape[0] // groups
    return np.array([per_input[j] @ mean[(j // per_group) * width:(j // per_group + 1) * width]
                     for j in range(dw.shape[0])])


def input_means(model: bytes, samples: list[np.ndarray], names: set[str]) -> dict[str, np.ndarray]:
    """Per tensor name: its per-channel (last axis) mean over the samples."""
    from .fp32_capture import capture
    return capture(model, samples, means_of=names, mean_samples=len(samples)).channel_means


@dataclass
class BiasPlan:
    """What bias correction needs from a model pair before any sample is run: per weighted
    op with a float bias of its own, its kind, scope, input tensor and bias, and the int8
    weight errors. `corrected(means)` then applies the input means however they were
    captured (one pass shared with the percentile ranges, see fp32_capture.py)."""
    ops: list[tuple[str, str, str, np.ndarray]]
    errors: dict[str, np.ndarray]

    @property
    def inputs(self) -> set[str]:
        return {source for _, _, source, _ in self.ops}

    def corrected(self, means: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for kind, scope, source, bias in self.ops:
            if source in means:
                shift = output_shift(kind, self.errors[scope], means[source])
                out[scope] = (bias.astype(np.float64) - shift).astype(np.float32)
        return out


def bias_plan(fp32: bytes, quantized: bytes) -> BiasPlan:
    """The weighted ops of `fp32` whose bias can be corrected for the int8 weights
    `quantized` holds. Ops without a float bias of their own (none, or one shared with
    another op) are left out."""
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    errors = weight_errors(fp32, quantized)
    obj = fbu.convert_bytearray_to_object(bytearray(fp32))
    graph = obj.subgraphs[0]
    users: dict[int, int] = {}
    for op in graph.operators:
        for i in op.inputs:
            if i >= 0:
                users[graph.tensors[i].buffer] = users.get(graph.tensors[i].buffer, 0) + 1
    todo = []
    for kind, op in _weighted_ops(obj):
        scope = op_scope(graph, op)
        if scope not in errors or len(op.inputs) < 3 or op.inputs[2] < 0:
            continue
        bias = _constant(obj, fp32, graph, op.inputs[2])
        if bias is None or bias.dtype != np.float32 or users[graph.tensors[op.inputs[2]].buffer] != 1:
            continue
        todo.append((kind, scope, _name(graph, op.inputs[0]), bias))
    return BiasPlan(todo, errors)


def corrected_biases(fp32: bytes, quantized: bytes, samples: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per weighted op scope: its float bias minus the mean output error its int8 weights
    (as `quantized` holds them) add on `samples`."""
    plan = bias_plan(fp32, quantized)
    return plan.corrected(input_means(fp32, samples, plan.inputs))


def with_biases(model: bytes, biases: dict[str, np.ndarray]) -> bytes:
    """`model` with the float bias of each named op (scope → values) replaced."""
    if not biases:
        return model
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    obj = fbu.convert_bytearray_to_object(bytearray(model))
    graph = obj.subgraphs[0]
    done = 0
    for op in graph.operators:
        values = biases.get(op_scope(graph, op))
        if values is None:
            continue
        tensor = graph.tensors[op.inputs[2]]
        if list(tensor.shape) != list(values.shape):
            raise ValueError(f"bias of {op_scope(graph, op)}: shape {list(values.shape)}, "
                             f"model has {list(tensor.shape)}")
        obj.buffers[tensor.buffer].data = np.frombuffer(np.asarray(values, np.float32).tobytes(), np.uint8)
        done += 1
    if done != len(biases):
        raise ValueError(f"{len(biases) - done} bias(es) name no op of this model")
    return bytes(fbu.convert_object_to_bytearray(obj))

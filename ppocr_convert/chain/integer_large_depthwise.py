"""DEPTHWISE_CONV_2D with a kernel wider than 5 (PP-OCRv6 small det's 7x7 neck convolutions)
rewritten before int8 quantization as one PAD and, per piece of the kernel of at most 5x5,
a SLICE and a VALID DEPTHWISE_CONV_2D, the pieces summed by ADDs.

Why: LiteRT 2.3's XNNPACK runs depthwise kernels of up to 25 taps fast and a 7x7 (49 taps)
slowly, int8 most of all. One 7x7 depthwise convolution over 256x256x96 took 1,585 ms in
int8 against 277 ms in float, a 5x5 19 ms against 9 ms (TensorFlow-converted one-op models,
1 thread). PP-OCRv6 small det's int8 file ran at about twice fp32's time; with its two
widest 7x7 convolutions kept float it ran at 0.75x. Keeping them float would leave the file
not fully integer, which NPU delegates need; this rewrite keeps it integer (README, INT8).

Why it is exact in float: output[y, x] = sum over taps (i, j) of P[y + i, x + j] * K[i, j]
with P the padded input. The taps are split into row and column chunks of at most 5; the
chunk starting at (r0, c0) is a VALID depthwise convolution of P[r0:, c0:] with its part of
K, so the pieces sum to the same products (in another order: float rounding). The bias is
added once (by the first piece), the fused activation after the last ADD. In int8 each
piece's output and each partial sum gets its own range (more roundings than one op).

Only the int8 stage's copy of the model is rewritten: fp32/fp16 artifacts keep the 7x7 op,
which the GPU delegate runs.
"""
from __future__ import annotations

import numpy as np

from .tflite_edit import FloatGraphEditor, replace_each

MAX_SIDE = 5   # 25 taps: the largest depthwise kernel XNNPACK runs fast (see above)


def without_large_depthwise(model: bytes) -> tuple[bytes, int]:
    """(`model` with every float stride-1 depthwise convolution whose kernel is wider than
    MAX_SIDE rewritten as pieces of at most MAX_SIDE x MAX_SIDE, how many were). Others
    (strided, dilated, depth multiplier > 1, small kernels) are left alone."""
    return replace_each(model, _rewritable, _as_pieces)


def _as_pieces(edit: FloatGraphEditor, o, found) -> list:
    schema = edit.schema
    new_ops: list = []
    x, out, weights, bias, pads = found
    n, _, _, channels = (int(d) for d in edit.graph.tensors[x].shape)
    _, h_out, w_out, _ = (int(d) for d in edit.graph.tensors[out].shape)
    base = edit.name(out)
    padded = x
    if any(pads):
        top, bottom, left, right = pads
        padded = edit.add_tensor(f"{base}/padded", shape=(n, h_out + weights.shape[1] - 1,
                                                           w_out + weights.shape[2] - 1, channels))
        widths = edit.add_int32(f"{base}/padded/paddings",
                                np.array([[0, 0], [top, bottom], [left, right], [0, 0]]))
        new_ops.append(edit.add_op(schema.BuiltinOperator.PAD, [x, widths], [padded],
                                   schema.BuiltinOptions.PadOptions, schema.PadOptionsT()))
    pieces = [(r0, rh, c0, cw) for r0, rh in _chunks(weights.shape[1]) for c0, cw in _chunks(weights.shape[2])]
    total = None
    for k, (r0, rh, c0, cw) in enumerate(pieces):
        name = f"{base}/taps_{r0}_{c0}"
        window = edit.add_tensor(f"{name}/input", shape=(n, h_out + rh - 1, w_out + cw - 1, channels))
        begin = edit.add_int32(f"{name}/begin", np.array([0, r0, c0, 0]))
        size = edit.add_int32(f"{name}/size", np.array([n, h_out + rh - 1, w_out + cw - 1, channels]))
        new_ops.append(edit.add_op(schema.BuiltinOperator.SLICE, [padded, begin, size], [window],
                                   schema.BuiltinOptions.SliceOptions, schema.SliceOptionsT()))
        piece_w = edit.add_tensor(f"{name}/weights", values=weights[:, r0:r0 + rh, c0:c0 + cw, :])
        piece_b = edit.add_tensor(f"{name}/bias", values=bias if k == 0 else np.zeros_like(bias))
        piece = edit.add_tensor(name, shape=(n, h_out, w_out, channels))
        options = schema.DepthwiseConv2DOptionsT()
        options.padding, options.strideW, options.strideH = schema.Padding.VALID, 1, 1
        options.depthMultiplier, options.dilationWFactor, options.dilationHFactor = 1, 1, 1
        options.fusedActivationFunction = schema.ActivationFunctionType.NONE
        new_ops.append(edit.add_op(schema.BuiltinOperator.DEPTHWISE_CONV_2D, [window, piece_w, piece_b], [piece],
                                   schema.BuiltinOptions.DepthwiseConv2DOptions, options))
        if total is None:
            total = piece
            continue
        last = k == len(pieces) - 1
        target = out if last else edit.add_tensor(f"{base}/sum_{k}", shape=(n, h_out, w_out, channels))
        activation = o.builtinOptions.fusedActivationFunction if last else None
        new_ops.append(edit.add(total, piece, target, activation))
        total = target
    return new_ops


def _chunks(side: int) -> list[tuple[int, int]]:
    """(start, length) of consecutive pieces of at most MAX_SIDE covering `side` taps."""
    return [(s, min(MAX_SIDE, side - s)) for s in range(0, side, MAX_SIDE)]


def _rewritable(edit: FloatGraphEditor, o):
    """(x, out, weights [1, kh, kw, C], bias [C], (top, bottom, left, right) padding) when `o`
    is a float DEPTHWISE_CONV_2D with stride 1, no dilation, depth multiplier 1, constant
    weights and a kernel side above MAX_SIDE."""
    schema = edit.schema
    if edit.builtin(o) != schema.BuiltinOperator.DEPTHWISE_CONV_2D or len(o.inputs) not in (2, 3):
        return None
    x, w_i, *rest = (int(i) for i in o.inputs)
    out = int(o.outputs[0])
    weights = edit.constant(w_i)
    has_bias = bool(rest) and rest[0] >= 0
    bias = edit.constant(rest[0]) if has_bias else None
    opts = o.builtinOptions
    if (weights is None or weights.ndim != 4 or (has_bias and bias is None)
            or not all(map(edit.is_float, (x, w_i, out)))
            or (opts.strideH, opts.strideW, opts.dilationHFactor, opts.dilationWFactor) != (1, 1, 1, 1)):
        return None
    in_shape = [int(d) for d in edit.graph.tensors[x].shape]
    _, k_h, k_w, channels = weights.shape
    if len(in_shape) != 4 or in_shape[3] != channels or max(k_h, k_w) <= MAX_SIDE:
        return None
    if opts.padding == schema.Padding.SAME:   # stride 1: the extra row/column goes after
        pads = ((k_h - 1) // 2, k_h - 1 - (k_h - 1) // 2, (k_w - 1) // 2, k_w - 1 - (k_w - 1) // 2)
    else:
        pads = (0, 0, 0, 0)
    expected = [in_shape[0], in_shape[1] + pads[0] + pads[1] - k_h + 1, in_shape[2] + pads[2] + pads[3] - k_w + 1,
                channels]
    if [int(d) for d in edit.graph.tensors[out].shape] != expected:
        return None
    flat_bias = (np.asarray(bias, np.float32).ravel() if bias is not None else np.zeros(channels, np.float32))
    return x, out, np.asarray(weights, np.float32), flat_bias, pads

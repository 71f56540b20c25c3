"""TRANSPOSE_CONV whose kernel equals its stride (DBNet's 2x2, stride 2 upsampling in the
head) rewritten before int8 quantization as a 1x1 CONV_2D to stride^2 * O channels and a
pixel shuffle (RESHAPE, TRANSPOSE, RESHAPE).

Why: in LiteRT 2.3 an int8 TRANSPOSE_CONV is slow on the CPU. PP-OCRv6 tiny det's two head
transposed convolutions (256^2 -> 512^2 -> 1024^2) took about 290 of the all-int8 model's
~490 ms at 1 thread, where the same model with them in float ran in ~200 ms (fp32: ~310 ms;
PP-OCRv5 det: 754 -> 488 ms). Keeping them float would leave the file not fully integer,
which NPU delegates need; this rewrite keeps it integer and fast (README, INT8).

Why it is exact: with kernel == stride and VALID padding each output pixel (s*i + a, s*j + b)
receives exactly one kernel tap, W[o, a, b, :] . x[i, j, :] + bias[o]: a 1x1 convolution to
channel (a*s + b)*O + o, whose channels the shuffle moves to their pixels. The same products
are summed in the same order, so the float model computes what it did (to float rounding of
the accumulation order), and int8 quantizes the 1x1 convolution's weights per output
channel, i.e. per (a, b, o), at least as finely as per o.

Only the int8 stage's copy of the model is rewritten: fp32/fp16 artifacts keep
TRANSPOSE_CONV, which the GPU delegate runs.
"""
from __future__ import annotations

import numpy as np

from .tflite_edit import FloatGraphEditor, replace_each


def without_transpose_conv(model: bytes) -> tuple[bytes, int]:
    """(`model` with every float TRANSPOSE_CONV of kernel == stride, VALID padding and
    constant weights rewritten, how many were). Others are left alone."""
    return replace_each(model, _rewritable, _as_conv_and_shuffle)


def _as_conv_and_shuffle(edit: FloatGraphEditor, o, found) -> list:
    schema = edit.schema
    new_ops: list = []
    x, out, weights, bias, stride = found
    n, h, w, _ = (int(d) for d in edit.graph.tensors[x].shape)
    channels_out, _, _, channels_in = weights.shape
    base = edit.name(out)
    # W'[(a*s + b)*O + o, 0, 0, c] = W[o, a, b, c]
    w1x1 = weights.transpose(1, 2, 0, 3).reshape(stride * stride * channels_out, 1, 1, channels_in)
    b1x1 = np.tile(bias, stride * stride) if bias is not None else np.zeros(len(w1x1), np.float32)
    conv_w = edit.add_tensor(f"{base}/as_1x1_conv/weights", values=w1x1)
    conv_b = edit.add_tensor(f"{base}/as_1x1_conv/bias", values=b1x1)
    conv_out = edit.add_tensor(f"{base}/as_1x1_conv", shape=(n, h, w, len(w1x1)))
    conv = schema.Conv2DOptionsT()
    conv.padding, conv.strideW, conv.strideH = schema.Padding.VALID, 1, 1
    conv.dilationWFactor = conv.dilationHFactor = 1
    conv.fusedActivationFunction = getattr(o.builtinOptions, "fusedActivationFunction",
                                           schema.ActivationFunctionType.NONE)
    new_ops.append(edit.add_op(schema.BuiltinOperator.CONV_2D, [x, conv_w, conv_b], [conv_out],
                               schema.BuiltinOptions.Conv2DOptions, conv))
    # pixel shuffle: [N*H, W, s, s*O] -> [N*H, s, W, s*O] is row-major [N, s*H, s*W, O]
    rows = (n * h, w, stride, stride * channels_out)
    new_ops += _reshape(edit, conv_out, rows, f"{base}/shuffle_rows")
    moved = edit.add_tensor(f"{base}/shuffle_moved", shape=(n * h, stride, w, stride * channels_out))
    perm = edit.add_int32(f"{base}/shuffle_perm", np.array([0, 2, 1, 3]))
    new_ops.append(edit.add_op(schema.BuiltinOperator.TRANSPOSE, [new_ops[-1].outputs[0], perm], [moved],
                               schema.BuiltinOptions.TransposeOptions, schema.TransposeOptionsT()))
    new_ops += _reshape(edit, moved, (n, stride * h, stride * w, channels_out), None, out)
    return new_ops


def _rewritable(edit: FloatGraphEditor, o):
    """(x, out, weights [O, k, k, I], bias or None, stride) when `o` is a float TRANSPOSE_CONV
    with kernel == stride, VALID padding, constant weights and output = stride x input."""
    schema = edit.schema
    if edit.builtin(o) != schema.BuiltinOperator.TRANSPOSE_CONV or len(o.inputs) not in (3, 4):
        return None
    _, w_i, x, *rest = (int(i) for i in o.inputs)
    out = int(o.outputs[0])
    weights = edit.constant(w_i)
    bias = edit.constant(rest[0]) if rest and rest[0] >= 0 else None
    opts = o.builtinOptions
    if (weights is None or weights.ndim != 4 or (rest and rest[0] >= 0 and bias is None)
            or not all(map(edit.is_float, (x, w_i, out))) or opts.padding != schema.Padding.VALID):
        return None
    stride = int(opts.strideH)
    _, k_h, k_w, _ = weights.shape
    in_shape = [int(d) for d in edit.graph.tensors[x].shape]
    out_shape = [int(d) for d in edit.graph.tensors[out].shape]
    if (opts.strideW != stride or k_h != stride or k_w != stride or len(in_shape) != 4
            or out_shape != [in_shape[0], stride * in_shape[1], stride * in_shape[2], weights.shape[0]]):
        return None
    flat_bias = np.asarray(bias, np.float32).ravel() if bias is not None else None
    return x, out, np.asarray(weights, np.float32), flat_bias, stride


def _reshape(edit: FloatGraphEditor, x: int, shape: tuple[int, ...], name: str | None, out: int | None = None):
    """[RESHAPE of `x` to `shape`], into `out` or a new tensor called `name`."""
    schema = edit.schema
    target = out if out is not None else edit.add_tensor(str(name), shape=shape)
    new_shape = edit.add_int32(f"{edit.name(target)}/shape", np.array(shape))
    options = schema.ReshapeOptionsT()
    options.newShape = list(shape)
    return [edit.add_op(schema.BuiltinOperator.RESHAPE, [x, new_shape], [target],
                        schema.BuiltinOptions.ReshapeOptions, options)]

"""MINIMUM(x, c), c constant, rewritten as -MAXIMUM(-x, -c) before int8 quantization:
MUL(MAXIMUM(MUL(x, -1), -c), -1).

Why: onnx2tf lowers the hard-sigmoid's Clip(0, 1) (PP-LCNet's squeeze-excite gates, after
`hardsigmoid_decompose`) to MINIMUM then RELU, and ai-edge-quantizer 0.10.0 has no int8 or
int16 policy for MINIMUM, while it has one for MAXIMUM and MUL. Each MINIMUM stayed float,
wrapped in a DEQUANTIZE/QUANTIZE pair: PP-OCRv5 det kept 10, rec 2, so no file was fully
integer, which NPU delegates need. Negation is exact in floating point, so the rewritten
float model computes bit for bit what the original did; only the int8 model changes (two
requantizations per gate, on 1x1xC tensors).

Only the int8 stage's copy of the model is rewritten: the fp32/fp16 artifacts keep
MINIMUM, which the GPU delegate runs.
"""
from __future__ import annotations

import numpy as np


def without_minimum(model: bytes) -> tuple[bytes, int]:
    """(`model` with every float MINIMUM of an activation and a constant rewritten, how
    many were). MINIMUMs of two activations, or of non-float tensors, are left alone."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fbu

    from .bias_correction import _constant, _name
    obj = fbu.convert_bytearray_to_object(bytearray(model))
    graph = obj.subgraphs[0]

    def opcode(builtin: int) -> int:
        for i, code in enumerate(obj.operatorCodes):
            if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
                return i
        code = schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
        obj.operatorCodes.append(code)
        return len(obj.operatorCodes) - 1

    def tensor(like, name: str, values: np.ndarray | None = None) -> int:
        buf = schema.BufferT()
        if values is not None:
            buf.data = np.frombuffer(np.ascontiguousarray(values, np.float32).tobytes(), np.uint8)
        obj.buffers.append(buf)
        t = schema.TensorT()
        t.type, t.buffer, t.name = schema.TensorType.FLOAT32, len(obj.buffers) - 1, name
        t.shape = np.array(values.shape if values is not None else like.shape, np.int32)
        if values is None and like.shapeSignature is not None:
            t.shapeSignature = np.array(like.shapeSignature, np.int32)
        graph.tensors.append(t)
        return len(graph.tensors) - 1

    def op(builtin: int, inputs: list[int], outputs: list[int], options_type: int, options):
        o = schema.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = opcode(builtin), np.array(inputs, np.int32), np.array(outputs, np.int32)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        return o

    def mul(a: int, b: int, out: int):
        options = schema.MulOptionsT()
        options.fusedActivationFunction = schema.ActivationFunctionType.NONE
        return op(schema.BuiltinOperator.MUL, [a, b], [out], schema.BuiltinOptions.MulOptions, options)

    minimum = schema.BuiltinOperator.MINIMUM
    new_ops, done = [], 0
    for o in graph.operators:
        code = obj.operatorCodes[o.opcodeIndex]
        ins = [int(i) for i in o.inputs]
        consts = [_constant(obj, model, graph, i) for i in ins] if len(ins) == 2 else []
        if (max(code.builtinCode, code.deprecatedBuiltinCode) != minimum or len(ins) != 2
                or sum(c is not None for c in consts) != 1
                or any(graph.tensors[i].type != schema.TensorType.FLOAT32 for i in ins + [int(o.outputs[0])])):
            new_ops.append(o)
            continue
        k = 0 if consts[0] is None else 1                      # the activation input
        x, c, out = ins[k], consts[1 - k], int(o.outputs[0])
        base = _name(graph, out)
        minus_one = tensor(None, f"{base}/minus_one", np.array([-1.0], np.float32))
        neg_c = tensor(None, f"{base}/neg_bound", -np.asarray(c, np.float32))
        neg_x = tensor(graph.tensors[x], f"{base}/neg_x")
        neg_min = tensor(graph.tensors[out], f"{base}/neg_min")
        new_ops += [mul(x, minus_one, neg_x),
                    op(schema.BuiltinOperator.MAXIMUM, [neg_x, neg_c], [neg_min],
                       schema.BuiltinOptions.MaximumMinimumOptions, schema.MaximumMinimumOptionsT()),
                    mul(neg_min, minus_one, out)]
        done += 1
    if not done:
        return model, 0
    graph.operators = new_ops
    return bytes(fbu.convert_object_to_bytearray(obj)), done

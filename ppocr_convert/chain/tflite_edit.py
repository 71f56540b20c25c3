"""Small edits of a float TFLite flatbuffer for the int8 stage's rewrites
(integer_clip.py, integer_minimum.py, integer_hard_swish.py, integer_gelu.py,
integer_transpose_conv.py, integer_large_depthwise.py): new
tensors, new ops, the op list replaced in one go. Operates on subgraph 0, the only one PP-OCR models have."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..tflite_opcodes import builtin_code


class FloatGraphEditor:
    """`model` unpacked for editing: walk `graph.operators` (`builtin`, `op_name`,
    `constant`, `is_float`, `name` describe them), create float tensors and ops with `add_tensor`,
    `add_op`, `mul`, `add`, and `result(new_ops)` packs the model with `new_ops` as the
    operator list."""

    def __init__(self, model: bytes):
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils as fbu
        self.schema, self._fbu, self._raw = schema, fbu, model
        self.obj = fbu.convert_bytearray_to_object(bytearray(model))
        self.graph = self.obj.subgraphs[0]

    def builtin(self, op) -> int:
        return builtin_code(self.obj.operatorCodes[op.opcodeIndex])

    def op_name(self, op) -> str:
        """The op's builtin name, e.g. "CONV_2D" (as sensitivity.py and bias_correction.py
        name ops)."""
        return str(self._fbu.opcode_to_name(self.obj, op.opcodeIndex))

    def constant(self, i: int) -> np.ndarray | None:
        """Tensor `i`'s values when it is a constant, else None."""
        from .bias_correction import _constant
        return _constant(self.obj, self._raw, self.graph, i)

    def is_float(self, i: int) -> bool:
        return self.graph.tensors[i].type == self.schema.TensorType.FLOAT32

    def name(self, i: int) -> str:
        from .bias_correction import _name
        return _name(self.graph, i)

    def readers(self) -> dict[int, list[int]]:
        """Tensor index -> the indices of the ops reading it, in the current op list."""
        readers: dict[int, list[int]] = {}
        for i, o in enumerate(self.graph.operators):
            for t in map(int, o.inputs):
                readers.setdefault(t, []).append(i)
        return readers

    def graph_outputs(self) -> set[int]:
        return set(map(int, self.graph.outputs))

    def _opcode(self, builtin: int) -> int:
        for i, code in enumerate(self.obj.operatorCodes):
            if builtin_code(code) == builtin:
                return i
        code = self.schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
        self.obj.operatorCodes.append(code)
        return len(self.obj.operatorCodes) - 1

    def add_tensor(self, name: str, like: int | None = None, values: np.ndarray | None = None,
                   shape: tuple[int, ...] | None = None) -> int:
        """A new float32 tensor: a constant holding `values`, or an activation shaped like
        tensor `like` or `shape`."""
        return self._tensor(name, self.schema.TensorType.FLOAT32, np.float32, like, values, shape)

    def add_int32(self, name: str, values: np.ndarray) -> int:
        """A new int32 constant (shapes, permutations)."""
        return self._tensor(name, self.schema.TensorType.INT32, np.int32, None, values, None)

    def _tensor(self, name, tensor_type, dtype, like, values, shape) -> int:
        schema = self.schema
        buf = schema.BufferT()
        if values is not None:
            buf.data = np.frombuffer(np.ascontiguousarray(values, dtype).tobytes(), np.uint8)
        self.obj.buffers.append(buf)
        t = schema.TensorT()
        t.type, t.buffer, t.name = tensor_type, len(self.obj.buffers) - 1, name
        if values is not None:
            t.shape = np.array(np.shape(values), np.int32)
        elif shape is not None:
            t.shape = np.array(shape, np.int32)
        else:
            src = self.graph.tensors[like]
            t.shape = np.array(src.shape, np.int32)
            if src.shapeSignature is not None:
                t.shapeSignature = np.array(src.shapeSignature, np.int32)
        self.graph.tensors.append(t)
        return len(self.graph.tensors) - 1

    def add_op(self, builtin: int, inputs: list[int], outputs: list[int], options_type: int, options):
        o = self.schema.OperatorT()
        o.opcodeIndex = self._opcode(builtin)
        o.inputs, o.outputs = np.array(inputs, np.int32), np.array(outputs, np.int32)
        o.builtinOptionsType, o.builtinOptions = options_type, options
        return o

    def _elementwise(self, kind: str, a: int, b: int, out: int, activation: int | None):
        """MUL or ADD (their options differ only in type), with an optional fused activation."""
        schema = self.schema
        options = getattr(schema, f"{kind}OptionsT")()
        options.fusedActivationFunction = schema.ActivationFunctionType.NONE if activation is None else activation
        return self.add_op(getattr(schema.BuiltinOperator, kind.upper()), [a, b], [out],
                           getattr(schema.BuiltinOptions, f"{kind}Options"), options)

    def mul(self, a: int, b: int, out: int, activation: int | None = None):
        return self._elementwise("Mul", a, b, out, activation)

    def add(self, a: int, b: int, out: int, activation: int | None = None):
        return self._elementwise("Add", a, b, out, activation)

    def result(self, new_ops: list) -> bytes:
        self.graph.operators = new_ops
        return bytes(self._fbu.convert_object_to_bytearray(self.obj))


def replace_each(model: bytes, match: Callable[["FloatGraphEditor", Any], Any],
                 replace: Callable[["FloatGraphEditor", Any, Any], list]) -> tuple[bytes, int]:
    """(`model` with every op for which `match(edit, op)` finds something (not None) replaced
    by the ops `replace(edit, op, found)` returns, how many were); `model` itself, byte for
    byte, when none matched. The loop each single-op rewrite shares."""
    edit = FloatGraphEditor(model)
    new_ops, done = [], 0
    for o in edit.graph.operators:
        found = match(edit, o)
        if found is None:
            new_ops.append(o)
            continue
        new_ops += replace(edit, o, found)
        done += 1
    return (edit.result(new_ops), done) if done else (model, 0)

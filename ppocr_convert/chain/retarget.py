"""Emit a rec width bucket from another bucket's TFLite instead of running onnx2tf again.

A recogniser's width buckets (48×320, 48×640, 48×1280) are the same graph: only the
input width and the sequence length T = W/8 that follows from it differ. onnx2tf spends
about 25 s per bucket rebuilding that graph. Here the smallest bucket is converted once
and the others are written from its flatbuffer, in place and with the same byte layout:

1. the int32 shape constants of RESHAPE ops whose entries equal the old T become the new T;
2. every tensor's static shape becomes what LiteRT's own shape propagation computes for
   the new input width.

Measured on PP-OCRv5 mobile rec (w320 → w640, w1280): the result equals onnx2tf's own
conversion of that width byte for byte, except the 8-byte model hash inside the
converter's CONVERSION_METADATA, which keeps the source bucket's value.

A graph could hold a width-dependent value this does not know about (a pooling window, a
slice bound, a constant that equals T by coincidence). So nothing is trusted unverified:
`artifact_check` runs the emitted model and that width's ONNX (onnxruntime) on the same
inputs, and the caller converts the bucket with onnx2tf whenever the check fails.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..tflite_opcodes import builtin_code
from .artifact_check import check_artifacts

# Tensor table field slots (schema.fbs: shape, type, buffer, name, quantization,
# is_variable, sparsity, shape_signature) as vtable offsets
_TENSOR_SHAPE = 4
_TENSOR_SHAPE_SIGNATURE = 18
_BUFFER_DATA = 4

class RetargetError(Exception):
    """The model cannot be re-emitted for that width; convert it with onnx2tf instead."""


@dataclass(frozen=True)
class RetargetStats:
    old_width: int
    new_width: int
    old_steps: int
    new_steps: int
    constants_patched: int
    shapes_patched: int


def _schema():
    from ..inspect_model import _tflite_schema
    return _tflite_schema()


def _vector(table, slot: int) -> tuple[int, int]:
    """(byte offset, length) of a table's vector field; (0, 0) when absent."""
    o = table.Offset(slot)
    return (table.Vector(o), table.VectorLen(o)) if o else (0, 0)


def retarget_width(model: bytes, new_width: int, old_steps: int | None = None) -> tuple[bytes, RetargetStats]:
    """The same model for input width `new_width`. `old_steps` overrides the sequence
    length read from the output (tests use it to produce a wrong model on purpose)."""
    schema = _schema()
    buf = bytearray(model)
    try:
        root = schema.Model.GetRootAs(buf, 0)
        graph = root.Subgraphs(0)
        in_shape = graph.Tensors(graph.Inputs(0)).ShapeAsNumpy().tolist()
        out_shape = graph.Tensors(graph.Outputs(0)).ShapeAsNumpy().tolist()
    except Exception as exc:  # noqa: BLE001 - any parse failure means "cannot retarget"
        raise RetargetError(f"not a readable TFLite flatbuffer ({exc})") from exc
    if root.SubgraphsLength() != 1 or graph.InputsLength() != 1 or len(in_shape) != 4 or len(out_shape) != 3:
        raise RetargetError(f"expected one NHWC input and one [N, T, classes] output, got {in_shape} → {out_shape}")
    old_width = int(in_shape[2])
    steps = int(old_steps if old_steps is not None else out_shape[1])
    if (new_width * steps) % old_width:
        raise RetargetError(f"width {new_width} does not give a whole number of steps (T={steps} at {old_width})")
    new_steps = new_width * steps // old_width

    codes = [builtin_code(root.OperatorCodes(i)) for i in range(root.OperatorCodesLength())]
    constants = 0
    for j in range(graph.OperatorsLength()):
        op = graph.Operators(j)
        if codes[op.OpcodeIndex()] != schema.BuiltinOperator.RESHAPE or op.InputsLength() < 2 or op.Inputs(1) < 0:
            continue
        tensor = graph.Tensors(op.Inputs(1))
        start, n = _vector(root.Buffers(tensor.Buffer())._tab, _BUFFER_DATA)
        if not n or tensor.Type() != schema.TensorType.INT32:
            continue
        values = np.frombuffer(bytes(buf[start:start + n]), np.int32)
        patched = np.where(values == steps, new_steps, values).astype(np.int32)
        if (patched != values).any():
            buf[start:start + n] = patched.tobytes()
            constants += 1
    if not constants:
        raise RetargetError(f"no RESHAPE constant carries the sequence length {steps}")

    shapes = _propagated_shapes(bytes(buf), [in_shape[0], in_shape[1], new_width, in_shape[3]])
    patched_shapes = 0
    for i in range(graph.TensorsLength()):
        tab = graph.Tensors(i)._tab
        for slot in (_TENSOR_SHAPE, _TENSOR_SHAPE_SIGNATURE):
            start, n = _vector(tab, slot)
            if not n:
                continue
            old = np.frombuffer(bytes(buf[start:start + 4 * n]), np.int32)
            new = np.asarray(shapes[i], np.int32)
            if slot == _TENSOR_SHAPE_SIGNATURE:  # -1 marks a dynamic dimension: keep it
                new = np.where(old < 0, old, new).astype(np.int32)
            if new.shape != old.shape:
                raise RetargetError(f"tensor {i} changes rank ({old.tolist()} → {new.tolist()})")
            if (new != old).any():
                buf[start:start + 4 * n] = new.tobytes()
                patched_shapes += 1
    return bytes(buf), RetargetStats(old_width, new_width, steps, new_steps, constants, patched_shapes)


def _propagated_shapes(model: bytes, input_shape: list[int]) -> dict[int, list[int]]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    try:
        interp = Interpreter(model_content=model,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        index = interp.get_input_details()[0]["index"]
        interp.resize_tensor_input(index, input_shape, strict=False)
        interp.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        raise RetargetError(f"LiteRT cannot propagate width {input_shape[2]}: {str(exc).splitlines()[0]}") from exc
    return {t["index"]: t["shape"].tolist() for t in interp.get_tensor_details()}


def retarget_verified(sources: dict[str, Path], onnx_path: Path, new_width: int) -> tuple[dict[str, bytes], dict]:
    """Retarget every precision in `sources` ({"tflite-fp32": path, ...}) to `new_width`
    and check each against `onnx_path` (artifact_check). Returns the models and a record
    for the stage; raises RetargetError naming the failed check when any precision fails."""
    models: dict[str, bytes] = {}
    stats = None
    for target, path in sources.items():
        models[target], stats = retarget_width(path.read_bytes(), new_width)
    checks, problems = check_artifacts(models, onnx_path)
    if problems:
        raise RetargetError(f"width {new_width} is not the ONNX's model: {'; '.join(problems)}")
    assert stats is not None
    return models, {"method": "retarget", "width": new_width, "checks": checks, "from_width": stats.old_width,
                    "steps": stats.new_steps, "constants_patched": stats.constants_patched,
                    "shapes_patched": stats.shapes_patched}

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
`verify_against_onnx` runs the emitted model and that width's ONNX (onnxruntime) on the
same inputs, and the caller converts the bucket with onnx2tf whenever the check fails.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Tensor table field slots (schema.fbs: shape, type, buffer, name, quantization,
# is_variable, sparsity, shape_signature) as vtable offsets
_TENSOR_SHAPE = 4
_TENSOR_SHAPE_SIGNATURE = 18
_BUFFER_DATA = 4

# What an emitted model must meet against that width's ONNX (onnxruntime), on seeded inputs.
# fp32: onnx2tf's own conversions agree to ~1e-5 on rec probabilities (measured: PP-OCRv5
# w640 8.6e-6, PP-OCRv6 tiny w1920 2.3e-4); a wrong reshape gives differences near 1.
# fp16: weights rounded to half make the largest difference large by itself (PP-OCRv6 tiny:
# 0.04 at w320 to 0.11 at w1920 for onnx2tf's own conversion), so the check is the mean
# difference (5e-6 there) and the argmax per time step, which a misplaced step breaks.
CHECKS: dict[str, dict[str, float]] = {
    "tflite-fp32": {"max_abs_diff": 1e-3},
    "tflite-fp16": {"mean_abs_diff": 1e-3, "argmax_disagreement": 0.02},
}


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

    codes = []
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        codes.append(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))
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


def verification_inputs(shape_nchw: tuple[int, ...], count: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Seeded inputs in rec's normalised range [-1, 1] (NCHW, as the ONNX takes them)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, size=shape_nchw).astype(np.float32) for _ in range(count)]


def onnx_outputs(onnx_path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The ONNX model's first output for each (NCHW) input, in onnxruntime on one thread."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [session.run(None, {name: x})[0] for x in inputs]


def compare_to_onnx(model: bytes, onnx_path: Path, inputs: list[np.ndarray],
                    expected: list[np.ndarray] | None = None) -> dict[str, float]:
    """Output differences between the TFLite model (NHWC input) and the ONNX model (NCHW
    input) over `inputs`: worst max and mean absolute difference, and the share of time
    steps whose argmax differs. All inf when the input or output shapes disagree.
    `expected`: the ONNX outputs, when already computed (onnx_outputs)."""
    from ai_edge_litert.interpreter import Interpreter

    expected = expected if expected is not None else onnx_outputs(onnx_path, inputs)
    # XNNPACK, as deployed on CPU: LiteRT's reference kernels take 0.6 s per w1280 run
    interp = Interpreter(model_content=model, num_threads=1)
    interp.allocate_tensors()
    tin, tout = interp.get_input_details()[0], interp.get_output_details()[0]
    worst = {"max_abs_diff": 0.0, "mean_abs_diff": 0.0, "argmax_disagreement": 0.0}
    for x, want in zip(inputs, expected):
        if list(tin["shape"]) != [x.shape[0], x.shape[2], x.shape[3], x.shape[1]]:
            return {k: float("inf") for k in worst}  # not the graph of that width
        interp.set_tensor(tin["index"], np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        interp.invoke()
        got = interp.get_tensor(tout["index"])
        if got.shape != want.shape:
            return {k: float("inf") for k in worst}
        diff = np.abs(got.astype(np.float64) - want)
        measured = {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                    "argmax_disagreement": float((got.argmax(-1) != want.argmax(-1)).mean())}
        worst = {k: max(worst[k], measured[k]) for k in worst}
    return worst


def failed_checks(target: str, measured: dict[str, float]) -> list[str]:
    return [f"{name} {measured[name]:.3g} > {limit:g}" for name, limit in CHECKS[target].items()
            if not measured[name] <= limit]


def retarget_verified(sources: dict[str, Path], onnx_path: Path, new_width: int) -> tuple[dict[str, bytes], dict]:
    """Retarget every precision in `sources` ({"tflite-fp32": path, ...}) to `new_width`
    and verify each against `onnx_path`. Returns the models and a record for the stage;
    raises RetargetError (naming the failed check) when any precision misses CHECKS."""
    import onnx
    dims = onnx.load(str(onnx_path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    inputs = verification_inputs(tuple(int(d.dim_value) for d in dims))
    expected = onnx_outputs(onnx_path, inputs)  # once for every precision
    models: dict[str, bytes] = {}
    record: dict = {"method": "retarget", "width": new_width, "checks": {}}
    for target, path in sources.items():
        model, stats = retarget_width(path.read_bytes(), new_width)
        measured = compare_to_onnx(model, onnx_path, inputs, expected)
        record["checks"][target] = {k: measured[k] for k in CHECKS[target]}
        failed = failed_checks(target, measured)
        if failed:
            raise RetargetError(f"{target} at width {new_width} is not the ONNX's model: {', '.join(failed)}")
        record.update(from_width=stats.old_width, steps=stats.new_steps,
                      constants_patched=stats.constants_patched, shapes_patched=stats.shapes_patched)
        models[target] = model
    return models, record

"""Erf-form GELU, as `passes/gelu_decompose.py` writes it (about 20 ABS/MUL/ADD/DIV/EXP/
RELU/SUB ops), rewritten as k * x * sigmoid(1.702 x) before int8 quantization: MUL, LOGISTIC,
MUL (and a MUL by k when k != 1).

Why: in the int8 model the decomposition's DIV and RELU run on TFLite's built-in kernels and
its ABS and EXP stay float between QUANTIZE/DEQUANTIZE pairs (ai-edge-quantizer quantizes
neither), all at full resolution: PP-OCRv6 tiny det's int8 file split into 31 XNNPACK
partitions and ran 4x slower than fp32. XNNPACK runs int8 MUL and LOGISTIC, so the
rewritten GELU stays integer and inside the delegate.

The price is the approximation: x * sigmoid(1.702 x) is within 0.021 of GELU(x) (largest
near |x| = 2.4; 1.702 is the usual constant, Hendrycks & Gimpel 2016), where the
decomposition is within 3.3e-7. An int8 step of PP-OCRv6's GELU inputs is ~0.05-0.2,
so the approximation sits below one step; the int8 gate, and the bench, say what it costs.

What is replaced is decided numerically, not by op pattern: from the tensor x that an EXP's
argument is computed from, every elementwise op reading only x and scalar constants is
evaluated on a grid of x values, and the first tensor equal to k * x * (1 + erf(x / sqrt2))
for some k (within `MATCH_ATOL` * k) is the GELU's output; the ops between x and it are
replaced if nothing else reads their results. Anything that is not GELU to that tolerance
is left alone.

Only the int8 stage's copy of the model is rewritten: fp32/fp16 artifacts keep the exact
decomposition, which the GPU delegate runs.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .tflite_edit import FloatGraphEditor

SIGMOID_GELU_SLOPE = 1.702
# the grid covers every value an activation takes in practice; |x| <= 12 keeps exp(-x^2/2) normal
GRID = np.linspace(-12.0, 12.0, 4801, dtype=np.float32)
# the decomposition is 3.3e-7 off exact GELU in float32; a different function (even the tanh
# approximation, 4.7e-4 off) is not matched
MATCH_ATOL = 1e-4

_UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "ABS": np.abs, "EXP": np.exp, "NEG": np.negative, "SQUARE": np.square, "RELU": lambda v: np.maximum(v, 0)}
_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "MUL": np.multiply, "ADD": np.add, "SUB": np.subtract, "DIV": np.divide, "MAXIMUM": np.maximum,
    "MINIMUM": np.minimum}


def _erf_gelu(x: np.ndarray) -> np.ndarray:
    """x * (1 + erf(x / sqrt2)), i.e. 2 * GELU(x), in float64."""
    x64 = x.astype(np.float64)
    return x64 * (1.0 + np.vectorize(math.erf)(x64 / math.sqrt(2.0)))


class _Evaluator:
    """Values of the float elementwise ops that read only `x` (set to GRID) and scalar
    constants, op by op in graph order."""

    def __init__(self, edit: FloatGraphEditor):
        self.edit, self.schema = edit, edit.schema
        act = edit.schema.ActivationFunctionType
        self.activations = {act.NONE: lambda v: v, act.RELU: lambda v: np.maximum(v, 0),
                            act.RELU6: lambda v: np.clip(v, 0, 6), act.RELU_N1_TO_1: lambda v: np.clip(v, -1, 1)}

    def _scalar(self, i: int) -> float | None:
        c = self.edit.constant(i)
        return float(c.reshape(())) if c is not None and c.size == 1 and self.edit.is_float(i) else None

    def evaluate(self, o, values: dict[int, np.ndarray]) -> np.ndarray | None:
        """The op's output on the grid, or None when it reads anything but `values` and scalars."""
        name, ins = self.edit.op_name(o), [int(i) for i in o.inputs]
        if len(o.outputs) != 1 or not self.edit.is_float(int(o.outputs[0])):
            return None
        args: list[np.ndarray] = []
        for i in ins:
            if i in values:
                args.append(values[i])
            elif (s := self._scalar(i)) is not None:
                args.append(np.array(s, np.float32))
            else:
                return None
        if not any(i in values for i in ins):
            return None
        options = o.builtinOptions
        fused = getattr(options, "fusedActivationFunction", self.schema.ActivationFunctionType.NONE)
        if name in _UNARY and len(args) == 1:
            out = _UNARY[name](args[0])
        elif name in _BINARY and len(args) == 2 and fused in self.activations:
            with np.errstate(all="ignore"):
                out = self.activations[fused](_BINARY[name](args[0], args[1]))
        else:
            return None
        return np.asarray(out, np.float32)


def _exp_root(edit: FloatGraphEditor, producer: dict[int, int], exp_op) -> int | None:
    """The one activation an EXP's argument is computed from through elementwise ops with
    scalar constants (GELU's x, via -x^2/2), or None."""
    roots, stack, seen = set(), [int(exp_op.inputs[0])], set()
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        p = producer.get(t)
        op = edit.graph.operators[p] if p is not None else None
        if op is None or (edit.op_name(op) not in _UNARY and edit.op_name(op) not in _BINARY):
            roots.add(t)
            continue
        for i in map(int, op.inputs):
            if edit.constant(i) is None:
                stack.append(i)
    return roots.pop() if len(roots) == 1 else None


def _match(edit: FloatGraphEditor, ev: _Evaluator, producer: dict[int, int], readers: dict[int, list[int]],
           graph_outputs: set[int], x: int) -> tuple[list[int], int, float] | None:
    """(indices of the ops computing the GELU of `x`, its output tensor, k) or None."""
    ops = edit.graph.operators
    start = producer.get(x, -1) + 1
    values, made_by = {x: GRID}, {}
    reference = _erf_gelu(GRID)
    for idx in range(start, len(ops)):
        out = ev.evaluate(ops[idx], values)
        if out is None:
            continue
        t = int(ops[idx].outputs[0])
        values[t], made_by[t] = out, idx
        if not np.all(np.isfinite(out)):
            continue
        k = float(np.dot(out, reference) / np.dot(reference, reference))
        if abs(k) < 1e-3 or np.max(np.abs(out - k * reference)) > MATCH_ATOL * abs(k):
            continue
        # the ops between x and t, and nothing outside them may read their results
        region, stack = set(), [t]
        while stack:
            s = stack.pop()
            if s == x or s not in made_by or made_by[s] in region:
                continue
            region.add(made_by[s])
            stack.extend(i for i in map(int, ops[made_by[s]].inputs) if i in values)
        inner = {int(ops[i].outputs[0]) for i in region} - {t}
        if any(r not in region for s in inner for r in readers.get(s, [])) or inner & graph_outputs:
            return None
        return sorted(region), t, k
    return None


def without_erf_gelu(model: bytes) -> tuple[bytes, int]:
    """(`model` with every float Erf-form GELU rewritten as k * x * sigmoid(1.702 x), how
    many were)."""
    edit = FloatGraphEditor(model)
    schema, ops = edit.schema, edit.graph.operators
    ev = _Evaluator(edit)
    producer = {int(t): i for i, o in enumerate(ops) for t in o.outputs}
    readers, graph_outputs = edit.readers(), edit.graph_outputs()
    replaced: dict[int, list] = {}   # op index of each GELU's last op -> the ops replacing it
    dropped: set[int] = set()
    for o in ops:
        if edit.op_name(o) != "EXP" or (x := _exp_root(edit, producer, o)) is None:
            continue
        found = _match(edit, ev, producer, readers, graph_outputs, x)
        if found is None or set(found[0]) & dropped:
            continue
        region, out, k = found
        base = edit.name(out)
        slope = edit.add_tensor(f"{base}/sigmoid_gelu_slope", values=np.array([SIGMOID_GELU_SLOPE], np.float32))
        z = edit.add_tensor(f"{base}/slope_x", like=x)
        gate = edit.add_tensor(f"{base}/sigmoid", like=x)
        new = [edit.mul(x, slope, z),
               edit.add_op(schema.BuiltinOperator.LOGISTIC, [z], [gate], schema.BuiltinOptions.NONE, None)]
        scale = 2.0 * k   # the matched tensor is k * x * (1 + erf) = 2k * GELU(x)
        if math.isclose(scale, 1.0, rel_tol=1e-6):
            new.append(edit.mul(x, gate, out))
        else:
            product = edit.add_tensor(f"{base}/x_sigmoid", like=out)
            factor = edit.add_tensor(f"{base}/gelu_scale", values=np.array([scale], np.float32))
            new += [edit.mul(x, gate, product), edit.mul(product, factor, out)]
        replaced[region[-1]] = new
        dropped |= set(region)
    if not replaced:
        return model, 0
    new_ops = []
    for i, o in enumerate(ops):
        if i in replaced:
            new_ops += replaced[i]    # where the GELU's output was made; x is made before it
        elif i not in dropped:
            new_ops.append(o)
    return edit.result(new_ops), len(replaced)

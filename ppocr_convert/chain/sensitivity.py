"""Per-op quantization sensitivity and the automatic mixed-precision search.

Sensitivity: the fp32 model and the all-int8 model run on the same calibration
samples with every intermediate tensor kept; each op's output error is its normalised
mean squared error against fp32 (MSE / variance of the fp32 tensor). Errors accumulate
down the graph, so an op's *own* damage is the error of its output minus the largest
error among its activation inputs: what quantizing this op added. Ops are ranked by it.

Search: keep the most damaging op out of int8 (int16 activations, or float), quantize
again, ask the gate; repeat one op at a time until the gate passes or the budget is
spent. The caller supplies `quantize(keep)` and `gate(model)`; this module only orders
and loops (unit-tested with fakes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class OpInfo:
    index: int
    op: str                 # builtin name, e.g. CONV_2D
    scope: str              # output tensor names + ';' (how a recipe names the op)
    inputs: tuple[str, ...]   # activation (non-constant) input tensor names
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class OpSensitivity:
    op: OpInfo
    output_error: float     # NMSE of the op's output vs fp32
    added_error: float      # output_error - max NMSE of its activation inputs

    def to_dict(self) -> dict:
        return {"index": self.op.index, "op": self.op.op, "scope": self.op.scope,
                "output_nmse": round(self.output_error, 6), "added_nmse": round(self.added_error, 6)}


def _parse(model: bytes) -> tuple[list[OpInfo], set[str], Any]:
    """Every operator of subgraph 0 (scope, activation inputs), its output tensor names and
    the parsed subgraph itself (tensor shapes), from one parse of the flatbuffer."""
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    obj = fbu.convert_bytearray_to_object(bytearray(model))
    graph = obj.subgraphs[0]

    def name(i: int) -> str:
        n = graph.tensors[i].name
        return n.decode() if isinstance(n, bytes) else str(n)

    def is_constant(i: int) -> bool:
        buf = obj.buffers[graph.tensors[i].buffer]
        return buf is not None and buf.data is not None and len(buf.data) > 0

    ops = []
    for k, op in enumerate(graph.operators):
        outs = tuple(name(i) for i in op.outputs if i >= 0)
        ins = tuple(name(i) for i in op.inputs if i >= 0 and not is_constant(i))
        ops.append(OpInfo(k, str(fbu.opcode_to_name(obj, op.opcodeIndex)), "".join(f"{o};" for o in outs),
                          ins, outs))
    return ops, {name(i) for i in graph.outputs}, graph


def graph_ops(model: bytes) -> list[OpInfo]:
    """Every operator of subgraph 0 with its scope and activation inputs."""
    return _parse(model)[0]


def output_ops(model: bytes) -> list[OpInfo]:
    """The ops that write subgraph 0's outputs (rec: the final SOFTMAX; det: the DB
    head's LOGISTIC): what `[int8] float_outputs` keeps in float."""
    ops, outputs, _ = _parse(model)
    return [op for op in ops if outputs & set(op.outputs)]


def first_stage_ops(model: bytes) -> list[OpInfo]:
    """The leading ops, in execution order, whose 4-D outputs keep at least half the
    input's height: a det backbone's stem at full and half resolution, up to its second
    downsampling. What `[int8] float_first_stage` keeps in float: on a dark, low-contrast
    page the text's signal there lies within a few int8 steps of ranges calibrated on
    ordinary pages (README, INT8)."""
    ops, _, graph = _parse(model)

    def heights(indices) -> list[int]:
        return [int(graph.tensors[i].shape[1]) for i in indices if i >= 0 and len(graph.tensors[i].shape) == 4]

    (full,) = heights(graph.inputs[:1]) or [0]
    stage = []
    for info, op in zip(ops, graph.operators):
        out = heights(op.outputs)
        if out and 2 * min(out) < full:
            break
        stage.append(info)
    return stage


def nmse(ref: np.ndarray, cand: np.ndarray) -> float:
    """Mean squared error normalised by the reference's variance (0 = identical)."""
    ref = np.asarray(ref, np.float64)
    cand = np.asarray(cand, np.float64)
    if ref.shape != cand.shape:
        return float("nan")
    var = float(ref.var())
    mse = float(np.mean((ref - cand) ** 2))
    return mse / var if var > 1e-12 else (0.0 if mse <= 1e-12 else float("inf"))


def rank_ops(ops: list[OpInfo], errors: dict[str, float]) -> list[OpSensitivity]:
    """Ops by the error they add, most damaging first. `errors`: tensor name → NMSE
    (a tensor missing from `errors`, e.g. the model input, counts as exact)."""
    ranked = []
    for op in ops:
        out = [errors[t] for t in op.outputs if t in errors and np.isfinite(errors[t])]
        if not out:
            continue
        before = max((errors.get(t, 0.0) for t in op.inputs if np.isfinite(errors.get(t, 0.0))), default=0.0)
        ranked.append(OpSensitivity(op, max(out), max(out) - before))
    # ties (common for exact ops: reshape, slice) keep graph order
    return sorted(ranked, key=lambda s: (-s.added_error, s.op.index))


class Capture:
    """One inference with every tensor kept (read one at a time, dequantized to float32:
    a det model's tensors at its 1024x1024 canvas are gigabytes together)."""

    def __init__(self, model: bytes, sample: np.ndarray):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        # without the default XNNPACK delegate: a delegated graph never writes its
        # intermediate tensors, preserve_all_tensors or not
        self.it = Interpreter(model_content=model, experimental_preserve_all_tensors=True, num_threads=2,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.it.allocate_tensors()
        inp = self.it.get_input_details()[0]
        x = sample.astype(np.float32)
        if np.dtype(inp["dtype"]).kind != "f":
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(inp["dtype"])
        self.it.set_tensor(inp["index"], x)
        self.it.invoke()
        self.details = {d["name"]: d for d in self.it.get_tensor_details()}

    def get(self, name: str) -> np.ndarray | None:
        d = self.details.get(name)
        if d is None:
            return None
        try:
            t = self.it.get_tensor(d["index"])
        except ValueError:
            return None
        if t.dtype.kind in "iu":
            scale, zero = d["quantization"]
            return None if not scale else (t.astype(np.float32) - zero) * scale
        return t.astype(np.float32) if t.dtype.kind == "f" else None


def tensor_errors(fp32_model: bytes, int8_model: bytes, samples: list[np.ndarray]) -> dict[str, float]:
    """Mean NMSE per tensor name over the samples (tensors both models have)."""
    sums: dict[str, list[float]] = {}
    for s in samples:
        ref, cand = Capture(fp32_model, s), Capture(int8_model, s)
        for name in ref.details:
            r = ref.get(name)
            c = cand.get(name) if r is not None else None
            if r is not None and c is not None:
                sums.setdefault(name, []).append(nmse(r, c))
        del ref, cand
    return {k: float(np.mean(v)) for k, v in sums.items()}


def sensitivity(fp32_model: bytes, int8_model: bytes, samples: list[np.ndarray]) -> list[OpSensitivity]:
    return rank_ops(graph_ops(fp32_model), tensor_errors(fp32_model, int8_model, samples))


WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass(frozen=True)
class Block:
    """A weighted op (conv / depthwise / fully connected) and the ops after it up to the next
    one (activation, affine, residual add, attention): the unit kept out of int8 together.
    Errors spread along such a chain, so keeping one op of it alone changes little."""
    index: int
    ops: tuple[OpSensitivity, ...]

    @property
    def score(self) -> float:
        return sum(max(0.0, o.added_error) for o in self.ops)

    @property
    def scopes(self) -> list[str]:
        return [o.op.scope for o in self.ops]

    @property
    def name(self) -> str:
        head = self.ops[0].op
        return f"#{head.index} {head.op} (+{len(self.ops) - 1} ops)"

    def to_dict(self) -> dict:
        return {"block": self.index, "name": self.name, "first_op": self.ops[0].op.index,
                "last_op": self.ops[-1].op.index, "ops": len(self.ops), "score": round(self.score, 6),
                "worst_op": max(self.ops, key=lambda o: o.added_error).to_dict()}


def blocks(ranked: list[OpSensitivity]) -> list[Block]:
    """Group ops (any order in) into blocks in graph order; ranked by score, worst first."""
    ordered = sorted(ranked, key=lambda s: s.op.index)
    groups: list[list[OpSensitivity]] = []
    for s in ordered:
        if not groups or s.op.op in WEIGHTED_OPS:
            groups.append([])
        groups[-1].append(s)
    out = [Block(i, tuple(g)) for i, g in enumerate(groups)]
    return sorted(out, key=lambda b: (-b.score, b.index))


@dataclass
class SearchStep:
    kept: list[tuple[str, str]]      # (scope, mode) out of int8 at this step
    passed: bool
    figures: dict

    def to_dict(self) -> dict:
        return {"kept_ops": len(self.kept), "passed": self.passed, **self.figures}


@dataclass
class SearchResult:
    model: bytes
    kept: list[tuple[str, str]]
    passed: bool
    steps: list[SearchStep] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    chosen: int = -1    # index in `steps` of the step `model` comes from

    @property
    def figures(self) -> dict:
        return self.steps[self.chosen].figures


GateFn = Callable[[bytes], tuple[bool, dict]]


def step_rank(passed: bool, figures: dict, kept: int) -> tuple:
    """How good a search step is, larger is better: a pass first, then the higher line
    accuracy (or argmax agreement), then the lower CER, then fewer ops out of int8."""
    accuracy = figures.get("line_accuracy", figures.get("argmax_agreement", 0.0))
    return (bool(passed), float(accuracy), -float(figures.get("cer", 0.0)), -kept)


def mixed_precision_search(ranked: list[Block], quantize: Callable[[list[tuple[str, str]]], bytes],
                           gate: GateFn, mode: str = "float", max_kept: int = 64,
                           first: bytes | None = None, first_gate: tuple[bool, dict] | None = None) -> SearchResult:
    """Keep the most damaging blocks out of int8, one at a time, until `gate` passes;
    stop there. Blocks that add no error are never kept. Returns the best step tried (the
    passing one; else, at the budget, the one with the best gate figures, not the last:
    the search is not monotonic) and every step's gate figures."""
    kept: list[tuple[str, str]] = []
    kept_blocks: list[Block] = []
    model = first if first is not None else quantize(kept)
    passed, figures = first_gate if first_gate is not None else gate(model)
    steps = [SearchStep([], passed, {**figures, "block": None})]
    best = (step_rank(passed, figures, 0), 0, model, list(kept), 0)
    for b in [b for b in ranked if b.score > 0][:max_kept]:
        if passed:
            break
        kept_blocks.append(b)
        kept = kept + [(scope, mode) for scope in b.scopes]
        model = quantize(kept)
        passed, figures = gate(model)
        steps.append(SearchStep(list(kept), passed, {**figures, "block": b.name}))
        rank = step_rank(passed, figures, len(kept))
        if rank > best[0]:
            best = (rank, len(steps) - 1, model, list(kept), len(kept_blocks))
    _, chosen, model, kept, n_blocks = best
    return SearchResult(model, kept, steps[chosen].passed, steps, kept_blocks[:n_blocks], chosen)

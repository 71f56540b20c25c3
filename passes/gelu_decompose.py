"""Erf-form GELU, k*x*(1 + erf(x/sqrt2)), -> Abs/Relu/Mul/Add/Div/Exp/Sub, no Erf.

Why: PP-OCRv6 writes every GELU as Div(x, sqrt2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5)
(13 in small det, small rec and tiny det, 10 in tiny rec; the same in rapidocr's v6 copies;
no other spelling). onnx2tf 1.28.8 turns Erf into FlexErf: a TensorFlow op that needs the
Flex runtime (stock LiteRT cannot even allocate the model) and never runs on the GPU
delegate. After the `simplify` pass the Mul 0.5 is gone (onnxsim folds it into the next
Conv), leaving 2*GELU = x*(1 + erf(x/sqrt2)); both forms are matched, plus the other usual
spellings (Mul by 1/sqrt2, commuted operands, Div by 2, x*0.5 first).

Why not TFLite's GELU builtin (measured, onnx2tf 1.28.8):
- onnx2tf's own Erf-chain -> GELU rewrite (ops/Div.py) never fires: even the exact chain it
  looks for converts to MUL, FlexErf, ADD, MUL.
- com.microsoft Gelu, the only Gelu at the models' opsets (11/14), becomes GELU on a toy
  graph, but onnx shape inference stops at it, so onnx2tf loses every downstream shape: v6
  det stalled (killed after 10 min), v6 rec failed.
- opset-20 Gelu works for det (186 TFLite ops, 13 GELU) but needs the whole model converted
  to opset 20, and v6 rec then fails in onnx2tf (Squeeze).

Why this decomposition (Abramowitz & Stegun 7.1.26, |erf error| <= 1.5e-7), written
sign-free as k*(x + |x|) - |x| * k*P(t) * exp(-x^2/2) (see `decomposition`):
- accuracy vs exact GELU over [-1000, 1000]: 2.1e-7 in float64 (the approximation alone),
  3.3e-7 in float32 (the Erf graph itself, run in float32, is 4.5e-7 off); every op rounded
  to float16: 1.0e-3 (the Erf graph in float16: 1.9e-3), no NaN or overflow (x*x -> inf
  gives exp -> 0). The tanh approximation is 4.7e-4 off in float32 and moved v6 det's output
  by 1.2e-2..2.1e-2 in onnxruntime: rejected.
- v6 small det (1x3x640x640) / rec (1x3x48x320), rendered text, a photo, seeded noise,
  onnxruntime before vs after: <= 4.2e-6 det, <= 3.3e-6 rec (onnxruntime's own optimised
  vs unoptimised runs differ by up to 1.8e-5 / 3.6e-6). After onnx2tf: no Flex op; TFLite
  fp32 vs onnxruntime(before) 1.8e-4 det (the opset-20 GELU builtin: 2.0e-4, so that is the
  rest of the model), 1.4e-6..2.6e-5 rec; fp16: det binary agreement 0.9992, rec argmax
  agreement 1.0 on the text line. Cost: 20 ops per GELU instead of 4 (MUL, FlexErf, ADD,
  MUL): det 225 -> 433 TFLite ops, rec 250 -> 458; every one a GPU-delegate builtin.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from ._util import constant_value, inferred_shapes, node_inputs
from .base import GraphPass, PassResult
from .hardsigmoid_decompose import _Emitter

# Abramowitz & Stegun 7.1.26: erf(a) = 1 - (a1 t + ... + a5 t^5) exp(-a^2) + e(a), |e| <= 1.5e-7,
# t = 1 / (1 + p a), a >= 0.
AS_P = 0.3275911
AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)

SQRT2 = math.sqrt(2.0)
# Constants must equal these to a few float32 ulps (Paddle writes float32(sqrt2) = 1.4142135381698608).
RTOL = 1e-6
DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass
class GeluMatch:
    """out = scale * x * (1 + erf(x / sqrt2)); scale 0.5 is GELU(x), scale 1 is 2*GELU(x)
    (what is left once onnxsim has folded the trailing Mul 0.5 into the next Conv)."""

    x: str
    out: str
    scale: float
    nodes: list[onnx.NodeProto]  # the matched nodes, graph order
    variant: str  # e.g. "Div(x,sqrt2) Erf Add(1) Mul(x) Mul(0.5)"

    @property
    def erf(self) -> onnx.NodeProto:
        return next(n for n in self.nodes if n.op_type == "Erf")


def _is(node: onnx.NodeProto | None, op: str) -> bool:
    return node is not None and node.op_type == op and node.domain in DEFAULT_DOMAINS


class _Graph:
    """Producer/consumer maps and constant look-up for the main graph."""

    def __init__(self, graph: onnx.GraphProto, ranks: dict[str, int | None]):
        self.graph = graph
        self.ranks = ranks
        self.producer = {o: n for n in graph.node for o in n.output if o}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for n in graph.node:
            for name in node_inputs(n):  # includes values used inside subgraphs
                self.consumers[name].append(n)
        self.outputs = {o.name for o in graph.output}
        self.graph_inputs = {i.name for i in graph.input}

    def sole_consumer(self, name: str) -> onnx.NodeProto | None:
        """The one node reading `name`, or None if it is a graph output or read elsewhere too."""
        users = self.consumers.get(name, [])
        if name in self.outputs or len(users) != 1:
            return None
        return users[0]

    def scalar(self, name: str, like: str) -> float | None:
        """Value of a one-element constant that broadcasting against `like` leaves shape-neutral."""
        if name in self.graph_inputs:  # an initializer that is also an input can be overridden
            return None
        value = constant_value(self.graph, name)
        if value is None or value.size != 1 or not np.issubdtype(value.dtype, np.floating):
            return None
        rank = self.ranks.get(like)
        if value.ndim and (rank is None or value.ndim > rank):
            return None
        return float(value.reshape(()))


def _same(a: onnx.NodeProto | None, b: onnx.NodeProto) -> bool:
    # Nodes are told apart by their outputs (unique in a valid graph): protobuf hands out
    # fresh Python wrappers, so `is` is no test.
    return a is not None and list(a.output) == list(b.output)


def _near(value: float | None, target: float) -> bool:
    return value is not None and math.isclose(value, target, rel_tol=RTOL)


def _other(node: onnx.NodeProto, name: str) -> str | None:
    """The other input of a two-input node that reads `name` once."""
    if len(node.input) != 2 or list(node.input).count(name) != 1:
        return None
    return node.input[1] if node.input[0] == name else node.input[0]


def _scaled_by(g: _Graph, node: onnx.NodeProto, value: str) -> float | None:
    """If `node` multiplies `value` by a constant c (Mul either way round, or Div by c), c."""
    if _is(node, "Mul"):
        other = _other(node, value)
        return g.scalar(other, value) if other is not None else None
    if _is(node, "Div") and len(node.input) == 2 and node.input[0] == value and node.input[1] != value:
        c = g.scalar(node.input[1], value)
        return 1.0 / c if c else None
    return None


def match_erf(g: _Graph, erf: onnx.NodeProto) -> GeluMatch | None:
    """Match the GELU pattern around one Erf node, or None."""
    if not _is(erf, "Erf") or len(erf.input) != 1:
        return None
    # 1. u = x / sqrt2  (Div(x, sqrt2) or Mul(x, 1/sqrt2), either operand order)
    pre = g.producer.get(erf.input[0])
    if pre is None or not _same(g.sole_consumer(erf.input[0]), erf):
        return None
    x = None
    if _is(pre, "Div") and len(pre.input) == 2 and _near(g.scalar(pre.input[1], pre.input[0]), SQRT2):
        x, pre_name = pre.input[0], "Div(x,sqrt2)"
    elif _is(pre, "Mul") and len(pre.input) == 2:
        for a, b in (pre.input, reversed(pre.input)):
            if a != b and _near(g.scalar(b, a), 1.0 / SQRT2):
                x, pre_name = a, "Mul(x,1/sqrt2)"
                break
    if x is None:
        return None
    # 2. s = erf + 1
    add = g.sole_consumer(erf.output[0])
    if not _is(add, "Add"):
        return None
    one = _other(add, erf.output[0])
    if one is None or not _near(g.scalar(one, erf.output[0]), 1.0):
        return None
    # 3. m = x * s, or m = (x * 0.5) * s
    mul = g.sole_consumer(add.output[0])
    if not _is(mul, "Mul"):
        return None
    xs = _other(mul, add.output[0])
    nodes, scale, variant = [pre, erf, add, mul], 1.0, [pre_name, "Erf", "Add(1)"]
    if xs == x:
        variant.append("Mul(x)")
    else:
        half = g.producer.get(xs) if xs is not None else None
        if half is None or not _same(g.sole_consumer(xs), mul) or not _is(half, "Mul"):
            return None
        if _other(half, x) is None or not _near(_scaled_by(g, half, x), 0.5):
            return None
        nodes.insert(0, half)
        scale, variant = 0.5, ["Mul(x,0.5)", *variant, "Mul(x*0.5)"]
    out = mul.output[0]
    # 4. optional trailing scale by 0.5 (Mul(0.5) or Div(2))
    if scale == 1.0:
        tail = g.sole_consumer(out)
        if tail is not None and _near(_scaled_by(g, tail, out), 0.5):
            nodes.append(tail)
            scale, out = 0.5, tail.output[0]
            variant.append("Mul(0.5)" if tail.op_type == "Mul" else "Div(2)")
    return GeluMatch(x, out, scale, nodes, " ".join(variant))


def find_gelus(model: onnx.ModelProto) -> list[GeluMatch]:
    """Every Erf-form GELU in the main graph (subgraphs are left alone)."""
    if not any(_is(n, "Erf") for n in model.graph.node):
        return []
    ranks = {k: (len(v) if v is not None else None) for k, v in inferred_shapes(model).items()}
    g = _Graph(model.graph, ranks)
    matches, taken = [], set()
    for n in model.graph.node:
        m = match_erf(g, n) if _is(n, "Erf") else None
        outs = {node.output[0] for node in m.nodes} if m is not None else set()
        if m is not None and not outs & taken:  # a node belongs to one pattern at most
            matches.append(m)
            taken |= outs
    return matches


def decomposition(emit: _Emitter, x: str, out: str, scale: float, base: str) -> list[onnx.NodeProto]:
    """Nodes computing out = scale * x * (1 + erf(x / sqrt2)) without Erf, written sign-free:

        scale*x*(1 + erf(x/sqrt2)) = scale*(x + |x|) - |x| * scale*P(t) * exp(-x^2/2)
        t = 1 / (1 + (p/sqrt2)*|x|),  P(t) = a1 t + a2 t^2 + ... + a5 t^5    (A&S 7.1.26)

    and scale*(x + |x|) is Relu(x) for scale 0.5 and Add(x, |x|) for scale 1.
    """
    elem = emit.elem_type(x)
    new = emit.pool.new

    def node(op, inputs, tag):
        o = new(f"{base}/{tag}")
        nodes.append(helper.make_node(op, inputs, [o], name=new(f"{base}/{op}_{tag}")))
        return o

    def c(value, hint):
        return emit.const(value, elem, hint)

    nodes: list[onnx.NodeProto] = []
    ax = node("Abs", [x], "abs")
    d = node("Add", [node("Mul", [ax, c(AS_P / SQRT2, "gelu_p")], "pax"), c(1.0, "gelu_one")], "den")
    t = node("Div", [c(1.0, "gelu_one"), d], "t")
    b = [scale * a for a in AS_A]
    poly = node("Mul", [t, c(b[4], "gelu_b5")], "poly")
    for k in (3, 2, 1, 0):  # Horner: poly = ((((b5 t + b4) t + b3) t + b2) t + b1) t
        acc = node("Add", [poly, c(b[k], f"gelu_b{k + 1}")], f"horner{k + 1}")
        poly = node("Mul", [acc, t], f"poly{k + 1}")
    gauss = node("Exp", [node("Mul", [node("Mul", [x, x], "sq"), c(-0.5, "gelu_neg_half")], "arg")], "gauss")
    tail = node("Mul", [ax, node("Mul", [poly, gauss], "tail_c")], "tail")
    head = node("Relu", [x], "relu") if scale == 0.5 else node("Add", [x, ax], "x_plus_abs")
    nodes.append(helper.make_node("Sub", [head, tail], [out], name=new(f"{base}/Sub")))
    return nodes


class GeluDecompose(GraphPass):
    name = "gelu_decompose"
    description = "Erf-form GELU -> Abs, Mul, Add, Div, Exp, Relu, Sub (A&S 7.1.26 erf, |GELU error| <= 2.2e-7)"

    def apply(self, model: onnx.ModelProto) -> PassResult:
        matches = find_gelus(model)
        if not matches:
            return PassResult(model, False, [])
        emit = _Emitter(model)
        graph = model.graph
        # The new nodes go where the pattern's last node was (they read only x); nodes are
        # keyed by their first output, unique in a valid graph.
        by_last = {m.nodes[-1].output[0]: m for m in matches}
        dropped = {n.output[0] for m in matches for n in m.nodes}
        new_nodes, changes = [], []
        for node in graph.node:
            m = by_last.get(node.output[0]) if node.output else None
            if m is not None:
                base = m.erf.name or emit.pool.new("Gelu")  # named after the Erf
                new_nodes.extend(decomposition(emit, m.x, m.out, m.scale, base))
                changes.append({"node": base, "action": f"{m.variant} -> A&S 7.1.26 erf decomposition",
                                "scale": m.scale, "removed": [n.name for n in m.nodes]})
            elif not node.output or node.output[0] not in dropped:
                new_nodes.append(onnx.NodeProto.FromString(node.SerializeToString()))
        del graph.node[:]
        graph.node.extend(new_nodes)
        _drop_orphaned_constants(graph, {i for m in matches for n in m.nodes for i in n.input})
        return PassResult(model, True, changes)

    def ensures(self, model: onnx.ModelProto) -> None:
        left = find_gelus(model)
        if left:
            raise self.error(f"Erf-GELU patterns remain at {[m.erf.name for m in left]}")


def _drop_orphaned_constants(graph: onnx.GraphProto, candidates: set[str]) -> None:
    """Remove the matched nodes' constants (sqrt2, 1, 0.5) that nothing reads any more."""
    used = {i for n in graph.node for i in node_inputs(n)} | {o.name for o in graph.output}
    gone = candidates - used - {i.name for i in graph.input}
    inits = [t for t in graph.initializer if t.name not in gone]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    nodes = [n for n in graph.node if not (n.op_type == "Constant" and n.output and n.output[0] in gone)]
    if len(nodes) != len(graph.node):
        nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes]  # detach before clearing
        del graph.node[:]
        graph.node.extend(nodes)

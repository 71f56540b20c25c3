"""Multi-head self-attention without Transpose: one small attention per head.

Why: the usual export of multi-head attention (ViT/SVTR style)

    qkv [B, N, 3·H·D] -Reshape-> [B, N, 3, H, D] -Transpose(2,0,3,1,4)-> [3, B, H, N, D]
    q, k, v = qkv[0], qkv[1], qkv[2]                                   (Slice+Squeeze or Gather)
    O = Softmax((q·s) @ Transpose(k, 0,1,3,2)) @ v                     [B, H, N, D]
    Transpose(O, 0,2,1,3) -> [B, N, H, D]

moves the head axis in front of the token axis and back, which onnx2tf can only
express as TRANSPOSE ops in the TFLite model (2 per attention block, one of them 5-D,
which not every LiteRT delegate accepts). The same arithmetic reads each head's
q/k/v straight out of the last axis of `qkv` with a Slice:

    q_h = qkv[..., h·D:(h+1)·D], k_h = qkv[..., (H+h)·D:…], v_h = qkv[..., (2H+h)·D:…]
    O_h = Softmax((q_h·s) @ Transpose(k_h, 0,2,1)) @ v_h               [B, N, D]
    Concat(O_0 … O_{H-1}, axis=-1) is Transpose(O).Reshape([B, N, H·D]) element for element

Every output element is the same dot products and the same softmax row as before, so
the rewrite is exact up to the kernels' summation order. The remaining k-transpose
feeds a MatMul directly and the TFLite converter folds it into BATCH_MATMUL(adj_y).
Heads are concatenated in a tree of at most 4 inputs per Concat: an 8-input
CONCATENATION is not taken by LiteRT's XNNPACK delegate (measured: the graph split
into 3 delegate partitions), a 4-input one is.

Matched (static shapes needed to prove the reshape keeps [B, N]; run after pin_shapes):
optional scalar Mul on q (or on the scores), Softmax over the last axis, q/k/v picked
by Slice+Squeeze, Gather or Split+Squeeze on axis 0. Anything else is left alone and
reported with the reason.

Opset 11 and later (PP-OCRv6 rec ships as opset 11): Slice takes its bounds as inputs
from opset 10, and Softmax before 13, which flattens to 2-D at `axis`, is the same
softmax over the last axis when `axis` is the last axis; its default axis there is 1,
not -1, which the matcher accounts for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ._util import NamePool, attr, constant_value, inferred_shapes, opset_version
from .base import GraphPass, PassResult

QKV_PERM = [2, 0, 3, 1, 4]
HEADS_BACK_PERM = [0, 2, 1, 3]
K_TRANSPOSE_PERM = [0, 1, 3, 2]
MAX_CONCAT_INPUTS = 4  # largest CONCATENATION the XNNPACK delegate accepted here
MIN_OPSET = 11  # Slice with input bounds (10), Softmax with negative axes (11)


class _NoMatch(Exception):
    """This candidate is not the attention pattern; the message says why."""


@dataclass
class _Attention:
    qkv: str                    # [B, N, 3*H*D]
    heads: int
    head_dim: int
    q_scale: str | None         # scalar constant multiplied into q, if any
    score_scale: str | None     # scalar constant multiplied into the scores, if any
    removed: list[onnx.NodeProto]
    anchor: onnx.NodeProto      # the heads-back Transpose, removed last: new nodes go where it was
                                # and write its output ([B, N, H, D]), which the rest of the graph reads


class _Graph:
    """Producers, consumers and shapes of one graph, for pattern matching."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        graph = model.graph
        self.producer = {o: n for n in graph.node for o in n.output if o}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in graph.node:
            for i in n.input:
                if i:
                    self.consumers.setdefault(i, []).append(n)
        self.outputs = {o.name for o in graph.output}
        self.shapes = inferred_shapes(model)

    def only_consumer(self, value: str, op_type: str | tuple[str, ...]) -> onnx.NodeProto:
        users = self.consumers.get(value, [])
        types = (op_type,) if isinstance(op_type, str) else op_type
        if value in self.outputs or len(users) != 1 or users[0].op_type not in types:
            raise _NoMatch(f"'{value}' is not read by exactly one {'/'.join(types)}")
        return users[0]

    def const(self, name: str) -> np.ndarray | None:
        return constant_value(self.model.graph, name)

    def is_scalar_const(self, name: str) -> bool:
        value = self.const(name)
        return value is not None and value.size == 1


def _ints(graph: _Graph, name: str) -> list[int] | None:
    value = graph.const(name)
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def _selected_index(graph: _Graph, node: onnx.NodeProto) -> tuple[int, str, list[onnx.NodeProto]]:
    """Which of q/k/v (0/1/2) a consumer of the [3, B, H, N, D] tensor picks, the value
    holding it as [B, H, N, D], and the nodes that pick it."""
    if node.op_type == "Gather":
        index = graph.const(node.input[1])
        if attr(node, "axis", 0) != 0 or index is None or index.ndim != 0:
            raise _NoMatch(f"{node.name}: Gather is not a scalar pick on axis 0")
        return int(index), node.output[0], [node]
    if node.op_type == "Slice":
        starts, ends = _ints(graph, node.input[1]), _ints(graph, node.input[2])
        axes = _ints(graph, node.input[3]) if len(node.input) > 3 and node.input[3] else [0]
        steps = _ints(graph, node.input[4]) if len(node.input) > 4 and node.input[4] else [1]
        if not (starts and ends and len(starts) == 1 and axes == [0] and steps == [1] and ends[0] == starts[0] + 1):
            raise _NoMatch(f"{node.name}: Slice does not pick one entry of axis 0")
        squeeze = graph.only_consumer(node.output[0], "Squeeze")
        if _squeeze_axes(graph, squeeze) != [0]:
            raise _NoMatch(f"{squeeze.name}: does not squeeze axis 0")
        return starts[0], squeeze.output[0], [node, squeeze]
    raise _NoMatch(f"{node.name}: {node.op_type} is not a q/k/v pick")


def _squeeze_axes(graph: _Graph, node: onnx.NodeProto) -> list[int] | None:
    if len(node.input) > 1 and node.input[1]:
        return _ints(graph, node.input[1])
    return attr(node, "axes")


def _split_picks(graph: _Graph, split: onnx.NodeProto) -> list[tuple[int, str, list[onnx.NodeProto]]]:
    if attr(split, "axis", 0) != 0 or len(split.output) != 3:
        raise _NoMatch(f"{split.name}: Split is not three ways on axis 0")
    sizes = _ints(graph, split.input[1]) if len(split.input) > 1 and split.input[1] else attr(split, "split")
    if sizes not in (None, [1, 1, 1]):
        raise _NoMatch(f"{split.name}: Split sizes {sizes}")
    picks = []
    for i, out in enumerate(split.output):
        squeeze = graph.only_consumer(out, "Squeeze")
        if _squeeze_axes(graph, squeeze) != [0]:
            raise _NoMatch(f"{squeeze.name}: does not squeeze axis 0")
        picks.append((i, squeeze.output[0], [squeeze] + ([split] if i == 0 else [])))
    return picks


def _scaled_by_const(graph: _Graph, value: str) -> tuple[str | None, str, list[onnx.NodeProto]]:
    """If `value` is only multiplied by a scalar constant: (constant, product, [Mul])."""
    users = graph.consumers.get(value, [])
    if len(users) == 1 and users[0].op_type == "Mul" and value not in graph.outputs:
        mul = users[0]
        other = mul.input[1] if mul.input[0] == value else mul.input[0]
        if graph.is_scalar_const(other):
            return other, mul.output[0], [mul]
    return None, value, []


def _match(graph: _Graph, transpose: onnx.NodeProto) -> _Attention:
    reshape = graph.producer.get(transpose.input[0])
    if reshape is None or reshape.op_type != "Reshape":
        raise _NoMatch("the transposed tensor does not come from a Reshape")
    qkv = reshape.input[0]
    if len(graph.consumers.get(reshape.output[0], [])) != 1 or reshape.output[0] in graph.outputs:
        raise _NoMatch("the reshaped qkv is read elsewhere too")
    qkv_shape, split_shape = graph.shapes.get(qkv), graph.shapes.get(reshape.output[0])
    if not all(s is not None and all(isinstance(d, int) for d in s) for s in (qkv_shape, split_shape)):
        raise _NoMatch(f"qkv shapes not static: {qkv_shape} -> {split_shape} (run pin_shapes first)")
    if len(qkv_shape) != 3 or len(split_shape) != 5:
        raise _NoMatch(f"reshape {qkv_shape} -> {split_shape} is not [B, N, 3HD] -> [B, N, 3, H, D]")
    three, heads, head_dim = split_shape[2:]
    if not (three == 3 and qkv_shape[2] == 3 * heads * head_dim and qkv_shape[:2] == split_shape[:2]):
        raise _NoMatch(f"reshape {qkv_shape} -> {split_shape} does not split the last axis into 3 x H x D")

    picks_nodes = graph.consumers.get(transpose.output[0], [])
    if transpose.output[0] in graph.outputs:
        raise _NoMatch("the transposed qkv is a graph output")
    if len(picks_nodes) == 1 and picks_nodes[0].op_type == "Split":
        picks = _split_picks(graph, picks_nodes[0])
    else:
        picks = [_selected_index(graph, n) for n in picks_nodes]
    by_index = {i % 3: value for i, value, _ in picks}
    if len(picks) != 3 or sorted(by_index) != [0, 1, 2]:
        raise _NoMatch("q, k and v are not each picked exactly once")
    q, k, v = by_index[0], by_index[1], by_index[2]

    q_scale, q_scaled, q_mul = _scaled_by_const(graph, q)
    k_transpose = graph.only_consumer(k, "Transpose")
    if list(attr(k_transpose, "perm", [])) != K_TRANSPOSE_PERM:
        raise _NoMatch(f"{k_transpose.name}: k is not transposed as (0, 1, 3, 2)")
    scores = graph.only_consumer(k_transpose.output[0], "MatMul")
    if list(scores.input) != [q_scaled, k_transpose.output[0]]:
        raise _NoMatch(f"{scores.name}: does not compute q @ k^T")
    score_scale, scores_scaled, score_mul = _scaled_by_const(graph, scores.output[0])
    softmax = graph.only_consumer(scores_scaled, "Softmax")
    # Softmax-13 normalises over one axis (default -1); earlier ones over all axes from
    # `axis` on (default 1): the same op only when that is the last axis alone.
    if attr(softmax, "axis", -1 if opset_version(graph.model) >= 13 else 1) not in (-1, 3):
        raise _NoMatch(f"{softmax.name}: softmax is not over the last axis")
    weighted = graph.only_consumer(softmax.output[0], "MatMul")
    if list(weighted.input) != [softmax.output[0], v] or len(graph.consumers.get(v, [])) != 1:
        raise _NoMatch(f"{weighted.name}: does not compute softmax @ v")
    back = graph.only_consumer(weighted.output[0], "Transpose")
    if list(attr(back, "perm", [])) != HEADS_BACK_PERM:
        raise _NoMatch(f"{back.name}: heads are not moved back as (0, 2, 1, 3)")

    removed = [reshape, transpose, *{id(n): n for _, _, ns in picks for n in ns}.values(), *q_mul,
               k_transpose, scores, *score_mul, softmax, weighted, back]
    return _Attention(qkv, heads, head_dim, q_scale, score_scale, removed, back)


def _emit(att: _Attention, pool: NamePool, graph: onnx.GraphProto, base: str) -> list[onnx.NodeProto]:
    """Per-head attention nodes writing the anchor's output ([B, N, H, D])."""
    H, D = att.heads, att.head_dim
    nodes: list[onnx.NodeProto] = []

    def const(values: list[int], hint: str) -> str:
        name = pool.new(f"{base}/{hint}")
        graph.initializer.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    last_axis = const([2], "axis_last")

    def node(op: str, inputs: list[str], hint: str, **attrs) -> str:
        out = pool.new(f"{base}/{hint}")
        nodes.append(helper.make_node(op, inputs, [out], name=pool.new(f"{base}/{hint}_{op}"), **attrs))
        return out

    def head_slice(which: int, h: int, hint: str) -> str:
        start = (which * H + h) * D
        return node("Slice", [att.qkv, const([start], f"{hint}_start"), const([start + D], f"{hint}_end"),
                              last_axis], hint)

    head_outputs = []
    for h in range(H):
        q = head_slice(0, h, f"q{h}")
        if att.q_scale:
            q = node("Mul", [q, att.q_scale], f"q{h}_scaled")
        k_t = node("Transpose", [head_slice(1, h, f"k{h}")], f"k{h}_t", perm=[0, 2, 1])
        scores = node("MatMul", [q, k_t], f"scores{h}")
        if att.score_scale:
            scores = node("Mul", [scores, att.score_scale], f"scores{h}_scaled")
        probs = node("Softmax", [scores], f"probs{h}", axis=-1)
        head_outputs.append(node("MatMul", [probs, head_slice(2, h, f"v{h}")], f"out{h}"))

    level = 0
    while len(head_outputs) > 1:
        groups = [head_outputs[i:i + MAX_CONCAT_INPUTS] for i in range(0, len(head_outputs), MAX_CONCAT_INPUTS)]
        head_outputs = [g[0] if len(g) == 1 else node("Concat", g, f"heads_l{level}_{i}", axis=-1)
                        for i, g in enumerate(groups)]
        level += 1
    nodes.append(helper.make_node("Reshape", [head_outputs[0], const([0, 0, H, D], "bnhd")], [att.anchor.output[0]],
                                  name=pool.new(f"{base}/as_bnhd")))
    return nodes


class AttentionSplitHeads(GraphPass):
    name = "attention_split_heads"
    description = "Multi-head attention as per-head Slice/MatMul/Softmax: no head Transposes (exact)"

    def apply(self, model: onnx.ModelProto) -> PassResult:
        candidates = [n for n in model.graph.node
                      if n.op_type == "Transpose" and list(attr(n, "perm", [])) == QKV_PERM]
        if not candidates:
            return PassResult(model, False, [])
        if opset_version(model) < MIN_OPSET:  # an optimisation: never fail a conversion over it
            return PassResult(model, False, [{"node": n.name, "action": "skipped", "reason":
                                              f"needs opset >= {MIN_OPSET} (Slice bounds as inputs, "
                                              "Softmax with a negative axis)"}
                                             for n in candidates])
        graph = _Graph(model)
        changes, matches = [], []
        for transpose in candidates:
            try:
                matches.append(_match(graph, transpose))
            except _NoMatch as why:
                changes.append({"node": transpose.name, "action": "skipped", "reason": str(why)})
        if not matches:
            return PassResult(model, False, changes)

        pool = NamePool(model.graph)
        removed = {id(n) for m in matches for n in m.removed}
        replacement = {id(m.anchor): m for m in matches}
        new_nodes = []
        for node in model.graph.node:
            if id(node) in replacement:
                att = replacement[id(node)]
                new_nodes.extend(_emit(att, pool, model.graph, base=f"{att.anchor.name or 'attention'}/split"))
                changes.append({"node": att.anchor.name, "action": "attention split into per-head MatMuls",
                                "heads": att.heads, "head_dim": att.head_dim,
                                "removed": sorted({n.op_type for n in att.removed})})
            elif id(node) not in removed:
                new_nodes.append(node)
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
        return PassResult(model, True, changes)


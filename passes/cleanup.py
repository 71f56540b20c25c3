"""Graph hygiene: Constant nodes -> initializers, drop dead nodes and unused
initializers/value_info, give every node a unique non-empty name, and sort the
nodes topologically.

Why: onnx2tf names TF layers after ONNX nodes (it needs unique, non-empty
names), and converters treat initializers, not Constant nodes, as weights.
Dead nodes and stale value_info only confuse later passes and converters.
"""

from __future__ import annotations

import heapq
from collections import Counter

import onnx
from onnx import numpy_helper

from ._util import constant_node_value, node_inputs
from .base import GraphPass, PassResult


class Cleanup(GraphPass):
    name = "cleanup"
    description = "Constants -> initializers, remove dead code, unique node names, topological order"

    def requires(self, model: onnx.ModelProto) -> None:
        # IR < 4 requires every initializer to also be a graph input.
        if model.ir_version < 4:
            raise self.error(f"needs IR version >= 4, model has {model.ir_version}")

    def apply(self, model: onnx.ModelProto) -> PassResult:
        g = model.graph
        counts = {
            "constants_to_initializers": _constants_to_initializers(g),
            "dead_nodes_removed": _remove_dead_nodes(g),
            "initializers_removed": _remove_unused_initializers(g),
            "value_info_removed": _remove_unused_value_info(g),
            "nodes_renamed": _name_nodes(g),
            "nodes_reordered": _toposort(g, self),
        }
        changes = [{"action": k, "count": v} for k, v in counts.items() if v]
        return PassResult(model, bool(changes), changes)

    def ensures(self, model: onnx.ModelProto) -> None:
        names = [n.name for n in model.graph.node]
        dup = sorted(k for k, c in Counter(names).items() if c > 1)
        if "" in names or dup:
            raise self.error(f"node names not unique/non-empty: {dup or ['<empty>']}")


def _replace_nodes(g: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> None:
    nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in nodes]  # detach before clearing
    del g.node[:]
    g.node.extend(nodes)


def _constants_to_initializers(g: onnx.GraphProto) -> int:
    outputs = {o.name for o in g.output}
    keep, converted = [], 0
    for node in g.node:
        value = constant_node_value(node) if node.op_type == "Constant" and node.domain in ("", "ai.onnx") else None
        # A graph output stays a node output; sparse/string constants stay Constant nodes.
        if value is None or node.output[0] in outputs:
            keep.append(node)
            continue
        g.initializer.append(numpy_helper.from_array(value, node.output[0]))
        converted += 1
    if converted:
        _replace_nodes(g, keep)
    return converted


def _remove_dead_nodes(g: onnx.GraphProto) -> int:
    """Keep only nodes that (transitively) feed a graph output."""
    producer = {o: i for i, n in enumerate(g.node) for o in n.output if o}
    live: set[int] = set()
    stack = [o.name for o in g.output]
    while stack:
        i = producer.get(stack.pop())
        if i is not None and i not in live:
            live.add(i)
            stack.extend(node_inputs(g.node[i]))
    dead = len(g.node) - len(live)
    if dead:
        _replace_nodes(g, [n for i, n in enumerate(g.node) if i in live])
    return dead


def _used_names(g: onnx.GraphProto) -> set[str]:
    used = {o.name for o in g.output}
    for node in g.node:
        used |= node_inputs(node)
    return used


def _remove_unused_initializers(g: onnx.GraphProto) -> int:
    used = _used_names(g) | {i.name for i in g.input}  # inputs with defaults are interface
    keep = [t for t in g.initializer if t.name in used]
    removed = len(g.initializer) - len(keep)
    if removed:
        keep = [onnx.TensorProto.FromString(t.SerializeToString()) for t in keep]
        del g.initializer[:]
        g.initializer.extend(keep)
    return removed


def _remove_unused_value_info(g: onnx.GraphProto) -> int:
    """value_info describes intermediate values: keep one entry per node output."""
    produced = {o for n in g.node for o in n.output}
    seen, keep = set(), []
    for vi in g.value_info:
        if vi.name in produced and vi.name not in seen:
            keep.append(onnx.ValueInfoProto.FromString(vi.SerializeToString()))
            seen.add(vi.name)
    removed = len(g.value_info) - len(keep)
    if removed:
        del g.value_info[:]
        g.value_info.extend(keep)
    return removed


def _name_nodes(g: onnx.GraphProto) -> int:
    """Empty and repeated names get `<OpType>_<k>`; the first holder of a name keeps it."""
    taken = {n.name for n in g.node if n.name}
    seen: set[str] = set()
    counters: Counter = Counter()
    renamed = 0
    for node in g.node:
        if node.name and node.name not in seen:
            seen.add(node.name)
            continue
        while f"{node.op_type}_{counters[node.op_type]}" in taken:
            counters[node.op_type] += 1
        node.name = f"{node.op_type}_{counters[node.op_type]}"
        taken.add(node.name)
        seen.add(node.name)
        renamed += 1
    return renamed


def _toposort(g: onnx.GraphProto, pass_: GraphPass) -> int:
    """Stable Kahn sort (ties keep the original order). Returns how many nodes moved."""
    producer = {o: i for i, n in enumerate(g.node) for o in n.output if o}
    deps = [{producer[x] for x in node_inputs(n) if x in producer} - {i} for i, n in enumerate(g.node)]
    users: list[list[int]] = [[] for _ in g.node]
    for i, ds in enumerate(deps):
        for d in ds:
            users[d].append(i)
    waiting = [len(ds) for ds in deps]
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) != len(g.node):
        stuck = [g.node[i].name for i in range(len(g.node)) if waiting[i] > 0]
        raise pass_.error(f"graph has a cycle through nodes {stuck[:8]}")
    moved = sum(1 for pos, i in enumerate(order) if pos != i)
    if moved:
        _replace_nodes(g, [g.node[i] for i in order])
    return moved

"""Squeeze -> per-element ops / BatchNorm -> Unsqueeze of the same axes: drop the round trip.

Why: PP-OCRv6 tiny rec's neck squeezes the height-1 axis out of a conv output,
runs a BatchNorm1d and a hard-swish on [N, C, W], then unsqueezes the axis again
for the next 1x1 conv:

    Conv [1, C, 1, W] -Squeeze(2)-> BatchNorm, Mul/Add/Clip/Mul -Unsqueeze(2)-> Conv

onnx2tf 1.28.8 keeps the 3-D stretch as NWC and places the unsqueezed axis on the
wrong side of W ([1, W, 1, C] instead of NHWC [1, 1, W, C]); the Squeeze after the
next conv then fails ("Can not squeeze dim[1], expected a dimension of 1, got 40")
and the model does not convert at all. Run on the 4-D tensor, the same ops need no
Squeeze/Unsqueeze and convert without any TRANSPOSE.

The rewrite is exact: every op in between is per element (constants broadcast the
same way once given the unit axes too) or a BatchNormalization, which normalises
per channel (axis 1) whatever the other axes are; so it is matched only when no
squeezed axis is 0 or 1 if a BatchNormalization is in between. Values in between
must not be read by anything outside the stretch or be graph outputs.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ._util import NamePool, attr, constant_value, inferred_shapes, node_inputs, opset_version
from .base import GraphPass, PassResult

# Ops applied element by element whose inputs are all "data" (they broadcast).
ELEMENTWISE = {
    "Abs", "Add", "Ceil", "Clip", "Cos", "Div", "Elu", "Erf", "Exp", "Floor", "HardSigmoid", "HardSwish",
    "Identity", "LeakyRelu", "Log", "Max", "Min", "Mul", "Neg", "Pow", "PRelu", "Reciprocal", "Relu",
    "Round", "Selu", "Sigmoid", "Sign", "Sin", "Softplus", "Softsign", "Sqrt", "Sub", "Tanh", "ThresholdedRelu",
}


class _NoMatch(Exception):
    """This Squeeze does not start a removable round trip; the message says why."""


def _axes(graph: onnx.GraphProto, node: onnx.NodeProto, opset: int) -> list[int] | None:
    """The axes input (opset >= 13) or attribute of a Squeeze/Unsqueeze; None when absent."""
    if opset >= 13:
        if len(node.input) > 1 and node.input[1]:
            value = constant_value(graph, node.input[1])
            if value is None:
                raise _NoMatch(f"{node.name}: axes are not a constant")
            return [int(a) for a in np.asarray(value).reshape(-1)]
        return None
    axes = attr(node, "axes")
    return None if axes is None else [int(a) for a in axes]


class SqueezeRoundTrip(GraphPass):
    name = "squeeze_roundtrip"
    description = ("Squeeze -> per-element/BatchNorm ops -> Unsqueeze of the same size-1 axes: "
                   "run the ops on the unsqueezed tensor (exact)")

    def apply(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        opset = opset_version(model)
        squeezes = [n for n in graph.node if n.op_type == "Squeeze" and n.domain in ("", "ai.onnx")]
        if not squeezes or opset < 1:
            return PassResult(model, False, [])
        self._graph, self._opset = graph, opset
        self._shapes = inferred_shapes(model)
        self._outputs = {o.name for o in graph.output}
        self._consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in graph.node:
            for i in node_inputs(n):  # a subgraph's outer-scope reads count too
                self._consumers.setdefault(i, []).append(n)

        changes, matches = [], []
        for squeeze in squeezes:
            try:
                matches.append(self._match(squeeze))
            except _NoMatch as why:
                if str(why):  # an empty reason: not even the start of a round trip
                    changes.append({"node": squeeze.name, "action": "skipped", "reason": str(why)})
        if not matches:
            return PassResult(model, False, changes)

        pool = NamePool(graph)
        removed: set[int] = set()
        renamed: dict[str, str] = {}
        stale: set[str] = set()
        for squeeze, unsqueezes, nodes, values, axes, rank in matches:
            removed.add(id(squeeze))
            renamed[squeeze.output[0]] = squeeze.input[0]
            for u in unsqueezes:
                readers = self._consumers.get(u.output[0], [])
                if u.output[0] in self._outputs or any(u.output[0] not in r.input for r in readers):
                    # a graph output (or a value a subgraph reads by name) keeps its name
                    identity = helper.make_node("Identity", [u.input[0]], [u.output[0]], name=u.name)
                    u.CopyFrom(identity)
                else:
                    removed.add(id(u))
                    renamed[u.output[0]] = u.input[0]
            stale |= values
            for node in nodes:
                self._unsqueeze_constants(node, values, axes, rank, pool)
            changes.append({"node": squeeze.name, "action": "Squeeze/Unsqueeze round trip removed",
                            "axes": axes, "unsqueezes": [u.name for u in unsqueezes],
                            "ops": [n.op_type for n in nodes]})

        def resolve(name: str) -> str:
            while name in renamed:  # Squeeze -> Unsqueeze directly: two hops
                name = renamed[name]
            return name

        kept = [n for n in graph.node if id(n) not in removed]
        for node in kept:
            for i, name in enumerate(node.input):
                if name in renamed:
                    node.input[i] = resolve(name)
        kept = [onnx.NodeProto.FromString(n.SerializeToString()) for n in kept]  # detach before clearing
        del graph.node[:]
        graph.node.extend(kept)
        # the values in between change rank: their recorded shapes are stale
        vis = [vi for vi in graph.value_info if vi.name not in stale and vi.name not in renamed]
        del graph.value_info[:]
        graph.value_info.extend(vis)
        return PassResult(model, True, changes)

    # -- matching ------------------------------------------------------------
    def _match(self, squeeze: onnx.NodeProto):
        graph = self._graph
        in_shape = self._shapes.get(squeeze.input[0])
        if in_shape is None:
            raise _NoMatch("")
        rank = len(in_shape)
        axes = _axes(graph, squeeze, self._opset)
        if axes is None:  # squeeze every size-1 axis: needs the shape
            if not all(isinstance(d, int) for d in in_shape):
                raise _NoMatch("")
            axes = [i for i, d in enumerate(in_shape) if d == 1]
        axes = sorted({a % rank for a in axes}) if rank else []
        if not axes:
            raise _NoMatch("")

        # Every value computed from the squeezed tensor, up to Unsqueezes of the same axes.
        values, nodes, unsqueezes, blockers = {squeeze.output[0]}, [], [], []
        seen: set[int] = set()
        todo = deque([squeeze.output[0]])
        while todo:
            value = todo.popleft()
            if value in self._outputs:
                blockers.append(f"'{value}' is a graph output")
            for user in self._consumers.get(value, []):
                if id(user) in seen:
                    continue
                seen.add(id(user))
                if user.op_type == "Unsqueeze" and user.domain in ("", "ai.onnx") and user.input[0] == value:
                    unsqueezes.append(user)
                    u_axes = _axes(graph, user, self._opset)
                    if u_axes is None or sorted({a % rank for a in u_axes}) != axes:
                        blockers.append(f"{user.name}: unsqueezes axes {u_axes}, not {axes}")
                elif self._per_element(user, axes):
                    nodes.append(user)
                    values.add(user.output[0])
                    todo.append(user.output[0])
                elif user.op_type == "BatchNormalization" and len(user.output) == 1:
                    # a near miss worth reporting if the round trip closes behind it
                    blockers.append(f"{user.name}: BatchNormalization would not keep its channel axis "
                                    f"with axes {axes} squeezed")
                    values.add(user.output[0])
                    todo.append(user.output[0])
                else:
                    blockers.append(f"{user.name}: {user.op_type} is not a per-element op or a BatchNorm "
                                    "that keeps its channel axis")
        if not unsqueezes:  # no round trip at all: nothing to report
            raise _NoMatch("")
        if blockers:
            raise _NoMatch(blockers[0])
        squeezed_rank = rank - len(axes)
        for node in nodes:  # every other input must be a constant (the values in between are all known now)
            data_only_first = node.op_type in ("BatchNormalization", "Clip")  # params / bounds after input 0
            for i, name in enumerate(node.input):
                if not name or name in values:
                    if name and data_only_first and i > 0:
                        raise _NoMatch(f"{node.name}: input {i} comes from the Squeeze")
                    continue
                const = constant_value(graph, name)
                if const is None:
                    raise _NoMatch(f"{node.name}: input '{name}' is neither a constant nor from the Squeeze")
                if not data_only_first and const.ndim > squeezed_rank:
                    raise _NoMatch(f"{node.name}: constant '{name}' has rank {const.ndim} > {squeezed_rank}")
        return squeeze, unsqueezes, nodes, values, axes, rank

    def _per_element(self, node: onnx.NodeProto, axes: list[int]) -> bool:
        if node.domain not in ("", "ai.onnx") or len(node.output) != 1:
            return False
        if node.op_type == "BatchNormalization":  # per channel (axis 1); inference form only
            return min(axes) >= 2 and not attr(node, "training_mode", 0)
        return node.op_type in ELEMENTWISE

    # -- rewriting -----------------------------------------------------------
    def _unsqueeze_constants(self, node, values, axes, rank, pool) -> None:
        """Give constants that broadcast against a squeezed value the unit axes too."""
        if node.op_type in ("BatchNormalization", "Clip"):  # per-channel params / scalar bounds
            return
        squeezed_rank = rank - len(axes)
        for i, name in enumerate(node.input):
            if not name or name in values:
                continue
            const = np.asarray(constant_value(self._graph, name))
            if const.size == 1 and const.ndim <= squeezed_rank:
                continue  # a scalar broadcasts the same either way
            full = const.reshape((1,) * (squeezed_rank - const.ndim) + const.shape)
            new = pool.new(f"{name}/unsqueezed")
            self._graph.initializer.append(numpy_helper.from_array(np.expand_dims(full, tuple(axes)), new))
            node.input[i] = new

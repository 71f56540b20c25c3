"""Small ONNX graph helpers shared by the passes (no pass logic here)."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Iterator

import numpy as np
import onnx
from onnx import helper, numpy_helper


def opset_version(model: onnx.ModelProto, domain: str = "") -> int:
    for imp in model.opset_import:
        if imp.domain in (domain, "ai.onnx" if domain == "" else domain):
            return imp.version
    return 0


def op_histogram(model: onnx.ModelProto) -> Counter:
    return Counter(n.op_type for n in model.graph.node)


def dims(vi: onnx.ValueInfoProto) -> list[int | str | None] | None:
    """Shape of a value as a list: int (static), str (symbolic), None (unknown).

    Returns None when no shape is known at all (not even the rank).
    """
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [
        d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
        for d in t.shape.dim
    ]


def is_static(shape: list | None) -> bool:
    return shape is not None and all(isinstance(d, int) for d in shape)


def subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            yield from a.graphs


def names_used_in_subgraphs(node: onnx.NodeProto) -> set[str]:
    """All input names referenced inside a node's subgraphs (may include outer-scope
    values, which is what matters for liveness and ordering)."""
    used: set[str] = set()
    for g in subgraphs(node):
        for n in g.node:
            used.update(i for i in n.input if i)
            used |= names_used_in_subgraphs(n)
        used.update(o.name for o in g.output)
    return used


def node_inputs(node: onnx.NodeProto) -> set[str]:
    """Values a node depends on, including outer-scope values used by subgraphs."""
    return {i for i in node.input if i} | names_used_in_subgraphs(node)


def all_value_names(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {i.name for i in graph.initializer}
    for n in graph.node:
        names.update(n.input)
        names.update(n.output)
    names.discard("")
    return names


class NamePool:
    """Hands out names not yet used in a graph (tensor and node names)."""

    def __init__(self, graph: onnx.GraphProto):
        self.used = all_value_names(graph) | {n.name for n in graph.node}

    def new(self, base: str) -> str:
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name


def constant_value(graph: onnx.GraphProto, name: str) -> np.ndarray | None:
    """Value of `name` if it is an initializer or the output of a Constant node."""
    if not name:
        return None
    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for node in graph.node:
        if node.op_type == "Constant" and node.output and node.output[0] == name:
            return constant_node_value(node)
    return None


def constant_node_value(node: onnx.NodeProto) -> np.ndarray | None:
    """Value of a Constant node; None for forms we don't handle (sparse)."""
    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name == "value_float":
            return np.array(a.f, dtype=np.float32)
        if a.name == "value_floats":
            return np.array(list(a.floats), dtype=np.float32)
        if a.name == "value_int":
            return np.array(a.i, dtype=np.int64)
        if a.name == "value_ints":
            return np.array(list(a.ints), dtype=np.int64)
    return None


def value_infos(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    g = model.graph
    return {vi.name: vi for vi in [*g.value_info, *g.output, *g.input]}


def inferred_shapes(model: onnx.ModelProto) -> dict[str, list[int | str | None] | None]:
    """Every value's shape as far as plain onnx shape inference knows it (see `dims`)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    return {name: dims(vi) for name, vi in value_infos(inferred).items()}


def scalar_initializer(name: str, value: float, elem: int) -> onnx.TensorProto:
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


def attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            v = helper.get_attribute_value(a)
            return v.decode() if isinstance(v, bytes) else v
    return default


def set_attr(node: onnx.NodeProto, name: str, value) -> None:
    new = helper.make_attribute(name, value)
    for a in node.attribute:
        if a.name == name:
            a.CopyFrom(new)  # keep the attribute's position
            return
    node.attribute.append(new)


def fmt_names(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    head = ", ".join(names[:limit])
    return head + (f" … (+{len(names) - limit} more)" if len(names) > limit else "")


def strip_new_metadata(before: onnx.ModelProto, after: onnx.ModelProto, prefix: str = "onnxsim.") -> None:
    """Drop metadata_props a tool added under `prefix` (onnxsim records its run
    settings there); the pass reports its own changes instead."""
    keep = {p.key for p in before.metadata_props}
    props = [p for p in after.metadata_props if p.key in keep or not p.key.startswith(prefix)]
    del after.metadata_props[:]
    after.metadata_props.extend(props)

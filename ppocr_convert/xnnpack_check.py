"""Which ops of a .tflite the XNNPACK delegate (LiteRT's default CPU delegate) leaves to
TFLite's own kernels, and into how many partitions that splits the graph.

Why: an op XNNPACK does not take runs on TFLite's built-in kernel, and each one splits
the delegated graph. On int8 models that is where latency goes: LiteRT 2.3's XNNPACK has
no int8 HARD_SWISH, RELU or MAXIMUM, and PP-OCRv5 det's 24 int8 HARD_SWISHes on built-in
kernels made it slower than fp32 (see integer_hard_swish.py).

The model is loaded in the interpreter exactly as an app would (XNNPACK applied by
default); the interpreter lists each partition as a DELEGATE node beside the original
ops. Which original ops stayed outside follows from the graph: an op stayed outside when
a tensor it writes is not written by any partition but read by one, or is a model output,
or is read by another op that stayed outside.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class XnnpackReport:
    ops: int                                   # the model's own ops
    partitions: int                            # XNNPACK delegate kernels
    outside: dict[str, int] = field(default_factory=dict)   # op type -> count left to TFLite
    error: str = ""          # why the interpreter could not build the model (e.g. Flex ops)

    @property
    def all_inside(self) -> bool:
        return self.partitions == 1 and not self.outside and not self.error

    def to_dict(self) -> dict:
        return {"ops": self.ops, "partitions": self.partitions, "outside": self.outside,
                **({"error": self.error} if self.error else {})}

    def verdict(self) -> str:
        if self.error:
            return f"not measured: {self.error}"
        if self.partitions == 0:
            return "XNNPACK takes no op (every op on TFLite's kernels)"
        if self.all_inside:
            return f"all {self.ops} ops in one XNNPACK partition"
        left = ", ".join(f"{k} x{v}" for k, v in sorted(self.outside.items(), key=lambda kv: (-kv[1], kv[0])))
        return f"{self.partitions} XNNPACK partitions; left to TFLite's kernels: {left or 'none'}"


@dataclass(frozen=True)
class Node:
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def judge_nodes(nodes: list[Node], model_outputs: set[int]) -> XnnpackReport:
    """The pure rule on the interpreter's node list (original ops, then DELEGATE nodes)."""
    delegates = [n for n in nodes if n.name == "DELEGATE"]
    originals = [n for n in nodes if n.name != "DELEGATE"]
    if not delegates:
        return XnnpackReport(len(originals), 0, dict(sorted(Counter(n.name for n in originals).items())))
    written_by_partition = {t for d in delegates for t in d.outputs}
    read_by_partition = {t for d in delegates for t in d.inputs}
    producer = {t: i for i, n in enumerate(originals) for t in n.outputs}
    outside: set[int] = set()
    todo = [i for i, n in enumerate(originals)
            if any(t not in written_by_partition and (t in read_by_partition or t in model_outputs)
                   for t in n.outputs)]
    while todo:
        i = todo.pop()
        if i in outside:
            continue
        outside.add(i)
        # what an op outside reads was written outside too, unless a partition wrote it
        todo += [producer[t] for t in originals[i].inputs if t in producer and t not in written_by_partition]
    counts = Counter(originals[i].name for i in outside)
    return XnnpackReport(len(originals), len(delegates), dict(sorted(counts.items())))


def xnnpack_report(path: Path, threads: int = 1) -> XnnpackReport:
    from ai_edge_litert.interpreter import Interpreter

    from .quiet import native_stderr_silenced
    try:
        with native_stderr_silenced():   # the delegate's "Created ... XNNPACK delegate" line
            it = Interpreter(model_path=str(path), num_threads=threads)
            it.allocate_tensors()
    except (RuntimeError, ValueError) as e:   # Flex ops, or a file the interpreter rejects
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        flex = "Select TensorFlow op" in first
        return XnnpackReport(0, 0, {}, "the model needs Select TF (Flex) ops, which LiteRT's interpreter lacks"
                             if flex else f"the interpreter cannot build it ({first[:120]})")
    nodes = [Node(d["op_name"], tuple(int(t) for t in d["inputs"] if t >= 0),
                  tuple(int(t) for t in d["outputs"] if t >= 0))
             for d in it._get_ops_details()]   # the only listing of the delegated graph in Python
    return judge_nodes(nodes, {int(d["index"]) for d in it.get_output_details()})

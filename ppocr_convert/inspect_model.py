"""Describe a model file: inputs, outputs, op histogram, static/dynamic verdict and
which ops the LiteRT GPU delegate cannot run. Returns data; the CLI renders it."""
from __future__ import annotations

import collections
import contextlib
import io
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import SourceError

# ONNX ops that onnx2tf lowers to TFLite builtins the LiteRT GPU delegate runs
# (tensorflow/lite/delegates/gpu/common/model_builder.cc), for static shapes.
GPU_ONNX_OPS = {
    "Abs", "Add", "AveragePool", "BatchNormalization", "Cast", "Ceil", "Clip", "Concat", "Constant",
    "Conv", "ConvTranspose", "Cos", "DepthToSpace", "Div", "Elu", "Equal", "Exp", "Flatten", "Floor",
    "Gather", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "HardSwish", "Identity",
    "LeakyRelu", "Less", "Log", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mul", "Neg", "PRelu", "Pad",
    "Pow", "Reciprocal", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "Relu",
    "Reshape", "Resize", "Round", "Rsqrt", "Sigmoid", "Sin", "Slice", "Softmax", "SpaceToDepth", "Split",
    "Sqrt", "Squeeze", "Sub", "Tanh", "Tile", "Transpose", "Unsqueeze",
}
# HardSigmoid lowers fine in TFLite, but ONNX-consuming GPU runtimes lack it: the
# `hardsigmoid_decompose` pass exists for that, so the ONNX verdict flags it.
ONNX_GPU_REASONS = {
    "HardSigmoid": "not supported by ONNX GPU runtimes; run the hardsigmoid_decompose pass",
    "Shape": "dynamic shape computation; pin the input shape and simplify",
    "NonZero": "data-dependent output shape",
}


@dataclass
class TensorInfo:
    name: str
    shape: list
    dtype: str


@dataclass
class GpuIssue:
    op: str
    node: str
    reason: str


@dataclass
class ModelReport:
    path: str
    format: str
    bytes: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    op_histogram: dict[str, int]
    static_shapes: bool
    gpu_issues: list[GpuIssue] = field(default_factory=list)
    gpu_verdict: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        # dictionaries embedded in metadata are huge; report their size only
        d["metadata"] = {k: (v if len(v) < 200 else f"<{len(v.splitlines())} lines>") for k, v in self.metadata.items()}
        return d


def inspect_file(path: Path) -> ModelReport:
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path} does not exist", hint="check the path")
    if path.suffix == ".onnx":
        return inspect_onnx(path)
    if path.suffix == ".tflite":
        return inspect_tflite(path)
    raise SourceError(f"cannot inspect {path.name}: not .onnx or .tflite", hint="pass an .onnx or .tflite file")


def _dims(shape) -> list:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in shape.dim]


def inspect_onnx(path: Path) -> ModelReport:
    import onnx
    try:
        model = onnx.load(str(path))
    except Exception as e:
        raise SourceError(f"{path.name} is not a readable ONNX model ({e.__class__.__name__})",
                          hint="the file is truncated or not ONNX") from e
    from onnx import helper
    init_names = {i.name for i in model.graph.initializer}

    def info(vi):
        t = vi.type.tensor_type
        return TensorInfo(vi.name, _dims(t.shape), helper.tensor_dtype_to_np_dtype(t.elem_type).name)

    inputs = [info(i) for i in model.graph.input if i.name not in init_names]
    outputs = [info(o) for o in model.graph.output]
    hist = collections.Counter(n.op_type for n in model.graph.node)
    static = all(isinstance(d, int) and d > 0 for t in inputs + outputs for d in t.shape)
    issues = []
    for node in model.graph.node:
        if node.op_type in ONNX_GPU_REASONS:
            issues.append(GpuIssue(node.op_type, node.name, ONNX_GPU_REASONS[node.op_type]))
        elif node.op_type not in GPU_ONNX_OPS:
            issues.append(GpuIssue(node.op_type, node.name, "no LiteRT GPU delegate kernel"))
        elif node.op_type == "Resize":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            ctm = attrs.get("coordinate_transformation_mode", b"half_pixel")
            if ctm not in (b"asymmetric", b"align_corners"):
                issues.append(GpuIssue("Resize", node.name,
                                       f"coordinate_transformation_mode={ctm.decode()}; run the resize_asymmetric pass"))
    if not static:
        issues.append(GpuIssue("(graph)", "", "dynamic input/output shapes; pin them with the pin_shapes pass"))
    verdict = "compatible" if not issues else f"{len(issues)} issue(s)"
    meta = {p.key: p.value for p in model.metadata_props}
    return ModelReport(str(path), "onnx", path.stat().st_size, inputs, outputs, dict(sorted(hist.items())),
                       static, issues, verdict, meta)


def inspect_tflite(path: Path) -> ModelReport:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - fallback when litert is absent
        from tensorflow.lite.python.interpreter import Interpreter
    try:
        interp = Interpreter(model_path=str(path))
    except Exception as e:
        raise SourceError(f"{path.name} is not a readable TFLite model ({str(e).splitlines()[0][:120]})",
                          hint="the file is truncated or not TFLite") from e

    def info(d):
        sig = d.get("shape_signature")
        shape = [int(x) if x > 0 else "?" for x in (sig if sig is not None and len(sig) else d["shape"])]
        return TensorInfo(d["name"], shape, d["dtype"].__name__)

    inputs = [info(d) for d in interp.get_input_details()]
    outputs = [info(d) for d in interp.get_output_details()]
    hist = collections.Counter(op["op_name"] for op in interp._get_ops_details())
    static = all(isinstance(d, int) for t in inputs + outputs for d in t.shape)
    issues, verdict = tflite_gpu_compatibility(path)
    return ModelReport(str(path), "tflite", path.stat().st_size, inputs, outputs, dict(sorted(hist.items())),
                       static, issues, verdict)


def import_tensorflow():
    """Import TensorFlow, loading Paddle first when it is installed: with TensorFlow
    loaded first, Paddle Inference's predictor segfaults in the same process
    (paddlepaddle 3.0.0 + tensorflow 2.21), and one process may need both."""
    try:
        import paddle  # noqa: F401  (import order is the point)
    except ImportError:
        pass
    from .quiet import native_stderr_silenced
    with native_stderr_silenced():  # absl start-up lines (oneDNN, CUDA stubs)
        import tensorflow as tf
    return tf


_OP_LINE = re.compile(r"^\s*Op#(\d+)\s+(\S+?)\(")


def tflite_gpu_compatibility(path: Path) -> tuple[list[GpuIssue], str]:
    """Run TensorFlow's model analyzer with the GPU-delegate compatibility check
    (works without a GPU) and turn its text into per-op issues."""
    tf = import_tensorflow()
    buf = io.StringIO()
    from .quiet import native_stderr_silenced
    with contextlib.redirect_stdout(buf), native_stderr_silenced():
        tf.lite.experimental.Analyzer.analyze(model_path=str(path), gpu_compatibility=True)
    text = buf.getvalue()
    issues: list[GpuIssue] = []
    current_op, current_idx = "", ""
    for line in text.splitlines():
        m = _OP_LINE.match(line)
        if m:
            current_idx, current_op = m.group(1), m.group(2)
            continue
        if "GPU COMPATIBILITY WARNING" in line and "Subgraph#" not in line:
            reason = line.split("GPU COMPATIBILITY WARNING:", 1)[-1].strip()
            issues.append(GpuIssue(current_op, f"Op#{current_idx}", reason))
    ok = "looks compatible with GPU delegate" in text
    verdict = "compatible" if ok and not issues else f"{len(issues) or 'unknown'} issue(s)"
    return issues, verdict

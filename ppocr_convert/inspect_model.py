"""Describe a model file: inputs, outputs, op histogram, static/dynamic verdict and
which ops the LiteRT GPU delegate cannot run. Returns data; the CLI renders it."""
from __future__ import annotations

import collections
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import SourceError
from .tflite_opcodes import builtin_code

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
# ONNX ops onnx2tf lowers to TensorFlow (Flex) ops rather than TFLite builtins: the
# .tflite then needs the TF-ops runtime and the op never runs on the GPU delegate.
# Erf: onnx2tf 1.28.8 emits FlexErf (a converted rec model with erf-based GELU held 13).
ONNX_FLEX_OPS = {
    "Erf": "becomes the TensorFlow Flex op FlexErf in the .tflite (TF-ops runtime, never on the GPU "
           "delegate); fuse the erf-based GELU with a GELU pass",
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

    @classmethod
    def from_dict(cls, d: dict) -> "ModelReport":
        """The inverse of asdict (all fields kept), for reports cached by content."""
        return cls(d["path"], d["format"], d["bytes"], [TensorInfo(**t) for t in d["inputs"]],
                   [TensorInfo(**t) for t in d["outputs"]], dict(d["op_histogram"]), d["static_shapes"],
                   [GpuIssue(**i) for i in d["gpu_issues"]], d["gpu_verdict"], dict(d["metadata"]))


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
        if node.op_type in ONNX_FLEX_OPS:
            issues.append(GpuIssue(node.op_type, node.name, ONNX_FLEX_OPS[node.op_type]))
        elif node.op_type in ONNX_GPU_REASONS:
            issues.append(GpuIssue(node.op_type, node.name, ONNX_GPU_REASONS[node.op_type]))
        elif node.op_type not in GPU_ONNX_OPS:
            issues.append(GpuIssue(node.op_type, node.name, "no LiteRT GPU delegate kernel"))
        elif node.op_type == "Resize":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            ctm = attrs.get("coordinate_transformation_mode", b"half_pixel")
            if ctm not in (b"asymmetric", b"align_corners"):
                issues.append(GpuIssue("Resize", node.name,
                                       f"coordinate_transformation_mode={ctm.decode()}; "
                                       "run the resize_asymmetric pass"))
    if not static:
        issues.append(GpuIssue("(graph)", "", "dynamic input/output shapes; pin them with the pin_shapes pass"))
    verdict = format_gpu_verdict(issues)
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



# TFLite builtins the LiteRT GPU delegate has a kernel for: the cases of
# NewOperationParser() in tflite/delegates/gpu/common/model_builder.cc
# (github.com/google-ai-edge/LiteRT, formerly tensorflow/lite/delegates/gpu/common/
# model_builder.cc in tensorflow/tensorflow; read at LiteRT commit 34ec5badbb).
# DEQUANTIZE/QUANTIZE are parsed only with quantized ops allowed, which the delegate's
# default options turn on (TfLiteGpuDelegateOptionsV2Default in delegate_options.cc:
# experimental_flags = TFLITE_GPU_EXPERIMENTAL_FLAGS_ENABLE_QUANT); fp16 weight
# DEQUANTIZE nodes are folded into the delegate by FP16GraphPartitionHelper anyway.
# Every other builtin falls back to the CPU, splitting the GPU partition.
GPU_TFLITE_BUILTINS = frozenset({
    "ABS", "ADD", "ADD_N", "AVERAGE_POOL_2D", "BATCH_MATMUL", "CAST", "CONCATENATION", "CONV_2D", "COS",
    "CUMSUM", "DENSIFY", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE", "DEQUANTIZE", "DIV", "ELU", "EQUAL", "EXP",
    "FLOOR", "FLOOR_DIV", "FLOOR_MOD", "FULLY_CONNECTED", "GATHER", "GELU", "GREATER", "GREATER_EQUAL",
    "HARD_SWISH", "LEAKY_RELU", "LESS", "LESS_EQUAL", "LOG", "LOGICAL_AND", "LOGISTIC", "LSTM", "MAXIMUM",
    "MAX_POOL_2D", "MEAN", "MINIMUM", "MIRROR_PAD", "MUL", "NEG", "NOT_EQUAL", "ONE_HOT", "PACK", "PAD",
    "PADV2", "POW", "PRELU", "QUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "RELU", "RELU6",
    "RELU_0_TO_1", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SELECT",
    "SELECT_V2", "SIGN", "SIN", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT", "SPLIT_V", "SQRT", "SQUARE",
    "SQUARED_DIFFERENCE", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TILE", "TRANSPOSE", "TRANSPOSE_CONV",
    "UNPACK",
})
# Custom ops the same switch maps to GPU kernels (case kTfLiteBuiltinCustom).
GPU_TFLITE_CUSTOM_OPS = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D",
                                   "Resampler"})
# GetOpsToReplace() in the same file: a supported op is still left on the CPU when a
# non-constant input/output tensor has another type than these, or any tensor has rank >= 5.
_GPU_TENSOR_TYPES = {"FLOAT32", "FLOAT16", "INT8", "UINT8"}  # INT8/UINT8: quantized ops allowed
_GPU_LOGICAL_OPS = {"EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "NOT_EQUAL"}
_GPU_EXTRA_IN_TYPES = {"CAST": {"BOOL", "INT32"}, "ONE_HOT": {"INT32"}, "SELECT": {"BOOL"},
                       "SELECT_V2": {"BOOL"}, "LOGICAL_AND": {"BOOL"}, "GATHER": {"INT32"}}
_GPU_EXTRA_OUT_TYPES = {"CAST": {"BOOL", "INT32"}, "LOGICAL_AND": {"BOOL"}}
# TFLite ops a model pass can avoid, named in the issue's reason
_TFLITE_FIXES = {
    "FlexErf": "onnx2tf lowers ONNX Erf (erf-based GELU) to it; fuse the GELU with a GELU pass",
}


@dataclass
class TfliteOp:
    subgraph: int
    index: int
    name: str      # builtin name (CONV_2D), or the custom code (FlexErf, Erf)
    kind: str      # "builtin" | "flex" | "custom"
    tensor_problem: str = ""  # why the delegate rejects its tensors, if it does

    @property
    def node(self) -> str:
        return f"Op#{self.index}" if self.subgraph == 0 else f"Subgraph#{self.subgraph} Op#{self.index}"


def _tflite_schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # pragma: no cover - fallback when litert is absent
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def tflite_ops(path: Path) -> list[TfliteOp]:
    """Every operator of every subgraph, read from the flatbuffer itself (no interpreter:
    it needs no kernel for Flex or custom ops, and sees beyond the primary subgraph)."""
    schema = _tflite_schema()
    buf = Path(path).read_bytes()
    try:
        model = schema.Model.GetRootAs(buf, 0)
        n_subgraphs = model.SubgraphsLength()
    except Exception as e:
        raise SourceError(f"{Path(path).name} is not a readable TFLite model ({e.__class__.__name__})",
                          hint="the file is truncated or not TFLite") from e
    builtin_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = builtin_code(oc)
        if code == schema.BuiltinOperator.CUSTOM:
            custom = (oc.CustomCode() or b"").decode("utf-8", "replace")
            codes.append((custom or "CUSTOM", "flex" if custom.startswith("Flex") else "custom"))
        else:
            codes.append((builtin_names.get(code, f"BUILTIN_{code}"), "builtin"))

    def constant(tensor) -> bool:
        if getattr(tensor, "ExternalBuffer", lambda: 0)():  # newer schema: weights outside the file
            return True
        b = tensor.Buffer()
        if 0 < b < model.BuffersLength():
            buffer = model.Buffers(b)
            return buffer.DataLength() > 0 or buffer.Offset() > 1
        return False

    ops = []
    for s in range(n_subgraphs):
        sg = model.Subgraphs(s)

        def tensor_problem(ids, extra: set) -> str:
            for t_id in ids:
                if t_id < 0:  # optional input left out
                    continue
                t = sg.Tensors(int(t_id))
                rank = t.ShapeLength()
                if rank >= 5:
                    return f"T#{t_id} has rank {rank} (the delegate takes rank <= 4)"
                kind = type_names.get(t.Type(), str(t.Type()))
                if not constant(t) and not t.IsVariable() and kind not in _GPU_TENSOR_TYPES | extra:
                    return f"T#{t_id} is {kind} (the delegate takes float32/float16/int8/uint8 tensors here)"
            return ""

        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            name, kind = codes[op.OpcodeIndex()]
            problem = ""
            if kind == "builtin" and name in GPU_TFLITE_BUILTINS or kind == "custom" and name in GPU_TFLITE_CUSTOM_OPS:
                extra_out = _GPU_EXTRA_OUT_TYPES.get(name, set()) | ({"BOOL"} if name in _GPU_LOGICAL_OPS else set())
                problem = (tensor_problem(op.InputsAsNumpy() if op.InputsLength() else [],
                                          _GPU_EXTRA_IN_TYPES.get(name, set()))
                           or tensor_problem(op.OutputsAsNumpy() if op.OutputsLength() else [], extra_out))
            ops.append(TfliteOp(s, i, name, kind, problem))
    return ops


def tflite_op_issues(ops: list[TfliteOp]) -> list[GpuIssue]:
    """Ops the LiteRT GPU delegate cannot run: Flex (TensorFlow) ops, custom ops, builtins
    without a GPU kernel, and supported ops whose tensors it rejects."""
    issues = []
    for op in ops:
        fix = _TFLITE_FIXES.get(op.name)
        if op.kind == "flex":
            reason = ("TensorFlow (Flex) op: needs the TF-ops runtime on the phone and never runs on "
                      "the GPU delegate")
        elif op.kind == "custom" and op.name not in GPU_TFLITE_CUSTOM_OPS:
            reason = "custom op: the LiteRT GPU delegate has no kernel for it (needs its own CPU kernel too)"
        elif op.kind == "builtin" and op.name not in GPU_TFLITE_BUILTINS:
            reason = "no LiteRT GPU delegate kernel for this builtin; it falls back to the CPU"
        elif op.tensor_problem:
            reason = f"op is supported, but {op.tensor_problem}; it falls back to the CPU"
        else:
            continue
        issues.append(GpuIssue(op.name, op.node, f"{reason}; {fix}" if fix else reason))
    return issues


def format_gpu_verdict(issues: list[GpuIssue]) -> str:
    """`compatible`, or `incompatible: FlexErf x13, TOPK_V2 x1` (op types, most frequent first)."""
    if not issues:
        return "compatible"
    counts = collections.Counter(i.op for i in issues)
    return "incompatible: " + ", ".join(f"{op} x{n}" for op, n in
                                        sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def tflite_gpu_compatibility(path: Path) -> tuple[list[GpuIssue], str]:
    """Which ops of a .tflite the LiteRT GPU delegate cannot run (works without a GPU): an
    op-list check of every subgraph against the delegate's own op switch. Returns
    (issues, verdict).

    TensorFlow's model analyzer (`tf.lite.experimental.Analyzer`, gpu_compatibility=True)
    is not consulted: its GPU check is compiled out of the tensorflow 2.21 wheel (it calls
    FlexErf "compatible"), so it added nothing but a TensorFlow import (~1 GB resident,
    seconds) to every inspection."""
    issues = tflite_op_issues(tflite_ops(path))
    return issues, format_gpu_verdict(issues)

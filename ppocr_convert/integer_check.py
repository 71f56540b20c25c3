"""Is a .tflite fully integer? What NPU / DSP delegates need: every op computes on
integer tensors; only the QUANTIZE that takes the float32 model input and the
DEQUANTIZE that gives the float32 model output touch float.

`integer_report` reads the flatbuffer (no interpreter); `judge_ops` is the pure rule.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .tflite_opcodes import builtin_code

WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
FLOAT_TYPES = {"FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16"}


@dataclass(frozen=True)
class OpTypes:
    """One operator: its name and the element types of its activation (non-constant)
    inputs and outputs; `weight` is the type of a weighted op's filter (input 1)."""
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    weight: str | None = None
    custom: bool = False


@dataclass
class IntegerReport:
    fully_integer: bool
    float_ops: dict[str, int] = field(default_factory=dict)     # op type -> count computing in float
    weighted_ops: int = 0
    int8_weighted_ops: int = 0
    flex_or_custom: list[str] = field(default_factory=list)
    # ops reading or writing 16-bit activations (a16w8): integer, but LiteRT's XNNPACK has no
    # 16-bit kernels, so on a CPU they run on TFLite's reference kernels (rec w320 20-62x fp32)
    int16_activation_ops: int = 0

    @property
    def int8_weight_share(self) -> float:
        return self.int8_weighted_ops / self.weighted_ops if self.weighted_ops else 0.0

    def to_dict(self) -> dict:
        return {"fully_integer": self.fully_integer, "float_ops": self.float_ops,
                "weighted_ops": self.weighted_ops, "int8_weighted_ops": self.int8_weighted_ops,
                "int8_weight_share": round(self.int8_weight_share, 4), "flex_or_custom_ops": self.flex_or_custom,
                "int16_activation_ops": self.int16_activation_ops}

    def int16_note(self) -> str:
        """What 16-bit activations mean on a CPU ("" when there are none)."""
        if not self.int16_activation_ops:
            return ""
        return (f"16-bit activations on {self.int16_activation_ops} ops: for NPU delegates that run them; "
                "XNNPACK has no int16 kernels, so on a CPU they run on TFLite's reference kernels "
                "(the fp32 file is faster there)")

    def verdict(self) -> str:
        if self.fully_integer:
            return "fully integer"
        return "not fully integer: float " + ", ".join(f"{k} x{v}" for k, v in
                                                       sorted(self.float_ops.items(), key=lambda kv: (-kv[1], kv[0])))


def judge_ops(ops: list[OpTypes]) -> IntegerReport:
    float_ops: dict[str, int] = {}
    flex = []
    weighted = int8_weighted = int16 = 0
    for op in ops:
        int16 += "INT16" in op.inputs or "INT16" in op.outputs
        if op.custom:
            flex.append(op.name)
        if op.name in WEIGHTED:
            weighted += 1
            int8_weighted += op.weight == "INT8"
        # the model's float boundary: QUANTIZE float -> int, DEQUANTIZE int -> float
        if op.name == "QUANTIZE" and not (set(op.outputs) & FLOAT_TYPES):
            continue
        if op.name == "DEQUANTIZE" and not (set(op.inputs) & FLOAT_TYPES):
            continue
        if (set(op.inputs) | set(op.outputs)) & FLOAT_TYPES:
            float_ops[op.name] = float_ops.get(op.name, 0) + 1
    return IntegerReport(not float_ops and not flex, float_ops, weighted, int8_weighted, flex, int16)


def read_op_types(path: Path) -> list[OpTypes]:
    from .inspect_model import _tflite_schema
    schema = _tflite_schema()
    model = schema.Model.GetRootAs(Path(path).read_bytes(), 0)
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    sg = model.Subgraphs(0)

    def constant(t) -> bool:
        b = t.Buffer()
        return 0 < b < model.BuffersLength() and (model.Buffers(b).DataLength() > 0 or model.Buffers(b).Offset() > 1)

    def kinds(ids) -> tuple[str, ...]:
        out = []
        for i in ids:
            if i < 0:
                continue
            t = sg.Tensors(int(i))
            if not constant(t):
                out.append(types.get(t.Type(), str(t.Type())))
        return tuple(out)

    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        oc = model.OperatorCodes(op.OpcodeIndex())
        code = builtin_code(oc)
        custom = code == schema.BuiltinOperator.CUSTOM
        name = (oc.CustomCode() or b"CUSTOM").decode() if custom else builtin.get(code, str(code))
        ins = op.InputsAsNumpy() if op.InputsLength() else []
        weight = None
        if name in WEIGHTED and len(ins) > 1 and ins[1] >= 0:
            weight = types.get(sg.Tensors(int(ins[1])).Type())
        ops.append(OpTypes(name, kinds(ins), kinds(op.OutputsAsNumpy() if op.OutputsLength() else []), weight, custom))
    return ops


def integer_report(path: Path) -> IntegerReport:
    return judge_ops(read_op_types(path))

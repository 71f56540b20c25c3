"""The `tflite-int8` stage's quantizer: ai-edge-quantizer on the fp32 TFLite.

Full-integer static quantization: int8 weights (per output channel, symmetric), int8
activations (per tensor, asymmetric), float32 model input and output (the quantizer
puts QUANTIZE after the input and DEQUANTIZE before the output), so an app feeds the
int8 artifact exactly like the fp32 one. Ops the mixed-precision search keeps out of
int8 get an override entry: int16 activations (still integer: what NPU delegates need)
or float (no_quantize: a DEQUANTIZE/QUANTIZE pair around the op).

A recipe is plain JSON (ai-edge-quantizer's format), recorded in the manifest. Later
entries win; an override names one op by its scope, the op's output tensor name(s)
followed by ';' (tfl_flatbuffer_utils.get_op_scope).

Bias correction (bias_correction.py, on by default): each weighted op's float bias is
shifted by the mean output error its int8 weights add, measured once on calibration
samples; an op a recipe keeps in float gets its original bias back.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

SIGNATURE_KEY = "serving_default"
KEEP_MODES = ("int16", "float")

_WEIGHTS = {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"}


def _static_entry(regex: str, activation_bits: int) -> dict:
    return {"regex": regex, "operation": "*", "algorithm_key": "min_max_uniform_quantize",
            "op_config": {"activation_tensor_config": {"num_bits": activation_bits,
                                                       # int16 activations must be symmetric (TFLite's 16x8 kernels)
                                                       "symmetric": activation_bits == 16,
                                                       "granularity": "TENSORWISE", "dtype": "INT"},
                          "weight_tensor_config": dict(_WEIGHTS), "compute_precision": "INTEGER",
                          "explicit_dequantize": False, "skip_checks": False, "min_weight_elements": 0}}


def weight_only_recipe() -> list[dict]:
    """int8 weights exactly as the static recipe rounds them, float compute (DEQUANTIZE
    before each weighted op): what bias correction measures the weight error on."""
    cfg = {"weight_tensor_config": dict(_WEIGHTS), "compute_precision": "FLOAT", "explicit_dequantize": True,
           "skip_checks": False, "min_weight_elements": 0}
    return [{"regex": ".*", "operation": "*", "algorithm_key": "min_max_uniform_quantize", "op_config": cfg}]


def float_scopes(recipe: list[dict], scopes: Iterable[str]) -> set[str]:
    """The scopes whose last matching recipe entry keeps them out of quantization."""
    out = set()
    entries = [e for e in recipe if e["operation"] not in ("INPUT", "OUTPUT")]
    for scope in scopes:
        last = None
        for e in entries:
            if re.search(e["regex"], scope):
                last = e
        if last is not None and last["algorithm_key"] == "no_quantize":
            out.add(scope)
    return out


def scope_regex(scope: str) -> str:
    """The regex that matches exactly one op's scope (its output tensor names + ';')."""
    return "^" + re.escape(scope) + "$"


def build_recipe(keep: Iterable[tuple[str, str]] = (), activation_bits: int = 8) -> list[dict]:
    """int8 weights and `activation_bits` (8, or 16: TFLite's 16x8 kernels) activations
    everywhere, then one override per kept op: (scope, "int16" | "float")."""
    if activation_bits not in (8, 16):
        raise ValueError(f"activation_bits {activation_bits}: 8 or 16")
    recipe = [_static_entry(".*", activation_bits)]
    for scope, mode in keep:
        if mode not in KEEP_MODES:
            raise ValueError(f"keep mode {mode!r}: choose from {', '.join(KEEP_MODES)}")
        if mode == "int16":
            recipe.append(_static_entry(scope_regex(scope), 16))
        else:
            recipe.append({"regex": scope_regex(scope), "operation": "*", "algorithm_key": "no_quantize"})
    # float32 model input and output: the graph's INPUT/OUTPUT pseudo-ops stay float, the
    # quantizer puts QUANTIZE/DEQUANTIZE inside the graph instead
    recipe += [{"regex": ".*", "operation": io, "algorithm_key": "no_quantize"} for io in ("INPUT", "OUTPUT")]
    return recipe


def kept_ops(recipe: list[dict]) -> list[dict]:
    """The overrides of a recipe as {scope regex, mode}: what stayed out of int8."""
    out = []
    for entry in recipe[1:]:
        if entry["operation"] in ("INPUT", "OUTPUT"):
            continue
        bits = entry.get("op_config", {}).get("activation_tensor_config", {}).get("num_bits")
        out.append({"regex": entry["regex"], "mode": "float" if entry["algorithm_key"] == "no_quantize"
                    else f"int{bits}"})
    return out


def with_signature(model: bytes) -> bytes:
    """onnx2tf writes no SignatureDef; ai-edge-quantizer calibrates through one. Adds
    `serving_default` over subgraph 0's inputs and outputs (a model with one is returned
    unchanged). Nothing else in the flatbuffer changes."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    obj = fbu.convert_bytearray_to_object(bytearray(model))
    if obj.signatureDefs:
        return model
    graph = obj.subgraphs[0]

    def tensor_map(index: int):
        t = schema.TensorMapT()
        name = graph.tensors[index].name
        t.name, t.tensorIndex = name.decode() if isinstance(name, bytes) else name, index
        return t

    sig = schema.SignatureDefT()
    sig.inputs = [tensor_map(i) for i in graph.inputs]
    sig.outputs = [tensor_map(i) for i in graph.outputs]
    sig.signatureKey, sig.subgraphIndex = SIGNATURE_KEY, 0
    obj.signatureDefs = [sig]
    return bytes(fbu.convert_object_to_bytearray(obj))


def input_name(model: bytes) -> str:
    from ai_edge_litert.interpreter import Interpreter
    sig = Interpreter(model_content=model).get_signature_list()[SIGNATURE_KEY]
    return sig["inputs"][0]


@contextlib.contextmanager
def _quiet():
    """ai-edge-quantizer prints a size report and tqdm bars to stdout/stderr."""
    from ..quiet import native_stderr_silenced
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), native_stderr_silenced():
        yield


def _quantize(model: bytes, recipe: list[dict], qsvs, work: Path) -> bytes:
    from ai_edge_quantizer import quantizer
    path = work / "input.tflite"
    path.write_bytes(model)
    q = quantizer.Quantizer(str(path))
    q.load_quantization_recipe(recipe)
    with _quiet():
        result = q.quantize(qsvs, enable_progress_bar=False, enable_progress_report=False)
    return bytes(result.quantized_model)


def quantize_weights_only(fp32_model: bytes, samples: list[np.ndarray], bias_correction: int = 16) -> bytes:
    """int8 weights rounded as the static recipe rounds them, float compute (a DEQUANTIZE
    before each weighted op), biases corrected on `samples[:bias_correction]` (0: none).
    No activation calibration. Float32 I/O like the fp32 model; about 0.28x its size."""
    import shutil
    model = with_signature(fp32_model)
    work = Path(tempfile.mkdtemp(prefix="ppocr-int8w-"))
    try:
        plain = _quantize(model, weight_only_recipe(), None, work)
        if bias_correction <= 0:
            return plain
        from .bias_correction import corrected_biases, with_biases
        biases = corrected_biases(model, plain, samples[:bias_correction])
        return _quantize(with_biases(model, biases), weight_only_recipe(), None, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def calibrated_ranges(model_path: Path, input_tensor: str, samples: list[np.ndarray], threads: int) -> dict:
    """ai-edge-quantizer's calibration (per tensor, min/max of each sample, moving average
    over the samples) in its profiler-based mode: TFLite's C++ kernels record each tensor's
    min/max as they run, on XNNPACK. The default mode keeps every tensor of the graph alive
    and copies them to Python: on PP-OCRv5 det at its 1024x1024 canvas that peaked at 3.47 GB
    and took 37 s for 31 samples; this mode 0.72 GB and 9 s, with the same ranges (largest
    relative difference 7e-7, float64 rounding). Ranges come back as float32 like the
    default mode's."""
    from ai_edge_quantizer import calibrator, quantizer
    q = quantizer.Quantizer(str(model_path))
    q.load_quantization_recipe(build_recipe())
    with _quiet():
        qsvs = q.calibrate({SIGNATURE_KEY: [{input_tensor: s} for s in samples]}, num_threads=threads,
                           mode=calibrator.CalibrationMode.CALIBRATION_PROFILER_BASED)
    return {name: {**entry, **{k: np.asarray(entry[k], np.float32) for k in ("min", "max")}}
            for name, entry in qsvs.items()}


OPTIONAL_REWRITES = ("clip", "hard_swish", "gelu", "transpose_conv", "large_depthwise")


def graph_rewrites() -> list[tuple[str, Callable[[bytes], tuple[bytes, int]]]]:
    """(name, rewrite) of the int8 stage's graph rewrites, in the order they run; each
    returns (model, ops rewritten). `minimum` always runs, the others (OPTIONAL_REWRITES)
    when `[int8] rewrite_<name>` says so. All act on the int8 stage's copy of the fp32
    model only, each for an op ai-edge-quantizer or LiteRT 2.3 handles badly at int8:
    clip: RELU(MINIMUM(x, c)) leaves XNNPACK twice; MUL with a fused RELU6 and a MUL run
      inside (integer_clip.py; float rounding; before `minimum`, which would take the MINIMUM);
    minimum: MINIMUM has no int8/int16 quantizer policy; -MAXIMUM(-x, -c) has
      (integer_minimum.py; bit-identical);
    hard_swish: HARD_SWISH runs outside XNNPACK; its ADD+RELU6 and MUL form runs inside
      (integer_hard_swish.py; float rounding);
    gelu: the decomposed Erf GELU's DIV/RELU run outside XNNPACK and its ABS/EXP stay
      float; x * sigmoid(1.702 x) runs inside (integer_gelu.py; within 0.021 of GELU);
    transpose_conv: int8 TRANSPOSE_CONV is slow; kernel == stride ones become a 1x1
      CONV_2D and a pixel shuffle (integer_transpose_conv.py; exact);
    large_depthwise: depthwise kernels above 5x5 are slow; they become pieces of at most
      5x5 summed (integer_large_depthwise.py; exact)."""
    from .integer_clip import without_clip
    from .integer_gelu import without_erf_gelu
    from .integer_hard_swish import without_hard_swish
    from .integer_large_depthwise import without_large_depthwise
    from .integer_minimum import without_minimum
    from .integer_transpose_conv import without_transpose_conv
    return [("clip", without_clip), ("minimum", without_minimum), ("hard_swish", without_hard_swish),
            ("gelu", without_erf_gelu), ("transpose_conv", without_transpose_conv),
            ("large_depthwise", without_large_depthwise)]


class Int8Quantizer:
    """One fp32 model: bias correction and calibration once (min/max of every tensor over
    the calibration samples), then quantize with any recipe (milliseconds each).

    `bias_correction`: how many calibration samples measure each weighted op's input mean
    (0: no correction). `activation_percentile` below 100: each activation range is the
    central percentile of the fp32 values instead of their min/max (activation_ranges.py).
    `input_range`: the values the model input can take (calibration.input_range); the
    input's quantization range becomes it, with what calibration saw. `range_margin`: every
    other activation range widened by this factor. All three live in activation_ranges.py.
    `rewrites`: the OPTIONAL_REWRITES to apply (`[int8] rewrite_<name>` in the configs).
    `self.model` is the fp32 model as given, with a signature and graph_rewrites() applied
    (MINIMUM's always, the optional ones named in `rewrites`);
    `self.rewritten[name]` says how many ops each rewrote (0 when off);
    `self.biases` holds the corrected biases by op scope."""

    def __init__(self, fp32_model: bytes, samples: list[np.ndarray], threads: int | None = None,
                 bias_correction: int = 16, activation_percentile: float = 100.0,
                 input_range: tuple[float, float] | None = None, range_margin: float = 1.0,
                 rewrites: Iterable[str] = ()):
        unknown = set(rewrites) - set(OPTIONAL_REWRITES)
        if unknown:
            raise ValueError(f"unknown int8 rewrite(s) {sorted(unknown)}: choose from {', '.join(OPTIONAL_REWRITES)}")
        switched_on = {"minimum", *rewrites}
        self.model = with_signature(fp32_model)
        self.rewritten: dict[str, int] = {}
        for name, rewrite in graph_rewrites():
            self.rewritten[name] = 0
            if name in switched_on:
                self.model, self.rewritten[name] = rewrite(self.model)
        self.input = input_name(self.model)
        self._tmp = Path(tempfile.mkdtemp(prefix="ppocr-int8-"))
        self.biases: dict[str, np.ndarray] = {}
        self._shared: dict[int, int] = {}
        from . import activation_ranges as ranges
        from .bias_correction import bias_plan
        from .fp32_capture import capture
        plan = bias_plan(self.model, self._run(self.model, weight_only_recipe())) if bias_correction > 0 else None
        clip = activation_percentile < 100.0
        # one fp32 pass for both bias correction's input means and the percentiles' values
        activations = capture(self.model, samples, means_of=plan.inputs if plan else set(),
                              mean_samples=bias_correction,
                              values_of=ranges.activation_tensors(self.model) - {self.input} if clip else set(),
                              value_samples=ranges.SAMPLES if clip else 0)
        if plan is not None:
            self.biases = plan.corrected(activations.channel_means)
        self._path = self._tmp / "fp32.tflite"
        self._path.write_bytes(self._with_biases(set()))
        threads = threads or max(1, min(4, os.cpu_count() or 1))
        self.qsvs = calibrated_ranges(self._path, self.input, samples, threads)
        if clip:
            self.qsvs = ranges.clipped_qsvs(self.qsvs, activations.value_subsets, activation_percentile,
                                            keep={self.input})
        if range_margin != 1.0:
            self.qsvs = ranges.widened_qsvs(self.qsvs, range_margin, {self.input})
        if input_range is not None:
            self.qsvs = ranges.with_input_range(self.qsvs, self.model, self.input, input_range)

    def _with_biases(self, original: set[str]) -> bytes:
        """The model with every corrected bias except those of `original` (scopes)."""
        from .bias_correction import with_biases
        return with_biases(self.model, {k: v for k, v in self.biases.items() if k not in original})

    def _run(self, model: bytes, recipe: list[dict], qsvs=None) -> bytes:
        return _quantize(model, recipe, qsvs, self._tmp)

    def quantize(self, recipe: list[dict]) -> bytes:
        """Quantize with `recipe`; ops it keeps in float get their original bias back. Each
        repeated vector of the result is written once (shared_vectors.py: bit-identical
        inference, PP-OCRv6 tiny det 0.38x -> 0.33x of fp32); `shared_bytes(model)` says how
        many bytes that saved."""
        from .shared_vectors import with_shared_vectors
        keep_float = float_scopes(recipe, self.biases)
        model = self._with_biases(keep_float) if keep_float else self._path.read_bytes()
        model, shared = with_shared_vectors(self._run(model, recipe, self.qsvs))
        self._shared[hash(model)] = shared
        return model

    def shared_bytes(self, model: bytes) -> int:
        """The bytes with_shared_vectors saved on `model`, a result of quantize()."""
        return self._shared.get(hash(model), 0)

    def close(self) -> None:
        import shutil
        shutil.rmtree(self._tmp, ignore_errors=True)

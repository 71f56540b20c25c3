"""Does a TFLite artifact compute what its ONNX computes? Seeded inputs through both.

Used wherever the chain takes a shortcut that onnx2tf itself would not: onnx2tf run
without its whole-graph validation inference (backend.py) and rec buckets re-emitted
from the narrowest one (retarget.py). A shortcut's artifact is kept only when it passes;
otherwise the caller builds it the long way.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

# What an artifact must meet against its ONNX (onnxruntime), on seeded inputs.
# fp32: onnx2tf's own conversions agree to ~1e-5 (measured: PP-OCRv5 rec w640 8.6e-6,
# PP-OCRv6 tiny rec w1920 2.3e-4); a wrong reshape or layout gives differences near 1.
# fp16: weights rounded to half make the largest difference large by itself (PP-OCRv6 tiny
# rec: 0.04 at w320 to 0.11 at w1920 for onnx2tf's own conversion), so the check is the mean
# difference and, for a recogniser, the argmax per time step, which a misplaced step
# breaks. Mean differences of onnx2tf's own fp16 conversions: rec 1e-6 (v5) to 5e-6 (v6
# tiny), det 2.3e-5 (v6 small), the 2-class orientation classifier 2.2e-3 (its mean is
# its largest difference); a wrong layout or weight gives 0.1 and more.
CHECKS: dict[str, dict[str, float]] = {
    "tflite-fp32": {"max_abs_diff": 1e-3},
    "tflite-fp16": {"mean_abs_diff": 1e-2, "argmax_disagreement": 0.02},
}
METRICS = ("max_abs_diff", "mean_abs_diff", "argmax_disagreement")


def onnx_input_shape(onnx_path: Path) -> tuple[int, ...]:
    import onnx
    dims = onnx.load(str(onnx_path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return tuple(int(d.dim_value) for d in dims)


def verification_inputs(shape_nchw: tuple[int, ...], count: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Seeded inputs in [-1, 1] (NCHW, as the ONNX takes them): inside the range of both
    rec's (x-0.5)/0.5 and det's ImageNet normalisation."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, size=shape_nchw).astype(np.float32) for _ in range(count)]


def check_threads() -> int:
    """Threads for the check's two runtimes: it runs once onnx2tf has finished, with the
    machine's cores free (on 2 cores: det's check 2.2 s on one thread)."""
    import os
    return max(1, min(4, os.cpu_count() or 1))


def onnx_outputs(onnx_path: Path, inputs: list[np.ndarray], threads: int | None = None) -> list[np.ndarray]:
    """The ONNX model's first output for each (NCHW) input, in onnxruntime."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or check_threads()
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [session.run(None, {name: x})[0] for x in inputs]


def compare_to_onnx(model: bytes, onnx_path: Path, inputs: list[np.ndarray],
                    expected: list[np.ndarray] | None = None) -> dict[str, float]:
    """Output differences between the TFLite model (NHWC input) and the ONNX model (NCHW
    input) over `inputs`: worst max and mean absolute difference, and the share of
    positions whose argmax over the last axis differs (a recogniser's time steps). All
    inf when the input or output shapes disagree, or LiteRT cannot run the model (Flex
    ops). `expected`: the ONNX outputs, when already computed (onnx_outputs)."""
    from ai_edge_litert.interpreter import Interpreter

    expected = expected if expected is not None else onnx_outputs(onnx_path, inputs)
    worst = dict.fromkeys(METRICS, 0.0)
    try:
        # XNNPACK, as deployed on CPU: LiteRT's reference kernels take 0.6 s per w1280 rec run
        interp = Interpreter(model_content=model, num_threads=check_threads())
        interp.allocate_tensors()
    except (RuntimeError, ValueError):  # Flex or custom ops stock LiteRT cannot run: cannot be checked
        return dict.fromkeys(METRICS, float("inf"))
    tin, tout = interp.get_input_details()[0], interp.get_output_details()[0]
    for x, want in zip(inputs, expected):
        if list(tin["shape"]) != [x.shape[0], x.shape[2], x.shape[3], x.shape[1]]:
            return dict.fromkeys(METRICS, float("inf"))  # not the graph of that shape
        interp.set_tensor(tin["index"], np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
        interp.invoke()
        got = interp.get_tensor(tout["index"])
        if got.ndim == 4 and got.shape != want.shape and got.transpose(0, 3, 1, 2).shape == want.shape:
            got = got.transpose(0, 3, 1, 2)  # det's probability map comes back NHWC
        if got.shape != want.shape:
            return dict.fromkeys(METRICS, float("inf"))
        diff = np.abs(got.astype(np.float64) - want)
        measured = {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                    "argmax_disagreement": (float((got.argmax(-1) != want.argmax(-1)).mean())
                                            if want.ndim == 3 else 0.0)}
        worst = {k: max(worst[k], measured[k]) for k in worst}
    return worst


def failed_checks(target: str, measured: dict[str, float]) -> list[str]:
    return [f"{name} {measured[name]:.3g} > {limit:g}" for name, limit in CHECKS[target].items()
            if not measured[name] <= limit]


def expected_outputs(onnx_path: Path, count: int = 2, threads: int | None = None) -> list[np.ndarray]:
    """The ONNX's outputs on the check's inputs: computable before the TFLite exists (the
    back-end runs it on one thread while onnx2tf converts)."""
    return onnx_outputs(onnx_path, verification_inputs(onnx_input_shape(onnx_path), count), threads)


def check_artifacts(models: dict[str, bytes], onnx_path: Path, count: int = 2,
                    expected: list[np.ndarray] | None = None) -> tuple[dict, list[str]]:
    """Compare every precision's model with `onnx_path`: ({target: measured checks},
    ["tflite-fp16: mean_abs_diff 0.4 > 0.001", ...]). `expected`: expected_outputs(onnx_path,
    count), when already computed."""
    inputs = verification_inputs(onnx_input_shape(onnx_path), count)
    if expected is None:
        expected = onnx_outputs(onnx_path, inputs)  # once for every precision
    checks, problems = {}, []
    for target, model in models.items():
        measured = compare_to_onnx(model, onnx_path, inputs, expected)
        checks[target] = {k: measured[k] for k in CHECKS[target]}
        problems += [f"{target}: {p}" for p in failed_checks(target, measured)]
    return checks, problems

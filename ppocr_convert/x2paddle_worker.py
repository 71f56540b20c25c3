"""Child-process phases of the Paddle reference rebuild (paddle_reference.py):

    python -P -m ppocr_convert.x2paddle_worker REQUEST.json RESULT.json

`convert`: x2paddle (ONNX -> Paddle dygraph code + weights), then `paddle.jit.to_static`
+ `paddle.jit.save` (paddlepaddle 3.0.0) -> PIR `inference.json`; the feed keeps the ONNX
input name (x2paddle would call it `x2paddle_<name>`).
`parity`: Paddle Inference on the rebuilt model vs onnxruntime on the source ONNX.

Why a child: x2paddle and Paddle print floods from C++ that only a child's redirected
fds catch, x2paddle imports its generated code as a module named `x2paddle_code` (one
conversion per process), and a crash or `exit()` in them must not take the caller down.
The result file holds `{"ok": true, ...}` or `{"ok": false, "error": one line}`.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

X2PADDLE_PREFIX = "x2paddle_"


def seeded_input(shape: list[int], seed: int) -> np.ndarray:
    """The parity-check input: uniform [0, 1) float32 from ``numpy.random.default_rng(seed)``."""
    return np.random.default_rng(seed).random(tuple(int(d) for d in shape), dtype=np.float32)


def convert(onnx_path: str, save_dir: str, input_name: str, input_shape: list[int] | None) -> dict:
    import paddle
    from x2paddle.decoder.onnx_decoder import ONNXDecoder
    from x2paddle.op_mapper.onnx2paddle.onnx_op_mapper import ONNXOpMapper
    from x2paddle.optimizer.optimizer import GraphOptimizer

    save = Path(save_dir)
    # x2paddle's own input_shape_dict is a string it eval()s
    shape_dict = repr({input_name: input_shape}) if input_shape is not None else None
    # the steps of x2paddle.convert.onnx2paddle, minus its telemetry thread and minus
    # gen_model's export, which names the feed "x2paddle_<name>" and exits 0 on errors
    decoder = ONNXDecoder(onnx_path, True, shape_dict)
    try:
        mapper = ONNXOpMapper(decoder)
    except Exception as e:
        if "not supported" in str(e):
            graph = decoder.graph
            ops = sorted({graph.get_node(n).layer_type for n in graph.topo_sort} - _supported_ops(decoder))
            raise RuntimeError(f"x2paddle 1.6.0 does not support ONNX ops: {', '.join(ops) or '?'}") from e
        raise
    graph = mapper.paddle_graph
    graph.build()
    GraphOptimizer(source_frame="onnx").optimize(graph)
    save.mkdir(parents=True, exist_ok=True)
    graph.gen_code(str(save))
    graph.dump_parameter(str(save))

    spec = importlib.util.spec_from_file_location("x2paddle_code", save / "x2paddle_code.py")
    code = importlib.util.module_from_spec(spec)
    sys.modules["x2paddle_code"] = code
    spec.loader.exec_module(code)
    paddle.disable_static()
    layer = getattr(code, graph.name)()
    layer.set_dict(paddle.load(str(save / "model.pdparams")))
    layer.eval()
    specs, inputs = [], []
    for name in graph.inputs:
        shape, dtype = graph.inputs_info[name]
        feed = name.removeprefix(X2PADDLE_PREFIX)
        specs.append(paddle.static.InputSpec(shape=shape, dtype=dtype, name=feed))
        inputs.append({"name": feed, "shape": [int(d) for d in shape], "dtype": str(dtype)})
    prefix = save / "inference_model" / "inference"
    paddle.jit.save(paddle.jit.to_static(layer, input_spec=specs, full_graph=True), str(prefix))
    model_file = prefix.with_suffix(".json")
    if not model_file.is_file() or not prefix.with_suffix(".pdiparams").is_file():
        written = sorted(p.name for p in prefix.parent.iterdir()) if prefix.parent.is_dir() else []
        raise RuntimeError(f"paddle.jit.save wrote no PIR model (inference.json + .pdiparams); "
                           f"found {written} (is FLAGS_enable_pir_api off?)")
    return {"model_file": str(model_file), "inputs": inputs}


def _supported_ops(decoder: Any) -> set[str]:
    """The ONNX ops x2paddle's op mapper knows, to name the ones it does not."""
    from x2paddle.op_mapper.onnx2paddle import onnx_op_mapper

    probe = onnx_op_mapper.ONNXOpMapper.__new__(onnx_op_mapper.ONNXOpMapper)
    probe.default_op_set, probe.support_op_sets = 9, [7, 8, 9, 10, 11, 12, 13, 14, 15]
    probe.paddle_graph = None
    try:
        opset = probe.create_opset(decoder)
    except Exception:
        return set()
    ops = {n for n in dir(opset) if not n.startswith("_")}
    return ops | set(getattr(opset, "directly_map_ops", {})) | set(getattr(opset, "elementwise_ops", {}))


def parity(model_dir: str, onnx_path: str, shape: list[int], seed: int) -> dict:
    from ppocr_convert.runners.onnx_runtime import OnnxRuntimeRunner
    from ppocr_convert.runners.paddle_inference import PaddleRunner

    x = seeded_input(shape, seed)
    paddle = PaddleRunner(model_dir, stage="paddle")
    candidate, reference = paddle.run(x), OnnxRuntimeRunner(onnx_path, stage="onnx-raw").run(x)
    if len(candidate) != len(reference):
        raise ValueError(f"output count differs: {len(candidate)} vs {len(reference)}")
    diffs = []
    for c, r in zip(candidate, reference):
        if c.shape != r.shape:
            raise ValueError(f"output shape differs: {list(c.shape)} vs {list(r.shape)}")
        diffs.append(float(np.max(np.abs(c.astype(np.float64) - r.astype(np.float64)))) if c.size else 0.0)
    return {"max_abs_diffs": diffs, "output_shapes": [list(o.shape) for o in candidate],
            "outputs": paddle.output_names}


PHASES = {"convert": convert, "parity": parity}


def main(argv: list[str]) -> int:
    request_path, result_path = map(Path, argv)
    request = json.loads(request_path.read_text())
    try:
        result, code = {"ok": True, **PHASES[request.pop("phase")](**request)}, 0
    except BaseException as e:  # x2paddle calls exit(); report that too
        traceback.print_exc()
        message = (str(e).strip().splitlines() or [""])[0][:300]
        result, code = {"ok": False, "error": f"{type(e).__name__}: {message}"}, 1
    sys.stdout.flush()
    sys.stderr.flush()
    result_path.write_text(json.dumps(result))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

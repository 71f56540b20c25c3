"""Paddle Inference runner: the reference every converted stage is compared against.

Handles both export formats found in the wild:
  * Paddle 3 PIR: inference.json + inference.pdiparams (needs the new IR / executor);
  * legacy ProgramDesc: inference.pdmodel + inference.pdiparams.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .base import Runner, TensorSpec

# Legacy ProgramDesc VarType codes -> numpy dtype names (framework.proto).
_PROTO_DTYPES = {5: "float32", 4: "float16", 6: "float64", 2: "int32", 3: "int64", 20: "uint8", 21: "int8"}


def find_model_files(model_dir: Path) -> tuple[Path, Path]:
    """(model_file, params_file) in a Paddle inference dir; PIR json preferred over pdmodel."""
    model_dir = Path(model_dir)
    for suffix in (".json", ".pdmodel"):
        candidates = [model_dir / f"inference{suffix}"] + sorted(model_dir.glob(f"*{suffix}"))
        for model in candidates:
            params = model.with_suffix(".pdiparams")
            if model.is_file() and params.is_file():
                return model, params
    raise FileNotFoundError(
        f"{model_dir}: no Paddle inference model (inference.json|inference.pdmodel + inference.pdiparams)"
    )


class PaddleRunner(Runner):
    def __init__(
        self,
        model_dir: Path | str,
        stage: str = "paddle",
        threads: int | None = None,
        use_mkldnn: bool = False,
    ):
        from paddle import inference as paddle_infer

        self.path = Path(model_dir)
        self.stage = stage
        self.model_file, self.params_file = find_model_files(self.path)
        self._is_pir = self.model_file.suffix == ".json"

        config = paddle_infer.Config(str(self.model_file), str(self.params_file))
        config.disable_gpu()
        config.disable_glog_info()  # otherwise every predictor prints hundreds of IR-pass lines
        # oneDNN is ~5x faster on CPU, but it swaps in other kernels/fusions (bf16 on some
        # CPUs; several Paddle 3.x releases even crash in oneDNN on PIR programs, Paddle issue
        # #77340). The reference stays on plain fp32 kernels by default so any difference is
        # the converter's, not the engine's. Measured for the parity workers (Dec 2026,
        # `python -m bench.paddle_mkldnn`, 6 photos, 1 thread; max |Δ| on vs off):
        #   PP-OCRv5 det 4.6e-5 (0.136 -> 0.086 s/image), rec 2.5e-5 (0.079 -> 0.060 s/crop)
        #   PP-OCRv4 det 3.4e-5 (0.236 -> 0.106 s/image), rec 1.8e-5 (0.136 -> 0.077 s/crop)
        #   PP-OCRv6 small det 4.8e-5, rec 1.6e-4; v6 tiny det 1.2e-4, rec 1.8e-5 (both slower with it)
        # Decoded texts were the same everywhere, but no model's outputs are bit-identical, and
        # every same-input figure of every stage is measured against these outputs: it stays off.
        if use_mkldnn:
            config.enable_mkldnn()
        else:
            config.disable_mkldnn()
        config.set_cpu_math_library_num_threads(int(threads or os.cpu_count() or 1))
        config.switch_use_feed_fetch_ops(False)  # as PaddleOCR does; required for zero-copy handles
        config.switch_ir_optim(True)  # PaddleOCR's default; graph fusions are fp32-exact enough
        # buffer reuse between ops, as PaddleOCR configures it: outputs bit-identical (measured
        # on v4 det/rec and v5 rec), the v4 det's resident memory over 8 image sizes 1.9 -> 0.9 GB
        config.enable_memory_optim()
        if self._is_pir:
            config.enable_new_ir(True)
            config.enable_new_executor(True)
        self._predictor = paddle_infer.create_predictor(config)

        names = self._predictor.get_input_names()
        if len(names) != 1:
            raise ValueError(f"{self.path}: expected 1 input, model has {len(names)}")
        self._input_name = names[0]
        self._output_names = list(self._predictor.get_output_names())
        self._spec = self._read_input_spec()

    def _read_input_spec(self) -> TensorSpec:
        # The predictor's input handle reports [0] until fed, so read the declared shape
        # from the model file itself.
        try:
            if self._is_pir:
                shape, dtype = _pir_input(self.model_file, self._input_name)
            else:
                shape, dtype = _program_input(self.model_file, self._input_name)
        except Exception:  # unknown format revision: fall back to "everything dynamic"
            shape, dtype = (None, 3, None, None), "float32"
        shape = tuple(int(d) if d is not None and int(d) > 0 else None for d in shape)
        return TensorSpec(self._input_name, shape, dtype)

    @property
    def input_spec(self) -> TensorSpec:
        return self._spec

    @property
    def output_names(self) -> list[str]:
        return list(self._output_names)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        x = np.ascontiguousarray(x, dtype=np.float32)
        handle = self._predictor.get_input_handle(self._input_name)
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(x)
        self._predictor.run()
        return [self._predictor.get_output_handle(n).copy_to_cpu() for n in self._output_names]

    def __repr__(self) -> str:
        fmt = "pir" if self._is_pir else "legacy"
        return f"PaddleRunner(stage={self.stage!r}, path={str(self.path)!r}, format={fmt})"


def _program_input(model_file: Path, name: str) -> tuple[tuple, str]:
    from paddle.base.proto import framework_pb2

    program = framework_pb2.ProgramDesc.FromString(model_file.read_bytes())
    for var in program.blocks[0].vars:
        if var.name == name:
            tensor = var.type.dense_tensor.tensor
            return tuple(tensor.dims), _PROTO_DTYPES.get(tensor.data_type, str(tensor.data_type))
    raise KeyError(name)


def _pir_input(model_file: Path, name: str) -> tuple[tuple, str]:
    # PIR json: a "<dialect>.data" op whose attributes hold the feed name, shape and dtype.
    program = json.loads(model_file.read_text(encoding="utf-8"))
    for op in _walk_ops(program["program"]):
        if not str(op.get("#", "")).endswith(".data"):
            continue
        attrs = {a.get("N"): a.get("AT", {}).get("D") for a in op.get("A", []) if isinstance(a, dict)}
        if attrs.get("name") == name:
            return tuple(attrs["shape"]), str(attrs.get("dtype", "float32"))
    raise KeyError(name)


def _walk_ops(node):
    if isinstance(node, dict):
        if "ops" in node:
            yield from node["ops"]
        for value in node.values():
            if isinstance(value, (dict, list)):
                yield from _walk_ops(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_ops(item)

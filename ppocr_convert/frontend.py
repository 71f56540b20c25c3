"""Front-end: Paddle inference model → ONNX (`onnx-raw`) with paddle2onnx.

Both Paddle formats are accepted: Paddle 3 `inference.json` (PIR) and the legacy
`inference.pdmodel`. The result must load in the current onnxruntime; a recogniser
gets its dictionary embedded in the ONNX metadata (key `character`, the convention
RapidOCR and PaddleX use) so the ONNX file is self-describing.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import onnx

from .errors import ToolError
from .sources import PADDLE_PARAMS, ResolvedSource
from .toolrun import ToolRun, run_tool


def paddle_to_onnx(source: ResolvedSource, out_path: Path, opset: int, log_path: Path) -> ToolRun:
    graph_name = "inference.json" if source.format == "paddle-json" else "inference.pdmodel"
    argv = [
        str(Path(sys.executable).with_name("paddle2onnx")),
        "--model_dir", str(source.path),
        "--model_filename", graph_name,
        "--params_filename", PADDLE_PARAMS,
        "--save_file", str(out_path),
        "--opset_version", str(opset),
        # keep the opset we were asked for; silently raising it breaks reproducibility
        "--enable_auto_update_opset", "False",
    ]
    run = run_tool("paddle2onnx", argv, log_path,
                   hint=f"paddle2onnx could not convert {source.path}; see {log_path}")
    if not out_path.is_file():
        raise ToolError("paddle2onnx exited cleanly but wrote no ONNX file", hint=f"see {log_path}",
                        log_path=str(log_path))
    check_loads_in_onnxruntime(out_path)
    return run


def copy_onnx(source: ResolvedSource, out_path: Path) -> None:
    """A packaged/provided ONNX enters at `onnx-raw` unchanged (apart from metadata)."""
    shutil.copyfile(source.path, out_path)
    check_loads_in_onnxruntime(out_path)


def check_loads_in_onnxruntime(path: Path) -> None:
    import onnxruntime as ort
    try:
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ToolError(f"onnxruntime cannot load {path.name}: {str(e).splitlines()[0][:200]}",
                        hint="try another --opset") from e


def embed_metadata(path: Path, props: dict[str, str]) -> None:
    model = onnx.load(str(path))
    existing = {p.key: p for p in model.metadata_props}
    for key, value in props.items():
        if key in existing:
            existing[key].value = value
        else:
            model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def read_dictionary(path: Path) -> list[str]:
    return [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8").splitlines()]

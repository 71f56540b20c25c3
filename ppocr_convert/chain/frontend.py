"""Front-end: Paddle inference model → ONNX (`onnx-raw`) with paddle2onnx.

Both Paddle formats are accepted: Paddle 3 `inference.json` (PIR) and the legacy
`inference.pdmodel`. The result must load in the current onnxruntime; a recogniser
gets its dictionary embedded in the ONNX metadata (key `character`, the convention
RapidOCR and PaddleX use) so the ONNX file is self-describing.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import onnx

from ..errors import ToolError
from .paddle_params import check_paddle_params
from .sources import PADDLE_PARAMS, ResolvedSource, external_data_locations
from ..toolrun import ToolRun, run_tool


# Graph repairs applied to every paddle2onnx output, before anything else looks at it:
# without them onnxruntime refuses some exported models (see each pass's docstring).
FRONTEND_REPAIRS = ["concat_rank_fix"]


def paddle_to_onnx(source: ResolvedSource, out_path: Path, opset: int, log_path: Path) -> tuple[ToolRun, list[dict]]:
    """Returns the tool run and the repair passes' reports."""
    graph_name = "inference.json" if source.format == "paddle-json" else "inference.pdmodel"
    # paddle2onnx aborts on a damaged parameters file without naming it: check first
    check_paddle_params(source.path / PADDLE_PARAMS)
    with tempfile.TemporaryDirectory(prefix="p2o-") as work:
        argv = [sys.executable, "-m", "ppocr_convert.chain.p2o_worker",
                "--model-file", str(source.path / graph_name),
                "--params-file", str(source.path / PADDLE_PARAMS),
                "--save-file", str(out_path), "--opset", str(opset)]
        # cwd: paddle2onnx leaves scratch files (uuid-named, sym_shape_infer_temp.onnx) in it
        run = run_tool("paddle2onnx", argv, log_path, cwd=Path(work),
                       hint=f"paddle2onnx could not convert {source.path}; see {log_path}")
    if not out_path.is_file():
        raise ToolError("paddle2onnx exited cleanly but wrote no ONNX file", hint=f"see {log_path}",
                        log_path=str(log_path))
    from ppocr_convert.passes.manager import run_pipeline
    from ppocr_convert.passes.base import PassError
    try:
        model, reports = run_pipeline(onnx.load(str(out_path)), FRONTEND_REPAIRS)
    except PassError as e:
        raise ToolError(f"repairing paddle2onnx output failed: {e}", hint=f"see {log_path}") from e
    if any(r.modified for r in reports):
        onnx.save(model, str(out_path))
    check_loads_in_onnxruntime(out_path)
    return run, [r.to_dict() for r in reports]


def copy_onnx(source: ResolvedSource, out_path: Path) -> None:
    """A packaged/provided ONNX enters at `onnx-raw` unchanged (apart from metadata); one
    that keeps its weights in external data files becomes one self-contained file."""
    if external_data_locations(onnx.load(str(source.path), load_external_data=False)):
        onnx.save(onnx.load(str(source.path)), str(out_path))
    else:
        shutil.copyfile(source.path, out_path)
    check_loads_in_onnxruntime(out_path)


def check_loads_in_onnxruntime(path: Path) -> None:
    import onnxruntime as ort
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only; failures raise anyway
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ToolError(f"onnxruntime cannot load {path.name}: {str(e).splitlines()[0][:200]}",
                        hint="the graph uses something this onnxruntime does not run: try another --opset, "
                             "or --skip-pass the pass that produced it") from e


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

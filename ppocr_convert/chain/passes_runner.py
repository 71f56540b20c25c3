"""The `onnx` stage: the configured graph passes at one static input shape.

The result must still load in onnxruntime: a pass that produces a graph the runtime
refuses fails here, with the pass error's start on the terminal and all of it in
passes.log (onnx's inference errors run to thousands of characters on one line).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import onnx

from ..errors import PassFailedError
from ..passes.base import PassError
from ..passes.manager import run_pipeline
from .frontend import check_loads_in_onnxruntime


def pass_options(input_name: str, shape: tuple[int, ...], passes: list[str]) -> dict:
    """Per-pass options that depend on the build: the static shape `pin_shapes` pins.

    `simplify` runs without onnxsim's own onnxruntime comparison: at det's 1024² it ran
    both models once, 2.1 s of a 2.2 s pass (measured, PP-OCRv5 det), the cost that put
    the `onnx` stage at 2-4× the plain way's. What it compared is compared by `parity`
    on real photos instead (`onnx` against `onnx-raw`, same input), which `release` gates
    on; the simplified graph is the same either way (the check only reads it)."""
    options: dict[str, dict] = {"pin_shapes": {"shapes": {input_name: list(shape)}}}
    if "simplify" in passes:
        options["simplify"] = {"check": False}
    return options


def run_passes(raw_path: Path, out_dir: Path, passes: list[str], options: dict, log_path: Path) -> None:
    """Write out_dir/model.onnx, passes.json (what each pass changed) and stage.json."""
    t = time.perf_counter()
    try:
        model, reports = run_pipeline(onnx.load(str(raw_path)), passes, options)
    except PassError as e:
        log_path.write_text(f"{e}\n", encoding="utf-8")
        raise PassFailedError(short_message(str(e)), log_path=str(log_path),
                              hint=f"skip the pass with --skip-pass, or change --shape; full text in {log_path}") from e
    onnx.save(model, str(out_dir / "model.onnx"))
    check_loads_in_onnxruntime(out_dir / "model.onnx")
    (out_dir / "passes.json").write_text(json.dumps([r.to_dict() for r in reports], indent=1, default=str))
    (out_dir / "stage.json").write_text(json.dumps({"seconds": round(time.perf_counter() - t, 2)}))


def short_message(text: str, limit: int = 300) -> str:
    """One line of at most `limit` characters (the full text goes to a log)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1].rstrip() + "…"

"""Rebuild a Paddle 3 inference model (``inference.json`` + ``inference.pdiparams``) from
a paddle2onnx-produced ONNX file, so the ``paddle`` reference stage exists offline for
models shipped only as ONNX (PP-OCRv6; see reference.py for when and where it is cached).

The route back to Paddle:

1. the ``hardswish_decompose`` pass (x2paddle 1.6.0's ONNX importer has no HardSwish;
   the pass writes its exact definition, ``x * Clip(x/6 + 0.5, 0, 1)``);
2. x2paddle + ``paddle.jit.save`` -> PIR ``inference.json`` (x2paddle_worker.py, a child);
3. Paddle Inference on the result vs onnxruntime on the *original* ONNX, seeded input
   (another child); the max abs diff is recorded in ``rebuild.json``.

Both children run through ``toolrun.run_tool`` (own process group, timeout); their output
is collected in ``<out_dir>.rebuild.log`` beside ``out_dir``. A failure raises
:class:`RebuildError`, a one-line ToolError whose hint names that log.

    python -m ppocr_convert.paddle_reference --onnx det.onnx --out build/ppocrv6_det_paddle
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from .errors import ConvertError, ToolError
from .fsutil import replace_dir, sha256_file, sweep_stale_temp_dirs, temp_dir
from .toolrun import run_tool
from .x2paddle_worker import seeded_input

MODEL_FILE = "inference.json"
PARAMS_FILE = "inference.pdiparams"
PROVENANCE_FILE = "rebuild.json"
REQUIREMENTS = "requirements.lock"

CHECK_SEED = 0
#: a dynamic (non-batch) dim of the ONNX input becomes this in the parity-check input
#: (a multiple of 32 for det, a typical width for rec)
CHECK_DYNAMIC_DIM = 320
#: the graph rewrites x2paddle needs first (ppocr_convert.passes)
PREPARE_PASSES = ["hardswish_decompose"]
#: tools whose versions decide the rebuilt model: recorded in rebuild.json, part of its cache key
REBUILD_TOOLS = ("x2paddle", "paddlepaddle", "onnx", "onnxruntime", "sympy", "numpy")
#: the code that decides the rebuilt model: its digest is part of the cache key
REBUILD_CODE = ("ppocr_convert.paddle_reference", "ppocr_convert.x2paddle_worker",
                "ppocr_convert.passes.hardswish_decompose", "ppocr_convert.passes.hardsigmoid_decompose")
PHASE_TIMEOUT_S = 1800


class RebuildError(ToolError):
    """The rebuild failed: one line; ``log_path`` (a Path) is the rebuild log."""

    def __init__(self, message: str, log_path: Path | None = None, hint: str | None = None):
        if hint is None:
            hint = f"see the rebuild log: {log_path}" if log_path else "check the source ONNX"
        super().__init__(" ".join(str(message).split()), hint=hint)
        self.log_path = log_path


def rebuild_tool_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in REBUILD_TOOLS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def rebuild_code_digest() -> str:
    """SHA-256 over the source of the modules in REBUILD_CODE (names and contents)."""
    h = hashlib.sha256()
    for name in REBUILD_CODE:
        h.update(name.encode() + b"\0" + sha256_file(Path(importlib.util.find_spec(name).origin)).encode())
    return h.hexdigest()


def default_check_shape(onnx_dims: Sequence[int | str], hint: Sequence[int] | None = None) -> list[int]:
    """Concrete parity-check input shape: the hint's (else the ONNX input's) static dims;
    a dynamic batch becomes 1, any other dynamic dim ``CHECK_DYNAMIC_DIM``."""
    dims = list(hint) if hint is not None else list(onnx_dims)
    return [int(d) if isinstance(d, int) and d > 0 else (1 if i == 0 else CHECK_DYNAMIC_DIM)
            for i, d in enumerate(dims)]


def prepare_for_x2paddle(model: Any) -> tuple[Any, dict[str, int]]:
    """(model x2paddle can import, {pass name: nodes rewritten}); the input is not modified."""
    from ppocr_convert.passes.manager import run_pipeline
    prepared, reports = run_pipeline(model, PREPARE_PASSES)
    return prepared, {r.name: len(r.changes) for r in reports}


def _dims(value_info: Any) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
            for d in value_info.type.tensor_type.shape.dim]


def _load_onnx(onnx_path: Path, log_path: Path) -> Any:
    import onnx
    try:
        return onnx.load(str(onnx_path))
    except Exception as e:  # DecodeError and friends
        with open(log_path, "a") as log:
            log.write(f"cannot load {onnx_path}: {type(e).__name__}: {e}\n")
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise RebuildError(f"{onnx_path.name} is not a valid ONNX model: {type(e).__name__}: {first}",
                           log_path, hint="the file is truncated or not ONNX: re-export it") from None


def _run_phase(phase: str, what: str, request: dict, work: Path, log_path: Path) -> dict:
    """Run one x2paddle_worker phase in a child; append its log to the rebuild log."""
    request_file, result_file, phase_log = (work / f"{phase}.{n}" for n in ("request.json", "result.json", "log"))
    request_file.write_text(json.dumps({"phase": phase, **request}))
    # the child imports the same ppocr_convert as this process (a checkout may not be the
    # installed one); -P keeps the cwd (where x2paddle writes) off its sys.path
    package_parent = str(Path(__file__).resolve().parent.parent)
    env = {"PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    argv = [sys.executable, "-P", "-m", "ppocr_convert.x2paddle_worker", str(request_file), str(result_file)]
    try:
        run_tool(what, argv, phase_log, cwd=work, env=env, timeout=PHASE_TIMEOUT_S)
        failure = None
    except ToolError as e:
        failure = str(e)
    finally:
        with open(log_path, "a") as log, open(phase_log, errors="replace") as child:
            log.write(f"\n===== {what}: {' '.join(argv)}\n{child.read().rstrip()}\n")
    result = json.loads(result_file.read_text()) if result_file.is_file() else None
    if result and not result.get("ok"):  # the worker's own one-line account beats a log line
        raise RebuildError(f"{what} failed: {result.get('error', 'unknown error')}", log_path)
    if failure or not result:
        raise RebuildError(failure or f"{what} wrote no result", log_path)
    return result


def rebuild_paddle_from_onnx(onnx_path: Path, out_dir: Path, input_shape_hint: list | None = None,
                             *, check_shape: list[int] | None = None) -> Path:
    """Rebuild ``out_dir`` = {inference.json, inference.pdiparams, rebuild.json} from ``onnx_path``.

    ``input_shape_hint``: shape of the (single) input, -1 for a dynamic dim, e.g.
    ``[-1, 3, 48, -1]``; fixes shape inference in x2paddle and the saved feed shape.
    Default: the ONNX input's own shape (dynamic dims stay dynamic).
    ``check_shape``: concrete input shape of the parity check (default
    :func:`default_check_shape`).

    Built in a private temp dir beside ``out_dir`` and swapped into place at the end: a
    failure leaves no ``out_dir`` (an existing one is kept untouched) and raises
    :class:`RebuildError`. The tool log is ``<out_dir>.rebuild.log``.
    """
    import onnx

    onnx_path, out_dir = Path(onnx_path).resolve(), Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = out_dir.with_name(out_dir.name + ".rebuild.log")
    log_path.write_text(f"rebuild {out_dir.name} from {onnx_path}\n")
    sweep_stale_temp_dirs(out_dir.parent, out_dir.name)  # left by a killed rebuild
    tmp = temp_dir(out_dir.parent, out_dir.name)
    t0 = time.perf_counter()
    try:
        model = _load_onnx(onnx_path, log_path)
        if importlib.util.find_spec("x2paddle") is None:
            raise RebuildError(f"x2paddle is not installed in {sys.prefix}", log_path,
                               hint=f"pip install -r {REQUIREMENTS}")
        inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
        if len(inputs) != 1:
            raise RebuildError(f"{onnx_path.name}: expected 1 graph input, found {len(inputs)}", log_path)
        input_name, onnx_dims = inputs[0].name, _dims(inputs[0])
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
        if input_shape_hint is not None:
            input_shape_hint = [int(d) for d in input_shape_hint]
            if len(input_shape_hint) != len(onnx_dims):
                raise RebuildError(f"input_shape_hint {input_shape_hint} has rank {len(input_shape_hint)}, "
                                   f"input {input_name!r} has rank {len(onnx_dims)}", log_path)
        check_shape = [int(d) for d in check_shape] if check_shape else default_check_shape(onnx_dims, input_shape_hint)
        prepared, rewrites = prepare_for_x2paddle(model)
        work = tmp / "work"
        work.mkdir()
        onnx.save(prepared, str(work / "prepared.onnx"))
        del model, prepared

        convert = _run_phase("convert", "x2paddle conversion", {
            "onnx_path": str(work / "prepared.onnx"), "save_dir": str(work / "x2paddle_out"),
            "input_name": input_name, "input_shape": input_shape_hint}, work, log_path)
        saved = Path(convert["model_file"])
        shutil.move(saved, tmp / MODEL_FILE)
        shutil.move(saved.with_suffix(".pdiparams"), tmp / PARAMS_FILE)
        parity = _run_phase("parity", "parity check", {
            "model_dir": str(tmp), "onnx_path": str(onnx_path), "shape": check_shape, "seed": CHECK_SEED},
            work, log_path)
        shutil.rmtree(work)

        provenance = {
            "format": "paddle3-pir",
            "files": {"model": MODEL_FILE, "params": PARAMS_FILE,
                      "model_sha256": sha256_file(tmp / MODEL_FILE), "params_sha256": sha256_file(tmp / PARAMS_FILE)},
            "source": {"onnx": onnx_path.name, "sha256": sha256_file(onnx_path), "opset": opset,
                       "input": {"name": input_name, "shape": onnx_dims}},
            "route": f"onnx -> {' -> '.join(PREPARE_PASSES)} -> x2paddle -> paddle.jit.save (PIR)",
            "rewrites": rewrites,
            "input_shape_hint": input_shape_hint,
            "tools": rebuild_tool_versions(),
            "code_sha256": rebuild_code_digest(),
            "model": {"inputs": convert["inputs"], "outputs": parity["outputs"]},
            "parity": {
                "reference": "onnxruntime CPU on the source ONNX",
                "candidate": "Paddle Inference CPU (fp32, oneDNN off, IR optim on, new IR/executor)",
                "input": {"shape": check_shape, "seed": CHECK_SEED,
                          "distribution": "numpy default_rng(seed).random float32, uniform [0, 1)"},
                "output_shapes": parity["output_shapes"],
                "max_abs_diff_per_output": parity["max_abs_diffs"],
                "max_abs_diff": max(parity["max_abs_diffs"]),
            },
        }
        (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
        replace_dir(tmp, out_dir)
        with open(log_path, "a") as log:
            log.write(f"\n===== done in {time.perf_counter() - t0:.1f} s; "
                      f"max abs diff {provenance['parity']['max_abs_diff']:.3g}\n")
        return out_dir
    except ConvertError:
        raise
    except Exception as e:
        raise RebuildError(f"rebuilding {out_dir.name} from {onnx_path.name} failed: "
                           f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}", log_path) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------

def _shape_arg(text: str) -> list[int]:
    return [int(d) for d in text.replace("x", ",").split(",") if d.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m ppocr_convert.paddle_reference",
        description="Rebuild a Paddle 3 inference model (inference.json + .pdiparams) from a "
                    "paddle2onnx ONNX with x2paddle, and check it against onnxruntime.")
    p.add_argument("--onnx", required=True, type=Path, help="source ONNX (paddle2onnx output)")
    p.add_argument("--out", required=True, type=Path, help="output model directory")
    p.add_argument("--input-shape", type=_shape_arg, default=None,
                   help="input shape hint, -1 for dynamic, e.g. -1,3,48,-1 (default: the ONNX input's)")
    p.add_argument("--check-shape", type=_shape_arg, default=None,
                   help="parity-check input shape, e.g. 1,3,640,640 "
                        f"(default: dynamic dims -> 1 / {CHECK_DYNAMIC_DIM})")
    a = p.parse_args(argv)
    t = time.perf_counter()
    try:
        out = rebuild_paddle_from_onnx(a.onnx, a.out, a.input_shape, check_shape=a.check_shape)
    except ConvertError as e:
        print(f"error: {e}\nhint: {e.hint}", file=sys.stderr)
        return e.exit_code
    info = json.loads((out / PROVENANCE_FILE).read_text())
    print(f"{out}: max abs diff vs onnxruntime {info['parity']['max_abs_diff']:.3g} on "
          f"{info['parity']['input']['shape']}, rewrites {info['rewrites']}, {time.perf_counter() - t:.1f} s")
    return 0


__all__ = ["RebuildError", "rebuild_paddle_from_onnx", "seeded_input", "default_check_shape",
           "rebuild_tool_versions", "rebuild_code_digest", "prepare_for_x2paddle"]

if __name__ == "__main__":
    sys.exit(main())

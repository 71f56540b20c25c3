"""Child-process side of the conversion bench: one conversion per process, so that each
one's peak RSS is its own and nothing stays cached in memory between repetitions.

    python -m bench.workers convert --result r.json --model PP-OCRv5_mobile_det --out-dir ... --cache-dir ...
    python -m bench.workers plain-onnx --result r.json --src m.onnx --dst plain.onnx --input-name x --shape 1,3,640,640

Internal: `bench.conversion` starts these through `toolrun.run_tool`, which measures the
process's wall time and peak RSS; each writes its findings as JSON to --result.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from bench.subjects import TARGETS

app = typer.Typer(add_completion=False, no_args_is_help=True, help="bench worker processes (internal)")

# convert()'s progress stages; per-target messages during publish reuse target names, so
# once publish has started every later message stays in the publish phase
CONVERT_PHASES = ("source", "onnx-raw", "onnx", "tflite")


def phase_tracker(mark):
    """A convert() progress callback that marks sampler phases by stage (rec repeats onnx
    and tflite once per width bucket: their peaks share one phase)."""
    publishing = False

    def progress(stage: str, _msg: str) -> None:
        nonlocal publishing
        publishing = publishing or stage == "publish" or stage not in CONVERT_PHASES
        mark("publish" if publishing else stage)

    return progress


def convert_once(model: str, out_dir: Path, cache_dir: Path, src: Path | None) -> dict:
    """One `convert()` of one model, all four targets: stage records (seconds; publish
    included), per-phase peak RSS of this process, and the artifacts' hashes and op counts."""
    from ppocr_convert.memory import RssSampler

    sampler = RssSampler(interval=0.02, phase="startup").start()
    sampler.mark("imports")
    from ppocr_convert.chain.conversion import ConvertOptions, convert
    from ppocr_convert.config import load_model_config

    opts = ConvertOptions(targets=list(TARGETS), out_dir=out_dir, cache_dir=cache_dir, use_cache=True, model_dir=src)
    t0 = time.perf_counter()
    result = convert(load_model_config(model), opts, progress=phase_tracker(sampler.mark))
    total = time.perf_counter() - t0
    sampler.mark("done")
    peaks = sampler.finish()
    return {
        "model": model,
        "convert_total_s": total,
        "stages": [{"stage": s.stage, "cached": s.cached, "seconds": s.seconds, "peak_rss_mb": s.peak_rss_mb,
                    **({"detail": s.detail} if s.detail else {})}  # how it was built (re-emitted rec buckets)
                   for s in result.stages],
        "phase_peak_rss_mb": peaks,
        "artifacts": {t: {"path": str(result.artifact_dirs[t] / m["file"]), "bytes": m["bytes"],
                          "sha256": m["sha256"], "op_histogram": m["op_histogram"],
                          "gpu_verdict": m["gpu_delegate"]["verdict"]}
                      for t, m in result.manifests.items()},
        "pass_seconds": pass_seconds_of(result),
    }


def pass_seconds_of(result) -> dict:
    """Seconds per pass of the onnx stage: build.json next to the artifact (timings are kept
    out of manifest.json so that it is reproducible), else the manifest's pass reports."""
    build = result.artifact_dirs["onnx"] / "build.json"
    if build.is_file():
        secs = json.loads(build.read_text()).get("pass_seconds")
        if secs:
            return secs
    return {r["name"]: r["seconds"] for r in result.manifests["onnx"].get("pass_changes", []) if "seconds" in r}


@app.command("convert")
def convert_command(
    result: Path = typer.Option(..., "--result", help="where to write this worker's JSON"),
    model: str = typer.Option(..., "--model"),
    out_dir: Path = typer.Option(..., "--out-dir"),
    cache_dir: Path = typer.Option(..., "--cache-dir"),
    src: Optional[Path] = typer.Option(None, "--src", help="model file to convert (default: the config's source)"),
):
    """Ours: convert() in a fresh or reused stage cache."""
    result.write_text(json.dumps(convert_once(model, out_dir, cache_dir, src), default=str))


@app.command("plain-onnx")
def plain_onnx_command(
    result: Path = typer.Option(..., "--result", help="where to write this worker's JSON"),
    src: Path = typer.Option(..., "--src"),
    dst: Path = typer.Option(..., "--dst"),
    input_name: str = typer.Option(..., "--input-name"),
    shape: str = typer.Option(..., "--shape", help="static input shape, comma-separated"),
):
    """The plain way's ONNX step (onnxsim + graphsurgeon); its peak RSS is the process's."""
    import onnx  # noqa: F401  (outside the timing, as convert() is imported before ours is timed)

    from bench.plain_way import simplify_and_edit

    t0 = time.perf_counter()
    replaced = simplify_and_edit(src, dst, input_name, [int(d) for d in shape.split(",")])
    result.write_text(json.dumps({"seconds": time.perf_counter() - t0, "hardsigmoid_replaced": replaced}))


if __name__ == "__main__":
    app()

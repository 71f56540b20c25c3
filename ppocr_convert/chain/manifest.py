"""What dist/<model>/<target>/manifest.json says about an artifact.

The manifest is identical across identical builds (no timings, no cache hits: those
go to build.json), so two releases can be compared with `diff`.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..config import STAGES, ModelConfig
from ..fsutil import sha256_file
from ..inspect_model import GpuIssue, ModelReport, format_gpu_verdict
from ..reference import reference_kind

if TYPE_CHECKING:
    from .conversion import Conversion

ARTIFACT_EXT = {"onnx-raw": ".onnx", "onnx": ".onnx", "tflite-fp32": ".tflite", "tflite-fp16": ".tflite",
                "tflite-int8": ".tflite"}


def artifact_name(config: ModelConfig, target: str, shape: tuple | None = None) -> str:
    """`<model>[_w<width>]<suffix>`: the width names a rec bucket."""
    suffix = {"onnx-raw": ".raw", "onnx": "", "tflite-fp32": "_fp32", "tflite-fp16": "_fp16",
              "tflite-int8": "_int8"}[target]
    bucket = f"_w{shape[3]}" if shape is not None else ""
    return f"{config.name}{bucket}{suffix}{ARTIFACT_EXT[target]}"


def gpu_entry(report: ModelReport) -> dict:
    return {"verdict": report.gpu_verdict, "issues": [vars(i) for i in report.gpu_issues]}


def bucketed_gpu_verdict(shapes: list[tuple], reports: list[ModelReport]) -> dict:
    """One GPU verdict for all width buckets: each issue names its bucket."""
    issues = [GpuIssue(i.op, f"w{s[3]} {i.node}".strip(), i.reason)
              for s, r in zip(shapes, reports) for i in r.gpu_issues]
    return {"verdict": format_gpu_verdict(issues), "issues": [vars(i) for i in issues]}


def bucket_entry(shape: tuple, name: str, path: Path, report: ModelReport) -> dict:
    return {"width": shape[3], "shape_nchw": list(shape), "file": name, "bytes": path.stat().st_size,
            "sha256": sha256_file(path), "inputs": [vars(t) for t in report.inputs],
            "outputs": [vars(t) for t in report.outputs], "op_histogram": report.op_histogram,
            "gpu_delegate": gpu_entry(report)}


def target_manifest(conv: "Conversion", target: str, paths: list[Path], reports: list[ModelReport]) -> dict:
    """The manifest of one target; a rec with width buckets lists every bucket."""
    shapes = conv.shapes if target != "onnx-raw" else [conv.shape]
    names = [artifact_name(conv.config, target, s if len(paths) > 1 else None) for s in shapes]
    manifest = build_manifest(conv, target, paths[0], reports[0], shapes[0])
    manifest["file"] = names[0]
    if len(paths) > 1:
        manifest["buckets"] = [bucket_entry(s, n, p, r) for s, n, p, r in zip(shapes, names, paths, reports)]
        if target.startswith("tflite"):  # onnx2tf, or re-emitted from the narrowest bucket
            for bucket in manifest["buckets"]:
                bucket["built_by"] = conv.bucket_methods.get(bucket["width"], {"method": "onnx2tf"})
        manifest["options"]["widths"] = [s[3] for s in shapes]
    if len(reports) > 1:  # the verdict covers every width bucket, not just the first
        manifest["gpu_delegate"] = bucketed_gpu_verdict(shapes, reports)
    if target == "tflite-int8":
        manifest["int8"] = int8_entries(conv, shapes, paths)
    return manifest


def int8_entries(conv: "Conversion", shapes: list[tuple], paths: list[Path]) -> list[dict]:
    """Per file: the calibration digest, the per-op recipe, what stayed out of int8, the gate
    figures and the sensitivity ranking (int8.json), whether it is fully integer, and which
    ops the XNNPACK CPU delegate leaves to TFLite's kernels."""
    from ..integer_check import integer_report
    from ..xnnpack_check import xnnpack_report
    return [{"width": s[3], **conv.int8_info[p], "integer": integer_report(p).to_dict(),
             "xnnpack": xnnpack_report(p).to_dict()}
            for s, p in zip(shapes, paths)]


def build_manifest(conv: "Conversion", target: str, artifact: Path, report: ModelReport, shape: tuple) -> dict:
    config, src = conv.config, conv.source
    entered = STAGES.index(src.stage)
    graph_passes = target != "onnx-raw"
    return {
        "model": config.name,
        "target": target,
        "task": config.task,
        "file": artifact_name(config, target),
        "bytes": artifact.stat().st_size,
        "sha256": sha256_file(artifact),
        "source": {**src.to_dict(), "path": src.path.name},
        "stage_entered": src.stage,
        # what the parity `paddle` stage is for this model: "original" or "rebuilt-from-onnx"
        "reference": reference_kind(src),
        "stages_run": [s for s in STAGES[entered:STAGES.index(target) + 1] if s != "paddle"],
        "config": {"file": config.config_path.name if config.config_path else None,
                   "sha256": sha256_file(config.config_path) if config.config_path else None},
        "options": {"shape_nchw": list(shape), "opset": conv.opset},
        "tools": conv.versions,
        # digests of the code each stage that made this artifact ran (the cache keys include them)
        "code": {stage: conv.code_digests[stage] for stage in code_stages(target)},
        "frontend_repairs": without_timings(conv.frontend_repairs),
        "passes": conv.passes if graph_passes else [],
        # without timings: manifest.json must be identical across identical builds
        "pass_changes": without_timings(conv.pass_reports) if graph_passes else [],
        "inputs": [vars(t) for t in report.inputs],
        "outputs": [vars(t) for t in report.outputs],
        "op_histogram": report.op_histogram,
        "static_shapes": report.static_shapes,
        "gpu_delegate": gpu_entry(report),
        "dictionary": conv.dict_path.name if conv.dict_path else None,
        # how an app must feed the model, machine-readably (see deployment_recipe)
        "deploy": deployment_recipe(config, target, shape),
        "preprocess": config.preprocess,
        "postprocess": config.postprocess,
    }


def code_stages(target: str) -> list[str]:
    """The chain stages (code_digest.STAGE_CODE keys) an artifact of `target` comes out of."""
    return {"onnx-raw": ["onnx-raw"], "onnx": ["onnx-raw", "onnx"],
            "tflite-int8": ["onnx-raw", "onnx", "tflite", "tflite-int8"]}.get(target, ["onnx-raw", "onnx", "tflite"])


def deployment_recipe(config: ModelConfig, target: str, shape) -> dict:
    """Everything an Android/iOS team (or a checker) needs to feed the artifact exactly as
    the parity harness did: layout, channel order, resize, padding, normalisation."""
    pre = config.preprocess
    layout = "NHWC" if target.startswith("tflite") else "NCHW"
    norm = {"scale": pre.get("scale"), "mean": pre.get("mean"), "std": pre.get("std"),
            "formula": "(pixel * scale - mean) / std, per channel, in the channel order below"}
    common = {"input_layout": layout, "channel_order": pre.get("channel_order", "BGR"), "dtype": "float32",
              "normalize": norm}
    if target == "onnx-raw":
        return {**common, "shape": "dynamic (the PaddleOCR reference resize applies)"}
    if config.task == "det":
        mode = pre.get("resize_mode", "stretch")
        recipe = {**common, "resize": mode, "canvas_hw": list(shape[2:])}
        if mode == "letterbox":
            recipe.update({
                "scale": "s = min(canvas_h / h, canvas_w / w)" + ("" if pre.get("upscale") else ", capped at 1"),
                "upscale_small_images": bool(pre.get("upscale", False)),
                "placement": "top-left; the rest of the canvas is padding",
                "pad_value": pre.get("pad_value", 0), "pad_applies_to": "pixels, before normalisation",
                "boxes_to_image": "divide output coordinates by s; ignore the padded area",
            })
        else:
            recipe["boxes_to_image"] = "scale x by w / canvas_w and y by h / canvas_h"
        return recipe
    if config.task == "rec":
        widths = config.raw.get("widths") or [shape[3]]
        return {**common, "height": shape[2], "widths": sorted(widths),
                "resize": "keep aspect: width = ceil(height * w / h)",
                "choose_width": "the narrowest bucket >= that width",
                "pad": "zeros on the right, after normalisation",
                "longer_than_widest": f"windows of the widest width overlapping by a quarter "
                                      f"({max(widths) // 4} px); keep each window's CTC steps between "
                                      "the middles of its overlaps, concatenate, then CTC-decode",
                "decode": "CTC greedy: argmax per step, collapse repeats, drop index 0 (blank); "
                          "index i>0 is dictionary line i, the last index is a space"}
    return {**common, "height": shape[2], "width": shape[3], "resize": "keep aspect, pad right with zeros"}


def without_timings(reports: list[dict] | None) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in reports or []]

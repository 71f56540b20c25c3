"""Back-end: ONNX (`onnx`) → TFLite FP32 and FP16 with onnx2tf.

Three things about onnx2tf shape this module (measured, see DESIGN.md):
- it overwrites its input `.onnx` in place with a simplified graph, so it always
  gets a private copy;
- it downloads a sample-data `.npy` from the internet when the input looks like an
  image, unless that file is in its working directory; we write one made from real
  photos shipped with the package, so conversion stays offline;
- one run writes both `<name>_float32.tflite` and `<name>_float16.tflite` (float32 NHWC input).
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

import numpy as np

from ..errors import ToolError
from ..resources import calibration_dir
from ..toolrun import ToolRun, run_tool

SAMPLE_DATA_NAME = "calibration_image_sample_data_20x128x128x3_float32.npy"
CALIBRATION_DIR = calibration_dir()


def sample_data(images_dir: Path = CALIBRATION_DIR, count: int = 20) -> np.ndarray:
    """20×128×128×3 float32 RGB in [0, 1], the array onnx2tf would have downloaded."""
    import cv2
    images = []
    for path in sorted(images_dir.glob("*.jpg")) + sorted(images_dir.glob("*.png")):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is not None:
            images.append(cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)[:, :, ::-1])
    if not images:
        raise ToolError(f"no calibration images in {images_dir}", hint="reinstall ppocr-convert")
    # fill up to `count` with mirrored copies rather than inventing data
    i = 0
    while len(images) < count:
        images.append(images[i][:, ::-1])
        i += 1
    return (np.stack(images[:count]).astype(np.float32) / 255.0)


def onnx_to_tflite(onnx_path: Path, workdir: Path, log_path: Path, cancel: threading.Event | None = None,
                   validation_inference: bool = True) -> tuple[dict[str, Path], ToolRun]:
    """Convert; returns {"tflite-fp32": path, "tflite-fp16": path} inside workdir.
    `validation_inference=False` runs onnx2tf without its whole-graph ONNX inference
    (onnx2tf_lean.py): a quarter of the memory at det's 1024²; check what it writes."""
    workdir.mkdir(parents=True, exist_ok=True)
    private = workdir / "model.onnx"
    shutil.copyfile(onnx_path, private)
    np.save(workdir / SAMPLE_DATA_NAME, sample_data())
    out_dir = workdir / "tf"
    env = None
    if validation_inference:
        command = [str(Path(sys.executable).with_name("onnx2tf"))]
    else:
        command = [sys.executable, "-m", "ppocr_convert.chain.onnx2tf_lean"]
        # the child runs in workdir: give it this package whether installed or a checkout
        package_parent = str(Path(__file__).resolve().parents[2])
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    argv = [
        *command,
        "-i", str(private),
        "-o", str(out_dir),
        "-v", "info",
        # onnx2tf runs the onnxsim CLI when it finds one on PATH (an activated venv): that
        # merges attention_split_heads' Concat tree back into one 8-input Concat, which
        # XNNPACK leaves on the CPU kernels. Our passes simplify already; never let it.
        "-nuo",
        # -dsm: skip the strict-mode dummy-inference checks of Softmax, ReduceMean, Reshape
        # and Concat (each builds and runs the model up to that op: 10 s of a rec bucket's
        # 30 s). Measured on PP-OCRv5 rec (3 widths) and det: same op sequence, wiring and
        # constant bytes, bit-identical outputs; only onnx2tf's internal tensor names change.
        "-dsm",
    ]
    run = run_tool("onnx2tf", argv, log_path, cwd=workdir, cancel=cancel, env=env,
                   hint=f"onnx2tf could not convert {onnx_path.name}; see {log_path}")
    outputs = {"tflite-fp32": out_dir / "model_float32.tflite", "tflite-fp16": out_dir / "model_float16.tflite"}
    missing = [p.name for p in outputs.values() if not p.is_file()]
    if missing:
        raise ToolError(f"onnx2tf finished but did not write {', '.join(missing)}", hint=f"see {log_path}",
                        log_path=str(log_path))
    return outputs, run


def tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    names = ["ppocr-convert", "paddlepaddle", "paddle2onnx", "onnx", "onnxruntime", "onnxsim",
             "onnx-graphsurgeon", "onnx2tf", "tensorflow", "tf_keras", "ai-edge-litert", "numpy"]
    out = {"python": sys.version.split()[0]}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


# onnx2tf's peak RSS per process (measured: rec buckets 1.2 GB, det 1.8 GB) plus headroom
ONNX2TF_PEAK_BYTES = int(2.0 * 2**30)


def parallel_conversions(buckets: int, requested: int | None = None) -> int:
    """How many onnx2tf processes to run at once: one per core, as memory allows (each
    keeps about one core busy, so on 2 cores two buckets take 0.69x the sequential time)."""
    if requested is not None:
        return max(1, min(requested, buckets))
    import os

    import psutil
    by_memory = max(1, psutil.virtual_memory().available // ONNX2TF_PEAK_BYTES)
    return max(1, min(buckets, os.cpu_count() or 1, by_memory))

"""golden/: the reference pipeline's results on the shared photos (texts, boxes,
scores, rounded) and the op histograms of the artifacts. Written only by
`make goldens`; tests compare fresh runs against them."""
from __future__ import annotations

import json
from pathlib import Path

from . import model_params
from .ocr import OCRPipeline, load_image
from .ocr.image_io import list_images
from .parity.pipelines import load_pipeline
from .reference import reference_dir
from .resources import golden_dir
from .runners import open_runner

def reference_results(pipeline: str, images: list[Path]) -> dict:
    pipe = load_pipeline(pipeline)
    det_dir, _ = reference_dir(pipe.det_config)
    rec_dir, _ = reference_dir(pipe.rec_config)
    ocr = OCRPipeline(open_runner(det_dir, "paddle"), open_runner(rec_dir, "paddle"),
                      model_params.charset(pipe.rec_config), model_params.det_params(pipe.det_config),
                      model_params.rec_params(pipe.rec_config), drop_score=pipe.drop_score)
    out = {}
    for path in images:
        try:
            img = load_image(path)
        except ValueError:
            continue
        out[path.name] = [{"text": l.text,
                           "box": [[round(float(x)), round(float(y))] for x, y in l.box.reshape(4, 2)],
                           "det_score": round(float(l.det_score), 3),
                           "confidence": round(float(l.confidence), 3)} for l in ocr.run(img).lines]
    return out


def golden_path(pipeline: str) -> Path:
    return golden_dir() / f"{pipeline}.reference.json"


def write(pipelines: list[str], images_dir: Path) -> list[Path]:
    images = list_images(images_dir)
    written = []
    for name in pipelines:
        data = {"pipeline": name, "images_dir": images_dir.name, "results": reference_results(name, images)}
        path = golden_path(name)
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


OP_MODELS = ["PP-OCRv5_mobile_det", "PP-OCRv5_mobile_rec", "PP-OCRv4_mobile_det", "PP-OCRv4_mobile_rec",
             "ch_ppocr_mobile_v2.0_cls", "PP-OCRv6_small_det", "PP-OCRv6_small_rec", "PP-OCRv6_tiny_det",
             "PP-OCRv6_tiny_rec"]


def op_histograms_path() -> Path:
    return golden_dir() / "tflite_op_histograms.json"


def write_op_histograms(work_dir: Path) -> Path:
    """TFLite op histograms of every artifact: a tool upgrade that changes the op mix
    (layout TRANSPOSEs above all) shows up as a test failure, not a slower app."""
    from .config import load_model_config
    from .chain.conversion import ConvertOptions, convert
    data = {}
    for name in OP_MODELS:
        r = convert(load_model_config(name), ConvertOptions(targets=["tflite-fp32", "tflite-fp16"], out_dir=work_dir))
        data[name] = {t: m["op_histogram"] for t, m in r.manifests.items()}
    path = op_histograms_path()
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path

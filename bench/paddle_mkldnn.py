"""Is oneDNN (MKLDNN) safe for the Paddle reference? Per pipeline, the reference det and rec
run with it off and on (one thread each, as the parity workers run them) on the same inputs:
max |Δ| of the outputs, seconds per det image / rec crop, and whether the decoded texts match.

    .venv/bin/python -m bench.paddle_mkldnn PP-OCRv5_mobile,PP-OCRv4_mobile,PP-OCRv6_small,PP-OCRv6_tiny 6

The reference enables it only where the outputs are bit-identical (see
ppocr_convert/runners/paddle_inference.py for the figures and the verdict).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np


def main(pipelines: list[str], n_images: int) -> None:
    import paddle  # noqa: F401  (before anything that may import TensorFlow)

    from bench.subjects import IMAGES_DIR
    from ppocr_convert import model_params
    from ppocr_convert.ocr import OCRPipeline, load_image
    from ppocr_convert.ocr.det import preprocess as det_pre
    from ppocr_convert.ocr.geometry import crop_rotated
    from ppocr_convert.ocr.image_io import list_images
    from ppocr_convert.ocr.rec import preprocess_batch
    from ppocr_convert.parity.pipelines import load_pipeline
    from ppocr_convert.reference import reference_dir
    from ppocr_convert.runners.paddle_inference import PaddleRunner

    images = list_images(Path(IMAGES_DIR))[:n_images]
    for name in pipelines:
        pipe = load_pipeline(name)
        det_dir, _ = reference_dir(pipe.det_config)
        rec_dir, _ = reference_dir(pipe.rec_config)
        dp, rp = model_params.det_params(pipe.det_config), model_params.rec_params(pipe.rec_config)
        charset = model_params.charset(pipe.rec_config)
        runs = {}
        for mkldnn in (False, True):
            det = PaddleRunner(det_dir, threads=1, use_mkldnn=mkldnn)
            rec = PaddleRunner(rec_dir, threads=1, use_mkldnn=mkldnn)
            ocr = OCRPipeline(det, rec, charset, dp, rp, drop_score=pipe.drop_score)
            dets, recs, texts, t_det, t_rec = [], [], [], 0.0, 0.0
            for path in images:
                img = load_image(path)
                x, _ = det_pre(img, dp)
                t = time.perf_counter()
                dets.append(det.run(x)[0])
                t_det += time.perf_counter() - t
                result = ocr.run(img)
                texts.append([line.text for line in result.lines])
                for line in result.lines[:5]:
                    xr = preprocess_batch([crop_rotated(img, line.box)], rp)
                    t = time.perf_counter()
                    recs.append(rec.run(xr)[0])
                    t_rec += time.perf_counter() - t
            runs[mkldnn] = (dets, recs, texts, t_det / len(images), t_rec / max(1, len(recs)))
        (d0, r0, x0, td0, tr0), (d1, r1, x1, td1, tr1) = runs[False], runs[True]
        det_diff = max(float(np.abs(a - b).max()) for a, b in zip(d0, d1))
        rec_diff = max((float(np.abs(a - b).max()) for a, b in zip(r0, r1) if a.shape == b.shape), default=0.0)
        print(f"{name}: det max|Δ| {det_diff:.3g} ({td0:.3f} → {td1:.3f} s/image); rec max|Δ| {rec_diff:.3g} "
              f"({tr0:.4f} → {tr1:.4f} s/crop); decoded texts identical: {x0 == x1}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1].split(","), int(sys.argv[2]) if len(sys.argv) > 2 else 6)

"""End-to-end OCR throughput: the det + rec pipeline of each runner kind on the real photos
(images/s), kinds interleaved per image in random order so drift hits them alike."""
from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

from bench.measure import CpuLoad, settle
from bench.subjects import MODELS, OURS_VS_PLAIN, engine_of, log, stage_of


def bench_pipeline(paths: dict, images: list[Path], threads: int, kinds: list[str]) -> list[dict]:
    from ppocr_convert.config import load_model_config
    from ppocr_convert.model_params import charset, det_params, rec_params
    from ppocr_convert.ocr import ImageLoadError, OCRPipeline, load_image
    from ppocr_convert.runners import open_runner

    det_cfg, rec_cfg = load_model_config(MODELS["det"]), load_model_config(MODELS["rec"])
    chars = charset(rec_cfg)
    pipes = {k: OCRPipeline(open_runner(paths["det"][k], stage_of(k), threads=threads),
                            open_runner(paths["rec"][k], stage_of(k), threads=threads),
                            chars, det_params(det_cfg), rec_params(rec_cfg))
             for k in kinds}
    loaded = []
    for p in images:
        try:
            loaded.append(load_image(p))
        except ImageLoadError as e:
            log(f"skipping {p.name}: {e}")
    if not loaded:
        log("no readable images; skipping the end-to-end run")
        return []
    log(f"pipeline: {len(loaded)} images x {len(kinds)} runner kinds, {threads} threads")
    for pipe in pipes.values():  # warm-up: one image each, untimed
        pipe.run(loaded[0])
    per = {k: {"total": [], "det_infer": [], "rec_infer": [], "lines": 0} for k in kinds}
    order_rng = random.Random(0)
    with CpuLoad() as load:
        for img in loaded:
            order = list(kinds)
            order_rng.shuffle(order)  # no runner kind always follows the same one
            for k in order:
                settle()  # wait for the previous kind's ORT threads to stop spinning
                t = time.perf_counter()
                res = pipes[k].run(img)
                per[k]["total"].append(time.perf_counter() - t)
                per[k]["det_infer"].append(res.timing.get("det_infer", 0.0))
                per[k]["rec_infer"].append(res.timing.get("rec_infer", 0.0))
                per[k]["lines"] += len(res.lines)
    rows = []
    for k in kinds:
        total = sum(per[k]["total"])
        rows.append({"runner": k, "engine": engine_of(k), "threads": threads, "images": len(loaded),
                     "images_per_s": len(loaded) / total,
                     "median_ms_per_image": 1000 * statistics.median(per[k]["total"]),
                     "det_infer_s": sum(per[k]["det_infer"]), "rec_infer_s": sum(per[k]["rec_infer"]),
                     "total_s": total, "lines": per[k]["lines"], "cpu_load": load.to_dict()})
    return throughput_vs_plain(rows)


def throughput_vs_plain(rows: list[dict]) -> list[dict]:
    """Adds ours/plain images-per-second to our rows (above 1 = ours faster)."""
    by = {r["runner"]: r for r in rows}
    for r in rows:
        plain = by.get(OURS_VS_PLAIN.get(r["runner"], ""))
        if plain:
            r["vs_plain_throughput"] = r["images_per_s"] / plain["images_per_s"]
    return rows

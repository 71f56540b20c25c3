"""Which static det canvas to deploy: one pipeline's tflite-fp16 at several letterbox canvases,
scored against the ground truth of the labelled evalset next to the dynamic reference.

    .venv/bin/python -m bench.recipe_sweep --pipeline PP-OCRv6_small --canvas 960 1024 1280 --evalset .cache/evalset

Rec keeps the config's width buckets; only the det canvas varies. Prints a markdown table
and writes bench/results/recipe-<pipeline>-latest.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.recipe_sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--pipeline", required=True)
    p.add_argument("--canvas", type=int, nargs="+", default=[960, 1024, 1280])
    p.add_argument("--evalset", type=Path, required=True)
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    a = p.parse_args(argv)
    if not (a.evalset / "labels.json").is_file():
        raise SystemExit(f"{a.evalset}/labels.json not found: run `make evalset` first")
    from ppocr_convert.inspect_model import import_tensorflow  # noqa: F401  (paddle before TF)
    from ppocr_convert.chain.conversion import ConvertOptions, convert
    from ppocr_convert.goldens import list_images
    from ppocr_convert.parity.harness import StageModels, artifact_paths, run_parity
    from ppocr_convert.parity.labels import load_labels
    from ppocr_convert.parity.pipelines import load_pipeline
    from ppocr_convert.reference import reference_dir

    pipe = load_pipeline(a.pipeline)
    labels, images = load_labels(a.evalset / "labels.json"), list_images(a.evalset)
    ref = StageModels("paddle", reference_dir(pipe.det_config)[0], reference_dir(pipe.rec_config)[0])
    rows = {}
    with tempfile.TemporaryDirectory(prefix="ppocr-recipe-") as tmp:
        rec = convert(pipe.rec_config, ConvertOptions(targets=["tflite-fp16"], out_dir=Path(tmp) / "rec"))
        for canvas in a.canvas:
            det_cfg = dataclasses.replace(pipe.det_config, shape=(1, 3, canvas, canvas))
            det = convert(det_cfg, ConvertOptions(targets=["tflite-fp16"], out_dir=Path(tmp) / f"det{canvas}",
                                                  shape=(1, 3, canvas, canvas)))
            swept = dataclasses.replace(pipe, det_config=det_cfg)
            models = {"paddle": ref, "tflite-fp16": StageModels("tflite-fp16", artifact_paths(det, "tflite-fp16"),
                                                                  artifact_paths(rec, "tflite-fp16"))}
            print(f"[recipe] {a.pipeline} det {canvas}x{canvas} on {len(images)} pages", file=sys.stderr, flush=True)
            report = run_parity(swept, images, ["tflite-fp16"], Path(tmp) / f"parity{canvas}", stage_models=models,
                                labels=labels, with_strategies=False).report
            rows["dynamic reference"] = report["reference"]["ground_truth"]
            rows[f"{canvas}x{canvas} letterbox"] = report["stages"]["tflite-fp16"]["ground_truth"]
    lines = ["| det (tflite-fp16, rec buckets as configured) | line accuracy | CER | det recall |", "|---|---|---|---|"]
    lines += [f"| {k} | {100 * v['gt_line_accuracy']:.1f} % | {100 * v['gt_cer']:.1f} % | {100 * v['gt_det_recall']:.1f} % |"
              for k, v in rows.items()]
    print("\n".join(lines))
    a.results_dir.mkdir(parents=True, exist_ok=True)
    (a.results_dir / f"recipe-{a.pipeline}-latest.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

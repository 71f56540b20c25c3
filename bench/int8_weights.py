"""Weight-only INT8 (int8 weights, float compute) against FP32 on the labelled evaluation
set, with and without bias correction: what int8 *weight* rounding alone costs the
pipeline, and what `chain/bias_correction.py` gives back (README, INT8).

    python -m bench.int8_weights --pipeline PP-OCRv5_mobile --evalset .cache/evalset

Uses the cached fp32 TFLites and the tflite-int8 stage's calibration samples (det: the
calibration images letterboxed; rec: the lines the fp32 det cuts from them, per bucket).
Prints a markdown table, writes JSON. The weight-only files go to --out-dir.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

from bench.int8 import echo_score_table, files, score

app = typer.Typer(add_completion=False)


@app.command()
def main(pipeline: str = typer.Option("PP-OCRv5_mobile"), evalset: Path = typer.Option(Path(".cache/evalset")),
         out: Path = typer.Option(Path("bench/results/int8_weights.json")),
         out_dir: Path = typer.Option(Path("dist/bench-int8-weights")),
         samples: int = typer.Option(16, help="calibration samples measuring the bias correction")):
    from ppocr_convert.chain import calibration as cal
    from ppocr_convert.chain.conversion import ConvertOptions, convert
    from ppocr_convert.chain.quantize import quantize_weights_only
    from ppocr_convert.chain.sources import cache_root
    from ppocr_convert.ocr.image_io import list_images
    from ppocr_convert.parity.labels import load_labels
    from ppocr_convert.parity.pipelines import load_pipeline
    pipe = load_pipeline(pipeline)
    labels = load_labels(evalset / "labels.json")
    images = list_images(evalset)
    res = {cfg.task: convert(cfg, ConvertOptions(targets=["tflite-fp32"], out_dir=out_dir / "fp32"))
           for cfg in (pipe.det_config, pipe.rec_config)}
    det32, rec32 = files(res["det"], "tflite-fp32")[0], files(res["rec"], "tflite-fp32")
    calib = cal.calibration_images(cache_root())
    widths = [int(p.stem.split("_")[-2].lstrip("w")) for p in rec32]  # <model>_w320_fp32
    crops = cal.line_crops(det32, pipe.det_config, calib)
    out_dir.mkdir(parents=True, exist_ok=True)
    made: dict[str, dict[str, Path]] = {"plain": {}, "corrected": {}}
    inputs = [("det", det32, cal.det_samples(pipe.det_config, calib[:samples]))]
    inputs += [(f"rec w{w}", p, cal.rec_samples(crops, pipe.rec_config, w, widths, n=samples))
               for w, p in zip(widths, rec32)]
    sizes = {}
    for name, path, xs in inputs:
        fp32 = path.read_bytes()
        for kind, n in (("plain", 0), ("corrected", samples)):
            target = out_dir / f"{path.stem.replace('_fp32', '')}_int8w_{kind}.tflite"
            target.write_bytes(quantize_weights_only(fp32, xs, bias_correction=n))
            made[kind][name] = target
        sizes[name] = {"fp32_bytes": path.stat().st_size, "int8w_bytes": made["corrected"][name].stat().st_size}
        typer.echo(f"  {name}: weight-only int8 written", err=True)

    def recs(kind):
        return [made[kind][f"rec w{w}"] for w in widths]
    rows = {"fp32 det + fp32 rec": (det32, rec32),
            "fp32 det + int8-weight rec, no correction": (det32, recs("plain")),
            "fp32 det + int8-weight rec, bias-corrected": (det32, recs("corrected")),
            "int8-weight det, no correction + fp32 rec": (made["plain"]["det"], rec32),
            "int8-weight det, bias-corrected + fp32 rec": (made["corrected"]["det"], rec32),
            "int8-weight det + rec, no correction": (made["plain"]["det"], recs("plain")),
            "int8-weight det + rec, bias-corrected": (made["corrected"]["det"], recs("corrected"))}
    scores = {k: score(pipe, d, r, labels, images) for k, (d, r) in rows.items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"pipeline": pipeline, "evalset": str(evalset), "images": len(images),
                               "samples": samples, "scores": scores, "sizes": sizes}, indent=1))
    echo_score_table(pipeline, len(images), scores)
    typer.echo("\n| file | int8-weight / fp32 size |\n|---|---|")
    for k, v in sizes.items():
        typer.echo(f"| {k} | {v['int8w_bytes'] / v['fp32_bytes']:.2f} |")


if __name__ == "__main__":
    app()

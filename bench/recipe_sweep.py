"""Which static det canvas to deploy: one pipeline's tflite-fp16 at several letterbox canvases,
scored against the ground truth of the labelled evalset next to the dynamic reference.

    .venv/bin/python -m bench.recipe_sweep --pipeline PP-OCRv6_small --canvas 960,1024,1280 --evalset .cache/evalset

Rec keeps the config's width buckets; only the det canvas varies. Prints a markdown table
and writes bench/results/recipe-<pipeline>-latest.json.
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import List

import typer

from bench.cli_args import split_list
from bench.evalset_parity import (
    DEPLOYED,
    convert_deployed,
    import_converters_in_order,
    load_evalset,
    percent,
    reference_models,
    require_evalset,
    score_deployed,
)
from bench.markdown import markdown_table
from bench.subjects import RESULTS_DIR, log


def render(rows: dict) -> str:
    return markdown_table(
        [f"det ({DEPLOYED}, rec buckets as configured)", "line accuracy", "CER", "det recall"],
        [[k, percent(v["gt_line_accuracy"]), percent(v["gt_cer"]), percent(v["gt_det_recall"])]
         for k, v in rows.items()])


app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@app.command()
def main(
    pipeline: str = typer.Option(..., "--pipeline", help="pipeline from configs/pipelines/"),
    canvas: List[str] = typer.Option(["960,1024,1280"], "--canvas",
                                     help="det canvas sides in px, comma-separated or repeated"),
    evalset: Path = typer.Option(..., "--evalset", help="labelled set from `make evalset`"),
    results_dir: Path = typer.Option(RESULTS_DIR, "--results-dir", help="where the results JSON goes"),
):
    """Score the deployed pipeline at each det canvas; print one table."""
    require_evalset(evalset)
    import_converters_in_order()
    from ppocr_convert.parity.pipelines import load_pipeline

    sides = split_list(canvas, int, "--canvas")
    pipe = load_pipeline(pipeline)
    data = load_evalset(evalset)
    reference = reference_models(pipe)  # the same dynamic reference for every canvas
    rows = {}
    with tempfile.TemporaryDirectory(prefix="ppocr-recipe-") as tmp:
        rec = convert_deployed(pipe.rec_config, Path(tmp) / "rec")
        for side in sides:
            shape = (1, 3, side, side)
            det_cfg = dataclasses.replace(pipe.det_config, shape=shape)
            det = convert_deployed(det_cfg, Path(tmp) / f"det{side}", shape=shape)
            log(f"{pipeline} det {side}x{side} on {len(data.images)} pages", "recipe")
            scores = score_deployed(dataclasses.replace(pipe, det_config=det_cfg), det, rec, data,
                                    Path(tmp) / f"parity{side}", reference)
            rows["dynamic reference"] = scores["reference"]
            rows[f"{side}x{side} letterbox"] = scores[DEPLOYED]
    print(render(rows))
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"recipe-{pipeline}-latest.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    app()

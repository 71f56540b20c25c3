"""INT8 against FP32 on the labelled evaluation set (`make evalset`, seed 0: pages the
quantizer never saw), as deployed, in one run:

    python -m bench.int8 --pipeline PP-OCRv5_mobile --evalset .cache/evalset

GT line accuracy / CER of fp32 det+rec, int8 det+rec and int8 det with fp32 rec; sizes
(int8 / fp32 per file); int8 weight share and Flex/custom op count; latency at 1 and 2
threads (XNNPACK) of det and the narrowest rec bucket; peak RSS of the process tree while
converting and while scoring. Prints a markdown table, writes JSON.

Then the pages that make the int8 det's gap (`page_gap`): a CER gap can be one page where
int8 merges two long lines that fp32 keeps apart by a hair, and the table says so.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import typer

app = typer.Typer(add_completion=False)


def files(result, target: str) -> list[Path]:
    m, d = result.manifests[target], result.artifact_dirs[target]
    return [d / b["file"] for b in m["buckets"]] if m.get("buckets") else [d / m["file"]]


def score(pipe, det: Path, recs: list[Path], labels: dict, images: list[Path], workers: int | None = None) -> dict:
    """The pipeline with these det and rec files over `images`, against `labels`
    (parity.labelled_reading: one pipeline per core)."""
    from ppocr_convert import model_params
    from ppocr_convert.parity.labelled_reading import PAGE_FIGURES, PipelineFiles, read_pages, scores
    files = PipelineFiles(det, recs, model_params.charset(pipe.rec_config),
                          model_params.det_params(pipe.det_config, static_hw=tuple(pipe.det_config.shape[2:])),
                          model_params.rec_params(pipe.rec_config), pipe.drop_score)
    per = read_pages(files, labels, [(p.name, p) for p in images], workers)
    return {**scores(per), "pages": {p.name: {k: r[k] for k in PAGE_FIGURES} for p, r in zip(images, per)}}


def page_gap(base: dict, cand: dict, top: int = 5) -> dict:
    """Where `cand` (a score() result) loses against `base` page by page: the `top` pages
    with the most added character errors, and the whole set's figures without them, so a
    gap made by one page shows as one. Pure: works on the stored JSON."""
    added = {n: cand["pages"][n]["char_errors"] - base["pages"][n]["char_errors"] for n in base["pages"]}
    worst = [n for n in sorted(added, key=lambda n: (-added[n], n))[:top] if added[n] > 0]
    rest = [n for n in base["pages"] if n not in worst]

    def figures(score: dict, pages: list[str]) -> dict:
        from ppocr_convert.parity.metrics import aggregate_lines
        agg = aggregate_lines([score["pages"][n] for n in pages])
        return {"line_accuracy": agg["line_exact_match"], "cer": agg["cer"]}
    # a page's share is of the errors pages added, not of the net rise: where other pages
    # improve, a share of the net rise passes 100 %
    rise, gross = sum(added.values()), sum(max(0, a) for a in added.values())
    return {"pages": [{"page": n, "char_errors": [base["pages"][n]["char_errors"], cand["pages"][n]["char_errors"]],
                       "exact_lines": [base["pages"][n]["exact_lines"], cand["pages"][n]["exact_lines"]],
                       "ref_lines": base["pages"][n]["ref_lines"]} for n in worst],
            "char_error_rise": rise, "char_errors_added": gross,
            "without_them": {"base": figures(base, rest), "cand": figures(cand, rest), "pages": len(rest)}}


def render_page_gap(gap: dict, what: str) -> list[str]:
    out = [f"| pages where {what} adds the most character errors | char errors fp32 → int8 | share of the added errors "
           f"| exact lines fp32 → int8 |", "|---|---|---|---|"]
    added = gap["char_errors_added"]
    for r in gap["pages"]:
        (a, b), (x, y) = r["char_errors"], r["exact_lines"]
        share = f"{100 * (b - a) / added:.0f} %" if added > 0 else "–"
        out.append(f"| {r['page']} | {a} → {b} | {share} | {x} → {y} of {r['ref_lines']} |")
    w = gap["without_them"]
    out.append(f"| the other {w['pages']} pages | CER {100 * w['base']['cer']:.2f} → {100 * w['cand']['cer']:.2f} % "
               f"| | {100 * w['base']['line_accuracy']:.1f} → {100 * w['cand']['line_accuracy']:.1f} % exact |")
    return out


def latency_ms(path: Path, threads: int, runs: int = 10) -> float:
    import numpy as np

    from ppocr_convert.runners import open_runner
    r = open_runner(path, "tflite", threads=threads)
    x = np.random.default_rng(0).standard_normal(r.input_spec.shape).astype(np.float32)
    r.run(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r.run(x)
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


@app.command()
def main(pipeline: str = typer.Option("PP-OCRv5_mobile"), evalset: Path = typer.Option(Path(".cache/evalset")),
         out: Path = typer.Option(Path("bench/results/int8.json")), latency: bool = typer.Option(True),
         out_dir: Path = typer.Option(Path("dist/bench-int8"))):
    from ppocr_convert.chain.conversion import ConvertOptions, convert
    from ppocr_convert.integer_check import integer_report
    from ppocr_convert.xnnpack_check import xnnpack_report
    from ppocr_convert.ocr.image_io import list_images
    from ppocr_convert.parity.labels import load_labels
    from ppocr_convert.parity.pipelines import load_pipeline
    from ppocr_convert.memory import RssSampler
    pipe = load_pipeline(pipeline)
    labels = load_labels(evalset / "labels.json")
    images = list_images(evalset)
    # peak memory of the whole process tree per phase: conversion (the int8 stage's
    # calibration, search and gate where the cache misses) and scoring (one pipeline per core)
    with RssSampler(phase="convert") as rss:
        res = {cfg.task: convert(cfg, ConvertOptions(targets=["tflite-fp32", "tflite-int8"], out_dir=out_dir),
                                 lambda s, m: typer.echo(f"  {s}: {m}", err=True))
               for cfg in (pipe.det_config, pipe.rec_config)}
        det32, det8 = files(res["det"], "tflite-fp32")[0], files(res["det"], "tflite-int8")[0]
        rec32, rec8 = files(res["rec"], "tflite-fp32"), files(res["rec"], "tflite-int8")
        int8_built = any(s.stage.startswith("tflite-int8") and not s.cached for r in res.values() for s in r.stages)
        rss.mark("score")
        rows = {"fp32 det + fp32 rec": score(pipe, det32, rec32, labels, images),
                "int8 det + int8 rec": score(pipe, det8, rec8, labels, images),
                "int8 det + fp32 rec": score(pipe, det8, rec32, labels, images),
                "fp32 det + int8 rec": score(pipe, det32, rec8, labels, images)}
    artifacts = {}
    for name, a, b in [("det", det32, det8)] + [(f"rec {p.stem.split('_')[-2]}", p, q) for p, q in zip(rec32, rec8)]:
        rep = integer_report(b)
        entry = {"fp32_bytes": a.stat().st_size, "int8_bytes": b.stat().st_size,
                 "size_ratio": b.stat().st_size / a.stat().st_size, **rep.to_dict(),
                 "xnnpack": {"fp32": xnnpack_report(a).to_dict(), "int8": xnnpack_report(b).to_dict()}}
        if latency and (name == "det" or name.endswith("w320")):
            entry["latency_ms"] = {f"{t}t": {"fp32": latency_ms(a, t), "int8": latency_ms(b, t)} for t in (1, 2)}
        artifacts[name] = entry
    memory = {"peak_rss_mb": {k: round(v) for k, v in rss.peaks_mb.items()}, "int8_stage_built": int8_built}
    result = {"pipeline": pipeline, "evalset": str(evalset), "images": len(images), "scores": rows,
              "artifacts": artifacts, "memory": memory,
              "page_gap": {k: page_gap(rows["fp32 det + fp32 rec"], rows[k])
                           for k in ("int8 det + fp32 rec", "int8 det + int8 rec")}}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    echo_score_table(pipeline, len(images), rows)
    typer.echo(f"\npeak RSS (process tree): convert {memory['peak_rss_mb']['convert']} MB "
               f"({'int8 stage built' if int8_built else 'int8 stage from cache'}), "
               f"score {memory['peak_rss_mb']['score']} MB")
    typer.echo("")
    for line in render_page_gap(result["page_gap"]["int8 det + fp32 rec"], "int8 det (fp32 rec)"):
        typer.echo(line)
    typer.echo("\n| file | int8 / fp32 size | int8 weights | float ops | Flex/custom "
               "| latency 1t / 2t (int8 vs fp32) | XNNPACK partitions int8 / fp32; int8 ops outside |")
    typer.echo("|---|---|---|---|---|---|---|")
    for k, a in artifacts.items():
        lat = a.get("latency_ms")
        lat_s = " / ".join(f"{v['int8']:.0f} vs {v['fp32']:.0f} ms" for v in lat.values()) if lat else "–"
        fl = ", ".join(f"{o} x{n}" for o, n in a["float_ops"].items()) or "none"
        x8, x32 = a["xnnpack"]["int8"], a["xnnpack"]["fp32"]
        outside = ", ".join(f"{o} x{n}" for o, n in x8["outside"].items()) or "none"
        typer.echo(f"| {k} | {a['size_ratio']:.2f} | {100 * a['int8_weight_share']:.0f} % | {fl} | "
                   f"{len(a['flex_or_custom_ops'])} | {lat_s} | {x8['partitions']} / {x32['partitions']}; {outside} |")


def echo_score_table(pipeline: str, pages: int, rows: dict) -> None:
    """The ground-truth table, each row against "fp32 det + fp32 rec" (also bench.int8_weights')."""
    base = rows["fp32 det + fp32 rec"]
    typer.echo(f"| {pipeline} ({pages} pages) | GT line accuracy | CER | vs fp32 |")
    typer.echo("|---|---|---|---|")
    for k, v in rows.items():
        typer.echo(f"| {k} | {100 * v['line_accuracy']:.1f} % | {100 * v['cer']:.2f} % | "
                   f"{100 * (v['line_accuracy'] - base['line_accuracy']):+.1f} pt / "
                   f"{100 * (v['cer'] - base['cer']):+.2f} pt CER |")


if __name__ == "__main__":
    app()

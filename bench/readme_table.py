"""The README's benchmark table, generated from a bench results JSON, so the README follows
the latest run instead of hand-copied numbers.

    .venv/bin/python -m bench.readme_table                          # bench/results/latest.json -> README.md
    .venv/bin/python -m bench.readme_table results.json --check     # exit 1 if README.md is not up to date

Only the text between `<!-- bench:begin -->` and `<!-- bench:end -->` is rewritten; the
prose around it (what the numbers mean) stays the maintainers'.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

from bench.conversion import onnx2tf_runs, stage_buckets
from bench.markdown import markdown_table
from bench.subjects import RATIO_TARGET, RESULTS_DIR

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = "bench"
LATENCY_ROWS = {"onnx": "onnx latency median", "tflite-fp32": "tflite-fp32 median",
                "tflite-fp16": "tflite-fp16 median"}
NOISE_NOTE = (f"\\* above {RATIO_TARGET:.2f}, but the artifact runs the same op sequence on the same tensor shapes "
              "as the plain one (up to the rank of scalar constants), so the same kernels run: the bench reports "
              "the gap as noise.")


class MarkerError(ValueError):
    """The README lacks a well-formed pair of block markers."""


def markers(name: str = BLOCK) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_block(text: str, content: str, name: str = BLOCK, source: str = "README.md") -> str:
    """`text` with everything between the block's markers replaced by `content` (blank lines
    around it, so markdown sees the table as its own block); the rest is left byte for byte."""
    begin, end = markers(name)
    for marker in (begin, end):
        count = text.count(marker)
        if count != 1:
            found = "not found" if count == 0 else f"found {count} times"
            raise MarkerError(f"{source}: marker {marker} {found}; the generated table goes between "
                              f"{begin} and {end}, each on its own line, once")
    start, stop = text.index(begin) + len(begin), text.index(end)
    if stop < start:
        raise MarkerError(f"{source}: {end} comes before {begin}")
    return text[:start] + "\n\n" + content.strip("\n") + "\n\n" + text[stop:]


def _shape_hw(row: dict) -> str:
    return "×".join(map(str, row["shape"][2:]))


def _by(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r for r in rows}


def _is_noise(res: dict, model: str, artifact: str, value: float) -> bool:
    """A ratio above target that the op structure shows to be noise (same kernels as plain)."""
    ops = _by(res["ops"], "model", "artifact").get((model, artifact), {})
    return value > RATIO_TARGET and bool(ops.get("structure_vs_plain", {}).get("identical_up_to_scalar_rank"))


def _cold_cell(res: dict, model: str) -> str:
    rows = _by(res["conversion_rows"], "model", "stage")
    total = rows[(model, "total (convert() / plain steps)")]
    tflite = rows[(model, "tflite (onnx2tf)")]
    publish = rows[(model, "publish (inspect, manifest)")]
    notes = []
    cold = res["conversion"][model]["runs"][0]["ours_cold"]
    buckets = stage_buckets(cold, "tflite")
    if buckets > 1:
        converted = onnx2tf_runs(cold)
        notes.append(f"{buckets} width buckets, {converted} through onnx2tf and {buckets - converted} re-emitted: "
                     f"tflite stage {tflite['ours_s']:.1f} s vs {tflite['plain_s']:.1f} s plain")
    if publish["ours_s"] is not None:
        notes.append(f"inspect + manifest {publish['ours_s']:.1f} s")
    return (f"{total['ours_s']:.1f} vs {total['plain_s']:.1f} plain ({total['time_ratio']:.2f}×"
            + "".join(f"; {n}" for n in notes) + ")")


def readme_block(res: dict) -> str:
    """The markdown between the markers: one line on the run, the table (a column per model),
    a footnote when a ratio was marked as noise, and the end-to-end throughput."""
    lat = _by(res["latency"], "model", "threads", "artifact")
    models = list(dict.fromkeys(r["model"] for r in res["latency"]))
    threads = sorted({r["threads"] for r in res["latency"]})
    first_rows = {m: next(r for r in res["latency"] if r["model"] == m) for m in models}
    conv = _by(res["conversion_rows"], "model", "stage")
    sizes = _by(res["size"], "model", "artifact")
    ops = _by(res["ops"], "model", "artifact")
    noted = False

    def latency_cell(model: str, artifact: str, label_ratio: bool) -> str:
        nonlocal noted
        medians = " / ".join(f"{lat[(model, n, artifact)]['median_ms']:.1f}" for n in threads)
        ratios = []
        for n in threads:
            value = lat[(model, n, artifact)]["vs_plain_median"]
            star = "*" if _is_noise(res, model, artifact, value) else ""
            noted = noted or bool(star)
            ratios.append(f"{value:.2f}{star}")
        return f"{medians} ({'ratio ' if label_ratio else ''}{' / '.join(ratios)})"

    per_threads = " / ".join(map(str, threads)) + (" threads" if threads != [1] else " thread")
    rows = [["conversion, cold (s)", *[_cold_cell(res, m) for m in models]],
            ["conversion, cached (s)",
             *[f"{conv[(m, 'total (convert() / plain steps)')]['cached_s']:.1f}" for m in models]]]
    for i, (artifact, label) in enumerate(LATENCY_ROWS.items()):
        # the first cell says what the bracket holds; the rest follow its pattern
        rows.append([f"{label}, {per_threads} (ms)",
                     *[latency_cell(m, artifact, i == 0 and j == 0) for j, m in enumerate(models)]])
    rows += [
        ["tflite-fp32 / onnxruntime, same threads",
         *[" / ".join(f"{lat[(m, n, 'tflite-fp32')]['vs_ort_onnx_median']:.2f}" for n in threads) for m in models]],
        ["TRANSPOSE ops in TFLite (plain way)",
         *[f"{ops[(m, 'tflite-fp32')]['transpose']} ({ops[(m, 'plain-tflite-fp32')]['transpose']})" for m in models]],
        ["size fp32 / fp16 vs onnx-raw",
         *[f"{sizes[(m, 'tflite-fp32')]['vs_onnx_raw']:.2f} / {sizes[(m, 'tflite-fp16')]['vs_onnx_raw']:.2f}"
           for m in models]]]
    table = markdown_table(["", *[f"{m} {_shape_hw(first_rows[m])}" for m in models]], rows)
    parts = [_run_line(res, models, first_rows), table]
    if noted:
        parts.append(NOISE_NOTE)
    if res.get("pipeline"):
        parts.append(_end_to_end_line(res["pipeline"]))
    return "\n\n".join(parts)


def _run_line(res: dict, models: list[str], first_rows: dict) -> str:
    m, a, stamp = res["machine"], res["args"], res["timestamp"]
    date = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}"
    shapes = ", ".join(f"{k} {'×'.join(map(str, first_rows[k]['shape']))}" for k in models)
    quick = ", --quick" if a.get("quick") else ""
    return (f"Latest run ({m['cpu_count']} × {m['cpu_model']}, {date}, {res['wall_s']:.0f} s{quick}; shapes: "
            f"{shapes}; conversions median of {a['conv_reps']}, latency median of {a['reps']} reps; ratios are "
            "ours / plain, measured interleaved in the same run):")


def _end_to_end_line(pipeline: list[dict]) -> str:
    by = {r["runner"]: r for r in pipeline}
    ours = [k for k in ("onnx-raw", "onnx", "tflite-fp32", "tflite-fp16") if k in by]
    speeds = ", ".join(f"{k}{' (dynamic det)' if k == 'onnx-raw' else ''} {by[k]['images_per_s']:.1f}"
                       + (" images/s" if i == 0 else "") for i, k in enumerate(ours))
    ratios = ", ".join(f"{by[k]['vs_plain_throughput']:.2f}" for k in ours if "vs_plain_throughput" in by[k])
    first = pipeline[0]
    return (f"End to end on {first['images']} photos ({first['threads']} threads): {speeds}"
            + (f" (ours / plain {ratios})" if ratios else "") + ".")


def load_results(path: Path) -> dict:
    if not path.is_file():
        raise typer.BadParameter(f"{path} not found: run `make bench` first (it writes bench/results/latest.json)",
                                 param_hint="RESULTS")
    return json.loads(path.read_text())


app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


@app.command()
def main(
    results: Path = typer.Argument(RESULTS_DIR / "latest.json", help="a bench results JSON"),
    readme: Path = typer.Option(README, "--readme", help="the markdown file holding the markers"),
    check: bool = typer.Option(False, "--check", help="change nothing; exit 1 if the file is not up to date"),
):
    """Rewrite the block between <!-- bench:begin --> and <!-- bench:end --> from RESULTS."""
    text = readme.read_text(encoding="utf-8")
    try:
        new = replace_block(text, readme_block(load_results(results)), source=str(readme))
    except MarkerError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    if check:
        if new != text:
            typer.echo(f"{readme} is not up to date with {results}: run `make bench-readme`", err=True)
            raise typer.Exit(1)
        return
    if new != text:
        readme.write_text(new, encoding="utf-8")
    typer.echo(f"{readme}: benchmark table {'updated' if new != text else 'already up to date'} from {results}")


if __name__ == "__main__":
    app()

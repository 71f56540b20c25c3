"""Command line: parses arguments and renders results. All work happens in the library."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from typer.core import TyperGroup

from .errors import ConvertError

import warnings

# Paddle warns about a missing compiler cache on import; irrelevant to inference
warnings.filterwarnings("ignore", message="No ccache found")
# TensorFlow/absl log floods stay out of the way unless the user set their own level
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GLOG_minloglevel", "2")

from .cli_common import console, fail as _fail, out  # noqa: E402


class DefaultToConvert(TyperGroup):
    """`ppocr-convert MODEL ...` means `ppocr-convert convert MODEL ...`."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args.insert(0, "convert")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx):
        from .toolrun import install_signal_handlers, interrupt_exit_code
        install_signal_handlers()  # SIGTERM/SIGHUP unwind like Ctrl-C: tools killed, temp dirs removed
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM/SIGHUP via install_signal_handlers
            console.print("interrupted")
            raise typer.Exit(interrupt_exit_code(e)) from None


app = typer.Typer(cls=DefaultToConvert, add_completion=False, no_args_is_help=True,
                  help="Convert PaddleOCR models to ONNX and TFLite, offline, and check each stage.")


def _print_version(value: bool) -> None:
    if value:
        from . import __version__
        typer.echo(f"ppocr-convert {__version__}")
        raise typer.Exit()


class _WarningLine(logging.Handler):
    """The library's warnings (a damaged cache entry being rebuilt, ...) as one line each."""

    def emit(self, record: logging.LogRecord) -> None:
        console.print(f"[yellow]warning:[/] {record.getMessage()}", soft_wrap=True, highlight=False)


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="print the version and exit"),
):
    library_log = logging.getLogger("ppocr_convert")
    if not any(isinstance(h, _WarningLine) for h in library_log.handlers):
        library_log.addHandler(_WarningLine(logging.WARNING))
        library_log.propagate = False


REMOTE_CACHE_OPTION = typer.Option(
    None, "--remote-cache", envvar="PPOCR_CONVERT_REMOTE_CACHE",
    help="shared cache (fsspec URL: file://, http(s)://, s3://, gs://) read through and written back; "
         "never required")
CALIBRATION_IMAGES_OPTION = typer.Option(
    None, "--calibration-images",
    help="tflite-int8: a directory of your app's photos, calibrated on first, then the packaged set")
GATE_PAGES_OPTION = typer.Option(
    None, "--gate-pages",
    help="tflite-int8: a directory of labelled pages (labels.json + images, as `evalset` writes) "
         "that the int8 gate judges instead of the rendered gate pages")


def _shape(dims) -> str:
    return "x".join(str(d) if isinstance(d, int) else "?" for d in dims)


@app.command()
def convert(
    model: str = typer.Argument(..., help="model name from configs/ (see `ppocr-convert list`)"),
    target: List[str] = typer.Option(["tflite-fp16"], "--target", "-t",
                                     help="onnx-raw, onnx, tflite-fp32, tflite-fp16, tflite-int8 (repeatable) or all"),
    out_dir: Path = typer.Option(Path("dist"), "--out", "-o", help="artifacts go to OUT/<model>/<target>/"),
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Paddle model dir or .onnx file to convert"),
    download: bool = typer.Option(False, "--download",
                                  help="allow fetching the official model when nothing local exists"),
    shape: Optional[str] = typer.Option(None, "--shape", help="static input shape NxCxHxW, e.g. 1x3x960x960"),
    opset: Optional[int] = typer.Option(None, "--opset", help="ONNX opset for paddle2onnx (default from config)"),
    passes: Optional[str] = typer.Option(None, "--passes", help="comma-separated pass list replacing the config's"),
    skip_pass: List[str] = typer.Option([], "--skip-pass", help="drop a pass from the list (repeatable)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="rebuild every stage"),
    strict_gpu: bool = typer.Option(False, "--strict-gpu", help="fail if an op would fall back from the GPU delegate"),
    remote_cache: Optional[str] = REMOTE_CACHE_OPTION,
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1,
                                       help="onnx2tf runs at once for rec width buckets (default: cores, memory)"),
    convert_each_width: bool = typer.Option(
        False, "--convert-each-width",
        help="run onnx2tf for every rec width bucket instead of re-emitting the narrowest one (verified)"),
    calibration_images: Optional[Path] = CALIBRATION_IMAGES_OPTION,
    gate_pages: Optional[Path] = GATE_PAGES_OPTION,
    as_json: bool = typer.Option(False, "--json", help="print the manifest(s) as JSON on stdout"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show the tools' logs"),
    debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
):
    """Convert MODEL to the requested targets."""
    from .quiet import set_verbose
    set_verbose(verbose)  # let native libraries talk too
    from .config import TARGETS, load_model_config, parse_shape
    from .chain.conversion import ConvertOptions
    from .chain.conversion import convert as run_convert
    try:
        config = load_model_config(model)
        targets = list(TARGETS) if "all" in target else target
        options = ConvertOptions(
            targets=targets, out_dir=out_dir, model_dir=model_dir, download=download,
            shape=parse_shape(shape) if shape else None, opset=opset,
            passes=[p.strip() for p in passes.split(",") if p.strip()] if passes is not None else None,
            skip_passes=skip_pass, use_cache=not no_cache, strict_gpu=strict_gpu, remote_cache=remote_cache,
            jobs=jobs, retarget_buckets=not convert_each_width, calibration_images=calibration_images,
            gate_pages=gate_pages)
        with console.status(f"[bold]{model}[/]: starting") as status:
            def progress(stage: str, message: str) -> None:
                status.update(f"[bold]{model}[/] › {stage}: {message}")
                if verbose:
                    console.print(f"[dim]{stage}: {message}[/]")
            result = run_convert(config, options, progress)
    except ConvertError as e:
        if verbose and e.log_path and os.path.exists(e.log_path):
            console.print(Path(e.log_path).read_text(errors="replace")[-20000:])
        _fail(e, debug)
    if as_json:
        out.print_json(json.dumps(result.manifests if len(targets) > 1 else result.manifests[targets[0]],
                                  ensure_ascii=False))
        return
    table = Table(title=f"{model}: artifacts", show_lines=False)
    for col in ("target", "input", "bytes", "GPU delegate", "sha256"):
        table.add_column(col, no_wrap=True)
    for t, m in result.manifests.items():
        inp = m["inputs"][0]
        table.add_row(t, f"{_shape(inp['shape'])} {inp['dtype']}", f"{m['bytes']:,}",
                      m["gpu_delegate"]["verdict"], m["sha256"][:12])
    out.print(table)
    for t, d in result.artifact_dirs.items():
        files = [b["file"] for b in result.manifests[t].get("buckets", [])] or [result.manifests[t]["file"]]
        out.print(f"{t}: " + ", ".join(str(d / f) for f in files), soft_wrap=True)
    stages = ", ".join(f"{r.stage} {'cached' if r.cached else f'{r.seconds:.1f}s'}" for r in result.stages)
    console.print(f"[dim]stages: {stages}[/]")


@app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json")):
    """Models in configs/ and where each would be converted from on this machine."""
    from .config import load_model_config, model_names
    from .reference import reference_kind
    from .chain.sources import resolve
    rows = []
    for name in model_names():
        try:
            cfg = load_model_config(name)
        except ConvertError as e:  # a broken config: one line, not a traceback
            _fail(e, False)
        try:
            src = resolve(cfg)
            where, stage, ref = f"{src.kind}: {src.origin}", src.stage, reference_kind(src)
        except ConvertError as e:
            where, stage, ref = f"none offline ({e.hint})", "-", "-"
        rows.append({"model": name, "task": cfg.task, "family": cfg.family,
                     "shape": "x".join(map(str, cfg.shape)), "source": where, "enters_at": stage,
                     "reference": ref})
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title="models")
    for col in rows[0]:
        table.add_column(col)
    for r in rows:
        table.add_row(*[str(v) for v in r.values()])
    out.print(table)


@app.command()
def inspect(
    file: Path = typer.Argument(..., help=".onnx or .tflite file"),
    as_json: bool = typer.Option(False, "--json"),
    debug: bool = typer.Option(False, "--debug"),
):
    """Inputs, outputs, op histogram, GPU-delegate verdict, and for .tflite whether it is fully
    integer and which ops the XNNPACK CPU delegate leaves out."""
    from .inspect_model import inspect_file
    try:
        with console.status(f"inspecting {file.name}"):
            report = inspect_file(file)
    except ConvertError as e:
        _fail(e, debug)
    integer = xnnpack = None
    if file.suffix.lower() == ".tflite":
        from .integer_check import integer_report
        from .xnnpack_check import xnnpack_report
        integer, xnnpack = integer_report(file), xnnpack_report(file)
    if as_json:
        extra = {"integer": integer.to_dict(), "xnnpack": xnnpack.to_dict()} if integer and xnnpack else {}
        out.print_json(json.dumps({**report.to_dict(), **extra}, ensure_ascii=False))
        return
    out.print(f"[bold]{file}[/] ({report.format}, {report.bytes:,} bytes)")
    io = Table(title="inputs / outputs")
    for col in ("", "name", "shape", "dtype"):
        io.add_column(col)
    for kind, tensors in (("input", report.inputs), ("output", report.outputs)):
        for t in tensors:
            io.add_row(kind, t.name, str(t.shape), t.dtype)
    out.print(io)
    ops = Table(title="ops")
    ops.add_column("op")
    ops.add_column("count", justify="right")
    for op, n in sorted(report.op_histogram.items(), key=lambda kv: -kv[1]):
        ops.add_row(op, str(n))
    out.print(ops)
    out.print(f"shapes: {'static' if report.static_shapes else 'DYNAMIC'}")
    out.print(f"LiteRT GPU delegate: {report.gpu_verdict}")
    for issue in report.gpu_issues:
        out.print(f"  - {issue.op} {issue.node}: {issue.reason}")
    if integer is not None:  # what NPU delegates need: every op on integer tensors
        out.print(f"integer: {integer.verdict()}; int8 weights on {integer.int8_weighted_ops}/"
                  f"{integer.weighted_ops} conv/depthwise/fully-connected ops")
        note = integer.int16_note()
        if note:
            out.print(f"  {note}")
    if xnnpack is not None:  # the CPU path: ops XNNPACK does not take run on TFLite's kernels
        out.print(f"XNNPACK (CPU): {xnnpack.verdict()}")


@app.command()
def parity(
    name: str = typer.Argument(..., help="pipeline (configs/pipelines/, e.g. PP-OCRv5_mobile) or one of its models"),
    images: Path = typer.Option(..., "--images", help="directory of photos with text"),
    out_dir: Path = typer.Option(Path("parity"), "--out", "-o", help="report.json + report.html go here"),
    targets: List[str] = typer.Option(["onnx-raw", "onnx", "tflite-fp32", "tflite-fp16"], "--targets", "-t",
                                      help="stages to compare with the paddle reference (repeatable; "
                                           "tflite-int8 on request)"),
    limit: Optional[int] = typer.Option(None, "--limit", help="use only the first N images"),
    labels: Optional[Path] = typer.Option(None, "--labels", help='ground truth JSON {image: [{"text", "box"}]}'),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1,
                                          help="parallel workers, each running chunks of images stage by "
                                               "stage (default: the machine's cores, ~2 GB of free memory each)"),
    engine: str = typer.Option("local", "--engine", help="local (process pool) or ray (the optional "
                                                         "ray extra: Ray Data 2.60.0)"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                              help="join this Ray cluster (default: start a local Ray)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="recompute every image and rewrite its cached result"),
    html_images: int = typer.Option(50, "--html-images", help="report.html of a set over 200 images shows the "
                                                              "worst N"),
    calibration_images: Optional[Path] = CALIBRATION_IMAGES_OPTION,
    gate_pages: Optional[Path] = GATE_PAGES_OPTION,
    as_json: bool = typer.Option(False, "--json", help="print the per-stage summary as JSON"),
    debug: bool = typer.Option(False, "--debug"),
):
    """Run the reference OCR pipeline on every stage and report the drift from Paddle.

    Each image's results are cached as soon as they are computed (by the image's, the
    artifacts' and the harness code's hashes): an interrupted run, run again, computes only
    the images it lacks."""
    from .errors import ParityError, SourceError
    from .ocr.image_io import list_images
    from .parity.harness import run_parity
    from .parity.pipelines import load_pipeline, pipeline_for_model, pipeline_names
    from .parity.labels import load_labels
    from .parity.report import write_report
    from .parity.result_store import RESULTS_CACHE_DIR
    from .chain.sources import cache_root
    try:
        pipe = load_pipeline(name) if name in pipeline_names() else pipeline_for_model(
            __import__("ppocr_convert.config", fromlist=["x"]).load_model_config(name).name)
        if not images.is_dir():
            raise SourceError(f"images directory {images} does not exist", hint="pass --images DIR")
        paths = list_images(images)[:limit]
        if not paths:
            raise SourceError(f"no images (.jpg/.png/...) in {images}", hint="pass a directory of photos")
        with console.status(f"[bold]{pipe.name}[/] parity") as status:
            run = run_parity(pipe, paths, list(targets), out_dir.parent / f".{out_dir.name}-work",
                             progress=lambda s, m: status.update(f"[bold]{pipe.name}[/] › {s}: {m}"),
                             labels=load_labels(labels) if labels else None, workers=workers, engine=engine,
                             ray_address=ray_address, results_cache=cache_root() / RESULTS_CACHE_DIR,
                             refresh=no_cache, calibration_images=calibration_images, gate_pages=gate_pages)
            try:
                write_report(run, out_dir, images, html_images=html_images)
            finally:
                run.remove()
    except ConvertError as e:
        _fail(e, debug)
    report = run.result
    if as_json:
        out.print_json(json.dumps({k: v for k, v in report.to_dict().items() if k in ("stages", "failures")}))
    else:
        _print_parity_tables(report)
        out.print(f"{run.computed} images measured, {run.reused} reused from the cache; {run.engine} engine, "
                  f"{run.workers} workers, {run.seconds:.1f} s", soft_wrap=True)
        out.print(f"report: {out_dir / 'report.html'} (every image: {out_dir / report.results_file})",
                  soft_wrap=True)
    if report.failures:
        for f in report.failures:
            console.print(f"[red]parity:[/] {f.stage} {f.view} {f.metric}={f.value} breaks limit {f.limit}")
        e = ParityError(f"{len(report.failures)} tolerance(s) broken")
        raise typer.Exit(e.exit_code)


def _print_parity_tables(report) -> None:
    """The stage summary (and, with labels, the ground-truth scores), formatted by the metric table."""
    from .parity.metric_table import metric
    columns = [("same-input: lines same", "same_input", "line_text_agreement"),  # (title, view, metric)
               ("det map agree", "same_input", "det_binary_agreement"), ("pipeline: det F1", "pipeline", "det_f1"),
               ("lines exact", "pipeline", "line_exact_match"), ("CER", "pipeline", "cer")]
    table = Table(title=f"{report.pipeline} vs paddle reference ({len(report.images)} images)")
    for col in [c[0] for c in columns] + ["verdict"]:
        table.add_column(col, no_wrap=True)
    for stage, s in report.stages.items():
        table.add_row(stage, *[metric(name).fmt(getattr(s.view(view), name)) for _, view, name in columns],
                      "[green]pass[/]" if s.verdict == "pass" else "[red]FAIL[/]")
    out.print(table)
    if report.labels:
        gt_names = ("gt_det_recall", "gt_det_precision", "gt_line_accuracy", "gt_cer")
        gt = Table(title="against the ground truth (--labels)")
        for col in ("stage", "det recall", "det precision", "line accuracy", "CER", "lines"):
            gt.add_column(col, no_wrap=True)
        rows = [("paddle (dynamic reference)", report.reference.ground_truth)]
        rows += [(stage, s.ground_truth) for stage, s in report.stages.items() if s.ground_truth]
        for stage, g in rows:
            gt.add_row(stage, *[metric(n).fmt(getattr(g, n)) for n in gt_names], str(g.gt_lines))
        out.print(gt)


@app.command()
def release(
    images: Path = typer.Option(..., "--images", help="photos for the parity gate"),
    out_dir: Path = typer.Option(Path("dist"), "--out", "-o", help="the release directory (replaced only on success)"),
    models: List[str] = typer.Option([], "--models", "-m",
                                     help="models to release (default: every model with a source here)"),
    targets: List[str] = typer.Option([], "--targets", "-t",
                                      help="targets (default: onnx, tflite-fp32, tflite-fp16; "
                                           "add tflite-int8 on request)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="rebuild every stage and rerun parity"),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1,
                                          help="parity gate workers (default: the machine's cores, as "
                                               "--memory-budget allows)"),
    memory_budget: str = typer.Option("3G", "--memory-budget",
                                      help="memory for the parity gate's workers together (e.g. 8G; 'none': "
                                           "as free memory allows); ~2 GB a worker"),
    remote_cache: Optional[str] = REMOTE_CACHE_OPTION,
    calibration_images: Optional[Path] = CALIBRATION_IMAGES_OPTION,
    gate_pages: Optional[Path] = GATE_PAGES_OPTION,
    as_json: bool = typer.Option(False, "--json", help="print dist/manifest.json"),
    debug: bool = typer.Option(False, "--debug"),
):
    """Every model x every target, the parity gate, and dist/manifest.json; all or nothing."""
    import time

    from .chain.cache_admin import parse_size
    from .errors import ParityError
    from .release import release as run_release
    start = time.perf_counter()
    try:
        budget = None if memory_budget.strip().lower() == "none" else parse_size(memory_budget)
        with console.status("release") as status:
            result = run_release(out_dir, images, models=list(models) or None, targets=list(targets) or None,
                                 use_cache=not no_cache, remote_cache=remote_cache, workers=workers,
                                 memory_budget=budget, calibration_images=calibration_images,
                                 gate_pages=gate_pages,
                                 progress=lambda s, m: status.update(f"[bold]release[/] › {s}: {m}"))
    except ParityError as e:
        failures = getattr(e, "failures", [])
        if failures:
            table = Table(title="parity gate: failed checks")
            for col in ("pipeline", "stage", "view", "metric", "value", "limit"):
                table.add_column(col, no_wrap=True)
            for f in failures:
                table.add_row(f["pipeline"], f["stage"], f["view"], f["metric"], str(f["value"]), str(f["limit"]))
            console.print(table)
        _fail(e, debug)
    except ConvertError as e:
        _fail(e, debug)
    if as_json:
        out.print_json(json.dumps(result.manifest, ensure_ascii=False))
        return
    table = Table(title=f"release → {out_dir}/manifest.json")
    for col in ("model", "target", "bytes", "GPU delegate", "parity", "sha256"):
        table.add_column(col, no_wrap=True)
    for a in result.manifest["artifacts"]:
        table.add_row(a["model"], a["target"], f"{a['bytes']:,}", a["gpu_delegate"], a["parity"]["verdict"],
                      a["sha256"][:12])
    out.print(table)
    for s in result.skipped:
        console.print(f"[yellow]skipped[/] {s['model']}: {s['reason']}")
    console.print(f"[dim]release took {time.perf_counter() - start:.1f}s[/]")


@app.command()
def evalset(
    out_dir: Path = typer.Option(..., "--out", help="output directory (replaced if it holds a set)"),
    n: int = typer.Option(40, "--n", help="number of images"),
    seed: int = typer.Option(0, "--seed", help="seed: the same seed gives the same bytes"),
    scale: float = typer.Option(1.0, "--scale", help="shrink pages and fonts"),
):
    """Render the labelled evaluation set (pages with ground truth), deterministically."""
    import time

    from .evalset.fonts import FontsNotFound
    from .evalset.generate import generate
    start = time.perf_counter()
    try:
        path = generate(out_dir, n, seed, scale=scale)
    except FontsNotFound as e:
        _fail(ConvertError(str(e), hint="install the fonts: make fonts (Debian fonts-noto-cjk)"), False)
    labels = json.loads(path.read_text(encoding="utf-8"))
    console.print(f"{len(labels)} images, {sum(len(v) for v in labels.values())} lines -> {path} "
                  f"({time.perf_counter() - start:.1f} s)")


@app.command()
def goldens(
    images: Path = typer.Option(..., "--images", help="directory of photos the goldens are computed on"),
    pipelines: List[str] = typer.Option(["PP-OCRv5_mobile", "PP-OCRv4_mobile", "PP-OCRv6_small", "PP-OCRv6_tiny"],
                                        "--pipeline", help="pipeline to write goldens for (repeatable)"),
    debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
):
    """Rewrite golden/ from the Paddle reference pipelines and the current artifacts' op mixes
    (review the diff before committing it)."""
    import tempfile

    from .goldens import write, write_op_histograms
    from .resources import golden_dir
    try:
        with tempfile.TemporaryDirectory() as tmp:
            written = [*write(pipelines, images), write_op_histograms(Path(tmp))]
    except ConvertError as e:
        _fail(e, debug)
    for path in written:
        console.print(f"wrote {path.relative_to(golden_dir().parent)}")


from .cli_cache import cache_app  # noqa: E402  (the `cache` subcommands; after `app` exists)

app.add_typer(cache_app, name="cache")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

"""Write a parity run to disk: report.json (for scripts and gates), results.jsonl (every
image's results, one JSON line each), heat maps of the det probability-map difference, and
report.html (for people: the summary and the worst images). Written into a temp dir and
renamed into place, so a failed run never leaves half a report."""
from __future__ import annotations

import heapq
import json
import shutil
import tempfile
from pathlib import Path

from ..fsutil import replace_dir
from .harness import ParityRun
from .records import from_jsonable
from .report_schema import ImageEntry, ParityReport
from .result_store import read_results

HTML_WORST_IMAGES = 50  # report.html of a set larger than report.json inlines shows this many, worst first


def heatmap_name(image: str, stage: str) -> str:
    return f"{Path(image).stem}.{stage}.detdiff.png"


def write_report(run: ParityRun, out_dir: Path, images_dir: Path | None,
                 html_images: int = HTML_WORST_IMAGES) -> Path:
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        assets = tmp / "assets"
        assets.mkdir()
        report = run.result
        if run.results_path is not None and run.results_path.is_file():
            shutil.copyfile(run.results_path, tmp / report.results_file)
        shown = report.per_image if report.per_image_inline else worst_images(tmp / report.results_file, html_images)
        for image, entry in shown.items():
            for stage in entry.stages:
                src = run.det_heatmaps.get((image, stage))
                if src is not None and Path(src).is_file():
                    shutil.copyfile(src, assets / heatmap_name(image, stage))
        write_json_and_html(report, tmp, images_dir, html_images, shown=shown)
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def worst_images(results: Path, n: int) -> dict[str, ImageEntry]:
    """The `n` worst images of a results.jsonl (report_view's order), read one line at a time."""
    from .report_view import image_problem_key
    heap: list[tuple] = []  # max-heap on the problem key via negation is awkward: keep (key, line no) pairs
    if not results.is_file() or n <= 0:
        return {}
    for i, line in enumerate(read_results(results)):
        if "entry" not in line:
            continue
        key = image_problem_key(line["image"], from_jsonable(ImageEntry, line["entry"]))
        heapq.heappush(heap, (_Reverse(key), i))
        if len(heap) > n:
            heapq.heappop(heap)  # drops the least bad of the kept ones
    wanted = {i for _, i in heap}
    out = {}
    for i, line in enumerate(read_results(results)):
        if i in wanted:
            out[line["image"]] = from_jsonable(ImageEntry, line["entry"])
    return out


class _Reverse:
    """Orders keys backwards, so heapq's min-heap keeps the `n` smallest (worst) keys."""
    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __lt__(self, other: "_Reverse") -> bool:
        return other.key < self.key

    def __eq__(self, other) -> bool:
        return isinstance(other, _Reverse) and self.key == other.key


def write_json_and_html(report: ParityReport, out_dir: Path, images_dir: Path | None,
                        html_images: int = HTML_WORST_IMAGES, shown: dict[str, ImageEntry] | None = None) -> None:
    """report.json and report.html of `report` in `out_dir` (its heat maps already under assets/,
    its results.jsonl beside it when the report does not inline every image)."""
    from .report_html import render_html
    if shown is None:
        shown = report.per_image if report.per_image_inline else \
            worst_images(out_dir / report.results_file, html_images)
    for image, entry in shown.items():  # link the heat maps that are there
        for stage, data in entry.stages.items():
            if (out_dir / "assets" / heatmap_name(image, stage)).is_file():
                data.det_diff_heatmap = f"assets/{heatmap_name(image, stage)}"
    (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n")
    (out_dir / "report.html").write_text(render_html(report, images_dir, out_dir / "assets", shown),
                                         encoding="utf-8")


def read_report(path: Path) -> ParityReport:
    """A report.json back as a ParityReport; StaleReportError if another schema version wrote it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        from ..errors import ParityError
        raise ParityError(f"cannot read parity report {path}: {e.__class__.__name__}: {e}",
                          hint="rerun the parity run that writes it") from None
    return ParityReport.from_dict(data, source=str(path))

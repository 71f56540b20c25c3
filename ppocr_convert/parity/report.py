"""Write a parity run to disk: report.json (for scripts and gates), heat maps of the
det probability-map difference, and report.html (for people). Written into a temp
dir and renamed into place, so a failed run never leaves half a report."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ..fsutil import replace_dir
from .harness import ParityRun
from .heatmap import write_png
from .report_schema import ParityReport


def write_report(run: ParityRun, out_dir: Path, images_dir: Path | None) -> Path:
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        assets = tmp / "assets"
        assets.mkdir()
        report = run.result
        for (image, stage), thumbnail in run.det_heatmaps.items():
            name = f"{Path(image).stem}.{stage}.detdiff.png"
            write_png(thumbnail, assets / name)
            report.per_image[image].stages[stage].det_diff_heatmap = f"assets/{name}"
        write_json_and_html(report, tmp, images_dir)
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def write_json_and_html(report: ParityReport, out_dir: Path, images_dir: Path | None) -> None:
    """report.json and report.html of `report` in `out_dir` (its heat maps already under assets/)."""
    from .report_html import render_html
    (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n")
    (out_dir / "report.html").write_text(render_html(report, images_dir, out_dir / "assets"), encoding="utf-8")


def read_report(path: Path) -> ParityReport:
    """A report.json back as a ParityReport; StaleReportError if another schema version wrote it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        from ..errors import ParityError
        raise ParityError(f"cannot read parity report {path}: {e.__class__.__name__}: {e}",
                          hint="rerun the parity run that writes it") from None
    return ParityReport.from_dict(data, source=str(path))

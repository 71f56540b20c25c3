"""Write a parity run to disk: report.json (for scripts and gates), heat maps of the
det probability-map difference, and report.html (for people). Written into a temp
dir and renamed into place, so a failed run never leaves half a report."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..fsutil import replace_dir
from .harness import ParityRun


def heatmap_png(diff: np.ndarray, path: Path, scale: float = 0.1) -> None:
    """|Δ prob| as a colour map; `scale` is the diff shown at full colour (0.1 of a probability)."""
    import cv2
    norm = np.clip(diff / scale, 0, 1)
    img = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    h, w = img.shape[:2]
    if max(h, w) > 320:  # thumbnails keep the report light
        f = 320 / max(h, w)
        img = cv2.resize(img, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(path), img)


def write_report(run: ParityRun, out_dir: Path, images_dir: Path | None) -> Path:
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    try:
        assets = tmp / "assets"
        assets.mkdir()
        report = run.report
        for (image, stage), diff in run.det_maps.items():
            name = f"{Path(image).stem}.{stage}.detdiff.png"
            heatmap_png(diff, assets / name)
            report["per_image"][image]["stages"][stage]["det_diff_heatmap"] = f"assets/{name}"
        (tmp / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        from .report_html import render_html
        (tmp / "report.html").write_text(render_html(report, images_dir, assets), encoding="utf-8")
        replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir

"""report.html: the parity run for people (report.json is the same data for scripts).

One self-contained page: inline CSS, no scripts, no network. Source photos are embedded
as small JPEG data URIs; the det-difference heat maps stay files under assets/ and are
linked relatively. The page is report_view.py's view-model laid out by the jinja2
templates in templates/ (package data, so an installed wheel renders it too), with
autoescaping on: every string that came out of a model or a file name is escaped.
"""
from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from .report_schema import ImageEntry, ParityReport
from .report_view import build_page


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ppocr_convert.parity", "templates"),
        # report.css is included verbatim into <style> (escaping would break its quotes and
        # child selectors); every other template, .html or not, is escaped
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), disabled_extensions=("css",),
                                            default=True, default_for_string=True),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render_html(report: ParityReport, images_dir: Path | None, assets_dir: Path,
                shown: dict[str, ImageEntry] | None = None) -> str:
    """`shown`: the images to lay out (default: every image in `report.per_image`)."""
    page = build_page(report, images_dir, Path(assets_dir), shown)
    return environment().get_template("report.html").render(page=page)

"""report.html from a synthetic report (fast: no models, no photos needed): the rendered
page, and the view-model it is rendered from."""
from __future__ import annotations

import re
from pathlib import Path

import jinja2
import numpy as np
import pytest

from ppocr_convert.parity import report_html, report_view
from ppocr_convert.parity.report_schema import SCHEMA_VERSION, ParityReport
from ppocr_convert.parity.report_view import Segment


def render_html(report: dict, images_dir, assets_dir) -> str:
    """The page of a report given in its JSON form (as report.json holds it)."""
    return report_html.render_html(ParityReport.from_dict(report), images_dir, assets_dir)

BOX_A = [[10.0, 10.0], [90.0, 10.0], [90.0, 30.0], [10.0, 30.0]]
BOX_B = [[10.0, 50.0], [90.0, 50.0], [90.0, 70.0], [10.0, 70.0]]
BOX_C = [[100.0, 80.0], [150.0, 80.0], [150.0, 95.0], [100.0, 95.0]]


def _line(box, text):
    return {"box": box, "det_score": 0.9, "text": text, "confidence": 0.95}


def _pipeline(pairs, ref_lines, cand_lines, exact, cer):
    n_ref = len(ref_lines)
    return {"det_precision": 1.0, "det_recall": 1.0, "det_f1": 1.0 if len(pairs) == n_ref == len(cand_lines) else 0.8,
            "ref_lines": n_ref, "cand_lines": len(cand_lines), "matched": len(pairs), "exact_lines": exact,
            "line_exact_match": exact / n_ref if n_ref else 1.0, "char_errors": 0, "ref_chars": 10,
            "cer": cer, "text_identical": cer == 0.0, "pairs": pairs}


def _stage(ref_lines, cand_lines, pairs, exact, cer, heatmap, same_texts=()):
    return {
        "same_input": {"det": {"max_abs": 1e-5, "mean_abs": 1e-8, "median_abs": 0.0, "max_rel": 0.1,
                               "cosine": 1.0, "binary_agreement": 1.0},
                       "rec": {"max_abs": 1e-5, "mean_abs": 1e-8, "median_abs": 0.0, "max_rel": 0.1, "cosine": 1.0,
                               "argmax_agreement": 1.0},
                       "lines": len(ref_lines), "same_text_lines": len(ref_lines) - len(same_texts),
                       "texts": [{"ref": a, "cand": b} for a, b in same_texts]},
        "lines": cand_lines, "det_input_hw": [640, 640],
        "pipeline": _pipeline(pairs, ref_lines, cand_lines, exact, cer),
        "seconds": 0.1, "det_diff_heatmap": heatmap,
    }


def _summary(line_exact, cer):
    return {"same_input": {"det_max_abs": 1e-5, "det_mean_abs": 1e-8, "det_cosine_min": 1.0,
                           "det_binary_agreement": 1.0, "rec_max_abs": 1e-5, "rec_argmax_agreement": 1.0,
                           "lines": 3, "line_text_agreement": 1.0},
            "pipeline": {"det_precision": 1.0, "det_recall": 1.0, "det_f1": 1.0, "line_exact_match": line_exact,
                         "cer": cer, "text_agreement": 0.5, "ref_lines": 3, "cand_lines": 3}}


def make_report(failing: bool) -> dict:
    ref_doc = [_line(BOX_A, "Total <b>& tax"), _line(BOX_B, "hello world")]
    ref_clean = [_line(BOX_A, "clean")]
    bad_doc = [_line(BOX_A, "Total <b>& tax"), _line(BOX_B, "hallo world"), _line(BOX_C, "extra")]
    pairs_bad = [{"ref": 0, "cand": 0, "iou": 1.0, "same_text": True},
                 {"ref": 1, "cand": 1, "iou": 0.9, "same_text": False}]
    pairs_same_doc = [{"ref": 0, "cand": 0, "iou": 1.0, "same_text": True},
                      {"ref": 1, "cand": 1, "iou": 1.0, "same_text": True}]
    pairs_clean = [{"ref": 0, "cand": 0, "iou": 1.0, "same_text": True}]
    failures = ([{"stage": "tflite-fp16", "view": "pipeline", "metric": "line_exact_match",
                  "value": 0.5, "limit": 0.9}] if failing else [])
    return {
        "schema_version": SCHEMA_VERSION,
        "pipeline": "PP-OCRv5_mobile",
        "models": {"det": "PP-OCRv5_mobile_det", "rec": "PP-OCRv5_mobile_rec"},
        "reference": {"stage": "paddle", "det_resize": {"limit_side_len": 960, "limit_type": "max",
                                                        "max_side_limit": 4000},
                      "rec_height": 48, "rec_min_width": 320, "drop_score": 0.5, "models": {}},
        "deployed": {"det_static_hw": [640, 640], "det_resize": "stretch", "det_upscale": True, "det_pad_value": 0,
                     "rec_static_width": 320, "rec_widths": [320]},
        "labels": False,
        "strategies": {},
        "targets": ["onnx", "tflite-fp16"],
        "images": ["doc.jpg", "clean.png"],
        "skipped_images": [],
        "stages": {"onnx": {**_summary(1.0, 0.0), "verdict": "pass"},
                   "tflite-fp16": {**_summary(0.5, 0.1), "verdict": "fail" if failing else "pass"}},
        "failures": failures,
        "per_image": {
            "clean.png": {"image_hw": [40, 120], "reference": {"lines": ref_clean, "det_input_hw": [64, 160]},
                          "stages": {s: _stage(ref_clean, ref_clean, pairs_clean, 1, 0.0,
                                               f"assets/clean.{s}.detdiff.png")
                                     for s in ("onnx", "tflite-fp16")},
                          "strategies": {}},
            "doc.jpg": {"image_hw": [100, 160], "reference": {"lines": ref_doc, "det_input_hw": [96, 160]},
                        "stages": {"onnx": _stage(ref_doc, ref_doc, pairs_same_doc, 2, 0.0,
                                                  "assets/doc.onnx.detdiff.png"),
                                   "tflite-fp16": _stage(ref_doc, bad_doc, pairs_bad, 1, 0.1,
                                                         "assets/doc.tflite-fp16.detdiff.png",
                                                         same_texts=[("hello world", "hellp world")])},
                        "strategies": {}},
        },
        "results_file": "results.jsonl",
        "per_image_inline": True,
    }


@pytest.fixture()
def assets(tmp_path: Path) -> Path:
    d = tmp_path / "assets"
    d.mkdir()
    for name in ("clean", "doc"):
        for stage in ("onnx", "tflite-fp16"):
            (d / f"{name}.{stage}.detdiff.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return d


def test_fail_page(assets: Path):
    page = render_html(make_report(failing=True), None, assets)
    assert page.startswith("<!DOCTYPE html>")
    assert '<div class="badge">FAIL</div>' in page
    assert "PASS</div>" not in page
    # the failure row: stage, view, metric, value, limit
    row = re.search(r'<table class="failures">.*?</table>', page, re.S).group(0)
    assert "tflite-fp16" in row and "line_exact_match" in row and "50.0%" in row and "≥ 90.0%" in row
    # OCR text is escaped everywhere (page text, list items and SVG titles)
    assert "<b>&" not in page
    assert "Total &lt;b&gt;&amp; tax" in page
    # character-level diff of the differing pipeline line and of the same-input crop
    assert "h<del>e</del><ins>a</ins>llo world" in page
    assert "hell<del>o</del><ins>p</ins> world" in page
    # one polygon per box: doc ref 2 + onnx 2 + fp16 3; clean ref 1 + 1 + 1
    assert page.count("<polygon ") == 2 + 2 + 3 + 1 + 1 + 1
    assert 'class="extra"' in page and 'class="diff"' in page and 'class="same"' in page
    # heat maps linked relatively, not inlined
    assert 'href="assets/doc.tflite-fp16.detdiff.png"' in page
    assert 'src="assets/doc.tflite-fp16.detdiff.png"' in page
    assert "data:image/png" not in page
    # the failing summary cell is marked; the worst image comes first and is open, the exact one collapsed
    assert 'class="bad gate"' in page
    assert page.index('id="img-doc.jpg"') < page.index('id="img-clean.png"')
    assert re.search(r'<details class="image exact" id="img-clean\.png">', page)
    assert re.search(r'<details class="image" id="img-doc\.jpg" open>', page)
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_pass_page(assets: Path):
    page = render_html(make_report(failing=False), None, assets)
    assert '<div class="badge">PASS</div>' in page
    assert '<div class="badge">FAIL</div>' not in page
    assert '<table class="failures">' not in page
    assert "640×640" in page and "limit_side_len 960" in page and "<b>2</b> images" in page


def test_photo_embedded_as_jpeg(tmp_path: Path, assets: Path):
    cv2 = pytest.importorskip("cv2")
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "doc.jpg"), np.full((1000, 1600, 3), 200, np.uint8))  # clean.png is missing
    page = render_html(make_report(failing=False), images, assets)
    uris = re.findall(r"url\((data:image/jpeg;base64,[A-Za-z0-9+/=]+)\)", page)
    assert len(uris) == 1  # embedded once, shared by every panel of the image
    import base64
    img = cv2.imdecode(np.frombuffer(base64.b64decode(uris[0].split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert max(img.shape[:2]) == 480
    assert "photo not available" in page  # clean.png rendered without its photo


def test_missing_heatmap_is_a_plain_link(tmp_path: Path):
    page = render_html(make_report(failing=False), None, tmp_path / "none")
    assert 'href="assets/doc.onnx.detdiff.png"' in page and "<img src=\"assets/" not in page


def test_hostile_strings_are_escaped(assets: Path):
    """A file name or OCR text is data: it must reach the page as text, never as markup or
    as an attribute break-out."""
    report = make_report(failing=True)
    hostile = "<script>alert(1)</script>.png"
    report["per_image"][hostile] = report["per_image"].pop("clean.png")
    report["images"] = ["doc.jpg", hostile]
    report["skipped_images"] = [{"image": "<img src=x onerror=alert(2)>.jpg", "reason": "unreadable"}]
    report["per_image"]["doc.jpg"]["reference"]["lines"][1]["text"] = 'x" onmouseover="alert(3)'
    page = render_html(report, None, assets)
    assert "<script" not in page and "<img src=x" not in page and 'onmouseover="alert' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.png" in page
    assert "&lt;img src=x onerror=alert(2)&gt;.jpg" in page
    assert 'x&#34; onmouseover=&#34;alert(3)' in page  # inside <title> and the list alike


def test_templates_load_as_package_data():
    env = report_html.environment()
    assert isinstance(env.loader, jinja2.PackageLoader)
    assert env.autoescape("report.html") and env.autoescape("_image.html")
    assert not env.autoescape("report.css")  # included verbatim into <style>
    for name in ("report.html", "_image.html", "_macros.html", "report.css"):
        assert (Path(report_view.__file__).parent / "templates" / name).is_file()


# ---------------------------------------------------------------- the view-model

def typed(report: dict) -> ParityReport:
    return ParityReport.from_dict(report)


def test_char_diff_segments():
    assert report_view.char_diff("a<b", "a>b") == [Segment("", "a"), Segment("del", "<"), Segment("ins", ">"),
                                                   Segment("", "b")]
    assert report_view.char_diff("same", "same") == [Segment("", "same")]


def test_summary_rows_cells_and_bands():
    table = report_view.build_summary(typed(make_report(failing=True)))
    assert table.view_groups == [("same input", 4), ("pipeline (as deployed)", 4)]
    assert [c.title for c in table.columns] == ["det max\u00a0|Δp|", "det binary agreement", "rec argmax agreement",
                                                "line text agreement", "det F1", "line exact match", "CER",
                                                "image text agreement"]
    assert [(r.stage, r.passed) for r in table.rows] == [("onnx", True), ("tflite-fp16", False)]
    onnx, fp16 = ([(c.text, c.cls, c.note) for c in r.cells] for r in table.rows)
    assert onnx[0] == ("1e-05", "good", "") and onnx[6] == ("0.000", "good", "")  # |Δp| float noise, CER 0
    assert onnx[7] == ("50.0%", "bad", "")  # one image of two reads differently somewhere
    assert fp16[5] == ("50.0%", "bad gate", "✗ limit ≥ 90.0%")  # the broken tolerance
    assert fp16[6] == ("0.100", "bad", "")  # CER 0.1 > 0.05: red, though no tolerance was broken
    assert fp16[3] == ("100%", "good", "3 lines")
    assert table.legend_good.startswith("shares 100%, CER 0, det max |Δp| ≤ 0.001")
    assert "shares ≥ 95.0%" in table.legend_warn


def test_images_worst_first_with_chips_and_panels(tmp_path: Path):
    part = report_view.build_images(typed(make_report(failing=False)), None, tmp_path)
    assert [s.name for s in part.sections] == ["doc.jpg", "clean.png"]
    assert (part.n_differing, part.n_exact) == (1, 1)
    doc = part.sections[0]
    assert not doc.exact and doc.dims == "160×100 px · 2 reference lines"
    assert [(c.cls, c.text) for c in doc.chips] == [("good", "onnx ✓"),
                                                    ("bad", "tflite-fp16 1/2 as ref · same-input text differs")]
    fp16 = doc.panels[2]
    assert [p.cls for p in fp16.photo.polygons] == ["same", "diff", "extra"]
    assert [i.cls for i in fp16.lines] == ["same", "diff", "extra"]
    assert fp16.heat is not None and not fp16.heat.file_exists  # no assets in tmp_path
    assert fp16.same_input.crops == "1/2 crops same text"
    assert part.sections[1].panels[1].ok_text == "✓ all 1 line read as the reference"


def test_ground_truth_grades_against_the_reference():
    table = report_view.build_ground_truth(typed(make_labelled_report()))
    assert [r.name for r in table.rows] == ["paddle", "onnx", "tflite-fp16"] and table.rows[0].is_reference
    fp16 = table.rows[2].cells
    assert (fp16[2].text, fp16[2].cls, fp16[2].note) == ("50.0%", "bad", "2/4 lines, −1 vs ref")
    assert (fp16[3].text, fp16[3].cls) == ("0.200", "bad")
    assert (table.margin_accuracy_points, table.margin_cer) == ("5", "0.02")
    assert report_view.build_ground_truth(typed(make_report(False))) is None


# ---------------------------------------------------------------- ground truth and static-shape recipes

def _gt(recall, precision, accuracy, cer, lines=4):
    return {"gt_det_recall": recall, "gt_det_precision": precision, "gt_line_accuracy": accuracy,
            "gt_cer": cer, "gt_lines": lines}


def _vs_ref(f1, exact, cer):
    return {"det_precision": 1.0, "det_recall": f1, "det_f1": f1, "line_exact_match": exact, "cer": cer,
            "text_agreement": 0.5, "ref_lines": 3, "cand_lines": 3}


def make_labelled_report() -> dict:
    """make_report plus what --labels and the static-shape recipes add."""
    report = make_report(failing=False)
    report["labels"] = True
    report["deployed"] = {"det_static_hw": [1024, 1024], "det_resize": "letterbox", "det_upscale": False,
                          "det_pad_value": 0, "rec_static_width": 320, "rec_widths": [320, 640, 1280]}
    report["reference"]["ground_truth"] = _gt(1.0, 1.0, 0.75, 0.05)
    report["stages"]["onnx"]["ground_truth"] = _gt(1.0, 1.0, 0.75, 0.05)      # as good as the reference
    report["stages"]["tflite-fp16"]["ground_truth"] = _gt(1.0, 0.8, 0.5, 0.2)  # worse
    report["strategies"] = {
        "plain: 640x640 stretch + rec <320>": {"vs_reference": _vs_ref(0.8, 0.5, 0.3),
                                               "ground_truth": _gt(0.75, 1.0, 0.25, 0.4)},
        "deployed: 1024x1024 letterbox + rec 320/640/1280": {"vs_reference": _vs_ref(1.0, 1.0, 0.0),
                                                              "ground_truth": _gt(1.0, 1.0, 0.75, 0.05)},
    }
    gt_doc = [_line(BOX_A, "Total <b>& tax"), _line(BOX_B, "hello world!")]
    gt_cmp = {"det_precision": 1.0, "det_recall": 1.0, "det_f1": 1.0, "ref_lines": 2, "cand_lines": 2,
              "matched": 2, "exact_lines": 1, "line_exact_match": 0.5, "char_errors": 1, "ref_chars": 20, "cer": 0.05,
              "text_identical": False, "pairs": []}
    doc = report["per_image"]["doc.jpg"]
    doc["ground_truth"] = gt_doc
    doc["reference"]["ground_truth"] = gt_cmp
    doc["stages"]["onnx"]["ground_truth"] = gt_cmp
    doc["stages"]["tflite-fp16"]["ground_truth"] = {**gt_cmp, "exact_lines": 0, "line_exact_match": 0.0}
    clean = report["per_image"]["clean.png"]
    clean["ground_truth"] = [_line(BOX_A, "clean")]
    one = {**gt_cmp, "ref_lines": 1, "cand_lines": 1, "matched": 1, "exact_lines": 1, "line_exact_match": 1.0}
    clean["reference"]["ground_truth"] = one
    for s in clean["stages"].values():
        s["ground_truth"] = one
    for entry in report["per_image"].values():
        entry["strategies"] = {name: {"lines": [], "vs_reference": _pipeline([], [], [], 0, 0.0)}
                               for name in report["strategies"]}
    return report


def _table(page: str, cls: str) -> str:
    return re.search(rf'<table class="summary {cls}">.*?</table>', page, re.S).group(0)


def _row(table: str, name: str) -> str:
    return re.search(rf'<tr[^>]*><th class="l">{re.escape(name)}.*?</tr>', table, re.S).group(0)


def test_ground_truth_table(assets: Path):
    page = render_html(make_labelled_report(), None, assets)
    assert "<h2>Against the ground truth</h2>" in page
    table = _table(page, "gt")
    heads = re.findall(r"<th[^>]*>([^<]+)</th>", table.split("</tr>")[0])
    assert heads == ["pipeline", "det recall", "det precision", "line accuracy", "CER", "lines"]
    rows = re.findall(r"<tr.*?</tr>", table, re.S)[1:]
    assert len(rows) == 3  # reference + 2 stages
    assert rows[0].startswith('<tr class="refrow">') and "paddle" in rows[0] and "dynamic shapes" in rows[0]
    assert "75.0%" in rows[0] and "3/4 lines" in rows[0]
    onnx, fp16 = _row(table, "onnx"), _row(table, "tflite-fp16")
    assert '<td class="good">75.0%' in onnx  # equal to the reference: green
    assert '<td class="bad">50.0%' in fp16 and "2/4 lines, −1 vs ref" in fp16
    assert '<td class="bad">0.200</td>' in fp16 and "80.0%" in fp16  # CER worse, precision shown


def test_strategies_table(assets: Path):
    page = render_html(make_labelled_report(), None, assets)
    assert "<h2>Static-shape recipes</h2>" in page
    assert "only the input recipe differs" in page and "onnx" in page
    table = _table(page, "strategies")
    assert "vs reference" in table and "vs ground truth" in table
    rows = re.findall(r"<tr.*?</tr>", table, re.S)[2:]
    assert len(rows) == 3 and rows[0].startswith('<tr class="refrow">')  # the dynamic reference first
    assert "(is the reference)" in rows[0] and "75.0%" in rows[0]
    # strategy names are escaped; vs-reference cells graded absolutely, GT cells against the reference
    assert "rec <320>" not in page and "rec &lt;320&gt;" in rows[1]
    assert '<td class="bad">80.0%' in rows[1] and '<td class="gt-sep bad">25.0%' in rows[1]
    assert "1/4 lines, −2 vs ref" in rows[1] and '<td class="bad">0.400</td>' in rows[1]
    assert '<td class="good">100%' in rows[2] and '<td class="gt-sep good">75.0%' in rows[2]


def test_strategies_without_labels(assets: Path):
    report = make_labelled_report()
    report["labels"] = False
    del report["reference"]["ground_truth"]
    for d in list(report["stages"].values()) + list(report["strategies"].values()):
        d.pop("ground_truth", None)
    for entry in report["per_image"].values():
        entry.pop("ground_truth")
        entry["reference"].pop("ground_truth")
        for d in entry["stages"].values():
            d.pop("ground_truth")
    page = render_html(report, None, assets)
    assert "Against the ground truth" not in page and "GT " not in page
    table = _table(page, "strategies")
    assert "vs ground truth" not in table and "refrow" not in table
    assert len(re.findall(r"<tr.*?</tr>", table, re.S)) == 2 + 2


def test_deployed_recipe_in_header(assets: Path):
    page = render_html(make_labelled_report(), None, assets)
    header = re.search(r"<header.*?</header>", page, re.S).group(0)
    text = re.sub(r"<[^>]+>", "", header)
    assert "det 1024×1024 letterbox (no upscaling, pad 0), rec widths 320/640/1280" in text
    old = re.sub(r"<[^>]+>", "", re.search(r"<header.*?</header>", render_html(make_report(False), None, assets),
                                           re.S).group(0))
    assert "det 640×640 stretch, rec width 320" in old


def test_per_image_ground_truth(assets: Path):
    page = render_html(make_labelled_report(), None, assets)
    doc = re.search(r'<details class="image" id="img-doc\.jpg" open><summary>.*?</summary>', page, re.S).group(0)
    assert "2 ground-truth lines (reference reads 1 right)" in doc
    assert re.search(r"onnx ✓<span class=\"gt\"[^>]*>GT 1/2</span>", doc)
    assert re.search(r"tflite-fp16 1/2 as ref · same-input text differs<span class=\"gt\"[^>]*>GT 0/2 ↓</span>", doc)
    assert "GT 9/10" in page  # the chip key
    # still worst first; nothing leaks unescaped
    assert page.index('id="img-doc.jpg"') < page.index('id="img-clean.png"')
    assert "<b>&" not in page


def test_old_report_has_no_new_sections(assets: Path):
    page = render_html(make_report(failing=True), None, assets)
    assert "Against the ground truth" not in page and "Static-shape recipes" not in page
    assert 'class="gt"' not in page


# ---------------------------------------------------------------- report.json: schema version 2

def test_typed_report_keeps_the_json_shape():
    """to_dict is report.json: version 1's keys where they were (absent, not null, when a
    view is missing), plus schema_version first."""
    for report in (make_report(failing=True), make_labelled_report()):
        again = ParityReport.from_dict(report).to_dict()
        assert again == report
        assert list(again) == ["schema_version", *[k for k in report if k != "schema_version"]]
    plain = ParityReport.from_dict(make_report(failing=False)).to_dict()
    assert "ground_truth" not in plain["stages"]["onnx"] and "ground_truth" not in plain["reference"]
    assert plain["per_image"]["doc.jpg"]["stages"]["onnx"]["same_input"]["rec"]["argmax_agreement"] == 1.0


@pytest.mark.parametrize("version", [None, 1, 2, 4])
def test_other_schema_versions_are_refused(version):
    from ppocr_convert.parity.report_schema import StaleReportError
    report = make_report(failing=False)
    if version is None:
        del report["schema_version"]  # what the untyped harness (version 1) wrote
    else:
        report["schema_version"] = version
    expected = f"schema version {version or 1}, this ppocr-convert reads {SCHEMA_VERSION}"
    with pytest.raises(StaleReportError, match=expected):
        ParityReport.from_dict(report, source="cache/report.json")


def test_malformed_report_names_the_key():
    from ppocr_convert.errors import ParityError
    report = make_report(failing=False)
    del report["stages"]["onnx"]["pipeline"]["det_f1"]
    with pytest.raises(ParityError, match=r"report\.stages\.onnx\.pipeline\.det_f1: missing"):
        ParityReport.from_dict(report)
    report = make_report(failing=False)
    report["per_image"]["doc.jpg"]["image_hw"] = "100x160"
    with pytest.raises(ParityError, match=r"per_image\.doc\.jpg\.image_hw: expected a list"):
        ParityReport.from_dict(report)


def test_read_report_round_trip_and_errors(tmp_path: Path):
    import json

    from ppocr_convert.errors import ParityError
    from ppocr_convert.parity.report import read_report
    path = tmp_path / "report.json"
    path.write_text(json.dumps(make_labelled_report()))
    assert read_report(path).to_dict() == make_labelled_report()
    path.write_text("{not json")
    with pytest.raises(ParityError, match="cannot read parity report"):
        read_report(path)

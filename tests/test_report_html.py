"""report.html rendering from a synthetic report dict (fast: no models, no photos needed)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ppocr_convert.parity.report_html import diff_html, fmt_fraction, grade, render_html

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
                       "rec": {"max_abs": 1e-5, "argmax_agreement": 1.0},
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
        "pipeline": "PP-OCRv5_mobile",
        "models": {"det": "PP-OCRv5_mobile_det", "rec": "PP-OCRv5_mobile_rec"},
        "reference": {"stage": "paddle", "det_resize": {"limit_side_len": 960, "limit_type": "max",
                                                        "max_side_limit": 4000},
                      "rec_height": 48, "rec_min_width": 320, "drop_score": 0.5},
        "deployed": {"det_static_hw": [640, 640], "det_resize": "stretch", "rec_static_width": 320},
        "targets": ["onnx", "tflite-fp16"],
        "images": ["doc.jpg", "clean.png"],
        "skipped_images": [],
        "stages": {"onnx": {**_summary(1.0, 0.0), "verdict": "pass"},
                   "tflite-fp16": {**_summary(0.5, 0.1), "verdict": "fail" if failing else "pass"}},
        "failures": failures,
        "per_image": {
            "clean.png": {"image_hw": [40, 120], "reference": {"lines": ref_clean},
                          "stages": {s: _stage(ref_clean, ref_clean, pairs_clean, 1, 0.0,
                                               f"assets/clean.{s}.detdiff.png")
                                     for s in ("onnx", "tflite-fp16")}},
            "doc.jpg": {"image_hw": [100, 160], "reference": {"lines": ref_doc},
                        "stages": {"onnx": _stage(ref_doc, ref_doc, pairs_same_doc, 2, 0.0,
                                                  "assets/doc.onnx.detdiff.png"),
                                   "tflite-fp16": _stage(ref_doc, bad_doc, pairs_bad, 1, 0.1,
                                                         "assets/doc.tflite-fp16.detdiff.png",
                                                         same_texts=[("hello world", "hellp world")])}},
        },
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


def test_helpers():
    assert diff_html("a<b", "a>b") == "a<del>&lt;</del><ins>&gt;</ins>b"
    assert fmt_fraction(1.0) == "100%" and fmt_fraction(0.9999998) == "99.99998%"
    assert grade("line_exact_match", 1.0) == "good" and grade("line_exact_match", 0.96) == "warn"
    assert grade("cer", 0.5) == "bad" and grade("det_max_abs", 1e-5) == "good"


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
              "matched": 2, "exact_lines": 1, "line_exact_match": 0.5, "cer": 0.05, "pairs": []}
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
        entry["strategies"] = {name: {"lines": [], "vs_reference": {}} for name in report["strategies"]}
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

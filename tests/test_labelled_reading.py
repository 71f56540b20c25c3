"""parity.labelled_reading deals pages to one OCR pipeline per core on threads (the int8
det gate and bench.int8 read pages with it): each page's reading must come back in the
pages' order and equal what one pipeline reads, on real PP-OCRv5 files and rendered pages."""
from __future__ import annotations

import pytest

from conftest import render_labelled_pages

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    from ppocr_convert.parity.labels import load_labels
    labels_path = render_labelled_pages(tmp_path_factory.mktemp("labelled") / "set", 5)
    labels = load_labels(labels_path)
    return labels, [(name, labels_path.parent / name) for name in sorted(labels)]


def test_pages_dealt_to_two_pipelines_read_as_one_pipeline_reads_them(converted, pages):
    from ppocr_convert import model_params
    from ppocr_convert.config import load_model_config
    from ppocr_convert.parity.labelled_reading import PipelineFiles, read_pages, scores
    det, rec = converted("PP-OCRv5_mobile_det"), converted("PP-OCRv5_mobile_rec")
    rec_dir, rec_manifest = rec["dirs"]["tflite-fp32"], rec["manifests"]["tflite-fp32"]
    det_cfg, rec_cfg = load_model_config("PP-OCRv5_mobile_det"), load_model_config("PP-OCRv5_mobile_rec")
    det_params = model_params.det_params(det_cfg, static_hw=tuple(det_cfg.shape[2:]))
    files = PipelineFiles(det["paths"]["tflite-fp32"], [rec_dir / b["file"] for b in rec_manifest["buckets"]],
                          model_params.charset(rec_cfg), det_params, model_params.rec_params(rec_cfg), drop_score=0.5)
    labels, named = pages
    one = read_pages(files, labels, named, workers=1)
    two = read_pages(files, labels, named, workers=2)
    assert two == one
    # the pages read differently, so a reading returned for the wrong page could not pass
    assert len({repr(sorted(p.items())) for p in one}) == len(one)
    assert scores(one)["lines"] == sum(len(v) for v in labels.values()) > 0
    assert scores(one)["line_accuracy"] > 0.5

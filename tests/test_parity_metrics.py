"""OCR comparison metrics on hand-made lines (fast)."""
import numpy as np
import pytest

from ppocr_convert.parity.metrics import (aggregate_lines, box_iou, compare_lines, edit_distance, match_boxes,
                                          tensor_stats)


def box(x, y, w=100, h=20):
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("正品促销", "正品促销") == 0


def test_iou_and_matching():
    assert box_iou(box(0, 0), box(0, 0)) == pytest.approx(1.0)
    assert box_iou(box(0, 0), box(50, 0)) == pytest.approx(1 / 3)
    # greedy one-to-one: the better overlap wins, a candidate is used once
    assert match_boxes([box(0, 0), box(0, 100)], [box(5, 0), box(0, 0)]) == [(0, 1, pytest.approx(1.0))]


def test_compare_lines_counts_text_and_boxes():
    ref = [{"box": box(0, 0), "text": "Hello world"}, {"box": box(0, 50), "text": "abc"}]
    cand = [{"box": box(2, 1), "text": "Helloworld"}, {"box": box(0, 50), "text": "abd"},
            {"box": box(0, 200), "text": "xx"}]
    r = compare_lines(ref, cand)
    assert r["matched"] == 2 and r["exact_lines"] == 1  # spaces are ignored
    assert r["det_recall"] == 1.0 and r["det_precision"] == pytest.approx(2 / 3)
    assert r["char_errors"] == 1 + 2  # one substitution + the extra line inserted
    assert r["cer"] == pytest.approx(3 / 13)
    agg = aggregate_lines([r, compare_lines(ref, ref)])
    assert agg["line_exact_match"] == pytest.approx(3 / 4)
    assert agg["text_agreement"] == 0.5


def test_no_lines_anywhere_is_perfect_agreement():
    r = compare_lines([], [])
    assert r["det_f1"] == 1.0 and r["line_exact_match"] == 1.0 and r["cer"] == 0.0


def test_tensor_stats():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    s = tensor_stats(a, a + np.array([0, 0, 0.5], np.float32))
    assert s["max_abs"] == pytest.approx(0.5) and s["median_abs"] == 0 and 0.99 < s["cosine"] < 1

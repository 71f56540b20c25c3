"""bench.int8's page attribution: which pages make the int8 gap, and the set without them."""
from __future__ import annotations

import json

import pytest

from bench.int8 import page_gap, render_page_gap

pytestmark = pytest.mark.unit


def _score(pages: dict[str, tuple[int, int, int, int]]) -> dict:
    """pages: name -> (exact_lines, ref_lines, char_errors, ref_chars); every line found"""
    keys = ("exact_lines", "ref_lines", "char_errors", "ref_chars")
    return {"pages": {n: {**dict(zip(keys, v)), "cand_lines": v[1], "matched": v[1], "text_identical": v[2] == 0}
                      for n, v in pages.items()}}


FP32 = _score({"a.jpg": (10, 12, 3, 900), "b.jpg": (8, 10, 10, 500), "c.jpg": (5, 5, 0, 100)})


def test_one_page_that_makes_the_gap_is_named_and_the_rest_is_scored_without_it():
    int8 = _score({"a.jpg": (8, 12, 403, 900), "b.jpg": (8, 10, 12, 500), "c.jpg": (5, 5, 0, 100)})
    gap = page_gap(FP32, int8, top=1)
    assert [r["page"] for r in gap["pages"]] == ["a.jpg"]
    assert gap["pages"][0]["char_errors"] == [3, 403] and gap["pages"][0]["exact_lines"] == [10, 8]
    assert gap["char_error_rise"] == 402
    rest = gap["without_them"]
    assert rest["pages"] == 2
    assert rest["base"]["cer"] == pytest.approx(10 / 600) and rest["cand"]["cer"] == pytest.approx(12 / 600)
    assert rest["base"]["line_accuracy"] == rest["cand"]["line_accuracy"] == pytest.approx(13 / 15)
    table = render_page_gap(json.loads(json.dumps(gap)), "int8 det")
    assert table[2] == "| a.jpg | 3 → 403 | 100 % | 10 → 8 of 12 |"   # 400 of the 402 added errors, rounded
    assert table[-1].startswith("| the other 2 pages | CER 1.67 → 2.00 % |")


def test_pages_where_int8_reads_better_or_the_same_are_not_blamed():
    int8 = _score({"a.jpg": (11, 12, 1, 900), "b.jpg": (8, 10, 10, 500), "c.jpg": (4, 5, 1, 100)})
    gap = page_gap(FP32, int8)
    assert [r["page"] for r in gap["pages"]] == ["c.jpg"]     # a improved, b unchanged
    assert gap["char_error_rise"] == -1 and gap["char_errors_added"] == 1
    assert render_page_gap(gap, "int8 det")[2] == "| c.jpg | 0 → 1 | 100 % | 5 → 4 of 5 |"


def test_a_page_share_is_of_the_added_errors_not_of_the_net_rise():
    """Counter-case for a share of the net rise: a page adds 300 errors while another reads 10
    better; the net rise is 290, and a share of it would read 103 %."""
    int8 = _score({"a.jpg": (8, 12, 303, 900), "b.jpg": (9, 10, 0, 500), "c.jpg": (5, 5, 0, 100)})
    gap = page_gap(FP32, int8)
    assert gap["char_error_rise"] == 290 and gap["char_errors_added"] == 300
    assert render_page_gap(gap, "int8 det")[2] == "| a.jpg | 3 → 303 | 100 % | 10 → 8 of 12 |"


def test_no_share_where_no_page_adds_errors():
    gap = page_gap(FP32, FP32)
    assert gap["pages"] == [] and gap["char_errors_added"] == 0
    assert render_page_gap(gap, "int8 det")[2].startswith("| the other 3 pages |")

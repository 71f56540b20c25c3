"""The family and recipe-sweep tables, rendered from results as stored in their JSON files."""
from __future__ import annotations

import json

import pytest

from bench import families, recipe_sweep

pytestmark = pytest.mark.unit

GT = {"gt_line_accuracy": 0.848, "gt_cer": 0.022, "gt_det_recall": 0.998}
REF = {"gt_line_accuracy": 0.842, "gt_cer": 0.053, "gt_det_recall": 0.998}


def test_family_table_from_stored_json():
    res = {"families": ["PP-OCRv5_mobile", "PP-OCRv6_tiny"], "threads": [1, 2],
           "latency": {name: {task: {1: {"median_ms": 200.04}, 2: {"median_ms": 100.0}} for task in ("det", "rec")}
                       for name in ("PP-OCRv5_mobile", "PP-OCRv6_tiny")},
           "size": {name: {"det_bytes": 2_400_000, "rec_bytes": 25_000_000, "rec_buckets": 3}
                    for name in ("PP-OCRv5_mobile", "PP-OCRv6_tiny")},
           "ground_truth": {"PP-OCRv5_mobile": {"tflite-fp16": GT, "reference": REF}}}
    stored = json.loads(json.dumps(res))  # thread keys become strings in the file
    assert families.render(stored) == families.render(res)
    lines = families.render(stored).splitlines()
    assert lines[0].startswith("| family | GT line acc. fp16 (ref) |") and "det ms 2t" in lines[0]
    assert lines[2] == ("| PP-OCRv5_mobile | 84.8 % (84.2 %) | 2.2 % (5.3 %) | 99.8 % | 200.0 | 100.0 | 200.0 | "
                        "100.0 | 2.4 | 25.0 (3) |")
    assert lines[3].startswith("| PP-OCRv6_tiny | — | — | — | 200.0 |")  # scored without an evalset


def test_recipe_sweep_table():
    table = recipe_sweep.render({"dynamic reference": REF, "1024x1024 letterbox": GT})
    assert table.splitlines() == [
        "| det (tflite-fp16, rec buckets as configured) | line accuracy | CER | det recall |",
        "|---|---|---|---|",
        "| dynamic reference | 84.2 % | 5.3 % | 99.8 % |",
        "| 1024x1024 letterbox | 84.8 % | 2.2 % | 99.8 % |",
    ]

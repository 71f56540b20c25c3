"""The labelled evaluation set is deterministic and its labels are usable (fast)."""
from __future__ import annotations

import hashlib
import json

import cv2
import pytest

from ppocr_convert.config import load_model_config
from ppocr_convert.model_params import charset
from ppocr_convert.parity.labels import load_labels


@pytest.fixture(scope="module")
def generate():
    from ppocr_convert.evalset.fonts import find_fonts
    from ppocr_convert.evalset.generate import generate
    try:
        find_fonts()
    except Exception as e:
        pytest.skip(str(e))
    return generate


def digest(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


@pytest.mark.models
def test_same_seed_same_bytes(generate, tmp_path):
    a = generate(tmp_path / "a", n_images=3, seed=7, scale=0.4).parent
    b = generate(tmp_path / "b", n_images=3, seed=7, scale=0.4).parent
    c = generate(tmp_path / "c", n_images=3, seed=8, scale=0.4).parent
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


@pytest.mark.models
def test_labels_are_readable_inside_the_image_and_in_the_dictionary(generate, tmp_path):
    labels_path = generate(tmp_path / "set", n_images=4, seed=0, scale=0.4)
    labels = load_labels(labels_path)  # the format `parity --labels` takes
    assert len(labels) == 4 and sum(len(v) for v in labels.values()) >= 20
    known = set(charset(load_model_config("PP-OCRv5_mobile_rec")))
    for name, lines in labels.items():
        img = cv2.imread(str(labels_path.parent / name))
        h, w = img.shape[:2]
        for line in lines:
            assert line["text"].strip()
            assert set(line["text"]) <= known, line["text"]
            for x, y in line["box"]:
                assert -1 <= x <= w + 1 and -1 <= y <= h + 1
    json.loads(labels_path.read_text(encoding="utf-8"))

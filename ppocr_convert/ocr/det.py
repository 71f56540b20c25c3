"""Text detection pre/post-processing, mirroring PaddleOCR inference exactly:

  * preprocess = DetResizeForTest (ppocr/data/imaug/operators.py, with PaddleOCR 3.x's
    max_side_limit) + NormalizeImage(hwc) + ToCHWImage;
  * postprocess = DBPostProcess (ppocr/postprocess/db_postprocess.py, box_type 'quad')
    followed by TextDetector.filter_tag_det_res (tools/infer/predict_det.py).

Faithfulness matters more than elegance here: the parity harness compares stages through
this code, so any deviation from PaddleOCR would show up as a fake conversion error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pyclipper
from shapely.geometry import Polygon

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DetParams:
    # tools/infer/utility.py defaults (det_limit_side_len=960, det_limit_type='max').
    # PaddleOCR 3.x's OCR pipeline uses limit_side_len=64, limit_type='min' (see PADDLEOCR3_DET).
    limit_side_len: int = 960
    limit_type: str = "max"  # 'max' | 'min' | 'resize_long'
    max_side_limit: int = 4000
    # NormalizeImage is applied to the BGR image with these RGB-ordered stats: PaddleOCR does
    # exactly that (no channel swap), and the models are trained that way.
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale: float = 1.0 / 255.0
    # DBPostProcess
    thresh: float = 0.3
    box_thresh: float = 0.6
    unclip_ratio: float = 1.5
    max_candidates: int = 1000
    score_mode: str = "fast"  # 'fast' | 'slow'
    use_dilation: bool = False
    # Plain static recipe: stretch the whole image to exactly (H, W), ignoring aspect ratio
    # (DetResizeForTest's image_shape mode, which predict_det.py switches to when an ONNX
    # model has a fixed H x W). Used for static-shape exports.
    static_hw: tuple[int, int] | None = None
    # How an image meets a static canvas: "stretch" (the plain recipe: distort to H x W) or
    # "letterbox" (keep the aspect ratio, scale to fit, pad right/bottom with `pad_value`
    # pixels; boxes map back by one scale). `upscale` lets small images grow to fill it.
    resize_mode: str = "stretch"
    pad_value: int = 0  # black, like the zero padding of PaddleOCR's det training crops
    upscale: bool = False


PADDLEOCR3_DET = DetParams(limit_side_len=64, limit_type="min", max_side_limit=4000)

ShapeInfo = tuple[int, int, float, float]  # (src_h, src_w, ratio_h, ratio_w) as PaddleOCR's shape_list

_MIN_SIZE = 3  # DBPostProcess.min_size


# ----------------------------------------------------------------------------- preprocess

def resize_for_det(img: np.ndarray, params: DetParams) -> tuple[np.ndarray, ShapeInfo]:
    """DetResizeForTest: returns the resized HWC image and (src_h, src_w, ratio_h, ratio_w)."""
    src_h, src_w = img.shape[:2]
    if src_h + src_w < 64:
        # PaddleOCR pads tiny images to >= 32 px (bottom/right, black) but still reports the
        # original src_h/src_w, so boxes get mapped with the padded map's scale. Kept as is.
        padded = np.zeros((max(32, src_h), max(32, src_w), img.shape[2]), np.uint8)
        padded[:src_h, :src_w] = img
        img = padded
    h, w = img.shape[:2]

    if params.static_hw is not None and params.resize_mode == "letterbox":
        return letterbox(img, params, src_h, src_w)
    if params.static_hw is not None:
        resize_h, resize_w = (int(v) for v in params.static_hw)
    else:
        resize_h, resize_w = _dynamic_det_size(h, w, params)
    if (resize_h, resize_w) != (h, w):
        img = cv2.resize(img, (resize_w, resize_h))
    return img, (src_h, src_w, resize_h / float(h), resize_w / float(w))


def letterbox(img: np.ndarray, params: DetParams, src_h: int, src_w: int) -> tuple[np.ndarray, ShapeInfo]:
    """Fit the image into the static canvas keeping its aspect ratio, top-left aligned, so a
    box maps back with one scale. The ratios describe the content, not the canvas."""
    canvas_h, canvas_w = (int(v) for v in params.static_hw)
    h, w = img.shape[:2]
    scale = min(canvas_h / h, canvas_w / w)
    if not params.upscale:
        scale = min(scale, 1.0)
    new_h, new_w = max(1, min(canvas_h, round(h * scale))), max(1, min(canvas_w, round(w * scale)))
    canvas = np.full((canvas_h, canvas_w, img.shape[2]), params.pad_value, np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(img, (new_w, new_h)) if (new_h, new_w) != (h, w) else img
    return canvas, (src_h, src_w, new_h / float(h), new_w / float(w))


def content_hw(shape_info: ShapeInfo, params: DetParams) -> tuple[int, int] | None:
    """The part of a letterboxed det input that holds the image (None: all of it)."""
    if params.static_hw is None or params.resize_mode != "letterbox":
        return None
    src_h, src_w, ratio_h, ratio_w = shape_info
    return max(1, round(src_h * ratio_h)), max(1, round(src_w * ratio_w))


def _dynamic_det_size(h: int, w: int, params: DetParams) -> tuple[int, int]:
    side = params.limit_side_len
    if params.limit_type == "max":
        ratio = float(side) / max(h, w) if max(h, w) > side else 1.0
    elif params.limit_type == "min":
        ratio = float(side) / min(h, w) if min(h, w) < side else 1.0
    elif params.limit_type == "resize_long":
        ratio = float(side) / max(h, w)
    else:
        raise ValueError(f"unsupported limit_type {params.limit_type!r}")
    resize_h, resize_w = int(h * ratio), int(w * ratio)
    if params.max_side_limit and max(resize_h, resize_w) > params.max_side_limit:
        ratio = float(params.max_side_limit) / max(resize_h, resize_w)
        resize_h, resize_w = int(resize_h * ratio), int(resize_w * ratio)
    # The backbone downsamples by 32: round (not floor) to a multiple of 32, at least 32.
    resize_h = max(int(round(resize_h / 32) * 32), 32)
    resize_w = max(int(round(resize_w / 32) * 32), 32)
    return resize_h, resize_w


def normalize(img: np.ndarray, mean, std, scale: float) -> np.ndarray:
    """NormalizeImage(order='hwc') + ToCHWImage: HWC uint8 -> CHW float32."""
    mean = np.array(mean, dtype=np.float32).reshape(1, 1, 3)
    std = np.array(std, dtype=np.float32).reshape(1, 1, 3)
    out = (img.astype(np.float32) * np.float32(scale) - mean) / std
    return out.transpose(2, 0, 1)


def preprocess(img_bgr: np.ndarray, params: DetParams) -> tuple[np.ndarray, ShapeInfo]:
    """BGR uint8 HxWx3 -> (x [1,3,H',W'] float32, shape_info)."""
    resized, shape_info = resize_for_det(img_bgr, params)
    x = normalize(resized, params.mean, params.std, params.scale)[None]
    return np.ascontiguousarray(x, dtype=np.float32), shape_info


# ---------------------------------------------------------------------------- postprocess

def postprocess(prob_map: np.ndarray, shape_info: ShapeInfo, params: DetParams) -> tuple[np.ndarray, list[float]]:
    """DB prob map [1,1,H,W] -> (boxes [K,4,2] float32 in original-image pixels, scores).

    Boxes are clockwise from top-left (tl, tr, br, bl), integer-valued like PaddleOCR's.
    """
    pred = np.asarray(prob_map, dtype=np.float32)
    while pred.ndim > 2:  # [1,1,H,W] / [1,H,W] -> [H,W]
        pred = pred[0]
    src_h, src_w = int(shape_info[0]), int(shape_info[1])
    content = content_hw(shape_info, params)
    if content is not None:  # letterbox: the padding holds no text; map the content only
        pred = pred[: content[0], : content[1]]

    mask = pred > params.thresh
    if params.use_dilation:
        mask = cv2.dilate(mask.astype(np.uint8), np.array([[1, 1], [1, 1]], np.uint8))
    boxes, scores = _boxes_from_bitmap(pred, mask, src_w, src_h, params)
    return _filter_det_res(boxes, scores, src_h, src_w)


def _boxes_from_bitmap(pred, bitmap, dest_width, dest_height, params: DetParams):
    height, width = bitmap.shape
    contours, _ = cv2.findContours((bitmap * 255).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes, scores = [], []
    for contour in contours[: params.max_candidates]:
        points, sside = _get_mini_boxes(contour)
        if sside < _MIN_SIZE:
            continue
        points = np.array(points)
        if params.score_mode == "fast":
            score = _box_score_fast(pred, points.reshape(-1, 2))
        else:
            score = _box_score_slow(pred, contour)
        if params.box_thresh > score:
            continue
        expanded = _unclip(points, params.unclip_ratio)
        if expanded.size == 0:  # offset collapsed (degenerate polygon)
            continue
        box, sside = _get_mini_boxes(expanded.reshape(-1, 1, 2))
        if sside < _MIN_SIZE + 2:
            continue
        box = np.array(box)
        box[:, 0] = np.clip(np.round(box[:, 0] / width * dest_width), 0, dest_width)
        box[:, 1] = np.clip(np.round(box[:, 1] / height * dest_height), 0, dest_height)
        boxes.append(box.astype(np.int32))
        scores.append(float(score))
    return boxes, scores


def _unclip(box: np.ndarray, unclip_ratio: float) -> np.ndarray:
    # Offset distance D = A * r / L (DB paper); shapely for area/length as PaddleOCR does.
    poly = Polygon(box)
    distance = poly.area * unclip_ratio / poly.length
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    expanded = offset.Execute(distance)
    # Offsetting a convex quad outward yields exactly one path. PaddleOCR reshapes whatever
    # comes back into one point list, so do the same (empty when the offset collapsed).
    points = [pt for path in expanded for pt in path]
    return np.array(points, dtype=np.int32).reshape(-1, 2)  # pyclipper works in integers


def _get_mini_boxes(contour):
    bounding_box = cv2.minAreaRect(contour)
    points = sorted(list(cv2.boxPoints(bounding_box)), key=lambda x: x[0])
    if points[1][1] > points[0][1]:
        index_1, index_4 = 0, 1
    else:
        index_1, index_4 = 1, 0
    if points[3][1] > points[2][1]:
        index_2, index_3 = 2, 3
    else:
        index_2, index_3 = 3, 2
    box = [points[index_1], points[index_2], points[index_3], points[index_4]]
    return box, min(bounding_box[1])


def _box_score_fast(bitmap: np.ndarray, _box: np.ndarray) -> float:
    """Mean probability inside the box polygon, evaluated on its bounding rectangle."""
    h, w = bitmap.shape[:2]
    box = _box.copy()
    xmin = max(0, min(math.floor(box[:, 0].min()), w - 1))
    xmax = max(0, min(math.ceil(box[:, 0].max()), w - 1))
    ymin = max(0, min(math.floor(box[:, 1].min()), h - 1))
    ymax = max(0, min(math.ceil(box[:, 1].max()), h - 1))
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    box[:, 0] = box[:, 0] - xmin
    box[:, 1] = box[:, 1] - ymin
    cv2.fillPoly(mask, box.reshape(1, -1, 2).astype(np.int32), 1)
    return cv2.mean(bitmap[ymin : ymax + 1, xmin : xmax + 1], mask)[0]


def _box_score_slow(bitmap: np.ndarray, contour: np.ndarray) -> float:
    h, w = bitmap.shape[:2]
    contour = np.reshape(contour.copy(), (-1, 2))
    xmin = np.clip(np.min(contour[:, 0]), 0, w - 1)
    xmax = np.clip(np.max(contour[:, 0]), 0, w - 1)
    ymin = np.clip(np.min(contour[:, 1]), 0, h - 1)
    ymax = np.clip(np.max(contour[:, 1]), 0, h - 1)
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    contour[:, 0] = contour[:, 0] - xmin
    contour[:, 1] = contour[:, 1] - ymin
    cv2.fillPoly(mask, contour.reshape(1, -1, 2).astype(np.int32), 1)
    return cv2.mean(bitmap[ymin : ymax + 1, xmin : xmax + 1], mask)[0]


# ------------------------------------------------------------- TextDetector.filter_tag_det_res

def order_points_clockwise(pts: np.ndarray) -> np.ndarray:
    """tl, tr, br, bl by coordinate sum/difference (PaddleOCR's current implementation)."""
    rect = np.zeros((4, 2), dtype=np.float32)
    s = pts.sum(axis=1)
    rect[0] = pts[np.argmin(s)]
    rect[2] = pts[np.argmax(s)]
    tmp = np.delete(pts, (np.argmin(s), np.argmax(s)), axis=0)
    diff = np.diff(np.array(tmp), axis=1)
    rect[1] = tmp[np.argmin(diff)]
    rect[3] = tmp[np.argmax(diff)]
    return rect


def _filter_det_res(boxes, scores, img_height, img_width):
    kept_boxes, kept_scores = [], []
    for box, score in zip(boxes, scores):
        box = order_points_clockwise(np.asarray(box))
        # clip_det_res: to the last valid pixel, truncated to int
        box[:, 0] = np.array([int(min(max(x, 0), img_width - 1)) for x in box[:, 0]])
        box[:, 1] = np.array([int(min(max(y, 0), img_height - 1)) for y in box[:, 1]])
        rect_width = int(np.linalg.norm(box[0] - box[1]))
        rect_height = int(np.linalg.norm(box[0] - box[3]))
        if rect_width <= 3 or rect_height <= 3:
            continue
        kept_boxes.append(box)
        kept_scores.append(score)
    out = np.array(kept_boxes, dtype=np.float32).reshape(-1, 4, 2)
    return out, kept_scores

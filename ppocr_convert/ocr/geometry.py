"""Box ordering and cropping as tools/infer/predict_system.py + tools/infer/utility.py do."""
from __future__ import annotations

import cv2
import numpy as np

LINE_TOLERANCE_PX = 10  # boxes whose top-left y differ by less than this are on one line


def sort_order(boxes: np.ndarray) -> list[int]:
    """Indices that put boxes in reading order (PaddleOCR's sorted_boxes).

    Sort by top-left (y, x), then one bubble pass per box that swaps neighbours lying on the
    same line (|dy| < 10 px) when the later one is further left. Returned as indices so that
    scores and other per-box data can follow the boxes.
    """
    boxes = np.asarray(boxes)
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][0][1], boxes[i][0][0]))
    for i in range(len(order) - 1):
        # range(i, -1, -1): current PaddleOCR; releases < 2.6 stopped at j=1 (a known bug).
        for j in range(i, -1, -1):
            a, b = boxes[order[j]], boxes[order[j + 1]]
            if abs(b[0][1] - a[0][1]) < LINE_TOLERANCE_PX and b[0][0] < a[0][0]:
                order[j], order[j + 1] = order[j + 1], order[j]
            else:
                break
    return order


def sort_boxes(boxes: np.ndarray) -> np.ndarray:
    """Boxes [K,4,2] in reading order: top-to-bottom, left-to-right within a line."""
    boxes = np.asarray(boxes)
    return boxes[sort_order(boxes)] if len(boxes) else boxes


def crop_size(box) -> tuple[int, int]:
    """(width, height) of the upright crop `crop_rotated` cuts for the quad (tl, tr, br, bl)."""
    points = np.asarray(box, dtype=np.float32).reshape(4, 2)
    return (int(max(np.linalg.norm(points[0] - points[1]), np.linalg.norm(points[2] - points[3]))),
            int(max(np.linalg.norm(points[0] - points[3]), np.linalg.norm(points[1] - points[2]))))


def crop_rotated(img: np.ndarray, box: np.ndarray) -> np.ndarray:
    """get_rotate_crop_image: perspective-warp the quad (tl, tr, br, bl) to an upright
    rectangle; crops at least 1.5x taller than wide are rotated 90° (counter-clockwise)
    so vertical text reads left-to-right for the recogniser."""
    points = np.asarray(box, dtype=np.float32).reshape(4, 2)
    crop_w, crop_h = crop_size(points)
    if crop_w < 1 or crop_h < 1:
        raise ValueError(f"degenerate box {points.tolist()} gives a {crop_w}x{crop_h} crop")
    pts_std = np.float32([[0, 0], [crop_w, 0], [crop_w, crop_h], [0, crop_h]])
    matrix = cv2.getPerspectiveTransform(points, pts_std)
    crop = cv2.warpPerspective(
        img, matrix, (crop_w, crop_h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if crop.shape[0] * 1.0 / crop.shape[1] >= 1.5:
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop)

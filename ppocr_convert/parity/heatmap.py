"""Heat maps of the det probability-map difference on the same input.

Rendered to a small colour thumbnail as soon as a stage's map is compared, so a run
keeps ~0.3 MB per (image, stage) instead of the full float map (4 MB at 1024²) until
the report is written.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HEATMAP_SCALE = 0.1  # |Δ prob| shown at full colour (report.html's colour scale says so)
THUMBNAIL_MAX_SIDE = 320  # thumbnails keep the report light


def heatmap_thumbnail(diff: np.ndarray, scale: float = HEATMAP_SCALE) -> np.ndarray:
    """|Δ prob| (H×W float) as an INFERNO colour map, BGR uint8, at most 320 px a side."""
    import cv2
    norm = np.clip(diff / scale, 0, 1)
    img = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    h, w = img.shape[:2]
    if max(h, w) > THUMBNAIL_MAX_SIDE:
        f = THUMBNAIL_MAX_SIDE / max(h, w)
        img = cv2.resize(img, (int(w * f), int(h * f)), interpolation=cv2.INTER_AREA)
    return img


def write_png(thumbnail: np.ndarray, path: Path) -> None:
    import cv2
    cv2.imwrite(str(path), thumbnail)

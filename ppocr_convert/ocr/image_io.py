"""Image loading the way PaddleOCR reads files: OpenCV IMREAD_COLOR decoding.

What that means, deliberately kept:
  * grayscale / palette / 1-bit -> 3-channel BGR;
  * RGBA -> BGR by dropping alpha (no compositing: PaddleOCR's cv2.imread/imdecode path
    never sees the alpha channel; its alpha_to_color only applies to arrays passed in);
  * 16-bit -> 8-bit (OpenCV scales by 1/256);
  * EXIF orientation IS applied: OpenCV's IMREAD_COLOR honours it, so PaddleOCR does too.
Formats OpenCV cannot decode (e.g. GIF) fall back to Pillow's first frame, as
paddleocr.py's check_img falls back to PIL.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class ImageLoadError(ValueError):
    pass


def load_image(path: Path | str) -> np.ndarray:
    """Read an image file as BGR uint8 HxWx3. Raises ImageLoadError (a ValueError)."""
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"{path}: no such image file")
    data = np.fromfile(str(path), dtype=np.uint8)  # fromfile + imdecode: non-ASCII paths work
    if data.size == 0:
        raise ImageLoadError(f"{path}: file is empty")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        img = _decode_with_pillow(path)
    if img is None or img.size == 0:
        raise ImageLoadError(f"{path}: not a readable image (OpenCV and Pillow both failed)")
    return np.ascontiguousarray(img)


def _decode_with_pillow(path: Path) -> np.ndarray | None:
    try:
        from PIL import Image

        with Image.open(path) as im:
            im.seek(0)
            rgb = np.asarray(im.convert("RGB"))
    except Exception:
        return None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

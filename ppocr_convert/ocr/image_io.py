"""Image loading the way PaddleOCR reads files: OpenCV IMREAD_COLOR decoding.

What that means, deliberately kept:
  * grayscale / palette / 1-bit -> 3-channel BGR;
  * RGBA -> BGR by dropping alpha (no compositing: PaddleOCR's cv2.imread/imdecode path
    never sees the alpha channel; its alpha_to_color only applies to arrays passed in);
  * 16-bit -> 8-bit (OpenCV scales by 1/256);
  * EXIF orientation IS applied: OpenCV's IMREAD_COLOR honours it, so PaddleOCR does too.
Formats OpenCV cannot decode (e.g. GIF) fall back to Pillow's first frame, as
paddleocr.py's check_img falls back to PIL.

Refused, with the reason in the message: missing or empty files, files neither decoder
reads (text, truncated data), and images over MAX_PIXELS, checked from the header
before anything is decoded (a 20000x20000 PNG of a few kB would otherwise take 1.2 GB).
Everything else decodes, however small: 1x1 is padded by the det resize like PaddleOCR.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


# 100 MP: a 108 MP phone photo is refused, 8000x8000 (64 MP, ~190 MB as BGR) is read.
# Text detection resizes to limit_side_len (960) anyway; more pixels only cost memory.
MAX_PIXELS = 100_000_000


class ImageLoadError(ValueError):
    pass


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def list_images(images_dir: Path) -> list[Path]:
    """The image files of a directory (by suffix), sorted by name."""
    return sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_image(path: Path | str) -> np.ndarray:
    """Read an image file as BGR uint8 HxWx3. Raises ImageLoadError (a ValueError)."""
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"{path}: no such image file")
    data = np.fromfile(str(path), dtype=np.uint8)  # fromfile + imdecode: non-ASCII paths work
    if data.size == 0:
        raise ImageLoadError(f"{path}: file is empty")
    _check_size(path)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        img = _decode_with_pillow(path)
    if img is None or img.size == 0:
        raise ImageLoadError(f"{path}: not a readable image (OpenCV and Pillow both failed)")
    return np.ascontiguousarray(img)


def _check_size(path: Path) -> None:
    """Refuse images over MAX_PIXELS from the header alone (Pillow opens lazily)."""
    import warnings

    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
    except Image.DecompressionBombError as e:  # Pillow's own limit (~179 MP) is above ours
        import re
        m = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(m[1]) / 1e6:.0f} MP" if m else "over 179 MP"
    except Exception:
        return  # not a format Pillow knows: OpenCV decides (and has its own 1 GP limit)
    else:
        if w * h <= MAX_PIXELS:
            return
        size = f"{w}x{h} = {w * h / 1e6:.0f} MP"
    raise ImageLoadError(f"{path}: image too large ({size}, limit {MAX_PIXELS / 1e6:.0f} MP); downscale it first")


def _decode_with_pillow(path: Path) -> np.ndarray | None:
    try:
        from PIL import Image, ImageOps

        with Image.open(path) as im:
            im.seek(0)
            try:
                upright = ImageOps.exif_transpose(im)
            except Exception:  # a broken EXIF block: keep the stored orientation
                upright = im
            rgb = np.asarray(upright.convert("RGB"))
    except Exception:
        return None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)

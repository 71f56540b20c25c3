"""Reference PaddleOCR inference pipeline (pre/post-processing) over any Runner."""
from .cls import ClsParams
from .det import PADDLEOCR3_DET, DetParams
from .geometry import crop_rotated, sort_boxes
from .image_io import ImageLoadError, load_image
from .pipeline import OCRLine, OCRPipeline, OCRResult
from .rec import RecParams, ctc_greedy_decode, load_dictionary

__all__ = [
    "ClsParams",
    "DetParams",
    "PADDLEOCR3_DET",
    "ImageLoadError",
    "OCRLine",
    "OCRPipeline",
    "OCRResult",
    "RecParams",
    "crop_rotated",
    "ctc_greedy_decode",
    "load_dictionary",
    "load_image",
    "sort_boxes",
]

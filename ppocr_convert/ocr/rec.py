"""Text recognition pre/post-processing, mirroring PaddleOCR inference:

  * preprocess = TextRecognizer.resize_norm_img (tools/infer/predict_rec.py, CTC/SVTR path);
  * decode = CTCLabelDecode (ppocr/postprocess/rec_postprocess.py), greedy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BLANK = "blank"  # PaddleOCR's placeholder name for the CTC blank at index 0


@dataclass(frozen=True)
class RecParams:
    height: int = 48
    width: int = 320  # rec_image_shape W: the minimum batch width for dynamic models
    mean: float = 0.5
    std: float = 0.5
    # Fixed input width of a static-shape model (predict_rec.py uses the ONNX input's fixed W
    # the same way). Crops keep their aspect ratio up to this width (longer lines get
    # squashed into it) and are zero-padded on the right.
    static_width: int | None = None
    batch_size: int = 6  # rec_batch_num
    # PaddleOCR 3.x (PaddleX) caps dynamic widths at 3200 px; tools/infer has no cap (None).
    max_width: int | None = None


def load_dictionary(path: Path | str, use_space_char: bool = True) -> list[str]:
    """Charset indexed by CTC class: [blank, dict lines..., ' ' if use_space_char]."""
    chars = []
    with open(path, "rb") as f:
        for line in f:
            # Only strip line endings: some dicts contain whitespace-like characters.
            chars.append(line.decode("utf-8").strip("\n").strip("\r\n"))
    if use_space_char:
        chars.append(" ")
    return [BLANK] + chars


def batch_max_wh_ratio(crops: list[np.ndarray], params: RecParams) -> float:
    """PaddleOCR starts from imgW/imgH and widens to the widest crop of the batch."""
    ratio = params.width / params.height
    for crop in crops:
        h, w = crop.shape[:2]
        ratio = max(ratio, w * 1.0 / h)
    return ratio


def resize_norm(crop: np.ndarray, height: int, target_width: int, mean: float, std: float) -> np.ndarray:
    """Resize to `height` keeping aspect (width capped at target_width), normalise, and
    zero-pad on the right to target_width. Returns CHW float32."""
    h, w = crop.shape[:2]
    ratio = w / float(h)
    resized_w = target_width if math.ceil(height * ratio) > target_width else int(math.ceil(height * ratio))
    resized = cv2.resize(crop, (resized_w, height)).astype("float32")
    resized = resized.transpose((2, 0, 1)) / 255
    resized -= mean
    resized /= std
    padded = np.zeros((crop.shape[2], height, target_width), dtype=np.float32)
    padded[:, :, 0:resized_w] = resized
    return padded


def preprocess_batch(crops: list[np.ndarray], params: RecParams, max_wh_ratio: float | None = None) -> np.ndarray:
    """Crops (BGR uint8) -> NCHW float32 batch, all of one width.

    Dynamic models: width = int(height * max_wh_ratio), max_wh_ratio computed batch-wise
    (batch_max_wh_ratio) when not given. Static models: width = params.static_width.
    """
    if params.static_width is not None:
        target_w = int(params.static_width)
    else:
        if max_wh_ratio is None:
            max_wh_ratio = batch_max_wh_ratio(crops, params)
        target_w = int(params.height * max_wh_ratio)
        if params.max_width is not None and target_w > params.max_width:
            target_w = params.max_width  # PaddleX: squash into the cap
    batch = [resize_norm(c, params.height, target_w, params.mean, params.std) for c in crops]
    return np.stack(batch).astype(np.float32, copy=False)


def ctc_greedy_decode(probs: np.ndarray, charset: list[str]) -> list[tuple[str, float]]:
    """Best-path CTC: argmax per step, collapse repeats, drop blank (index 0).
    Confidence = mean of the kept steps' max probability (0.0 for an empty string)."""
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(f"expected [N, T, C] probabilities, got {probs.shape}")
    if probs.shape[2] != len(charset):
        raise ValueError(
            f"model has {probs.shape[2]} classes but the charset has {len(charset)} "
            "(blank + dictionary + space): wrong dictionary for this model?"
        )
    indices = probs.argmax(axis=2)
    max_probs = probs.max(axis=2)
    results = []
    for idx, prob in zip(indices, max_probs):
        keep = np.ones(len(idx), dtype=bool)
        keep[1:] = idx[1:] != idx[:-1]
        keep &= idx != 0
        text = "".join(charset[i] for i in idx[keep])
        conf = float(np.mean(prob[keep])) if keep.any() else 0.0
        results.append((text, conf))
    return results


# ------------------------------------------------------------------ static width buckets
# A static rec model reads one width. Several static models (buckets, e.g. 320/640/1280)
# let each line use the narrowest that holds it unsquashed; a line longer than the widest
# is cut into overlapping windows whose CTC steps are stitched at the overlaps' middles.

def needed_width(crop: np.ndarray, height: int) -> int:
    h, w = crop.shape[:2]
    return int(math.ceil(height * w / float(h)))


def choose_bucket(width: int, buckets: list[int]) -> int | None:
    """Narrowest bucket that holds `width` px, None when even the widest is too narrow."""
    fitting = [b for b in sorted(buckets) if b >= width]
    return fitting[0] if fitting else None


def split_windows(total: int, window: int, overlap: int) -> list[int]:
    """Left edges of windows of `window` px covering [0, total) with at least `overlap` px shared."""
    if total <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, total - window, stride)) + [total - window]
    return starts


def window_inputs(crop: np.ndarray, params: RecParams, window: int, overlap: int) -> tuple[np.ndarray, list[int], int]:
    """Resize a long crop to the model height keeping its aspect, cut it into windows.
    Returns (NCHW batch of windows, their left edges, the resized width)."""
    total = needed_width(crop, params.height)
    resized = cv2.resize(crop, (total, params.height))
    starts = split_windows(total, window, overlap)
    batch = [resize_norm(resized[:, s:s + window], params.height, window, params.mean, params.std) for s in starts]
    return np.stack(batch).astype(np.float32), starts, total


def stitch_windows(probs: np.ndarray, starts: list[int], window: int, total: int) -> np.ndarray:
    """Concatenate the CTC steps of overlapping windows into one [1, T, C] sequence: each
    window keeps the steps whose centre lies between the middles of its overlaps."""
    steps = probs.shape[1]
    px_per_step = window / steps
    kept = []
    for k, start in enumerate(starts):
        lo = start if k == 0 else (start + starts[k - 1] + window) / 2
        hi = total if k == len(starts) - 1 else (starts[k + 1] + start + window) / 2
        centres = start + (np.arange(steps) + 0.5) * px_per_step
        kept.append(probs[k][(centres >= lo) & (centres < hi)])
    return np.concatenate(kept)[None]

"""Comparators (Polygraphy-style: statistics, never just a bool) and OCR metrics."""
from __future__ import annotations

import numpy as np
from shapely.geometry import Polygon


def tensor_stats(ref: np.ndarray, cand: np.ndarray) -> dict:
    ref = np.asarray(ref, np.float64).ravel()
    cand = np.asarray(cand, np.float64).ravel()
    diff = np.abs(ref - cand)
    # numpy's own pairwise sums, not BLAS dot/norm: BLAS sums in an order that depends on its
    # thread count (a Ray actor has 1, a local process the cores), and the per-image results
    # must be identical on every engine and any number of workers
    denom = float(np.sqrt(np.sum(ref * ref)) * np.sqrt(np.sum(cand * cand)))
    return {
        "max_abs": float(diff.max()),
        "mean_abs": float(diff.mean()),
        "median_abs": float(np.median(diff)),
        "max_rel": float((diff / np.maximum(np.abs(ref), 1e-6)).max()),
        "cosine": float(np.sum(ref * cand) / denom) if denom > 0 else float(np.array_equal(ref, cand)),
    }


class PairedStats:
    """`tensor_stats` and `argmax_agreement` over a sequence of (ref, cand) output pairs (rec
    logits, one pair per line crop), fed one pair at a time: memory is one pair's, not all
    lines' (PP-OCRv5 rec has 18,385 classes: 23 lines at width 320 are 17 M values, and
    tensor_stats' float64 temporaries of them were a 1 GB spike per image). Sums are taken
    per pair and added in feeding order, so the figures are the same on every run; the
    median is of the differences stored as float32 (rounding is monotonic: the median of
    the rounded values is the rounded median)."""

    def __init__(self) -> None:
        self.count = 0
        self.max_abs = 0.0
        self.sum_abs = 0.0
        self.max_rel = 0.0
        self.rr = self.cc = self.rc = 0.0
        self.all_equal = True
        self.steps = 0
        self.same_argmax = 0
        self._diffs: list[np.ndarray] = []

    def add(self, ref: np.ndarray, cand: np.ndarray) -> None:
        r = np.asarray(ref, np.float64).ravel()
        c = np.asarray(cand, np.float64).ravel()
        if r.size == 0:
            return
        diff = np.abs(r - c)
        self.count += r.size
        self.max_abs = max(self.max_abs, float(diff.max()))
        self.sum_abs += float(np.sum(diff))
        self.max_rel = max(self.max_rel, float((diff / np.maximum(np.abs(r), 1e-6)).max()))
        # numpy's pairwise sums, not BLAS dot (whose order depends on its thread count)
        self.rr += float(np.sum(r * r))
        self.cc += float(np.sum(c * c))
        self.rc += float(np.sum(r * c))
        self.all_equal = self.all_equal and bool(np.array_equal(r, c))
        self._diffs.append(diff.astype(np.float32))
        ref_steps, cand_steps = np.asarray(ref).argmax(-1), np.asarray(cand).argmax(-1)
        self.steps += ref_steps.size
        self.same_argmax += int(np.sum(ref_steps == cand_steps))

    def tensor_stats(self) -> dict:
        if not self.count:
            raise ValueError("no outputs were compared")
        denom = float(np.sqrt(self.rr) * np.sqrt(self.cc))
        return {
            "max_abs": self.max_abs,
            "mean_abs": self.sum_abs / self.count,
            "median_abs": float(np.median(np.concatenate(self._diffs))),
            "max_rel": self.max_rel,
            "cosine": self.rc / denom if denom > 0 else float(self.all_equal),
        }

    def argmax_agreement(self) -> float:
        return self.same_argmax / self.steps if self.steps else 1.0


def binary_agreement(ref_map: np.ndarray, cand_map: np.ndarray, thresh: float) -> float:
    return float(np.mean((ref_map > thresh) == (cand_map > thresh)))


def argmax_agreement(ref: np.ndarray, cand: np.ndarray) -> float:
    return float(np.mean(ref.argmax(-1) == cand.argmax(-1)))


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def box_iou(a, b) -> float:
    pa, pb = Polygon(np.asarray(a).reshape(4, 2)), Polygon(np.asarray(b).reshape(4, 2))
    if not (pa.is_valid and pb.is_valid):
        pa, pb = pa.buffer(0), pb.buffer(0)
    union = pa.union(pb).area
    return float(pa.intersection(pb).area / union) if union > 0 else 0.0


def match_boxes(ref_boxes, cand_boxes, iou_thresh: float = 0.5) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching by descending IoU (≥ iou_thresh): [(ref_i, cand_j, iou)]."""
    pairs = []
    for i, rb in enumerate(ref_boxes):
        for j, cb in enumerate(cand_boxes):
            iou = box_iou(rb, cb)
            if iou >= iou_thresh:
                pairs.append((iou, i, j))
    used_r, used_c, out = set(), set(), []
    for iou, i, j in sorted(pairs, reverse=True):
        if i not in used_r and j not in used_c:
            used_r.add(i)
            used_c.add(j)
            out.append((i, j, iou))
    return sorted(out)


def _norm(text: str) -> str:
    return "".join(text.split())


def compare_lines(ref_lines: list[dict], cand_lines: list[dict], iou_thresh: float = 0.5) -> dict:
    """Score one image's candidate lines (dicts with box/text) against reference lines.

    det_f1: boxes matched one-to-one at IoU ≥ 0.5. line_exact_match: reference lines whose
    matched candidate reads the same text (spaces ignored) / reference lines. cer: edit
    distance over matched pairs, unmatched reference lines counted as deleted and
    unmatched candidate lines as inserted, / reference characters.
    """
    matches = match_boxes([line["box"] for line in ref_lines], [line["box"] for line in cand_lines], iou_thresh)
    n_ref, n_cand, n_match = len(ref_lines), len(cand_lines), len(matches)
    precision = n_match / n_cand if n_cand else (1.0 if not n_ref else 0.0)
    recall = n_match / n_ref if n_ref else (1.0 if not n_cand else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    exact, errors = 0, 0
    matched_r = {i for i, _, _ in matches}
    matched_c = {j for _, j, _ in matches}
    pairs = []
    for i, j, iou in matches:
        a, b = _norm(ref_lines[i]["text"]), _norm(cand_lines[j]["text"])
        exact += a == b
        errors += edit_distance(a, b)
        pairs.append({"ref": i, "cand": j, "iou": round(iou, 3), "same_text": a == b})
    errors += sum(len(_norm(ref_lines[i]["text"])) for i in range(n_ref) if i not in matched_r)
    errors += sum(len(_norm(cand_lines[j]["text"])) for j in range(n_cand) if j not in matched_c)
    ref_chars = sum(len(_norm(line["text"])) for line in ref_lines)
    return {
        "det_precision": precision, "det_recall": recall, "det_f1": f1,
        "ref_lines": n_ref, "cand_lines": n_cand, "matched": n_match, "exact_lines": exact,
        "line_exact_match": exact / n_ref if n_ref else (1.0 if not n_cand else 0.0),
        "char_errors": errors, "ref_chars": ref_chars,
        "cer": errors / ref_chars if ref_chars else float(errors > 0),
        "text_identical": [_norm(line["text"]) for line in ref_lines] == [_norm(line["text"]) for line in cand_lines],
        "pairs": pairs,
    }


def aggregate_lines(per_image: list[dict]) -> dict:
    """Micro-averaged over all images (every line counts once)."""
    n_ref = sum(r["ref_lines"] for r in per_image)
    n_cand = sum(r["cand_lines"] for r in per_image)
    n_match = sum(r["matched"] for r in per_image)
    p = n_match / n_cand if n_cand else 1.0
    rc = n_match / n_ref if n_ref else 1.0
    chars = sum(r["ref_chars"] for r in per_image)
    return {
        "det_precision": p, "det_recall": rc, "det_f1": 2 * p * rc / (p + rc) if p + rc else 0.0,
        "line_exact_match": sum(r["exact_lines"] for r in per_image) / n_ref if n_ref else 1.0,
        "cer": sum(r["char_errors"] for r in per_image) / chars if chars else 0.0,
        "text_agreement": float(np.mean([r["text_identical"] for r in per_image])) if per_image else 1.0,
        "ref_lines": n_ref, "cand_lines": n_cand,
    }

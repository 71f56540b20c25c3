"""The OCR pipeline with one det file and its rec bucket files over labelled pages, scored
against the ground truth: what the int8 stage's det gate and `bench.int8` measure.

The pages are dealt to one pipeline per core, each on a thread with its own one-thread
interpreters. `invoke()` releases the GIL, and an a16w8 rec runs on TFLite's single-threaded
reference kernels, so one pipeline leaves the other cores idle (8 PP-OCRv6 small pages with
the fp32 files: 2 pipelines 14.6-15.6 s, 1 pipeline 25.1-27.7 s, the same figures). A page's
reading depends on that page alone, so the figures do not depend on how pages are dealt
(tests/test_labelled_reading.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:
    from ..ocr import DetParams, RecParams

# what `aggregate_lines` sums over pages: kept per page so a subset can be re-aggregated
PAGE_FIGURES = ("exact_lines", "ref_lines", "char_errors", "ref_chars", "cand_lines", "matched", "text_identical")


@dataclass(frozen=True)
class PipelineFiles:
    """The files and parameters one OCR pipeline is built from."""
    det: Path
    recs: list[Path]
    charset: list[str]
    det_params: "DetParams"
    rec_params: "RecParams"
    drop_score: float


def read_pages(files: PipelineFiles, labels: dict, pages: Sequence[tuple[str, Path | np.ndarray]],
               workers: int | None = None) -> list[dict]:
    """`compare_lines` of each page (name, image file or loaded image), in the pages' order."""
    from ..cores import deal
    from ..ocr import OCRPipeline, load_image
    from ..runners import open_runner
    from .metrics import compare_lines

    def read(chunk: Sequence[tuple[str, Path | np.ndarray]]) -> list[dict]:
        ocr = OCRPipeline(open_runner(files.det, "tflite", threads=1),
                          [open_runner(p, "tflite", threads=1) for p in files.recs], files.charset,
                          files.det_params, files.rec_params, drop_score=files.drop_score)
        images = ((name, load_image(img) if isinstance(img, Path) else img) for name, img in chunk)
        return [compare_lines(labels.get(name, []), [line.to_dict() for line in ocr.run(image).lines])
                for name, image in images]
    return deal(read, pages, workers)


def scores(per_page: list[dict]) -> dict:
    """Line accuracy, CER, det recall and the number of labelled lines over the pages."""
    from .metrics import aggregate_lines
    agg = aggregate_lines(per_page)
    return {"line_accuracy": agg["line_exact_match"], "cer": agg["cer"], "det_recall": agg["det_recall"],
            "lines": agg["ref_lines"]}

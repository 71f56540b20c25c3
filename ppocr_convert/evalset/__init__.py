"""Labelled evaluation set: deterministic rendered pages of real text with ground-truth
line boxes and texts (`labels.json`), for scoring OCR pipelines against the truth.

    from ppocr_convert.evalset.generate import generate, ensure
    labels_json = generate(Path(".cache/evalset"), n_images=40, seed=0)

(`generate` is not re-exported here: the submodule of the same name would shadow it.)
"""
from .fonts import FontFace, FontsNotFound, find_fonts

__all__ = ["FontFace", "FontsNotFound", "find_fonts"]

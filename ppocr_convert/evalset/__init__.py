"""Labelled evaluation set: deterministic rendered pages of real text with ground-truth
line boxes and texts (`labels.json`), for scoring OCR pipelines against the truth.

    from ppocr_convert.evalset import generate
    labels_json = generate(Path(".cache/evalset"), n_images=40, seed=0)
"""
from __future__ import annotations

__all__ = ["FontsNotFound", "ensure", "find_fonts", "generate"]


def __getattr__(name: str):
    # lazy, so `python -m ppocr_convert.evalset.generate` does not import the module twice
    if name in ("generate", "ensure"):
        from . import generate as _gen

        return getattr(_gen, name)
    if name in ("find_fonts", "FontsNotFound"):
        from . import fonts

        return getattr(fonts, name)
    raise AttributeError(name)

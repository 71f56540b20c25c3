"""Map a model config's [preprocess]/[postprocess] tables onto the OCR pipeline's
parameter objects, so every stage and report uses the values the config pins."""
from __future__ import annotations

import dataclasses

from .config import ModelConfig
from .ocr.cls import ClsParams
from .ocr.det import DetParams
from .ocr.rec import RecParams, load_dictionary
from .chain.sources import dictionary_path


def _pick(cls, table: dict, **extra):
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in table.items() if k in fields}
    return cls(**values, **extra)


def _scalar_norm(table: dict) -> dict:
    # rec/cls normalise every channel alike; the pipeline takes one number
    out = dict(table)
    for key in ("mean", "std"):
        if isinstance(out.get(key), list):
            values = set(out[key])
            if len(values) == 1:
                out[key] = values.pop()
            else:
                out.pop(key)
    return out


def det_params(config: ModelConfig, static_hw: tuple[int, int] | None = None) -> DetParams:
    return _pick(DetParams, {**config.preprocess, **config.postprocess}, static_hw=static_hw)


def rec_params(config: ModelConfig, static_width: int | None = None) -> RecParams:
    return _pick(RecParams, _scalar_norm({**config.preprocess, **config.postprocess}), static_width=static_width)


def cls_params(config: ModelConfig) -> ClsParams:
    return _pick(ClsParams, _scalar_norm({**config.preprocess, **config.postprocess}))


def charset(config: ModelConfig) -> list[str]:
    return load_dictionary(dictionary_path(config), use_space_char=config.postprocess.get("use_space_char", True))

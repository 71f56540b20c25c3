"""Pipeline configs (`configs/pipelines/*.toml`): which det/rec(/cls) models form an
OCR system, its drop score, and the parity tolerances per stage and view."""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..config import ModelConfig, configs_dir, load_model_config, load_pipeline_file, model_names
from ..errors import UnknownModelError


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    det_config: ModelConfig
    rec_config: ModelConfig
    cls_name: str | None
    drop_score: float
    tolerances: dict


def pipeline_names() -> list[str]:
    return sorted(p.stem for p in (configs_dir() / "pipelines").glob("*.toml"))


def load_pipeline(name: str) -> PipelineConfig:
    path = configs_dir() / "pipelines" / f"{name}.toml"
    if not path.is_file():
        known = pipeline_names() + model_names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        raise UnknownModelError(f"unknown pipeline or model {name!r}",
                                hint=f"did you mean {', '.join(close)}?" if close else "run `ppocr-convert list`")
    data = load_pipeline_file(name)  # validated: keys, tolerances, det/rec are models of that task
    return PipelineConfig(data["name"], load_model_config(data["det"]), load_model_config(data["rec"]),
                          data.get("cls") or None, float(data.get("drop_score", 0.5)), data.get("tolerances", {}))


def pipeline_for_model(model: str) -> PipelineConfig:
    """The pipeline a single det or rec model belongs to (parity of one model still needs
    the other half: rec is judged on the reference det's line crops)."""
    for name in pipeline_names():
        pipe = load_pipeline(name)
        if model in (pipe.det_config.name, pipe.rec_config.name):
            return pipe
    raise UnknownModelError(f"{model!r} belongs to no pipeline in configs/pipelines/",
                            hint="parity runs on det+rec pipelines; add one")

"""Declarative model and pipeline configs (`configs/*.toml`).

A model config inherits a task's defaults (`extends = "defaults/det"`) and overrides
what differs, like optimum's model configs. Loading validates the merged result against
config_schema (unknown keys, stage and metric names, types) and reports every problem
at once in one ConfigError, each with the file that set the key and its dotted path.
"""
from __future__ import annotations

import copy
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import config_schema as schema
from .config_errors import FIX_HINT, Layer, validation_problems
from .config_schema import FLOAT_TARGETS, STAGES, TARGETS, TASKS  # noqa: F401  (imported from here everywhere)
from .errors import ConfigError, UnknownModelError
from .resources import configs_dir  # parity.pipelines imports it from here


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "package" | "official"
    package: str | None = None
    module: str | None = None
    path: str | None = None
    url: str | None = None
    # official: the archive's digest; package: {file name: digest} (or one digest for a file)
    sha256: str | dict | None = None


@dataclass(frozen=True)
class ModelConfig:
    name: str
    task: str
    family: str
    description: str
    input_name: str
    shape: tuple[int, ...]
    opset: int
    passes: tuple[str, ...]
    targets: tuple[str, ...]
    sources: tuple[SourceSpec, ...]
    preprocess: dict
    postprocess: dict
    tolerances: dict
    dictionary: dict | None = None
    num_classes: int | None = None
    config_path: Path | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    def tolerance(self, stage: str) -> dict:
        return dict(self.tolerances.get(stage, {}))


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_toml(path: Path, root: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{_display(path, root)}: not valid TOML ({e})", hint=FIX_HINT) from e


def _display(path: Path, root: Path) -> str:
    """How problems name a file: relative to the configs dir (`defaults/det.toml`)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _layers(path: Path, root: Path) -> list[Layer]:
    """The file and the defaults it extends, the file itself first."""
    layers: list[Layer] = []
    while True:
        data = _read_toml(path, root)
        layers.append(Layer(_display(path, root), data))
        parent = data.get("extends")
        if not parent:
            return layers
        parent_path = root / f"{parent}.toml"
        if any(layer.file == _display(parent_path, root) for layer in layers):
            raise ConfigError(f"{layers[0].file}: config inheritance loops through {parent!r}", hint=FIX_HINT)
        if not parent_path.is_file():
            raise ConfigError(f"{layers[-1].file}: extends: {parent!r}, but {_display(parent_path, root)} "
                              "does not exist", hint=FIX_HINT)
        path = parent_path


def _merge(layers: list[Layer]) -> dict:
    merged: dict = {}
    for layer in reversed(layers):
        merged = _deep_merge(merged, {k: v for k, v in layer.data.items() if k != "extends"})
    # Sources never inherit: a model's sources are its own.
    merged["sources"] = layers[0].data.get("sources", [])
    return merged


def model_names(root: Path | None = None) -> list[str]:
    root = root or configs_dir()
    return sorted(p.stem for p in root.glob("*.toml"))


def _model_path(name: str, root: Path) -> Path:
    path = root / f"{name}.toml"
    if not path.is_file():
        close = difflib.get_close_matches(name, model_names(root), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else "run `ppocr-convert list`"
        raise UnknownModelError(f"unknown model {name!r}", hint=hint)
    return path


def load_model_config(name: str, root: Path | None = None) -> ModelConfig:
    root = root or configs_dir()
    path = _model_path(name, root)
    layers = _layers(path, root)
    data = _merge(layers)
    raise_problems(model_problems(data, layers, path.stem))
    return _build(data, path)


def model_problems(data: dict, layers: list[Layer], stem: str) -> list[str]:
    """Every problem of a merged model config, each naming the file that set the key."""
    problems = validation_problems(schema.MODEL_FILES.get(data.get("task"), schema.ModelFile), data, layers)
    if isinstance(data.get("name"), str) and data["name"] != stem:
        problems.append(f"{layers[0].file}: name: {data['name']!r} differs from the file name {stem!r}")
    return problems


def load_pipeline_file(name: str, root: Path | None = None) -> dict:
    """A pipeline config's data (`configs/pipelines/NAME.toml`), validated: its keys and
    tolerances, and that `det`/`rec`/`cls` name model configs of that task."""
    root = root or configs_dir()
    path = root / "pipelines" / f"{name}.toml"
    layer = Layer(_display(path, root), _read_toml(path, root))
    raise_problems(pipeline_problems(layer, path.stem, root))
    return layer.data


def pipeline_problems(layer: Layer, stem: str, root: Path) -> list[str]:
    data = layer.data
    problems = validation_problems(schema.PipelineFile, data, [layer])
    if isinstance(data.get("name"), str) and data["name"] != stem:
        problems.append(f"{layer.file}: name: {data['name']!r} differs from the file name {stem!r}")
    known = model_names(root)
    for task in schema.TASKS:
        model = data.get(task)
        if not isinstance(model, str):
            continue
        if model not in known:
            close = difflib.get_close_matches(model, known, n=1, cutoff=0.4)
            problems.append(f"{layer.file}: {task}: no model config {model!r}"
                            + (f" (did you mean {close[0]!r}?)" if close else ""))
            continue
        try:
            model_task = _merge(_layers(root / f"{model}.toml", root)).get("task")
        except ConfigError:
            continue  # that model's own problems are reported when it is loaded
        if model_task != task:
            problems.append(f"{layer.file}: {task}: {model!r} is a {model_task} model, not a {task} model")
    return problems


def check_configs(root: Path | None = None) -> None:
    """Validate every model and pipeline config under `root`: one ConfigError listing
    every problem of every file (nothing is converted)."""
    root = root or configs_dir()
    problems: list[str] = []
    for name in model_names(root):
        try:
            layers = _layers(root / f"{name}.toml", root)
        except ConfigError as e:
            problems.append(str(e))
            continue
        problems += model_problems(_merge(layers), layers, name)
    for path in sorted((root / "pipelines").glob("*.toml")):
        try:
            layer = Layer(_display(path, root), _read_toml(path, root))
        except ConfigError as e:
            problems.append(str(e))
            continue
        problems += pipeline_problems(layer, path.stem, root)
    raise_problems(list(dict.fromkeys(problems)))  # a defaults file's problem once, not per model


def raise_problems(problems: list[str]) -> None:
    if problems:
        raise ConfigError("; ".join(problems), hint=FIX_HINT, problems=problems)


def _build(data: dict, path: Path) -> ModelConfig:
    """A validated merged config as the dataclass the rest of the code reads."""
    return ModelConfig(
        name=data["name"],
        task=data["task"],
        family=data.get("family", ""),
        description=data.get("description", ""),
        input_name=data["input_name"],
        shape=tuple(data["shape"]),
        opset=int(data["opset"]),
        passes=tuple(data["passes"]),
        targets=tuple(data.get("targets", TARGETS)),
        sources=tuple(SourceSpec(**src) for src in data.get("sources", [])),
        preprocess=data.get("preprocess", {}),
        postprocess=data.get("postprocess", {}),
        tolerances=data.get("tolerances", {}),
        dictionary=data.get("dictionary"),
        num_classes=data.get("num_classes"),
        config_path=path,
        raw=data,
    )


def parse_shape(text: str) -> tuple[int, ...]:
    """`1x3x640x640` → (1, 3, 640, 640)."""
    try:
        dims = tuple(int(d) for d in text.lower().replace(",", "x").split("x"))
    except ValueError:
        dims = ()
    if len(dims) != 4 or any(d <= 0 for d in dims):
        raise ConfigError(f"bad --shape {text!r}", hint="use NxCxHxW with positive integers, e.g. 1x3x640x640")
    return dims

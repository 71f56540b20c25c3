"""Declarative model and pipeline configs (`configs/*.toml`).

A model config inherits a task's defaults (`extends = "defaults/det"`) and overrides
what differs, like optimum's model configs. Loading validates the whole file and
reports every problem at once.
"""
from __future__ import annotations

import copy
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, UnknownModelError
from .resources import configs_dir  # parity.pipelines imports it from here

STAGES = ("paddle", "onnx-raw", "onnx", "tflite-fp32", "tflite-fp16")
TARGETS = STAGES[1:]
TASKS = ("det", "rec", "cls")


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


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path.name}: not valid TOML ({e})", hint="fix the config file") from e


def _resolve_extends(data: dict, root: Path, seen: tuple = ()) -> dict:
    parent = data.get("extends")
    if not parent:
        return data
    if parent in seen:
        raise ConfigError(f"config inheritance loops through {parent!r}")
    parent_path = root / f"{parent}.toml"
    if not parent_path.is_file():
        raise ConfigError(f"config extends {parent!r}, but {parent_path.name} does not exist")
    base = _resolve_extends(_read_toml(parent_path), root, seen + (parent,))
    merged = _deep_merge(base, {k: v for k, v in data.items() if k != "extends"})
    # Sources never inherit: a model's sources are its own.
    merged["sources"] = data.get("sources", [])
    return merged


def model_names(root: Path | None = None) -> list[str]:
    root = root or configs_dir()
    return sorted(p.stem for p in root.glob("*.toml"))


def load_model_config(name: str, root: Path | None = None) -> ModelConfig:
    root = root or configs_dir()
    path = root / f"{name}.toml"
    if not path.is_file():
        known = model_names(root)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else "run `ppocr-convert list`"
        raise UnknownModelError(f"unknown model {name!r}", hint=hint)
    data = _resolve_extends(_read_toml(path), root)
    return _build(data, path)


def _build(data: dict, path: Path) -> ModelConfig:
    problems: list[str] = []
    for key in ("name", "task", "input_name", "shape", "opset", "passes"):
        if key not in data:
            problems.append(f"missing `{key}`")
    if data.get("name") and data["name"] != path.stem:
        problems.append(f"`name` {data['name']!r} differs from the file name {path.stem!r}")
    if data.get("task") not in TASKS:
        problems.append(f"`task` must be one of {', '.join(TASKS)}")
    shape = data.get("shape", [])
    if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape)):
        problems.append("`shape` must be four positive integers (NCHW)")
    for target in data.get("targets", []):
        if target not in TARGETS:
            problems.append(f"unknown target {target!r} in `targets`")
    sources = []
    for i, src in enumerate(data.get("sources", [])):
        kind = src.get("kind")
        if kind == "package" and not (src.get("module") and src.get("path")):
            problems.append(f"sources[{i}]: a package source needs `module` and `path`")
        elif kind == "official" and not src.get("url"):
            problems.append(f"sources[{i}]: an official source needs `url`")
        elif kind not in ("package", "official"):
            problems.append(f"sources[{i}]: unknown kind {kind!r}")
        digests = src.get("sha256")
        if isinstance(digests, dict):
            digests = list(digests.values())
        elif digests is not None:
            digests = [digests]
        for d in digests or []:
            if not (isinstance(d, str) and len(d) == 64 and all(c in "0123456789abcdef" for c in d)):
                problems.append(f"sources[{i}]: sha256 {d!r} is not 64 lowercase hex digits")
        sources.append(SourceSpec(**{k: v for k, v in src.items() if k in SourceSpec.__dataclass_fields__}))
    if data.get("task") == "rec" and "dictionary" not in data:
        problems.append("a rec model needs a [dictionary]")
    if problems:
        raise ConfigError(f"{path.name}: " + "; ".join(problems), hint="fix the config file")
    return ModelConfig(
        name=data["name"],
        task=data["task"],
        family=data.get("family", ""),
        description=data.get("description", ""),
        input_name=data["input_name"],
        shape=tuple(shape),
        opset=int(data["opset"]),
        passes=tuple(data["passes"]),
        targets=tuple(data.get("targets", TARGETS)),
        sources=tuple(sources),
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

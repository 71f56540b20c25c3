"""Dataclass ⇄ JSON for the typed parity report (report_schema.py).

Why not dataclasses.asdict / pydantic: report.json must keep the exact shape of the
untyped version 1 (readers index it as plain dicts), which has optional keys that are
*absent* rather than null (e.g. `ground_truth` without --labels). A field marked
`omit_if_none()` is left out when None; every other None is written as null.

`from_jsonable` reads a dict back into a dataclass, checking types as it goes, so a
malformed or foreign report.json fails with the path of the offending key instead of
an AttributeError deep inside the HTML renderer.
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")

_OMIT_IF_NONE = "omit_if_none"


def omit_if_none(**kwargs) -> Any:
    """A dataclass field that defaults to None and is absent from the JSON while None."""
    return dataclasses.field(default=None, metadata={_OMIT_IF_NONE: True}, **kwargs)


class RecordError(ValueError):
    """`data` does not have the shape of the dataclass; the message names the key path."""


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is None and f.metadata.get(_OMIT_IF_NONE):
                continue
            out[f.name] = to_jsonable(v)
        return out
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_jsonable(cls: type[T], data: Any, path: str = "") -> T:
    """Build `cls` (a dataclass) from `data` (parsed JSON); raise RecordError naming the key."""
    return _convert(cls, data, path or cls.__name__)


def _convert(tp: Any, data: Any, path: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return data
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, data, path)
            except RecordError as e:
                errors.append(str(e))
        raise RecordError(errors[0] if len(errors) == 1 else f"{path}: matches none of {tp}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise RecordError(f"{path}: expected an object, got {type(data).__name__}")
        hints, kwargs = _hints(tp), {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = _convert(hints[f.name], data[f.name], f"{path}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{path}.{f.name}: missing")
        unknown = set(data) - {f.name for f in dataclasses.fields(tp)}
        if unknown:
            raise RecordError(f"{path}: unexpected key {sorted(unknown)[0]!r}")
        return tp(**kwargs)
    if origin is list or tp is list:
        if not isinstance(data, list):
            raise RecordError(f"{path}: expected a list, got {type(data).__name__}")
        item = args[0] if args else Any
        return [_convert(item, v, f"{path}[{i}]") for i, v in enumerate(data)]
    if origin is dict or tp is dict:
        if not isinstance(data, dict):
            raise RecordError(f"{path}: expected an object, got {type(data).__name__}")
        item = args[1] if args else Any
        return {k: _convert(item, v, f"{path}.{k}") for k, v in data.items()}
    if tp is float:  # JSON writes 1.0 as 1 only if we did; accept ints, keep them as they were
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return data
        raise RecordError(f"{path}: expected a number, got {type(data).__name__}")
    if tp in (int, str, bool):
        if isinstance(data, tp) and not (tp is int and isinstance(data, bool)):
            return data
        raise RecordError(f"{path}: expected {tp.__name__}, got {type(data).__name__}")
    raise RecordError(f"{path}: cannot read type {tp}")  # a schema bug, not bad data

"""Pydantic validation errors as config problems a person can act on:
`<file>: <dotted.key.path>: <what is wrong>`, naming the file that set the key (a model
config or the defaults it extends) and, for an unknown key, the closest known one."""
from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

FIX_HINT = "fix the config file(s) named above (keys and allowed values: ppocr_convert/config_schema.py)"


@dataclass(frozen=True)
class Layer:
    """One config file's own data; `file` is its name relative to the configs dir."""

    file: str
    data: dict


def validation_problems(schema: type[BaseModel], data: dict, layers: list[Layer]) -> list[str]:
    """Validate merged `data` against `schema`; one line per problem (none: [])."""
    try:
        schema.model_validate(data)
        return []
    except ValidationError as e:
        errors = e.errors(include_url=False)
    placed = [(_place(tuple(err["loc"]), err["type"], data), err) for err in errors]
    # a value matching no member of a union gets one error per member; where one member
    # got further into the value (a dict of digests) its error says more than "not a string"
    deeper = {loc[:n] for loc, _ in placed for n in range(len(loc))}
    by_place: dict[tuple[str, tuple], list[dict]] = {}
    for loc, err in placed:
        if loc in deeper and err["type"].endswith("_type"):
            continue
        by_place.setdefault((_origin(loc, layers), loc), []).append(err)
    return [f"{file}: {_dotted(loc) or '(top level)'}: {_message(errs, schema)}"
            for (file, loc), errs in by_place.items()]


def _place(loc: tuple, kind: str, data: dict) -> tuple:
    """The key path of an error in the data. Pydantic puts the name of a union member in
    the path of a value that matches no member (`mean.float`): that is not a key."""
    node, out = data, []
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif not (kind == "missing" and i == len(loc) - 1):
            continue
        out.append(part)
    return tuple(out)


def _exists(loc: tuple, data: Any) -> bool:
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return False
    return True


def _origin(loc: tuple, layers: list[Layer]) -> str:
    """The first layer (the file itself, then its defaults) that sets `loc`."""
    for layer in layers:
        if loc and _exists(loc, layer.data):
            return layer.file
    return layers[0].file  # a missing key, or one about the file as a whole


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        key = f'"{part}"' if "." in part else part  # a file name as a key: "rec.onnx"
        out += f".{key}" if out else key
    return out


def _message(errs: list[dict], schema: type[BaseModel]) -> str:
    """One message for the errors at one place: a value that matches no member of a
    union (`mean = [0.5, 0.5]` is neither a number nor three) gets one error per member."""
    texts, got = [], None
    for err in errs:
        kind, msg = err["type"], err["msg"]
        if kind == "extra_forbidden":
            texts.append(_unknown_key(err["loc"], schema))
        elif kind == "missing":
            texts.append("required key is missing")
        elif kind in ("value_error", "assertion_error"):
            texts.append(msg.removeprefix("Value error, ").removeprefix("Assertion failed, "))
        else:
            texts.append(msg[0].lower() + msg[1:])
            got = repr(err.get("input"))
    text = " or ".join(dict.fromkeys(texts))
    return text if got is None else f"{text} (got {got[:60] + '…' if len(got) > 60 else got})"


def _unknown_key(loc: tuple, schema: type[BaseModel]) -> str:
    table = _table_at(schema, loc[:-1])
    if table is None:
        return "unknown key"
    kind = getattr(table, "key_kind", "key")
    known = [f.alias or name for name, f in table.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    text = f"unknown {kind}" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind != "key" or not close:  # stage, metric and view names are few: list them
        text += f"; {kind}s here: {', '.join(known)}"
    return text


def _table_at(schema: type[BaseModel], path: tuple) -> type[BaseModel] | None:
    """The schema model of the table at `path` (list indices skipped)."""
    table: type[BaseModel] | None = schema
    for part in path:
        if isinstance(part, int):
            continue
        field = next((f for name, f in table.model_fields.items() if (f.alias or name) == part), None)
        if field is None:
            return None
        table = _model_in(field.annotation)
        if table is None:
            return None
    return table


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside `X | None`, `list[X]` or `Annotated[X, ...]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None

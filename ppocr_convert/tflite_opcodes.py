"""The builtin operator an OperatorCode of a .tflite names.

Schema 3a keeps two fields: `deprecated_builtin_code` (int8, so codes up to 127) and
`builtin_code` (int32). Writers fill the old field with min(code, 127) and older writers
left the new one 0, so the larger of the two is the real operator. The project reads
flatbuffers with both generated APIs (reader: `oc.BuiltinCode()`; object: `oc.builtinCode`),
and this is the one place that reads them (tflite_edit's `_opcode` writes both)."""
from __future__ import annotations

from typing import Any


def builtin_code(op_code: Any) -> int:
    """The builtin operator of `op_code`, an OperatorCode of either flatbuffer API."""
    if hasattr(op_code, "BuiltinCode"):
        return max(op_code.BuiltinCode(), op_code.DeprecatedBuiltinCode())
    return max(op_code.builtinCode, op_code.deprecatedBuiltinCode)

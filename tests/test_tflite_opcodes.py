"""`tflite_opcodes.builtin_code`: the real operator of an OperatorCode, in both flatbuffer APIs,
for codes that fit the deprecated int8 field and codes that do not (GELU is 150)."""
from __future__ import annotations

import pytest

from ppocr_convert.tflite_opcodes import builtin_code

pytestmark = pytest.mark.unit


def _object_code(builtin: int, deprecated: int):
    from ai_edge_litert import schema_py_generated as schema
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode = builtin, deprecated
    return code


def _reader_code(builtin: int, deprecated: int):
    """The same OperatorCode packed into a model and read back with the reader API."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema
    model = schema.ModelT()
    model.operatorCodes = [_object_code(builtin, deprecated)]
    b = flatbuffers.Builder(0)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return schema.Model.GetRootAs(b.Output(), 0).OperatorCodes(0)


@pytest.mark.parametrize("make", [_object_code, _reader_code])
def test_the_larger_field_names_the_operator(make):
    from ai_edge_litert import schema_py_generated as schema
    conv, gelu = schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.GELU
    assert builtin_code(make(conv, conv)) == conv              # a current writer: both fields
    assert builtin_code(make(0, conv)) == conv                 # an old writer: only the deprecated one
    # past int8 the deprecated field holds 127 (PLACEHOLDER_FOR_GREATER_OP_CODES): reading it
    # alone would not see GELU
    assert builtin_code(make(gelu, 127)) == gelu

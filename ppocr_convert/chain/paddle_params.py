"""A structural check of `inference.pdiparams` before paddle2onnx reads it.

paddle2onnx aborts (SIGABRT) on a damaged parameters file with a message about
`lod_level` that names neither the file nor the cause. The file is a sequence of
serialised tensors (Paddle's save_combine format, the same for Paddle 2 `.pdmodel` and
Paddle 3 `inference.json` models):

    u32 version (0) | u64 lod_level | per level: u64 nbytes + data
    u32 version (0) | i32 desc_size | TensorDesc protobuf (data_type, dims) | data

Walking the headers finds truncation, garbage and trailing bytes in milliseconds.
"""
from __future__ import annotations

import struct
from pathlib import Path

from ..errors import SourceError

# VarType.Type → bytes per element (paddle/phi/core/framework/framework.proto)
DTYPE_BYTES = {0: 1, 1: 2, 2: 4, 3: 8, 4: 2, 5: 4, 6: 8, 19: 8, 20: 1, 21: 1, 22: 2, 23: 8, 24: 16}
MAX_LOD_LEVEL = 8


class _Damaged(Exception):
    pass


def check_paddle_params(path: Path) -> int:
    """Raise SourceError naming the first problem; return the number of tensors."""
    data = Path(path).read_bytes()
    offset, count = 0, 0
    try:
        while offset < len(data):
            offset = _tensor_end(data, offset, count)
            count += 1
    except _Damaged as e:
        raise SourceError(f"{Path(path).name} is damaged: {e}",
                          hint="the parameters file is truncated or corrupt; re-export or re-download the model") \
            from None
    if count == 0:
        raise SourceError(f"{Path(path).name} holds no tensors", hint="re-export or re-download the model")
    return count


def _unpack(fmt: str, data: bytes, offset: int, what: str, index: int):
    size = struct.calcsize(fmt)
    if offset + size > len(data):
        raise _Damaged(f"the file ends inside tensor #{index} ({what}, at byte {offset} of {len(data)})")
    return struct.unpack_from(fmt, data, offset)[0], offset + size


def _tensor_end(data: bytes, offset: int, index: int) -> int:
    version, offset = _unpack("<I", data, offset, "header", index)
    lod_level, offset = _unpack("<Q", data, offset, "header", index)
    if version != 0 or lod_level > MAX_LOD_LEVEL:
        raise _Damaged(f"tensor #{index} has an invalid header at byte {offset - 12} "
                       f"(version {version}, lod_level {lod_level})")
    for _ in range(lod_level):
        nbytes, offset = _unpack("<Q", data, offset, "lod", index)
        offset += nbytes
    version, offset = _unpack("<I", data, offset, "tensor header", index)
    desc_size, offset = _unpack("<i", data, offset, "tensor header", index)
    if version != 0 or desc_size <= 0 or offset + desc_size > len(data):
        raise _Damaged(f"tensor #{index} has an invalid description at byte {offset - 8}")
    dtype, dims = _tensor_desc(data[offset:offset + desc_size], index)
    offset += desc_size
    numel = 1
    for d in dims:
        numel *= d
    end = offset + numel * DTYPE_BYTES[dtype]
    if end > len(data):
        raise _Damaged(f"the file ends inside tensor #{index}'s data ({end - len(data)} bytes missing)")
    return end


def _tensor_desc(blob: bytes, index: int) -> tuple[int, list[int]]:
    """TensorDesc: field 1 data_type (varint), field 2 dims (int64, packed or not)."""
    i, dtype, dims = 0, None, []
    try:
        while i < len(blob):
            tag, i = _varint(blob, i)
            field, wire = tag >> 3, tag & 7
            if field == 1 and wire == 0:
                dtype, i = _varint(blob, i)
            elif field == 2 and wire == 0:
                v, i = _varint(blob, i)
                dims.append(_signed(v))
            elif field == 2 and wire == 2:
                n, i = _varint(blob, i)
                end = i + n
                while i < end:
                    v, i = _varint(blob, i)
                    dims.append(_signed(v))
            else:
                raise _Damaged(f"tensor #{index}'s description has an unexpected field {field}")
    except IndexError:
        raise _Damaged(f"tensor #{index}'s description is cut short") from None
    if dtype not in DTYPE_BYTES or any(d < 0 for d in dims):
        raise _Damaged(f"tensor #{index}'s description is invalid (data type {dtype}, dims {dims})")
    return dtype, dims


def _varint(blob: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = blob[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80 or shift > 70:
            return result, i


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v

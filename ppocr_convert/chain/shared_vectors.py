"""Write each distinct numeric vector of a TFLite flatbuffer once.

ai-edge-quantizer packs every tensor's quantization parameters on their own: per output
channel one float32 scale and one zero point, stored as int64 (all zero for symmetric
weights and int32 biases; the interpreter requires as many zero points as scales), for
every weight and bias tensor. A det that spreads few weights over many narrow
convolutions carries as many bytes of zero points as of biases (PP-OCRv6 tiny det: the
quantization parameters were 131 kB of a 685 kB all-int8 file, README, INT8).

A flatbuffer table refers to a vector by offset, so any number of tables may refer to
one vector (flatbuffers' own builders share strings this way). Packing the model again
with a builder that writes each distinct (type, bytes) vector once and hands back the
same offset for the next equal one leaves every accessor reading what it read before:
the interpreter computes bit for bit what it did (tests/test_shared_vectors.py), and
the file shrinks by every repeated zero-point vector, shape and constant buffer.
"""
from __future__ import annotations

import flatbuffers
import numpy as np

_TFLITE_FILE_IDENTIFIER = b"TFL3"


class SharingBuilder(flatbuffers.Builder):
    """A flatbuffers Builder whose CreateNumpyVector returns the offset of an equal vector
    it wrote before (same dtype, same bytes) instead of writing it again. Offsets point
    towards the end of the buffer, where earlier vectors lie, so a later table can refer to
    any vector written before it."""

    def __init__(self, initial_size: int = 1024):
        super().__init__(initial_size)
        self._written: dict[tuple[str, bytes], int] = {}
        self.shared_bytes = 0

    def CreateNumpyVector(self, x):  # noqa: N802 (flatbuffers' name)
        key = (np.asarray(x).dtype.str, np.ascontiguousarray(x).tobytes())
        offset = self._written.get(key)
        if offset is not None:
            self.shared_bytes += len(key[1])
            return offset
        offset = self._written[key] = super().CreateNumpyVector(x)
        return offset


def _round_up_16(n: int) -> int:
    return (n + 15) & ~15


def with_shared_vectors(model: bytes) -> tuple[bytes, int]:
    """`model` packed again with every repeated numeric vector written once; returns the
    new bytes and how many bytes were shared. Buffers ai-edge-quantizer stores after the
    flatbuffer (`offset`/`size`, each 16-byte aligned, as it writes them) stay there, each
    distinct one once, at offsets recomputed for the smaller flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils as fbu
    obj = fbu.convert_bytearray_to_object(bytearray(model))
    external = {i: bytes(model[b.offset:b.offset + b.size]) for i, b in enumerate(obj.buffers) if b.offset > 1}
    for i in external:
        # non-default placeholders keep both fields in the packed table, to be set below
        obj.buffers[i].data, obj.buffers[i].offset, obj.buffers[i].size = None, 1, 1
    builder = SharingBuilder(len(model))
    builder.Finish(obj.Pack(builder), file_identifier=_TFLITE_FILE_IDENTIFIER)
    out = bytearray(builder.Output())
    shared = builder.shared_bytes
    placed: dict[bytes, int] = {}
    tail = bytearray()
    base = _round_up_16(len(out))
    for data in external.values():
        if data in placed:
            shared += len(data)
        else:
            placed[data] = base + len(tail)
            tail += data + bytes(_round_up_16(len(data)) - len(data))
    packed = schema.Model.GetRootAs(out)
    for i, data in external.items():
        fbu.update_packed_buffer(packed.Buffers(i), offset=placed[data], size=len(data))
    out += bytes(base - len(out)) + tail
    return (bytes(out), shared) if len(out) < len(model) else (model, 0)

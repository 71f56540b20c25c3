"""Artifact inspection is cached by content: an unchanged artifact is not inspected
again; a changed one, or a damaged cache entry, is."""
from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from ppocr_convert.chain import inspection
from ppocr_convert.chain.stage_cache import StageCache

pytestmark = pytest.mark.unit
VERSIONS = {"onnx": "1", "tensorflow": "2", "ai-edge-litert": "3"}


def _model(path, op="Relu"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = inspection.inspect_file

    def counting(path):
        calls.append(path)
        return real(path)
    monkeypatch.setattr(inspection, "inspect_file", counting)
    return calls


def test_unchanged_artifact_is_inspected_once(tmp_path, counted):
    model = _model(tmp_path / "m.onnx")
    first = inspection.inspect_cached(model, StageCache(tmp_path / "cache"), VERSIONS)
    copy = tmp_path / "elsewhere.onnx"
    copy.write_bytes(model.read_bytes())
    again = inspection.inspect_cached(copy, StageCache(tmp_path / "cache"), VERSIONS)
    assert len(counted) == 1
    assert again.op_histogram == first.op_histogram == {"Relu": 1}
    assert again.path == str(copy)  # the report names the file asked about


def test_changed_artifact_tools_or_damaged_entry_are_inspected_again(tmp_path, counted):
    model = _model(tmp_path / "m.onnx")
    inspection.inspect_cached(model, StageCache(tmp_path / "cache"), VERSIONS)
    _model(model, "Sigmoid")
    assert inspection.inspect_cached(model, StageCache(tmp_path / "cache"), VERSIONS).op_histogram == {"Sigmoid": 1}
    inspection.inspect_cached(model, StageCache(tmp_path / "cache"), {**VERSIONS, "tensorflow": "9"})
    assert len(counted) == 3
    for report in (tmp_path / "cache" / "stages" / "inspect").glob("*/report.json"):
        report.write_text("{truncated")  # a damaged entry: discarded by its digests
    assert inspection.inspect_cached(model, StageCache(tmp_path / "cache"), VERSIONS).op_histogram == {"Sigmoid": 1}
    assert len(counted) == 4


def test_without_a_cache_every_call_inspects(tmp_path, counted):
    model = _model(tmp_path / "m.onnx")
    inspection.inspect_cached(model, None, VERSIONS)
    inspection.inspect_cached(model, StageCache(tmp_path / "cache", enabled=False), VERSIONS)
    assert len(counted) == 2 and not (tmp_path / "cache").exists()

"""Bad input gets one clear line, a hint, a non-zero exit, and nothing half-written."""
from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ppocr_convert.cli import app
from ppocr_convert.config import load_model_config
from ppocr_convert.errors import SourceError
from ppocr_convert.chain.sources import extract_model_archive, package_path

runner = CliRunner()


def run(args, tmp_path, monkeypatch):
    monkeypatch.setenv("PPOCR_CONVERT_CACHE", str(tmp_path / "cache"))
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "dist")] if args and args[0] != "inspect" else args)
    assert "Traceback" not in result.output
    return result


def assert_nothing_written(tmp_path):
    dist = tmp_path / "dist"
    assert not dist.exists() or not any(dist.rglob("*.tflite")) and not any(dist.rglob("*.onnx"))


def test_unknown_model_suggests_close_names(tmp_path, monkeypatch):
    r = run(["PP-OCRv5_mobil_det"], tmp_path, monkeypatch)
    assert r.exit_code == 2
    assert "unknown model 'PP-OCRv5_mobil_det'" in r.output and "PP-OCRv5_mobile_det" in r.output
    assert_nothing_written(tmp_path)


def test_unknown_target(tmp_path, monkeypatch):
    r = run(["PP-OCRv5_mobile_det", "--target", "tflite-int4"], tmp_path, monkeypatch)
    assert r.exit_code == 2 and "unknown target 'tflite-int4'" in r.output


@pytest.mark.parametrize("shape", ["640x640", "1x3x0x640", "1xtx640x640", "1x4x640x640"])
def test_bad_shape(shape, tmp_path, monkeypatch):
    r = run(["PP-OCRv5_mobile_det", "--shape", shape, "--target", "onnx"], tmp_path, monkeypatch)
    assert r.exit_code == 2 and "shape" in r.output
    assert_nothing_written(tmp_path)


def test_model_dir_missing(tmp_path, monkeypatch):
    r = run(["PP-OCRv4_mobile_det", "--model-dir", str(tmp_path / "nope")], tmp_path, monkeypatch)
    assert r.exit_code == 3 and "does not exist" in r.output


def test_model_dir_empty(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    r = run(["PP-OCRv4_mobile_det", "--model-dir", str(tmp_path / "empty")], tmp_path, monkeypatch)
    assert r.exit_code == 3 and "holds no Paddle model" in r.output


@pytest.mark.parametrize("keep", ["inference.pdmodel", "inference.pdiparams"])
@pytest.mark.models
def test_model_dir_with_one_of_two_files(keep, tmp_path, monkeypatch):
    src = package_path(load_model_config("PP-OCRv4_mobile_det").sources[0])
    d = tmp_path / "half"
    d.mkdir()
    shutil.copy(src / keep, d / keep)
    r = run(["PP-OCRv4_mobile_det", "--model-dir", str(d)], tmp_path, monkeypatch)
    assert r.exit_code == 3 and ("but no inference.pdiparams" in r.output or "neither" in r.output)


def test_garbage_json_and_onnx(tmp_path, monkeypatch):
    d = tmp_path / "pir"
    d.mkdir()
    (d / "inference.json").write_text('{"program": ')  # truncated
    (d / "inference.pdiparams").write_bytes(b"\0" * 64)
    r = run(["PP-OCRv5_mobile_det", "--model-dir", str(d)], tmp_path, monkeypatch)
    assert r.exit_code == 3 and "not valid JSON" in r.output
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"this is not protobuf at all" * 10)
    r = run(["PP-OCRv5_mobile_det", "--model-dir", str(bad)], tmp_path, monkeypatch)
    assert r.exit_code == 3 and "not a readable ONNX model" in r.output
    r = run(["inspect", str(bad)], tmp_path, monkeypatch)
    assert r.exit_code == 3 and "not a readable ONNX model" in r.output
    assert_nothing_written(tmp_path)


@pytest.mark.models
def test_truncated_params_are_named_before_paddle2onnx_runs(tmp_path, monkeypatch):
    src = package_path(load_model_config("PP-OCRv4_mobile_det").sources[0])
    d = tmp_path / "truncated"
    shutil.copytree(src, d)
    data = (d / "inference.pdiparams").read_bytes()
    (d / "inference.pdiparams").write_bytes(data[: len(data) // 3])
    r = run(["PP-OCRv4_mobile_det", "--model-dir", str(d), "-t", "onnx"], tmp_path, monkeypatch)
    assert r.exit_code == 3 and "inference.pdiparams is damaged" in r.output
    assert "paddle2onnx" not in r.output
    assert_nothing_written(tmp_path)
    stages = tmp_path / "cache" / "stages"
    assert not stages.exists() or not any(p.name == ".complete" for p in stages.rglob("*"))


def test_no_offline_source_and_download_offline(tmp_path, monkeypatch):
    r = run(["PP-LCNet_x0_25_textline_ori"], tmp_path, monkeypatch)
    assert r.exit_code == 3 and "no offline source" in r.output and "--download" in r.output
    # an unreachable host stands in for "offline": the error names the host and says what to do
    import urllib.request

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    r = run(["PP-LCNet_x0_25_textline_ori", "--download"], tmp_path, monkeypatch)
    assert r.exit_code == 3 and "cannot download" in r.output and "bcebos.com" in r.output
    assert not (tmp_path / "cache" / "models" / "PP-LCNet_x0_25_textline_ori").exists()


def _tar_with(tmp_path, name: str) -> Path:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(name)
        payload = b"x"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


@pytest.mark.parametrize("member", ["/etc/evil", "model/../../evil", "../evil"])
def test_archive_member_outside_is_refused(member, tmp_path):
    with pytest.raises(SourceError, match="points outside the archive"):
        extract_model_archive(_tar_with(tmp_path, member), tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_download_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    import dataclasses
    import urllib.request

    from ppocr_convert.chain import sources
    monkeypatch.setenv("PPOCR_CONVERT_CACHE", str(tmp_path / "cache"))
    archive = _tar_with(tmp_path, "m/inference.pdmodel")
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: open(archive, "rb"))
    config = load_model_config("PP-LCNet_x0_25_textline_ori")
    spec = dataclasses.replace(config.sources[0], sha256="0" * 64)
    with pytest.raises(SourceError, match="sha256"):
        sources.download_official(config, spec)
    assert not sources.cached_official_dir(config).exists()


def test_failing_pass_prints_a_short_line_and_keeps_the_full_text_in_a_log(tmp_path, monkeypatch):
    """onnx's shape-inference errors list every node on one line (thousands of characters):
    the terminal gets a few hundred, the log it names gets all of it."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    # 60 Concats of a Reshape (its target read from x's shape) with a slice one column
    # narrower: onnxruntime loads the dynamic model, but once the input is pinned, data
    # propagation knows both widths and every Concat is an inference error
    nodes = [helper.make_node("Shape", ["x"], ["s"])]
    inits = [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in
             {"zero": [0], "three": [3], "seven": [31], "four": [4]}.items()]
    nodes.append(helper.make_node("Slice", ["x", "zero", "seven", "three"], ["narrow"]))
    for i in range(60):
        nodes.append(helper.make_node("Identity", ["s"], [f"t{i}"]))
        nodes.append(helper.make_node("Reshape", ["x", f"t{i}"], [f"r{i}"]))
        nodes.append(helper.make_node("Concat", [f"r{i}", "narrow"], [f"y{i}"], axis=1, name=f"bad_concat_{i}"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
                              [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None) for i in range(60)],
                              inits)
    path = tmp_path / "broken.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), str(path))
    r = run(["PP-OCRv5_mobile_det", "--model-dir", str(path), "-t", "onnx", "--passes", "pin_shapes",
             "--shape", "1x3x32x32"], tmp_path, monkeypatch)
    assert r.exit_code == 4, r.output
    error_line = next(line for line in r.output.splitlines() if line.startswith("error:"))
    assert error_line.startswith("error: pin_shapes:") and len(error_line) <= 320, error_line
    log = Path(r.output.split("full text in ")[1].split()[0].rstrip("."))
    full = log.read_text()
    assert len(full) > 2000 and "bad_concat_59" in full
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("shape, fit", [("1x3x33x640", "1x3x32x640"), ("1x3x640x650", "1x3x640x640")])
def test_det_shape_not_a_multiple_of_32_names_the_cause(shape, fit, tmp_path, monkeypatch):
    r = run(["PP-OCRv5_mobile_det", "--shape", shape, "-t", "onnx"], tmp_path, monkeypatch)
    assert r.exit_code == 2
    assert "height and width must be multiples of 32" in r.output and fit in r.output
    assert_nothing_written(tmp_path)


def _external_data_model(directory: Path, location: str) -> Path:
    """A one-Add ONNX whose constant keeps its data in an external file at `location`."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.arange(4096, dtype=np.float32).reshape(1, 4096), "w")
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4096])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4096])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(directory / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="w.bin", size_threshold=0)
    if location != "w.bin":  # point the location elsewhere, and put the data there
        target = (directory / location).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(directory / "w.bin", target)
        m = onnx.load(str(directory / "m.onnx"), load_external_data=False)
        for entry in m.graph.initializer[0].external_data:
            if entry.key == "location":
                entry.value = location
        onnx.save(m, str(directory / "m.onnx"))
    return directory / "m.onnx"


def test_onnx_with_external_data_outside_its_directory_is_named(tmp_path, monkeypatch):
    model = _external_data_model(tmp_path / "model", "../elsewhere/w.bin")
    r = run(["PP-OCRv6_tiny_det", "--model-dir", str(model), "-t", "onnx-raw"], tmp_path, monkeypatch)
    assert r.exit_code == 3
    assert "keeps tensor data in '../elsewhere/w.bin', outside its directory" in r.output
    assert "--opset" not in r.output
    assert_nothing_written(tmp_path)


def test_onnx_with_external_data_beside_it_becomes_one_file(tmp_path, monkeypatch):
    import onnx
    model = _external_data_model(tmp_path / "model", "w.bin")
    r = run(["PP-OCRv6_tiny_det", "--model-dir", str(model), "-t", "onnx-raw"], tmp_path, monkeypatch)
    assert r.exit_code == 0, r.output
    [out] = (tmp_path / "dist" / "PP-OCRv6_tiny_det" / "onnx-raw").glob("*.onnx")
    assert not any(t.data_location for t in onnx.load(str(out), load_external_data=False).graph.initializer)
    assert not list(out.parent.glob("*.bin"))

"""The remote cache: read through and written back by the same keys, verified on
download, never required (an unreachable remote is one warning line)."""
from __future__ import annotations

import http.server
import logging
import threading
from pathlib import Path

import pytest

from ppocr_convert.chain.remote_cache import RemoteCache, pack_entry
from ppocr_convert.chain.stage_cache import StageCache, entry_problem


def _builder(calls: list, payload: bytes = b"tflite bytes" * 500):
    def build(tmp: Path) -> None:
        calls.append(1)
        (tmp / "model_fp16.tflite").write_bytes(payload)
        (tmp / "stage.json").write_text('{"seconds": 61.0}')
    return build


class _Store(http.server.BaseHTTPRequestHandler):
    """GET / HEAD / PUT over an in-memory dict: what a bucket behind HTTP offers."""
    objects: dict[str, bytes] = {}

    def log_message(self, *args):  # keep pytest's output clean
        pass

    def do_HEAD(self):
        self._answer(head=True)

    def do_GET(self):
        self._answer(head=False)

    def do_PUT(self):
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding") == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            data = self.rfile.read(n)
        self.objects[self.path] = data
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _answer(self, head: bool):
        data = self.objects.get(self.path)
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)


@pytest.fixture
def http_remote():
    _Store.objects = {}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cache", _Store.objects
    server.shutdown()


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["file", "http"])
def test_a_second_runner_reads_what_the_first_wrote(tmp_path, http_remote, kind):
    url = f"file://{tmp_path / 'remote'}" if kind == "file" else http_remote[0]
    first_calls, second_calls = [], []
    runner1 = StageCache(tmp_path / "runner1", remote=RemoteCache(url))
    built, hit = runner1.build("tflite", "k1", _builder(first_calls), label="PP-OCRv5_mobile_det")
    assert not hit and runner1.remote.pushed == 1

    runner2 = StageCache(tmp_path / "runner2", remote=RemoteCache(url))  # empty local cache
    fetched, hit = runner2.build("tflite", "k1", _builder(second_calls))
    assert hit and second_calls == [] and runner2.remote.fetched == 1
    assert entry_problem(fetched) is None
    assert {p.name: p.read_bytes() for p in fetched.iterdir()} == {p.name: p.read_bytes() for p in built.iterdir()}
    # now local: a third build touches neither the remote nor the builder
    assert runner2.build("tflite", "k1", _builder(second_calls)) == (fetched, True)
    assert runner2.remote.fetched == 1


@pytest.mark.unit
@pytest.mark.parametrize("damage", ["flip", "truncate", "no-marker"])
def test_a_damaged_remote_object_is_a_miss_and_is_built(tmp_path, caplog, damage):
    remote = tmp_path / "remote"
    runner1 = StageCache(tmp_path / "runner1", remote=RemoteCache(f"file://{remote}"))
    entry, _ = runner1.build("onnx", "k1", _builder([]))
    obj = remote / "stages" / "onnx" / "k1.tar"
    data = bytearray(obj.read_bytes())
    if damage == "flip":  # inside the model file's data, past the tar headers
        data[data.index(b"tflite bytes") + 7] ^= 0x20
    elif damage == "truncate":
        data = data[: len(data) // 3]
    else:
        (entry / ".complete").rename(tmp_path / "marker")
        data = bytearray(pack_entry(entry))
    obj.write_bytes(bytes(data))

    calls = []
    runner2 = StageCache(tmp_path / "runner2", remote=RemoteCache(f"file://{remote}"))
    with caplog.at_level(logging.WARNING, logger="ppocr_convert"):
        built, hit = runner2.build("onnx", "k1", _builder(calls))
    assert not hit and calls == [1] and entry_problem(built) is None
    assert any("not a usable archive" in r.getMessage() for r in caplog.records)


@pytest.mark.unit
def test_an_unreachable_remote_is_one_warning_not_a_failure(tmp_path, caplog):
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = RemoteCache(f"http://127.0.0.1:{port}/cache", timeout=5)
    cache, calls = StageCache(tmp_path, remote=remote), []
    with caplog.at_level(logging.WARNING, logger="ppocr_convert"):
        cache.build("onnx", "a", _builder(calls))
        cache.build("onnx", "b", _builder(calls))
    assert calls == [1, 1]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "is not usable" in warnings[0] and "local cache only" in warnings[0]


@pytest.mark.unit
def test_an_unknown_protocol_is_one_warning(tmp_path, caplog):
    cache, calls = StageCache(tmp_path, remote=RemoteCache("nosuchproto://bucket/x")), []
    with caplog.at_level(logging.WARNING, logger="ppocr_convert"):
        cache.build("onnx", "a", _builder(calls))
    assert calls == [1] and len(caplog.records) == 1


@pytest.mark.models
def test_a_conversion_on_a_fresh_runner_comes_from_the_remote_byte_identical(tmp_path):
    from ppocr_convert.chain.conversion import ConvertOptions, convert
    from ppocr_convert.config import load_model_config
    config = load_model_config("PP-OCRv6_tiny_det")
    url = f"file://{tmp_path / 'remote'}"

    def run(runner: str):
        return convert(config, ConvertOptions(targets=["onnx-raw", "onnx"], out_dir=tmp_path / runner / "dist",
                                              cache_dir=tmp_path / runner / "cache", remote_cache=url))
    cold, warm = run("runner1"), run("runner2")
    assert not any(r.cached for r in cold.stages if r.stage != "publish")
    assert all(r.cached for r in warm.stages if r.stage != "publish")
    for target, manifest in cold.manifests.items():
        assert warm.manifests[target] == manifest
        assert (warm.artifact_dirs[target] / manifest["file"]).read_bytes() == \
            (cold.artifact_dirs[target] / manifest["file"]).read_bytes()

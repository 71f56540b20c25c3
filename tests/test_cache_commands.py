"""`ppocr-convert cache ls | verify | prune | clear`, on a cache built by StageCache."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ppocr_convert.chain.cache_admin import list_entries, parse_age, parse_size, prune
from ppocr_convert.chain.stage_cache import COMPLETE, StageCache
from ppocr_convert.cli import app

pytestmark = pytest.mark.unit
runner = CliRunner()

def make_cache(root: Path, n: int = 12) -> list[Path]:
    cache = StageCache(root)
    entries = []
    for i in range(n):
        def build(tmp: Path, i=i) -> None:
            (tmp / "model.onnx").write_bytes(bytes([i]) * (1000 * (i + 1)))
            (tmp / "stage.json").write_text(json.dumps({"i": i}))
        entry, _ = cache.build(["onnx-raw", "onnx", "tflite"][i % 3], f"key{i:02d}", build, label=f"model-{i % 4}")
        os.utime(entry / COMPLETE, (1_000_000 + i * 1000, 1_000_000 + i * 1000))  # entry i used at t0 + i
        entries.append(entry)
    return entries

def cli(*args: str) -> tuple[int, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.output

def test_ls_lists_every_entry_with_stage_model_size_and_total(tmp_path):
    make_cache(tmp_path)
    code, text = cli("cache", "ls", "--cache-dir", str(tmp_path), "--json")
    data = json.loads(text)
    assert code == 0 and len(data["entries"]) == 12
    stages = {(e["stage"], e["key"]): e for e in data["entries"]}
    assert stages[("onnx", "key01")]["label"] == "model-1" and stages[("onnx", "key01")]["bytes"] > 2000
    assert data["total_bytes"] == sum(e["bytes"] for e in data["entries"])
    code, text = cli("cache", "ls", "--cache-dir", str(tmp_path))
    assert code == 0 and "12 entries" in text and "model-1" in text

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_verify_finds_every_damaged_entry_and_fix_removes_exactly_those(tmp_path, seed):
    entries = make_cache(tmp_path)
    rng = random.Random(seed)
    damaged = set(rng.sample(range(len(entries)), 4))
    for i in damaged:
        victim = entries[i] / rng.choice(["model.onnx", "stage.json"])
        data = bytearray(victim.read_bytes())
        how = rng.choice(["truncate", "flip", "delete"])
        if how == "truncate":
            victim.write_bytes(bytes(data[: rng.randrange(len(data))]))
        elif how == "flip":
            pos = rng.randrange(len(data))
            data[pos] ^= 1 << rng.randrange(8)
            victim.write_bytes(bytes(data))
        else:
            victim.unlink()
    code, text = cli("cache", "verify", "--cache-dir", str(tmp_path), "--json")
    assert code == 1  # damage left in place is a failure
    found = {e["key"] for e in json.loads(text)["damaged"]}
    assert found == {f"key{i:02d}" for i in damaged}
    code, _ = cli("cache", "verify", "--cache-dir", str(tmp_path), "--fix")
    assert code == 0
    left = {e.key for e in list_entries(tmp_path) if e.kind == "stages"}
    assert left == {f"key{i:02d}" for i in range(len(entries))} - found
    assert cli("cache", "verify", "--cache-dir", str(tmp_path))[0] == 0

def test_prune_by_size_drops_least_recently_used_first(tmp_path):
    make_cache(tmp_path)
    stage_entries = {e.key: e for e in list_entries(tmp_path) if e.kind == "stages"}
    # a hit refreshes the last use: key00 (oldest) becomes the newest
    assert StageCache(tmp_path).get("onnx-raw", "key00") is not None
    keep = sum(stage_entries[f"key{i:02d}"].bytes for i in (0, 10, 11)) + 100
    removed = {e.key for e in prune(tmp_path, max_size=keep)}
    left = {e.key for e in list_entries(tmp_path)}
    assert "key00" in left and {"key10", "key11"} <= left
    assert {"key01", "key02", "key09"} <= removed
    assert sum(e.bytes for e in list_entries(tmp_path)) <= keep

def test_prune_by_age_and_clear(tmp_path):
    make_cache(tmp_path)
    now = 1_000_000 + 11 * 1000 + 1
    removed = prune(tmp_path, older_than_s=5000, now=now)  # used more than 5000 s before `now`
    assert {e.key for e in removed if e.kind == "stages"} == {f"key{i:02d}" for i in range(7)}
    code, text = cli("cache", "clear", "--cache-dir", str(tmp_path), "--json")
    assert code == 0 and json.loads(text)["removed"] == 12 - 7
    assert list_entries(tmp_path) == []

def test_bad_prune_arguments_are_one_line_errors(tmp_path):
    code, text = cli("cache", "prune", "--cache-dir", str(tmp_path), "--max-size", "lots")
    assert code == 2 and "cannot read size 'lots'" in text and "Traceback" not in text
    code, text = cli("cache", "prune", "--cache-dir", str(tmp_path))
    assert code != 0 and "--max-size" in text

def test_size_and_age_parsing():
    assert parse_size("5G") == 5 * 1024 ** 3 and parse_size("500M") == 500 * 1024 ** 2
    assert parse_size("1.5GiB") == int(1.5 * 1024 ** 3) and parse_size("1024") == 1024
    assert parse_age("30d") == 30 * 86400 and parse_age("12h") == 43200

def make_image_results(root: Path, n: int = 3) -> list[Path]:
    """Per-image parity entries as a parity run stores them (parity/result_store.py)."""
    from ppocr_convert.parity.result_store import RESULTS_CACHE_DIR, ImageResult, ResultStore
    store = ResultStore(root / RESULTS_CACHE_DIR)
    dirs = []
    for i in range(n):
        key = f"{i:02d}" + "ab" * 31
        store.put(key, ImageResult(i, f"photo{i}.jpg", entry={"stages": {}}, heatmaps={"onnx": b"png" * 100}))
        dirs.append(root / RESULTS_CACHE_DIR / key[:2] / key)
        os.utime(dirs[-1] / "result.json", (1_000_000 + i * 1000, 1_000_000 + i * 1000))
    return dirs

def test_per_image_parity_results_are_listed_verified_pruned_and_cleared(tmp_path):
    make_cache(tmp_path, n=3)
    images = make_image_results(tmp_path)
    code, text = cli("cache", "ls", "--cache-dir", str(tmp_path), "--json")
    listed = [e for e in json.loads(text)["entries"] if e["kind"] == "parity-images"]
    assert code == 0 and sorted(e["label"] for e in listed) == ["photo0.jpg", "photo1.jpg", "photo2.jpg"]
    assert all(e["bytes"] >= 300 for e in listed)
    code, text = cli("cache", "ls", "--cache-dir", str(tmp_path))  # thousands of images: one row
    assert code == 0 and "3 image results" in text and "6 entries" in text and "photo1.jpg" not in text
    # damage: an unreadable result, a heat map gone; the third is whole
    (images[0] / "result.json").write_text("{not json")
    (images[1] / "onnx.png").unlink()
    code, text = cli("cache", "verify", "--cache-dir", str(tmp_path), "--json")
    damaged = {e["label"] or e["key"][:2]: e["problem"] for e in json.loads(text)["damaged"]}
    assert code == 1 and set(damaged) == {"00", "photo1.jpg"}, damaged
    assert "unreadable" in damaged["00"] and "heat map missing: onnx" in damaged["photo1.jpg"]
    assert cli("cache", "verify", "--cache-dir", str(tmp_path), "--fix")[0] == 0
    assert [e.label for e in list_entries(tmp_path) if e.kind == "parity-images"] == ["photo2.jpg"]
    # prune by age takes image results like any entry; clear takes the rest
    make_image_results(tmp_path)
    removed = prune(tmp_path, older_than_s=1500, now=1_000_000 + 2000 + 1)  # photo0 2001 s unused, photo1 1001
    assert [e.label for e in removed if e.kind == "parity-images"] == ["photo0.jpg"]
    cli("cache", "clear", "--cache-dir", str(tmp_path))
    assert list_entries(tmp_path) == [] and not (tmp_path / "parity-images").exists()

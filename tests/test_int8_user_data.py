"""The user's INT8 data (`--calibration-images`, `--gate-pages`): every bad input is one
line naming the file, before any stage runs; good input is read as the stage reads it,
and what the gate judges (labels and the pages they name) decides its digest."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from ppocr_convert.chain import calibration as cal
from ppocr_convert.chain.conversion import Conversion, ConvertOptions
from ppocr_convert.chain.int8_inputs import calibration_images, gate_pages, user_int8_data
from ppocr_convert.cli import app
from ppocr_convert.config import load_model_config
from ppocr_convert.errors import ConfigError, SourceError

BOX = [[4, 4], [60, 4], [60, 20], [4, 20]]


def photo(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    # imencode + write_bytes: cv2.imwrite crashes on a name that is not valid UTF-8
    ok, data = cv2.imencode(path.suffix, rng.integers(0, 255, (32, 64, 3), dtype=np.uint8))
    path.write_bytes(data.tobytes())
    return path


def labelled(directory: Path, labels: dict | None = None) -> Path:
    directory.mkdir(exist_ok=True)
    labels = labels if labels is not None else {"a.png": [{"text": "abc", "box": BOX}], "b.jpg": []}
    for name in labels:
        photo(directory / name, seed=len(name))
    (directory / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    return directory


def test_calibration_images_lists_every_decodable_image_by_name(tmp_path):
    for name in ("b.JPEG", "a.png", "c.webp"):
        photo(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.name for p in calibration_images(tmp_path)] == ["a.png", "b.JPEG", "c.webp"]


@pytest.mark.parametrize("case", ["missing", "file", "empty", "corrupt", "zero-bytes"])
def test_bad_calibration_directory_is_one_line_naming_it(tmp_path, case):
    d = tmp_path / "photos"
    if case == "file":
        d.write_text("x")
    elif case != "missing":
        d.mkdir()
    if case == "corrupt":
        photo(d / "good.png")
        (d / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"not a jpeg" * 10)
    if case == "zero-bytes":
        (d / "empty.png").write_bytes(b"")
    with pytest.raises(SourceError) as e:
        calibration_images(d)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("--calibration-images") and e.value.hint
    assert {"corrupt": "broken.jpg", "zero-bytes": "empty.png"}.get(case, "photos") in msg


def test_gate_pages_accepts_an_evalset_style_directory(tmp_path):
    d = labelled(tmp_path / "gate")
    assert gate_pages(d) == d


@pytest.mark.parametrize("case, expect", [
    ("no labels", "no labels.json"),
    ("not json", "cannot read labels"),
    ("no box", "needs 'text' and a 4-point 'box'"),
    ("missing page", "no such image file"),
    ("folder in name", "is not a file name"),
    ("no lines", "no labelled lines"),
    ("unreadable page", "not a readable image"),
    ("flat box", "has no area"),
    ("point box", "has no area"),
    ("huge box", "px on a 64x32 page"),
    ("NaN corner", "not a finite number"),
    ("text corner", "not a finite number"),
    ("boolean corner", "not a finite number"),
])
def test_bad_gate_pages_are_one_line_naming_the_cause(tmp_path, case, expect):
    d = labelled(tmp_path / "gate")
    labels_path = d / "labels.json"
    if case == "no labels":
        labels_path.unlink()
    elif case == "not json":
        labels_path.write_text("{oops")
    elif case == "no box":
        labels_path.write_text(json.dumps({"a.png": [{"text": "abc"}]}))
    elif case == "missing page":
        (d / "a.png").unlink()
    elif case == "folder in name":
        labels_path.write_text(json.dumps({"../a.png": [{"text": "abc", "box": BOX}]}))
    elif case == "no lines":
        labels_path.write_text(json.dumps({"a.png": [], "b.jpg": []}))
    elif case == "unreadable page":
        (d / "a.png").write_text("text, not pixels")
    else:   # a box the gate could not cut (or would cut a gigabyte from); NaN is valid JSON to Python
        box = {"flat box": [[4, 4], [60, 4], [60, 4], [4, 4]], "point box": [[9, 9]] * 4,
               "huge box": [[0, 0], [100000, 0], [100000, 20], [0, 20]],
               "NaN corner": [[4, 4], [60, 4], [60, float("nan")], [4, 20]],
               "text corner": [["a", "b"], [60, 4], [60, 20], [4, 20]],
               "boolean corner": [[True, 4], [60, 4], [60, 20], [4, 20]]}[case]
        labels_path.write_text(json.dumps({"a.png": [{"text": "abc", "box": BOX}, {"text": "x", "box": box}]}))
    with pytest.raises(SourceError) as e:
        gate_pages(d)
    assert expect in str(e.value) and "\n" not in str(e.value) and e.value.hint


def test_user_data_without_the_int8_target_is_refused(tmp_path):
    photo(tmp_path / "a.png")
    with pytest.raises(ConfigError, match="only apply to the tflite-int8 target"):
        user_int8_data(tmp_path, None, ["tflite-fp32"])
    empty = user_int8_data(None, None, ["tflite-fp32"])
    assert empty.calibration_images == [] and empty.gate_pages is None


def test_a_conversion_checks_the_user_data_before_any_stage(tmp_path):
    """Conversion() reads nothing else yet: a broken photo fails it at once."""
    d = tmp_path / "photos"
    d.mkdir()
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    options = ConvertOptions(targets=["tflite-int8"], out_dir=tmp_path / "dist", cache_dir=tmp_path / "cache",
                             calibration_images=d)
    with pytest.raises(SourceError, match="broken.png"):
        Conversion(load_model_config("ch_ppocr_mobile_v2.0_cls"), options)
    assert not (tmp_path / "dist").exists() and not (tmp_path / "cache").exists()


def test_cli_renders_bad_user_data_as_one_line_and_exits_non_zero(tmp_path, monkeypatch):
    monkeypatch.setenv("PPOCR_CONVERT_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    r = runner.invoke(app, ["ch_ppocr_mobile_v2.0_cls", "--target", "tflite-int8", "--gate-pages",
                            str(tmp_path / "nowhere"), "--out", str(tmp_path / "dist")])
    assert r.exit_code == 3 and "--gate-pages" in r.output and "not a directory" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "dist").exists()
    photo(tmp_path / "a.png")
    r = runner.invoke(app, ["ch_ppocr_mobile_v2.0_cls", "--target", "tflite-fp16", "--calibration-images",
                            str(tmp_path), "--out", str(tmp_path / "dist")])
    assert r.exit_code == 2 and "only apply to the tflite-int8 target" in r.output


def test_gate_digest_follows_labels_and_labelled_pages_only(tmp_path):
    d = labelled(tmp_path / "gate")
    before = cal.gate_digest(d)
    photo(d / "unlabelled.png", seed=9)           # a file the gate never reads
    assert cal.gate_digest(d) == before
    photo(d / "a.png", seed=7)                    # a page it reads
    changed_page = cal.gate_digest(d)
    assert changed_page != before
    labels = json.loads((d / "labels.json").read_text())
    labels["a.png"][0]["text"] = "abd"            # its ground truth
    (d / "labels.json").write_text(json.dumps(labels))
    assert cal.gate_digest(d) not in (before, changed_page)


def test_parity_with_bad_user_data_fails_before_converting_and_leaves_no_run_dir(tmp_path, monkeypatch, images):
    """parity takes the same flags (it measures the int8 file convert built with them); a bad
    directory fails at once, and the run's work dir goes with it."""
    monkeypatch.setenv("PPOCR_CONVERT_CACHE", str(tmp_path / "cache"))
    r = CliRunner().invoke(app, ["parity", "PP-OCRv5_mobile", "--images", str(images[0].parent), "-t", "tflite-int8",
                                 "--gate-pages", str(tmp_path / "nowhere"), "--out", str(tmp_path / "parity")])
    assert r.exit_code == 3 and "--gate-pages" in r.output and "labelled pages" in r.output
    assert not (tmp_path / "parity").exists() and not (tmp_path / ".parity-work").exists()


def test_a_photo_name_that_is_not_utf8_is_read_and_digested(tmp_path):
    """Linux file names are bytes: a Latin-1 name decodes to a surrogate in Python."""
    import os
    name = os.fsdecode(b"caf\xe9.png")
    photo(tmp_path / name)
    (path,) = calibration_images(tmp_path)
    digest = cal.files_digest([path])
    photo(tmp_path / name, seed=1)
    assert len(digest) == 16 and cal.files_digest([path]) != digest


def test_release_with_bad_user_data_fails_at_once_and_publishes_nothing(tmp_path, images):
    from ppocr_convert.release import release
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "manifest.json").write_text("{}")   # the previous release, left as it was
    d = labelled(tmp_path / "gate", {"a.png": [{"text": "abc", "box": [[4, 4], [60, 4], [60, 4], [4, 4]]}]})
    with pytest.raises(SourceError, match="has no area"):
        release(dist, images[0].parent, models=["ch_ppocr_mobile_v2.0_cls"], targets=["tflite-int8"],
                cache_dir=tmp_path / "cache", gate_pages=d)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist", "gate"]
    assert [p.name for p in dist.iterdir()] == ["manifest.json"] and (dist / "manifest.json").read_text() == "{}"

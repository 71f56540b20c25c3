"""Parity at scale: the per-image result store, resume after an interruption, content keys,
the report of a large set, and identical per-image results for any number of workers and
any engine (issue 14)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ppocr_convert.parity import harness
from ppocr_convert.parity.image_worker import ImageTask, StageModels
from ppocr_convert.parity.metrics import compare_lines
from ppocr_convert.parity.pipelines import load_pipeline
from ppocr_convert.parity.records import from_jsonable, to_jsonable
from ppocr_convert.parity.report_schema import (
    DetTensorStats,
    ImageEntry,
    ImageReference,
    LineComparison,
    SameInputImage,
    StageImageResult,
)
from ppocr_convert.parity.result_store import (
    ImageResult,
    ResultStore,
    ResultsWriter,
    image_key,
    read_results,
    without_timings,
)

CALIBRATION = Path(__file__).resolve().parents[1] / "ppocr_convert" / "data" / "calibration"


# ---------------------------------------------------------------- the store

def _entry(n_lines: int, exact: bool = True, seconds: float = 0.1) -> dict:
    ref = [{"box": [[0, 10 * i], [50, 10 * i], [50, 10 * i + 8], [0, 10 * i + 8]], "text": f"line {i}",
            "det_score": 0.9, "confidence": 0.9} for i in range(n_lines)]
    cand = ref if exact else [dict(line, text=line["text"] + "x") for line in ref]
    cmp = from_jsonable(LineComparison, compare_lines(ref, cand))
    stats = DetTensorStats(0.0, 0.0, 0.0, 0.0, 1.0, 1.0)
    same = SameInputImage(stats, None, n_lines, n_lines, [])
    entry = ImageEntry([100, 60], {"onnx": StageImageResult(same, cand, [64, 64], cmp, seconds=seconds)},
                       ImageReference(ref, [64, 64]))
    return to_jsonable(entry)


def test_store_round_trip_is_atomic_and_a_damaged_entry_is_a_miss(tmp_path):
    store = ResultStore(tmp_path / "store")
    key = image_key("a" * 64, "b" * 64, "c" * 64, "d" * 16)
    assert store.get(key) is None and not store.has(key)
    store.put(key, ImageResult(3, "x.jpg", entry=_entry(2), heatmaps={"onnx": b"\x89PNG fake"}))
    got = store.get(key, with_heatmaps=True)
    assert got is not None and got.index == 3 and got.image == "x.jpg" and got.heatmaps == {"onnx": b"\x89PNG fake"}
    assert store.heatmap_path(key, "onnx").read_bytes() == b"\x89PNG fake"
    # rewritten in place (--no-cache): the new one wins, no temp or old dirs are left behind
    store.put(key, ImageResult(3, "x.jpg", skipped="x.jpg: unreadable"))
    assert store.get(key).skipped == "x.jpg: unreadable"
    assert [p.name for p in (tmp_path / "store" / key[:2]).iterdir()] == [key]
    # a truncated result.json is a miss (recomputed), never an exception
    (tmp_path / "store" / key[:2] / key / "result.json").write_text('{"index": 3, "ima')
    assert store.get(key) is None


def test_results_lines_stream_back_and_timings_are_not_part_of_identity(tmp_path):
    path = tmp_path / "r.jsonl"
    with ResultsWriter(path) as w:
        w.write(ImageResult(0, "a.jpg", entry=_entry(1, seconds=0.5)))
        w.write(ImageResult(1, "b.jpg", skipped="b.jpg: file is empty"))
    lines = list(read_results(path))
    assert [line["image"] for line in lines] == ["a.jpg", "b.jpg"] and lines[1] == {"image": "b.jpg",
                                                                                    "skipped": "b.jpg: file is empty"}
    other = ImageResult(0, "a.jpg", entry=_entry(1, seconds=9.0)).line()
    assert lines[0] != other and without_timings(lines[0]) == without_timings(other)


def test_key_changes_with_any_part_and_only_then():
    base = ("1" * 64, "2" * 64, "3" * 64, "4" * 16)
    assert image_key(*base) == image_key(*base)
    for i in range(4):  # another image, artifact, recipe or harness code: another key
        changed = list(base)
        changed[i] = "f" + changed[i][1:]
        assert image_key(*changed) != image_key(*base)


def test_image_keys_follow_artifact_bytes_and_code_digest(tmp_path, monkeypatch):
    """Counter-examples: one byte of one artifact, or the harness code's digest, changes every
    image's key; the same inputs give the same keys."""
    from ppocr_convert.chain import code_digest
    from ppocr_convert.parity.image_worker import WorkSpec
    det, rec, img = tmp_path / "det.onnx", tmp_path / "rec.onnx", tmp_path / "a.jpg"
    for p, data in ((det, b"det"), (rec, b"rec"), (img, b"img")):
        p.write_bytes(data)
    pipe = load_pipeline("PP-OCRv5_mobile")
    spec = WorkSpec(pipe, {"paddle": StageModels("paddle", det, rec), "onnx": StageModels("onnx", det, rec)},
                    ["onnx"], None)
    first = harness.image_keys(spec, [img], None)
    assert harness.image_keys(spec, [img], None) == first
    rec.write_bytes(b"reC")
    assert harness.image_keys(spec, [img], None) != first
    rec.write_bytes(b"rec")
    assert harness.image_keys(spec, [img], None) == first
    assert harness.image_keys(spec, [img], {"a.jpg": [{"text": "x", "box": [[0, 0]] * 4}]}) != first  # labels
    monkeypatch.setattr(code_digest, "code_digest", lambda modules: "edited-harness")
    assert harness.image_keys(spec, [img], None) != first


# ---------------------------------------------------------------- resume, with a counting fake worker

class FakeWorker:
    """Stands in for ImageWorker (no models): counts the images it computes; `fail_after`
    raises KeyboardInterrupt (a Ctrl-C) when that many have been computed."""
    computed: list[str] = []
    fail_after: int | None = None

    def __init__(self, spec):
        self.spec = spec

    def process(self, task: ImageTask) -> ImageResult:
        if FakeWorker.fail_after is not None and len(FakeWorker.computed) >= FakeWorker.fail_after:
            raise KeyboardInterrupt
        FakeWorker.computed.append(task.path.name)
        n = int(task.path.stem[1:].split("-")[0])
        return ImageResult(task.index, task.path.name, entry=_entry(1 + n % 3, exact=n % 2 == 0),
                           heatmaps={"onnx": b"png"})

    def process_chunk(self, tasks: list[ImageTask]) -> list[ImageResult]:
        return [self.process(t) for t in tasks]



@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    from ppocr_convert.parity import engine
    monkeypatch.setattr(engine, "ImageWorker", FakeWorker)
    FakeWorker.computed, FakeWorker.fail_after = [], None
    images = []
    for i in range(6):
        images.append(tmp_path / "images" / f"i{i}.jpg")
        images[-1].parent.mkdir(exist_ok=True)
        images[-1].write_bytes(f"image {i}".encode())
    for name in ("det.onnx", "rec.onnx"):
        (tmp_path / name).write_bytes(name.encode())
    models = {s: StageModels(s, tmp_path / "det.onnx", tmp_path / "rec.onnx") for s in ("paddle", "onnx")}
    pipe = load_pipeline("PP-OCRv5_mobile")

    def run(**kw):
        return harness.run_parity(pipe, images, ["onnx"], tmp_path / "work", stage_models=models,
                                  with_strategies=False, **kw)
    return run, images


def test_an_interrupted_run_resumes_with_only_the_missing_images(fake_run, tmp_path):
    run, images = fake_run
    cache = tmp_path / "result-cache"
    FakeWorker.fail_after = 4
    with pytest.raises(KeyboardInterrupt):
        run(results_cache=cache)
    assert FakeWorker.computed == ["i0.jpg", "i1.jpg", "i2.jpg", "i3.jpg"]
    assert sum(1 for _ in cache.rglob("result.json")) == 4
    assert not [p for p in cache.rglob("*") if ".tmp-" in p.name], "no half-written entry"

    FakeWorker.computed, FakeWorker.fail_after = [], None
    resumed = run(results_cache=cache)
    assert FakeWorker.computed == ["i4.jpg", "i5.jpg"], "only what the interrupted run did not finish"
    assert (resumed.computed, resumed.reused) == (2, 4)

    FakeWorker.computed = []
    again = run(results_cache=cache)
    assert FakeWorker.computed == [] and again.reused == 6
    FakeWorker.computed = []
    refreshed = run(results_cache=cache, refresh=True)  # --no-cache: everything, entries rewritten
    assert FakeWorker.computed == [p.name for p in images] and refreshed.computed == 6
    # every way of getting there gives the same report and the same lines
    assert resumed.report == again.report == refreshed.report
    assert list(read_results(resumed.results_path)) == list(read_results(refreshed.results_path))


def test_a_copy_of_a_photo_under_another_name_is_reported_under_its_own_name(fake_run, tmp_path):
    run, images = fake_run
    copy = images[0].with_name("i0-copy.jpg")
    copy.write_bytes(images[0].read_bytes())
    images.append(copy)
    result = run()
    assert result.result.images[-2:] == ["i5.jpg", "i0-copy.jpg"]
    assert [line["image"] for line in read_results(result.results_path)][-1] == "i0-copy.jpg"


def test_report_is_the_same_whatever_order_results_arrive_in(fake_run, monkeypatch):
    """Workers finish out of order: the report and results.jsonl are still in image order."""
    from ppocr_convert.parity import engine
    run, images = fake_run
    in_order = run()
    real_run = engine.LocalEngine.run

    def reversed_run(self, spec, tasks):
        return reversed(list(real_run(self, spec, tasks)))
    monkeypatch.setattr(engine.LocalEngine, "run", reversed_run)
    shuffled = run()
    assert shuffled.report == in_order.report
    assert [line["image"] for line in read_results(shuffled.results_path)] == [p.name for p in images]
    assert list(read_results(shuffled.results_path)) == list(read_results(in_order.results_path))


def test_a_large_set_keeps_summaries_in_report_json_and_shows_the_worst_images(fake_run, tmp_path, monkeypatch):
    from ppocr_convert.parity.report import write_report
    run, images = fake_run
    monkeypatch.setattr(harness, "PER_IMAGE_INLINE_MAX", 3)
    result = run()
    out = tmp_path / "report"
    write_report(result, out, None, html_images=2)
    data = json.loads((out / "report.json").read_text())
    assert data["per_image"] == {} and data["per_image_inline"] is False and data["images"] == [p.name for p in images]
    assert data["results_file"] == "results.jsonl"
    assert [json.loads(line)["image"] for line in (out / "results.jsonl").read_text().splitlines()] == \
        [p.name for p in images]
    html = (out / "report.html").read_text()
    assert "The 2 worst of 6 images are shown" in html
    # the worst are the odd images (their texts differ), every even one is left out
    assert "i1.jpg" in html and "i3.jpg" in html and "i0.jpg" not in html
    assert sorted(p.name for p in (out / "assets").iterdir()) == ["i1.onnx.detdiff.png", "i3.onnx.detdiff.png"]


def test_engine_and_worker_options_are_checked():
    from ppocr_convert.errors import ConfigError
    from ppocr_convert.parity.engine import make_engine
    with pytest.raises(ConfigError, match="unknown engine"):
        make_engine("spark")
    with pytest.raises(ConfigError, match="at least 1"):
        make_engine("local", 0)
    with pytest.raises(ConfigError, match="--ray-address needs --engine ray"):
        make_engine("local", 2, "ray://head:10001")
    assert make_engine("local").workers >= 1


def test_default_workers_are_the_cores_as_free_memory_and_a_budget_allow(monkeypatch):
    import psutil

    from ppocr_convert.parity import engine
    gib = 2**30
    monkeypatch.setattr(engine.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    free = {"bytes": 64 * gib}
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("vm", (), {"available": free["bytes"]})())
    assert engine.WORKER_PEAK_BYTES == 2 * gib
    assert engine.default_workers() == 4  # the cores
    assert engine.default_workers(engine.RELEASE_MEMORY_BUDGET) == 1  # release: 3 GB for all workers
    assert engine.default_workers(8 * gib) == 4 and engine.default_workers(5 * gib) == 2
    free["bytes"] = 5 * gib
    assert engine.default_workers() == 2  # free memory
    free["bytes"] = gib
    assert engine.default_workers() == 1 and engine.default_workers(0) == 1  # never none


def test_release_memory_budget_is_read_as_a_size_and_a_bad_one_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from ppocr_convert.cli import app
    r = CliRunner().invoke(app, ["release", "--images", str(tmp_path), "--out", str(tmp_path / "dist"),
                                 "--memory-budget", "lots"])
    assert r.exit_code != 0 and "cannot read size 'lots'" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize("n, workers, size", [(1, 1, 1), (4, 1, 1), (6, 1, 2), (12, 2, 2), (20, 2, 2), (200, 2, 2),
                                              (9, 8, 1)])
def test_chunks_cover_every_image_once_in_order_and_shrink_on_small_sets(n, workers, size):
    from ppocr_convert.parity.engine import chunks
    tasks = [ImageTask(i, Path(f"i{i}.jpg"), None) for i in range(n)]
    got = chunks(tasks, workers)
    assert [t for c in got for t in c] == tasks
    assert max(len(c) for c in got) == size and all(len(c) == size for c in got[:-1])


# ---------------------------------------------------------------- real models: workers and engines agree

@pytest.fixture(scope="module")
def onnx_models():
    from ppocr_convert.chain.sources import packaged_onnx_source
    pipe = load_pipeline("PP-OCRv5_mobile")
    sources = [packaged_onnx_source(c) for c in (pipe.det_config, pipe.rec_config)]
    if None in sources:
        pytest.fail("packaged PP-OCRv5 ONNX not installed (make setup)")
    det, rec = (s.path for s in sources)
    return pipe, {s: StageModels(s, det, rec) for s in ("paddle", "onnx-raw", "onnx")}


def _lines(run) -> list[dict]:
    return [without_timings(line) for line in read_results(run.results_path)]


def _report(run) -> dict:
    """report.json's content without the per-image timings."""
    data = run.report
    data["per_image"] = {k: without_timings({"entry": e})["entry"] for k, e in data["per_image"].items()}
    return data


@pytest.mark.models
def test_one_and_two_workers_give_identical_per_image_lines(onnx_models, tmp_path):
    pipe, models = onnx_models
    images = [CALIBRATION / n for n in ("07_en.jpg", "16_text_rec.jpg", "03_ch_en_num.jpg")]
    one = harness.run_parity(pipe, images, ["onnx-raw", "onnx"], tmp_path / "w1", stage_models=models, workers=1)
    two = harness.run_parity(pipe, images, ["onnx-raw", "onnx"], tmp_path / "w2", stage_models=models, workers=2)
    assert two.workers == 2 and len(two.worker_peak_rss_mb) == 2, "two spawned workers did the work"
    assert _lines(one) == _lines(two) and len(_lines(one)) == 3
    assert _report(one) == _report(two)


@pytest.mark.slow
@pytest.mark.models
def test_ray_local_mode_gives_the_same_lines_as_the_local_engine(onnx_models, tmp_path):
    pytest.importorskip("ray", reason="ray not installed: pip install 'ppocr-convert[ray]' (requirements.lock has it)")
    pipe, models = onnx_models
    images = [CALIBRATION / n for n in ("07_en.jpg", "16_text_rec.jpg")]
    local = harness.run_parity(pipe, images, ["onnx"], tmp_path / "local", stage_models=models, workers=1)
    ray = harness.run_parity(pipe, images, ["onnx"], tmp_path / "ray", stage_models=models, workers=2,
                             engine="ray")
    assert ray.engine == "ray" and ray.computed == 2
    assert _lines(ray) == _lines(local)
    assert _report(ray) == _report(local)


@pytest.mark.models
def test_release_parity_child_starts_its_own_workers(onnx_models, tmp_path):
    """release measures parity in a spawned child; that child must be allowed to start the
    parity workers (a multiprocessing.Pool's daemonic worker could not)."""
    from ppocr_convert.release import measure_in_child
    _, models = onnx_models
    images = [CALIBRATION / "07_en.jpg", CALIBRATION / "16_text_rec.jpg"]
    peak = measure_in_child("PP-OCRv5_mobile", images, ["onnx"], tmp_path,
                            {s: models[s] for s in ("paddle", "onnx")}, CALIBRATION, workers=2)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["images"] == ["07_en.jpg", "16_text_rec.jpg"] and report["failures"] == []
    assert len((tmp_path / "report" / "results.jsonl").read_text().splitlines()) == 2
    assert peak and peak > 100
    assert [p.name for p in tmp_path.iterdir()] == ["report"], "the run's own stored results are removed"


@pytest.mark.models
def test_release_parity_keeps_per_image_results_so_a_killed_gate_resumes(onnx_models, tmp_path):
    """release hands its cache's per-image store to the child: a second gate run (after a
    kill, or with the cached report gone) reuses every image instead of measuring again."""
    from ppocr_convert.parity.result_store import ResultStore
    from ppocr_convert.release import measure_in_child
    _, models = onnx_models
    images = [CALIBRATION / "07_en.jpg", CALIBRATION / "16_text_rec.jpg"]
    store = tmp_path / "parity-images"
    stage_models = {s: models[s] for s in ("paddle", "onnx")}
    measure_in_child("PP-OCRv5_mobile", images, ["onnx"], tmp_path / "one", stage_models, CALIBRATION,
                     workers=1, results_cache=store)
    entries = {d.name: d.stat().st_ino for d in ResultStore(store).entry_dirs()}
    assert len(entries) == 2
    measure_in_child("PP-OCRv5_mobile", images, ["onnx"], tmp_path / "two", stage_models, CALIBRATION,
                     workers=1, results_cache=store)
    # a measured image's entry is written as a new directory; a reused one is only read
    assert {d.name: d.stat().st_ino for d in ResultStore(store).entry_dirs()} == entries
    one, two = ((tmp_path / r / "report" / "results.jsonl").read_text() for r in ("one", "two"))
    assert one == two


def test_release_gate_reuses_per_image_results_only_with_the_cache_on(tmp_path):
    from ppocr_convert.chain.stage_cache import StageCache
    from ppocr_convert.release import gate_results_cache
    assert gate_results_cache(StageCache(tmp_path)) == tmp_path / "parity-images"
    assert gate_results_cache(StageCache(tmp_path, enabled=False)) is None  # release --no-cache


def test_a_workers_peak_is_its_own_not_its_spawning_parents():
    """Workers are spawned (fork + exec): their peak must not start at the parent's size."""
    import multiprocessing

    import numpy as np

    from ppocr_convert.parity.engine import worker_peak_rss_mb
    ballast = np.ones(2**30 // 8)  # 1 GiB resident in this process
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        child_mb = pool.apply(worker_peak_rss_mb)
    assert worker_peak_rss_mb() > 1024 and ballast[-1] == 1.0
    assert child_mb < 700, child_mb

"""tflite-int8 on one real model, quantized once per session (the text-line orientation
classifier: the smallest; its calibration lines are cut by its pipeline's fp32 det)."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.models, pytest.mark.slow]

MODEL = "ch_ppocr_mobile_v2.0_cls"


@pytest.fixture(scope="session")
def int8_cls(tmp_path_factory, session_cache):
    from ppocr_convert.chain.conversion import ConvertOptions, convert
    from ppocr_convert.config import load_model_config
    out = tmp_path_factory.mktemp("int8")
    return convert(load_model_config(MODEL), ConvertOptions(targets=["tflite-fp32", "tflite-int8"], out_dir=out,
                                                            cache_dir=session_cache))


def test_int8_artifact_is_integer_with_float_io_and_no_flex(int8_cls):
    from ppocr_convert.integer_check import integer_report
    from ppocr_convert.runners import open_runner
    m = int8_cls.manifests["tflite-int8"]
    path = int8_cls.artifact_dirs["tflite-int8"] / m["file"]
    fp32 = int8_cls.artifact_dirs["tflite-fp32"] / int8_cls.manifests["tflite-fp32"]["file"]
    assert m["file"].endswith("_int8.tflite")
    report = integer_report(path)
    assert report.flex_or_custom == [] and not any(op.startswith("Flex") for op in m["op_histogram"])
    assert report.int8_weight_share >= 0.8, report.to_dict()
    assert [t["dtype"] for t in m["inputs"]] == ["float32"] and [t["dtype"] for t in m["outputs"]] == ["float32"]
    assert m["deploy"]["dtype"] == "float32"
    # smaller than fp32 (the 0.35x size target is for det and rec: bench/int8.py
    # measures it; this 0.5 MB classifier keeps its gate-passing blocks in float)
    assert path.stat().st_size < fp32.stat().st_size
    # it still classifies like fp32 on a real crop-shaped input
    x = np.random.default_rng(0).uniform(-1, 1, open_runner(fp32, "tflite").input_spec.shape).astype(np.float32)
    a, b = open_runner(fp32, "tflite-fp32").run(x)[0], open_runner(path, "tflite-int8").run(x)[0]
    assert a.shape == b.shape and np.abs(a - b).max() < 0.25


def test_int8_manifest_records_calibration_recipe_gate_and_integer_verdict(int8_cls, session_cache):
    (entry,) = int8_cls.manifests["tflite-int8"]["int8"]
    assert len(entry["calibration"]["digest"]) == 16 and entry["calibration"]["samples"] > 0
    assert entry["recipe"][0]["regex"] == ".*" and entry["recipe"][0]["op_config"]["weight_tensor_config"][
        "granularity"] == "CHANNELWISE"
    assert entry["gate"]["passed"] in (True, False) and "argmax_agreement" in entry["gate"]
    # the gate scores every labelled gate line upright and turned 180° (both classes)
    from ppocr_convert.chain import calibration as cal
    assert entry["gate"]["crops"] == 2 * len(cal.gate_lines(cal.pages(session_cache, cal.GATE_SEED)))
    assert entry["integer"]["fully_integer"] == (entry["integer"]["float_ops"] == {})
    # MINIMUM has no ai-edge-quantizer policy; the stage rewrites every one (integer_clip.py here)
    assert "MINIMUM" not in entry["integer"]["float_ops"]
    # `[int8] rewrite_hard_swish` and `rewrite_clip` (configs/defaults/cls.toml): every
    # HARD_SWISH and squeeze-excite gate inside XNNPACK, the gates' MINIMUMs taken by the clip
    assert entry["scheme"]["hard_swish_rewritten_as_add_mul"] > 0 and entry["scheme"]["clip_rewritten_as_mul_relu6"] > 0
    assert entry["scheme"]["minimum_rewritten_as_maximum"] == 0
    assert set(entry["xnnpack"]["outside"]) <= {"SOFTMAX"}
    # the classifier holds no GELU, no transposed and no 7x7 depthwise convolution: nothing for those rewrites
    scheme = entry["scheme"]
    assert (scheme["gelu_rewritten_as_sigmoid"] == scheme["transpose_conv_rewritten_as_conv_shuffle"]
            == scheme["large_depthwise_split_into_5x5"] == 0)
    # the CPU path, as the interpreter builds it (xnnpack_check.py)
    assert entry["xnnpack"]["partitions"] >= 1 and entry["xnnpack"]["ops"] > 0
    assert "tflite-int8" in int8_cls.manifests["tflite-int8"]["code"]
    json.dumps(entry)  # plain JSON


def test_int8_is_a_parity_stage_with_tolerances_in_every_pipeline():
    from ppocr_convert.config import TARGETS
    from ppocr_convert.parity.pipelines import load_pipeline, pipeline_names
    from ppocr_convert.release import DEFAULT_TARGETS
    # a stage of `all`; opt-in for release until it meets its accuracy targets (README, INT8)
    assert "tflite-int8" in TARGETS and "tflite-int8" not in DEFAULT_TARGETS
    for name in pipeline_names():
        tol = load_pipeline(name).tolerances
        assert "tflite-int8" in tol["same_input"] and "tflite-int8" in tol["pipeline"], name


def test_release_refuses_an_int8_file_whose_own_gate_missed_and_publishes_nothing(images, session_cache, tmp_path,
                                                                                  monkeypatch):
    """The real classifier quantized for real, judged by limits no model can meet (agree
    with fp32 on 150 % of the crops): the stage ships its best step, release must say no."""
    from ppocr_convert import release as rel
    from ppocr_convert.chain import int8_stage
    from ppocr_convert.errors import ParityError
    real = int8_stage.int8_options
    monkeypatch.setattr(int8_stage, "int8_options", lambda c: {**real(c), "max_accuracy_drop": -0.5, "max_blocks": 1})
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "manifest.json").write_text("{}")  # the previous release, left as it was
    with pytest.raises(ParityError, match=rf"int8 gate failed: .*{MODEL} w\d+ argmax_agreement") as e:
        rel.release(dist, images[0].parent, models=[MODEL], targets=["tflite-fp32", "tflite-int8"],
                    cache_dir=session_cache)
    assert {(f["stage"], f["view"]) for f in e.value.failures} == {("tflite-int8", "int8_gate")}  # type: ignore[attr-defined]
    # the row carries the limit the stage judged with (agreement >= 1 - (-0.5))
    assert {f["limit"] for f in e.value.failures} == {1.5}  # type: ignore[attr-defined]
    assert [p.name for p in tmp_path.iterdir()] == ["dist"] and [p.name for p in dist.iterdir()] == ["manifest.json"]
    assert (dist / "manifest.json").read_text() == "{}"


def test_user_photos_and_gate_pages_are_what_the_int8_stage_calibrates_and_judges(int8_cls, images, session_cache,
                                                                                   tmp_path):
    """`--calibration-images` / `--gate-pages` on the real classifier: its lines come
    from the user's photos first, its gate reads the user's pages, and the cache key
    follows both (a hit on the same data, a miss when one ground-truth line changes)."""
    import shutil

    from ppocr_convert.chain import calibration as cal
    from ppocr_convert.chain.conversion import ConvertOptions, convert
    from ppocr_convert.config import load_model_config
    photos, gate = tmp_path / "photos", tmp_path / "gate"
    photos.mkdir()
    gate.mkdir()
    for p in images[:3]:
        shutil.copy(p, photos / p.name)
    rendered = cal.pages(session_cache, cal.GATE_SEED)
    labels = {name: lines for name, lines in sorted(cal.gate_labels(rendered).items())[:3]}
    for name in labels:
        shutil.copy(rendered / name, gate / name)
    (gate / "labels.json").write_text(json.dumps(labels), encoding="utf-8")

    def run():
        r = convert(load_model_config(MODEL), ConvertOptions(targets=["tflite-int8"], out_dir=tmp_path / "dist",
                                                             cache_dir=session_cache, calibration_images=photos,
                                                             gate_pages=gate))
        (entry,) = r.manifests["tflite-int8"]["int8"]
        (record,) = [s for s in r.stages if s.stage == "tflite-int8"]
        return entry, record.cached, r.manifests["tflite-int8"]["sha256"]

    entry, cached, sha = run()
    (default,) = int8_cls.manifests["tflite-int8"]["int8"]
    assert not cached
    calib = entry["calibration"]
    assert calib["sources"]["user_images"] == calib["inputs"]["user_images"] == 3
    assert default["calibration"]["sources"]["user_images"] == 0
    assert calib["images"] == default["calibration"]["images"] + 3
    # the samples changed (the user's lines lead them), not only the file list
    assert calib["digest"] != default["calibration"]["digest"]
    assert calib["inputs"]["gate_source"] == {"user_pages": 3}
    rendered_source = {"rendered_pages": {"seed": cal.GATE_SEED, "n": cal.PAGES}}
    assert default["calibration"]["inputs"]["gate_source"] == rendered_source
    lines = sum(len(v) for v in labels.values())
    assert entry["gate"]["crops"] == 2 * lines < default["gate"]["crops"]

    entry_again, cached, sha_again = run()
    assert cached and sha_again == sha and entry_again["calibration"] == calib

    first = next(n for n in labels if labels[n])
    labels[first] = labels[first][:-1]   # one ground-truth line fewer
    (gate / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    entry_edited, cached, _ = run()
    assert not cached and entry_edited["gate"]["crops"] == 2 * (lines - 1)
    assert entry_edited["calibration"]["inputs"]["gate_pages"] != calib["inputs"]["gate_pages"]

"""Rec width buckets re-emitted from the narrowest one (chain/retarget.py) and the check
every shortcut artifact must pass (chain/artifact_check.py): the real PP-OCRv5 rec
artifacts, and models the check must refuse."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import artifact_check, retarget
from ppocr_convert.chain.retarget import RetargetError


@pytest.mark.unit
def test_garbage_is_refused_not_rewritten():
    with pytest.raises(RetargetError, match="not a readable TFLite"):
        retarget.retarget_width(b"\x00" * 64, 640)


@pytest.mark.unit
def test_checks_name_what_failed():
    ok = {"max_abs_diff": 0.2, "mean_abs_diff": 2e-3, "argmax_disagreement": 0.0}
    assert artifact_check.failed_checks("tflite-fp16", ok) == []  # fp16's largest difference is noise
    assert artifact_check.failed_checks("tflite-fp32", ok) == ["max_abs_diff 0.2 > 0.001"]
    shifted = {**ok, "argmax_disagreement": 0.3}
    assert artifact_check.failed_checks("tflite-fp16", shifted) == ["argmax_disagreement 0.3 > 0.02"]
    broken = {k: float("inf") for k in ok}  # output shapes disagree
    assert artifact_check.failed_checks("tflite-fp32", broken) and artifact_check.failed_checks("tflite-fp16", broken)


@pytest.fixture(scope="module")
def v5_rec(converted):
    art = converted("PP-OCRv5_mobile_rec")
    dirs = art["dirs"]

    def files(target: str, width: int):
        suffix = {"onnx": ".onnx", "tflite-fp32": "_fp32.tflite", "tflite-fp16": "_fp16.tflite"}[target]
        return dirs[target] / f"PP-OCRv5_mobile_rec_w{width}{suffix}"
    return art, files


@pytest.mark.slow
def test_wider_buckets_are_re_emitted_and_recorded(v5_rec):
    art, files = v5_rec
    for target in ("tflite-fp32", "tflite-fp16"):
        buckets = {b["width"]: b for b in art["manifests"][target]["buckets"]}
        assert buckets[320]["built_by"]["method"] == "onnx2tf"
        for width in (640, 1280):
            built = buckets[width]["built_by"]
            assert built["method"] == "retarget" and built["from_width"] == 320
            assert artifact_check.failed_checks(target, {**{k: 0.0 for k in ("max_abs_diff", "mean_abs_diff",
                                                                          "argmax_disagreement")},
                                                   **built["checks"][target]}) == []
            # deterministic: emitting again from the published w320 gives the published bytes
            again, stats = retarget.retarget_width(files(target, 320).read_bytes(), width)
            assert again == files(target, width).read_bytes()
            assert stats.new_steps == width // 8


@pytest.mark.slow
def test_the_check_refuses_a_wrong_model(v5_rec):
    """Counter-examples: the verification must say no to a model with one damaged weight
    tensor and to a model compared with the wrong width's graph."""
    _, files = v5_rec
    model, _ = retarget.retarget_width(files("tflite-fp32", 320).read_bytes(), 640)
    inputs = artifact_check.verification_inputs((1, 3, 48, 640))
    good = artifact_check.compare_to_onnx(model, files("onnx", 640), inputs)
    assert artifact_check.failed_checks("tflite-fp32", good) == []

    damaged = _negate_largest_float_constant(model)
    measured = artifact_check.compare_to_onnx(damaged, files("onnx", 640), inputs)
    assert artifact_check.failed_checks("tflite-fp32", measured)
    assert artifact_check.failed_checks("tflite-fp16", measured)

    wide_inputs = artifact_check.verification_inputs((1, 3, 48, 1280))
    wrong_width = artifact_check.compare_to_onnx(model, files("onnx", 1280), wide_inputs)
    assert artifact_check.failed_checks("tflite-fp32", wrong_width)

    with pytest.raises(RetargetError, match="sequence length 7"):
        retarget.retarget_width(files("tflite-fp32", 320).read_bytes(), 640, old_steps=7)


def _negate_largest_float_constant(model: bytes) -> bytes:
    schema = retarget._schema()
    buf = bytearray(model)
    root = schema.Model.GetRootAs(buf, 0)
    graph = root.Subgraphs(0)
    best = (0, 0)
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        if tensor.Type() != schema.TensorType.FLOAT32:
            continue
        start, n = retarget._vector(root.Buffers(tensor.Buffer())._tab, 4)
        if n > best[1]:
            best = (start, n)
    start, n = best
    values = np.frombuffer(bytes(buf[start:start + n]), np.float32)
    buf[start:start + n] = (-values).astype(np.float32).tobytes()
    return bytes(buf)


@pytest.mark.slow
def test_det_is_converted_without_onnx2tfs_validation_inference_and_checked(converted):
    """onnx2tf_lean: det's tflite stage ran without the whole-graph inference (a quarter of
    the memory) and its artifacts passed the check against the ONNX."""
    art = converted("PP-OCRv5_mobile_det")
    (tflite,) = [s for s in art["stages"] if s.stage == "tflite"]
    if not tflite.cached:
        assert tflite.detail["validation_inference"] is False
        assert list(tflite.detail["checks"]) == ["tflite-fp32"]
        assert artifact_check.failed_checks("tflite-fp32", {**dict.fromkeys(artifact_check.METRICS, 0.0),
                                                            **tflite.detail["checks"]["tflite-fp32"]}) == []
    onnx = art["dirs"]["onnx"] / "PP-OCRv5_mobile_det.onnx"
    models = {t: art["paths"][t].read_bytes() for t in ("tflite-fp32", "tflite-fp16")}
    checks, problems = artifact_check.check_artifacts(models, onnx, count=1)
    assert problems == [], checks

"""The classifier's int8 gate sees both classes: each gate crop upright and turned 180°.

Crops cut from real pages are upright, so agreement with fp32 on them alone cannot tell a
classifier from a model that always answers "0". Counter-example below: such a model passes
an upright-only gate and must fail this one."""
from __future__ import annotations

import numpy as np
import pytest

from ppocr_convert.chain import calibration as cal
from ppocr_convert.chain.int8_stage import cls_gate
from ppocr_convert.config import load_model_config
from ppocr_convert.inspect_model import import_tensorflow

from tiny_tflite import to_tflite

pytestmark = pytest.mark.unit

SHAPE = (1, 48, 192, 3)   # the classifier's NHWC input
LIMITS = {"max_accuracy_drop": 0.01}


def _upright_crop(seed: int) -> np.ndarray:
    """A light line crop (BGR) whose ink sits in its upper half, as text mostly does."""
    rng = np.random.default_rng(seed)
    crop = np.full((32, 160, 3), 225, np.uint8)
    for _ in range(12):
        y, x = int(rng.integers(2, 14)), int(rng.integers(0, 150))
        crop[y:y + 3, x:x + 8] = rng.integers(0, 60)
    return crop


def _orientation_model(x):
    """fp32 stand-in: "0" when the top half is darker than the bottom half, else "180"."""
    tf = import_tensorflow()
    top, bottom = tf.reduce_mean(x[:, :24]), tf.reduce_mean(x[:, 24:])
    return tf.nn.softmax(tf.reshape(tf.stack([bottom - top, top - bottom]), (1, 2)) * 10.0)


def _always_upright(x):
    tf = import_tensorflow()
    return tf.reshape(tf.stack([1.0 + 0.0 * tf.reduce_mean(x), 0.0 * tf.reduce_mean(x)]), (1, 2))


def test_both_orientations_pairs_each_crop_with_its_180_degree_turn():
    crops = [_upright_crop(0), _upright_crop(1)]
    both = cal.both_orientations(crops)
    assert len(both) == 4 and both[0] is crops[0]
    assert np.array_equal(both[1], np.rot90(crops[0], 2)) and np.array_equal(both[3], np.rot90(crops[1], 2))


def test_cls_gate_refuses_a_model_that_always_says_upright():
    config = load_model_config("ch_ppocr_mobile_v2.0_cls")
    crops = [_upright_crop(seed) for seed in range(6)]
    fp32, always = to_tflite(_orientation_model, SHAPE), to_tflite(_always_upright, SHAPE)

    upright_only = cls_gate(cal.cls_samples(crops, config), fp32, LIMITS)
    assert upright_only(always)[0]          # what a gate on real-page crops alone would say

    gate = cls_gate(cal.cls_samples(cal.both_orientations(crops), config), fp32, LIMITS)
    passed, figures = gate(always)
    assert not passed and figures["argmax_agreement"] == 0.5 and figures["crops"] == 12
    assert figures["missed"] == [{"metric": "argmax_agreement", "value": 0.5, "limit": 0.99}]
    assert gate(fp32)[0]                    # and the classifier itself passes

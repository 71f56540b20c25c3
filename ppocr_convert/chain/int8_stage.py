"""The `tflite-int8` stage: the cached fp32 TFLite (each rec width bucket) → full-integer
INT8, calibrated on real images, kept out of int8 block by block until a ground-truth
gate passes.

Per model file:
1. correct each weighted op's bias for its int8 weights' mean output error
   (bias_correction.py), calibrate once on the calibration set (calibration.py),
   quantize all-int8;
2. gate: ground truth on pages the quantizer never saw (calibration.GATE_SEED) —
   det: the OCR pipeline with this det and the pipeline's fp32 rec; rec: the labelled
   line crops routed to this bucket; cls: argmax agreement with fp32 on those crops,
   each upright and turned 180° (calibration.both_orientations).
   It passes when accuracy is within `max_accuracy_drop` of fp32's and CER within
   `max_cer_rise` (the model config's [int8] table);
3. if it fails: per-op sensitivity (sensitivity.py), ops grouped into blocks, the worst
   block kept out of int8 (`keep`: float or int16), quantize again, gate again, one
   block at a time until it passes or `max_blocks` is spent, then ship the best step
   (the passing one, else the best gate figures: the search is not monotonic).

Everything the stage decided goes to `int8.json` beside the model: calibration digest,
recipe, blocks kept, gate figures per step, the sensitivity ranking.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import ModelConfig
from ..parity.metrics import edit_distance
from . import calibration as cal
from . import sensitivity as sens
from .quantize import Int8Quantizer, build_recipe, kept_ops, OPTIONAL_REWRITES

DEFAULTS = {"keep": "float", "max_accuracy_drop": 0.01, "max_cer_rise": 0.005, "max_blocks": 64,
            "sensitivity_samples": 4, "bias_correction": 16, "activation_bits": 8,
            "float_outputs": False, "float_first_stage": False, "gate_pages": cal.PAGES,
            "activation_percentile": 100.0, "activation_range_margin": 1.0,
            **{f"rewrite_{name}": False for name in OPTIONAL_REWRITES}}


def int8_options(config: ModelConfig) -> dict:
    return {**DEFAULTS, **config.raw.get("int8", {})}


def text_scores(texts: list[str], truth: list[str]) -> dict:
    """Line accuracy (exact text) and CER of decoded lines against their ground truth."""
    chars = sum(len(t) for t in truth)
    return {"line_accuracy": float(np.mean([a == b for a, b in zip(texts, truth)])) if truth else 1.0,
            "cer": sum(edit_distance(a, b) for a, b in zip(texts, truth)) / chars if chars else 0.0}


def missed_figure(metric: str, value: float, limit: float) -> dict:
    return {"metric": metric, "value": round(float(value), 6), "limit": round(float(limit), 6)}


def judge(candidate: dict, fp32: dict, options: dict) -> list[dict]:
    """The figures of `candidate` outside the `[int8]` limits around fp32's, each with its
    limit (none: the gate passes). Recorded in the gate figures as `missed`: release
    refuses a file by these rows, without deciding the limits a second time."""
    missed = []
    limit = fp32["line_accuracy"] - options["max_accuracy_drop"]
    if candidate["line_accuracy"] < limit - 1e-9:
        missed.append(missed_figure("line_accuracy", candidate["line_accuracy"], limit))
    limit = fp32["cer"] + options["max_cer_rise"]
    if candidate["cer"] > limit + 1e-9:
        missed.append(missed_figure("cer", candidate["cer"], limit))
    return missed


def _interpreter(model: bytes):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=model, num_threads=1)
    it.allocate_tensors()
    return it


def _run_one_by_one(it, samples: list[np.ndarray]) -> list[np.ndarray]:
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    out = []
    for x in samples:
        it.set_tensor(i["index"], x)
        it.invoke()
        out.append(np.array(it.get_tensor(o["index"])))
    return out


def run_samples(model: bytes, samples: list[np.ndarray], workers: int | None = None) -> list[np.ndarray]:
    """One float32 NHWC sample at a time through a float-I/O model, in order; the samples
    are dealt to `workers` one-thread interpreters (default: one per usable core) invoked
    on threads. Why not one interpreter with more threads: rec's a16w8 runs on TFLite's
    reference kernels, which use one core whatever `num_threads` says, while `invoke()`
    releases the GIL; two interpreters on 2 cores ran reference-kernel convolutions 2.0x
    as fast (23.7 vs 11.9 s). Each output depends on its sample alone, so how they are dealt
    changes no figure (tests/test_int8_run_samples.py)."""
    from ..cores import deal
    return deal(lambda share: _run_one_by_one(_interpreter(model), share), samples, workers)


# ---- gates: a model's bytes -> (passed, figures) ------------------------------------------

GateFn = Callable[[bytes], tuple[bool, dict]]


def judged_gate(score: Callable[[bytes], dict], fp32: bytes, options: dict) -> GateFn:
    """A gate from a scoring function: fp32 is scored once, each candidate against it."""
    reference = score(fp32)

    def gate(model: bytes) -> tuple[bool, dict]:
        s = score(model)
        missed = judge(s, reference, options)
        return not missed, {**s, "fp32": reference, "missed": missed}
    return gate


def rec_gate(config: ModelConfig, chosen: cal.BucketGateLines, width: int, fp32: bytes, options: dict) -> GateFn:
    from .. import model_params
    from ..ocr.rec import ctc_greedy_decode
    charset = model_params.charset(config)
    x = [cal.rec_tensor(c, config, width) for c, _ in chosen.lines]
    truth = [t for _, t in chosen.lines]

    def score(model: bytes) -> dict:
        texts = [ctc_greedy_decode(y, charset)[0][0] for y in run_samples(model, x)]
        return {**text_scores(texts, truth), "lines": len(truth), "own_lines": chosen.own, "pages": chosen.pages}

    return judged_gate(score, fp32, options)


def det_gate(config: ModelConfig, page_dir: Path, rec_config: ModelConfig, rec_models: list[Path],
             fp32: bytes, options: dict, work: Path) -> GateFn:
    """The whole OCR pipeline on the gate pages with this det and the fp32 rec buckets."""
    from .. import model_params
    from ..ocr import load_image
    from ..parity.labelled_reading import PipelineFiles, read_pages, scores
    labels = cal.gate_labels(page_dir)
    pages = [(name, load_image(page_dir / name)) for name in sorted(labels)]
    path = work / "gate-det.tflite"
    files = PipelineFiles(path, rec_models, model_params.charset(rec_config),
                          model_params.det_params(config, static_hw=cal.canvas(config)),
                          model_params.rec_params(rec_config), drop_score=0.5)

    def score(model: bytes) -> dict:
        path.write_bytes(model)
        return scores(read_pages(files, labels, pages))

    return judged_gate(score, fp32, options)


def cls_gate(samples: list[np.ndarray], fp32: bytes, options: dict) -> GateFn:
    ref = [y.argmax(-1) for y in run_samples(fp32, samples)]

    def gate(model: bytes) -> tuple[bool, dict]:
        got = [y.argmax(-1) for y in run_samples(model, samples)]
        agree = float(np.mean([np.array_equal(a, b) for a, b in zip(ref, got)]))
        limit = 1.0 - options["max_accuracy_drop"]
        missed = [missed_figure("argmax_agreement", agree, limit)] if agree < limit - 1e-9 else []
        return not missed, {"argmax_agreement": agree, "crops": len(samples), "missed": missed}
    return gate


# ---- the stage -------------------------------------------------------------------------------

@dataclass
class Int8Build:
    model: bytes
    info: dict   # int8.json


def quantize_model(fp32: bytes, samples: list[np.ndarray], gate: GateFn, options: dict,
                   calibration: dict, progress: Callable[[str], None] = lambda m: None,
                   input_range: tuple[float, float] | None = None) -> Int8Build:
    q = Int8Quantizer(fp32, samples, bias_correction=options["bias_correction"],
                      activation_percentile=options["activation_percentile"], input_range=input_range,
                      range_margin=options["activation_range_margin"],
                      rewrites=[name for name in OPTIONAL_REWRITES if options[f"rewrite_{name}"]])
    try:
        # the ops writing the model output, kept float in every step when asked: rec's final
        # SOFTMAX at int16 tops out below the pipeline's 0.5 drop score (README, INT8)
        outputs = [op.scope for op in sens.output_ops(q.model)] if options["float_outputs"] else []
        # a det's full- and half-resolution stem, kept float in every step when asked: int8
        # there loses dark, low-contrast pages' text (README, INT8)
        stem = [op.scope for op in sens.first_stage_ops(q.model)] if options["float_first_stage"] else []
        fixed = [(scope, "float") for scope in outputs + stem]

        def quantize(keep: list[tuple[str, str]]) -> bytes:
            return q.quantize(build_recipe(fixed + keep, options["activation_bits"]))

        first = quantize([])
        passed, figures = gate(first)
        ranking: list[sens.OpSensitivity] = []
        block_list: list[sens.Block] = []
        if passed:
            result = sens.SearchResult(first, [], True, [sens.SearchStep([], True, {**figures, "block": None})], [], 0)
        else:
            progress(f"all-int8 misses the gate ({_fmt(figures)}); measuring per-op sensitivity")
            ranking = sens.sensitivity(q.model, first, samples[:options["sensitivity_samples"]])
            block_list = sens.blocks(ranking)

            steps = [0]  # blocks kept: the search calls the gate once per block it adds

            def logged(model: bytes) -> tuple[bool, dict]:
                ok, figs = gate(model)
                steps[0] += 1
                progress(f"{steps[0]} block(s) kept out of int8: {_fmt(figs)}")
                return ok, figs
            result = sens.mixed_precision_search(block_list, quantize, logged, mode=options["keep"],
                                                 max_kept=options["max_blocks"], first=first,
                                                 first_gate=(passed, figures))
        recipe = build_recipe(fixed + result.kept, options["activation_bits"])
        info = {
            "quantizer": "ai-edge-quantizer",
            "scheme": {"weights": "int8 symmetric per output channel",
                       "activations": "int8 asymmetric per tensor" if options["activation_bits"] == 8
                       else "int16 symmetric per tensor",
                       "io": "float32 (QUANTIZE/DEQUANTIZE inside the graph)", "keep": options["keep"],
                       "activation_ranges": "min/max" if options["activation_percentile"] >= 100
                       else f"central {options['activation_percentile']} % of the fp32 values",
                       "activation_range_margin": options["activation_range_margin"],
                       "input_range": list(input_range) if input_range is not None else "calibrated",
                       "minimum_rewritten_as_maximum": q.rewritten["minimum"],
                       "clip_rewritten_as_mul_relu6": q.rewritten["clip"],
                       "hard_swish_rewritten_as_add_mul": q.rewritten["hard_swish"],
                       "gelu_rewritten_as_sigmoid": q.rewritten["gelu"],
                       "transpose_conv_rewritten_as_conv_shuffle": q.rewritten["transpose_conv"],
                       "large_depthwise_split_into_5x5": q.rewritten["large_depthwise"],
                       "repeated_vector_bytes_written_once": q.shared_bytes(result.model),
                       "bias_correction": {"ops": len(q.biases),
                                           "samples": min(len(samples), options["bias_correction"])}},
            "calibration": calibration,
            "gate": {"passed": result.passed, "limits": {k: options[k] for k in ("max_accuracy_drop", "max_cer_rise")},
                     **result.figures},
            "search": [s.to_dict() for s in result.steps],
            "search_chosen_step": result.chosen % len(result.steps),
            "kept_blocks": [b.to_dict() for b in result.blocks],
            "float_outputs": outputs,
            "float_first_stage": stem,
            "kept_ops": kept_ops(recipe),
            "recipe": recipe,
            "sensitivity": {"metric": "NMSE added by the op (output NMSE minus its inputs' largest) vs fp32, "
                                      f"on {min(len(samples), options['sensitivity_samples'])} calibration samples",
                            "ops": [s.to_dict() for s in ranking[:30]],
                            "blocks": [b.to_dict() for b in block_list[:20]]},
        }
        return Int8Build(result.model, info)
    finally:
        q.close()


def _fmt(figures: dict) -> str:
    keys = [k for k in ("line_accuracy", "cer", "argmax_agreement") if k in figures]
    return ", ".join(f"{k} {figures[k]:.4f}" + (f" (fp32 {figures['fp32'][k]:.4f})" if "fp32" in figures else "")
                     for k in keys)

"""onnx2tf's command line without its whole-graph validation inference.

Before converting, onnx2tf runs the ONNX model once in onnxruntime with every op's
output made a graph output and keeps all of them (`onnx_tensor_infos_for_validation`),
to check each converted op against it. At det's 1024² input that is every feature map
of the network at once: measured on PP-OCRv6 small det, the onnx2tf process peaks at
4,243 MB with it and 1,139 MB without, 59 s against 23 s, and both runs write the same
fp32 and fp16 files byte for byte. onnx2tf treats a failure of that inference as
"cannot infer with onnxruntime" and converts without the per-op checks, which is what
raising here does.

Without the check onnx2tf decides a few layouts by its defaults instead of by data, so
the chain does not take the artifact on trust: backend.py compares it with the ONNX
(artifact_check) and reruns plain onnx2tf, with the inference, when it differs.

Usage: python -m ppocr_convert.chain.onnx2tf_lean <onnx2tf arguments>
"""
from __future__ import annotations

import sys

SKIPPED = "whole-graph validation inference skipped by ppocr-convert (onnx2tf_lean)"


def _skip(**_kwargs):
    raise RuntimeError(SKIPPED)


def main() -> None:
    import onnx2tf.onnx2tf as onnx2tf_main
    # only the module-level name the converter's main path calls: op converters that
    # run their own small inference (ConvTranspose) keep theirs
    onnx2tf_main.dummy_onnx_inference = _skip
    sys.argv = ["onnx2tf", *sys.argv[1:]]
    onnx2tf_main.main()


if __name__ == "__main__":
    main()

"""Child-process entry for paddle2onnx: `python -m ppocr_convert.chain.p2o_worker ...`.

Why not the `paddle2onnx` console script: paddle2onnx 2.1.0 sets
POLYGRAPHY_AUTOINSTALL_DEPS=1 before importing polygraphy, which then pip-installs
missing packages into the environment at conversion time. Polygraphy reads that
setting once, so pinning it off before paddle2onnx runs keeps conversion offline.
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="p2o_worker")
    p.add_argument("--model-file", required=True)
    p.add_argument("--params-file", required=True)
    p.add_argument("--save-file", required=True)
    p.add_argument("--opset", type=int, required=True)
    a = p.parse_args(argv)
    import polygraphy.config
    polygraphy.config.AUTOINSTALL_DEPS = False
    import paddle2onnx
    paddle2onnx.export(a.model_file, a.params_file, a.save_file, opset_version=a.opset,
                       auto_upgrade_opset=False, enable_onnx_checker=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

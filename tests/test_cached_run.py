"""Cached means cached: with every stage in the cache, a conversion neither imports
TensorFlow, Paddle nor onnxruntime, nor re-inspects an artifact, and publishes the same
manifests."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

SCRIPT = """
import json, sys
from pathlib import Path
from ppocr_convert.chain.conversion import ConvertOptions, convert
from ppocr_convert.config import FLOAT_TARGETS, load_model_config
r = convert(load_model_config(sys.argv[1]), ConvertOptions(targets=list(FLOAT_TARGETS), out_dir=Path(sys.argv[2])))
heavy = [m for m in ("tensorflow", "paddle", "onnxruntime", "ai_edge_litert") if m in sys.modules]
print(json.dumps({"heavy": heavy, "stages": [[s.stage, s.cached] for s in r.stages], "manifests": r.manifests}))
"""


@pytest.mark.parametrize("name", ["PP-OCRv5_mobile_det", "PP-OCRv5_mobile_rec"])
def test_a_fully_cached_conversion_loads_no_heavy_runtime(name, converted, session_cache, tmp_path):
    first = converted(name)
    env = {**os.environ, "PPOCR_CONVERT_CACHE": str(session_cache)}
    r = subprocess.run([sys.executable, "-c", SCRIPT, name, str(tmp_path / "dist")], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["heavy"] == [], out["heavy"]
    assert all(cached for stage, cached in out["stages"] if stage != "publish"), out["stages"]
    assert out["manifests"] == json.loads(json.dumps(first["manifests"]))

""""The plain way": how people script the conversion without this toolchain, the baseline
every ratio is taken against.

1. onnxsim with a static input shape;
2. an onnx-graphsurgeon edit: HardSigmoid -> Mul/Add/Clip, cleanup, toposort;
3. the onnx2tf CLI (on a copy: it rewrites its input in place).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path


def simplify_and_edit(src: Path, dst: Path, input_name: str, shape: list[int]) -> int:
    """Steps 1-2: writes dst; returns how many HardSigmoid nodes were replaced."""
    import numpy as np
    import onnx
    import onnx_graphsurgeon as gs
    import onnxsim

    model, ok = onnxsim.simplify(onnx.load(str(src)), overwrite_input_shapes={input_name: shape})
    if not ok:
        raise RuntimeError("onnxsim check failed")
    graph = gs.import_onnx(model)
    replaced = 0
    for node in [n for n in graph.nodes if n.op == "HardSigmoid"]:
        def const(suffix: str, value: float):
            return gs.Constant(f"{node.name}_{suffix}", np.array(value, np.float32))

        alpha = float(node.attrs.get("alpha", 0.2))
        beta = float(node.attrs.get("beta", 0.5))
        x, y = node.inputs[0], node.outputs[0]
        scaled = gs.Variable(f"{node.name}_scaled", dtype=np.float32)
        shifted = gs.Variable(f"{node.name}_shifted", dtype=np.float32)
        graph.nodes.append(gs.Node("Mul", f"{node.name}_mul", inputs=[x, const("alpha", alpha)], outputs=[scaled]))
        graph.nodes.append(gs.Node("Add", f"{node.name}_add", inputs=[scaled, const("beta", beta)],
                                   outputs=[shifted]))
        graph.nodes.append(gs.Node("Clip", f"{node.name}_clip",
                                   inputs=[shifted, const("lo", 0.0), const("hi", 1.0)], outputs=[y]))
        node.inputs.clear()
        node.outputs.clear()
        replaced += 1
    graph.cleanup().toposort()
    onnx.save(gs.export_onnx(graph), str(dst))
    return replaced


def onnx2tf_cli(plain_onnx: Path, work: Path) -> tuple[dict, dict[str, Path]]:
    """Step 3 in `work`: ({seconds, peak_rss_mb} of the CLI's process tree, {kind: .tflite path})."""
    import numpy as np

    from ppocr_convert.chain.backend import SAMPLE_DATA_NAME, sample_data
    from ppocr_convert.toolrun import run_tool

    tf_work = work / "onnx2tf"
    tf_work.mkdir()
    shutil.copyfile(plain_onnx, tf_work / "copy.onnx")  # onnx2tf rewrites its input in place
    np.save(tf_work / SAMPLE_DATA_NAME, sample_data())  # else it downloads one (offline here)
    onnx2tf = str(Path(sys.executable).with_name("onnx2tf"))
    run = run_tool("onnx2tf", [onnx2tf, "-i", "copy.onnx", "-o", "outdir"], work / "onnx2tf.log", cwd=tf_work)
    files = {"plain-tflite-fp32": tf_work / "outdir" / "copy_float32.tflite",
             "plain-tflite-fp16": tf_work / "outdir" / "copy_float16.tflite"}
    return {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb}, files

"""The LiteRT GPU-delegate verdict: never `compatible` for a model holding an op the
delegate cannot run. Tiny TFLite models are built here with TensorFlow (well under a
second each); no PaddleOCR model is needed. TensorFlow's own analyzer says "compatible"
for all of them (its GPU check is compiled out of the tensorflow 2.21 wheel), so these
tests pin the op-list check in ppocr_convert.inspect_model."""
from __future__ import annotations

import json
import re

import onnx
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

from ppocr_convert.cli import app
from ppocr_convert.inspect_model import (GPU_TFLITE_BUILTINS, GpuIssue, format_gpu_verdict, import_tensorflow,
                                         inspect_file, tflite_gpu_compatibility, tflite_ops)

runner = CliRunner()
NODE = re.compile(r"^(Subgraph#\d+ )?Op#\d+$")


@pytest.fixture(scope="module")
def tf():
    return import_tensorflow()  # Paddle first (conftest imports it too), then TensorFlow


@pytest.fixture(scope="module")
def build(tf, tmp_path_factory):
    """build(name, fn, shape, select_tf_ops=False, custom=False) → path of a .tflite."""
    root = tmp_path_factory.mktemp("tflite")

    def make(name, fn, shape, select_tf_ops=False, custom=False):
        concrete = tf.function(fn).get_concrete_function(tf.TensorSpec(shape, tf.float32))
        conv = tf.lite.TFLiteConverter.from_concrete_functions([concrete], fn)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + (
            [tf.lite.OpsSet.SELECT_TF_OPS] if select_tf_ops else [])
        conv.allow_custom_ops = custom
        path = root / f"{name}.tflite"
        path.write_bytes(conv.convert())
        return path

    return make


def names(issues: list[GpuIssue]) -> list[str]:
    return [i.op for i in issues]


# ---------------------------------------------------------------- (a) Flex ops

def test_flex_ops_make_the_verdict_incompatible_with_count(tf, build):
    # three erf calls → three FlexErf nodes (what onnx2tf emits for ONNX Erf)
    path = build("flex_erf", lambda x: tf.math.erf(x) + tf.math.erf(2.0 * x) * tf.math.erf(3.0 * x), [1, 8],
                 select_tf_ops=True)
    issues, verdict = tflite_gpu_compatibility(path)
    assert verdict == "incompatible: FlexErf x3"
    assert names(issues) == ["FlexErf"] * 3
    assert len({i.node for i in issues}) == 3 and all(NODE.match(i.node) for i in issues)
    assert all("Flex" in i.reason and "GELU" in i.reason for i in issues)

    report = inspect_file(path)  # the same verdict through the report the CLI/manifest use
    assert report.gpu_verdict == verdict and report.gpu_issues == issues
    assert report.op_histogram.get("FlexErf") == 3


def test_flex_op_inside_a_branch_subgraph_is_found(tf, build):
    def fn(x):
        return tf.cond(tf.reduce_sum(x) > 0.0, lambda: tf.math.erf(x), lambda: x * 2.0)

    path = build("flex_in_cond", fn, [1, 8], select_tf_ops=True)
    ops = tflite_ops(path)
    assert len({op.subgraph for op in ops}) > 1  # IF with then/else subgraphs
    issues, verdict = tflite_gpu_compatibility(path)
    flex = [i for i in issues if i.op == "FlexErf"]
    assert flex and flex[0].node.startswith("Subgraph#")
    assert verdict.startswith("incompatible: ") and "FlexErf x1" in verdict and "IF x1" in verdict


# ---------------------------------------------------------------- (b) custom ops

def test_custom_op_makes_the_verdict_incompatible(tf, build):
    # erf with builtins only and allow_custom_ops → a custom op named "Erf"
    path = build("custom_erf", lambda x: tf.math.erf(x) * 2.0, [1, 8], custom=True)
    assert [op.kind for op in tflite_ops(path) if op.name == "Erf"] == ["custom"]
    issues, verdict = tflite_gpu_compatibility(path)
    assert verdict == "incompatible: Erf x1"
    assert issues == [GpuIssue("Erf", "Op#0", issues[0].reason)] and "custom op" in issues[0].reason


# ---------------------------------------------------------------- (c) builtins without GPU kernel

@pytest.mark.parametrize("op, fn", [
    ("TOPK_V2", lambda tf: lambda x: tf.math.top_k(x, 2).values),
    ("REVERSE_V2", lambda tf: lambda x: tf.reverse(x, [1])),
])
def test_builtin_without_gpu_kernel_makes_the_verdict_incompatible(tf, build, op, fn):
    assert op not in GPU_TFLITE_BUILTINS
    issues, verdict = tflite_gpu_compatibility(build(op.lower(), fn(tf), [1, 8]))
    assert verdict == f"incompatible: {op} x1"
    assert names(issues) == [op] and issues[0].node == "Op#0" and "no LiteRT GPU delegate kernel" in issues[0].reason


def test_supported_op_on_a_rank5_tensor_is_flagged(tf, build):
    # the delegate takes rank <= 4 only (GetOpsToReplace); SVTR attention reshapes to 5-D
    path = build("rank5", lambda x: tf.reshape(x, [1, 2, 2, 2, 3]) * 2.0, [1, 24])
    issues, verdict = tflite_gpu_compatibility(path)
    assert verdict.startswith("incompatible: ") and "RESHAPE x1" in verdict and "MUL x1" in verdict
    assert all("rank 5" in i.reason for i in issues)


def test_supported_op_on_an_int64_tensor_is_flagged(tf, build):
    path = build("argmax", lambda x: tf.cast(tf.argmax(x, axis=1), tf.float32), [1, 8])
    issues, verdict = tflite_gpu_compatibility(path)
    assert verdict == "incompatible: ARG_MAX x1, CAST x1"
    assert "INT64" in issues[1].reason


# ---------------------------------------------------------------- (d) the no case

def test_plain_conv_add_model_is_compatible(tf, build):
    w = tf.constant(tf.random.normal([3, 3, 3, 4]))
    path = build("plain", lambda x: tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME") + 1.0), [1, 16, 16, 3])
    assert {op.name for op in tflite_ops(path)} <= GPU_TFLITE_BUILTINS
    assert tflite_gpu_compatibility(path) == ([], "compatible")
    assert inspect_file(path).gpu_verdict == "compatible"


def test_gelu_builtin_is_compatible(tf, build):
    # the target of a GELU pass: TFLite's GELU builtin has a GPU kernel, unlike FlexErf
    path = build("gelu", lambda x: tf.nn.gelu(x, approximate=False), [1, 8])
    assert [op.name for op in tflite_ops(path)] == ["GELU"]
    assert tflite_gpu_compatibility(path) == ([], "compatible")


# ---------------------------------------------------------------- verdict form

def test_gpu_allowlist_spells_real_builtin_names():
    from ai_edge_litert import schema_py_generated as schema
    builtins = {k for k in vars(schema.BuiltinOperator) if not k.startswith("_")}
    assert GPU_TFLITE_BUILTINS <= builtins
    assert not {"TOPK_V2", "ARG_MAX", "REVERSE_V2", "CUSTOM", "WHILE", "IF"} & GPU_TFLITE_BUILTINS


def test_verdict_names_op_types_most_frequent_first():
    assert format_gpu_verdict([]) == "compatible"
    issues = [GpuIssue("TOPK_V2", "Op#9", "r"), *[GpuIssue("FlexErf", f"Op#{i}", "r") for i in range(13)]]
    assert format_gpu_verdict(issues) == "incompatible: FlexErf x13, TOPK_V2 x1"


# ---------------------------------------------------------------- ONNX

def _onnx(path, nodes, shape=(1, 3, 8, 8)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_onnx_erf_is_flagged_as_a_future_flex_op(tmp_path):
    path = _onnx(tmp_path / "erf.onnx", [helper.make_node("Erf", ["x"], ["e"], name="erf0"),
                                         helper.make_node("Erf", ["e"], ["f"], name="erf1"),
                                         helper.make_node("Add", ["f", "x"], ["y"], name="add0")])
    report = inspect_file(path)
    assert report.gpu_verdict == "incompatible: Erf x2"
    assert [(i.op, i.node) for i in report.gpu_issues] == [("Erf", "erf0"), ("Erf", "erf1")]
    assert all("FlexErf" in i.reason and "GELU" in i.reason for i in report.gpu_issues)


def test_onnx_plain_model_is_compatible_and_dynamic_one_is_not(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "x"], ["y"])]
    assert inspect_file(_onnx(tmp_path / "ok.onnx", nodes)).gpu_verdict == "compatible"
    dynamic = inspect_file(_onnx(tmp_path / "dyn.onnx", nodes, shape=(1, 3, "h", "w")))
    assert dynamic.gpu_verdict == "incompatible: (graph) x1"


# ---------------------------------------------------------------- CLI and --strict-gpu

def test_cli_inspect_json_reports_the_flex_ops(tf, build):
    path = build("cli_flex", lambda x: tf.math.erf(x) * 2.0, [1, 8], select_tf_ops=True)
    r = runner.invoke(app, ["inspect", str(path), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["gpu_verdict"] == "incompatible: FlexErf x1"
    assert [i["op"] for i in report["gpu_issues"]] == ["FlexErf"]
    # the interpreter cannot build a Flex model: the CPU line says so instead of failing
    assert report["xnnpack"]["partitions"] == 0 and "Flex" in report["xnnpack"]["error"]
    r = runner.invoke(app, ["inspect", str(path)])
    assert "LiteRT GPU delegate: incompatible: FlexErf x1" in r.output and "FlexErf Op#0:" in r.output
    assert "XNNPACK (CPU): not measured" in r.output


def _erf_model_dir(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, "h", "w"])
    nodes = [helper.make_node("Erf", ["x"], ["e"], name="erf0"),
             helper.make_node("Add", ["e", "x"], ["y"], name="add0")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "erf.onnx"))
    return tmp_path / "erf.onnx"


def _strict(tmp_path, target):
    """`convert --strict-gpu` on a tiny Erf model passed as --model-dir (any det config works)."""
    args = ["PP-OCRv5_mobile_det", "-t", target, "--model-dir", str(_erf_model_dir(tmp_path)),
            "--passes", "pin_shapes", "--shape", "1x3x32x32", "--strict-gpu", "--out", str(tmp_path / "dist")]
    r = runner.invoke(app, args, env={"PPOCR_CONVERT_CACHE": str(tmp_path / "cache")})
    assert "Traceback" not in r.output
    return r


def test_strict_gpu_refuses_onnx_with_erf(tmp_path):
    r = _strict(tmp_path, "onnx")
    assert r.exit_code == 5, r.output
    assert "onnx: 1 op(s) the GPU delegate cannot run, first Erf at erf0" in " ".join(r.output.split())
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").rglob("*.onnx"))


@pytest.mark.slow  # runs onnx2tf (~15 s)
def test_strict_gpu_refuses_tflite_with_flex_erf(tmp_path):
    r = _strict(tmp_path, "tflite-fp32")
    assert r.exit_code == 5, r.output
    assert "tflite-fp32: 1 op(s) the GPU delegate cannot run, first FlexErf at Op#0" in " ".join(r.output.split())
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").rglob("*.tflite"))

import json

import numpy as np
import pytest
from onnx import helper

from ppocr_convert.passes._testing import assert_same_outputs, check, make_model, op_types, random_feeds
from ppocr_convert.passes.attention_split_heads import MAX_CONCAT_INPUTS, AttentionSplitHeads

H_ = helper.make_node
B, N = 1, 6


def attention_model(heads=2, head_dim=3, pick="slice", scale_on="q", opset=17, dynamic=False, extra_output=False,
                    softmax_axis=-1):
    """x [B, N, C] -> Linear to qkv -> ViT-style multi-head attention -> [B, N, C] (+ a residual).

    Below opset 13 the Squeezes take their axes as an attribute (paddle2onnx's opset-11
    export of PP-OCRv6 rec); softmax_axis=None leaves the Softmax axis at its default."""
    c = heads * head_dim
    rng = np.random.default_rng(1)
    inits = {
        "w_qkv": rng.standard_normal((c, 3 * c)).astype(np.float32),
        "qkv_shape": np.array([0, -1, 3, heads, head_dim], dtype=np.int64),
        "out_shape": np.array([0, -1, c], dtype=np.int64),
        "scale": np.array([head_dim ** -0.5], dtype=np.float32),
    }
    def squeeze0(inp, out, name):
        if opset >= 13:
            return H_("Squeeze", [inp, "ax0"], [out], name=name)
        return H_("Squeeze", [inp], [out], axes=[0], name=name)

    nodes = [H_("MatMul", ["x", "w_qkv"], ["qkv"], name="qkv_proj"),
             H_("Reshape", ["qkv", "qkv_shape"], ["qkv5"], name="split_heads"),
             H_("Transpose", ["qkv5"], ["qkv_t"], perm=[2, 0, 3, 1, 4], name="heads_first")]
    if pick == "slice":
        for i, name in enumerate("qkv"):
            inits[f"s{i}"], inits[f"e{i}"] = np.array([i], np.int64), np.array([i + 1], np.int64)
            inits["ax0"] = np.array([0], np.int64)
            nodes += [H_("Slice", ["qkv_t", f"s{i}", f"e{i}", "ax0"], [f"{name}_1"], name=f"pick_{name}"),
                      squeeze0(f"{name}_1", name, f"squeeze_{name}")]
    elif pick == "gather":
        for i, name in enumerate("qkv"):
            inits[f"i{i}"] = np.array(i, np.int64)
            nodes.append(H_("Gather", ["qkv_t", f"i{i}"], [name], axis=0, name=f"pick_{name}"))
    elif pick == "split":
        inits["ax0"] = np.array([0], np.int64)
        nodes.append(H_("Split", ["qkv_t"], ["q_1", "k_1", "v_1"], axis=0, name="pick"))
        nodes += [squeeze0(f"{n}_1", n, f"squeeze_{n}") for n in "qkv"]
    q = "q"
    if scale_on == "q":
        nodes.append(H_("Mul", ["q", "scale"], ["q_s"], name="scale_q"))
        q = "q_s"
    nodes += [H_("Transpose", ["k"], ["k_t"], perm=[0, 1, 3, 2], name="k_t"),
              H_("MatMul", [q, "k_t"], ["scores"], name="scores")]
    scores = "scores"
    if scale_on == "scores":
        nodes.append(H_("Mul", ["scale", "scores"], ["scores_s"], name="scale_scores"))
        scores = "scores_s"
    softmax_attrs = {} if softmax_axis is None else {"axis": softmax_axis}
    nodes += [H_("Softmax", [scores], ["probs"], name="softmax", **softmax_attrs),
              H_("MatMul", ["probs", "v"], ["o"], name="weighted"),
              H_("Transpose", ["o"], ["o_t"], perm=[0, 2, 1, 3], name="heads_back"),
              H_("Reshape", ["o_t", "out_shape"], ["o_flat"], name="merge_heads"),
              H_("Add", ["x", "o_flat"], ["y"], name="residual")]
    x_shape = [B, "n", c] if dynamic else [B, N, c]
    outputs = [("y", x_shape)] + ([("probs", [B, heads, "n" if dynamic else N, "n" if dynamic else N])]
                                  if extra_output else [])
    return make_model(nodes, [("x", x_shape)], outputs, inits, opset=opset)


def assert_exact(model, result):
    check(result.model)
    assert_same_outputs(model, result.model, random_feeds(model), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("pick", ["slice", "gather", "split"])
def test_removes_head_transposes_and_keeps_outputs(pick):
    model = attention_model(pick=pick)
    result = AttentionSplitHeads().run(model)

    assert result.modified
    ops = op_types(result.model)
    # only the two per-head k transposes are left (MatMul folds them into adj_y in TFLite)
    assert ops.count("Transpose") == 2
    assert ops.count("Softmax") == 2 and ops.count("MatMul") == 1 + 2 * 2
    assert "Gather" not in ops and "Split" not in ops
    assert_exact(model, result)
    (change,) = result.changes
    assert change["heads"] == 2 and change["head_dim"] == 3
    json.dumps(result.changes)


def test_scale_on_scores_is_kept():
    model = attention_model(scale_on="scores")
    result = AttentionSplitHeads().run(model)
    assert result.modified and op_types(result.model).count("Mul") == 2
    assert_exact(model, result)


def test_unscaled_attention():
    model = attention_model(scale_on=None)
    result = AttentionSplitHeads().run(model)
    assert result.modified and "Mul" not in op_types(result.model)
    assert_exact(model, result)


def test_many_heads_concat_in_a_tree_of_at_most_four():
    model = attention_model(heads=8, head_dim=2)
    result = AttentionSplitHeads().run(model)
    concats = [n for n in result.model.graph.node if n.op_type == "Concat"]
    assert len(concats) == 3  # 4 + 4, then 2
    assert all(len(n.input) <= MAX_CONCAT_INPUTS for n in concats)
    assert_exact(model, result)


def test_symbolic_token_axis_is_left_alone_with_a_reason():
    model = attention_model(dynamic=True)
    result = AttentionSplitHeads().run(model)
    assert not result.modified
    assert result.changes[0]["action"] == "skipped" and "pin_shapes" in result.changes[0]["reason"]


def test_intermediate_read_elsewhere_is_left_alone():
    model = attention_model(extra_output=True)
    result = AttentionSplitHeads().run(model)
    assert not result.modified
    assert "probs" in result.changes[0]["reason"]
    assert result.model.SerializeToString() == model.SerializeToString()


@pytest.mark.parametrize("pick", ["slice", "gather", "split"])
@pytest.mark.parametrize("softmax_axis", [3, -1])
def test_opset_11_export_is_split_too(pick, softmax_axis):
    """PP-OCRv6 rec ships as opset 11: Squeeze axes as an attribute, Softmax(axis=3) over
    [B, H, N, N], which Softmax-11 computes over the last axis as well."""
    model = attention_model(pick=pick, opset=11, softmax_axis=softmax_axis)
    result = AttentionSplitHeads().run(model)

    assert result.modified
    head = ["Slice", "Mul", "Slice", "Transpose", "MatMul", "Softmax", "Slice", "MatMul"]
    assert op_types(result.model) == ["MatMul", *head, *head, "Concat", "Reshape", "Reshape", "Add"]
    assert all(a.i == -1 for n in result.model.graph.node if n.op_type == "Softmax" for a in n.attribute)
    assert_exact(model, result)


def test_opset_11_default_softmax_axis_is_not_the_last_one():
    # Softmax-11 without an axis normalises over [H, N, N] as one: not attention, left alone
    model = attention_model(opset=11, softmax_axis=None)
    result = AttentionSplitHeads().run(model)
    assert not result.modified and "last axis" in result.changes[0]["reason"]
    assert result.model.SerializeToString() == model.SerializeToString()


def test_old_opset_is_skipped_not_failed():
    model = attention_model(opset=10, pick="gather")
    result = AttentionSplitHeads().run(model)
    assert not result.modified and "opset" in result.changes[0]["reason"]


def test_no_match_leaves_graph_unchanged():
    model = make_model([H_("Transpose", ["x"], ["y"], perm=[0, 2, 1])], [("x", [1, 2, 3])], [("y", [1, 3, 2])])
    result = AttentionSplitHeads().run(model)
    assert not result.modified and result.changes == []
    assert result.model.SerializeToString() == model.SerializeToString()


def test_input_model_not_mutated():
    model = attention_model()
    before = model.SerializeToString()
    AttentionSplitHeads().run(model)
    assert model.SerializeToString() == before

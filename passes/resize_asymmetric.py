"""Resize: coordinate_transformation_mode half_pixel/pytorch_half_pixel -> asymmetric.

Why: converters and GPU/LiteRT delegates handle asymmetric Resize (TFLite's
resize with half_pixel_centers=False) far more widely than half-pixel centres.

Whether the rewrite is exact is decided per node, not assumed:

* nearest: each output index reads one input index. We compute that source
  index map for both modes (float32, as onnxruntime does) for the node's scale
  factors and compare. For integer upsampling by k, half_pixel + round_* picks
  floor(x_out / k), which asymmetric + floor reproduces exactly; for
  downsampling the half-pixel centre sits between the pixels asymmetric picks,
  so it is inexact. When the scales are static we try nearest_mode `floor`
  first (TFLite's asymmetric nearest is floor), then the node's own mode, then
  the rest, and keep the first that gives identical maps. With a `scales`
  input the map is compared over input lengths 1..128 (plus the static length
  if known), so "exact" holds for any input size; with `sizes` only the static
  input length counts.
* linear / cubic: half_pixel and asymmetric sample different positions, so the
  rewrite changes the values (exact False) unless the resize is an identity.
* scales/sizes not constant: rewritten anyway, exact None ("scale not static").

Option only_exact=True rewrites only nodes proven exact.
"""

from __future__ import annotations

import numpy as np
import onnx

from ._util import attr, constant_value, dims, inferred_shapes, opset_version, set_attr, value_infos
from .base import GraphPass, PassResult

HALF_PIXEL_MODES = ("half_pixel", "pytorch_half_pixel")
NEAREST_MODES = ("floor", "round_prefer_floor", "round_prefer_ceil", "ceil")
PROBE_LENGTHS = range(1, 129)

# One axis of a Resize: (input length if static, scale, output length if given by `sizes`).
Axis = tuple[int | None, float, int | None]


def source_indices(in_len: int, out_len: int, scale: float, ctm: str, nearest_mode: str) -> np.ndarray:
    """Input index each output index reads in a nearest Resize (onnxruntime's float32 math)."""
    x = np.arange(out_len, dtype=np.float32)
    s = np.float32(scale)
    if ctm == "asymmetric":
        orig = x / s
    elif ctm == "half_pixel" or (ctm == "pytorch_half_pixel" and out_len > 1):
        orig = (x + np.float32(0.5)) / s - np.float32(0.5)
    elif ctm == "pytorch_half_pixel":
        orig = np.zeros_like(x)
    else:
        raise ValueError(f"unsupported coordinate_transformation_mode {ctm}")
    rounding = {
        "floor": np.floor,
        "ceil": np.ceil,
        "round_prefer_floor": lambda v: np.ceil(v - np.float32(0.5)),  # .5 goes down
        "round_prefer_ceil": lambda v: np.floor(v + np.float32(0.5)),  # .5 goes up
    }[nearest_mode]
    return np.clip(rounding(orig), 0, max(in_len - 1, 0)).astype(np.int64)


def _axis_cases(axis: Axis) -> list[tuple[int, int, float]]:
    """(in_len, out_len, scale) triples to compare for one axis."""
    in_len, scale, size = axis
    if size is not None:  # `sizes` input: onnxruntime derives scale = out / in
        return [(in_len, size, float(np.float32(size) / np.float32(in_len)))]
    lengths = set(PROBE_LENGTHS) | ({in_len} if in_len else set())
    # onnxruntime: output length = (int64)(scale * input length), in float32
    return [(n, int(np.float32(scale) * np.float32(n)), scale) for n in sorted(lengths)]


def exact_nearest_mode(axes: list[Axis], ctm: str, nearest_mode: str) -> str | None:
    """A nearest_mode with which asymmetric picks the same pixels as (ctm, nearest_mode), or None."""
    cases = [c for axis in axes for c in _axis_cases(axis)]
    for candidate in dict.fromkeys(("floor", nearest_mode, *NEAREST_MODES)):
        if all(
            np.array_equal(
                source_indices(n, out, s, ctm, nearest_mode),
                source_indices(n, out, s, "asymmetric", candidate),
            )
            for n, out, s in cases
        ):
            return candidate
    return None


class ResizeAsymmetric(GraphPass):
    name = "resize_asymmetric"
    description = "Resize half_pixel -> asymmetric; reports per node whether that is exact"

    def apply(self, model: onnx.ModelProto, *, only_exact: bool = False) -> PassResult:
        if opset_version(model) < 11:  # Resize-10 is always asymmetric
            return PassResult(model, False, [])
        targets = [n for n in model.graph.node if _is_half_pixel_resize(n)]
        if not targets:
            return PassResult(model, False, [])

        shapes = _input_shapes(model)
        changes, modified = [], False
        for i, node in enumerate(targets):
            ctm = attr(node, "coordinate_transformation_mode", "half_pixel")
            mode = attr(node, "mode", "nearest")
            nearest_mode = attr(node, "nearest_mode", "round_prefer_floor")
            axes = _axes(model.graph, node, shapes.get(node.input[0]))
            exact, reason, new_nearest = _judge(axes, ctm, mode, nearest_mode)
            record = {
                "node": node.name or f"<unnamed Resize #{i}>",
                "mode": mode,
                "scales": None if axes is None else [round(_scale(a), 6) for a in axes],
                "exact": exact,
                "reason": reason,
            }
            if only_exact and exact is not True:
                changes.append({**record, "action": "skipped (only_exact)"})
                continue
            set_attr(node, "coordinate_transformation_mode", "asymmetric")
            record["action"] = f"coordinate_transformation_mode {ctm} -> asymmetric"
            if new_nearest and new_nearest != nearest_mode:
                set_attr(node, "nearest_mode", new_nearest)
                record["nearest_mode"] = f"{nearest_mode} -> {new_nearest}"
            changes.append(record)
            modified = True
        return PassResult(model, modified, changes)

    def ensures(self, model: onnx.ModelProto, *, only_exact: bool = False) -> None:
        left = [n.name for n in model.graph.node if _is_half_pixel_resize(n)]
        if left and not only_exact and opset_version(model) >= 11:
            raise self.error(f"half-pixel Resize nodes remain: {left}")


def _is_half_pixel_resize(node: onnx.NodeProto) -> bool:
    return (
        node.op_type == "Resize"
        and node.domain in ("", "ai.onnx")
        and attr(node, "coordinate_transformation_mode", "half_pixel") in HALF_PIXEL_MODES
    )


def _judge(axes: list[Axis] | None, ctm: str, mode: str, nearest_mode: str):
    """-> (exact, reason, nearest_mode to set or None)."""
    identity = axes is not None and all(_scale(a) == 1.0 for a in axes)
    if mode != "nearest":
        if identity:
            return True, "identity resize (all scales 1)", None
        return False, f"mode={mode} interpolates at different sample positions under asymmetric", None
    if axes is None:
        return None, "scale not static", None
    chosen = exact_nearest_mode(axes, ctm, nearest_mode)
    if chosen is None:
        return False, f"no nearest_mode makes asymmetric read the same pixels as {ctm}+{nearest_mode}", None
    return True, f"same source pixels with asymmetric+{chosen}", chosen


def _scale(axis: Axis) -> float:
    in_len, scale, size = axis
    return float(size / in_len) if size is not None else float(scale)


def _input_shapes(model: onnx.ModelProto) -> dict[str, list | None]:
    """Shapes of all values as far as onnx shape inference knows them."""
    try:
        return inferred_shapes(model)
    except Exception:  # shapes only refine the verdict; never fail the pass on them
        return {name: dims(vi) for name, vi in value_infos(model).items()}


def _axes(graph: onnx.GraphProto, node: onnx.NodeProto, in_shape: list | None) -> list[Axis] | None:
    """Per-axis (input length, scale, size) if scales/sizes are static, else None."""
    scales_name = node.input[2] if len(node.input) > 2 else ""
    sizes_name = node.input[3] if len(node.input) > 3 else ""
    scales = constant_value(graph, scales_name)
    sizes = constant_value(graph, sizes_name)
    if scales_name and scales is None:
        return None  # scales computed at run time
    use_scales = scales is not None and scales.size > 0  # Resize-13 allows an empty placeholder
    values = scales if use_scales else sizes
    if values is None or values.size == 0 or (values <= 0).any():
        return None  # sizes computed at run time, neither given, or invalid
    if attr(node, "keep_aspect_ratio_policy", "stretch") != "stretch" and not use_scales:
        return None  # sizes then only bound the output; the scale depends on the input

    rank = len(in_shape) if in_shape is not None else None
    axes_attr = attr(node, "axes")  # Resize-18: scales/sizes cover only these axes
    if axes_attr is not None:
        if rank is None:
            return None
        full = [None] * rank
        for a, v in zip(axes_attr, values.tolist()):
            full[a % rank] = v
    else:
        full = values.tolist()
        rank = len(full)

    result: list[Axis] = []
    for i, v in enumerate(full):
        in_len = in_shape[i] if in_shape is not None and i < len(in_shape) else None
        in_len = in_len if isinstance(in_len, int) and in_len > 0 else None
        if v is None:  # axis not listed in `axes`: untouched
            result.append((in_len, 1.0, None))
        elif use_scales:
            result.append((in_len, float(v), None))
        elif in_len is None:
            return None  # sizes need the input length to give a scale
        else:
            result.append((in_len, v / in_len, int(v)))
    return result

"""Per-op audit of ai-edge-quantizer's int8 weights against the fp32 TFLite: the axis and
number of scales each conv / depthwise / fully-connected weight got, the integer range,
and the relative error per output channel (README, INT8: "Why int8 weights alone cost so
much").

    python -m bench.int8_weight_audit dist/PP-OCRv5_mobile_rec/tflite-fp32/PP-OCRv5_mobile_rec_w320_fp32.tflite

The weights are rounded exactly as the tflite-int8 stage's static recipe rounds them
(quantize.weight_only_recipe: same weight config, float compute). Prints a summary per
op type and the worst ops; --json writes every op.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import typer

app = typer.Typer(add_completion=False)

OUTPUT_AXIS = {"CONV_2D": 0, "FULLY_CONNECTED": 0, "DEPTHWISE_CONV_2D": 3}  # TFLite weight layouts


def audit(fp32: bytes) -> list[dict]:
    import tempfile

    from ai_edge_litert.tools import flatbuffer_utils as fbu

    from ppocr_convert.chain import bias_correction as bc
    from ppocr_convert.chain.quantize import _quantize, weight_only_recipe, with_signature
    model = with_signature(fp32)
    quantized = _quantize(model, weight_only_recipe(), None, Path(tempfile.mkdtemp(prefix="ppocr-audit-")))
    a = fbu.convert_bytearray_to_object(bytearray(model))
    b = fbu.convert_bytearray_to_object(bytearray(quantized))
    ga, gb = a.subgraphs[0], b.subgraphs[0]
    producers = {o: op for op in gb.operators for o in op.outputs}
    by_scope = {bc.op_scope(gb, op): op for op in gb.operators}
    rows = []
    for k, (kind, op) in enumerate(bc._weighted_ops(a)):
        w = bc._constant(a, model, ga, op.inputs[1])
        row: dict = {"op": kind, "scope": bc.op_scope(ga, op), "shape": None if w is None else list(w.shape)}
        qop = by_scope.get(row["scope"])
        found = bc._weight(b, quantized, gb, qop, producers) if qop is not None else None
        if w is None or found is None or found[1].quantization is None or found[1].quantization.scale is None:
            rows.append({**row, "quantized": False})
            continue
        q, tensor = found
        quant = tensor.quantization
        axis = OUTPUT_AXIS[kind]
        scale = np.asarray(quant.scale, np.float64)
        shape = [-1 if ax == quant.quantizedDimension else 1 for ax in range(q.ndim)]
        deq = q.astype(np.float64) * (scale.reshape(shape) if scale.size > 1 else scale.reshape(()))
        ref = np.moveaxis(w.astype(np.float64), axis, 0).reshape(w.shape[axis], -1)
        err = np.moveaxis(deq, axis, 0).reshape(w.shape[axis], -1) - ref
        norm = np.sqrt((ref ** 2).sum(axis=1))
        peak = np.abs(ref).max(axis=1)
        # near-dead channels (peak below 1e-3 of the op's median; BN folding leaves many
        # at 1e-5 .. 1e-38) round to 0 whatever the scheme: their relative error says nothing
        live = peak >= 1e-3 * np.median(peak)
        per_channel = np.sqrt((err ** 2).sum(axis=1))[live] / np.maximum(norm[live], 1e-300)
        rows.append({**row, "quantized": True, "axis": int(quant.quantizedDimension), "output_axis": axis,
                     "scales": int(scale.size), "output_channels": int(w.shape[axis]),
                     "zero_points_nonzero": int(np.count_nonzero(quant.zeroPoint)),
                     "int_range": [int(q.min()), int(q.max())],
                     "rel_error_tensor": float(np.sqrt((err ** 2).sum() / (ref ** 2).sum())),
                     "rel_error_channel_median": float(np.median(per_channel)) if per_channel.size else 0.0,
                     "rel_error_channel_max": float(per_channel.max()) if per_channel.size else 0.0,
                     "near_dead_channels": int((~live).sum()),
                     "channel_peak_spread": float(peak.max() / max(float(np.median(peak)), 1e-30))})
    return rows


@app.command()
def main(model: Path, json_out: Path = typer.Option(None, "--json")):
    rows = audit(model.read_bytes())
    if json_out:
        json_out.write_text(json.dumps(rows, indent=1))
    by = defaultdict(list)
    for r in rows:
        by[r["op"]].append(r)
    typer.echo("| op | count | int8 | on the output-channel axis, one scale per channel | rel. error per tensor "
               "(median / max) | worst live channel | near-dead channels |")
    typer.echo("|---|---|---|---|---|---|---|")
    for kind, rs in by.items():
        q = [r for r in rs if r["quantized"]]
        right = sum(r["axis"] == r["output_axis"] and r["scales"] == r["output_channels"] for r in q)
        errs = [r["rel_error_tensor"] for r in q]
        typer.echo(f"| {kind} | {len(rs)} | {len(q)} | {right} | "
                   + (f"{100 * np.median(errs):.2f} % / {100 * max(errs):.2f} % | "
                      f"{100 * max(r['rel_error_channel_max'] for r in q):.1f} % | "
                      f"{sum(r['near_dead_channels'] for r in q)} |" if q else "– | – | – |"))


if __name__ == "__main__":
    app()

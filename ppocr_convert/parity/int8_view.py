"""report.html's INT8 section: per model file, the gate figures, what was kept out of
int8, whether the artifact is fully integer, and the sensitivity ranking (worst blocks
first). The data comes from the tflite-int8 manifests (chain/int8_stage.py's int8.json),
carried in the report's `reference.models["int8"]`."""
from __future__ import annotations

from dataclasses import dataclass


def int8_summary(entries: list[dict]) -> list[dict]:
    """What the report keeps of a tflite-int8 manifest's `int8` entries (not the recipe)."""
    out = []
    for e in entries:
        gate = e.get("gate", {})
        out.append({"width": e.get("width"), "passed": gate.get("passed"),
                    "gate": {k: gate.get(k) for k in ("line_accuracy", "cer", "argmax_agreement", "lines", "own_lines",
                                                          "pages", "fp32")
                             if k in gate},
                    "kept_blocks": [b["name"] for b in e.get("kept_blocks", [])],
                    "kept_ops": len(e.get("kept_ops", [])), "integer": e.get("integer", {}),
                    "calibration": e.get("calibration", {}).get("digest"),
                    "calibration_sources": calibration_sources(e.get("calibration", {})),
                    "sensitivity": e.get("sensitivity", {}).get("blocks", [])[:10]})
    return out


def calibration_sources(calibration: dict) -> str:
    """Where calibration and gate data came from, in words: whose photos, whose pages."""
    images, user = calibration.get("images"), calibration.get("sources", {}).get("user_images", 0)
    gate = calibration.get("inputs", {}).get("gate_source", {})
    parts = [f"{images} images" + (f" ({user} yours, first)" if user else "")] if images is not None else []
    if "user_pages" in gate:
        parts.append(f"gate on your {gate['user_pages']} labelled pages")
    elif "rendered_pages" in gate:
        parts.append(f"gate on {gate['rendered_pages']['n']} rendered pages (seed {gate['rendered_pages']['seed']})")
    return "; ".join(parts)


@dataclass
class Int8Row:
    model: str
    file: str
    gate: str
    passed: bool | None
    kept: str
    integer: str
    calibration: str                      # digest of the calibration tensors
    sources: str                          # calibration_sources()
    ranking: list[tuple[str, str, str]]   # (block, score, worst op)


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def build_int8(models: dict) -> list[Int8Row]:
    rows = []
    for model, entries in (models.get("int8") or {}).items():
        for e in entries:
            g = e.get("gate", {})
            fp = g.get("fp32", {})
            if "line_accuracy" in g:
                gate = (f"lines {_pct(g['line_accuracy'])} (fp32 {_pct(fp.get('line_accuracy'))}), "
                        f"CER {_pct(g.get('cer'))} (fp32 {_pct(fp.get('cer'))}) on {g.get('lines')} lines")
                if "own_lines" in g:  # rec: how many the deployed pipeline routes to this bucket
                    gate += f" ({g['own_lines']} of its own width, from {g.get('pages')} gate pages)"
            else:
                count = f"{g['crops']} crops" if "crops" in g else f"{g.get('lines')} lines"  # older manifests
                gate = f"argmax agreement {_pct(g.get('argmax_agreement'))} on {count}"
            integer = e.get("integer", {})
            verdict = "fully integer" if integer.get("fully_integer") else (
                "float: " + ", ".join(f"{k} x{v}" for k, v in sorted(integer.get("float_ops", {}).items())))
            kept = (f"{len(e['kept_blocks'])} block(s), {e['kept_ops']} ops: " + "; ".join(e["kept_blocks"][:8])
                    + (" …" if len(e["kept_blocks"]) > 8 else "")) if e.get("kept_blocks") else "nothing (all int8)"
            ranking = [(b["name"], f"{b['score']:.3g}", f"{b['worst_op']['op']} #{b['worst_op']['index']}")
                       for b in e.get("sensitivity", [])]
            rows.append(Int8Row(model, f"w{e['width']}" if len(entries) > 1 else "", gate, e.get("passed"), kept,
                                f"{verdict}; int8 weights {_pct(integer.get('int8_weight_share'))}",
                                str(e.get("calibration") or ""), e.get("calibration_sources", ""), ranking))
    return rows

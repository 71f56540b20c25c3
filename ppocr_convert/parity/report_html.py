"""report.html: the parity run for people (report.json is the same data for scripts).

One self-contained page: inline CSS, no scripts, no network. Source photos are embedded
as small JPEG data URIs; the det-difference heat maps stay files under assets/ and are
linked relatively. Every string that came out of a model or a file name is escaped.

Layout, top to bottom:
1. verdict header (PASS/FAIL badge, models, reference vs deployed shapes, failures table);
2. one summary row per stage for both views, cells graded green/amber/red;
3. with labels (--labels): the reference and every stage scored against the ground truth;
4. the static-shape recipes (same weights, different input recipes) against the reference
   and, with labels, the ground truth;
5. one section per image, worst first: the photo with reference and stage boxes, the
   texts with character-level differences, and the heat map; images on which every
   stage matches the reference exactly are collapsed.
"""
from __future__ import annotations

import base64
import difflib
import html
from pathlib import Path

PHOTO_MAX_SIDE = 480
WIDE_ASPECT = 4.0  # width/height from which an image's panels become rows (text strips stay legible)
HEATMAP_SCALE = 0.1  # |Δ prob| shown at full colour; must match report.heatmap_png

GOOD, WARN, BAD = "good", "warn", "bad"

# (view, metric, column title, tooltip)
SUMMARY_COLUMNS = [
    ("same_input", "det_max_abs", "det max\u00a0|Δp|", "largest |Δ| of any det probability-map pixel"),
    ("same_input", "det_binary_agreement", "det binary agreement",
     "share of det-map pixels on the same side of the binarisation threshold"),
    ("same_input", "rec_argmax_agreement", "rec argmax agreement",
     "share of rec time steps whose most likely character is the same"),
    ("same_input", "line_text_agreement", "line text agreement",
     "share of the reference's line crops decoded to the same text"),
    ("pipeline", "det_f1", "det F1", "text boxes matched one-to-one to the reference's at IoU ≥ 0.5"),
    ("pipeline", "line_exact_match", "line exact match",
     "share of reference lines whose matched box reads the same text"),
    ("pipeline", "cer", "CER", "character error rate over all reference lines (lower is better)"),
    ("pipeline", "text_agreement", "image text agreement",
     "share of images whose whole text is identical to the reference's"),
]

VIEW_TITLES = {"same_input": "same input", "pipeline": "pipeline (as deployed)"}

CSS = """
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
       margin: 0; color: #1f2328; background: #f6f8fa; }
main { max-width: 1600px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 28px 0 8px; }
code { font-size: 13px; background: #eef1f4; padding: 0 3px; border-radius: 3px; }
.verdict { display: flex; gap: 24px; align-items: center; padding: 18px 24px; border-radius: 10px;
           background: #fff; border: 3px solid; }
.verdict.pass { border-color: #1a7f37; } .verdict.fail { border-color: #cf222e; }
.badge { font-size: 52px; font-weight: 800; letter-spacing: 2px; color: #fff; padding: 6px 28px;
         border-radius: 8px; }
.pass .badge { background: #1a7f37; } .fail .badge { background: #cf222e; }
.meta { margin: 2px 0; color: #424a53; }
.chip { display: inline-block; padding: 1px 8px; margin: 2px 4px 2px 0; border-radius: 10px;
        font-size: 12.5px; font-weight: 600; white-space: nowrap; }
.chip.good { background: #dafbe1; color: #116329; } .chip.warn { background: #fff1c2; color: #7d4e00; }
.chip.bad { background: #ffd8d3; color: #a40e26; }
.chip.gtc { background: #e4ecf7; color: #0a3069; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #d0d7de; padding: 5px 10px; text-align: right; }
th { background: #eef1f4; font-weight: 600; } th.l, td.l { text-align: left; white-space: nowrap; }
table.summary tr:nth-child(2) th:first-child { white-space: nowrap; }
td.good { background: #dafbe1; } td.warn { background: #fff1c2; } td.bad { background: #ffc9c2; }
td.gate { outline: 3px solid #cf222e; outline-offset: -3px; font-weight: 700; }
td small { display: block; color: #57606a; font-size: 11px; }
table.failures { margin-top: 12px; } table.failures th { background: #ffd8d3; color: #82071e; }
table.failures td { color: #a40e26; font-weight: 600; }
tr.refrow th, tr.refrow td { background: #e4ecf7; }
tr.refrow th { border-left: 4px solid #0969da; }
td.gt-sep, th.gt-sep { border-left: 2px solid #8c959f; }
.chip .gt { font-weight: 500; margin-left: 4px; padding-left: 5px; border-left: 1px solid currentColor; }
.views { margin: 8px 0 0; padding-left: 20px; color: #424a53; max-width: 1100px; }
.legend { color: #57606a; font-size: 12.5px; margin-top: 6px; }
details.image { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; margin: 10px 0;
                padding: 0 12px; }
details.image[open] { padding-bottom: 12px; }
details.image.exact { background: #fbfcfd; }
details.image > summary { cursor: pointer; padding: 8px 0; font-size: 15px; }
details.image > summary .name { font-weight: 700; margin-right: 8px; }
details.image > summary .dim { color: #57606a; margin-right: 10px; font-size: 13px; }
.panels { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 12px; }
.panel { border: 1px solid #d0d7de; border-radius: 6px; padding: 8px; min-width: 0; }
.panel.ref { background: #f3f6fb; }
.panels.wide { grid-template-columns: 1fr; gap: 6px; }
.panels.wide .panel { display: grid; grid-template-columns: 170px minmax(0, 560px) minmax(0, 1fr) 230px;
                      gap: 14px; align-items: start; }
.panels.wide .heat { margin-top: 0; }
.panels.wide .heat img { max-height: 80px; }
.panels.wide .panel h3 { flex-wrap: wrap; }
.panel h3 { margin: 0 0 4px; font-size: 15px; display: flex; justify-content: space-between; }
.panel .stats { font-size: 12px; color: #424a53; margin-bottom: 6px; }
.photo { position: relative; width: 100%; background: #c9ced4 no-repeat center / 100% 100%;
         max-height: 640px; }
.photo svg { position: absolute; inset: 0; width: 100%; height: 100%; }
.photo polygon { fill-opacity: 0.10; stroke-width: 2; vector-effect: non-scaling-stroke; }
polygon.ref { stroke: #0969da; fill: #0969da; }
polygon.same { stroke: #1a7f37; fill: #1a7f37; }
polygon.diff { stroke: #cf222e; fill: #cf222e; fill-opacity: 0.18; }
polygon.extra { stroke: #e16f00; fill: #e16f00; fill-opacity: 0.18; }
polygon.missed { stroke: #0969da; fill: none; stroke-dasharray: 4 3; stroke-width: 1.5; }
.nophoto { font-size: 11px; color: #57606a; }
ol.lines, ul.lines { margin: 6px 0 0; padding-left: 22px; font-size: 13px; }
.lines li { margin: 1px 0; overflow-wrap: anywhere; }
.t { white-space: pre-wrap; }
.lines li.same { color: #57606a; }
.lines li.diff::marker { color: #cf222e; } .lines li.extra::marker { color: #e16f00; }
.lines li.missed::marker { color: #0969da; }
.tag { font-size: 11px; color: #57606a; margin-left: 4px; }
.ok { color: #1a7f37; font-size: 13px; margin-top: 6px; }
del { background: #ffc9c2; color: #82071e; text-decoration: line-through; }
ins { background: #aceebb; color: #0f5323; text-decoration: none; }
.heat { margin-top: 8px; font-size: 11.5px; color: #57606a; display: flex; gap: 8px; align-items: flex-end; }
.heat img { display: block; max-width: 120px; max-height: 120px; border: 1px solid #d0d7de; }
.scale { display: flex; flex-direction: column; gap: 2px; }
.scale .bar { width: 90px; height: 9px; border: 1px solid #999; background: linear-gradient(to right,
  #000004, #1b0c41, #4a0c6b, #781c6d, #a52c60, #cf4446, #ed6925, #fb9b06, #f7d13d, #fcffa4); }
.same-input { margin-top: 6px; font-size: 12px; color: #424a53; }
.key span { margin-right: 14px; white-space: nowrap; }
.sw { display: inline-block; width: 12px; height: 10px; border: 2px solid; margin-right: 4px;
      vertical-align: -1px; }
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


# ---------------------------------------------------------------- numbers and grades

def fmt_fraction(value: float) -> str:
    """A share as a percentage, with as many decimals as it takes not to round to 100%."""
    if value >= 1.0:
        return "100%"
    for decimals in range(1, 8):
        text = f"{value * 100:.{decimals}f}"
        if float(text) < 100.0:
            return text + "%"
    return f"{value * 100:.7f}%"


def fmt_metric(metric: str, value) -> str:
    if value is None:
        return "–"
    if metric.endswith(("max_abs", "mean_abs")):
        return f"{value:.2g}"
    if metric == "cer":
        return f"{value:.3f}"
    return fmt_fraction(value)


def grade(metric: str, value) -> str:
    """green/amber/red for a metric; the configured tolerances only decide PASS/FAIL."""
    if value is None:
        return ""
    if metric.endswith("max_abs"):  # one det pixel: ≤ 1e-3 is float noise, > 0.3 (det thresh) can flip it
        return GOOD if value <= 1e-3 else WARN if value <= 0.3 else BAD
    if metric == "cer":
        return GOOD if value <= 1e-9 else WARN if value <= 0.05 else BAD
    if metric == "det_binary_agreement":  # share of pixels: a handful of flipped pixels is fine
        return GOOD if value >= 0.999 else WARN if value >= 0.99 else BAD
    return GOOD if value >= 1.0 - 1e-9 else WARN if value >= 0.95 else BAD


# ---------------------------------------------------------------- header

def render_header(report: dict) -> str:
    failures = report.get("failures") or []
    passed = not failures
    stages = report.get("stages", {})
    chips = "".join(
        f'<span class="chip {GOOD if v.get("verdict") == "pass" else BAD}">{esc(s)} '
        f'{"pass" if v.get("verdict") == "pass" else "FAIL"}</span>'
        for s, v in stages.items())
    n_images = len(report.get("images") or report.get("per_image", {}))
    skipped = report.get("skipped_images") or []
    skipped_txt = f" ({len(skipped)} file{'s' if len(skipped) != 1 else ''} skipped)" if skipped else ""
    summary = ("every stage within its tolerances" if passed else
               f"{len(failures)} check{'s' if len(failures) != 1 else ''} out of tolerance in "
               + ", ".join(sorted({esc(f['stage']) for f in failures})))
    return (
        f'<header class="verdict {"pass" if passed else "fail"}">'
        f'<div class="badge">{"PASS" if passed else "FAIL"}</div><div>'
        f'<h1>{esc(report.get("pipeline", "?"))} parity: {summary}</h1>'
        f'<p class="meta">{chips}</p>'
        f'<p class="meta">{render_models(report)} · <b>{n_images}</b> images{esc(skipped_txt)}</p>'
        f'{render_shapes(report)}'
        f'</div></header>' + render_failures(failures) + render_skipped(skipped))


def render_models(report: dict) -> str:
    models = report.get("models", {})
    return " · ".join(f"{esc(k)} <code>{esc(v)}</code>" for k, v in models.items())


def render_shapes(report: dict) -> str:
    ref = report.get("reference", {})
    resize = ref.get("det_resize") or {}
    parts = [f"{esc(k)} {esc(v)}" for k, v in resize.items() if v is not None]
    ref_txt = f"reference <code>{esc(ref.get('stage', 'paddle'))}</code>: det resize {', '.join(parts) or '?'}"
    if ref.get("rec_height"):
        ref_txt += f"; rec height {esc(ref['rec_height'])}, min width {esc(ref.get('rec_min_width', '?'))}"
    return (f'<p class="meta">{ref_txt}</p>'
            f"<p class=\"meta\">deployed: {deployed_recipe(report.get('deployed') or {})}</p>")


def deployed_recipe(dep: dict) -> str:
    """e.g. "det 1024×1024 letterbox (no upscaling, pad 0), rec widths 320/640/1280" (HTML)."""
    hw = dep.get("det_static_hw")
    if not hw:
        det = "det ?"
    else:
        det = f"det <b>{esc(hw[0])}×{esc(hw[1])}</b>"
        if dep.get("det_resize"):
            det += f" {esc(dep['det_resize'])}"
        notes = []
        if "det_upscale" in dep:
            notes.append("upscaling small images" if dep["det_upscale"] else "no upscaling")
        if dep.get("det_pad_value") is not None and dep.get("det_resize") != "stretch":
            notes.append(f"pad {esc(dep['det_pad_value'])}")
        if notes:
            det += f" ({', '.join(notes)})"
    widths = dep.get("rec_widths") or ([dep["rec_static_width"]] if dep.get("rec_static_width") else [])
    if not widths:
        return det
    label = "rec widths" if len(widths) > 1 else "rec width"
    return f"{det}, {label} <b>{'/'.join(esc(w) for w in widths)}</b>"


def render_failures(failures: list[dict]) -> str:
    if not failures:
        return ""
    rows = "".join(
        f'<tr><td class="l">{esc(f.get("stage"))}</td>'
        f'<td class="l">{esc(VIEW_TITLES.get(f.get("view"), f.get("view")))}</td>'
        f'<td class="l">{esc(f.get("metric"))}</td><td>{esc(fmt_metric(f.get("metric", ""), f.get("value")))}</td>'
        f'<td>{esc(limit_text(f.get("metric", ""), f.get("limit")))}</td></tr>'
        for f in failures)
    return ('<table class="failures"><tr><th class="l">stage</th><th class="l">view</th>'
            '<th class="l">metric</th><th>value</th><th>limit</th></tr>' + rows + '</table>')


def limit_text(metric: str, limit) -> str:
    lower_is_better = metric.endswith(("max_abs", "mean_abs", "cer"))
    return f"{'≤' if lower_is_better else '≥'} {fmt_metric(metric, limit)}"


def render_skipped(skipped: list[dict]) -> str:
    if not skipped:
        return ""
    items = "".join(f"<li><code>{esc(s.get('image'))}</code>: {esc(s.get('reason'))}</li>" for s in skipped)
    return f'<details class="legend"><summary>skipped files</summary><ul>{items}</ul></details>'


# ---------------------------------------------------------------- summary table

def render_summary(report: dict) -> str:
    failed = {(f.get("stage"), f.get("view"), f.get("metric")): f for f in report.get("failures") or []}
    views = [v for v in VIEW_TITLES if any(c[0] == v for c in SUMMARY_COLUMNS)]
    head1 = '<tr><th class="l" rowspan="2">stage</th><th rowspan="2">verdict</th>' + "".join(
        f'<th colspan="{sum(c[0] == v for c in SUMMARY_COLUMNS)}">{esc(VIEW_TITLES[v])}</th>' for v in views) + "</tr>"
    head2 = "<tr>" + "".join(f'<th title="{esc(tip)}">{esc(title)}</th>'
                             for _, _, title, tip in SUMMARY_COLUMNS) + "</tr>"
    rows = []
    for stage, data in report.get("stages", {}).items():
        ok = data.get("verdict") == "pass"
        cells = "".join(summary_cell(stage, data, view, metric, failed) for view, metric, _, _ in SUMMARY_COLUMNS)
        rows.append(f'<tr><th class="l">{esc(stage)}</th>'
                    f'<td class="{GOOD if ok else BAD}"><b>{"pass" if ok else "FAIL"}</b></td>{cells}</tr>')
    return ('<h2>Stages vs the reference</h2><table class="summary">' + head1 + head2 + "".join(rows) + "</table>"
            + render_views_note(report))


def summary_cell(stage: str, data: dict, view: str, metric: str, failed: dict) -> str:
    values = data.get(view) or {}
    value = values.get(metric)
    fail = failed.get((stage, view, metric))
    cls = BAD if fail else grade(metric, value)
    note = ""
    if fail:
        cls += " gate"
        note = f"<small>✗ limit {esc(limit_text(metric, fail.get('limit')))}</small>"
    elif metric == "line_text_agreement" and "lines" in values:
        note = f"<small>{esc(values['lines'])} lines</small>"
    elif metric == "line_exact_match" and "ref_lines" in values:
        note = f"<small>{esc(values['ref_lines'])} ref → {esc(values.get('cand_lines', '?'))} lines</small>"
    return f'<td class="{cls}">{esc(fmt_metric(metric, value))}{note}</td>'


def render_views_note(report: dict) -> str:
    hw = report.get("deployed", {}).get("det_static_hw") or ["?", "?"]
    return (
        '<ul class="views">'
        '<li><b>same input</b>: identical tensors go into every stage '
        f'(det at the deployed {esc(hw[0])}×{esc(hw[1])}, '
        "rec on the reference's own line crops), so any difference is what the conversion itself changed.</li>"
        "<li><b>pipeline</b>: each stage runs end to end on the photos as it would be deployed (its own static "
        "shapes) against the dynamic-shape reference, so differences also include what static shapes and FP16 "
        "cost the user.</li></ul>"
        '<p class="legend">Cells: <span class="chip good">green</span> identical '
        '(shares 100%, CER 0, det max |Δp| ≤ 1e-3, binary agreement ≥ 99.9%) · '
        '<span class="chip warn">amber</span> close (shares ≥ 95%, CER ≤ 0.05, |Δp| ≤ 0.3) · '
        '<span class="chip bad">red</span> worse. A red outline with ✗ marks a check out of its configured '
        "tolerance; only those decide PASS/FAIL.</p>")


# ---------------------------------------------------------------- ground truth and recipes

GT_MARGINS = {"gt_line_accuracy": 0.05, "gt_cer": 0.02}  # worse than the reference by at most this: amber


def vs_reference_grade(metric: str, value, ref_value) -> str:
    """Ground-truth scores graded against the dynamic reference's own: green when as good or better
    (the reference is what the user would get from Paddle), amber when slightly worse, red beyond."""
    if value is None or ref_value is None:
        return ""
    worse = (value - ref_value) if metric == "gt_cer" else (ref_value - value)
    return GOOD if worse <= 1e-9 else WARN if worse <= GT_MARGINS.get(metric, 0.05) else BAD


def gt_count(gt: dict) -> int | None:
    """Lines read exactly right, from a ground-truth summary."""
    if gt.get("gt_line_accuracy") is None or gt.get("gt_lines") is None:
        return None
    return round(gt["gt_line_accuracy"] * gt["gt_lines"])


def gt_accuracy_cell(gt: dict, ref_gt: dict | None, extra_cls: str = "") -> str:
    """Line accuracy with the count of lines read right (and the difference to the reference's
    count when `ref_gt` is given, graded against it)."""
    value = gt.get("gt_line_accuracy")
    cls = vs_reference_grade("gt_line_accuracy", value, (ref_gt or {}).get("gt_line_accuracy")) if ref_gt else ""
    cls = f"{extra_cls} {cls}".strip()
    n, n_ref = gt_count(gt), gt_count(ref_gt or {})
    note = ""
    if n is not None:
        note = f"{n}/{esc(gt['gt_lines'])} lines"
        if ref_gt is not None and n_ref is not None and n != n_ref:
            note += f", {n - n_ref:+d} vs ref".replace("-", "−")
    note = f"<small>{note}</small>" if note else ""
    return f'<td class="{cls}">{esc(fmt_metric("line_exact_match", value))}{note}</td>'


def gt_cer_cell(gt: dict, ref_gt: dict | None) -> str:
    value = gt.get("gt_cer")
    cls = vs_reference_grade("gt_cer", value, (ref_gt or {}).get("gt_cer")) if ref_gt else ""
    return f'<td class="{cls}">{esc(fmt_metric("cer", value))}</td>'


def render_ground_truth(report: dict) -> str:
    ref_gt = (report.get("reference") or {}).get("ground_truth")
    stages = {s: d["ground_truth"] for s, d in (report.get("stages") or {}).items() if d.get("ground_truth")}
    if not report.get("labels") and not ref_gt and not stages:
        return ""
    head = ('<tr><th class="l">pipeline</th>'
            '<th title="share of ground-truth lines with a detected box at IoU ≥ 0.5">det recall</th>'
            '<th title="share of detected boxes that match a ground-truth line">det precision</th>'
            '<th title="share of ground-truth lines whose matched box reads exactly the labelled text">'
            'line accuracy</th>'
            '<th title="character error rate over all ground-truth lines (lower is better)">CER</th>'
            '<th title="ground-truth lines">lines</th></tr>')

    def row(name_html: str, gt: dict, against: dict | None, tr: str = "<tr>") -> str:
        return (f'{tr}<th class="l">{name_html}</th>'
                f'<td>{esc(fmt_metric("det_recall", gt.get("gt_det_recall")))}</td>'
                f'<td>{esc(fmt_metric("det_precision", gt.get("gt_det_precision")))}</td>'
                + gt_accuracy_cell(gt, against) + gt_cer_cell(gt, against)
                + f'<td>{esc(gt.get("gt_lines", "–"))}</td></tr>')

    rows = []
    if ref_gt:
        rows.append(row(reference_name(report), ref_gt, None, '<tr class="refrow">'))
    rows += [row(esc(s), gt, ref_gt) for s, gt in stages.items()]
    if not rows:
        return ('<h2>Against the ground truth</h2><p class="legend">Labels were given but no stage was scored '
                "against them.</p>")
    legend = ('<p class="legend">What each pipeline reads on the labelled photos. The reference row is the '
              "dynamic-shape Paddle pipeline: the best a conversion can be expected to match. Line accuracy and "
              'CER: <span class="chip good">green</span> as good as the reference or better · '
              f'<span class="chip warn">amber</span> worse by at most {GT_MARGINS["gt_line_accuracy"] * 100:g} '
              f'points (CER by {GT_MARGINS["gt_cer"]:g}) · <span class="chip bad">red</span> worse.</p>')
    return ('<h2>Against the ground truth</h2><table class="summary gt">' + head + "".join(rows) + "</table>"
            + legend)


def reference_name(report: dict) -> str:
    ref = (report.get("reference") or {}).get("stage", "paddle")
    return f'{esc(ref)} <span class="tag">reference, dynamic shapes</span>'


def strategies_weights(report: dict) -> str:
    return "onnx-raw" if "onnx-raw" in (report.get("targets") or []) else "the Paddle reference's"


def render_strategies(report: dict) -> str:
    strategies = report.get("strategies") or {}
    if not strategies:
        return ""
    ref = report.get("reference") or {}
    ref_gt = ref.get("ground_truth")
    with_gt = bool(ref_gt) or any(v.get("ground_truth") for v in strategies.values())
    head1 = ('<tr><th class="l" rowspan="2">recipe</th><th colspan="3">vs reference</th>'
             + ('<th colspan="2" class="gt-sep">vs ground truth</th>' if with_gt else "") + "</tr>")
    head2 = ('<tr><th title="text boxes matched one-to-one to the reference\'s at IoU ≥ 0.5">det F1</th>'
             '<th title="share of reference lines whose matched box reads the same text">line exact</th>'
             '<th title="character error rate over all reference lines (lower is better)">CER</th>'
             + ('<th class="gt-sep" title="share of ground-truth lines read exactly right">line accuracy</th>'
                '<th title="character error rate over all ground-truth lines">CER</th>' if with_gt else "")
             + "</tr>")
    rows = []
    if ref_gt:
        rows.append(f'<tr class="refrow"><th class="l">{reference_name(report)}</th>'
                    '<td colspan="3" class="l"><small>(is the reference)</small></td>'
                    + gt_accuracy_cell(ref_gt, None, "gt-sep") + gt_cer_cell(ref_gt, None) + "</tr>")
    for name, data in strategies.items():
        vs = data.get("vs_reference") or {}
        cells = "".join(
            f'<td class="{grade(m, vs.get(m))}">{esc(fmt_metric(m, vs.get(m)))}'
            + (f"<small>{esc(vs['ref_lines'])} ref → {esc(vs.get('cand_lines', '?'))} lines</small>"
               if m == "line_exact_match" and "ref_lines" in vs else "") + "</td>"
            for m in ("det_f1", "line_exact_match", "cer"))
        if with_gt:
            gt = data.get("ground_truth")
            if gt:
                cells += gt_accuracy_cell(gt, ref_gt, "gt-sep") + gt_cer_cell(gt, ref_gt)
            else:
                cells += '<td class="gt-sep">–</td><td>–</td>'
        rows.append(f'<tr><th class="l">{esc(name)}</th>{cells}</tr>')
    note = (f'<p class="legend">Same weights ({esc(strategies_weights(report))}, dynamic shapes) in every row; only '
            "the input recipe differs (how the photo is resized to the static det shape, and which rec crop "
            "widths exist), so each row shows what that recipe alone costs against the dynamic reference"
            + (" and against the labels" if with_gt else "") + ". Colours: vs reference as in the stage table"
            + ("; vs ground truth against the reference's own score, as in the table above" if with_gt else "")
            + ".</p>")
    return ('<h2>Static-shape recipes</h2>' + note + '<table class="summary strategies">' + head1 + head2
            + "".join(rows) + "</table>")


# ---------------------------------------------------------------- per image

def image_problem_key(name: str, entry: dict) -> tuple:
    """Sort key, worst image first: lowest pipeline line exact match across stages, then det F1, CER."""
    stages = list(entry.get("stages", {}).values())
    pipes = [s.get("pipeline") or {} for s in stages]
    return (min((p.get("line_exact_match", 1.0) for p in pipes), default=1.0),
            min((p.get("det_f1", 1.0) for p in pipes), default=1.0),
            -max((p.get("cer", 0.0) for p in pipes), default=0.0),
            -sum(len((s.get("same_input") or {}).get("texts") or []) for s in stages),
            name)


def stage_exact(stage: dict) -> bool:
    p = stage.get("pipeline") or {}
    return (p.get("line_exact_match", 0) >= 1.0 and p.get("det_f1", 0) >= 1.0 and p.get("cer", 1) <= 0.0
            and not (stage.get("same_input") or {}).get("texts"))


def image_exact(entry: dict) -> bool:
    return all(stage_exact(s) for s in entry.get("stages", {}).values())


def render_images(report: dict, images_dir: Path | None, assets_dir: Path) -> str:
    per_image = report.get("per_image", {})
    order = sorted(per_image, key=lambda n: image_problem_key(n, per_image[n]))
    n_exact = sum(image_exact(per_image[n]) for n in order)
    parts = [f"<h2>Images, worst first</h2><p class=\"legend\">{len(order) - n_exact} with differences (open), "
             f"{n_exact} where every stage matches the reference exactly (collapsed).</p>",
             render_chip_key(report), render_box_key()]
    for i, name in enumerate(order):
        parts.append(render_image(i, name, per_image[name], images_dir, assets_dir))
    return "".join(parts)


def render_chip_key(report: dict) -> str:
    labelled = report.get("labels") or any("ground_truth" in e for e in report.get("per_image", {}).values())
    gt = (' · <b>GT 9/10</b>: 9 of the 10 ground-truth lines read exactly as labelled; ↑/↓ more/fewer than '
          "the reference on that image") if labelled else ""
    return ('<p class="legend">Chips: <b>✓</b> every line, box and same-input crop as the reference · '
            f"<b>7/9 as ref</b>: 7 of the reference's 9 lines read the same{gt}.</p>")


def render_box_key() -> str:
    items = [("#0969da", "reference box"), ("#1a7f37", "stage box, same text as its reference line"),
             ("#cf222e", "stage box, different text"), ("#e16f00", "stage box with no reference box"),
             ("#0969da", "reference box the stage missed (dashed)")]
    return '<p class="legend key">' + "".join(
        f'<span><i class="sw" style="border-color:{c}{";border-style:dashed" if "dashed" in t else ""}"></i>'
        f'{esc(t)}</span>' for c, t in items) + "</p>"


def render_image(index: int, name: str, entry: dict, images_dir: Path | None, assets_dir: Path) -> str:
    exact = image_exact(entry)
    hw = entry.get("image_hw") or [0, 0]
    photo = photo_data_uri(images_dir, name) if images_dir is not None else None
    photo_class = f"ph{index}"
    style = f"<style>.{photo_class}{{background-image:url({photo})}}</style>" if photo else ""
    reference = entry.get("reference") or {}
    ref_lines = reference.get("lines") or []
    ref_gt = reference.get("ground_truth")
    chips = "".join(stage_chip(s, d, ref_gt) for s, d in entry.get("stages", {}).items())
    gt_txt = ""
    if "ground_truth" in entry or ref_gt:
        n_gt = len(entry.get("ground_truth") or []) if "ground_truth" in entry else ref_gt.get("ref_lines", 0)
        gt_txt = f' · {n_gt} ground-truth line{"s" if n_gt != 1 else ""}'
        if ref_gt and n_gt:
            gt_txt += f' (reference reads {esc(ref_gt.get("exact_lines", 0))} right)'
    summary = (f'<summary><span class="name">{esc(name)}</span><span class="dim">{esc(hw[1])}×{esc(hw[0])} px · '
               f'{len(ref_lines)} reference line{"s" if len(ref_lines) != 1 else ""}{gt_txt}</span>{chips}</summary>')
    panels = [render_reference_panel(ref_lines, hw, photo_class if photo else None, ref_gt)]
    for stage, data in entry.get("stages", {}).items():
        panels.append(render_stage_panel(stage, data, ref_lines, hw, photo_class if photo else None, assets_dir))
    wide = " wide" if hw[0] and hw[1] / hw[0] >= WIDE_ASPECT else ""
    return (f'{style}<details class="image{" exact" if exact else ""}" id="{esc(anchor(name))}"'
            f'{"" if exact else " open"}>{summary}<div class="panels{wide}">{"".join(panels)}</div></details>')


def anchor(name: str) -> str:
    return "img-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def gt_chip_part(gt: dict | None, ref_gt: dict | None) -> str:
    """ "GT 9/10" (ground-truth lines read right), with ↑/↓ where the reference read more/fewer."""
    if not gt:
        return ""
    n, exact = gt.get("ref_lines", 0), gt.get("exact_lines", 0)
    if not n:
        return (f'<span class="gt" title="no ground-truth lines; {esc(gt.get("cand_lines", 0))} lines read">'
                f'GT –</span>')
    arrow, tip = "", f"{exact} of {n} ground-truth lines read exactly right"
    if ref_gt and ref_gt.get("ref_lines") == n and ref_gt.get("exact_lines") is not None:
        diff = exact - ref_gt["exact_lines"]
        if diff:
            arrow = " ↑" if diff > 0 else " ↓"
            tip += f"; the reference reads {ref_gt['exact_lines']}"
    return f'<span class="gt" title="{esc(tip)}">GT {esc(exact)}/{esc(n)}{arrow}</span>'


def stage_chip(stage: str, data: dict, ref_gt: dict | None = None) -> str:
    p = data.get("pipeline") or {}
    gt = gt_chip_part(data.get("ground_truth"), ref_gt)
    if stage_exact(data):
        return f'<span class="chip good">{esc(stage)} ✓{gt}</span>'
    n_ref = p.get("ref_lines", 0)
    text = (f"{p.get('exact_lines', 0)}/{n_ref} as ref" if n_ref else f"{p.get('cand_lines', 0)} extra lines")
    if (data.get("same_input") or {}).get("texts"):
        text += " · same-input text differs"
    cls = grade("line_exact_match", p.get("line_exact_match", 1.0)) if n_ref else BAD
    if cls == GOOD:  # lines all read right but something else differs (boxes, same-input text)
        cls = WARN
    return f'<span class="chip {cls}">{esc(stage)} {esc(text)}{gt}</span>'


def photo_data_uri(images_dir: Path, name: str, max_side: int = PHOTO_MAX_SIDE) -> str | None:
    """The source photo downscaled to `max_side` as a JPEG data URI, or None if unreadable."""
    path = Path(images_dir) / name
    if not path.is_file():
        return None
    import cv2

    from ..ocr.image_io import load_image
    try:
        img = load_image(path)
        h, w = img.shape[:2]
        if max(h, w) > max_side:
            f = max_side / max(h, w)
            img = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 82])
    except (ValueError, OSError, cv2.error):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii") if ok else None


def render_photo(hw: list, polygons: list[str], photo_class: str | None) -> str:
    h, w = (max(1, int(hw[0])), max(1, int(hw[1]))) if hw and hw[0] and hw[1] else (1, 1)
    cls = f"photo {photo_class}" if photo_class else "photo"
    missing = "" if photo_class else '<div class="nophoto">(photo not available)</div>'
    return (f'<div class="{cls}" style="aspect-ratio:{w}/{h}">'
            f'<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">'
            f'{"".join(polygons)}</svg></div>{missing}')


def polygon(box, cls: str, title: str) -> str:
    points = " ".join(f"{float(x):.1f},{float(y):.1f}" for x, y in box)
    return f'<polygon class="{cls}" points="{points}"><title>{esc(title)}</title></polygon>'


def render_reference_panel(ref_lines: list[dict], hw: list, photo_class: str | None,
                           ref_gt: dict | None = None) -> str:
    polys = [polygon(l["box"], "ref", l.get("text", "")) for l in ref_lines]
    items = "".join(f'<li><span class="t">{esc(l.get("text", ""))}</span></li>' for l in ref_lines)
    lines = f'<ol class="lines">{items}</ol>' if ref_lines else '<p class="ok">no text detected</p>'
    head = (f'<h3><span>reference</span><span class="tag">paddle</span></h3>'
            f'<div class="stats">{len(ref_lines)} line{"s" if len(ref_lines) != 1 else ""}'
            f'{gt_stats_chip(ref_gt)}</div>')
    return panel("panel ref", head, render_photo(hw, polys, photo_class), lines, "")


def panel(cls: str, head: str, photo: str, texts: str, heat: str) -> str:
    """One column of an image section; wide images lay the same four parts out as a row."""
    return (f'<div class="{cls}"><div class="p-head">{head}</div><div class="p-photo">{photo}</div>'
            f'<div class="p-texts">{texts}</div><div class="p-heat">{heat}</div></div>')


def line_matches(data: dict) -> tuple[dict, dict]:
    """(ref index → pair, cand index → pair) from the pipeline comparison."""
    pairs = (data.get("pipeline") or {}).get("pairs") or []
    return {p["ref"]: p for p in pairs}, {p["cand"]: p for p in pairs}


def render_stage_panel(stage: str, data: dict, ref_lines: list[dict], hw: list, photo_class: str | None,
                       assets_dir: Path) -> str:
    cand_lines = data.get("lines") or []
    by_ref, by_cand = line_matches(data)
    polys = [polygon(l["box"], "missed", "missed: " + l.get("text", ""))
             for i, l in enumerate(ref_lines) if i not in by_ref]
    for j, line in enumerate(cand_lines):
        pair = by_cand.get(j)
        cls = "extra" if pair is None else "same" if pair.get("same_text") else "diff"
        polys.append(polygon(line["box"], cls, line.get("text", "")))
    return panel("panel", f'<h3><span>{esc(stage)}</span>{stage_tag(data)}</h3>{render_stage_stats(data)}',
                 render_photo(hw, polys, photo_class),
                 render_stage_lines(data, ref_lines, cand_lines) + render_same_input(data),
                 render_heatmap(data, assets_dir))


def stage_tag(data: dict) -> str:
    hw = data.get("det_input_hw")
    return f'<span class="tag">det input {esc(hw[1])}×{esc(hw[0])}</span>' if hw else ""


def render_stage_stats(data: dict) -> str:
    p = data.get("pipeline") or {}
    parts = []
    for metric, label in (("det_f1", "det F1"), ("line_exact_match", "exact"), ("cer", "CER")):
        if metric in p:
            value = p[metric]
            parts.append(f'<span class="chip {grade(metric, value)}">{label} {esc(fmt_metric(metric, value))}</span>')
    return f'<div class="stats">{"".join(parts)}{gt_stats_chip(data.get("ground_truth"))}</div>'


def gt_stats_chip(gt: dict | None) -> str:
    """Lines read exactly as labelled, as a neutral chip (graded only in the tables)."""
    if not gt or not gt.get("ref_lines"):
        return ""
    return (f' <span class="chip gtc" title="ground-truth lines read exactly right">GT '
            f'{esc(gt.get("exact_lines", 0))}/{esc(gt["ref_lines"])}</span>')


def render_stage_lines(data: dict, ref_lines: list[dict], cand_lines: list[dict]) -> str:
    by_ref, by_cand = line_matches(data)
    if all(by_ref.get(i, {}).get("same_text") for i in range(len(ref_lines))) and len(by_cand) == len(cand_lines):
        n = len(ref_lines)
        said = f"all {n} line{'s' if n != 1 else ''} read" if n else "no text,"
        return f'<p class="ok">✓ {said} as the reference</p>'
    items = []
    for i, ref in enumerate(ref_lines):
        pair = by_ref.get(i)
        if pair is None:
            items.append(f'<li class="missed"><del class="t">{esc(ref.get("text", ""))}</del>'
                         f'<span class="tag">not detected</span></li>')
        else:
            cand_text = cand_lines[pair["cand"]].get("text", "")
            if pair.get("same_text"):
                items.append(f'<li class="same"><span class="t">{esc(cand_text)}</span></li>')
            else:
                diff = diff_html(ref.get("text", ""), cand_text)
                items.append(f'<li class="diff"><span class="t">{diff}</span></li>')
    for j, cand in enumerate(cand_lines):
        if j not in by_cand:
            items.append(f'<li class="extra"><ins class="t">{esc(cand.get("text", ""))}</ins>'
                         f'<span class="tag">no reference box</span></li>')
    return f'<ol class="lines">{"".join(items)}</ol>'


def diff_html(ref: str, cand: str) -> str:
    """Character-level diff: removed reference characters in <del>, added ones in <ins>."""
    out = []
    for op, a0, a1, b0, b1 in difflib.SequenceMatcher(None, ref, cand, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(esc(ref[a0:a1]))
            continue
        if a1 > a0:
            out.append(f"<del>{esc(ref[a0:a1])}</del>")
        if b1 > b0:
            out.append(f"<ins>{esc(cand[b0:b1])}</ins>")
    return "".join(out)


def render_same_input(data: dict) -> str:
    same = data.get("same_input") or {}
    det = same.get("det") or {}
    parts = []
    if det:
        parts.append(f'det max |Δp| <b>{esc(fmt_metric("max_abs", det.get("max_abs")))}</b>, '
                     f'binary {esc(fmt_metric("binary_agreement", det.get("binary_agreement")))}')
    if same.get("lines"):
        parts.append(f'{esc(same.get("same_text_lines", 0))}/{esc(same["lines"])} crops same text')
    diffs = "".join(f'<li class="diff"><span class="t">{diff_html(t.get("ref", ""), t.get("cand", ""))}</span></li>'
                    for t in same.get("texts") or [])
    listing = f'<ul class="lines">{diffs}</ul>' if diffs else ""
    return f'<div class="same-input"><b>same input:</b> {" · ".join(parts) or "–"}{listing}</div>'


def render_heatmap(data: dict, assets_dir: Path) -> str:
    rel = data.get("det_diff_heatmap")
    if not rel:
        return ""
    caption = (f'<div class="scale"><span>|Δ det prob|,<br>same input</span><span class="bar"></span>'
               f'<span>0 … {HEATMAP_SCALE:g}+</span></div>')
    if not (Path(assets_dir) / Path(rel).name).is_file():
        return f'<div class="heat"><a href="{esc(rel)}">heat map</a> (file missing){caption}</div>'
    return (f'<div class="heat"><a href="{esc(rel)}"><img src="{esc(rel)}" alt="det difference heat map" '
            f'loading="lazy"></a>{caption}</div>')


# ---------------------------------------------------------------- page

def render_html(report: dict, images_dir: Path | None, assets_dir: Path) -> str:
    verdict = "FAIL" if report.get("failures") else "PASS"
    title = f"{verdict} · {report.get('pipeline', '')} parity report"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        + render_header(report) + render_summary(report) + render_ground_truth(report)
        + render_strategies(report) + render_images(report, images_dir, Path(assets_dir))
        + "</main></body></html>\n")

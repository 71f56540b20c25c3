"""report.html's view-model: a ParityReport turned into plain rows, cells, chips and
text segments, every number already formatted and every colour class already decided
(from metric_table.py), so the templates under templates/ only lay them out.

Nothing here writes HTML: strings are plain text and the templates escape them
(jinja2 autoescape), which is why an OCR'd "<b>" or a file named "<script>.png" cannot
reach the page as markup. Markup that the page needs around text (the <del>/<ins> of a
character diff) is expressed as `Segment`s.

Page, top to bottom:
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
from dataclasses import dataclass, field
from pathlib import Path

from .heatmap import HEATMAP_SCALE
from .int8_view import build_int8
from .metric_table import BAD, EXACT, GOOD, VIEW_TITLES, WARN, Metric, metric, metrics_of
from .report_schema import GroundTruthSummary, ImageEntry, LineAggregate, LineComparison, ParityReport, StageImageResult

PHOTO_MAX_SIDE = 480
WIDE_ASPECT = 4.0  # width/height from which an image's panels become rows (text strips stay legible)

# the stage table's columns, in order; everything else about them comes from the metric table
SUMMARY_METRICS = ("det_max_abs", "det_binary_agreement", "rec_argmax_agreement", "line_text_agreement",
                   "det_f1", "line_exact_match", "cer", "text_agreement")
STRATEGY_METRICS = ("det_f1", "line_exact_match", "cer")
STAGE_STAT_CHIPS = (("det_f1", "det F1"), ("line_exact_match", "exact"), ("cer", "CER"))
BOX_KEY = (("#0969da", "reference box", False), ("#1a7f37", "stage box, same text as its reference line", False),
           ("#cf222e", "stage box, different text", False), ("#e16f00", "stage box with no reference box", False),
           ("#0969da", "reference box the stage missed (dashed)", True))


# ---------------------------------------------------------------- building blocks

@dataclass
class Cell:
    text: str
    cls: str = ""
    note: str = ""  # small second line


@dataclass
class Column:
    title: str
    tooltip: str


@dataclass
class Chip:
    cls: str
    text: str
    gt_text: str = ""  # "GT 9/10 ↑" part, when labelled
    gt_title: str = ""


@dataclass
class Segment:
    """A run of text in a character diff: kind "" (same), "del" (reference only), "ins" (stage only)."""
    kind: str
    text: str


def char_diff(ref: str, cand: str) -> list[Segment]:
    out = []
    for op, a0, a1, b0, b1 in difflib.SequenceMatcher(None, ref, cand, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(Segment("", ref[a0:a1]))
            continue
        if a1 > a0:
            out.append(Segment("del", ref[a0:a1]))
        if b1 > b0:
            out.append(Segment("ins", cand[b0:b1]))
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------- header

@dataclass
class FailureRow:
    stage: str
    view: str
    metric: str
    value: str
    limit: str


@dataclass
class DeployedView:
    det_hw: str  # "1024×1024", "" when unknown
    det_detail: str  # " letterbox (no upscaling, pad 0)"
    widths_label: str  # "rec widths" / "rec width" / ""
    widths: str  # "320/640/1280"


@dataclass
class Header:
    passed: bool
    pipeline: str
    headline: str
    stage_chips: list[Chip]
    models: list[tuple[str, str]]
    n_images: int
    skipped_note: str
    reference_stage: str
    reference_resize: str
    reference_rec: str
    deployed: DeployedView
    failures: list[FailureRow]
    skipped: list[tuple[str, str]]


def build_header(report: ParityReport) -> Header:
    failures = report.failures
    n_skip = len(report.skipped_images)
    failed_stages = ", ".join(sorted({f.stage for f in failures}))
    headline = (f"{plural(len(failures), 'check')} out of tolerance in {failed_stages}" if failures
                else "every stage within its tolerances")
    ref = report.reference
    resize = ", ".join(f"{k} {v}" for k, v in ref.det_resize.items() if v is not None) or "?"
    return Header(
        passed=report.passed, pipeline=report.pipeline, headline=headline,
        stage_chips=[Chip(GOOD if s.verdict == "pass" else BAD, f"{name} {'pass' if s.verdict == 'pass' else 'FAIL'}")
                     for name, s in report.stages.items()],
        models=list(report.models.items()), n_images=len(report.images),
        skipped_note=f" ({plural(n_skip, 'file')} skipped)" if n_skip else "",
        reference_stage=ref.stage, reference_resize=resize,
        reference_rec=f"; rec height {ref.rec_height}, min width {ref.rec_min_width}" if ref.rec_height else "",
        deployed=build_deployed(report),
        failures=[FailureRow(f.stage, VIEW_TITLES.get(f.view, f.view), f.metric, *_failure_numbers(f.metric, f))
                  for f in failures],
        skipped=[(s.image, s.reason) for s in report.skipped_images])


def _failure_numbers(name: str, f) -> tuple[str, str]:
    if name == "images_crashed":  # the run's own check, not a measured metric
        return str(f.value), f"≤ {f.limit}"
    m = metric(name)
    return m.fmt(f.value), m.limit_text(f.limit)


def build_deployed(report: ParityReport) -> DeployedView:
    """e.g. "det 1024×1024 letterbox (no upscaling, pad 0), rec widths 320/640/1280"."""
    dep = report.deployed
    hw = f"{dep.det_static_hw[0]}×{dep.det_static_hw[1]}" if dep.det_static_hw else ""
    detail = f" {dep.det_resize}" if dep.det_resize else ""
    if dep.det_resize != "stretch":  # a stretched image fills the canvas: nothing padded, always resized
        notes = ["upscaling small images" if dep.det_upscale else "no upscaling"]
        if dep.det_pad_value is not None:
            notes.append(f"pad {dep.det_pad_value}")
        detail += f" ({', '.join(notes)})"
    widths = dep.rec_widths or [dep.rec_static_width]
    return DeployedView(hw, detail, "rec widths" if len(widths) > 1 else "rec width", "/".join(map(str, widths)))


# ---------------------------------------------------------------- stage summary table

@dataclass
class StageRow:
    stage: str
    passed: bool
    cells: list[Cell]


@dataclass
class SummaryTable:
    view_groups: list[tuple[str, int]]  # (title, colspan)
    columns: list[Column]
    rows: list[StageRow]
    det_hw: str
    legend_good: str
    legend_warn: str


def build_summary(report: ParityReport) -> SummaryTable:
    metrics = [metric(n) for n in SUMMARY_METRICS]
    groups: list[tuple[str, int]] = []
    for m in metrics:
        title = VIEW_TITLES[m.view]
        groups[-1:] = [(title, groups[-1][1] + 1)] if groups and groups[-1][0] == title else groups[-1:] + [(title, 1)]
    failed = {(f.stage, f.view, f.metric): f for f in report.failures}
    rows = [StageRow(stage, s.verdict == "pass", [summary_cell(stage, s.view(m.view), m, failed) for m in metrics])
            for stage, s in report.stages.items()]
    hw = report.deployed.det_static_hw
    return SummaryTable(groups, [Column(m.title, m.tooltip) for m in metrics], rows,
                        f"{hw[0]}×{hw[1]}" if hw else "?×?", *band_legend())


def summary_cell(stage: str, values, m: Metric, failed: dict) -> Cell:
    value = getattr(values, m.name, None)
    fail = failed.get((stage, m.view, m.name))
    if fail:
        return Cell(m.fmt(value), f"{BAD} gate", f"✗ limit {m.limit_text(fail.limit)}")
    note = ""
    if m.name == "line_text_agreement":
        note = plural(values.lines, "line")
    elif m.name == "line_exact_match":
        note = f"{values.ref_lines} ref → {values.cand_lines} lines"
    return Cell(m.fmt(value), m.grade(value), note)


LEGEND_METRICS = (("shares", "line_exact_match"), ("CER", "cer"), ("det max |Δp|", "det_max_abs"),
                  ("binary agreement", "det_binary_agreement"))


def band_text(label: str, m: Metric, limit: float) -> str:
    if m.higher_is_better and limit >= 1.0 - EXACT:
        return f"{label} 100%"
    if not m.higher_is_better and limit <= EXACT:
        return f"{label} 0"
    return f"{label} {m.limit_text(limit)}"


def band_legend() -> tuple[str, str]:
    """What green and amber mean, written from the metric table's bands."""
    return tuple(", ".join(band_text(label, metric(name), getattr(metric(name), which))
                           for label, name in LEGEND_METRICS) for which in ("good", "warn"))


# ---------------------------------------------------------------- ground truth and recipes

@dataclass
class GtRow:
    name: str
    is_reference: bool
    cells: list[Cell]


@dataclass
class GroundTruthTable:
    columns: list[Column]
    rows: list[GtRow]
    margin_accuracy_points: str
    margin_cer: str


def gt_accuracy_cell(gt: GroundTruthSummary, ref_gt: GroundTruthSummary | None, extra_cls: str = "") -> Cell:
    """Line accuracy with the count of lines read right (and the difference to the reference's
    count when `ref_gt` is given, graded against it)."""
    m = metric("gt_line_accuracy")
    cls = m.grade_against(gt.gt_line_accuracy, ref_gt.gt_line_accuracy) if ref_gt else ""
    n = round(gt.gt_line_accuracy * gt.gt_lines)
    note = f"{n}/{gt.gt_lines} lines"
    if ref_gt is not None:
        n_ref = round(ref_gt.gt_line_accuracy * ref_gt.gt_lines)
        if n != n_ref:
            note += f", {n - n_ref:+d} vs ref".replace("-", "−")
    return Cell(m.fmt(gt.gt_line_accuracy), f"{extra_cls} {cls}".strip(), note)


def gt_cer_cell(gt: GroundTruthSummary, ref_gt: GroundTruthSummary | None) -> Cell:
    m = metric("gt_cer")
    return Cell(m.fmt(gt.gt_cer), m.grade_against(gt.gt_cer, ref_gt.gt_cer) if ref_gt else "")


def build_ground_truth(report: ParityReport) -> GroundTruthTable | None:
    ref_gt = report.reference.ground_truth
    stages = {s: d.ground_truth for s, d in report.stages.items() if d.ground_truth}
    if not report.labels and not ref_gt and not stages:
        return None

    def cells(gt: GroundTruthSummary, against: GroundTruthSummary | None) -> list[Cell]:
        return [Cell(metric("gt_det_recall").fmt(gt.gt_det_recall)),
                Cell(metric("gt_det_precision").fmt(gt.gt_det_precision)),
                gt_accuracy_cell(gt, against), gt_cer_cell(gt, against), Cell(str(gt.gt_lines))]

    rows = [GtRow(report.reference.stage, True, cells(ref_gt, None))] if ref_gt else []
    rows += [GtRow(s, False, cells(gt, ref_gt)) for s, gt in stages.items()]
    columns = [Column(m.title, m.tooltip) for m in metrics_of("ground_truth")] + [Column("lines", "ground-truth lines")]
    acc, cer = metric("gt_line_accuracy"), metric("gt_cer")
    return GroundTruthTable(columns, rows, f"{acc.margin_vs_reference * 100:g}", f"{cer.margin_vs_reference:g}")


@dataclass
class StrategyRow:
    name: str
    cells: list[Cell]  # vs reference; then vs ground truth when the table has it


@dataclass
class StrategiesTable:
    weights: str
    with_gt: bool
    reference_stage: str
    reference_cells: list[Cell] | None  # the dynamic reference's own ground-truth score
    columns: list[Column]
    rows: list[StrategyRow]


def build_strategies(report: ParityReport) -> StrategiesTable | None:
    if not report.strategies:
        return None
    ref_gt = report.reference.ground_truth
    with_gt = bool(ref_gt) or any(s.ground_truth for s in report.strategies.values())
    metrics = [metric(n) for n in STRATEGY_METRICS]
    rows = []
    for name, data in report.strategies.items():
        cells = [_vs_reference_cell(data.vs_reference, m) for m in metrics]
        if with_gt:
            gt = data.ground_truth
            cells += ([gt_accuracy_cell(gt, ref_gt, "gt-sep"), gt_cer_cell(gt, ref_gt)] if gt
                      else [Cell("–", "gt-sep"), Cell("–")])
        rows.append(StrategyRow(name, cells))
    ref_cells = [gt_accuracy_cell(ref_gt, None, "gt-sep"), gt_cer_cell(ref_gt, None)] if ref_gt else None
    weights = "onnx-raw" if "onnx-raw" in report.targets else "the Paddle reference's"
    return StrategiesTable(weights, with_gt, report.reference.stage, ref_cells,
                           [Column(m.title if m.name != "line_exact_match" else "line exact", m.tooltip)
                            for m in metrics], rows)


def _vs_reference_cell(vs: LineAggregate, m: Metric) -> Cell:
    value = getattr(vs, m.name)
    note = f"{vs.ref_lines} ref → {vs.cand_lines} lines" if m.name == "line_exact_match" else ""
    return Cell(m.fmt(value), m.grade(value), note)


# ---------------------------------------------------------------- per image

@dataclass
class Polygon:
    cls: str  # ref / same / diff / extra / missed
    points: str
    title: str


@dataclass
class Photo:
    width: int
    height: int
    polygons: list[Polygon]
    photo_class: str | None  # CSS class carrying the embedded photo; None: not available


@dataclass
class LineItem:
    cls: str  # same / diff / missed / extra / "" (reference panel)
    segments: list[Segment]
    tag: str = ""  # "not detected", "no reference box"


@dataclass
class HeatMap:
    href: str
    file_exists: bool
    scale: str


@dataclass
class SameInputNote:
    det_max_abs: str
    binary_agreement: str
    crops: str  # "2/2 crops same text", "" without lines
    diffs: list[list[Segment]]  # the crops whose texts differ


@dataclass
class Panel:
    is_reference: bool
    title: str
    tag: str
    count: str  # reference panel: "2 lines"
    stat_chips: list[Chip]  # stage panels: det F1, exact, CER
    gt_chip: str  # "GT 3/4" or ""
    photo: Photo
    ok_text: str  # "✓ all 2 lines read as the reference" / "no text detected" instead of a list, or ""
    lines: list[LineItem]
    same_input: SameInputNote | None = None
    heat: HeatMap | None = None


@dataclass
class ImageSection:
    index: int
    name: str
    anchor: str
    exact: bool
    dims: str  # "160×100 px · 2 reference lines · 2 ground-truth lines (reference reads 1 right)"
    chips: list[Chip]
    photo_uri: str | None
    wide: bool
    panels: list[Panel]


@dataclass
class ImagesPart:
    n_differing: int
    n_exact: int
    labelled: bool
    box_key: tuple
    sections: list[ImageSection]
    subset_note: str = ""  # set when only the worst images are laid out (large sets)


def stage_exact(stage: StageImageResult) -> bool:
    p = stage.pipeline
    return p.line_exact_match >= 1.0 and p.det_f1 >= 1.0 and p.cer <= 0.0 and not stage.same_input.texts


def image_exact(entry: ImageEntry) -> bool:
    return all(stage_exact(s) for s in entry.stages.values())


def image_problem_key(name: str, entry: ImageEntry) -> tuple:
    """Sort key, worst image first: lowest pipeline line exact match across stages, then det F1, CER."""
    stages = list(entry.stages.values())
    return (min((s.pipeline.line_exact_match for s in stages), default=1.0),
            min((s.pipeline.det_f1 for s in stages), default=1.0),
            -max((s.pipeline.cer for s in stages), default=0.0),
            -sum(len(s.same_input.texts) for s in stages),
            name)


def anchor(name: str) -> str:
    return "img-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def build_images(report: ParityReport, images_dir: Path | None, assets_dir: Path,
                 shown: dict[str, ImageEntry] | None = None) -> ImagesPart:
    per_image = report.per_image if shown is None else shown
    order = sorted(per_image, key=lambda n: image_problem_key(n, per_image[n]))
    sections = [build_image(i, name, per_image[name], images_dir, assets_dir) for i, name in enumerate(order)]
    n_exact = sum(s.exact for s in sections)
    labelled = report.labels or any(e.ground_truth is not None for e in per_image.values())
    n_all = len(report.images)
    note = (f"The {len(order)} worst of {n_all} images are shown; every image's results are in "
            f"{report.results_file}." if len(order) < n_all else "")
    return ImagesPart(len(order) - n_exact, n_exact, labelled, BOX_KEY, sections, note)


def build_image(index: int, name: str, entry: ImageEntry, images_dir: Path | None, assets_dir: Path) -> ImageSection:
    h, w = entry.image_hw
    photo_uri = photo_data_uri(images_dir, name) if images_dir is not None else None
    photo_class = f"ph{index}" if photo_uri else None
    ref_lines, ref_gt = entry.reference.lines, entry.reference.ground_truth
    dims = f"{w}×{h} px · {plural(len(ref_lines), 'reference line')}"
    if entry.ground_truth is not None or ref_gt:
        n_gt = len(entry.ground_truth) if entry.ground_truth is not None else ref_gt.ref_lines
        dims += f" · {plural(n_gt, 'ground-truth line')}"
        if ref_gt and n_gt:
            dims += f" (reference reads {ref_gt.exact_lines} right)"
    panels = [reference_panel(entry, w, h, photo_class)]
    panels += [stage_panel(stage, data, ref_lines, w, h, photo_class, assets_dir)
               for stage, data in entry.stages.items()]
    return ImageSection(index, name, anchor(name), image_exact(entry), dims,
                        [stage_chip(s, d, ref_gt) for s, d in entry.stages.items()], photo_uri,
                        bool(h) and w / h >= WIDE_ASPECT, panels)


def gt_chip_part(gt: LineComparison | None, ref_gt: LineComparison | None) -> tuple[str, str]:
    """("GT 9/10 ↑", tooltip): ground-truth lines read right, ↑/↓ where the reference read fewer/more."""
    if not gt:
        return "", ""
    n, exact = gt.ref_lines, gt.exact_lines
    if not n:
        return "GT –", f"no ground-truth lines; {gt.cand_lines} lines read"
    arrow, tip = "", f"{exact} of {n} ground-truth lines read exactly right"
    if ref_gt and ref_gt.ref_lines == n:
        diff = exact - ref_gt.exact_lines
        if diff:
            arrow = " ↑" if diff > 0 else " ↓"
            tip += f"; the reference reads {ref_gt.exact_lines}"
    return f"GT {exact}/{n}{arrow}", tip


def stage_chip(stage: str, data: StageImageResult, ref_gt: LineComparison | None = None) -> Chip:
    gt_text, gt_title = gt_chip_part(data.ground_truth, ref_gt)
    if stage_exact(data):
        return Chip(GOOD, f"{stage} ✓", gt_text, gt_title)
    p = data.pipeline
    text = f"{p.exact_lines}/{p.ref_lines} as ref" if p.ref_lines else f"{p.cand_lines} extra lines"
    if data.same_input.texts:
        text += " · same-input text differs"
    cls = metric("line_exact_match").grade(p.line_exact_match) if p.ref_lines else BAD
    if cls == GOOD:  # lines all read right but something else differs (boxes, same-input text)
        cls = WARN
    return Chip(cls, f"{stage} {text}", gt_text, gt_title)


def gt_count_chip(gt: LineComparison | None) -> str:
    """Lines read exactly as labelled, as a neutral chip (graded only in the tables)."""
    return f"GT {gt.exact_lines}/{gt.ref_lines}" if gt and gt.ref_lines else ""


def polygon(box, cls: str, title: str) -> Polygon:
    return Polygon(cls, " ".join(f"{float(x):.1f},{float(y):.1f}" for x, y in box), title)


def reference_panel(entry: ImageEntry, w: int, h: int, photo_class: str | None) -> Panel:
    lines = entry.reference.lines
    photo = Photo(max(1, w), max(1, h), [polygon(line["box"], "ref", line.get("text", "")) for line in lines],
                  photo_class)
    items = [LineItem("", [Segment("", line.get("text", ""))]) for line in lines]
    return Panel(True, "reference", "paddle", plural(len(lines), "line"), [],
                 gt_count_chip(entry.reference.ground_truth), photo, "" if lines else "no text detected", items)


def stage_panel(stage: str, data: StageImageResult, ref_lines: list[dict], w: int, h: int,
                photo_class: str | None, assets_dir: Path) -> Panel:
    cand_lines = data.lines
    by_ref = {p.ref: p for p in data.pipeline.pairs}
    by_cand = {p.cand: p for p in data.pipeline.pairs}
    polys = [polygon(line["box"], "missed", "missed: " + line.get("text", ""))
             for i, line in enumerate(ref_lines) if i not in by_ref]
    for j, line in enumerate(cand_lines):
        pair = by_cand.get(j)
        polys.append(polygon(line["box"], "extra" if pair is None else "same" if pair.same_text else "diff",
                             line.get("text", "")))
    ok_text, items = stage_lines(data, ref_lines, cand_lines)
    stats = [Chip(metric(name).grade(getattr(data.pipeline, name)),
                  f"{label} {metric(name).fmt(getattr(data.pipeline, name))}") for name, label in STAGE_STAT_CHIPS]
    same = data.same_input
    note = SameInputNote(metric("det_max_abs").fmt(same.det.max_abs),
                         metric("det_binary_agreement").fmt(same.det.binary_agreement),
                         f"{same.same_text_lines}/{same.lines} crops same text" if same.lines else "",
                         [char_diff(t.ref, t.cand) for t in same.texts])
    heat = None
    if data.det_diff_heatmap:
        heat = HeatMap(data.det_diff_heatmap, (Path(assets_dir) / Path(data.det_diff_heatmap).name).is_file(),
                       f"{HEATMAP_SCALE:g}")
    hw = data.det_input_hw
    return Panel(False, stage, f"det input {hw[1]}×{hw[0]}" if hw else "", "", stats,
                 gt_count_chip(data.ground_truth), Photo(max(1, w), max(1, h), polys, photo_class), ok_text, items,
                 note, heat)


def stage_lines(data: StageImageResult, ref_lines: list[dict], cand_lines: list[dict]) -> tuple[str, list[LineItem]]:
    """("✓ all N lines read as the reference", []) or ("", one item per reference and extra line)."""
    by_ref = {p.ref: p for p in data.pipeline.pairs}
    by_cand = {p.cand: p for p in data.pipeline.pairs}
    if all(by_ref[i].same_text if i in by_ref else False for i in range(len(ref_lines))) \
            and len(by_cand) == len(cand_lines):
        n = len(ref_lines)
        return f"✓ {'all ' + plural(n, 'line') + ' read' if n else 'no text,'} as the reference", []
    items = []
    for i, ref in enumerate(ref_lines):
        pair = by_ref.get(i)
        if pair is None:
            items.append(LineItem("missed", [Segment("del", ref.get("text", ""))], "not detected"))
        elif pair.same_text:
            items.append(LineItem("same", [Segment("", cand_lines[pair.cand].get("text", ""))]))
        else:
            items.append(LineItem("diff", char_diff(ref.get("text", ""), cand_lines[pair.cand].get("text", ""))))
    items += [LineItem("extra", [Segment("ins", cand.get("text", ""))], "no reference box")
              for j, cand in enumerate(cand_lines) if j not in by_cand]
    return "", items


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


# ---------------------------------------------------------------- page

@dataclass
class ReportPage:
    title: str
    header: Header
    summary: SummaryTable
    ground_truth: GroundTruthTable | None
    strategies: StrategiesTable | None
    images: ImagesPart
    int8: list = field(default_factory=list)  # int8_view.Int8Row per tflite-int8 file


def build_page(report: ParityReport, images_dir: Path | None, assets_dir: Path,
               shown: dict[str, ImageEntry] | None = None) -> ReportPage:
    verdict = "PASS" if report.passed else "FAIL"
    return ReportPage(f"{verdict} · {report.pipeline} parity report", build_header(report), build_summary(report),
                      build_ground_truth(report), build_strategies(report),
                      build_images(report, images_dir, Path(assets_dir), shown), build_int8(report.reference.models))

"""Every parity metric's meaning in one place: which view it belongs to, which direction
is better, how it is shown and where its green/amber/red bands lie.

The gate (gate.py), the CLI summary and report.html all read this table, so a limit
can never be checked as "higher is better" while the page shows it as "lower is better".
The bands only colour the page; PASS/FAIL comes from the tolerances in
configs/pipelines/*.toml, judged with `Metric.breaks`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

VIEWS = ("same_input", "pipeline", "ground_truth")
VIEW_TITLES = {"same_input": "same input", "pipeline": "pipeline (as deployed)", "ground_truth": "ground truth",
               "run": "run"}

GOOD, WARN, BAD = "good", "warn", "bad"
EXACT = 1e-9  # float slack for "identical": a share of 1.0 or a CER of 0.0


def fmt_fraction(value: float) -> str:
    """A share as a percentage, with as many decimals as it takes not to round to 100%."""
    if value >= 1.0:
        return "100%"
    for decimals in range(1, 8):
        text = f"{value * 100:.{decimals}f}"
        if float(text) < 100.0:
            return text + "%"
    return f"{value * 100:.7f}%"


# display formats: a share as a percentage, an absolute difference in 2 significant
# digits (1e-5 and 0.12 both stay legible), a rate with 3 decimals
FORMATS = {"share": fmt_fraction, "abs": lambda v: f"{v:.2g}", "rate": lambda v: f"{v:.3f}",
           "cosine": lambda v: f"{v:.6f}"}


@dataclass(frozen=True)
class Metric:
    name: str
    view: str
    title: str
    tooltip: str
    higher_is_better: bool
    format: str  # a key of FORMATS
    good: float | None = None  # at least (at most, if lower is better) this: green
    warn: float | None = None  # at least (at most) this: amber; beyond: red
    # ground-truth scores are graded against the reference's own score, not absolutely:
    # green when as good or better, amber when worse by at most this margin
    margin_vs_reference: float | None = None

    def fmt(self, value) -> str:
        return "–" if value is None else FORMATS[self.format](value)

    def better_or_equal(self, value: float, than: float) -> bool:
        return value >= than if self.higher_is_better else value <= than

    def breaks(self, value: float, limit: float) -> bool:
        """The gate: `value` is out of tolerance `limit`."""
        return not self.better_or_equal(value, limit)

    def limit_text(self, limit) -> str:
        return f"{'≥' if self.higher_is_better else '≤'} {self.fmt(limit)}"

    def grade(self, value) -> str:
        """green/amber/red for the page; "" when the metric is not graded absolutely."""
        if value is None or self.good is None:
            return ""
        if self.better_or_equal(value, self.good):
            return GOOD
        return WARN if self.warn is not None and self.better_or_equal(value, self.warn) else BAD

    def grade_against(self, value, reference) -> str:
        """green/amber/red of a ground-truth score against the dynamic reference's own score."""
        if value is None or reference is None or self.margin_vs_reference is None:
            return ""
        worse = (reference - value) if self.higher_is_better else (value - reference)
        return GOOD if worse <= EXACT else WARN if worse <= self.margin_vs_reference else BAD


def _share(name: str, view: str, title: str, tooltip: str, good: float | None = 1.0 - EXACT,
           warn: float | None = 0.95, margin: float | None = None) -> Metric:
    return Metric(name, view, title, tooltip, True, "share", good, warn, margin)


def _abs_diff(name: str, title: str, tooltip: str) -> Metric:
    # one det pixel or rec probability: ≤ 1e-3 is float noise, > 0.3 (the det threshold) can flip it
    return Metric(name, "same_input", title, tooltip, False, "abs", 1e-3, 0.3)


METRICS: tuple[Metric, ...] = (
    _abs_diff("det_max_abs", "det max\u00a0|Δp|", "largest |Δ| of any det probability-map pixel"),
    _abs_diff("det_mean_abs", "det mean\u00a0|Δp|", "mean |Δ| over the det probability-map pixels"),
    Metric("det_cosine_min", "same_input", "det cosine (min)", "lowest cosine similarity of a det map to the "
           "reference's", True, "cosine", 0.9999, 0.99),
    # a handful of flipped pixels is fine: bands looser than for the other shares
    _share("det_binary_agreement", "same_input", "det binary agreement",
           "share of det-map pixels on the same side of the binarisation threshold", good=0.999, warn=0.99),
    _abs_diff("rec_max_abs", "rec max\u00a0|Δp|", "largest |Δ| of any rec character probability"),
    _share("rec_argmax_agreement", "same_input", "rec argmax agreement",
           "share of rec time steps whose most likely character is the same"),
    _share("line_text_agreement", "same_input", "line text agreement",
           "share of the reference's line crops decoded to the same text"),
    _share("det_precision", "pipeline", "det precision", "share of the stage's boxes matching a reference box"),
    _share("det_recall", "pipeline", "det recall", "share of the reference's boxes the stage found"),
    _share("det_f1", "pipeline", "det F1", "text boxes matched one-to-one to the reference's at IoU ≥ 0.5"),
    _share("line_exact_match", "pipeline", "line exact match",
           "share of reference lines whose matched box reads the same text"),
    Metric("cer", "pipeline", "CER", "character error rate over all reference lines (lower is better)",
           False, "rate", EXACT, 0.05),
    _share("text_agreement", "pipeline", "image text agreement",
           "share of images whose whole text is identical to the reference's"),
    _share("gt_det_recall", "ground_truth", "det recall",
           "share of ground-truth lines with a detected box at IoU ≥ 0.5", good=None, warn=None),
    _share("gt_det_precision", "ground_truth", "det precision",
           "share of detected boxes that match a ground-truth line", good=None, warn=None),
    _share("gt_line_accuracy", "ground_truth", "line accuracy",
           "share of ground-truth lines whose matched box reads exactly the labelled text",
           good=None, warn=None, margin=0.05),
    Metric("gt_cer", "ground_truth", "CER", "character error rate over all ground-truth lines (lower is better)",
           False, "rate", margin_vs_reference=0.02),
)

_BY_NAME = {m.name: m for m in METRICS}


def metric(name: str, view: str | None = None) -> Metric:
    """The metric called `name` (in `view`, when given); ConfigError for any other name."""
    m = _BY_NAME.get(name)
    if m is None or (view is not None and m.view != view):
        where = f" in view {view!r}" if view else ""
        known = ", ".join(x.name for x in METRICS if view is None or x.view == view)
        raise ConfigError(f"unknown parity metric {name!r}{where}", hint=f"known metrics: {known}")
    return m


def metrics_of(view: str) -> tuple[Metric, ...]:
    return tuple(m for m in METRICS if m.view == view)

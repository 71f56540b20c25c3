"""The parity report as typed data; `to_dict()` is report.json.

Schema history
--------------
* version 1 (untyped, no `schema_version` key): nested dicts built inline by the harness.
* version 2: the same JSON shape, every key where it was, plus a top-level
  `schema_version: 2`. What changed is behind it: the report is built from the
  dataclasses below, so a key can no longer be misspelt or forgotten on one code path,
  and `ParityReport.from_dict` checks a cached report.json before the gate re-judges it.
  A report without `schema_version` (version 1) or with any other version is refused
  (`StaleReportError`): `release` then rebuilds its cached measurements instead of
  misreading them.
* version 3: every image's results are also written to `results.jsonl` next to
  report.json (one JSON line per image, in image order: `{"image", "entry"}` or
  `{"image", "skipped"}`), named by `results_file`; `per_image_inline` says whether
  `per_image` holds them too (sets of at most 200 images) or is empty (larger sets:
  read the JSON lines). Per-image results are computed with one intra-op thread per model.

Bump SCHEMA_VERSION whenever a field is added, removed or changes meaning, and say what
changed above.

OCR lines (`{"box", "text", "det_score", "confidence"[, "angle"]}`, as
`ocr.pipeline.OCRLine.to_dict` writes them) and ground-truth lines (as the labels file
gives them) stay plain dicts: their shape belongs to the OCR pipeline and to the labels
format, not to this report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ParityError
from .records import RecordError, from_jsonable, omit_if_none, to_jsonable

SCHEMA_VERSION = 3

Line = dict[str, Any]


class StaleReportError(ParityError):
    """A report.json written by another schema version (a cache entry from an older harness)."""


# ---------------------------------------------------------------- line comparisons (metrics.py)

@dataclass
class LinePair:
    ref: int
    cand: int
    iou: float
    same_text: bool


@dataclass
class LineComparison:
    """One image's candidate lines against reference (or ground-truth) lines: metrics.compare_lines."""
    det_precision: float
    det_recall: float
    det_f1: float
    ref_lines: int
    cand_lines: int
    matched: int
    exact_lines: int
    line_exact_match: float
    char_errors: int
    ref_chars: int
    cer: float
    text_identical: bool
    pairs: list[LinePair]


@dataclass
class LineAggregate:
    """LineComparisons micro-averaged over images: metrics.aggregate_lines."""
    det_precision: float
    det_recall: float
    det_f1: float
    line_exact_match: float
    cer: float
    text_agreement: float
    ref_lines: int
    cand_lines: int


@dataclass
class GroundTruthSummary:
    gt_det_recall: float
    gt_det_precision: float
    gt_line_accuracy: float
    gt_cer: float
    gt_lines: int


# ---------------------------------------------------------------- per image

@dataclass
class DetTensorStats:
    max_abs: float
    mean_abs: float
    median_abs: float
    max_rel: float
    cosine: float
    binary_agreement: float


@dataclass
class RecTensorStats:
    max_abs: float
    mean_abs: float
    median_abs: float
    max_rel: float
    cosine: float
    argmax_agreement: float


@dataclass
class TextPair:
    ref: str
    cand: str


@dataclass
class SameInputImage:
    """Identical tensors into the reference and the stage, on one image."""
    det: DetTensorStats
    rec: RecTensorStats | None  # None: the reference read no line on this image
    lines: int
    same_text_lines: int
    texts: list[TextPair]  # only the crops whose texts differ


@dataclass
class StageImageResult:
    same_input: SameInputImage
    lines: list[Line]
    det_input_hw: list[int]
    pipeline: LineComparison
    ground_truth: LineComparison | None = omit_if_none()
    seconds: float = 0.0
    det_diff_heatmap: str | None = omit_if_none()  # assets/… PNG, set by report.write_report


@dataclass
class ImageReference:
    lines: list[Line]
    det_input_hw: list[int]
    ground_truth: LineComparison | None = omit_if_none()


@dataclass
class StrategyImageResult:
    lines: list[Line]
    vs_reference: LineComparison
    ground_truth: LineComparison | None = omit_if_none()


@dataclass
class ImageEntry:
    image_hw: list[int]
    stages: dict[str, StageImageResult]
    reference: ImageReference
    ground_truth: list[Line] | None = omit_if_none()
    strategies: dict[str, StrategyImageResult] = field(default_factory=dict)


# ---------------------------------------------------------------- summaries

@dataclass
class SameInputSummary:
    det_max_abs: float
    det_mean_abs: float
    det_cosine_min: float
    det_binary_agreement: float
    rec_max_abs: float
    rec_argmax_agreement: float
    lines: int
    line_text_agreement: float


@dataclass
class StageSummary:
    same_input: SameInputSummary
    pipeline: LineAggregate
    ground_truth: GroundTruthSummary | None = omit_if_none()
    verdict: str = "pass"  # "pass" | "fail", set by gate.apply_gate

    def view(self, name: str) -> Any:
        """The summary of one view by its name in the metric table and the tolerances."""
        return {"same_input": self.same_input, "pipeline": self.pipeline, "ground_truth": self.ground_truth}[name]


@dataclass
class StrategySummary:
    vs_reference: LineAggregate
    ground_truth: GroundTruthSummary | None = omit_if_none()


@dataclass
class Failure:
    """One check out of tolerance; stage "all" fails every stage (e.g. crashed images)."""
    stage: str
    view: str
    metric: str
    value: float
    limit: float
    first: str | None = omit_if_none()  # view "run": the first crash's reason; "int8_gate": the file (w<width>)


@dataclass
class SkippedImage:
    image: str
    reason: str


@dataclass
class ReferenceInfo:
    """What the reference was and how it read the photos (the resize is pinned, see README)."""
    stage: str
    det_resize: dict[str, Any]
    rec_height: int
    rec_min_width: int
    drop_score: float
    models: dict[str, Any]  # provenance from reference.reference_dir + artifact digests; {} if given
    ground_truth: GroundTruthSummary | None = omit_if_none()


@dataclass
class DeployedRecipe:
    det_static_hw: list[int]
    det_resize: str
    det_upscale: bool
    det_pad_value: float
    rec_static_width: int
    rec_widths: list[int]


@dataclass
class ParityReport:
    pipeline: str
    models: dict[str, str]
    reference: ReferenceInfo
    deployed: DeployedRecipe
    labels: bool
    strategies: dict[str, StrategySummary]
    targets: list[str]
    images: list[str]
    skipped_images: list[SkippedImage]
    stages: dict[str, StageSummary]
    failures: list[Failure]
    per_image: dict[str, ImageEntry]  # empty when per_image_inline is false: see results_file
    results_file: str = "results.jsonl"  # every image's result, one JSON line each, next to report.json
    per_image_inline: bool = True
    schema_version: int = SCHEMA_VERSION

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        out = to_jsonable(self)
        # schema_version first, so `head report.json` shows which reader it needs
        return {"schema_version": out.pop("schema_version"), **out}

    @classmethod
    def from_dict(cls, data: dict, source: str = "report.json") -> ParityReport:
        if not isinstance(data, dict):
            raise ParityError(f"{source}: not a parity report (expected a JSON object)",
                              hint="pass the report.json a parity run wrote")
        version = data.get("schema_version", 1)
        if version != SCHEMA_VERSION:
            raise StaleReportError(
                f"{source}: parity report schema version {version}, this ppocr-convert reads {SCHEMA_VERSION}",
                hint="rerun the parity run (release rebuilds a stale cached report by itself)")
        try:
            return from_jsonable(cls, data, "report")
        except RecordError as e:
            raise ParityError(f"{source}: malformed parity report: {e}",
                              hint="rerun the parity run; the file was not written by this version") from None

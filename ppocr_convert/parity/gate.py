"""The parity gate: measured summaries judged against a pipeline's tolerances.

Kept apart from the measurements so that `release` can re-judge a cached report with
today's tolerances (the cache key leaves them out: they judge, they don't measure).
"""
from __future__ import annotations

from ..errors import ConfigError
from .metric_table import VIEWS, metric
from .report_schema import Failure, ParityReport, SkippedImage, StageSummary

CRASH_PREFIX = "processing failed"  # harness: an image the pipeline crashed on, not one it could not read


def validate_tolerances(tolerances: dict) -> None:
    """Every view and metric named in `tolerances` exists (ConfigError otherwise): a typo
    must stop the run before minutes of measurement, not silently skip its check."""
    for view, per_stage in tolerances.items():
        if view not in VIEWS:
            raise ConfigError(f"unknown parity view {view!r} in the pipeline's tolerances",
                              hint=f"views: {', '.join(VIEWS)}")
        for limits in per_stage.values():
            for name in limits:
                metric(name, view)


def check_tolerances(tolerances: dict, stages: dict[str, StageSummary]) -> list[Failure]:
    """`tolerances`: {view: {stage: {metric: limit}}} as in configs/pipelines/*.toml."""
    validate_tolerances(tolerances)
    failures = []
    for view, per_stage in tolerances.items():
        for stage, limits in per_stage.items():
            for name, limit in limits.items():
                m = metric(name, view)
                summary = stages[stage].view(view) if stage in stages else None
                value = getattr(summary, name, None) if summary is not None else None
                if value is not None and m.breaks(value, limit):
                    failures.append(Failure(stage, view, name, round(value, 6), limit))
    return failures


def crashed_images(skipped: list[SkippedImage]) -> list[Failure]:
    """An image the pipeline crashed on (not one it refused to read) is a bug in a stage or
    the harness: the gate must not pass on the images that happened to work."""
    crashed = [s for s in skipped if CRASH_PREFIX in s.reason]
    if not crashed:
        return []
    return [Failure("all", "run", "images_crashed", len(crashed), 0, first=crashed[0].reason[:300])]


def apply_gate(report: ParityReport, tolerances: dict) -> ParityReport:
    """Set the report's failures and each stage's verdict from `tolerances` (in place)."""
    report.failures = check_tolerances(tolerances, report.stages) + crashed_images(report.skipped_images)
    for stage, summary in report.stages.items():
        summary.verdict = "fail" if any(f.stage in (stage, "all") for f in report.failures) else "pass"
    return report


INT8_GATE_VIEW = "int8_gate"


def int8_gate_failures(entries: list[dict]) -> list[Failure]:
    """The tflite-int8 stage's own ground-truth gate, one failure per missed figure of each
    file (`entries`: the manifest's `int8` list, one per file / rec bucket). The stage ships
    its best search step even when no step passed, so release reads the verdict here: it
    must not publish a file whose gate said no. The stage decided what missed and against
    which limit (`int8_stage.judge`, recorded as `gate.missed`); this only turns it into rows."""
    failures = []
    for entry in entries:
        gate = entry.get("gate", {})
        if gate.get("passed", False):
            continue
        where = f"w{entry['width']}" if "width" in entry else None
        # a gate that said no without naming a figure still refuses the file
        missed = gate.get("missed") or [{"metric": "passed", "value": 0.0, "limit": 1.0}]
        for m in missed:
            failures.append(Failure("tflite-int8", INT8_GATE_VIEW, m["metric"], round(float(m["value"]), 6),
                                    round(float(m["limit"]), 6), first=where))
    return failures

"""The parity gate: measured summaries judged against a pipeline's tolerances.

Kept apart from the measurements so that `release` can re-judge a cached report with
today's tolerances (the cache key leaves them out: they judge, they don't measure).
"""
from __future__ import annotations

from .metric_table import metric
from .report_schema import Failure, ParityReport, SkippedImage, StageSummary

CRASH_PREFIX = "processing failed"  # harness: an image the pipeline crashed on, not one it could not read


def check_tolerances(tolerances: dict, stages: dict[str, StageSummary]) -> list[Failure]:
    """`tolerances`: {view: {stage: {metric: limit}}} as in configs/pipelines/*.toml.
    A metric name the table does not know is a config error, not a silently skipped check."""
    failures = []
    for view, per_stage in tolerances.items():
        for stage, limits in per_stage.items():
            for name, limit in limits.items():
                m = metric(name, view)  # raises on a typo before any stage is looked at
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

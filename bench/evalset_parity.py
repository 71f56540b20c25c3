"""Scoring deployed tflite-fp16 artifacts against the labelled evalset (`make evalset`), next
to the dynamic Paddle reference: the one assembly `bench.families` and `bench.recipe_sweep`
share (labels + pages, reference and deployed stage models, one parity run)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

DEPLOYED = "tflite-fp16"


@dataclass
class Evalset:
    labels: dict
    images: list[Path]


@dataclass
class ReferenceModels:
    """The Paddle reference of a pipeline, resolved once and reused for every deployed variant."""
    models: object  # ppocr_convert.parity.harness.StageModels
    kind: dict = field(default_factory=dict)  # {"det": "original" | "rebuilt-from-onnx", "rec": ...}


def require_evalset(path: Path) -> Path:
    """Fail early, before any conversion, when the labelled set has not been generated."""
    if not (path / "labels.json").is_file():
        raise typer.BadParameter(f"{path}/labels.json not found: run `make evalset` first", param_hint="--evalset")
    return path


def load_evalset(path: Path) -> Evalset:
    from ppocr_convert.ocr.image_io import list_images
    from ppocr_convert.parity.labels import load_labels
    return Evalset(load_labels(path / "labels.json"), list_images(path))


def import_converters_in_order() -> None:
    """Paddle before TensorFlow: the other order segfaults Paddle Inference in one process."""
    from ppocr_convert.inspect_model import import_tensorflow  # noqa: F401


def convert_deployed(config, out_dir: Path, shape: tuple[int, ...] | None = None):
    """The tflite-fp16 artifact path(s) of one model (rec: its width buckets), stage cache reused."""
    from ppocr_convert.chain.conversion import ConvertOptions, convert
    from ppocr_convert.parity.harness import artifact_paths
    result = convert(config, ConvertOptions(targets=[DEPLOYED], out_dir=out_dir, shape=shape))
    return artifact_paths(result, DEPLOYED)


def reference_models(pipe) -> ReferenceModels:
    from ppocr_convert.parity.harness import StageModels
    from ppocr_convert.reference import reference_dir
    (det_dir, det_prov), (rec_dir, rec_prov) = reference_dir(pipe.det_config), reference_dir(pipe.rec_config)
    return ReferenceModels(StageModels("paddle", det_dir, rec_dir), {"det": det_prov["kind"], "rec": rec_prov["kind"]})


def score_deployed(pipe, det, rec, evalset: Evalset, work: Path, reference: ReferenceModels | None = None) -> dict:
    """{"reference": ground-truth scores, "tflite-fp16": ground-truth scores} of one parity
    run of `pipe` with the given deployed det/rec artifacts."""
    from ppocr_convert.parity.harness import StageModels, run_parity
    reference = reference or reference_models(pipe)
    models = {"paddle": reference.models, DEPLOYED: StageModels(DEPLOYED, det, rec)}
    report = run_parity(pipe, evalset.images, [DEPLOYED], work, stage_models=models, labels=evalset.labels,
                        with_strategies=False).report
    return {"reference": report["reference"]["ground_truth"], DEPLOYED: report["stages"][DEPLOYED]["ground_truth"]}


def percent(value: float) -> str:
    return f"{100 * value:.1f} %"

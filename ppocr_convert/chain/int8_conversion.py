"""How a Conversion runs the `tflite-int8` stage: the partner model of the pipeline
(rec's det to cut calibration lines, det's rec to score its gate), the calibration and
gate inputs and their digest (part of the cache key), then int8_stage per static shape."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..fsutil import sha256_file
from . import calibration as cal
from .stage_cache import cache_key

if TYPE_CHECKING:
    from ..config import ModelConfig
    from .conversion import Conversion, StaticBuild


def tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return {"ai-edge-quantizer": version("ai-edge-quantizer")}
    except PackageNotFoundError:
        return {"ai-edge-quantizer": "not installed"}


def partner_fp32(conv: "Conversion", task: str) -> tuple["ModelConfig", list[Path]]:
    """The pipeline's `task` model converted to tflite-fp32 (stage-cache hits after the first)."""
    from .conversion import ConvertOptions, convert
    config = cal.partner(conv.config, task)
    opts = ConvertOptions(targets=["tflite-fp32"], out_dir=conv.logs_dir / "partner", cache_dir=conv.options.cache_dir,
                          use_cache=conv.options.use_cache, remote_cache=conv.options.remote_cache)
    conv.progress("tflite-int8", f"partner {config.name} (tflite-fp32)")
    result = convert(config, opts)
    m, d = result.manifests["tflite-fp32"], result.artifact_dirs["tflite-fp32"]
    return config, [d / b["file"] for b in m["buckets"]] if m.get("buckets") else [d / m["file"]]


def build_int8(conv: "Conversion", builds: list["StaticBuild"]) -> None:
    from . import int8_stage
    config, root = conv.config, conv.cache.root
    options = int8_stage.int8_options(config)
    user = conv.user_int8
    # the user's photos lead: rec and cls take the lines cut from them first (per bucket,
    # those routed to it, then others; SAMPLES_PER_WIDTH in all), bias correction and
    # sensitivity the first samples. det holds every sample at its canvas (12 MB at
    # 1024²): it takes the first SAMPLES_PER_WIDTH of the user's photos, then the packaged set
    packaged = cal.calibration_images(root)
    images = user.calibration_images + packaged
    det_images = user.calibration_images[:cal.SAMPLES_PER_WIDTH] + packaged
    gate_source: dict[str, object]  # recorded in int8.json: where the gate's pages came from
    if user.gate_pages is not None:
        gate_dir, gate_source = user.gate_pages, {"user_pages": len(cal.gate_labels(user.gate_pages))}
    else:
        # a rec bucket may look for lines of its own width on more gate pages (`[int8] gate_pages`)
        n = options["gate_pages"] if config.task == "rec" else cal.PAGES
        gate_dir, gate_source = cal.pages(root, cal.GATE_SEED, n), {"rendered_pages": {"seed": cal.GATE_SEED, "n": n}}
    partner_task = "rec" if config.task == "det" else "det"
    partner_cfg, partner_files = partner_fp32(conv, partner_task)
    inputs = {"images": cal.files_digest(images), "user_images": len(user.calibration_images),
              "gate_pages": cal.gate_digest(gate_dir), "gate_source": gate_source,
              "partner": {"model": partner_cfg.name, "files": [sha256_file(p) for p in partner_files]}}
    widths = [b.shape[3] for b in builds]
    shared: dict = {}  # crops and gate lines, computed once for every bucket (only on a miss)

    def samples_and_gate(shape: tuple, fp32: bytes, work: Path):
        if config.task == "det":
            samples = cal.det_samples(config, det_images)
            gate = int8_stage.det_gate(config, gate_dir, partner_cfg, partner_files, fp32, options, work)
            return samples, gate
        if "crops" not in shared:
            conv.progress("tflite-int8", "cutting calibration lines with the fp32 det")
            shared["crops"] = cal.line_crops(partner_files[0], partner_cfg, images)
            shared["gate"] = cal.gate_page_lines(gate_dir)
        if config.task == "rec":
            samples = cal.rec_samples(shared["crops"], config, shape[3], widths)
            # the user's pages: all of them (rendered ones: 12, more only for lines of this width)
            base = len(shared["gate"]) if user.gate_pages is not None else cal.PAGES
            chosen = cal.bucket_gate_lines(shared["gate"], config.shape[2], shape[3], widths, base_pages=base)
            return samples, int8_stage.rec_gate(config, chosen, shape[3], fp32, options)
        samples = cal.cls_samples(cal.both_orientations(shared["crops"]), config)
        gate_crops = cal.both_orientations([c for page in shared["gate"] for c, _ in page])
        return samples, int8_stage.cls_gate(cal.cls_samples(gate_crops, config, 10**6), fp32, options)

    for b in builds:
        fp32_path = b.files["tflite-fp32"]
        tag = conv.tag(b.shape)
        key = cache_key(stage="tflite-int8", input=sha256_file(fp32_path), calibration=inputs, options=options,
                        widths=widths, tools=conv.tools("tflite-int8"), code=conv.code_digests["tflite-int8"])

        def build(tmp: Path, shape=b.shape, fp32_path=fp32_path, tag=tag) -> None:
            import time
            t0 = time.perf_counter()
            fp32 = fp32_path.read_bytes()
            conv.progress("tflite-int8", f"{tag} calibration and gate sets")
            samples, gate = samples_and_gate(shape, fp32, tmp)
            used = det_images if config.task == "det" else images
            calibration = {**cal.CalibrationSet(samples, cal.samples_digest(samples), [p.name for p in used],
                                                len(used) - len(packaged)).to_dict(), "inputs": inputs}
            result = int8_stage.quantize_model(fp32, samples, gate, options, calibration,
                                               lambda m: conv.progress("tflite-int8", f"{tag} {m}"),
                                               input_range=cal.input_range(config))
            for leftover in tmp.glob("gate-*.tflite"):
                leftover.unlink()
            (tmp / "model.tflite").write_bytes(result.model)
            (tmp / "int8.json").write_text(json.dumps(result.info, indent=1, sort_keys=True))
            (tmp / "stage.json").write_text(json.dumps({"seconds": round(time.perf_counter() - t0, 2)}))

        entry, record = conv.cached_stage("tflite-int8", key, build, tag=tag)
        conv.records.append(record)
        b.files["tflite-int8"] = entry / "model.tflite"
        info = json.loads((entry / "int8.json").read_text())
        conv.int8_info[entry / "model.tflite"] = info
        gate = info["gate"]
        conv.progress("tflite-int8", f"{tag} gate {'passed' if gate['passed'] else 'MISSED'}; "
                                     f"{len(info['kept_blocks'])} block(s) kept out of int8")

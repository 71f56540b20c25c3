"""The INT8 calibration and gate sets: real images fed exactly as deployed, offline.

* calibration images: the photos shipped with the package (`data/calibration/`, the ones
  onnx2tf's sample data comes from) and 12 evaluation-set pages rendered with seed 1;
* gate pages: 12 pages rendered with seed 2, with ground truth. Neither seed is the
  labelled evaluation set `make evalset` scores (seed 0), so the targets are measured on
  pages the quantizer never saw.

det samples: each image letterboxed onto the model's canvas, BGR, ImageNet normalisation
(ocr.det.preprocess, as deployed). rec samples: text-line crops cut by the pipeline's
fp32 det from those images, each at the width bucket the deployed pipeline would route
it to (narrower crops fill a wide bucket's share, right-padded as deployed), rec's own
normalisation (mean 0.5 / std 0.5). cls: the same crops at its 48x192 input, each upright
and turned 180° (`both_orientations`), for calibration and gate alike.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import ModelConfig, load_model_config, load_pipeline_file, configs_dir
from ..errors import ConfigError
from ..fsutil import sha256_file
from ..resources import calibration_dir

CALIBRATION_SEED, GATE_SEED, PAGES = 1, 2, 12
SAMPLES_PER_WIDTH = 64
# a rec bucket's gate judges at least this many labelled lines: one line is 1.67 points
GATE_LINES = 60


def canvas(config: ModelConfig) -> tuple[int, int]:
    """A det model's static (height, width): the letterbox canvas it is deployed with."""
    return int(config.shape[2]), int(config.shape[3])


def nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(x, (0, 2, 3, 1)).astype(np.float32))


def pages(root: Path, seed: int, n: int = PAGES) -> Path:
    """A rendered evaluation-set page directory (generated once, deterministic)."""
    from ..evalset.generate import ensure
    out = root / "int8-pages" / f"seed{seed}-n{n}"
    ensure(out, n, seed)
    return out


def image_files(directory: Path) -> list[Path]:
    from ..ocr.image_io import list_images
    return list_images(directory)


def calibration_images(root: Path) -> list[Path]:
    return image_files(calibration_dir()) + image_files(pages(root, CALIBRATION_SEED))


def files_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        # fsencode: a name that is not valid UTF-8 (a user's photo) hashes as its bytes
        h.update(os.fsencode(p.name) + f"\0{sha256_file(p)}\0".encode())
    return h.hexdigest()[:16]


def gate_labels(page_dir: Path) -> dict[str, list[dict]]:
    from ..parity.labels import load_labels
    return load_labels(page_dir / "labels.json")


def gate_digest(page_dir: Path) -> str:
    """Of what a gate judges: its labels and the pages they name (not other files there)."""
    return files_digest([page_dir / "labels.json"] + [page_dir / name for name in sorted(gate_labels(page_dir))])


def samples_digest(samples: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for s in samples:
        h.update(str(s.shape).encode())
        h.update(np.ascontiguousarray(s, np.float32).tobytes())
    return h.hexdigest()[:16]


def partner(config: ModelConfig, task: str) -> ModelConfig:
    """The `task` model of the pipeline `config` belongs to (first pipeline that names it)."""
    for path in sorted((configs_dir() / "pipelines").glob("*.toml")):
        data = load_pipeline_file(path.stem)
        if config.name in (data.get("det"), data.get("rec"), data.get("cls")):
            return load_model_config(data[task])
    raise ConfigError(f"{config.name}: tflite-int8 needs the pipeline it belongs to (its det cuts the "
                      "calibration lines, its rec scores the det gate)",
                      hint="name the model in a configs/pipelines/*.toml")


def input_range(config: ModelConfig) -> tuple[float, float] | None:
    """The values a model's input can take under its own preprocessing: pixels 0..255
    scaled, then (x - mean) / std per channel; padding (det's black letterbox, rec's zero
    right pad) lies inside. None when the config does not say how it normalises."""
    pre = config.preprocess
    if not all(k in pre for k in ("mean", "std", "scale")):
        return None
    mean, std = np.asarray(pre["mean"], np.float64), np.asarray(pre["std"], np.float64)
    top = 255.0 * float(pre["scale"])
    lo, hi = float(np.min((0.0 - mean) / std)), float(np.max((top - mean) / std))
    return min(lo, 0.0), max(hi, 0.0)


# ---- det -----------------------------------------------------------------------------------

def det_samples(config: ModelConfig, images: list[Path]) -> list[np.ndarray]:
    from .. import model_params
    from ..ocr import load_image
    from ..ocr.det import preprocess
    params = model_params.det_params(config, static_hw=canvas(config))
    return [nhwc(preprocess(load_image(p), params)[0]) for p in images]


# ---- line crops (rec, cls) -----------------------------------------------------------------

def line_crops(det_model: Path, det_config: ModelConfig, images: list[Path]) -> list[np.ndarray]:
    """Text lines the deployed fp32 det finds, cut as the pipeline cuts them."""
    from .. import model_params
    from ..ocr.det import postprocess, preprocess
    from ..ocr.geometry import crop_rotated
    from ..ocr import load_image
    from ..runners import open_runner
    det = open_runner(det_model, "tflite-fp32")
    params = model_params.det_params(det_config, static_hw=canvas(det_config))
    crops = []
    for p in images:
        img = load_image(p)
        x, info = preprocess(img, params)
        boxes, _ = postprocess(det.run(x)[0], info, params)
        crops += [crop_rotated(img, b) for b in boxes]
    return crops


def gate_page_lines(page_dir: Path) -> list[list[tuple[np.ndarray, str]]]:
    """Per gate page, in page order: (crop, ground-truth text) of every labelled line."""
    from ..ocr import load_image
    from ..ocr.geometry import crop_rotated
    labels = gate_labels(page_dir)
    out = []
    for name in sorted(labels):
        img = load_image(page_dir / name)
        out.append([(crop_rotated(img, np.array(line["box"], np.float32)), line["text"]) for line in labels[name]])
    return out


def gate_lines(page_dir: Path) -> list[tuple[np.ndarray, str]]:
    """(crop, ground-truth text) of every labelled line of the gate pages."""
    return [line for page in gate_page_lines(page_dir) for line in page]


@dataclass
class BucketGateLines:
    lines: list[tuple[np.ndarray, str]]
    own: int        # how many of them the deployed pipeline routes to this bucket
    pages: int      # gate pages they were drawn from


def bucket_gate_lines(page_lines: list[list[tuple[np.ndarray, str]]], height: int, width: int,
                      widths: list[int], base_pages: int = PAGES, n: int = GATE_LINES) -> BucketGateLines:
    """The labelled lines a rec bucket's gate judges: every line of the first `base_pages`
    pages that the deployed pipeline routes to `width`; then, while fewer than `n`, those
    routed to it on the pages after (as many as `page_lines` holds); only when those run
    out, lines routed elsewhere (right-padded or squashed as deployed) fill up to `n`.
    Why further pages first: a wide bucket gets few lines of its own per page (PP-OCRv6
    small's w1920: 5 on the first 12 gate pages), and judging it on narrower lines padded
    to its width judges a case the deployed pipeline never feeds it."""
    own: list[tuple[np.ndarray, str]] = []
    other: list[tuple[np.ndarray, str]] = []
    used = 0
    for i, lines in enumerate(page_lines):
        if i >= base_pages and len(own) >= n:
            break
        used += 1
        for crop, text in lines:
            (own if route(crop, height, widths) == width else other).append((crop, text))
    return BucketGateLines(own + other[:max(0, n - len(own))], len(own), used)


def route(crop: np.ndarray, height: int, widths: list[int]) -> int:
    """The bucket the deployed pipeline feeds this crop to (the widest if it is longer)."""
    from ..ocr.rec import choose_bucket, needed_width
    return choose_bucket(needed_width(crop, height), widths) or max(widths)


def rec_tensor(crop: np.ndarray, config: ModelConfig, width: int) -> np.ndarray:
    from .. import model_params
    from ..ocr.rec import preprocess_batch
    params = dataclasses.replace(model_params.rec_params(config), static_width=width)
    return nhwc(preprocess_batch([crop], params))


def rec_samples(crops: list[np.ndarray], config: ModelConfig, width: int, widths: list[int],
                n: int = SAMPLES_PER_WIDTH) -> list[np.ndarray]:
    """Crops routed to `width` first, then others (padded or squashed as deployed) up to n."""
    height = config.shape[2]
    own = [c for c in crops if route(c, height, widths) == width]
    other = [c for c in crops if route(c, height, widths) != width]
    return [rec_tensor(c, config, width) for c in (own + other)[:n]]


def both_orientations(crops: list[np.ndarray]) -> list[np.ndarray]:
    """Each crop upright, then turned 180°: the two classes the orientation classifier tells
    apart (the pipeline turns a line it calls "180" before rec). The crops real pages give
    are upright, so a gate on them alone would pass a model that always says "0"."""
    return [c for crop in crops for c in (crop, np.ascontiguousarray(crop[::-1, ::-1]))]


def cls_samples(crops: list[np.ndarray], config: ModelConfig, n: int = SAMPLES_PER_WIDTH) -> list[np.ndarray]:
    from .. import model_params
    from ..ocr.cls import preprocess_batch
    params = model_params.cls_params(config)
    return [nhwc(preprocess_batch([c], params)) for c in crops[:n]]


@dataclass
class CalibrationSet:
    samples: list[np.ndarray]
    digest: str              # of the sample tensors: what calibration saw
    images: list[str]        # file names it came from
    user_images: int = 0     # of them, the user's (--calibration-images)

    def to_dict(self) -> dict:
        return {"digest": self.digest, "samples": len(self.samples), "shape": list(self.samples[0].shape),
                "images": len(self.images), "sources": {"packaged_photos": len(image_files(calibration_dir())),
                                                        "rendered_pages": {"seed": CALIBRATION_SEED, "n": PAGES},
                                                        "user_images": self.user_images}}

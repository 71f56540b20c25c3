"""A user's own INT8 data: calibration photos (`--calibration-images DIR`) and labelled
gate pages (`--gate-pages DIR`), checked before any stage runs.

Why: the packaged calibration set (calibration.py) is photos and rendered pages; an app
that reads receipts, forms or screenshots wants int8 ranges from its own pictures and a
gate that judges the int8 file on its own ground truth. The photos join the packaged set
ahead of it (int8_conversion.build_int8 says how each task takes them). The pages replace
the rendered gate pages. Both are part of the cache key (their digests) and of `int8.json`.

Every file is read here, and every labelled box checked the way the gate will cut it, so
a bad file fails the run in seconds with its name, not after minutes of conversion, and
no artifact is written.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, SourceError
from ..ocr.image_io import IMAGE_SUFFIXES, ImageLoadError, list_images, load_image

SUFFIXES = " ".join(IMAGE_SUFFIXES)


@dataclass(frozen=True)
class UserInt8Data:
    calibration_images: list[Path]   # calibrated on ahead of the packaged set
    gate_pages: Path | None          # a labelled page directory replacing the rendered gate pages


def _directory(path: Path, flag: str, holds: str) -> Path:
    if not path.is_dir():
        raise SourceError(f"{flag} {path}: not a directory", hint=f"pass a directory of {holds}")
    return path


def _readable(path: Path, flag: str) -> tuple[int, ...]:
    """The decoded image's shape."""
    try:
        return load_image(path).shape
    except ImageLoadError as e:
        raise SourceError(f"{flag}: {e}", hint="remove or replace that file; nothing was converted") from e


def calibration_images(directory: Path) -> list[Path]:
    """The image files of `directory`, each checked to decode."""
    flag = "--calibration-images"
    images = list_images(_directory(directory, flag, f"images ({SUFFIXES})"))
    if not images:
        raise SourceError(f"{flag} {directory}: no images ({SUFFIXES})",
                          hint="put the photos your app reads there")
    for p in images:
        _readable(p, flag)
    return images


def gate_pages(directory: Path) -> Path:
    """A labelled page directory (`labels.json` + the images it names, the format
    `ppocr-convert evalset` writes and `parity --labels` reads), checked whole."""
    from ..parity.labels import load_labels
    flag = "--gate-pages"
    labels_path = _directory(directory, flag, "labelled pages (labels.json + the images it names)") / "labels.json"
    if not labels_path.is_file():
        raise SourceError(f"{flag} {directory}: no labels.json",
                          hint='labels.json: {"image.jpg": [{"text": "...", "box": [[x, y], ...4]}]} beside '
                               "the images (`ppocr-convert evalset` writes one)")
    labels = load_labels(labels_path)
    for name in sorted(labels):
        if Path(name).name != name:
            raise SourceError(f"{flag} {labels_path}: {name!r} is not a file name in {directory}",
                              hint="key each page by its file name, without folders")
        height, width = _readable(directory / name, flag)[:2]
        for i, line in enumerate(labels[name]):
            _croppable(line["box"], (height, width), f"{flag} {labels_path}: {name} line {i}")
    if not any(labels.values()):
        raise SourceError(f"{flag} {labels_path}: no labelled lines", hint="a gate needs lines to read")
    return directory


def _croppable(box: list, page_hw: tuple[int, int], where: str) -> None:
    """The gate cuts each labelled line as the pipeline does (ocr.geometry.crop_rotated):
    a box without area cannot be cut, and one far larger than its page would allocate
    a crop of that size."""
    from ..ocr.geometry import crop_size
    w, h = crop_size(box)
    if w < 1 or h < 1:
        raise SourceError(f"{where}: box {box} has no area ({w}x{h} px)",
                          hint="corners in order top-left, top-right, bottom-right, bottom-left")
    if max(w, h) > 2 * max(page_hw):
        raise SourceError(f"{where}: box {box} spans {w}x{h} px on a {page_hw[1]}x{page_hw[0]} page",
                          hint="box corners are pixel coordinates of that page")


def user_int8_data(calibration_dir: Path | None, gate_dir: Path | None, targets: list[str]) -> UserInt8Data:
    """The checked user data for the tflite-int8 stage (empty when none was given)."""
    given = [flag for flag, d in (("--calibration-images", calibration_dir), ("--gate-pages", gate_dir)) if d]
    if given and "tflite-int8" not in targets:
        raise ConfigError(f"{' and '.join(given)} only apply to the tflite-int8 target",
                          hint="add --target tflite-int8, or drop the option")
    return UserInt8Data(calibration_images(calibration_dir) if calibration_dir else [],
                        gate_pages(gate_dir) if gate_dir else None)

"""Ground-truth labels for `parity --labels`: {image file name: [{"text": str,
"box": [[x, y] x 4]}, ...]}, the format the project's evaluation set writes too."""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..errors import SourceError


def load_labels(path: Path) -> dict[str, list[dict]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SourceError(f"cannot read labels {path}: {e.__class__.__name__}: {e}",
                          hint='labels are JSON: {"image.jpg": [{"text": "...", "box": [[x, y], ...4]}]}') from e
    if not isinstance(data, dict):
        raise SourceError(f"labels {path}: expected an object keyed by image file name", hint="see --help")
    for image, lines in data.items():
        for i, line in enumerate(lines if isinstance(lines, list) else [None]):
            box = line.get("box") if isinstance(line, dict) else None
            if not (isinstance(line, dict) and isinstance(line.get("text"), str) and isinstance(box, list)
                    and len(box) == 4 and all(isinstance(p, list) and len(p) == 2 for p in box)):
                raise SourceError(f"labels {path}: {image} line {i} needs 'text' and a 4-point 'box'",
                                  hint='each line: {"text": "...", "box": [[x, y], [x, y], [x, y], [x, y]]}')
            if not all(_finite_number(v) for p in box for v in p):
                raise SourceError(f"labels {path}: {image} line {i}: box {box} holds a value that is not a "
                                  "finite number", hint="box corners are pixel coordinates [x, y]")
    return data


def _finite_number(v) -> bool:
    # JSON's true/false parse as bool, a subclass of int; NaN and Infinity parse as floats
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

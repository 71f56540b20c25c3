"""Per-image parity results on disk: content-keyed cache entries and the JSON-lines stream.

A parity run computes one `ImageResult` per image (the reference and every stage on that
image, or the reason it was skipped). Each is written, as soon as it is computed, to an
entry keyed by everything that decides it:

    sha256(image bytes) + the artifacts' sha256 + the recipe (pipeline parameters, targets,
    ground-truth lines) + the digest of the harness code

so a run killed by Ctrl-C, SIGTERM or a crash, run again, finds every finished image and
computes only the rest; a changed artifact, recipe or harness misses every entry (a new
key) instead of serving a stale one. An entry is a directory `<root>/<key[:2]>/<key>/`
holding `result.json` and the image's det-difference heat maps (PNG), written into a
temporary directory and renamed into place: a reader sees a whole entry or none.

`ResultsWriter` appends one JSON line per image to a `.jsonl` file (flushed per line);
`read_results` streams it back one image at a time, so nothing needs the whole set in memory.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from ..fsutil import sha256_file

RESULT_FILE = "result.json"
# the per-image entries' home under the cache root (`parity`, the release gate; `cache` lists them)
RESULTS_CACHE_DIR = "parity-images"


@dataclass
class ImageResult:
    """One image's outcome. `entry` is a report_schema.ImageEntry as JSON (None when skipped);
    `heatmaps` maps a stage to its det-difference thumbnail as PNG bytes (never in the JSON line)."""
    index: int
    image: str
    entry: dict | None = None
    skipped: str | None = None  # why the image left the run
    heatmaps: dict[str, bytes] = field(default_factory=dict, repr=False)

    def line(self) -> dict:
        """The JSON line of this image (no heat-map bytes, no position in the run)."""
        out: dict = {"image": self.image}
        if self.skipped is not None:
            out["skipped"] = self.skipped
        else:
            out["entry"] = self.entry
        return out


def image_key(image_sha256: str, artifacts: str, recipe: str, code: str) -> str:
    """The cache key of one image's result (all four parts are hex digests or canonical JSON)."""
    h = hashlib.sha256()
    for part in (image_sha256, artifacts, recipe, code):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def json_digest(value) -> str:
    """sha256 of canonical JSON (sorted keys, no whitespace), for recipes and label lines."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False, default=str).encode()).hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of a model file, or of a Paddle model directory's files (names and contents)."""
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(q for q in path.rglob("*") if q.is_file() and "__pycache__" not in q.parts):
            h.update(f"{p.relative_to(path)}\0{sha256_file(p)}\0".encode())
        return h.hexdigest()
    return sha256_file(path)


class ResultStore:
    """Content-keyed per-image entries under `root` (see the module docstring)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def has(self, key: str) -> bool:
        return (self._dir(key) / RESULT_FILE).is_file()

    def get(self, key: str, with_heatmaps: bool = False) -> ImageResult | None:
        """The entry of `key`, or None when absent or unreadable (a damaged entry is a miss)."""
        d = self._dir(key)
        try:
            data = json.loads((d / RESULT_FILE).read_text(encoding="utf-8"))
            result = ImageResult(int(data["index"]), str(data["image"]), data.get("entry"), data.get("skipped"))
            if with_heatmaps:
                result.heatmaps = {stage: (d / f"{stage}.png").read_bytes()
                                   for stage in data.get("heatmaps", [])}
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:  # a read is a use: `cache prune` drops the least recently used entries first
            os.utime(d / RESULT_FILE)
        except OSError:
            pass
        return result

    def entry_dirs(self) -> Iterator[Path]:
        """Every entry directory (temporary ones of running writers excluded)."""
        for prefix in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            for d in sorted(prefix.iterdir()) if prefix.is_dir() and not prefix.name.startswith(".") else []:
                if d.is_dir() and not d.name.startswith("."):
                    yield d

    def heatmap_path(self, key: str, stage: str) -> Path:
        return self._dir(key) / f"{stage}.png"

    def put(self, key: str, result: ImageResult) -> None:
        """Write the entry atomically; an existing entry of the same key is replaced."""
        final = self._dir(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key[:16]}.tmp-"))
        try:
            for stage, png in result.heatmaps.items():
                (tmp / f"{stage}.png").write_bytes(png)
            data = {"index": result.index, **result.line(), "heatmaps": sorted(result.heatmaps)}
            (tmp / RESULT_FILE).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            if final.exists():  # --no-cache rewrites: move the old one aside, then swap
                old = final.with_name(f".{key[:16]}.old-{os.getpid()}")
                os.replace(final, old)
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


class ResultsWriter:
    """Appends one JSON line per image to `path`, flushed after each line."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = open(self.path, "w", encoding="utf-8")

    def write(self, result: ImageResult) -> None:
        self._f.write(json.dumps(result.line(), ensure_ascii=False, sort_keys=False) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_results(path: Path) -> Iterator[dict]:
    """The JSON lines of a results file, one image at a time."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def without_timings(line: dict) -> dict:
    """A result line with its wall-clock fields removed: what must be identical between runs
    with any number of workers or any engine (only the timings may differ)."""
    data = json.loads(json.dumps(line))
    for stage in ((data.get("entry") or {}).get("stages") or {}).values():
        stage.pop("seconds", None)
    return data


def entry_problem(entry_dir: Path) -> str | None:
    """What is wrong with one stored entry (None: whole): its result.json unreadable or
    incomplete, or a heat map it lists missing."""
    try:
        data = json.loads((Path(entry_dir) / RESULT_FILE).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "image" not in data or not ("entry" in data or "skipped" in data):
            return f"{RESULT_FILE} lacks the image's result"
    except (OSError, ValueError) as e:
        return f"{RESULT_FILE} unreadable ({e.__class__.__name__})"
    missing = [s for s in data.get("heatmaps", []) if not (Path(entry_dir) / f"{s}.png").is_file()]
    return f"heat map missing: {', '.join(missing)}" if missing else None


def entry_image(entry_dir: Path) -> str:
    """The image name an entry was computed for ("" when unreadable)."""
    try:
        return str(json.loads((Path(entry_dir) / RESULT_FILE).read_text(encoding="utf-8")).get("image", ""))
    except (OSError, ValueError, AttributeError):
        return ""

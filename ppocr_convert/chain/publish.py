"""Writing dist/<model>/<target>/ so that a reader sees the old or the new directory,
never a mix: each target is written into a private sibling, then swapped in. A
failed or interrupted run leaves the previous artifacts untouched."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import ConvertError
from ..fsutil import replace_dir, sweep_stale_temp_dirs, temp_dir, write_error_hint


def stage_publish(target_dir: Path, artifacts: list[tuple[Path, str]], manifest: dict, dict_path: Path | None,
                  build: dict | None = None) -> Path:
    """Write the artifact dir into a private temp dir next to its final place."""
    try:
        target_dir.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_temp_dirs(target_dir.parent, target_dir.name)  # left by a killed run
        tmp = temp_dir(target_dir.parent, target_dir.name)
    except OSError as e:
        raise output_error(target_dir, e) from e
    try:
        for artifact, name in artifacts:
            shutil.copyfile(artifact, tmp / name)
        if dict_path is not None:
            shutil.copyfile(dict_path, tmp / dict_path.name)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        # what varies between identical builds (timings, cache hits, memory) lives apart
        (tmp / "build.json").write_text(json.dumps(build, indent=2) + "\n")
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise output_error(target_dir, e) from e
        raise
    return tmp


def swap_in(tmp: Path, target_dir: Path) -> Path:
    """Replace target_dir by tmp atomically (concurrent runs: last one wins, none fails)."""
    try:
        replace_dir(tmp, target_dir)
    except OSError as e:
        raise output_error(target_dir, e) from e
    return target_dir


def publish_all(out_dir: Path, files: dict[str, list[tuple[Path, str]]], manifests: dict[str, dict],
                dict_path: Path | None, build: dict) -> dict[str, Path]:
    """Stage every target first, then swap them all in: a full disk or an interrupt while
    staging leaves every target as it was."""
    staged: dict[str, Path] = {}
    dirs: dict[str, Path] = {}
    try:
        for target, artifacts in files.items():
            staged[target] = stage_publish(out_dir / target, artifacts, manifests[target], dict_path, build)
        for target, tmp in staged.items():
            dirs[target] = swap_in(tmp, out_dir / target)
    finally:
        for tmp in staged.values():
            shutil.rmtree(tmp, ignore_errors=True)  # no-op for those swapped in
    return dirs


def output_error(target_dir: Path, e: OSError) -> ConvertError:
    return ConvertError(f"cannot write {target_dir}: {e.strerror or e}", hint=write_error_hint(e, "--out"))

"""Content-addressed stage cache.

A stage's output directory is stored under a key made from everything that
determines it: the input's hash, the options, and the versions of the tools that
run. Nothing changed → same key → reuse; one option changed → only the stages that
depend on it get new keys.

Consistency rules (each has a test in tests/test_faults.py):
* an entry is built in a private temp directory `.KEY.tmp-PID-*` and renamed into
  place only once complete (with its `.complete` marker), so an interrupted or failed
  run never leaves a partial entry where a reader looks;
* concurrent runs of the same stage take a per-key lock (`.KEY.lock`, flock, removed
  after use): the second waits and then reuses the first one's entry instead of
  building it again and renaming it from under the first;
* temp directories left by a killed process (SIGKILL, power loss) are removed by the
  next build of that key, once their owner PID is gone;
* an OSError while writing the cache (disk full, read-only) becomes a one-line
  ConvertError naming the cache directory.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from .errors import ConvertError


def cache_key(**parts) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


# OSErrors that are about the disk, whichever file they hit
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def write_error_hint(e: OSError, where: str) -> str:
    """What to do about an OSError while writing; `where` names the setting, e.g. "--out"."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"the disk is full: free some space, or point {where} at another disk"
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"that location is not writable: point {where} at a writable directory"
    if e.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return f"part of that path is a file, not a directory: point {where} elsewhere"
    return f"check {where} and the disk it is on"


_UMASK = os.umask(0o022)
os.umask(_UMASK)


def temp_dir(parent: Path, name: str, kind: str = "tmp") -> Path:
    """A private sibling `.NAME.KIND-PID-xxxx` of `parent/NAME` (same filesystem: renames
    are atomic), with the permissions of an ordinary directory once renamed into place."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}.{kind}-{os.getpid()}-"))
    os.chmod(path, 0o777 & ~_UMASK)
    return path


_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)-[^/]*$")


def sweep_stale_temp_dirs(parent: Path, name: str | None = None) -> list[Path]:
    """Remove `.NAME.tmp-PID-*` / `.NAME.old-PID-*` dirs whose process no longer exists."""
    import psutil
    removed = []
    try:
        children = list(parent.iterdir())
    except OSError:
        return removed
    for p in children:
        m = _TEMP_RE.match(p.name)
        if not m or (name is not None and m["name"] != name) or not p.is_dir():
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or psutil.pid_exists(pid):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOENT):
        return False  # filesystem cannot, or `b` vanished meanwhile: the caller falls back
    raise OSError(err, os.strerror(err), str(b))


def replace_dir(src: Path, dst: Path) -> None:
    """Move directory `src` to `dst`, replacing what `dst` holds. A reader sees the old
    or the new directory, never a mix; concurrent callers do not fail (last one wins)."""
    for _ in range(20):
        try:
            os.rename(src, dst)  # dst absent (or an empty dir): atomic
            return
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        if _exchange(src, dst):
            shutil.rmtree(src, ignore_errors=True)  # src now holds the old content
            return
        # no atomic exchange here: move the old one aside, then retry the rename
        old = temp_dir(dst.parent, dst.name, "old")
        try:
            os.rename(dst, old / "x")
        except FileNotFoundError:
            pass  # another process moved it first
        try:
            os.rename(src, dst)
            return
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
    raise OSError(errno.EBUSY, "directory keeps being replaced by another process", str(dst))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive flock on `path`, created for the purpose and removed on release.

    The holder unlinks the file before unlocking; a waiter that then gets the lock on
    the unlinked inode notices (inode differs from the path's) and retries.
    """
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # a failed run removed the (then empty) directory meanwhile
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


class StageCache:
    def __init__(self, root: Path, enabled: bool = True):
        self.root = Path(root)
        self.enabled = enabled

    def entry(self, stage: str, key: str) -> Path:
        return self.root / "stages" / stage / key

    def get(self, stage: str, key: str) -> Path | None:
        path = self.entry(stage, key)
        return path if self.enabled and (path / ".complete").is_file() else None

    def build(self, stage: str, key: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
        """Return (entry dir, reused). `build(tmpdir)` writes the stage's files."""
        hit = self.get(stage, key)
        if hit is not None:
            return hit, True
        final = self.entry(stage, key)
        created = [d for d in (final.parent, final.parent.parent, self.root) if not d.exists()]
        try:
            return self._build(stage, key, build, final)
        except BaseException:
            for d in created:  # a failed first build of a stage leaves no empty directories
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise

    def _build(self, stage: str, key: str, build: Callable[[Path], None], final: Path) -> tuple[Path, bool]:
        with contextlib.ExitStack() as stack:
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                stack.enter_context(file_lock(final.parent / f".{key}.lock"))
                hit = self.get(stage, key)  # built by a concurrent run while we waited
                if hit is not None:
                    return hit, True
                sweep_stale_temp_dirs(final.parent, key)
                tmp = temp_dir(final.parent, key)
            except OSError as e:
                raise self._write_error(e) from e
            try:
                build(tmp)
                (tmp / ".complete").write_text("")
                # over an existing entry only with --no-cache (or an unmarked leftover)
                replace_dir(tmp, final)
            except BaseException as e:
                shutil.rmtree(tmp, ignore_errors=True)
                if isinstance(e, OSError) and (e.errno in DISK_ERRNOS or self._inside(e.filename)):
                    raise self._write_error(e) from e
                raise
        return final, False

    def _inside(self, filename) -> bool:
        try:
            return filename is not None and Path(os.fsdecode(filename)).resolve().is_relative_to(self.root.resolve())
        except (TypeError, ValueError, OSError):
            return False

    def _write_error(self, e: OSError) -> ConvertError:
        where = os.fsdecode(e.filename) if e.filename else f"the stage cache {self.root}"
        return ConvertError(f"cannot write {where}: {e.strerror or e}",
                            hint=write_error_hint(e, "PPOCR_CONVERT_CACHE"))

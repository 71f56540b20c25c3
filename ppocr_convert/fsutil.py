"""Filesystem helpers shared by the whole tool: content digests, private temp dirs
next to their final place, atomic directory replacement, per-key file locks, and
the hint for an OSError while writing.

Every artifact, cache entry and reference rebuild is written the same way: into a
`.NAME.tmp-PID-*` sibling, then renamed into place, so a reader never sees half a
directory and a killed run leaves nothing a later run mistakes for a result.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    st = os.stat(path)
    return _sha256_cached(str(Path(path).absolute()), st.st_size, st.st_mtime_ns, chunk)


@functools.lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int, chunk: int) -> str:
    """Keyed on size and mtime: a file rewritten in place is hashed again."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_files(files: list[Path]) -> str:
    """One digest for an ordered set of files (names and contents)."""
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).name.encode() + b"\0" + sha256_file(f).encode())
    return h.hexdigest()


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
    removed: list[Path] = []
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



"""A shared remote behind the local stage cache, for CI fleets: `--remote-cache URL` or
PPOCR_CONVERT_REMOTE_CACHE, any fsspec URL (file://, http(s)://, s3://, gs://; the last
two need s3fs / gcsfs installed).

Each stage entry is one object, `<url>/stages/<stage>/<key>.tar`, holding the entry's
files and its `.complete` marker with their sha256: a local miss downloads it, unpacks
it next to its final place and verifies every digest before using it (a partial upload
or a damaged object is a miss); a locally built entry is uploaded once. The remote is
never required: the first error (unreachable, refused, no credentials) is one warning
line and the run goes on with the local cache only. Offline stays the default: nothing
is contacted unless a URL is given.
"""
from __future__ import annotations

import io
import logging
import os
import tarfile
from pathlib import Path

log = logging.getLogger("ppocr_convert.cache")

REMOTE_ENV = "PPOCR_CONVERT_REMOTE_CACHE"


def remote_from_env(url: str | None = None) -> "RemoteCache | None":
    url = url or os.environ.get(REMOTE_ENV) or None
    return RemoteCache(url) if url else None


class RemoteCache:
    def __init__(self, url: str, timeout: float = 20.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.disabled = False
        self.fetched = 0
        self.pushed = 0
        self._fs = None

    def _filesystem(self):
        if self._fs is None:
            import fsspec
            kwargs = {"client_kwargs": {"timeout": _aiohttp_timeout(self.timeout)}} \
                if self.url.startswith(("http://", "https://")) else {}
            self._fs, _ = fsspec.core.url_to_fs(self.url, **kwargs)
        return self._fs

    def object_url(self, stage: str, key: str) -> str:
        return f"{self.url}/stages/{stage}/{key}.tar"

    def fetch(self, stage: str, key: str, dest: Path) -> bool:
        """Unpack the remote entry into the empty directory `dest`; False on a miss."""
        if self.disabled:
            return False
        url = self.object_url(stage, key)
        try:
            fs = self._filesystem()
            if not fs.exists(url):
                return False
            data = fs.cat_file(url)
        except FileNotFoundError:
            return False
        except Exception as e:  # network, credentials, a missing fsspec backend, ...
            self._give_up(e)
            return False
        try:
            unpack_entry(data, dest)
        except (tarfile.TarError, ValueError, OSError) as e:
            log.warning("remote cache: %s entry %s is not a usable archive (%s); building it", stage, key,
                        _one_line(e))
            return False
        self.fetched += 1
        return True

    def push(self, stage: str, key: str, entry: Path) -> None:
        """Upload a sealed local entry (best effort: a failure is one warning line)."""
        if self.disabled:
            return
        url = self.object_url(stage, key)
        try:
            fs = self._filesystem()
            if fs.exists(url):
                return
            data = pack_entry(entry)
            if self.url.startswith(("http://", "https://")):
                fs.put_file(io.BytesIO(data), url, method="put")  # fsspec's http default is POST
            else:
                fs.makedirs(url.rsplit("/", 1)[0], exist_ok=True)
                fs.pipe_file(url, data)
            self.pushed += 1
        except Exception as e:
            self._give_up(e)

    def _give_up(self, e: Exception) -> None:
        self.disabled = True
        log.warning("remote cache %s is not usable (%s); continuing with the local cache only", self.url,
                    _one_line(e))


def _aiohttp_timeout(seconds: float):
    import aiohttp
    return aiohttp.ClientTimeout(total=seconds)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return f"{type(e).__name__}: {text[:200]}"


def pack_entry(entry: Path) -> bytes:
    """The entry's files (with `.complete`) as an uncompressed tar, byte-stable: sorted
    names, no owners, no timestamps."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in entry.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(path.relative_to(entry).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o644
            with open(path, "rb") as f:
                tar.addfile(info, f)
    return buf.getvalue()


def unpack_entry(data: bytes, dest: Path) -> None:
    """Extract regular files only, never outside dest; then the digests decide."""
    from .stage_cache import COMPLETE, entry_problem
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if not member.isfile() or member.name.startswith("/") or ".." in parts:
                raise ValueError(f"member {member.name!r} is not a plain file inside the entry")
            target = dest / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            if src is None:
                raise ValueError(f"member {member.name!r} has no data")
            with src, open(target, "wb") as out:
                out.write(src.read())
    if not (dest / COMPLETE).is_file():
        raise ValueError("no .complete marker (an incomplete upload)")
    problem = entry_problem(dest)
    if problem is not None:
        raise ValueError(problem)

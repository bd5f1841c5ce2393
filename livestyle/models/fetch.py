"""Model lookup: find a registered model file, verify its sha256, download it if allowed.


:func:`model_path` searches, in order: the folder in ``LIVESTYLE_MODEL_DIR``, the installed
package that ships the file, the cache (``cache_dir() / "models"``), and finally downloads the
file into the cache if it has an official address and downloads are allowed
(``LIVESTYLE_OFFLINE=1`` forbids them). Every file is checked against its sha256 before use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from livestyle.errors import InputError, ModelError
from livestyle.models.registry import MODELS, ModelSpec, Where

ENV_MODEL_DIR = "LIVESTYLE_MODEL_DIR"
"""Environment variable: a folder searched first for model files, by file name."""
ENV_CACHE_DIR = "LIVESTYLE_CACHE_DIR"
"""Environment variable: overrides :func:`cache_dir`."""
ENV_OFFLINE = "LIVESTYLE_OFFLINE"
"""Environment variable: ``1`` forbids downloads from :func:`model_path`."""

LOCK = threading.RLock()
log = logging.getLogger(__name__)
_warned_dirs: set[str] = set()  # LIVESTYLE_MODEL_DIR values already warned about
_digests: dict[Path, tuple[int, int, str]] = {}  # resolved path -> (mtime_ns, size, sha256)


# --------------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """The folder for downloaded and converted models (``cache_dir() / "models"``).

    ``LIVESTYLE_CACHE_DIR`` if set, else ``platformdirs.user_cache_dir("livestyle")``. Created
    if it does not exist.

    Raises:
        InputError: it is a file, or it cannot be created (one line naming the variable).
    """
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("livestyle"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        where = f"{ENV_CACHE_DIR}={env}" if env else str(path)
        raise InputError(f"{where}: is a file, not a folder; point {ENV_CACHE_DIR} at a folder (or unset it)") from None
    except OSError as err:
        where = f"{ENV_CACHE_DIR}={env}" if env else str(path)
        raise InputError(
            f"{where}: cannot create the cache folder ({err.strerror or err}); point {ENV_CACHE_DIR} at a "
            "folder you can write to"
        ) from None
    return path


def models_cache_dir() -> Path:
    return cache_dir() / "models"


def _package_file(spec: ModelSpec) -> Path | None:
    """The file inside the installed package, found without importing the package."""
    if spec.package is None:
        return None
    module, relpath = spec.package
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for folder in found.submodule_search_locations:
        candidate = Path(folder) / relpath
        if candidate.is_file():
            return candidate
    return None


def _env_model_dir() -> Path | None:
    """The folder in ``LIVESTYLE_MODEL_DIR``, if set. One that is not a folder is warned about
    once per process (a typo there would otherwise go unnoticed) and searched no further."""
    env = os.environ.get(ENV_MODEL_DIR)
    if not env:
        return None
    folder = Path(env).expanduser().absolute()
    if folder.is_dir():
        return folder
    with LOCK:
        if env not in _warned_dirs:
            _warned_dirs.add(env)
            log.warning("%s=%s %s; models are looked up elsewhere (check the path)",
                        ENV_MODEL_DIR, env, "is not a folder" if folder.exists() else "does not exist")
    return None


def candidates(spec: ModelSpec) -> list[tuple[Where, Path]]:
    """Existing files for ``spec``, in search order."""
    found: list[tuple[Where, Path]] = []
    folder = _env_model_dir()
    if folder is not None:
        path = folder / spec.filename
        if path.is_file():
            found.append(("env dir", path))
    packaged = _package_file(spec)
    if packaged is not None:
        found.append(("package", packaged))
    cached = models_cache_dir() / spec.filename
    if cached.is_file():
        found.append(("cache", cached))
    return found


def spec_named(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; valid names: {', '.join(MODELS)}") from None


# --------------------------------------------------------------------------- checksums


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's content, as lower-case hex.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """sha256 of ``path``, hashed once per process while its mtime and size stay the same."""
    key = path.resolve()
    st = key.stat()
    with LOCK:
        known = _digests.get(key)
        if known is not None and known[:2] == (st.st_mtime_ns, st.st_size):
            return known[2]
    value = sha256_file(key)
    with LOCK:
        _digests[key] = (st.st_mtime_ns, st.st_size, value)
    return value


def how_to_get(spec: ModelSpec) -> str:
    ways = []
    if spec.url:
        ways.append(f"run `livestyle models download {spec.name}`")
    if spec.install_hint:
        ways.append(f"`{spec.install_hint}`")
    if not ways:
        ways.append(f"put {spec.filename} into ${ENV_MODEL_DIR}")
    return " or ".join(ways)


def corrupt_message(spec: ModelSpec, where: Where, path: Path, actual: str) -> str:
    if where == "cache":
        fix = f"delete it and {how_to_get(spec)}"
    else:
        fix = f"delete it or replace it with a good copy (to get one: {how_to_get(spec)})"
    return f"{path}: model {spec.name!r} is corrupt: sha256 {actual}, expected {spec.sha256}; {fix}"


@dataclass(frozen=True)
class Resolution:
    """Outcome of searching for a model: ``ok`` (``path`` verified), ``corrupt`` (``path`` has
    sha256 ``actual``) or ``missing``. ``skipped`` lists package files of another version."""

    status: Literal["ok", "corrupt", "missing"]
    where: Where | None = None
    path: Path | None = None
    actual: str | None = None
    skipped: tuple[Path, ...] = ()


def resolve(spec: ModelSpec) -> Resolution:
    skipped: list[Path] = []
    for where, path in candidates(spec):
        actual = file_digest(path)
        if actual == spec.sha256:
            return Resolution("ok", where, path, actual, tuple(skipped))
        if where == "package":
            # Another release of the package ships another version of the file: not ours to fix.
            skipped.append(path)
            continue
        return Resolution("corrupt", where, path, actual, tuple(skipped))
    return Resolution("missing", skipped=tuple(skipped))


def _missing_message(spec: ModelSpec, reason: str = "") -> str:
    searched = []
    env = os.environ.get(ENV_MODEL_DIR)
    if env:
        searched.append(f"{ENV_MODEL_DIR}={env}")
    if spec.package:
        searched.append(f"package {spec.package[0]}")
    searched.append(str(models_cache_dir()))
    msg = (
        f"model {spec.name!r} ({spec.filename}, sha256 {spec.sha256}) not found in "
        f"{', '.join(searched)}"
    )
    if reason:
        msg += f" ({reason})"
    return f"{msg}; {how_to_get(spec)}"


# --------------------------------------------------------------------------- download


def _offline() -> bool:
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in {"1", "true", "yes", "on"}


def download_model(spec: ModelSpec) -> Path:
    """Fetch ``spec.url`` into the cache with pooch, verifying the sha256.

    A download whose checksum does not match leaves nothing in the cache (pooch writes to a
    temporary file and moves it in place only once verified).

    Raises:
        ModelError: no url, a network error, or a checksum mismatch (one line).
    """
    if not spec.url:
        raise ModelError(_missing_message(spec, "no download address"))
    import pooch

    target = models_cache_dir()
    print(f"livestyle: downloading model {spec.name} ({spec.filename}) from {spec.url}", file=sys.stderr)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # our line above replaces pooch's own
    try:
        fetched = pooch.retrieve(
            spec.url,
            known_hash=f"sha256:{spec.sha256}",
            fname=spec.filename,
            path=target,
            progressbar=sys.stderr.isatty(),
        )
    except ValueError as err:  # checksum mismatch, or a url pooch cannot handle
        text = " ".join(str(err).split())
        got = re.search(r"but got ([0-9a-fA-F]{64})", text)
        if got:
            detail = f"the file from {spec.url} has sha256 {got.group(1).lower()}, expected {spec.sha256}"
        else:
            detail = f"{spec.url}: {text}"
        raise ModelError(f"download of model {spec.name!r} failed: {detail}") from None
    except OSError as err:  # includes requests' network errors
        text = " ".join(str(err).split()) or type(err).__name__
        errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
        if errno and "ConnectionPool" in text:  # requests' ConnectionError: keep the cause
            text = errno.group(0)
        raise ModelError(
            f"download of model {spec.name!r} from {spec.url} failed: {text}; "
            f"check the network, or put {spec.filename} into ${ENV_MODEL_DIR}"
        ) from None
    finally:
        logger.setLevel(level)
    path = Path(fetched)
    actual = file_digest(path)
    if actual != spec.sha256:  # pooch checked already; this is only a guard
        raise ModelError(corrupt_message(spec, "cache", path, actual))
    return path


# --------------------------------------------------------------------------- public lookup


def model_path(name: str, *, download: bool | None = None) -> Path:
    """The verified local file of model ``name`` (a key of :data:`MODELS`).

    Searches ``$LIVESTYLE_MODEL_DIR``, then the installed package shipping the file, then
    ``cache_dir() / "models"``; if none has it and the model has an official url, downloads it
    into the cache (``download=None`` allows that unless ``LIVESTYLE_OFFLINE=1``). The file's
    sha256 is checked once per process (again if its mtime or size changes).

    Raises:
        InputError: ``name`` is not a known model.
        ModelError: the file in ``$LIVESTYLE_MODEL_DIR`` or in the cache has the wrong sha256,
            or the model is missing and cannot be downloaded (no url, downloads disabled, or
            the download failed). The message is one line saying how to get the file.
    """
    spec = spec_named(name)
    found = resolve(spec)
    if found.status == "ok":
        assert found.path is not None
        return found.path
    if found.status == "corrupt":
        assert found.path is not None and found.where is not None and found.actual is not None
        raise ModelError(corrupt_message(spec, found.where, found.path, found.actual))
    allowed = (not _offline()) if download is None else download
    if spec.url and allowed:
        return download_model(spec)
    reasons = []
    if found.skipped:
        reasons.append(f"{found.skipped[0]} is another version")
    if spec.url and not allowed:
        reasons.append(f"downloads disabled by {ENV_OFFLINE}=1" if download is None else "downloads disabled")
    raise ModelError(_missing_message(spec, "; ".join(reasons)))

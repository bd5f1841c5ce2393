"""Files in the user cache: written atomically, safe when several processes share the cache,
and (for files worth checking) verified against a recorded sha256.

* :func:`write_atomic` writes to a new temporary file in the target's folder (a unique name
  from :func:`tempfile.mkstemp`, created exclusively) and moves it onto the target with
  :func:`os.replace`: readers see the old file or the new one, never a half-written one, and
  two processes writing the same entry never share a temporary file (the last one wins).
* :func:`write_verified` also records the content's sha256 in a sidecar ``<name>.sha256``
  (written the same way); :func:`check_verified` says whether a file still matches it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Literal

from livestyle.models.fetch import file_digest

Status = Literal["ok", "corrupt", "missing"]


def sidecar_path(path: Path) -> Path:
    """The file holding ``path``'s recorded sha256: ``<name>.sha256`` beside it."""
    return path.with_name(path.name + ".sha256")


def write_atomic(path: Path, write: Callable[[object], None]) -> None:
    """Create or replace ``path`` with what ``write(f)`` writes to a binary file ``f``.

    The folder is created if needed. On any error (or an interrupt) the temporary file is
    removed and ``path`` is unchanged.

    Raises:
        OSError: the folder cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_verified(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically and record its sha256 in :func:`sidecar_path`.

    The content goes first, then the sidecar: a reader that comes in between sees a mismatch
    and rebuilds, which is wasted work but never wrong.

    Returns:
        The sha256 (lower-case hex).

    Raises:
        OSError: the folder cannot be written.
    """
    digest = hashlib.sha256(data).hexdigest()
    write_atomic(path, lambda f: f.write(data))
    write_atomic(sidecar_path(path), lambda f: f.write(f"{digest}  {path.name}\n".encode()))
    return digest


def recorded_digest(path: Path) -> str | None:
    """The sha256 recorded for ``path``, or None (no sidecar, or not a sha256 in it)."""
    try:
        text = sidecar_path(path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    words = text.split()
    digest = words[0].lower() if words else ""
    return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else None


def check_verified(path: Path) -> tuple[Status, str | None, str | None]:
    """Whether ``path`` matches its recorded sha256.

    Returns:
        ``(status, actual, recorded)``: ``missing`` (no file), ``corrupt`` (no record, or the
        sha256 differs) or ``ok``. The file is hashed once per process while its mtime and
        size stay the same.
    """
    if not path.is_file():
        return "missing", None, None
    recorded = recorded_digest(path)
    try:
        actual = file_digest(path)
    except OSError:
        return "corrupt", None, recorded
    return ("ok" if recorded == actual else "corrupt"), actual, recorded

"""Output files that appear whole or not at all: exclusive temporary files beside the target,
an atomic rename when complete, stale temporaries of dead processes removed, and OS errors
said in the product's words.

Every file livestyle writes (videos, images, benchmark reports, snapshots, user styles) is
first written to a temporary file in the target's folder, named
``.livestyle-tmp-<pid>-<start>-<random><ext>``:

* created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` (as :func:`tempfile.mkstemp` does), so it is
  never an existing file (an input, a planted symlink) and never shared by two runs; the name
  is unpredictable (8 random characters) and short (about 40 characters, so an output name of
  up to 255 characters works);
* ``<pid>`` and ``<start>`` (the process's start time, from ``/proc``) name the owner: a
  later run into the same folder removes temporaries whose process is gone, or whose pid now
  belongs to another process (:func:`remove_stale`), never one still being written; only
  regular files owned by the current user are touched, and never a file the run reads;
* moved onto the target with :func:`os.replace` when complete (the last run to finish wins;
  a symlink at the target is replaced, not followed).

Stale removal needs Linux's ``/proc``; elsewhere stale temporaries are left alone. A writer
in another PID namespace (a container sharing the folder) looks dead from here: do not point
two containers' runs at one folder.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import string
from pathlib import Path
from typing import BinaryIO, Iterable

from livestyle import signals
from livestyle.errors import InputError, OutputError

TEMP_PREFIX = ".livestyle-tmp-"
_ALPHABET = string.ascii_lowercase + string.digits
_DIGITS36 = string.digits + string.ascii_lowercase
_NAME_RE = re.compile(r"\.livestyle-tmp-(\d+)-([0-9a-z]+)-[0-9a-z]{8}(\.[A-Za-z0-9]{1,10})?")
_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
_PROC = Path("/proc")
_start_tokens: dict[int, str] = {}


def _base36(n: int) -> str:
    digits = ""
    while True:
        n, r = divmod(n, 36)
        digits = _DIGITS36[r] + digits
        if n == 0:
            return digits


def start_token(pid: int) -> str | None:
    """A token for process ``pid``'s start time (base 36 clock ticks since boot, from
    ``/proc/<pid>/stat``); None if there is no such process. ``"0"`` without ``/proc``."""
    if not _PROC.is_dir():
        return "0"
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    try:
        return _base36(int(fields[19]))  # field 22, starttime (fields[0] is field 3, state)
    except (IndexError, ValueError):
        return None


def _own_token() -> str:
    pid = os.getpid()  # a forked child gets its own
    if pid not in _start_tokens:
        _start_tokens[pid] = start_token(pid) or "0"
    return _start_tokens[pid]


def _temp_name(target: Path) -> str:
    ext = target.suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", target.suffix) else ""
    rand = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{TEMP_PREFIX}{os.getpid()}-{_own_token()}-{rand}{ext}"


def is_temp_name(name: str) -> bool:
    """Whether ``name`` has the form of a livestyle temporary file."""
    return _NAME_RE.fullmatch(name) is not None


def open_temp(target: str | os.PathLike[str]) -> tuple[BinaryIO, Path]:
    """Create a new, empty temporary file beside ``target``, exclusively.

    Call it inside :func:`livestyle.signals.deferred` and remember the path before the section
    ends, so a stop signal cannot leave a file nobody knows of.

    Returns:
        The file opened for reading and writing (binary, seekable) and its path.

    Raises:
        OutputError: the folder cannot be written (missing, read-only, permission denied, full).
    """
    target = Path(target)
    for _ in range(100):
        tmp = target.with_name(_temp_name(target))
        try:
            fd = os.open(tmp, _FLAGS, 0o666)
        except FileExistsError:  # taken (or a symlink planted there): another name
            continue
        except OSError as err:
            raise OutputError(describe_os_error(err, target)) from None
        return os.fdopen(fd, "w+b"), tmp
    raise OutputError(f"{target}: could not create a temporary file in {target.parent}; nothing was written")


def remove_stale(folder: str | os.PathLike[str], keep: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """Delete temporary files in ``folder`` left by processes that are gone.

    A file is removed only if its name has the temporary form, it is a regular file (not a
    symlink) owned by this user, it is none of ``keep`` (files this run reads), and the pid in
    its name is not running or now belongs to a process started at another time. Errors are
    ignored (another run may be removing the same file).

    Returns:
        The files removed.
    """
    if not (_PROC / "self" / "stat").exists():
        return []
    keep_ids = set()
    for item in keep:
        try:
            st = os.stat(item)
            keep_ids.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        m = _NAME_RE.fullmatch(entry.name)
        if m is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not entry.is_file(follow_symlinks=False) or st.st_uid != os.geteuid():
            continue
        if (st.st_dev, st.st_ino) in keep_ids:
            continue
        pid, token = int(m.group(1)), m.group(2)
        if start_token(pid) == token:  # its writer is still running
            continue
        try:
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


def describe_os_error(err: OSError, target: str | os.PathLike[str]) -> str:
    """``err`` (raised while writing ``target``) as one line in the product's words: what went
    wrong, what to do, and that nothing was written."""
    target = Path(target)
    folder = target.parent
    code = err.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return f"no space left on the device holding {target}; free space or choose another folder; nothing was written"
    if code == errno.EROFS:
        return f"{target}: {folder} is on a read-only file system; choose another folder; nothing was written"
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"{target}: permission denied writing into {folder}; choose a folder you can write to "
            "or change its permissions; nothing was written"
        )
    if code == errno.ENOENT:
        return f"{target}: folder {folder} does not exist; create it first; nothing was written"
    if code == errno.ENOTDIR:
        return f"{target}: {folder} is not a folder; choose another output path; nothing was written"
    if code == errno.ENAMETOOLONG:
        return f"{target}: the name is too long for this file system; choose a shorter name; nothing was written"
    if code == errno.EFBIG:
        return f"{target}: the file is too large for this file system; choose another folder; nothing was written"
    reason = err.strerror or str(err)
    return f"{target}: cannot write ({reason}); nothing was written"


def check_target(
    output: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]] = (),
    *,
    probe: bool = True,
) -> Path:
    """Check, before any work, that ``output`` can be written and is none of ``inputs``.

    With ``probe``, a temporary file is created and deleted in the folder, so a read-only
    folder or a missing permission is found now rather than at the end. Stale temporaries
    there are removed (:func:`remove_stale`, keeping ``inputs``).

    Raises:
        InputError: the folder does not exist, the output is a folder, or it is an input.
        OutputError: the folder cannot be written (read-only, permission denied, ...).
    """
    path = Path(output)
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"{path}: folder {folder} does not exist; create it first")
    if path.is_dir():
        example = path / ("out" + (path.suffix or ".mp4"))
        raise InputError(f"{path}: is a folder; give a file name such as {example}")
    inputs = [Path(i) for i in inputs if i is not None]
    for src in inputs:
        same = path.resolve() == src.resolve()
        if not same and path.exists() and src.exists():
            same = os.path.samefile(path, src)
        if same:
            raise InputError(f"{path}: would overwrite the input {src}; choose another output name")
    if probe:
        remove_stale(folder, keep=inputs)
        with signals.deferred():
            f, tmp = open_temp(path)
            f.close()
            tmp.unlink(missing_ok=True)
    return path


def write_atomic(target: str | os.PathLike[str], data: bytes, inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Write ``data`` to ``target`` through a temporary file (see the module docstring).

    Raises:
        InputError: see :func:`check_target`.
        OutputError: the file cannot be written (full disk, read-only, permission denied).
    """
    target = check_target(target, inputs, probe=False)
    remove_stale(target.parent, keep=inputs)
    tmp = None
    try:
        with signals.deferred():
            f, tmp = open_temp(target)
        with f:
            f.write(data)
        os.replace(tmp, target)
        tmp = None
    except OSError as err:
        raise OutputError(describe_os_error(err, target)) from None
    finally:
        if tmp is not None:
            with signals.deferred():
                tmp.unlink(missing_ok=True)
    return target

"""Temporary output files (livestyle.atomic): exclusive creation, stale removal by owner
process, inputs and symlinks left alone; OS errors in the product's words."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from livestyle import atomic
from livestyle.errors import InputError, OutputError


def test_temporaries_are_exclusive_short_and_owned(tmp_path):
    target = tmp_path / ("n" * 250 + ".mp4")
    names = set()
    for _ in range(20):
        f, tmp = atomic.open_temp(target)
        f.close()
        assert tmp.parent == tmp_path and atomic.is_temp_name(tmp.name)
        assert tmp.name.startswith(f".livestyle-tmp-{os.getpid()}-") and tmp.suffix == ".mp4"
        assert len(tmp.name) < 50
        names.add(tmp.name)
    assert len(names) == 20  # unpredictable, never shared
    assert atomic.remove_stale(tmp_path) == []  # this process is alive: none is stale


def test_a_planted_name_or_symlink_is_skipped(tmp_path, monkeypatch):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted = ".livestyle-tmp-1-0-aaaaaaaa.mp4"
    (tmp_path / planted).symlink_to(victim)
    names = iter([planted, ".livestyle-tmp-1-0-bbbbbbbb.mp4"])
    monkeypatch.setattr(atomic, "_temp_name", lambda target: next(names))
    f, tmp = atomic.open_temp(tmp_path / "out.mp4")
    with f:
        f.write(b"new")
    assert tmp.name.endswith("bbbbbbbb.mp4")
    assert victim.read_text() == "precious"


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="stale removal needs /proc")
def test_stale_removal_keeps_live_owners_inputs_and_symlinks(tmp_path):
    me, token = os.getpid(), atomic.start_token(os.getpid())
    dead = tmp_path / f".livestyle-tmp-{_dead_pid()}-{token}-aaaaaaaa.mp4"
    reused = tmp_path / f".livestyle-tmp-{me}-{token}zz-bbbbbbbb.mp4"  # our pid, another start time
    live = tmp_path / f".livestyle-tmp-{me}-{token}-cccccccc.mp4"
    an_input = tmp_path / f".livestyle-tmp-{_dead_pid()}-0-dddddddd.mp4"
    link = tmp_path / f".livestyle-tmp-{_dead_pid()}-0-eeeeeeee.mp4"
    other = tmp_path / ".out.livestyle-tmp.mp4"  # not our form: never touched
    for p in (dead, reused, live, an_input, other):
        p.write_bytes(b"x")
    link.symlink_to(other)
    removed = atomic.remove_stale(tmp_path, keep=[an_input])
    assert sorted(removed) == sorted([dead, reused])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (live, an_input, link, other))


@pytest.mark.parametrize(
    "code, words",
    [(errno.ENOSPC, "no space left on the device holding d/out.mp4; free space or choose another folder"),
     (errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied writing into d"),
     (errno.ENOENT, "folder d does not exist"), (errno.EIO, "cannot write")],
)
def test_os_errors_in_words(code, words):
    msg = atomic.describe_os_error(OSError(code, os.strerror(code)), "d/out.mp4")
    assert words in msg and msg.endswith("nothing was written") and "\n" not in msg


def test_write_atomic_refuses_an_input_and_a_folder(tmp_path):
    src = tmp_path / "in.json"
    src.write_text("input")
    with pytest.raises(InputError, match="overwrite the input"):
        atomic.write_atomic(src, b"report", inputs=[src])
    with pytest.raises(InputError, match="is a folder"):
        atomic.write_atomic(tmp_path, b"report")
    assert src.read_text() == "input"
    assert atomic.write_atomic(tmp_path / "r.json", b"report").read_bytes() == b"report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.json", "r.json"]


def test_write_failure_leaves_nothing(tmp_path, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full)
    with pytest.raises(OutputError, match="no space left"):
        atomic.write_atomic(tmp_path / "r.json", b"report")
    assert list(tmp_path.iterdir()) == []

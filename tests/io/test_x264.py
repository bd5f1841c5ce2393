"""Encoding is a function of the frames alone: the same frames give the same H.264 file
whatever the process did before and on any number of cores (:mod:`livestyle.io.x264`;
issue 8, item 1)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from conftest import CLIP, REPO
from livestyle.config import OutputOptions
from livestyle.io.sinks import VideoFileSink
from livestyle.io.sources import VideoFileSource
from livestyle.io.x264 import THREADS, x264_options

FRAMES = 6

_ENCODE = f"""
import sys
from livestyle.config import OutputOptions
from livestyle.io.sinks import VideoFileSink
from livestyle.io.sources import VideoFileSource
with VideoFileSource({str(CLIP)!r}, max_frames={FRAMES}) as source:
    info, frames = source.info, list(source)
with VideoFileSink(sys.argv[1], info, OutputOptions()) as sink:
    for frame in frames:
        sink.write(frame)
"""


@pytest.fixture(scope="module")
def frames():
    with VideoFileSource(CLIP, max_frames=FRAMES) as source:
        return source.info, list(source)


def _encode(frames, path) -> bytes:
    info, images = frames
    with VideoFileSink(path, info, OutputOptions()) as sink:
        for frame in images:
            sink.write(frame)
    return path.read_bytes()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="MALLOC_PERTURB_ is glibc's")
def test_the_file_does_not_depend_on_leftover_memory(tmp_path):
    # glibc's MALLOC_PERTURB_ fills new heap blocks with a pattern: x264's AVX-512 code read
    # such uninitialized memory, so the two patterns gave two different files.
    files = []
    for pattern in ("7", "165"):
        out = tmp_path / f"perturb{pattern}.mp4"
        env = {**os.environ, "MALLOC_PERTURB_": pattern, "PYTHONPATH": str(REPO)}
        subprocess.run([sys.executable, "-c", _ENCODE, str(out)], env=env, check=True, timeout=120)
        files.append(out.read_bytes())
    assert files[0] == files[1]


def test_the_same_frames_encode_to_the_same_file_every_time(tmp_path, frames):
    first = _encode(frames, tmp_path / "0.mp4")
    for i in range(1, 4):
        assert _encode(frames, tmp_path / f"{i}.mp4") == first, f"encode {i} differs from encode 0"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_the_file_does_not_depend_on_the_number_of_cores(tmp_path, frames):
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})  # this thread, where x264 counts the cores
        one = _encode(frames, tmp_path / "one.mp4")
    finally:
        os.sched_setaffinity(0, allowed)
    assert _encode(frames, tmp_path / "all.mp4") == one


def test_options_fix_the_thread_count_and_leave_out_avx512():
    options = x264_options(18, "veryfast")
    assert options["threads"] == str(THREADS) and options["crf"] == "18" and options["preset"] == "veryfast"
    assert "avx512" not in options.get("x264-params", "").lower()

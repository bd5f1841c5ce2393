"""``run_file`` output is bit-identical whatever the cache state, the core count and what the
process did before (issue 8, item 1)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import CLIP, REPO
from livestyle.app.run import run_file
from livestyle.config import Config
from livestyle.io.sources import open_source

FRAMES = 24
SETTINGS = {"plate": {"refresh_frames": 5}}


def _frames(path) -> list[np.ndarray]:
    return [f.image for f in open_source(str(path))]


def _same(a, b) -> None:
    fa, fb = _frames(a), _frames(b)
    assert len(fa) == len(fb) == FRAMES
    for i, (x, y) in enumerate(zip(fa, fb)):
        assert np.array_equal(x, y), f"frame {i} differs by up to {np.abs(x.astype(int) - y).max()} levels"


def test_a_cold_and_a_warm_cache_give_the_same_output(tmp_path, monkeypatch):
    # The first call converts the Magenta transformer into the empty cache, the second loads it.
    monkeypatch.setenv("LIVESTYLE_CACHE_DIR", str(tmp_path / "cache"))
    cfg = Config.model_validate(SETTINGS)
    cold, warm = tmp_path / "cold.mp4", tmp_path / "warm.mp4"
    run_file(str(CLIP), str(cold), cfg, max_frames=FRAMES, progress=False)
    assert any((tmp_path / "cache" / "models").glob("*-float-*.onnx"))
    run_file(str(CLIP), str(warm), cfg, max_frames=FRAMES, progress=False)
    assert cold.read_bytes() == warm.read_bytes()
    _same(cold, warm)


_RUN = f"""
import sys
from livestyle.app.run import run_file
from livestyle.config import Config
run_file({str(CLIP)!r}, sys.argv[1], Config.model_validate({SETTINGS!r}), max_frames=10, progress=False)
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_one_core_and_all_cores_give_the_same_output(tmp_path):
    one, every = tmp_path / "one.mp4", tmp_path / "all.mp4"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    core = min(os.sched_getaffinity(0))
    subprocess.run([sys.executable, "-c", _RUN, str(one)], env=env, check=True, timeout=300,
                   preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    subprocess.run([sys.executable, "-c", _RUN, str(every)], env=env, check=True, timeout=300)
    assert one.read_bytes() == every.read_bytes()

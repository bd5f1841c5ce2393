"""The converted float transformer in the cache is verified against the sha256 recorded when
it was written, and rebuilt when it does not match (issue 15, item 6); cache writes are
atomic and safe with two processes on one fresh cache (item 7)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CLIP, REPO, SHARED_MODELS, STARRY
from livestyle import models
from livestyle.app.models import models_main
from livestyle.models.cachefile import sidecar_path

NAME = "magenta_transform_onnx"


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("LIVESTYLE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def converted(cache: Path) -> tuple[Path, bytes]:
    path = models.float_onnx_path(NAME)
    return path, path.read_bytes()


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 5])


@pytest.mark.parametrize("damage", [_flip_middle_byte, _truncate])
def test_a_damaged_conversion_is_rebuilt_with_one_warning(converted, capsys, damage):
    path, good = converted
    assert sidecar_path(path).is_file()
    capsys.readouterr()
    damage(path)
    assert models.float_onnx_path(NAME) == path
    assert path.read_bytes() == good
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "converting it again" in err and str(path) in err
    assert models.float_onnx_path(NAME) == path  # verified now: nothing more to say
    assert capsys.readouterr().err == ""


def test_a_conversion_without_a_record_is_rebuilt_silently(converted, capsys):
    path, good = converted
    sidecar_path(path).unlink()
    path.write_bytes(b"from an older cache")
    capsys.readouterr()
    assert models.float_onnx_path(NAME) == path and path.read_bytes() == good
    assert capsys.readouterr().err == ""


def test_models_verify_checks_the_converted_files(converted):
    path, _ = converted
    out = io.StringIO()
    assert models_main("verify", [NAME], out=out) == 0
    assert f"OK       {NAME}  {path} (converted)" in out.getvalue()
    _flip_middle_byte(path)
    out = io.StringIO()
    assert models_main("verify", [NAME], out=out) == 1
    failed = [line for line in out.getvalue().splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and str(path) in failed[0] and "converted again on next use" in failed[0]


def test_a_run_with_a_truncated_conversion_succeeds(converted, tmp_path):
    path, good = converted
    _truncate(path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "livestyle", "run", "-i", str(CLIP), "-o", str(out), "--frames", "2", "--no-progress"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    warnings = [line for line in run.stderr.splitlines() if not line.startswith("wrote ")]
    assert len(warnings) == 1 and "converting it again" in warnings[0]
    assert path.read_bytes() == good and out.is_file()


# --------------------------------------------------------------------------- two processes

_STYLE_VECTOR = """
import os, sys, time
from pathlib import Path
import numpy as np
from livestyle.stages.stylize import resolve_style

class Stub:  # a backend whose prediction is instant, so both processes write at once
    name = "stub"
    fixed_size = None
    def predict(self, style):
        return np.linspace(-1, 1, 100, dtype=np.float32)

go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.001)
for _ in range(50):
    vec = resolve_style(sys.argv[2], Stub())
    assert vec.shape == (100,)
    for f in Path(os.environ["LIVESTYLE_CACHE_DIR"], "styles").glob("*.npy"):
        f.unlink(missing_ok=True)  # write it again next time
"""

_CONVERT = """
import sys, time
from pathlib import Path
from livestyle.models import float_onnx_path
go = Path(sys.argv[1])
while not go.exists():
    time.sleep(0.001)
print(float_onnx_path("magenta_transform_onnx"))
"""


def _two_at_once(script: str, tmp_path: Path, *args: str) -> Path:
    cache = tmp_path / "shared-cache"
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO), "LIVESTYLE_CACHE_DIR": str(cache),
           "LIVESTYLE_MODEL_DIR": str(SHARED_MODELS), "LIVESTYLE_OFFLINE": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(go), *args], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    time.sleep(0.5)  # let both start up (imports) before they race
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "Traceback" not in err, err
    leftovers = [p.name for p in cache.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp") or ".tmp." in p.name]
    assert leftovers == []
    return cache


def test_two_processes_writing_one_style_vector_at_once(tmp_path):
    _two_at_once(_STYLE_VECTOR, tmp_path, str(STARRY))


def test_two_processes_converting_into_one_fresh_cache(tmp_path, cache):
    shared = _two_at_once(_CONVERT, tmp_path)
    path = next((shared / "models").glob("*-float-*.onnx"))
    assert models.float_onnx_path(NAME).read_bytes() == path.read_bytes()  # converted alone in `cache`
    assert (shared / "models" / (path.name + ".sha256")).is_file()

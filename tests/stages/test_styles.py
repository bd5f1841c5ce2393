"""Style vectors are checked when loaded (issue 15, item 8): a damaged user or built-in file
is one line naming it and how to re-create it (exit 2, no traceback); a damaged cached vector
is recomputed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CLIP, REPO, STARRY
from livestyle.errors import InputError
from livestyle.models import sha256_file
from livestyle.stages import styles
from livestyle.stages.stylize import resolve_style, style_cache_dir

GOOD = np.linspace(-1, 1, 100, dtype=np.float32)

DAMAGE = {
    "garbage": lambda p: p.write_bytes(os.urandom(300)),
    "truncated": lambda p: (np.save(p, GOOD), p.write_bytes(p.read_bytes()[:90])),
    "all NaN": lambda p: np.save(p, np.full(100, np.nan, np.float32)),
    "one infinity": lambda p: np.save(p, np.concatenate([GOOD[:99], [np.inf]]).astype(np.float32)),
    "wrong shape": lambda p: np.save(p, GOOD[:3]),
    "text": lambda p: np.save(p, np.array(["x"] * 100)),
}


class _Stub:
    name = "stub"
    fixed_size = None

    def __init__(self):
        self.calls = 0

    def predict(self, style):
        self.calls += 1
        return GOOD.reshape(1, 1, 1, 100)[0, 0, 0]


@pytest.fixture
def gallery(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("LIVESTYLE_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "data" / "styles"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_user_style_names_the_file_and_how_to_recreate_it(gallery, damage):
    path = gallery / "mine.npy"
    DAMAGE[damage](path)
    with pytest.raises(InputError) as err:
        resolve_style("mine", _Stub())
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert "livestyle styles remove mine" in message and "livestyle styles add IMAGE --name mine" in message


def test_a_good_user_style_loads(gallery):
    np.save(gallery / "mine.npy", GOOD.reshape(1, 1, 1, 100))
    assert np.array_equal(resolve_style("mine", _Stub()), GOOD)


def test_a_damaged_builtin_style_says_to_reinstall(monkeypatch, tmp_path):
    folder = tmp_path / "builtin"
    folder.mkdir()
    np.save(folder / "klee.npy", np.full(100, np.nan, np.float32))
    monkeypatch.setattr(styles, "BUILTIN_DIR", folder)
    with pytest.raises(InputError, match=r"built-in style 'klee' is damaged: .*non-finite.*reinstall livestyle"):
        resolve_style("klee", _Stub())


def test_every_shipped_builtin_style_is_good():
    for name, path in styles.builtin_styles().items():
        assert styles.read_style_vector(path).shape == (100,), name


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_cached_vector_is_recomputed(damage):
    stub = _Stub()
    cached = style_cache_dir() / f"{sha256_file(STARRY)[:32]}-stub.npy"
    DAMAGE[damage](cached)
    assert np.array_equal(resolve_style(str(STARRY), stub), GOOD)
    assert stub.calls == 1
    assert np.array_equal(np.load(cached), GOOD)  # the cache entry is good again


@pytest.mark.parametrize("damage", ["garbage", "all NaN"])
def test_the_cli_says_one_line_and_exits_2(tmp_path, damage):
    folder = tmp_path / "data" / "styles"
    folder.mkdir(parents=True)
    DAMAGE[damage](folder / "mine.npy")
    env = {**os.environ, "PYTHONPATH": str(REPO), "LIVESTYLE_DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "out.mp4"
    cmd = [sys.executable, "-m", "livestyle", "run", "-i", str(CLIP), "-o", str(out), "--style", "mine", "--frames", "2"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert str(folder / "mine.npy") in lines[0] and "livestyle styles remove mine" in lines[0]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if "tmp" in p.name]

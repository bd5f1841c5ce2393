"""Every numeric option of every command is checked before any work starts: a bad value is one
line naming the flag, exit code 2, nothing written. Plus the misuse cases of issues 15 and 16:
``-o`` without ``-i``, a bad flag beside ``--config``, ``models verify`` with missing models, a
``LIVESTYLE_MODEL_DIR`` that does not exist."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

from conftest import CLIP, PORTRAITS, REPO
from livestyle.cli import main


def cli(capsys, *args) -> tuple[int, list[str]]:
    """Run ``livestyle ARGS`` in this process; exit code and the non-empty stderr lines."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def assert_flag_error(code: int, lines: list[str], flag: str) -> None:
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("livestyle: error: "), lines
    assert flag in lines[0], lines
    assert "Traceback" not in lines[0]


RUN_CASES = [
    ("--frames", "0"), ("--frames", "-1"), ("--frames", "nan"), ("--frames", "2.5"),
    ("--duration", "-1"), ("--duration", "0"), ("--duration", "nan"), ("--duration", "inf"),
    ("--strength", "nan"), ("--strength", "2"), ("--strength", "-0.5"), ("--strength", "inf"),
    ("--style-size", "0"), ("--style-size", "-288"), ("--refresh-frames", "0"),
    ("--blur-strength", "0"), ("--light-wrap", "nan"), ("--light-wrap", "2"),
    ("--vcam-fps", "-1"), ("--camera-fps", "nan"), ("--style-rate", "0"), ("--style-rate", "-inf"),
    ("--camera-size", "0x0"), ("--camera-size", "-640x480"),
]


@pytest.mark.parametrize("flag,value", RUN_CASES, ids=[f"{f}={v}" for f, v in RUN_CASES])
def test_run_rejects_bad_numbers(capsys, tmp_path, flag, value):
    out = tmp_path / "out.mp4"
    code, lines = cli(capsys, "run", "-i", CLIP, "-o", out, "-e", "none", "--no-progress", f"{flag}={value}")
    assert_flag_error(code, lines, flag)
    assert not out.exists() and list(tmp_path.iterdir()) == []


BENCH_CASES = [
    ("--frames", "0"), ("--frames", "-5"), ("--naive-threads", "0"), ("--naive-threads", "-1"),
    ("--switch-styles", "0"), ("--switch-styles", "inf"),
]


@pytest.mark.parametrize("flag,value", BENCH_CASES, ids=[f"{f}={v}" for f, v in BENCH_CASES])
def test_bench_rejects_bad_numbers(capsys, tmp_path, flag, value):
    out = tmp_path / "report.json"
    code, lines = cli(capsys, "bench", "-i", CLIP, "--frames", "4", "--pace", "max", "--naive", "--no-preview",
                      "--json", out, f"{flag}={value}")
    assert_flag_error(code, lines, flag)
    assert not out.exists()


def _limited():
    """Child process: at most 15 s of CPU (a runaway cannot run on for ever)."""
    resource.setrlimit(resource.RLIMIT_CPU, (15, 15))


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_switch_styles_runaway_values_are_refused(tmp_path, value):
    """``--switch-styles -1`` (and ``nan``) ran away at 50 MB/s; now one line before any work."""
    proc = subprocess.run(
        [sys.executable, "-m", "livestyle", "bench", "-i", str(CLIP), "--frames", "30", "--no-preview",
         f"--switch-styles={value}"],
        capture_output=True, text=True, timeout=120, cwd=REPO, env=dict(os.environ), preexec_fn=_limited,
    )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert_flag_error(proc.returncode, lines, "--switch-styles")


def test_output_without_input_is_refused(capsys, tmp_path):
    out = tmp_path / "out.mp4"
    code, lines = cli(capsys, "run", "-o", out)
    assert_flag_error(code, lines, "--output")
    assert "without --input" in lines[0]  # not "no camera found", which names both flags too
    assert not out.exists()


def test_bad_flag_beside_a_preset_blames_the_flag(capsys, tmp_path):
    preset = tmp_path / "mine.toml"
    preset.write_text("[style]\nstrength = 0.5\n")
    code, lines = cli(capsys, "run", "-i", PORTRAITS[0], "-o", tmp_path / "out.png", "-c", preset, "--strength", "2")
    assert_flag_error(code, lines, "--strength 2")
    assert str(preset) not in lines[0]
    # the preset's own bad value is still blamed on the preset
    preset.write_text("[style]\nstrength = 2.0\n")
    code, lines = cli(capsys, "run", "-i", PORTRAITS[0], "-o", tmp_path / "out.png", "-c", preset)
    assert_flag_error(code, lines, str(preset))
    assert "style.strength" in lines[0]


def _models(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "livestyle", "models", *args],
        capture_output=True, text=True, timeout=120, cwd=REPO, env={**os.environ, **env},
    )


def test_models_verify_fails_when_a_model_is_missing(tmp_path):
    empty = tmp_path / "models"
    empty.mkdir()
    proc = _models("verify", LIVESTYLE_MODEL_DIR=str(empty), LIVESTYLE_CACHE_DIR=str(tmp_path / "cache"))
    assert "MISSING" in proc.stdout
    assert proc.returncode == 1, proc.stdout


def test_missing_model_dir_warns_once(tmp_path):
    gone = tmp_path / "no-such-folder"
    proc = _models("list", LIVESTYLE_MODEL_DIR=str(gone), LIVESTYLE_CACHE_DIR=str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "LIVESTYLE_MODEL_DIR" in line]
    assert len(warnings) == 1, proc.stderr
    assert str(gone) in warnings[0] and "does not exist" in warnings[0]
    assert "Traceback" not in proc.stderr


PRESET_CASES = [
    ("[style]\nstrength = true\n", "style.strength"),
    ('[style]\nshort_side_px = "288"\n', "style.short_side_px"),
    ("[style]\nstrength = nan\n", "style.strength"),
    ("[plate]\nstyle_rate_hz = inf\n", "plate.style_rate_hz"),
    ("[mask]\nlow = 0.9\nhigh = 0.5\n", "mask.low"),
    ("[plate]\nchange_low = 20.0\nchange_high = 5.0\n", "plate.change_low"),
    ("[camera]\nreconnect_min_s = 30.0\nreconnect_max_s = 2.0\n", "camera.reconnect_min_s"),
]


@pytest.mark.parametrize("text,key", PRESET_CASES, ids=[k + ("-nan" if "nan" in t or "inf" in t else "") for t, k in PRESET_CASES])
def test_preset_types_are_strict_and_related_keys_agree(capsys, tmp_path, text, key):
    preset = tmp_path / "mine.toml"
    preset.write_text(text)
    out = tmp_path / "out.png"
    code, lines = cli(capsys, "run", "-i", PORTRAITS[0], "-o", out, "-c", preset)
    assert_flag_error(code, lines, str(preset))
    assert key in lines[0]
    assert not out.exists()

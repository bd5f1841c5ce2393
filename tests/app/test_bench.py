"""`livestyle bench` on the shared clip: the JSON report's keys, types and consistency."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CLIP

REPO = Path(__file__).resolve().parents[2]
STAGES = ("capture", "segment", "refine", "stylize", "composite", "sink")


def bench(tmp_path, *args):
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # table at the end, no window
    proc = subprocess.run(
        [sys.executable, "-m", "livestyle", "bench", "--input", str(CLIP), "--json", str(out), *map(str, args)],
        capture_output=True, text=True, timeout=600, cwd=REPO, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text()), proc.stdout


def check_report(r: dict, pace: str, frames: int) -> None:
    assert set(r) >= {
        "input", "pace", "frames_in", "frames_out", "dropped", "wall_s", "output_fps", "stylize_hz",
        "latency_ms", "stages_ms", "cpu_percent", "rss_mb", "naive_fps", "speedup",
    }
    assert r["input"] == {"path": str(CLIP), "width": 960, "height": 540, "fps": pytest.approx(29.97, abs=0.01)}
    assert isinstance(r["input"]["width"], int) and isinstance(r["input"]["fps"], float)
    assert r["pace"] == pace
    for key in ("frames_in", "frames_out", "dropped"):
        assert isinstance(r[key], int) and r[key] >= 0
    assert r["frames_out"] + r["dropped"] == r["frames_in"]
    assert r["frames_out"] >= 1
    for key in ("wall_s", "output_fps", "stylize_hz", "cpu_percent"):
        assert isinstance(r[key], float) and r[key] >= 0
    assert r["output_fps"] == pytest.approx(r["frames_out"] / r["wall_s"], rel=0.02)
    assert set(r["stages_ms"]) == set(STAGES)
    for p in [r["latency_ms"], *r["stages_ms"].values()]:
        assert set(p) == {"p50", "p95"}
        assert isinstance(p["p50"], float) and 0 <= p["p50"] <= p["p95"]
    rss = r["rss_mb"]
    assert set(rss) == {"start", "peak", "end"}
    assert 0 < rss["start"] <= rss["peak"] and rss["end"] <= rss["peak"]
    assert r["stylize_hz"] > 0 or r["stylize_refreshes"] <= 1


def test_realtime_report(tmp_path):
    r, table = bench(tmp_path, "--frames", 60, "--switch-styles", 0.6, "--from-s", 13)
    check_report(r, "realtime", 60)
    assert r["from_s"] == 13.0
    threads = r["cpu_percent_threads"]  # CPU per stage thread, and what no thread accounts for
    assert threads["livestyle-process"] > 0 and threads["livestyle-stylizer"] > 0
    assert sum(threads.values()) == pytest.approx(r["cpu_percent"], abs=1.0)
    assert "cpu by thread" in table and "from 13 s" in table
    ch = r["style_change_ms"]  # each style change timed from the key press to the output
    assert ch["count"] >= 1 and 0 < ch["p50"] <= ch["max"]
    assert r["frames_out"] <= 60
    assert r["naive_fps"] is None and r["speedup"] is None
    assert r["stages_ms"]["segment"]["p50"] > 0 and r["stages_ms"]["stylize"]["p50"] > 0
    assert "stage" in table and "latency" in table  # the table printed without a display


def test_max_pace_report_with_naive(tmp_path):
    r, table = bench(tmp_path, "--frames", 10, "--pace", "max", "--naive")
    check_report(r, "max", 10)
    assert r["frames_in"] == r["frames_out"] == 10 and r["dropped"] == 0
    assert isinstance(r["naive_fps"], float) and r["naive_fps"] > 0
    # the two pipelines ran in alternating rounds (at least 3 each); the speedup is the median
    # of the per-round ratios, reported with its spread in the JSON and the table
    ours, naive, ratios = r["pipeline_fps_rounds"], r["naive_fps_rounds"], r["speedup_rounds"]
    assert r["naive_rounds"] == len(ours) == len(naive) == len(ratios) >= 3
    assert ours[0] == pytest.approx(r["output_fps"], abs=0.01)  # the first round is the measured run
    assert ratios == pytest.approx([o / n for o, n in zip(ours, naive)], rel=0.01)
    assert r["naive_fps"] == pytest.approx(statistics.median(naive), abs=0.01)
    assert r["speedup"] == pytest.approx(statistics.median(ratios), abs=0.01)
    assert r["speedup_min"] == min(ratios) <= r["speedup"] <= max(ratios) == r["speedup_max"]
    assert f"median of {len(ratios)} alternating rounds" in table
    assert f"{r['speedup_min']:.1f}-{r['speedup_max']:.1f}x" in table


def test_start_beyond_the_clip_is_rejected():
    proc = subprocess.run(
        [sys.executable, "-m", "livestyle", "bench", "--input", str(CLIP), "--from-s", "99"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert proc.returncode == 2 and "--from-s 99" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_pace_is_rejected(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "livestyle", "bench", "--input", str(CLIP), "--pace", "warp"],
        capture_output=True, text=True, cwd=REPO,
    )
    assert proc.returncode == 2 and "realtime" in proc.stderr

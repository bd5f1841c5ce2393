"""Damaged and cut input videos, as a user meets them: the run keeps going and says so.

The inputs are made in tmp_path from the first 120 packets of the shared clip (stream copy,
no re-encoding) plus a 440 Hz tone as AAC audio: one with 64 KiB of random bytes over its
middle, one cut at 40 % of its bytes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import CLIP

REPO = Path(__file__).resolve().parents[1]
PACKETS = 120


def livestyle(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "livestyle", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=dict(os.environ), cwd=REPO,
    )


def _short_copy(path: Path, packets: int = PACKETS) -> Path:
    """The first ``packets`` video packets of the shared clip, remuxed (index at the front, so a
    cut file still opens), with as many seconds of a 440 Hz tone (mono AAC, 48 kHz)."""
    with av.open(str(CLIP)) as src, av.open(str(path), "w", options={"movflags": "faststart"}) as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        audio = dst.add_stream("aac", rate=48000)
        audio.layout = "mono"
        for n, packet in enumerate(p for p in src.demux(stream) if p.dts is not None):
            if n >= packets:
                break
            packet.stream = out
            dst.mux(packet)
        for start in range(0, int(48000 * packets / float(stream.average_rate)), 1024):
            tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(start, start + 1024) / 48000)
            frame = av.AudioFrame.from_ndarray(tone.astype(np.float32)[None], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            dst.mux(audio.encode(frame))
        dst.mux(audio.encode(None))
    return path


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    return _short_copy(tmp_path_factory.mktemp("damaged") / "short.mp4")


def _damaged(short_clip: Path, path: Path) -> Path:
    data = bytearray(short_clip.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 65536] = np.random.default_rng(1).integers(0, 256, 65536, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def _pts(path: Path) -> tuple[list[int], float]:
    """Presentation timestamps of every decoded frame, and the stream's time base."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return [f.pts for f in c.decode(stream)], float(stream.time_base)


def _ends_s(path: Path) -> tuple[float, float]:
    """End times in seconds of the video and the audio stream (last packet's pts + duration)."""
    ends = []
    for kind in ("video", "audio"):
        with av.open(str(path)) as c:
            stream = getattr(c.streams, kind)[0]
            ends.append(max(float((p.pts + p.duration) * stream.time_base) for p in c.demux(stream) if p.pts is not None))
    return ends[0], ends[1]


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("livestyle: warning:")]


def test_damaged_middle_is_concealed_and_timing_kept(short_clip, tmp_path):
    bad = _damaged(short_clip, tmp_path / "damaged.mp4")
    out = tmp_path / "out.mp4"
    proc = livestyle("run", "-i", bad, "-o", out, "-e", "none", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = _warnings(proc.stderr)
    assert len(warnings) == 1, proc.stderr
    found = re.search(r": (\d+) damaged frames? concealed", warnings[0])
    assert found and str(bad) in warnings[0], warnings[0]
    concealed = int(found.group(1))
    assert 1 <= concealed < PACKETS // 2
    # the output has the intact file's frames at the intact file's timestamps
    want, base = _pts(short_clip)
    got, out_base = _pts(out)
    assert len(got) == len(want) == PACKETS
    assert [p * out_base for p in got] == pytest.approx([p * base for p in want], abs=1e-3)
    # duration and audio kept: video and audio end where the intact file's do
    assert _ends_s(out) == pytest.approx(_ends_s(short_clip), abs=0.03)


def test_strict_stops_at_damage_and_writes_nothing(short_clip, tmp_path):
    bad = _damaged(short_clip, tmp_path / "damaged.mp4")
    out = tmp_path / "out.mp4"
    proc = livestyle("run", "-i", bad, "-o", out, "-e", "none", "--no-progress", "--strict")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("livestyle: error: "), proc.stderr
    assert str(bad) in lines[0] and "damaged" in lines[0]
    assert list(tmp_path.iterdir()) == [bad]


def test_cut_file_warns_that_the_input_ended_early(short_clip, tmp_path):
    data = short_clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 4 // 10])
    out = tmp_path / "out.mp4"
    proc = livestyle("run", "-i", cut, "-o", out, "-e", "none", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    early = [w for w in _warnings(proc.stderr) if "ended early" in w]
    assert len(early) == 1, proc.stderr
    got, _ = _pts(out)
    assert f"read {len(got)} of the {PACKETS} frames" in early[0]
    assert 10 < len(got) < PACKETS * 0.6


def test_intact_input_and_frames_limit_give_no_warning(short_clip, tmp_path):
    proc = livestyle("run", "-i", short_clip, "-o", tmp_path / "out.mp4", "-e", "none", "--no-progress", "--frames", "20")
    assert proc.returncode == 0, proc.stderr
    assert _warnings(proc.stderr) == []

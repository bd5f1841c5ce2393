"""The `livestyle` command as a user runs it: images, bad input, models and styles."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import CLIP, PORTRAITS, STARRY
from metrics import background_region, mean_abs, person_region
from livestyle.stages.segment import SelfieSegmenter

REPO = Path(__file__).resolve().parents[2]


def livestyle(*args, timeout=300, **kw):
    env = dict(os.environ)
    return subprocess.run(
        [sys.executable, "-m", "livestyle", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=kw.get("cwd", REPO),
    )


def assert_clean_error(proc, *words):
    """Exit code 2, one line on stderr naming the problem, no traceback."""
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip() and not l.startswith("INFO:")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("livestyle: error: ")
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_restyles_a_photo(tmp_path):
    out = tmp_path / "out.jpg"
    proc = livestyle("run", "--input", PORTRAITS[0], "--output", out, "--style", STARRY)
    assert proc.returncode == 0, proc.stderr
    src = cv2.imread(str(PORTRAITS[0]))
    res = cv2.imread(str(out))
    assert res.shape == src.shape
    mask = cv2.resize(SelfieSegmenter("general").segment(src), (src.shape[1], src.shape[0]))
    assert mean_abs(src, res, person_region(mask)) <= 6.0
    assert mean_abs(src, res, background_region(mask)) >= 25.0


def test_builtin_style_and_strength(tmp_path):
    full, half = tmp_path / "full.png", tmp_path / "half.png"
    assert livestyle("run", "-i", PORTRAITS[1], "-o", full, "--style", "great_wave").returncode == 0
    assert livestyle("run", "-i", PORTRAITS[1], "-o", half, "--style", "great_wave", "--strength", "0.3").returncode == 0
    src = cv2.imread(str(PORTRAITS[1])).astype(np.int16)
    d_full = np.abs(cv2.imread(str(full)) - src).mean()
    d_half = np.abs(cv2.imread(str(half)) - src).mean()
    assert d_half < d_full


def _audio_copy(tmp_path) -> Path:
    """The first 3 s of the shared clip with a 440 Hz tone muxed in (AAC)."""
    path = tmp_path / "with_tone.mp4"
    with av.open(str(CLIP)) as src, av.open(str(path), "w") as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        aout = dst.add_stream("aac", rate=48000)
        aout.layout = "mono"
        for i, frame in enumerate(src.decode(vin)):
            if i == 90:
                break
            dst.mux(vout.encode(frame))
        dst.mux(vout.encode(None))
        t = np.arange(48000 * 3) / 48000
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            af = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
            af.sample_rate = 48000
            af.pts = start
            dst.mux(aout.encode(af))
        dst.mux(aout.encode(None))
    return path


def _audio_duration_s(path: Path) -> float:
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        packets = [p for p in c.demux(a) if p.pts is not None]
        end = max(p.pts + p.duration for p in packets)
        start = min(p.pts for p in packets)
        return float((end - start) * a.time_base)


def test_audio_stream_is_kept(tmp_path):
    src = _audio_copy(tmp_path)
    out = tmp_path / "out.mp4"
    proc = livestyle("run", "-i", src, "-o", out, "--style", "klee", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 1
        assert c.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in c.decode(video=0)) == 90
    assert abs(_audio_duration_s(out) - _audio_duration_s(src)) < 0.03


def test_frames_limits_the_output(tmp_path):
    out = tmp_path / "short.mkv"
    proc = livestyle("run", "-i", CLIP, "-o", out, "--frames", 12, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12


def _empty_video(tmp_path) -> Path:
    """A Matroska file with a video stream of zero frames (and a little audio, so the muxer
    writes the file at all)."""
    path = tmp_path / "empty.mkv"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 64, 64, "yuv420p"
        a = c.add_stream("aac", rate=48000)
        a.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        c.mux(a.encode(frame))
        c.mux(a.encode(None))
    return path


def _huge_style(tmp_path) -> Path:
    path = tmp_path / "huge.png"
    Image.new("L", (7200, 7000), 128).save(path)
    return path


@pytest.mark.parametrize(
    "case",
    ["missing input", "unreadable input", "no frames", "unreadable style", "huge style",
     "missing folder", "overwrite input", "unknown style"],
)
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, case):
    inp, style, out = CLIP, STARRY, tmp_path / "out.mp4"
    words = []
    if case == "missing input":
        inp, words = tmp_path / "nope.mp4", ["nope.mp4", "no such file"]
    elif case == "unreadable input":
        inp = tmp_path / "text.mp4"
        inp.write_text("not a video")
        words = ["text.mp4"]
    elif case == "no frames":
        inp, words = _empty_video(tmp_path), ["empty.mkv", "no video frames"]
    elif case == "unreadable style":
        style = tmp_path / "style.jpg"
        style.write_text("not an image")
        words = ["style.jpg"]
    elif case == "huge style":
        style, words = _huge_style(tmp_path), ["huge.png", "megapixel"]
    elif case == "missing folder":
        out, words = tmp_path / "no" / "such" / "out.mp4", ["does not exist"]
    elif case == "overwrite input":
        inp = tmp_path / "in.mp4"
        inp.write_bytes(CLIP.read_bytes())
        out, words = inp, ["overwrite"]
    elif case == "unknown style":
        style, words = "no_such_style", ["no_such_style", "starry_night"]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = livestyle("run", "--input", inp, "--output", out, "--style", style, "--no-progress")
    assert_clean_error(proc, *words)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written
    if case == "overwrite input":
        assert inp.read_bytes() == CLIP.read_bytes()


def test_interrupt_leaves_no_half_written_file(tmp_path):
    out = tmp_path / "out.mp4"
    p = subprocess.Popen(
        [sys.executable, "-m", "livestyle", "run", "-i", str(CLIP), "-o", str(out), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not any(tmp_path.glob(".*livestyle-tmp*")):
        time.sleep(0.1)
    assert any(tmp_path.glob(".*livestyle-tmp*")), "the run never started writing"
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_no_camera_says_how_to_pass_a_file():
    if Path("/dev/video0").exists():
        pytest.skip("this machine has a camera")
    proc = livestyle("run", "--no-progress")
    assert_clean_error(proc, "no camera", "--input")


def test_models_list_and_verify():
    proc = livestyle("models", "list")
    assert proc.returncode == 0, proc.stderr
    for name in ("selfie_general", "selfie_landscape", "magenta_transform_onnx", "magenta_transfer_fp16"):
        assert name in proc.stdout
    assert livestyle("models", "verify").returncode == 0


def test_styles_list_shows_builtins():
    proc = livestyle("styles", "list")
    assert proc.returncode == 0
    for name in ("starry_night", "great_wave", "kandinsky_composition", "red_brushwork"):
        assert name in proc.stdout

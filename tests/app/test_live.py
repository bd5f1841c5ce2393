"""Live mode on the shared clip played as a camera: hot-key style changes (and their latency),
effect off, strength, clean shutdown on SIGINT, and the CLI's one-line errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import CLIP, REPO
from livestyle.io.camera import CameraSource, FileCamera, cameras_present
from livestyle.presets import load_config
from livestyle.app.live import LiveSession, live_config, live_threads
from livestyle.engine.live import LiveController
from livestyle.protocols import Frame

DRIVER = """
import sys
from livestyle.io.vcam import register_recording_backend
register_recording_backend("recording")
from livestyle.cli import main
sys.exit(main(sys.argv[1:]))
"""


def cli_env(**extra) -> dict:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env.update(extra)
    return env


def test_live_threads_leave_the_frame_loop_a_core():
    assert live_threads(2) == 1 and live_threads(1) == 1 and live_threads(8) == 7
    cfg = live_config(load_config())
    assert cfg.style.threads == live_threads() and cfg.segmenter.threads == 1
    explicit = live_config(load_config(None, {"style.threads": 2}))
    assert explicit.style.threads == 2


class _Tap:
    """A sink that keeps (time, style_gen, style, effect, image) of every output frame."""

    def __init__(self):
        self.frames: list[tuple] = []

    def write(self, frame: Frame) -> None:
        m = frame.meta
        self.frames.append((time.perf_counter(), m["style_gen"], m["style"], m["effect"], frame.image, m["alpha"]))

    def close(self):
        pass

    def abort(self):
        pass


@pytest.mark.slow
def test_hot_key_style_changes_are_quick_and_stale_results_are_dropped():
    config = live_config(load_config(None, {"plate.style_rate_hz": 8.0}))
    source = CameraSource(backend=FileCamera(CLIP))
    session = LiveSession(source, config, preview=False, vcam=False, duration_s=9.0)
    tap = _Tap()
    session.pipeline.sinks.append(tap)
    ctl: LiveController = session.controller
    assert ctl.style == "starry_night" and "great_wave" in ctl.styles
    actions = []

    def press():
        time.sleep(2.5)
        actions.append(("n", ctl.next_style(1), ctl.style))
        time.sleep(1.5)
        actions.append(("p", ctl.next_style(-1), ctl.style))
        time.sleep(1.5)
        actions.append(("-", ctl.change_strength(-1), ctl.strength))
        time.sleep(1.2)
        actions.append(("0", ctl.toggle_effect(), False))

    threading.Thread(target=press, daemon=True).start()
    result = session.run(handle_signals=False)
    proc = session.processor
    print(f"\n{result.line()}")
    print("cancelled", session.processor._main.backend.cancelled, "quick ms", [round(x) for x in session.processor.stats.stage_ms["quick_stylize"]], "segment p50", session.processor.stats.percentiles(session.processor.stats.stage_ms["segment"]), "refine", session.processor.stats.percentiles(session.processor.stats.stage_ms["refine"]))
    print(f"style changes visible after {[round(x) for x in result.change_ms]} ms; quick restyles {proc.quick_restyles}, "
          f"stale results dropped {proc.stale_dropped}")
    assert len(result.change_ms) == 4, "every change reached the output"
    assert all(0 < ms < 5000 for ms in result.change_ms)
    assert proc.quick_restyles == 3  # n, p, strength (effect off needs no restyle)
    names = [f[2] for f in tap.frames]
    second = ctl.styles[(ctl.styles.index("starry_night") + 1) % len(ctl.styles)]
    assert second in names and names[0] == "starry_night" and names[-1] == "starry_night"
    gens = [f[1] for f in tap.frames]
    assert gens == sorted(gens), "once a change is shown, no older style comes back"
    # the frame after a change shows a different background than the frame before it (a cut)
    i = next(k for k, f in enumerate(tap.frames) if f[1] == actions[0][1])
    before, after = tap.frames[i - 1][4], tap.frames[i][4]
    bg = tap.frames[i][5] < 0.05
    cut = np.abs(before.astype(int) - after.astype(int))[bg].mean()
    print(f"background change at the cut: {cut:.1f}")
    assert cut > 15
    # effect off: the camera frame passes through untouched
    off = [f for f in tap.frames if not f[3]]
    assert off and tap.frames[-1][3] is False
    assert result.style_refreshes >= 3


@pytest.mark.slow
def test_sigint_stops_cleanly_with_exit_code_0(tmp_path):
    record = tmp_path / "vcam.json"
    cfg = tmp_path / "rec.toml"
    cfg.write_text('[vcam]\nbackend = "recording"\n')
    cmd = [sys.executable, "-c", DRIVER, "run", "--input", str(CLIP), "--live", "--vcam", "--no-preview",
           "--config", str(cfg)]  # fmt: skip
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=cli_env(LIVESTYLE_VCAM_RECORD=str(record)),
                            cwd=REPO)  # fmt: skip
    lines = []
    try:
        t_end = time.monotonic() + 120
        for line in proc.stderr:
            lines.append(line)
            if "live:" in line and "->" in line:
                break
            assert time.monotonic() < t_end
        time.sleep(3.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
        stop_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = "".join(lines) + rest
    print(err)
    print(f"stopped {stop_s:.2f} s after SIGINT")
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "frames out" in err
    assert stop_s < 15
    report = json.loads(record.read_text())  # written when the virtual camera was released
    assert report["bad_frames"] == 0 and len(report["send_times"]) > 20
    assert (report["width"], report["height"]) == (960, 540)


def _cli(args, **env):
    return subprocess.run([sys.executable, "-m", "livestyle.cli", *args], capture_output=True, text=True,
                          env=cli_env(**env), cwd=REPO, timeout=120)  # fmt: skip


def test_cli_one_line_errors():
    r = _cli(["run", "--input", str(CLIP)])
    assert r.returncode == 2 and "--live" in r.stderr and "Traceback" not in r.stderr
    r = _cli(["run", "--input", str(CLIP), "--live", "--no-preview"])
    assert r.returncode == 2 and "nothing to show" in r.stderr
    r = _cli(["run", "--input", str(CLIP), "--live", "--camera-size", "big"])
    assert r.returncode == 2 and "WIDTHxHEIGHT" in r.stderr
    if cameras_present() is False:
        r = _cli(["run", "--style", "starry_night"])
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert r.stderr.strip() == (
            "livestyle: error: no camera found on this machine; to restyle a file run "
            "'livestyle run --input FILE.mp4 --output OUT.mp4' (or 'make demo INPUT=FILE.mp4 OUTPUT=OUT.mp4')"
        )
        r = _cli(["run", "--input", str(CLIP), "--live", "--vcam", "--no-preview"])
        assert r.returncode == 2 and "modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=livestyle" in r.stderr
        assert r.stderr.count("\n") <= 3 and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- effect on/off

def _synthetic_frames(n):
    from livestyle.io.sources import SyntheticSource

    ns = time.perf_counter_ns()
    for i, frame in enumerate(SyntheticSource(frame_count=n)):
        frame.capture_ns = ns + i * 33_000_000
        yield frame


def test_effect_off_and_on_restores_the_same_effect_and_closes_it():
    """Turning the effect off and on again (key 0) brings back the effect as built, with its
    target-person wrapper, and a session ending with the effect off still closes it."""
    from livestyle.app.live import build_processor
    from livestyle.engine.live import _Command

    config = live_config(load_config(None, {"effect.target": "person", "segmenter.model": "landscape"}))
    proc = build_processor(config)
    effect = proc.stylizer
    proc.start(threading.Event(), lambda stage, err: None)
    frames = _synthetic_frames(6)
    try:
        proc.process(next(frames))
        proc.request(_Command(1, effect=False))
        proc.process(next(frames))
        assert proc.stylizer is None and not proc.effect_on
        proc.request(_Command(2, effect=True))
        proc.process(next(frames))
        assert proc.stylizer is effect and proc.effect_on
        proc.request(_Command(3, effect=False))
        proc.process(next(frames))
    finally:
        closed, real_close = [], effect.close
        effect.close = lambda: (closed.append(True), real_close())
        proc.close()
    assert closed == [True]


def test_changes_with_a_per_frame_effect_are_shown_at_once():
    from livestyle.app.live import build_processor
    from livestyle.engine.live import _Command

    config = live_config(load_config(None, {"effect.name": "blur", "segmenter.model": "landscape"}))
    proc = build_processor(config)
    proc.start(threading.Event(), lambda stage, err: None)
    frames = _synthetic_frames(4)
    try:
        proc.process(next(frames))
        proc.request(_Command(1, strength=0.5))
        out = proc.process(next(frames))
    finally:
        proc.close()
    assert proc.shown_generation == 1 and out.meta["style_gen"] == 1

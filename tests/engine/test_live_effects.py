"""Live effect switching (the control panel's effect picker): the processor takes ready-built
effects through the controller's command queue, on real frames of the shared clip."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from conftest import CLIP
from livestyle.app.live import build_processor, live_config
from livestyle.presets import load_config
from livestyle.effects import make_effect
from livestyle.engine.live import LiveController
from livestyle.protocols import Frame
from livestyle.stages.styles import all_style_names


def clip_frames(n: int):
    cap = cv2.VideoCapture(str(CLIP))
    t0 = time.perf_counter_ns()
    for i in range(n):
        ok, image = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = cap.read()
        yield Frame(cv2.resize(image, (480, 270), interpolation=cv2.INTER_AREA), i, i * 33.4, capture_ns=t0 + i * 33_400_000)


def run_until(proc, frames, done, timeout_s: float = 90.0):
    """Process frames (pacing like a camera) until ``done(out)`` or the timeout; returns the last output."""
    deadline = time.monotonic() + timeout_s
    out = None
    while time.monotonic() < deadline:
        out = proc.process(next(frames))
        if done(out):
            return out
        time.sleep(0.02)
    raise AssertionError("the change never showed")


def background_detail(out: Frame) -> float:
    """Mean absolute Laplacian where the matte says background: high for sharp, low for blurred."""
    lap = np.abs(cv2.Laplacian(cv2.cvtColor(out.image, cv2.COLOR_BGR2GRAY), cv2.CV_32F))
    return float(lap[out.meta["alpha"] < 0.05].mean())


def test_the_controller_switches_between_ready_built_effects():
    config = live_config(load_config(None, {"segmenter.model": "landscape"}))
    proc = build_processor(config)
    style_effect = proc.style_stylizer
    ctl = LiveController(proc, all_style_names())
    proc.start(threading.Event(), lambda stage, err: None)
    frames = clip_frames(10_000)
    try:
        first = run_until(proc, frames, lambda o: proc.state.refreshes_shown > 0)
        sharp = background_detail(Frame(next(frames).image, 0, 0.0, meta={"alpha": first.meta["alpha"]}))

        blur = make_effect("blur", config.model_copy(update={"effect": config.effect.model_copy(update={"blur_strength": 0.9})}))
        closed = []
        blur.close = lambda: closed.append("blur")
        ctl.set_effect(blur)
        out = proc.process(next(frames))  # a per-frame effect shows at once
        assert proc.effect_name == "blur" and proc.stylizer is blur
        assert background_detail(out) < 0.5 * sharp

        cartoon = make_effect("cartoon", config)
        ctl.set_effect(cartoon)
        shown = proc.state.refreshes_shown
        run_until(proc, frames, lambda o: proc.state.refreshes_shown > shown)
        assert closed == ["blur"]  # the replaced per-frame effect was closed on this thread
        assert proc.effect_name == "cartoon" and proc.worker.stylizer is cartoon

        quick = proc.quick_restyles
        gen = ctl.set_style("klee", effect=style_effect)
        run_until(proc, frames, lambda o: o.meta["style_gen"] >= gen and o.meta["style"] == "klee")
        assert proc.stylizer is style_effect and proc.worker.stylizer is style_effect
        assert proc.quick_restyles == quick + 1  # the style effect's quick restyle is back

        ctl.set_effect(None)
        frame = next(frames)
        out = proc.process(Frame(frame.image.copy(), frame.index, frame.timestamp_ms, frame.capture_ns))
        assert proc.effect_name == "none" and np.array_equal(out.image, frame.image)
        assert ctl.status()["latency_p95_ms"] >= 0.0
    finally:
        proc.close()


def test_a_session_without_an_effect_starts_the_stylizer_when_one_is_chosen():
    config = live_config(load_config(None, {"segmenter.model": "landscape", "effect.name": "none"}))
    proc = build_processor(config)
    assert proc.stylizer is None and proc.style_stylizer is None
    ctl = LiveController(proc, all_style_names())
    proc.start(threading.Event(), lambda stage, err: None)
    frames = clip_frames(10_000)
    try:
        proc.process(next(frames))
        assert proc.worker is None
        ctl.set_effect(make_effect("pencil", config))
        run_until(proc, frames, lambda o: proc.state.refreshes_shown > 0)
        assert proc.effect_name == "pencil" and proc.worker is not None
    finally:
        proc.close()

"""Live restyling is change-driven: on real frames of the shared clip, a still background is
restyled once and then not again (camera noise and all), a camera pan is restyled, and the
matte is carried over on still frames."""

from __future__ import annotations

import os
import threading
import time

import cv2
import numpy as np
import pytest

from conftest import CLIP
from livestyle.config import Config
from livestyle.engine import processor as processor_module
from livestyle.engine.processor import FrameProcessor
from livestyle.engine.worker import LIVE_NICE
from livestyle.io.sources import open_source
from livestyle.protocols import Frame, RunningMode


class CountingStylizer:
    """A plate effect that inverts the plate and counts its calls."""

    def __init__(self):
        self.calls = 0
        self.nice: int | None = None

    def stylize(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        return 255 - image


class BlobSegmenter:
    """A person-shaped blob in the middle, as the landscape model's (144, 256) float32 mask."""

    def __init__(self):
        self.mask = np.zeros((144, 256), np.float32)
        cv2.ellipse(self.mask, (128, 100), (40, 70), 0, 0, 360, 1.0, -1)
        self.calls = 0

    def segment(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.mask


@pytest.fixture(scope="module")
def clip_frames():
    """Frames 0, 15, 30, 45 (the camera pans) and 400 (static part), 960x540 BGR."""
    wanted = {0, 15, 30, 45, 400}
    return {f.index: f.image for f in open_source(CLIP, max_frames=401) if f.index in wanted}


def noisy(image: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image.astype(np.int16) + rng.integers(-1, 2, image.shape, dtype=np.int16), 0, 255).astype(np.uint8)


def feed(proc: FrameProcessor, images) -> list[np.ndarray]:
    """Process each image as a live frame, letting the stylizer finish in between."""
    outs = []
    for i, image in enumerate(images):
        time.sleep(0.005)  # past the rate cap's period
        outs.append(proc.process(Frame(image=image, index=i, timestamp_ms=0.0, capture_ns=time.perf_counter_ns())).image)
        deadline = time.monotonic() + 10.0
        while not proc.worker.idle and time.monotonic() < deadline:
            time.sleep(0.002)
    return outs


@pytest.fixture
def live_processor(monkeypatch):
    monkeypatch.setattr(processor_module, "LIVE_CHECK_S", 0.0)  # check the plate every frame
    config = Config.model_validate({"plate": {"style_rate_hz": 200.0, "change_wait_level_s": 0.0}})
    stylizer, segmenter = CountingStylizer(), BlobSegmenter()
    proc = FrameProcessor(segmenter, stylizer, config, RunningMode.LIVE)
    stop = threading.Event()
    errors = []
    proc.start(stop, lambda stage, err: errors.append((stage, err)))
    yield proc, stylizer, segmenter
    stop.set()
    proc.close()
    assert not errors


def test_still_background_is_restyled_once_and_a_pan_is_restyled(live_processor, clip_frames):
    proc, stylizer, segmenter = live_processor
    still = [noisy(clip_frames[400], seed) for seed in range(30)]
    outs = feed(proc, still)
    assert stylizer.calls == 1  # the first plate; camera noise is not a change
    assert stylizer.nice == min(19, os.getpriority(os.PRIO_PROCESS, 0) + LIVE_NICE)  # the frame loop goes first
    assert proc.gate is not None and proc.gate.skipped >= 10  # the matte was carried over
    assert proc.gate.reused >= 5  # and the mask reused on other frames
    assert segmenter.calls + proc.gate.skipped + proc.gate.reused == len(still)
    # the output shows the restyled plate around the person and the frame inside it
    bg = np.zeros((540, 960), bool)
    bg[:, :150] = True
    assert cv2.absdiff(outs[-1], still[-1])[bg].mean() > 25
    assert cv2.absdiff(outs[-1], still[-1])[250:330, 440:520].mean() < 3
    feed(proc, [clip_frames[i] for i in (0, 15, 30, 45)])
    assert stylizer.calls >= 3  # the camera moved: restyled again


def test_a_small_plate_change_waits_and_a_large_one_does_not(clip_frames):
    """``change_wait_level_s``: a local change of d levels is restyled once the time since the
    last restyle reaches ``change_wait_level_s / d``; a camera move (a change over more than
    ``change_area_now`` of the plate) at once."""
    config = Config.model_validate({"plate": {"change_wait_level_s": 2.0}})
    proc = FrameProcessor(BlobSegmenter(), CountingStylizer(), config, RunningMode.LIVE)
    still = clip_frames[400]
    background = np.zeros(still.shape[:2], np.float32)  # all of it is background
    plate = proc._plate_for(still)
    plate.update(still, background)
    assert proc._plate_changed(0.0)  # the first plate: restyled at once
    brighter = still.copy()
    brighter[100:220, 100:220] = 255 - brighter[100:220, 100:220]  # something new in one place
    for _ in range(2):  # the patch drifts into the plate's running average
        plate.update(brighter, background)
    change = float(cv2.absdiff(plate.thumbnail(), proc._last_thumb).mean())
    assert config.plate.min_change < change < 2.0  # a small, local change
    assert not proc._plate_changed(0.5)  # 0.5 s * change < 2 level-seconds: it waits
    assert proc._plate_changed(2.0 / change + 0.1)  # waited long enough
    for _ in range(8):  # the camera moved: a quarter of a second of frames
        plate.update(clip_frames[0], background)
    assert proc._plate_changed(0.02)  # at once, whatever the wait (the rate cap applies outside)

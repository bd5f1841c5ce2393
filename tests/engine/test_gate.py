"""MatteGate on real frames of the shared clip: a still frame (with sensor-like noise) carries
the matte over, a camera pan or a local movement does not, and never more than max_skip frames
in a row."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import CLIP, PORTRAITS
from livestyle.engine.gate import Gate, MatteGate
from livestyle.io.sources import open_source


@pytest.fixture(scope="module")
def frames():
    """Frames 0 and 30 (the camera pans between them) and frame 400 (static part), 960x540."""
    wanted = {0, 30, 400}
    out = {}
    for f in open_source(CLIP, max_frames=401):
        if f.index in wanted:
            out[f.index] = f.image
    return out


def noisy(image: np.ndarray, seed: int, levels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(-levels, levels + 1, image.shape, dtype=np.int16)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def test_still_frame_with_noise_carries_over_at_most_max_skip_in_a_row(frames):
    still = frames[400]
    gate = MatteGate(psnr_db=35.0, max_skip=2)
    decisions = [gate.carry_over(noisy(still, i)) for i in range(7)]
    # the first is computed; then two carried over, one computed, ...
    assert decisions == [False, True, True, False, True, True, False]
    assert gate.skipped == 4 and gate.last_psnr_db > 40.0


def test_camera_pan_is_computed(frames):
    gate = MatteGate()
    assert not gate.carry_over(frames[0])
    assert not gate.carry_over(frames[30])  # one second of pan later


def test_local_motion_is_computed_though_the_frame_psnr_is_high(frames):
    still = frames[400]
    moved = still.copy()
    patch = cv2.resize(cv2.imread(str(PORTRAITS[0])), (90, 60))  # something new in one corner
    moved[20:80, 20:110] = patch
    gate = MatteGate(psnr_db=25.0, tile_levels=16.0)
    assert not gate.carry_over(still)
    assert not gate.carry_over(moved)
    assert gate.last_psnr_db > 25.0  # the whole-frame measure alone would have skipped it


def test_off_and_reset(frames):
    still = frames[400]
    off = MatteGate(psnr_db=0.0)
    assert not any(off.carry_over(still) for _ in range(3))
    gate = MatteGate()
    assert not gate.carry_over(still) and gate.carry_over(still)
    gate.reset()
    assert not gate.carry_over(still)


def brighter(image: np.ndarray, levels: int) -> np.ndarray:
    return np.clip(image.astype(np.int16) + levels, 0, 255).astype(np.uint8)


def test_a_small_change_reuses_the_mask_at_most_reuse_max_in_a_row(frames):
    """Between carry-over (35 dB) and the reuse limit (30 dB) the mask is reused and the
    matte refined again; never twice in a row with reuse_max=1; a pan is segmented."""
    still = frames[400]
    gate = MatteGate(psnr_db=35.0, max_skip=1, reuse_psnr_db=30.0, reuse_max=1)
    assert gate.decide(still) is Gate.SEGMENT
    assert gate.decide(brighter(still, 5)) is Gate.REFINE  # ~34 dB from the mask's frame
    assert 30.0 < gate.last_psnr_db < 35.0
    assert gate.decide(brighter(still, 10)) is Gate.SEGMENT  # reused once already
    assert gate.decide(noisy(brighter(still, 10), 1)) is Gate.CARRY
    assert gate.decide(brighter(still, 14)) is Gate.REFINE
    assert gate.decide(frames[0]) is Gate.SEGMENT  # the camera moved
    assert gate.skipped == 1 and gate.reused == 2
    off = MatteGate(psnr_db=35.0, reuse_psnr_db=0.0)
    assert [off.decide(brighter(still, 5 * i)) for i in range(3)] == [Gate.SEGMENT] * 3

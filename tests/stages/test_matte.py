"""Refine matte stage: :class:`MaskRefiner` turns a selfie mask into an alpha matte (temporal
EMA, smoothstep ramp, guided / bilateral edge refinement, feather), on the shared portraits and
on synthetic edges."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import PORTRAIT_FACTS, PORTRAITS, at
from livestyle.config import MaskOptions
from livestyle.protocols import RunningMode
from livestyle.stages.matte import MaskRefiner, guided_filter, smoothstep

WOMAN, GIRL = PORTRAITS


@pytest.fixture(scope="module")
def girl_frame_and_mask(segmenters, portraits):
    """The girl portrait at 480x320 and the general model's mask of it."""
    frame = cv2.resize(portraits[GIRL.name], (480, 320), interpolation=cv2.INTER_AREA)
    return frame, segmenters["general"].segment(frame)


def test_guided_filter_matches_opencv_and_its_fast_form_stays_close(girl_frame_and_mask):
    frame, mask = girl_frame_and_mask
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    conf = cv2.resize(mask, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
    eps = 2e-4 * 255.0**2
    exact = cv2.ximgproc.guidedFilter(gray, conf, 6, eps)
    ours = guided_filter(gray, conf, 6, eps)
    fast = guided_filter(gray, conf, 6, eps, subsample=2)

    assert ours.shape == fast.shape == conf.shape and fast.dtype == np.float32
    assert float(np.abs(ours - exact).max()) < 0.02
    band = (exact > 0.05) & (exact < 0.95)  # where the edge is decided
    assert band.sum() > 500
    assert float(np.abs(fast - exact)[band].mean()) < 0.03
    # the filter moves the edge: it is not the identity on the upscaled mask
    assert float(np.abs(exact - conf)[band].mean()) > 0.03


@pytest.mark.parametrize("refine", ["none", "bilateral", "guided"])
def test_refiner_alpha_on_portrait(girl_frame_and_mask, refine):
    frame, mask = girl_frame_and_mask
    mask_before = mask.copy()
    alpha = MaskRefiner(MaskOptions(refine=refine), RunningMode.IMAGE).refine(mask, frame)

    assert alpha.shape == frame.shape[:2]
    assert alpha.dtype == np.float32
    assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 1.0
    assert np.array_equal(mask, mask_before), "refine() changed the caller's mask"
    # The matte keeps what the model saw: the body is kept, the sky is not.
    assert at(alpha, PORTRAIT_FACTS[GIRL.name]["body"]) > 0.9
    assert float(alpha[:16, -16:].max()) < 0.1
    assert float(alpha[:16, :16].max()) < 0.1


def test_image_mode_keeps_no_state(segmenters, portraits, girl_frame_and_mask):
    frame, mask_b = girl_frame_and_mask
    mask_a = segmenters["general"].segment(portraits[WOMAN.name])  # a different person layout

    used = MaskRefiner(MaskOptions(), RunningMode.IMAGE)
    used.refine(mask_a, frame)
    after_a = used.refine(mask_b, frame)
    fresh = MaskRefiner(MaskOptions(), RunningMode.IMAGE).refine(mask_b, frame)
    assert np.array_equal(after_a, fresh)

    # The same sequence in VIDEO mode does carry state (so the comparison above can fail).
    video = MaskRefiner(MaskOptions(), RunningMode.VIDEO)
    video.refine(mask_a, frame)
    assert float(np.abs(video.refine(mask_b, frame) - fresh).max()) > 0.5


@pytest.mark.parametrize("ema", [MaskOptions().ema, 0.25, 1.0])
def test_video_mode_ema_moves_by_ema_fraction(ema):
    options = MaskOptions(ema=ema)
    refiner = MaskRefiner(options, RunningMode.VIDEO)
    frame = np.full((72, 128, 3), 128, np.uint8)
    zeros = np.zeros((36, 64), np.float32)
    ones = np.ones((36, 64), np.float32)

    refiner.refine(zeros, frame)
    assert np.array_equal(refiner.last_confidence, np.zeros_like(refiner.last_confidence))
    alpha = refiner.refine(ones, frame)
    conf = refiner.last_confidence
    assert conf.shape == (36, 64)  # working size: refine_scale 0.5 of the frame
    np.testing.assert_allclose(conf, options.ema, atol=1e-6)
    # On a uniform frame the matte is the smoothstep of that confidence everywhere.
    expected = float(smoothstep(np.array([options.ema], np.float32), options.low, options.high)[0])
    np.testing.assert_allclose(alpha, expected, atol=1e-3)

    refiner.refine(ones, frame)
    np.testing.assert_allclose(refiner.last_confidence, 1.0 - (1.0 - options.ema) ** 2, atol=1e-6)

    refiner.reset()
    refiner.refine(zeros, frame)
    assert float(refiner.last_confidence.max()) == 0.0, "reset() did not forget the history"


# ----------------------------------------------------------------------------- edge refinement

EDGE_H, EDGE_W = 96, 256
EDGE_X = EDGE_W // 2  # the dark | bright boundary
RAMP_PX = 16  # the blurry mask's 0 -> 1 ramp, in frame pixels


def edge_case() -> tuple[np.ndarray, np.ndarray]:
    """A frame with a sharp vertical edge (dark left, bright right = person) and a blurry mask
    ramp whose 0.5 point sits on the edge."""
    frame = np.full((EDGE_H, EDGE_W, 3), 40, np.uint8)
    frame[:, EDGE_X:] = 210
    x = np.arange(EDGE_W, dtype=np.float32) + 0.5
    ramp = np.clip(0.5 + (x - EDGE_X) / RAMP_PX, 0.0, 1.0)
    return frame, np.repeat(ramp[None], EDGE_H, axis=0).astype(np.float32)


def transition_width(row: np.ndarray) -> int:
    return int(((row > 0.1) & (row < 0.9)).sum())


def half_crossing(row: np.ndarray) -> float:
    """Where the (rising) row crosses 0.5, in pixel-edge coordinates."""
    return float(np.interp(0.5, row, np.arange(row.size) + 0.5))


def refined_row(refine: str) -> np.ndarray:
    frame, mask = edge_case()
    alpha = MaskRefiner(MaskOptions(refine=refine), RunningMode.IMAGE).refine(mask, frame)
    row = alpha[EDGE_H // 2]
    assert np.all(np.diff(row) >= -1e-4), "matte across a single edge should rise monotonically"
    return row


def test_guided_refinement_moves_the_matte_edge_onto_the_image_edge():
    """The smoothstep (0.45 .. 0.88) shifts the unrefined matte's 0.5 point into the bright side;
    the guided filter pulls it back onto the image edge."""
    none_off = abs(half_crossing(refined_row("none")) - EDGE_X)
    guided_off = abs(half_crossing(refined_row("guided")) - EDGE_X)
    assert none_off > 2.0
    assert guided_off < 1.0, f"guided matte edge {guided_off:.1f} px from the image edge"


def test_guided_refinement_narrows_a_blurry_edge():
    frame, mask = edge_case()
    raw = transition_width(mask[EDGE_H // 2])
    unrefined = transition_width(refined_row("none"))
    guided = transition_width(refined_row("guided"))
    assert guided <= 0.75 * min(raw, unrefined), f"guided {guided} px, unrefined {unrefined} px, input {raw} px"

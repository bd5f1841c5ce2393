"""Segment stage on the shared portraits: the MediaPipe selfie models (general 256x256,
landscape 144x256) and the :class:`MaskRefiner` that turns their mask into an alpha matte
(temporal EMA, smoothstep ramp, guided / bilateral edge refinement, feather).

Portrait facts used below (checked by eye on the photos):

* ``woman-5883428_1280.jpg``: a selfie; her upper body is left of centre, and her raised hand,
  blurred, fills the top-left corner (so only the top-right corner is background).
* ``girl-919048_1280.jpg``: a centred head-and-shoulders portrait before a lake and hills; both
  top corners are sky / hills.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import PORTRAITS
from livestyle.config import MaskOptions
from livestyle.protocols import RunningMode
from livestyle.segment import MaskRefiner, SelfieSegmenter, smoothstep

WOMAN, GIRL = PORTRAITS
MODEL_SIZES = {"general": (256, 256), "landscape": (144, 256)}  # (height, width)
# Per portrait: an upper-body point (x, y as fractions of the image) and the top corners that
# are background.
PORTRAIT_FACTS = {
    WOMAN.name: {"body": (0.40, 0.75), "background_corners": ("top-right",)},
    GIRL.name: {"body": (0.50, 0.85), "background_corners": ("top-left", "top-right")},
}
CORNER_PX = 8  # side of the corner patch, in model pixels


@pytest.fixture(scope="module")
def segmenters():
    segs = {name: SelfieSegmenter(name) for name in MODEL_SIZES}
    yield segs
    for seg in segs.values():
        seg.close()


@pytest.fixture(scope="module")
def portraits():
    images = {}
    for path in PORTRAITS:
        image = cv2.imread(str(path))
        assert image is not None, path
        images[path.name] = image
    return images


def corner_patch(mask: np.ndarray, corner: str) -> np.ndarray:
    return mask[:CORNER_PX, :CORNER_PX] if corner == "top-left" else mask[:CORNER_PX, -CORNER_PX:]


def at(mask: np.ndarray, xy: tuple[float, float]) -> float:
    h, w = mask.shape[:2]
    return float(mask[int(xy[1] * h), int(xy[0] * w)])


# ----------------------------------------------------------------------------- SelfieSegmenter

@pytest.mark.parametrize("portrait", [p.name for p in PORTRAITS])
@pytest.mark.parametrize("model", list(MODEL_SIZES))
def test_selfie_mask_on_portrait(segmenters, portraits, model, portrait):
    seg = segmenters[model]
    assert seg.input_size_px == MODEL_SIZES[model]
    mask = seg.segment(portraits[portrait])

    assert mask.shape == MODEL_SIZES[model]
    assert mask.dtype == np.float32
    assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0

    person = float((mask > 0.5).mean())
    assert 0.2 < person < 0.7, f"person covers {person:.0%} of a head-and-shoulders portrait"

    facts = PORTRAIT_FACTS[portrait]
    assert at(mask, facts["body"]) > 0.9, "upper body not segmented as person"
    for corner in facts["background_corners"]:
        assert float(corner_patch(mask, corner).max()) < 0.1, f"{corner} corner not background"


def test_selfie_sees_the_raised_hand(segmenters, portraits):
    """The woman's blurred raised hand fills the top-left corner: that is person, not background."""
    for seg in segmenters.values():
        mask = seg.segment(portraits[WOMAN.name])
        assert float(corner_patch(mask, "top-left").max()) > 0.5


@pytest.mark.parametrize("portrait", [p.name for p in PORTRAITS])
def test_general_and_landscape_agree(segmenters, portraits, portrait):
    image = portraits[portrait]
    size = (320, round(320 * image.shape[0] / image.shape[1]))
    a = cv2.resize(segmenters["general"].segment(image), size, interpolation=cv2.INTER_LINEAR) > 0.5
    b = cv2.resize(segmenters["landscape"].segment(image), size, interpolation=cv2.INTER_LINEAR) > 0.5
    iou = float((a & b).sum() / (a | b).sum())
    assert iou > 0.85, f"general vs landscape IoU {iou:.2f}"


def test_unknown_selfie_model_is_rejected():
    with pytest.raises(ValueError, match="general"):
        SelfieSegmenter("portrait")


# ----------------------------------------------------------------------------- MaskRefiner

@pytest.fixture(scope="module")
def girl_frame_and_mask(segmenters, portraits):
    """The girl portrait at 480x320 and the general model's mask of it."""
    frame = cv2.resize(portraits[GIRL.name], (480, 320), interpolation=cv2.INTER_AREA)
    return frame, segmenters["general"].segment(frame)


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

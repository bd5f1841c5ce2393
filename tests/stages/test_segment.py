"""Segment stage on the shared portraits: the MediaPipe selfie models (general 256x256,
landscape 144x256) (the alpha matte made from their mask is tested in
``test_matte.py``).

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

from conftest import PORTRAIT_FACTS, PORTRAITS, at
from livestyle.stages.segment import SelfieSegmenter

WOMAN, GIRL = PORTRAITS
MODEL_SIZES = {"general": (256, 256), "landscape": (144, 256)}  # (height, width)
CORNER_PX = 8  # side of the corner patch, in model pixels


def corner_patch(mask: np.ndarray, corner: str) -> np.ndarray:
    return mask[:CORNER_PX, :CORNER_PX] if corner == "top-left" else mask[:CORNER_PX, -CORNER_PX:]


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

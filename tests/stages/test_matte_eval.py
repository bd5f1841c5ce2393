"""Matte metrics on synthetic cases with known answers, and the composites' ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from livestyle.stages import matte_eval as me
from tests.conftest import SHARED


def _rect(shape=(100, 200), y0=20, y1=80, x0=50, x1=150) -> np.ndarray:
    a = np.zeros(shape, np.float32)
    a[y0:y1, x0:x1] = 1.0
    return a


def test_iou_known_cases():
    a = _rect()
    assert me.iou(a, a) == 1.0
    assert me.iou(a, np.zeros_like(a)) == 0.0
    assert me.iou(np.zeros_like(a), np.zeros_like(a)) == 1.0
    half = _rect(x0=100, x1=200)  # overlaps the right half of a: 50 of 150 columns
    assert me.iou(a, half) == pytest.approx(50 / 150)
    assert me.iou(a * 0.49, a) == 0.0  # binarized at 0.5


def test_seg2bmap_marks_the_outline_once():
    b = me.seg2bmap(_rect((10, 10), 2, 6, 3, 8) > 0.5)
    assert b.sum() > 0
    assert not b[4, 5]  # interior
    assert not b[0, 0]  # far outside


def test_boundary_f_tolerance_is_0008_of_the_diagonal():
    a = _rect()  # 100x200: diagonal 223.6 -> 2 px tolerance
    assert me.boundary_f(a, a) == 1.0
    assert me.boundary_f(np.roll(a, 2, axis=1), a) == 1.0
    assert me.boundary_f(np.roll(a, 8, axis=1), a) < 0.7  # only the top and bottom edges match
    assert me.boundary_f(np.zeros_like(a), a) == 0.0


def test_band_mae_in_levels_near_the_edge_only():
    a = _rect()
    assert me.band_mae(a, a) == 0.0
    wrong_far = a.copy()
    wrong_far[0:2, 0:2] = 1.0  # > 20 px from the edge: outside the band
    assert me.band_mae(wrong_far, a) == 0.0
    band = me.edge_band(a, 20)
    assert me.band_mae(np.zeros_like(a), a) == pytest.approx(255.0 * a[band].mean(), rel=1e-5)
    assert np.isnan(me.band_mae(a, np.zeros_like(a)))


def test_warp_error_zero_for_a_consistent_matte_and_positive_for_flicker():
    rng = np.random.default_rng(0)
    texture = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    import cv2

    texture = cv2.GaussianBlur(texture, (0, 0), 2)
    frames = [np.roll(texture, 2 * i, axis=1) for i in range(4)]  # pans 2 px a frame
    mattes = [np.roll(_rect((120, 160), 30, 90, 40, 100), 2 * i, axis=1) for i in range(4)]
    warp = me.FlowWarp(scale=1.0)
    flows = warp.flows(frames)
    steady = warp.error(mattes, flows)
    flicker = warp.error([m * (i % 2) for i, m in enumerate(mattes)], flows)
    assert steady < 0.01
    assert flicker > 0.1


def test_place_gives_the_exact_alpha_of_the_composite():
    cut = me.load_cutout(SHARED / "matting" / "person-3.png")
    assert cut[..., 3].max() > 200 and cut.shape[2] == 4
    bg = np.full((54, 96, 3), 40, np.uint8)
    image, alpha = me.place(cut, bg, 0.8, 0.5)
    assert image.shape == (54, 96, 3) and alpha.shape == (54, 96)
    assert alpha[-1].max() > 0.9 and alpha[:10].max() == 0.0  # bottom-anchored, 80 % high
    assert (alpha[alpha > 0] >= me.GT_ZERO_BELOW).all()
    assert np.abs(image[alpha == 0].astype(int) - 40).max() <= 1  # pure background there

"""Composite stage: :class:`AlphaCompositor` blends the live frame over the restyled background
(``alpha * frame + (1 - alpha) * background``) and rejects arrays that do not fit, naming the
expected and the actual shape."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import PORTRAITS
from livestyle.stages.composite import AlphaCompositor
from livestyle.protocols import Compositor

SIZE = (320, 180)  # (width, height)


@pytest.fixture(scope="module")
def pair():
    """Frame = one portrait, background = the other, both 320x180 BGR uint8."""
    images = []
    for path in PORTRAITS:
        image = cv2.imread(str(path))
        assert image is not None
        images.append(cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA))
    assert float(cv2.absdiff(*images).mean()) > 20  # the two really differ
    return images


def alpha_of(value: float) -> np.ndarray:
    return np.full((SIZE[1], SIZE[0]), value, np.float32)


def test_is_a_compositor():
    assert isinstance(AlphaCompositor(), Compositor)


def test_alpha_one_keeps_the_frame(pair):
    frame, background = pair
    out = AlphaCompositor().composite(frame, background, alpha_of(1.0))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(out, frame)


def test_alpha_zero_shows_the_background(pair):
    frame, background = pair
    out = AlphaCompositor().composite(frame, background, alpha_of(0.0))
    assert np.array_equal(out, background)


def test_alpha_half_is_the_mean(pair):
    frame, background = pair
    out = AlphaCompositor().composite(frame, background, alpha_of(0.5))
    mean = (frame.astype(np.float32) + background.astype(np.float32)) / 2.0
    assert float(np.abs(out.astype(np.float32) - mean).max()) <= 1.0


def test_varying_alpha_follows_the_formula(pair):
    frame, background = pair
    alpha = np.tile(np.linspace(0.0, 1.0, SIZE[0], dtype=np.float32), (SIZE[1], 1))
    out = AlphaCompositor().composite(frame, background, alpha)
    a = alpha[..., None]
    expected = a * frame.astype(np.float32) + (1.0 - a) * background.astype(np.float32)
    assert float(np.abs(out.astype(np.float32) - expected).max()) <= 1.0
    assert np.array_equal(out[:, 0], background[:, 0])
    assert np.array_equal(out[:, -1], frame[:, -1])


@pytest.mark.parametrize(
    "case, expected, actual",
    [
        ("background size", "(180, 320, 3)", "(90, 160, 3)"),
        ("background dtype", "(180, 320, 3)", "float32"),
        ("alpha size", "(180, 320)", "(90, 160)"),
        ("alpha dtype", "float32", "float64"),
        ("alpha channels", "(180, 320)", "(180, 320, 1)"),
        ("frame grey", "(H, W, 3)", "(180, 320)"),
        ("frame dtype", "uint8", "float32"),
    ],
)
def test_misfits_raise_with_expected_and_actual(pair, case, expected, actual):
    frame, background = pair
    alpha = alpha_of(0.5)
    if case == "background size":
        background = cv2.resize(background, (160, 90))
    elif case == "background dtype":
        background = background.astype(np.float32)
    elif case == "alpha size":
        alpha = alpha_of(0.5)[:90, :160].copy()
    elif case == "alpha dtype":
        alpha = alpha.astype(np.float64)
    elif case == "alpha channels":
        alpha = alpha[..., None]
    elif case == "frame grey":
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    elif case == "frame dtype":
        frame = frame.astype(np.float32)
    with pytest.raises(ValueError) as info:
        AlphaCompositor().composite(frame, background, alpha)
    msg = str(info.value)
    assert expected in msg and actual in msg, msg


def test_decontamination_replaces_the_original_backgrounds_share_in_edge_pixels():
    """Edge pixels are I = a F + (1 - a) P (person F over the original background P). Given P,
    the compositor puts F over the new background S: a F + (1 - a) S, with no rim of P."""
    h, w = 40, 200
    a = np.tile(np.linspace(0.0, 1.0, w, dtype=np.float32), (h, 1))  # a soft edge, 0 -> 1
    person = np.full((h, w, 3), (40, 60, 200), np.uint8)
    wall = np.full((h, w, 3), 245, np.uint8)  # a bright original background
    new_bg = np.full((h, w, 3), (120, 30, 10), np.uint8)
    frame = np.clip(a[..., None] * person + (1 - a[..., None]) * wall + 0.5, 0, 255).astype(np.uint8)
    ideal = a[..., None] * person + (1 - a[..., None]) * new_bg
    c = AlphaCompositor()
    plain = c.composite(frame, new_bg, a).astype(np.float32)
    clean = c.composite(frame, new_bg, a, original=wall).astype(np.float32)
    band = (a > 0.3) & (a < 0.9)  # where the correction is fully on
    assert np.abs(clean - ideal)[band].max() <= 2.0
    assert np.abs(plain - ideal)[band].mean() > 30.0  # without it, the wall shows through
    # pure background and pure person are untouched
    assert np.array_equal(clean[a == 0.0], plain[a == 0.0])
    assert np.array_equal(clean[:, -1], plain[:, -1])


def test_decontamination_checks_the_original_background():
    f = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match=r"expected \(4, 4, 3\) uint8, got \(4, 5, 3\)"):
        AlphaCompositor().composite(f, f, np.zeros((4, 4), np.float32), original=np.zeros((4, 5, 3), np.uint8))


def test_a_carried_over_matte_gives_what_a_fresh_one_gives(pair):
    """The band is found once per alpha array; the same array with new frames (a live matte
    carried over) must composite exactly as a new array with the same values would."""
    frame, background = pair
    alpha = np.zeros((SIZE[1], SIZE[0]), np.float32)
    cv2.ellipse(alpha, (160, 120), (60, 90), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 4.0)  # a soft edge band
    original = cv2.GaussianBlur(background, (0, 0), 3.0)
    c = AlphaCompositor()
    c.composite(frame, background, alpha, original)
    for shift in (1, 5):
        moved = np.roll(frame, shift, axis=1)  # the next frames: the person moved a little
        again = c.composite(moved, background, alpha, original)
        fresh = AlphaCompositor().composite(moved, background, alpha.copy(), original)
        assert np.array_equal(again, fresh)
    # a new background (a fade, a new restyle) or no original under the same matte
    faded = cv2.addWeighted(background, 0.5, frame, 0.5, 0.0)
    for bg, orig in ((faded, original), (faded, None), (background, faded)):
        again = c.composite(moved, bg, alpha, orig)
        assert np.array_equal(again, AlphaCompositor().composite(moved, bg, alpha.copy(), orig))

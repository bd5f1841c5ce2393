"""Clean background plate, push-pull fill, change detection, local refresh and cross-fade.

The plate tests use :class:`SyntheticSource` (a static textured background with a moving
ellipse "person") and its true :meth:`person_mask` as the confidence, so the expected plate is
known exactly: the background, derived from the frames where the mask is 0. The change and
refresh tests use the shared portraits as plates and restyled images.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import PORTRAITS
from livestyle.config import PlateOptions
from livestyle.stages.plate import CleanPlate, CrossFader, LocalRefresh, change_weight, push_pull_fill
from livestyle.io.sources import SyntheticSource

W, H, FRAMES = 320, 180, 20
PERSON_COLOURS = np.array([(60, 90, 200), (40, 60, 150)], np.int16)  # BGR, body and head
_RING = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))


@pytest.fixture(scope="module")
def synthetic():
    """Frames, true masks, and the background derived from frames where the mask is 0."""
    src = SyntheticSource(W, H, frame_count=FRAMES)
    frames = [f.image for f in src]
    masks = [src.person_mask(i) for i in range(FRAMES)]
    background = np.zeros_like(frames[0])
    known = np.zeros((H, W), bool)
    for image, mask in zip(frames, masks):
        bg = mask == 0
        if known.any():  # the background is static: every clear view agrees
            both = bg & known
            assert np.array_equal(image[both], background[both])
        background[bg] = image[bg]
        known |= bg
    return frames, masks, background, known


@pytest.fixture(scope="module")
def plates():
    """Two real images at plate size (256x144)."""
    out = []
    for path in PORTRAITS:
        image = cv2.imread(str(path))
        assert image is not None
        out.append(cv2.resize(image, (256, 144), interpolation=cv2.INTER_AREA))
    return out


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.absdiff(a, b).mean())


def colour_distance(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Largest channel difference of each pixel from ``colour``: ``(H, W)`` int."""
    return np.abs(image.astype(np.int16) - colour).max(axis=-1)


def assert_no_person_colour(image: np.ndarray, background: np.ndarray, where: np.ndarray) -> None:
    """Where the true background is far from the person's colours, ``image`` must be too."""
    for colour in PERSON_COLOURS:
        distinct = where & (colour_distance(background, colour) > 40)
        assert distinct.sum() > 100
        near = colour_distance(image, colour)[distinct]
        assert int(near.min()) > 20, f"person colour {tuple(colour)} in the plate"


# ----------------------------------------------------------------------------- CleanPlate

def test_plate_recovers_the_background(synthetic):
    frames, masks, background, known = synthetic
    assert known.mean() > 0.99  # the ellipse moves off every pixel at some point
    plate = CleanPlate((W, H))
    for image, mask in zip(frames, masks):
        plate.update(image, mask)
    out = plate.image()
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    assert plate.coverage > 0.99
    diff = cv2.absdiff(out, background).max(axis=2)
    assert int(diff[known].max()) <= 3, "plate differs from the background where it was seen"
    # Where the person stood in the last frame the plate shows background, not the person.
    last_person = masks[-1] > 0
    assert int(diff[last_person].max()) <= 3
    assert_no_person_colour(out, background, known)


def test_plate_at_smaller_size_than_frames(synthetic):
    """Frames and confidence are resized to the plate."""
    frames, masks, background, _ = synthetic
    plate = CleanPlate((W // 2, H // 2))
    for image, mask in zip(frames, masks):
        plate.update(image, mask)
    out = plate.image()
    assert out.shape == (H // 2, W // 2, 3)
    expected = cv2.resize(background, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    assert int(cv2.absdiff(out, expected).max()) <= 3


def test_plate_fills_pixels_never_seen(synthetic):
    frames, masks, background, _ = synthetic
    plate = CleanPlate((W, H))
    plate.update(frames[0], masks[0])
    seen = plate.background_mask(masks[0]) > 0
    unseen = ~seen
    assert masks[0][seen].max() == 0, "a person pixel was taken as background"
    assert 0.05 < unseen.mean() < 0.3
    assert plate.coverage == pytest.approx(seen.mean(), abs=1e-6)

    out = plate.image()
    assert np.array_equal(out[seen], frames[0][seen]), "seen pixels must be the frame's"
    hole = out[unseen]
    assert int(hole.min()) > 0, "a never-seen pixel was left black"
    # The fill stays within the range of the known pixels around the hole...
    ring = (cv2.dilate(unseen.astype(np.uint8), _RING) > 0) & seen
    lo, hi = out[ring].min(axis=0), out[ring].max(axis=0)
    assert np.all(hole >= lo) and np.all(hole <= hi)
    # ...and does not bring the person back.
    assert_no_person_colour(out, background, np.ones_like(unseen))

    plate.reset()
    assert plate.coverage == 0.0


def test_thumbnail_sees_the_filled_plate(plates):
    """Uncovering pixels that look like the fill changes the change-check thumbnail by less
    than a level; uncovering something else (here: the other photo) changes it by many."""
    wall = np.full((144, 256, 3), (180, 190, 200), np.uint8)  # a plain wall
    person = np.zeros((144, 256), np.float32)
    person[40:, 100:170] = 1.0  # someone in front of it
    plate = CleanPlate((256, 144))
    plate.update(wall, person)
    before = plate.thumbnail()
    assert float(np.abs(before - np.array((180, 190, 200), np.float32)).max()) < 1.0  # the hole is filled
    moved = person.copy()
    moved[40:, 100:120] = 0.0  # they lean aside: a strip of the same wall is seen
    same = CleanPlate((256, 144))
    same.update(wall, person)
    same.update(wall, moved)
    assert float(np.abs(same.thumbnail() - before).mean()) < 0.1
    other = CleanPlate((256, 144))
    other.update(wall, person)
    poster = wall.copy()
    poster[:, 100:120] = plates[0][:, 100:120]  # the strip shows something else
    other.update(poster, moved)
    assert float(np.abs(other.thumbnail() - before).mean()) > 1.0


def test_plate_ignores_person_pixels(synthetic):
    """A person standing still never enters the plate, however long it stays."""
    frames, masks, background, _ = synthetic
    plate = CleanPlate((W, H), PlateOptions(update=0.5))
    for _ in range(10):
        plate.update(frames[5], masks[5])
    person = masks[5] > 0
    out = plate.image()
    assert_no_person_colour(out, background, np.ones(person.shape, bool))
    assert int(cv2.absdiff(out, background).max(axis=2)[~person & (plate.background_mask(masks[5]) > 0)].max()) == 0


# ----------------------------------------------------------------------------- push_pull_fill

def test_push_pull_keeps_known_pixels(plates):
    image = plates[0].astype(np.float32)
    rng = np.random.default_rng(1)
    weight = (rng.random(image.shape[:2]) < 0.7).astype(np.float32)
    weight[40:100, 80:180] = 0.0  # and a big hole
    out = push_pull_fill(image, weight)
    assert out.shape == image.shape and out.dtype == np.float32
    known = weight == 1.0
    assert float(np.abs(out[known] - image[known]).max()) <= 0.5
    assert float(out[~known].min()) > 0.0


def test_push_pull_fill_is_within_neighbour_range():
    # A smooth gradient with a square hole: the fill must lie within the values around it.
    yy, xx = np.mgrid[0:120, 0:200].astype(np.float32)
    image = np.dstack([40 + xx * 0.5, 60 + yy, 200 - xx * 0.4]).astype(np.float32)
    weight = np.ones((120, 200), np.float32)
    weight[40:80, 70:130] = 0.0
    corrupted = image.copy()
    corrupted[weight == 0] = 0.0  # what an unseen plate pixel holds
    out = push_pull_fill(corrupted, weight)
    hole = weight == 0
    ring = (cv2.dilate(hole.astype(np.uint8), _RING) > 0) & ~hole
    lo, hi = out[ring].min(axis=0), out[ring].max(axis=0)
    assert np.all(out[hole] >= lo - 1e-3) and np.all(out[hole] <= hi + 1e-3)
    # a smooth fill of a linear ramp is close to the ramp itself
    assert float(np.abs(out[hole] - image[hole]).mean()) < 10.0
    np.testing.assert_array_equal(out[~hole], image[~hole])


# ----------------------------------------------------------------------------- change_weight

def test_change_weight_ignores_noise(plates):
    plate = plates[0]
    w = change_weight(plate, plate.copy(), 4.0, 12.0)
    assert w.shape == plate.shape[:2] and w.dtype == np.float32
    assert float(w.max()) == 0.0

    rng = np.random.default_rng(0)
    noisy = np.clip(plate + rng.normal(0.0, 1.0, plate.shape), 0, 255).round().astype(np.uint8)
    assert 0.5 < mad(noisy, plate) < 1.5
    assert float(change_weight(noisy, plate, 4.0, 12.0).max()) < 0.05


def test_change_weight_marks_a_changed_region(plates):
    plate = plates[0]
    changed = plate.copy()
    region = changed[40:100, 60:160].astype(np.int16)
    # +50 levels, reflected at the ends so that every pixel really changes by 50
    changed[40:100, 60:160] = np.where(region <= 205, region + 50, region - 50).astype(np.uint8)
    w = change_weight(changed, plate, 4.0, 12.0)
    assert float(w[55:85, 80:140].min()) > 0.95, "inside the changed region"
    far = np.ones(w.shape, bool)
    far[15:125, 35:185] = False
    assert float(w[far].max()) < 0.01, "far from the changed region"


# ----------------------------------------------------------------------------- LocalRefresh

def test_local_refresh_keeps_unchanged_plate(plates):
    plate = plates[0]
    first = cv2.stylization(plate, sigma_s=30, sigma_r=0.3)  # a "restyling" of the plate
    second = cv2.bitwise_not(first)  # a very different restyling of the same plate
    local = LocalRefresh()
    shown = local.apply(first, plate)
    assert np.array_equal(shown, first)
    again = local.apply(second, plate.copy())
    assert np.array_equal(again, first), "an unchanged plate must keep the shown restyling"


def test_local_refresh_updates_only_the_changed_half(plates):
    plate, other = plates
    first = cv2.stylization(plate, sigma_s=30, sigma_r=0.3)
    local = LocalRefresh()
    local.apply(first, plate)

    new_plate = plate.copy()
    new_plate[:, 128:] = other[:, 128:]
    # Make sure the right half changed well beyond change_high everywhere.
    new_plate[:, 128:] = ((new_plate[:, 128:].astype(np.int16) + 128) % 256).astype(np.uint8)
    second = cv2.bitwise_not(cv2.stylization(new_plate, sigma_s=30, sigma_r=0.3))
    shown = local.apply(second, new_plate)

    margin = 24  # the change weight is grown and feathered across the seam
    assert np.array_equal(shown[:, : 128 - margin], first[:, : 128 - margin]), "unchanged half moved"
    assert int(cv2.absdiff(shown[:, 128 + margin :], second[:, 128 + margin :]).max()) <= 1
    # A third apply with the same new plate changes nothing more.
    third = local.apply(first, new_plate)
    assert np.array_equal(third[:, : 128 - margin], first[:, : 128 - margin])
    assert int(cv2.absdiff(third[:, 128 + margin :], second[:, 128 + margin :]).max()) <= 1


def test_local_refresh_disabled_replaces_all(plates):
    plate, _ = plates
    local = LocalRefresh(enabled=False)
    local.apply(plate, plate)
    other = cv2.bitwise_not(plate)
    assert np.array_equal(local.apply(other, plate), other)


# ----------------------------------------------------------------------------- CrossFader

def test_crossfader_cut(plates):
    old, new = plates
    fader = CrossFader()
    assert not fader.ready
    with pytest.raises(RuntimeError):
        fader.frame((256, 144))
    fader.set(old)
    assert fader.ready
    assert np.array_equal(fader.frame((256, 144)), old)
    fader.set(new, 0)
    assert np.array_equal(fader.frame((256, 144)), new)
    assert np.array_equal(fader.frame((256, 144)), new)


def test_crossfader_fade_is_monotonic_and_ends_at_new(plates):
    old, new = plates
    fader = CrossFader()
    fader.set(old)
    fader.frame((256, 144))
    fader.set(new, 4)
    frames = [fader.frame((256, 144)) for _ in range(6)]
    to_new = [cv2.absdiff(f, new).astype(np.int16) for f in frames]
    to_old = [cv2.absdiff(f, old).astype(np.int16) for f in frames]
    for k in range(1, 4):
        assert np.all(to_new[k] <= to_new[k - 1] + 1), f"frame {k} moved away from the new image"
        assert np.all(to_old[k] >= to_old[k - 1] - 1), f"frame {k} moved back towards the old image"
        assert mad(frames[k], new) < mad(frames[k - 1], new)
    assert mad(frames[0], old) > 0 and mad(frames[0], new) > 0, "the first frame should be a blend"
    assert np.array_equal(frames[3], new), "the fade must end exactly at the new image"
    assert np.array_equal(frames[4], new) and np.array_equal(frames[5], new)


def test_crossfader_resizes_to_the_requested_size(plates):
    old, new = plates
    fader = CrossFader()
    fader.set(old)
    out = fader.frame((640, 360))
    assert out.shape == (360, 640, 3) and out.dtype == np.uint8
    assert mad(cv2.resize(out, (256, 144), interpolation=cv2.INTER_AREA), old) < 3
    assert fader.frame((100, 50)).shape == (50, 100, 3)
    fader.set(new, 2)
    assert fader.frame((640, 360)).shape == (360, 640, 3)  # during the fade
    end = fader.frame((640, 360))
    assert np.array_equal(end, cv2.resize(new, (640, 360), interpolation=cv2.INTER_LINEAR))

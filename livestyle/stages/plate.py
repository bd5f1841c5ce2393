"""Clean background plate: a running estimate of the background without the person.

The stylizer restyles this plate instead of the raw frame, so the person never bleeds into the
restyled background, and sensor noise on a static background averages out instead of turning
into shimmer. Pixels never seen as background (behind a person who has not moved yet) are
filled from their surroundings by push-pull interpolation (Gortler et al., "The Lumigraph",
SIGGRAPH 1996) so the transformer sees a plausible, person-free image.
"""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.config import PlateOptions

_ERODE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def _pull_push(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Push-pull on a weighted image: ``num`` = image * weight ``(h, w, 3)``, ``den`` = weight
    ``(h, w)``. Returns the ``(h, w, 3)`` estimate: the image where the weight is high, the
    coarser levels' estimate where it is low."""
    levels = []
    while min(den.shape[:2]) > 4:
        levels.append((num, den))
        num, den = cv2.pyrDown(num), cv2.pyrDown(den)
    est = num / np.maximum(den, 1e-6)[..., None]
    if not np.any(den > 1e-6):
        est[:] = 128.0
    for num, den in reversed(levels):
        up = cv2.pyrUp(est, dstsize=(den.shape[1], den.shape[0]))
        a = np.clip(den * 2.0, 0.0, 1.0)[..., None]
        est = num / np.maximum(den, 1e-6)[..., None] * a + up * (1.0 - a)
    return est


def push_pull_fill(image: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill pixels of low ``weight`` from their weighted neighbourhood at coarser scales.

    Args:
        image: ``(H, W, 3)`` float32.
        weight: ``(H, W)`` float32 in [0, 1]; 1 = known pixel, 0 = unknown.

    Returns:
        ``(H, W, 3)`` float32; pixels of weight 1 are unchanged.
    """
    return _pull_push(image * weight[..., None], weight)


def fill_unseen(plate: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """:func:`push_pull_fill` for a plate whose unseen pixels are 0 and ``seen`` is a uint8
    0/255 map: the pyramid starts at half size (the fill is smooth anyway) and seen pixels are
    copied exactly; about 4x cheaper.

    Returns:
        ``(H, W, 3)`` float32.
    """
    h, w = seen.shape
    den = cv2.pyrDown(seen.astype(np.float32) * (1.0 / 255.0))
    est = _pull_push(cv2.pyrDown(plate), den)
    out = cv2.pyrUp(est, dstsize=(w, h))
    cv2.copyTo(plate, seen, out)
    return out


class CleanPlate:
    """Running background estimate at a fixed working size.

    Args:
        size_px: ``(width, height)`` of the plate (the transformer's input size).
        options: :class:`~livestyle.config.PlateOptions`.

    ``update(frame, confidence)``: ``frame`` ``(h, w, 3)`` uint8 BGR and ``confidence``
    ``(h', w')`` float32 person confidence in [0, 1], any sizes (resized to the plate). Pixels
    with confidence below ``background_below`` (the person region grown by a few pixels) move
    towards the frame by ``update``. ``image()`` returns the plate as ``(height, width, 3)``
    uint8 BGR with unseen pixels filled.
    """

    def __init__(self, size_px: tuple[int, int], options: PlateOptions | None = None):
        self.size_px = size_px
        self.options = options or PlateOptions()
        w, h = size_px
        self._plate = np.zeros((h, w, 3), np.float32)
        self._seen = np.zeros((h, w), np.uint8)  # 255 = seen as background at least once

    def reset(self) -> None:
        self._plate[:] = 0
        self._seen[:] = 0

    def background_mask(self, confidence: np.ndarray) -> np.ndarray:
        """``(height, width)`` uint8: 255 where the pixel is surely background, else 0."""
        w, h = self.size_px
        conf = confidence if confidence.shape == (h, w) else cv2.resize(confidence, (w, h), interpolation=cv2.INTER_LINEAR)
        bg = (conf < self.options.background_below).view(np.uint8) * np.uint8(255)
        return cv2.erode(bg, _ERODE, iterations=1)

    def update(self, frame: np.ndarray, confidence: np.ndarray) -> None:
        w, h = self.size_px
        # Linear, not area, resampling: 20x cheaper at non-integer scales, and the running
        # average removes the aliasing it lets through.
        small = frame if frame.shape[:2] == (h, w) else cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
        bg = self.background_mask(confidence)
        # Pixels seen before move towards the frame by `update`; new ones take it at once.
        cv2.accumulateWeighted(small, self._plate, self.options.update, mask=bg)
        new = cv2.bitwise_and(bg, cv2.bitwise_not(self._seen))
        if cv2.countNonZero(new):
            cv2.copyTo(small.astype(np.float32), new, self._plate)
            cv2.bitwise_or(self._seen, new, dst=self._seen)

    @property
    def coverage(self) -> float:
        """Fraction of the plate seen as background at least once."""
        return float(self._seen.mean()) / 255.0

    def image(self) -> np.ndarray:
        return _filled(self._plate, self._seen)

    def snapshot(self) -> PlateSnapshot:
        """A copy of the plate now (cheap); its ``image()`` does the fill, on another thread."""
        return PlateSnapshot(self._plate.copy(), self._seen.copy())

    def thumbnail(self, size_px: tuple[int, int] = (64, 36)) -> np.ndarray:
        """The plate as the stylizer sees it (unseen pixels filled), shrunk to ``size_px``:
        ``(h, w, 3)`` float32, for change checks.

        Each thumbnail pixel is the mean of the seen plate pixels it covers, and where it
        covers few or none, the push-pull estimate from its neighbours (the fill of
        :meth:`image`, done at thumbnail size: 0.15 ms more per check). So a strip of wall
        uncovered by a small movement changes the thumbnail only as far as it differs from
        the fill that stood in for it (it counted as a change from black before: 7 instead
        of 5 restyles in 10 s of a person sitting at a desk).
        """
        num = cv2.resize(self._plate, size_px, interpolation=cv2.INTER_AREA)
        den = cv2.resize(self._seen, size_px, interpolation=cv2.INTER_AREA).astype(np.float32) * (1.0 / 255.0)
        return _pull_push(num, den)  # float32


def _filled(plate: np.ndarray, seen: np.ndarray) -> np.ndarray:
    filled = plate if seen.min() == 255 else fill_unseen(plate, seen)
    return np.clip(filled + 0.5, 0, 255).astype(np.uint8)


class PlateSnapshot:
    """A frozen copy of a :class:`CleanPlate`; ``image()`` returns it as ``(h, w, 3)`` uint8
    BGR with unseen pixels filled (push-pull, ~4 ms at 512x288: done by the stylizer thread,
    off the frame loop)."""

    __slots__ = ("_plate", "_seen")

    def __init__(self, plate: np.ndarray, seen: np.ndarray):
        self._plate, self._seen = plate, seen

    def image(self) -> np.ndarray:
        return _filled(self._plate, self._seen)


class CrossFader:
    """Holds the restyled plate shown now and fades to a new one over ``frames`` frames.

    ``set(image, fade_frames)`` starts a fade to a ``(h, w, 3)`` uint8 BGR image (0 = cut).
    ``frame(size_px)`` advances one frame and returns the background upscaled to
    ``(width, height)``, cached while nothing changes.
    """

    def __init__(self):
        self._prev: np.ndarray | None = None
        self._next: np.ndarray | None = None
        self._step = 1.0
        self._t = 1.0
        self._cache: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        return self._next is not None

    def set(self, image: np.ndarray, fade_frames: int = 0) -> None:
        if self._next is None or fade_frames <= 0 or self._next.shape != image.shape:
            self._prev, self._t = None, 1.0
        else:
            self._prev = self._current_small()
            self._t = 0.0
            self._step = 1.0 / fade_frames
        self._next = image
        self._cache = None

    def _current_small(self) -> np.ndarray:
        if self._prev is None or self._t >= 1.0:
            return self._next
        return cv2.addWeighted(self._prev, 1.0 - self._t, self._next, self._t, 0.0)

    def frame(self, size_px: tuple[int, int]) -> np.ndarray:
        if self._next is None:
            raise RuntimeError("no restyled background yet")
        fading = self._prev is not None and self._t < 1.0
        if fading:
            self._t = min(1.0, self._t + self._step)
            small = self._current_small()
        elif self._cache is not None and self._cache.shape[1::-1] == tuple(size_px):
            return self._cache
        else:
            small = self._next
        full = small if small.shape[1::-1] == tuple(size_px) else cv2.resize(small, size_px, interpolation=cv2.INTER_LINEAR)
        if not fading or self._t >= 1.0:
            self._cache = full
            self._prev = None
        return full


_DILATE_HALF = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


def change_weight(new_plate: np.ndarray, old_plate: np.ndarray, low: float, high: float) -> np.ndarray:
    """Where a plate changed beyond noise: ``(h, w)`` float32 in [0, 1].

    The per-pixel largest channel difference, denoised, ramps from 0 at ``low`` to 1 at
    ``high`` levels, then grows and softens so that seams between old and new restyling are
    feathered. Both plates are ``(h, w, 3)`` uint8 BGR. Computed at half size (the result is
    smooth), then enlarged.
    """
    h, w = new_plate.shape[:2]
    d = cv2.absdiff(cv2.pyrDown(new_plate), cv2.pyrDown(old_plate))
    b, g, r = cv2.split(d)
    d = cv2.max(cv2.max(b, g), r).astype(np.float32)
    d = cv2.GaussianBlur(d, (0, 0), 0.75)
    d -= low
    d *= 1.0 / max(high - low, 1e-6)
    np.clip(d, 0.0, 1.0, out=d)
    d = cv2.dilate(d, _DILATE_HALF)
    d = cv2.GaussianBlur(d, (0, 0), 1.5)
    return cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR)


class LocalRefresh:
    """Keeps the restyled plate consistent with the plate it came from, replacing only what
    changed.

    The style transformer is not stable under small input changes (sensor noise of one level
    moves its output by about five, a one-pixel shift by eighteen), so restyling a whole plate
    whose background did not change would make it shimmer. ``apply(restyled, plate)`` blends
    a new restyling in only where ``plate`` differs from the plate behind what is shown now,
    and returns the ``(h, w, 3)`` uint8 BGR image to show. ``enabled=False`` replaces all.
    """

    def __init__(self, low: float = 4.0, high: float = 12.0, enabled: bool = True):
        self.low, self.high, self.enabled = low, high, enabled
        self._shown: np.ndarray | None = None
        self._plate: np.ndarray | None = None

    def reset(self) -> None:
        self._shown = self._plate = None

    @property
    def plate(self) -> np.ndarray | None:
        """The (unstyled) plate behind what is shown now, ``(h, w, 3)`` uint8 BGR."""
        return self._plate

    def apply(self, restyled: np.ndarray, plate: np.ndarray) -> np.ndarray:
        if not self.enabled or self._shown is None or self._shown.shape != restyled.shape:
            self._shown, self._plate = restyled, plate
            return restyled
        w = change_weight(plate, self._plate, self.low, self.high)
        self._shown = cv2.blendLinear(restyled, self._shown, w, 1.0 - w)
        self._plate = cv2.blendLinear(plate, self._plate, w, 1.0 - w)
        return self._shown

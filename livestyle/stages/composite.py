"""Composite stage: the live person over the restyled background.

Copies where the matte is certain, blends only in the edge band: inside the person the output
is the frame, far from the person it is the background, and only the few per cent of pixels
whose alpha is strictly between are computed (vectorized, no per-pixel Python).
"""

from __future__ import annotations

import cv2
import numpy as np


def check_same(frame: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> None:
    """Raises ValueError (expected vs actual) unless the three arrays fit together."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame: expected (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    if background.shape != frame.shape or background.dtype != np.uint8:
        raise ValueError(f"background: expected {frame.shape} uint8, got {background.shape} {background.dtype}")
    if alpha.shape != frame.shape[:2] or alpha.dtype != np.float32:
        raise ValueError(f"alpha: expected {frame.shape[:2]} float32, got {alpha.shape} {alpha.dtype}")


_PIXEL = np.dtype((np.void, 3))  # one BGR pixel as a single item, for fast gather and scatter


def _gather(image: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``(N, 3)`` float32: the pixels of an ``(H, W, 3)`` uint8 image at flat indices ``idx``."""
    return np.take(image.reshape(-1).view(_PIXEL), idx).view(np.uint8).reshape(-1, 3).astype(np.float32)


def _per_channel(values: np.ndarray) -> np.ndarray:
    """``(N,)`` float32 -> ``(N, 3)`` contiguous, the value repeated per channel: products with
    ``(N, 3)`` pixel arrays then run 8x faster than with an ``(N, 1)`` broadcast."""
    return cv2.merge([values, values, values]).reshape(-1, 3)


class AlphaCompositor:
    """``out = alpha * frame + (1 - alpha) * background``, with edge decontamination.

    ``composite(frame, background, alpha, original=None)``: ``(H, W, 3)`` uint8 BGR twice and
    ``(H, W)`` float32 alpha in [0, 1] (1 = person, kept from ``frame``); returns a new
    ``(H, W, 3)`` uint8 BGR image.

    The output starts as a copy of ``background``; pixels with ``alpha >= high`` are copied
    from ``frame``; only the edge band (``low <= alpha < high``, a few per cent of a frame) is
    blended. With the defaults (1/500 from either end) the copies are within one level of the
    exact blend, and a static 960x540 frame costs about a third of a full-frame blend.

    Edge pixels (0 < alpha < 1) mix the person with the *original* background; blended as they
    are, a bright wall shows as a light rim around the person. Given ``original``, an estimate
    of that background (the clean plate, ``(H, W, 3)`` uint8 BGR), its share is replaced by the
    new background: the foreground colour is F = (I - (1 - a) P) / a (alpha-matting
    compositing equation, Porter and Duff 1984; as in Smith and Blinn, "Blue screen matting",
    1996), and a F + (1 - a) B = I + (1 - a)(B - P). This form does not amplify errors in P. It
    is faded in over ``0 < a < ramp`` so that pure background stays exactly ``background``.

    The arrays are read, never written. Passing the very same ``background`` (and
    ``original``) object again with the same ``alpha`` means the same pixels: the band's
    constant part is then reused, and per frame only the frame's band pixels are read (a
    live matte carried over, a still restyled background).

    Raises:
        ValueError: shapes or dtypes do not fit (the message gives expected and actual).
    """

    def __init__(self, ramp: float = 0.3, low: float = 0.002, high: float = 0.998):
        self.ramp, self.low, self.high = ramp, low, high
        self._band: np.ndarray | None = None  # (H, W) uint8 scratch masks, reused per size
        self._person: np.ndarray | None = None
        self._alpha: np.ndarray | None = None  # the matte the band terms below belong to
        self._terms: tuple | None = None  # (idx, 1 - alpha, wgt, alpha + wgt, alpha), (N, 3) each
        self._const: tuple | None = None  # (background, original, band constant) for the matte

    def composite(
        self, frame: np.ndarray, background: np.ndarray, alpha: np.ndarray, original: np.ndarray | None = None
    ) -> np.ndarray:
        check_same(frame, background, alpha)
        if original is not None and (original.shape != frame.shape or original.dtype != np.uint8):
            raise ValueError(f"original: expected {frame.shape} uint8, got {original.shape} {original.dtype}")
        if alpha is not self._alpha:  # the same array again is a live matte carried over
            self._alpha, self._terms, self._const = alpha, self._band_terms(alpha), None
        out = background.copy()  # handed on to the sinks: a new array per frame
        cv2.copyTo(frame, self._person, out)
        if self._terms is None:
            return out
        idx, gain = self._terms[0], self._terms[3]
        if self._const is None or self._const[0] is not background or self._const[1] is not original:
            self._const = (background, original, self._band_const(background, original))
        # a F + (1 - a) B + w (I - P) = (a + w) I + [(1 - a) B - w P]: only I changes per frame
        res = _gather(frame, idx)
        res *= gain if original is not None else self._terms[4]
        res += self._const[2]
        np.clip(res, 0.0, 255.0, out=res)
        out.reshape(-1).view(_PIXEL)[idx] = res.astype(np.uint8).view(_PIXEL).reshape(-1)
        return out

    def _band_const(self, background: np.ndarray, original: np.ndarray | None) -> np.ndarray:
        """``(N, 3)`` float32: the per-frame constant part of the band's blend, ``(1 - a) B
        - w P + 0.5`` (rounding), for one matte, background and original."""
        idx, inv_a, wgt = self._terms[:3]
        const = _gather(background, idx)
        const *= inv_a
        if original is not None:
            const -= _gather(original, idx) * wgt
        const += 0.5
        return const

    def _band_terms(self, alpha: np.ndarray):
        """Fills the person mask; returns the edge band's flat indices ``idx``, its ``(N, 3)``
        ``1 - alpha``, decontamination weight ``wgt``, ``alpha + wgt`` and ``alpha``, or None
        for an empty band (computed once per matte, reused while a live matte is carried over)."""
        h, w = alpha.shape
        if self._band is None or self._band.shape != (h, w):
            self._band, self._person = np.empty((h, w), np.uint8), np.empty((h, w), np.uint8)
        cv2.compare(alpha, self.high, cv2.CMP_GE, dst=self._person)
        cv2.inRange(alpha, self.low, self.high, dst=self._band)
        pts = cv2.findNonZero(self._band)  # (N, 1, 2) int32 (x, y); cheaper than flatnonzero
        if pts is None:
            return None
        pts = pts.reshape(-1, 2)
        idx = pts[:, 1] * w + pts[:, 0]
        a = alpha.reshape(-1)[idx]
        wgt = np.clip(a * (1.0 / self.ramp), 0.0, 1.0)
        inv_a = 1.0 - a
        wgt = wgt * wgt * (3.0 - 2.0 * wgt) * inv_a
        return idx, _per_channel(inv_a), _per_channel(wgt), _per_channel(a + wgt), _per_channel(a)

"""Composite stage: the live person over the restyled background.

Vectorized uint8 blending (OpenCV ``blendLinear``); no per-pixel Python.
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


_PIXEL = np.dtype((np.void, 3))  # one BGR pixel as a single item, for fast scatter


class AlphaCompositor:
    """``out = alpha * frame + (1 - alpha) * background``, with edge decontamination.

    ``composite(frame, background, alpha, original=None)``: ``(H, W, 3)`` uint8 BGR twice and
    ``(H, W)`` float32 alpha in [0, 1] (1 = person, kept from ``frame``); returns ``(H, W, 3)``
    uint8 BGR.

    Edge pixels (0 < alpha < 1) mix the person with the *original* background; blended as they
    are, a bright wall shows as a light rim around the person. Given ``original``, an estimate
    of that background (the clean plate, ``(H, W, 3)`` uint8 BGR), its share is replaced by the
    new background: the foreground colour is F = (I - (1 - a) P) / a (alpha-matting
    compositing equation, Porter and Duff 1984; as in Smith and Blinn, "Blue screen matting",
    1996), and a F + (1 - a) B = I + (1 - a)(B - P). This form does not amplify errors in P. It
    is faded in over ``0 < a < ramp`` so that pure background stays exactly ``background``, and
    computed on the edge band's pixels only.

    Raises:
        ValueError: shapes or dtypes do not fit (the message gives expected and actual).
    """

    def __init__(self, ramp: float = 0.3):
        self.ramp = ramp

    def composite(
        self, frame: np.ndarray, background: np.ndarray, alpha: np.ndarray, original: np.ndarray | None = None
    ) -> np.ndarray:
        check_same(frame, background, alpha)
        out = cv2.blendLinear(frame, background, alpha, 1.0 - alpha)
        if original is None:
            return out
        if original.shape != frame.shape or original.dtype != np.uint8:
            raise ValueError(f"original: expected {frame.shape} uint8, got {original.shape} {original.dtype}")
        idx = np.flatnonzero((alpha > 0.002) & (alpha < 0.998))  # the edge band: a few % of pixels
        if idx.size == 0:
            return out
        a = alpha.reshape(-1)[idx]
        w = np.clip(a * (1.0 / self.ramp), 0.0, 1.0)
        w = (w * w * (3.0 - 2.0 * w) * (1.0 - a))[:, None]
        flat = out.reshape(-1, 3)
        diff = np.take(frame.reshape(-1, 3), idx, axis=0).astype(np.float32)
        diff -= np.take(original.reshape(-1, 3), idx, axis=0)
        fixed = np.clip(np.take(flat, idx, axis=0) + diff * w + 0.5, 0, 255).astype(np.uint8)
        flat.view(_PIXEL)[idx, 0] = fixed.view(_PIXEL)[:, 0]  # one 3-byte write per pixel
        return out

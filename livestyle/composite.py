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


class AlphaCompositor:
    """``out = alpha * frame + (1 - alpha) * background``.

    ``composite(frame, background, alpha)``: ``(H, W, 3)`` uint8 BGR twice and ``(H, W)``
    float32 alpha in [0, 1] (1 = person, kept from ``frame``); returns ``(H, W, 3)`` uint8 BGR.

    Raises:
        ValueError: shapes or dtypes do not fit (the message gives expected and actual).
    """

    def composite(self, frame: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        check_same(frame, background, alpha)
        return cv2.blendLinear(frame, background, alpha, 1.0 - alpha)

"""Light wrap: the new background's light spills a little onto the edge of the kept region,
which blends a person into a replaced (or restyled) background, as compositors do.

``out = composite * (1 - k) + blur(background) * k`` with ``k = strength * alpha *
blur(1 - alpha)``: non-zero only inside the kept region near its edge. Computed at a quarter of
the frame size and upscaled.
"""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.stages.composite import AlphaCompositor

WRAP_FRACTION = 0.02
"""Reach of the wrap, as a fraction of the frame's short side (Gaussian sigma)."""


class LightWrapCompositor(AlphaCompositor):
    """:class:`~livestyle.stages.composite.AlphaCompositor` plus light wrap.

    Args:
        strength: in [0, 1]; 0 is the plain alpha composite.
    """

    def __init__(self, strength: float = 0.5, scale: float = 0.25):
        super().__init__()
        self.strength = float(strength)
        self.scale = scale
        self._glow: tuple = (None, None)  # (background array, its blurred glow)

    def composite(
        self, frame: np.ndarray, background: np.ndarray, alpha: np.ndarray, original: np.ndarray | None = None
    ) -> np.ndarray:
        out = super().composite(frame, background, alpha, original)
        if self.strength <= 0.0:
            return out
        h, w = frame.shape[:2]
        sw, sh = max(8, round(w * self.scale)), max(8, round(h * self.scale))
        sigma = max(1.0, WRAP_FRACTION * min(sh, sw))
        a = cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_AREA)
        outside = cv2.GaussianBlur(1.0 - a, (0, 0), sigma)
        k = cv2.resize(a * outside * self.strength, (w, h), interpolation=cv2.INTER_LINEAR)
        if self._glow[0] is not background:  # a restyled plate or still image stays the same array
            small = cv2.resize(background, (sw, sh), interpolation=cv2.INTER_AREA)
            glow = cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma), (w, h), interpolation=cv2.INTER_LINEAR)
            self._glow = (background, glow)
        glow = self._glow[1]
        return cv2.blendLinear(out, glow, 1.0 - k, k)

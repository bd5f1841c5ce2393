"""``watercolor``: a watercolour look from OpenCV's edge-preserving ``stylization`` (Gastal and
Oliveira, SIGGRAPH 2011). A plate effect."""

from __future__ import annotations

import cv2
import numpy as np


class WatercolorEffect:
    """Watercolour look of a ``(h, w, 3)`` uint8 BGR image."""

    name = "watercolor"
    per_frame = False
    short_side_px = 432

    def __init__(self, sigma_s: float = 60.0, sigma_r: float = 0.45):
        self.sigma_s, self.sigma_r = sigma_s, sigma_r

    def stylize(self, image: np.ndarray) -> np.ndarray:
        return cv2.stylization(image, sigma_s=self.sigma_s, sigma_r=self.sigma_r)

    def close(self) -> None:
        pass


def make(config) -> WatercolorEffect:
    return WatercolorEffect()

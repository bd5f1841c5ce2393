"""``watercolor``: a watercolour look from OpenCV's edge-preserving ``stylization`` (Gastal and
Oliveira, SIGGRAPH 2011). A plate effect."""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.effects import PlateFilter


class WatercolorEffect(PlateFilter):
    """Watercolour look of a ``(h, w, 3)`` uint8 BGR image."""

    name = "watercolor"

    def __init__(self, sigma_s: float = 60.0, sigma_r: float = 0.45):
        self.sigma_s, self.sigma_r = sigma_s, sigma_r

    def stylize(self, image: np.ndarray) -> np.ndarray:
        return cv2.stylization(image, sigma_s=self.sigma_s, sigma_r=self.sigma_r)


def make(config) -> WatercolorEffect:
    return WatercolorEffect()

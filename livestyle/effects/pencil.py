"""``pencil``: a grey pencil sketch (OpenCV ``pencilSketch``, domain-transform based, Gastal and
Oliveira, SIGGRAPH 2011). A plate effect."""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.effects import PlateFilter


class PencilEffect(PlateFilter):
    """Pencil sketch of a ``(h, w, 3)`` uint8 BGR image; ``colour=True`` keeps a colour wash."""

    name = "pencil"

    def __init__(self, sigma_s: float = 60.0, sigma_r: float = 0.07, shade: float = 0.05, colour: bool = False):
        self.sigma_s, self.sigma_r, self.shade, self.colour = sigma_s, sigma_r, shade, colour

    def stylize(self, image: np.ndarray) -> np.ndarray:
        grey, colour = cv2.pencilSketch(image, sigma_s=self.sigma_s, sigma_r=self.sigma_r, shade_factor=self.shade)
        return colour if self.colour else cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def make(config) -> PencilEffect:
    return PencilEffect()

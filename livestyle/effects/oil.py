"""``oil``: oil painting (OpenCV contrib ``xphoto.oilPainting``: each pixel takes the most
frequent intensity's mean colour in its neighbourhood). A plate effect."""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.effects import PlateFilter


class OilEffect(PlateFilter):
    """Oil painting of a ``(h, w, 3)`` uint8 BGR image; ``size`` is the brush neighbourhood in
    plate pixels, ``dyn_ratio`` divides the intensity levels (higher = flatter)."""

    name = "oil"

    def __init__(self, size: int = 9, dyn_ratio: int = 1):
        self.size, self.dyn_ratio = size, dyn_ratio

    def stylize(self, image: np.ndarray) -> np.ndarray:
        return cv2.xphoto.oilPainting(image, self.size, self.dyn_ratio)


def make(config) -> OilEffect:
    return OilEffect()

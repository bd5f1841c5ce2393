"""Quality measures of a restyled video against its input (used by the pipeline tests).

All images are ``(H, W, 3)`` uint8 BGR; masks ``(H, W)`` float32 person confidence from the
selfie model, upscaled to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))


def person_region(mask: np.ndarray) -> np.ndarray:
    """Confident person pixels (confidence > 0.8), eroded by 7 px: bool (H, W)."""
    return cv2.erode((mask > 0.8).astype(np.uint8), _KERNEL) > 0


def background_region(mask: np.ndarray) -> np.ndarray:
    """Clear background pixels (confidence < 0.2), eroded by 7 px: bool (H, W)."""
    return cv2.erode((mask < 0.2).astype(np.uint8), _KERNEL) > 0


def mean_abs(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    d = cv2.absdiff(a, b).mean(axis=2)
    return float(d[where].mean()) if where.any() else 0.0


@dataclass
class VideoMetrics:
    person_diff: list[float] = field(default_factory=list)
    background_diff: list[float] = field(default_factory=list)
    flicker_in: list[float] = field(default_factory=list)
    flicker_out: list[float] = field(default_factory=list)

    @property
    def flicker_ratio(self) -> float:
        return float(np.mean(self.flicker_out) / max(np.mean(self.flicker_in), 1e-9))


def measure(inputs, outputs, masks) -> VideoMetrics:
    """Person kept, background restyled, flicker added, over aligned frame sequences.

    Flicker: over pixels that are background (confidence < 0.5) in two consecutive input
    frames, the mean frame-to-frame change of the output against that of the input.
    """
    m = VideoMetrics()
    prev = None
    for a, b, mask in zip(inputs, outputs, masks):
        m.person_diff.append(mean_abs(a, b, person_region(mask)))
        m.background_diff.append(mean_abs(a, b, background_region(mask)))
        bg = mask < 0.5
        if prev is not None:
            pa, pb, pbg = prev
            both = bg & pbg
            m.flicker_in.append(mean_abs(a, pa, both))
            m.flicker_out.append(mean_abs(b, pb, both))
        prev = (a, b, bg)
    return m

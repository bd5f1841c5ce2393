"""``none``: no effect; frames pass through unchanged. A per-frame effect."""

from __future__ import annotations

import numpy as np


class NoEffect:
    """``render(frame, alpha)`` returns ``frame`` itself (no copy)."""

    name = "none"
    per_frame = True

    def render(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        return frame

    def close(self) -> None:
        pass


def make(config) -> NoEffect:
    return NoEffect()

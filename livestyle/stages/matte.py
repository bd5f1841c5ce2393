"""Refine matte stage: a soft person segmentation mask -> the alpha matte at frame size.

:class:`MaskRefiner` upscales the mask, smooths it over time (exponential moving average),
ramps it smoothly between ``low`` and ``high`` confidence, refines its edges guided by the frame
(guided filter, He et al. ECCV 2010, or a joint bilateral filter) and feathers it.
"""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.config import MaskOptions
from livestyle.protocols import RunningMode


def smoothstep(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Hermite ramp from 0 at ``low`` to 1 at ``high``; float32 in, float32 out (in place)."""
    x -= low
    x *= 1.0 / max(high - low, 1e-6)
    np.clip(x, 0.0, 1.0, out=x)
    return x * x * (3.0 - 2.0 * x)


class MaskRefiner:
    """Model mask -> alpha matte at frame size.

    Args:
        options: :class:`~livestyle.config.MaskOptions`.
        mode: in ``IMAGE`` mode there is no temporal smoothing.

    ``refine(mask, frame)`` takes the model's ``(h, w)`` float32 mask and the ``(H, W, 3)``
    uint8 BGR frame and returns ``(H, W)`` float32 alpha in [0, 1] (1 = person).
    ``reset()`` forgets the temporal state (use it at a scene cut or a new source).
    """

    def __init__(self, options: MaskOptions | None = None, mode: RunningMode = RunningMode.VIDEO):
        self.options = options or MaskOptions()
        self.mode = mode
        self._ema: np.ndarray | None = None

    def reset(self) -> None:
        self._ema = None

    @property
    def last_confidence(self) -> np.ndarray | None:
        """The smoothed confidence of the last :meth:`refine` call, at the working size."""
        return self._ema

    def working_size(self, frame_shape) -> tuple[int, int]:
        """(width, height) at which the mask is smoothed and refined."""
        h, w = frame_shape[:2]
        s = self.options.refine_scale
        return max(1, round(w * s)), max(1, round(h * s))

    def confidence(self, mask: np.ndarray, frame_shape) -> np.ndarray:
        """Temporally smoothed confidence at the working size, ``(h, w)`` float32."""
        ws = self.working_size(frame_shape)
        up = cv2.resize(mask, ws, interpolation=cv2.INTER_LINEAR)
        a = self.options.ema
        if self.mode is RunningMode.IMAGE or self._ema is None or self._ema.shape != up.shape or a >= 1.0:
            self._ema = up
        else:
            # ema += a * (up - ema), without temporaries beyond one
            cv2.addWeighted(up, a, self._ema, 1.0 - a, 0.0, dst=self._ema)
        return self._ema

    def refine(self, mask: np.ndarray, frame: np.ndarray) -> np.ndarray:
        o = self.options
        conf = self.confidence(mask, frame.shape)
        ws = (conf.shape[1], conf.shape[0])
        full = (frame.shape[1], frame.shape[0])
        # Edge refinement first, on the smoothed confidence: the filter moves the soft edge
        # onto the frame's edge; the ramp afterwards makes it narrow.
        if o.refine != "none":
            guide = frame if ws == full else cv2.resize(frame, ws, interpolation=cv2.INTER_AREA)
            if o.refine_guide == "gray":
                guide = cv2.cvtColor(guide, cv2.COLOR_BGR2GRAY)
            r = max(1, round(o.refine_radius_px))
            if o.refine == "guided":
                alpha = cv2.ximgproc.guidedFilter(guide, conf, r, o.refine_eps * 255.0 * 255.0)
            else:
                alpha = cv2.ximgproc.jointBilateralFilter(guide.astype(np.float32), conf, 2 * r + 1, 25.0, r)
        else:
            alpha = conf.copy()
        alpha = smoothstep(alpha, o.low, o.high)
        if o.feather_px > 0:  # at the working size: the same blur in frame pixels, cheaper
            alpha = cv2.GaussianBlur(alpha, (0, 0), max(o.feather_px * ws[0] / full[0], 0.3))
        if ws != full:
            alpha = cv2.resize(alpha, full, interpolation=cv2.INTER_LINEAR)
        return alpha

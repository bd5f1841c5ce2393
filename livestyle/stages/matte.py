"""Refine matte stage: a soft person segmentation mask -> the alpha matte at frame size.

:class:`MaskRefiner` upscales the mask, smooths it over time (exponential moving average),
ramps it smoothly between ``low`` and ``high`` confidence, refines its edges guided by the frame
(guided filter, He et al. ECCV 2010, in its fast form: He and Sun, "Fast Guided Filter",
arXiv:1505.00996, 2015; or a joint bilateral filter) and feathers it.
"""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.config import MaskOptions
from livestyle.protocols import RunningMode


def guided_filter(guide: np.ndarray, src: np.ndarray, radius_px: int, eps: float, subsample: int = 1) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` that follows the edges of ``guide`` (He et al.,
    "Guided Image Filtering", ECCV 2010), with the fast form's subsampling (He and Sun 2015):
    the linear coefficients are fitted at ``1/subsample`` of the size and applied at full size.

    Args:
        guide: ``(H, W)`` uint8 or float32 gray image, intensities in 0..255.
        src: ``(H, W)`` float32 (here: person confidence in [0, 1]).
        radius_px: window radius at full size.
        eps: regularisation on 0..255 intensities, squared (larger = smoother).
        subsample: 1 = exact; 2 costs about a third and differs by about 0.01 in the edge band.

    Returns:
        ``(H, W)`` float32.
    """
    h, w = src.shape
    full = guide.astype(np.float32) if guide.dtype != np.float32 else guide
    if subsample > 1:
        size = (max(1, w // subsample), max(1, h // subsample))
        g = cv2.resize(full, size, interpolation=cv2.INTER_AREA)
        p = cv2.resize(src, size, interpolation=cv2.INTER_AREA)
        radius_px = max(1, round(radius_px / subsample))
    else:
        g, p = full, src
    k = (2 * radius_px + 1, 2 * radius_px + 1)
    mean_g = cv2.boxFilter(g, -1, k)
    mean_p = cv2.boxFilter(p, -1, k)
    cov = cv2.boxFilter(g * p, -1, k)
    cov -= mean_g * mean_p
    var = cv2.boxFilter(g * g, -1, k)
    var -= mean_g * mean_g
    var += eps
    a = cov
    a /= var
    b = mean_p
    b -= a * mean_g
    a = cv2.boxFilter(a, -1, k)
    b = cv2.boxFilter(b, -1, k)
    if subsample > 1:
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
        b = cv2.resize(b, (w, h), interpolation=cv2.INTER_LINEAR)
    a *= full
    a += b
    return a


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

    ``refine(mask, frame, reduced=None)`` takes the model's ``(h, w)`` float32 mask and the
    ``(H, W, 3)`` uint8 BGR frame (and optionally :meth:`reduce` of it) and returns ``(H, W)``
    float32 alpha in [0, 1] (1 = person).
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

    def reduce(self, frame: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The frame at the working size (area-averaged), ``(h, w, 3)`` uint8 BGR: the guide
        of :meth:`refine`; pass it to ``refine(..., reduced=)`` so it is made once per frame
        (``out``: a buffer of that shape to write it into)."""
        ws = self.working_size(frame.shape)
        if ws == (frame.shape[1], frame.shape[0]):
            return frame
        if out is None or out.shape[:2] != (ws[1], ws[0]):
            return cv2.resize(frame, ws, interpolation=cv2.INTER_AREA)
        return cv2.resize(frame, ws, dst=out, interpolation=cv2.INTER_AREA)

    def refine(self, mask: np.ndarray, frame: np.ndarray, reduced: np.ndarray | None = None) -> np.ndarray:
        """``reduced``: :meth:`reduce` of ``frame``, if the caller has it."""
        o = self.options
        conf = self.confidence(mask, frame.shape)
        ws = (conf.shape[1], conf.shape[0])
        full = (frame.shape[1], frame.shape[0])
        # Edge refinement first, on the smoothed confidence: the filter moves the soft edge
        # onto the frame's edge; the ramp afterwards makes it narrow.
        if o.refine != "none":
            if reduced is not None and reduced.shape[1::-1] == ws:
                guide = reduced
            else:
                guide = frame if ws == full else cv2.resize(frame, ws, interpolation=cv2.INTER_AREA)
            if o.refine_guide == "gray":
                guide = cv2.cvtColor(guide, cv2.COLOR_BGR2GRAY)
            r = max(1, round(o.refine_radius_px))
            if o.refine == "guided":
                eps = o.refine_eps * 255.0 * 255.0
                if guide.ndim == 3:  # a colour guide: OpenCV's filter (3x3 covariance per window)
                    alpha = cv2.ximgproc.guidedFilter(guide, conf, r, eps)
                else:
                    alpha = guided_filter(guide, conf, r, eps, o.refine_subsample)
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

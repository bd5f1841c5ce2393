"""``blur``: halo-free background blur. A per-frame effect.

A plain Gaussian blur of the frame smears the person into the background around them, so a
dark person gets a dark halo on a bright wall. Here the blur is a *normalized convolution*
(Knutsson and Westin, CVPR 1993), as Google Meet's and Volcomix's virtual backgrounds do::

    blurred = G * (frame . w) / G * w,   w = background weight (1 - alpha, eroded)

so every output pixel is a weighted mean of background pixels only. Pixels far inside the person,
where no background pixel is within reach of the kernel, are filled from a coarser, wider
normalized convolution (the compositor hides them anyway).

It runs at reduced resolution: the frame is downscaled so that the Gaussian is only
:data:`SMALL_SIGMA_PX` pixels wide there, blurred, and upscaled bilinearly, which is smooth
because the content is already blurred. A few milliseconds at 1280x720.
"""

from __future__ import annotations

import cv2
import numpy as np

SMALL_SIGMA_PX = 3.0
"""Gaussian sigma at the working resolution, in working pixels (at most)."""
MAX_WORKING_SHORT_SIDE_PX = 180
"""The working resolution's short side never exceeds this (a weak blur stays cheap)."""
SIGMA_PER_STRENGTH = 0.06
"""Sigma at full resolution, as a fraction of the frame's short side, at strength 1."""
_ERODE = np.ones((3, 3), np.uint8)


class BlurEffect:
    """Mask-weighted Gaussian blur of the frame.

    Args:
        strength: in (0, 1]; sigma = ``strength * 0.06 * short side`` of the frame (0.5 at
            1280x720 gives sigma 21.6 px).

    ``render(frame, alpha)``: ``(H, W, 3)`` uint8 BGR and ``(H, W)`` float32 keep-matte (1 =
    kept, contributes nothing to the blur) -> ``(H, W, 3)`` uint8 BGR blurred layer.
    """

    name = "blur"
    per_frame = True

    def __init__(self, strength: float = 0.5):
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"blur strength must be in (0, 1], got {strength}")
        self.strength = float(strength)

    def sigma_px(self, height_px: int, width_px: int) -> float:
        """The Gaussian sigma at full resolution, in pixels."""
        return max(0.5, SIGMA_PER_STRENGTH * self.strength * min(height_px, width_px))

    def factor(self, height_px: int, width_px: int) -> int:
        """The integer downscale factor of the working resolution (an integer ratio keeps
        OpenCV's area resize on its fast path)."""
        scale = min(1.0, SMALL_SIGMA_PX / self.sigma_px(height_px, width_px), MAX_WORKING_SHORT_SIDE_PX / min(height_px, width_px))
        k = max(1, int(np.ceil(1.0 / scale - 1e-6)))
        while k > 1 and min(height_px, width_px) // k < 8:
            k -= 1
        return k

    def working_size(self, height_px: int, width_px: int) -> tuple[int, int]:
        """``(width, height)`` at which the blur is computed."""
        k = self.factor(height_px, width_px)
        return width_px // k, height_px // k

    def render(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        k = self.factor(h, w)
        sw, sh = w // k, h // k
        # the few rows and columns past a multiple of k are left out of the measurement; the
        # result is stretched back over them (a sub-k-pixel shift of an already blurred image)
        small = cv2.resize(frame[: sh * k, : sw * k], (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
        keep = cv2.resize(alpha[: sh * k, : sw * k], (sw, sh), interpolation=cv2.INTER_AREA)
        sigma = self.sigma_px(h, w) / k
        # Background weight: 1 - alpha, eroded one working pixel so a pixel that straddles the
        # person's edge (part person colour) gets no weight, and squared to favour clean pixels.
        weight = cv2.erode(np.clip(1.0 - keep, 0.0, 1.0), _ERODE)
        weight *= weight
        num = cv2.GaussianBlur(small * weight[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(weight, (0, 0), sigma)
        est = num / np.maximum(den, 1e-6)[..., None]
        known = np.clip(den * 4.0, 0.0, 1.0)
        if float(known.min()) < 1.0:
            est = cv2.blendLinear(est, _coarse_fill(num, den, small, weight), known, 1.0 - known)
        out = np.clip(est + 0.5, 0, 255).astype(np.uint8)
        return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)

    def close(self) -> None:
        pass


def _coarse_fill(num: np.ndarray, den: np.ndarray, small: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Background colour for pixels the blur kernel cannot reach (far inside the person): the
    same normalized convolution at 1/8 of the working size with a kernel a quarter of the image
    wide, and the mean background colour where even that finds nothing. ``(h, w, 3)`` float32."""
    sh, sw = den.shape
    cw, ch = max(2, sw // 8), max(2, sh // 8)
    cn = cv2.resize(num, (cw, ch), interpolation=cv2.INTER_AREA)
    cd = cv2.resize(den, (cw, ch), interpolation=cv2.INTER_AREA)
    sigma = max(cw, ch) / 4.0
    cn, cd = cv2.GaussianBlur(cn, (0, 0), sigma), cv2.GaussianBlur(cd, (0, 0), sigma)
    total = float(weight.sum())
    mean = (small * weight[..., None]).reshape(-1, 3).sum(axis=0) / total if total > 1e-6 else small.reshape(-1, 3).mean(axis=0)
    a = np.clip(cd * 16.0, 0.0, 1.0)[..., None]
    coarse = cn / np.maximum(cd, 1e-6)[..., None] * a + mean.astype(np.float32) * (1.0 - a)
    return cv2.resize(coarse.astype(np.float32), (sw, sh), interpolation=cv2.INTER_LINEAR)


def naive_blur(frame: np.ndarray, sigma_px: float) -> np.ndarray:
    """The plain Gaussian blur of the whole frame (with the halo), for comparison."""
    return cv2.GaussianBlur(frame, (0, 0), sigma_px)


def make(config) -> BlurEffect:
    return BlurEffect(config.effect.blur_strength)

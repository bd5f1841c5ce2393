"""``replace``: a new background from an image or a looping video. A per-frame effect.

The background is fitted to the frame with :data:`FITS`: ``cover`` (scale to fill, crop the
overflow, centred; the default), ``contain`` (scale to fit inside, black bars) or ``stretch``
(ignore the aspect). A still image is fitted once per frame size; a video is decoded one frame
per output frame and starts again from its first frame when it ends. Light wrapping at the
person's edge is :class:`livestyle.effects.lightwrap.LightWrapCompositor` (``--light-wrap``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livestyle.errors import InputError

FITS = ("cover", "contain", "stretch")
"""How the background fills the frame."""


def check_fit(fit: str) -> str:
    """Raises:
    InputError: ``fit`` is not one of :data:`FITS` (the message lists them).
    """
    if fit not in FITS:
        raise InputError(f"unknown fit {fit!r}; choose one of: {', '.join(FITS)}")
    return fit


def fit_image(image: np.ndarray, size_px: tuple[int, int], fit: str = "cover") -> np.ndarray:
    """Fit ``image`` ``(h, w, 3)`` uint8 into ``size_px`` ``(width, height)`` with ``fit``.

    Returns ``(height, width, 3)`` uint8.

    Raises:
        InputError: unknown ``fit``.
    """
    check_fit(fit)
    w, h = size_px
    ih, iw = image.shape[:2]
    if (iw, ih) == (w, h):
        return image
    if fit == "stretch":
        interp = cv2.INTER_AREA if iw * ih > w * h else cv2.INTER_LINEAR
        return cv2.resize(image, (w, h), interpolation=interp)
    s = max(w / iw, h / ih) if fit == "cover" else min(w / iw, h / ih)
    nw, nh = max(1, round(iw * s)), max(1, round(ih * s))
    if fit == "cover":
        nw, nh = max(nw, w), max(nh, h)
    r = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    if fit == "cover":
        y, x = (nh - h) // 2, (nw - w) // 2
        return r[y : y + h, x : x + w]
    out = np.zeros((h, w, 3), np.uint8)
    nw, nh = min(nw, w), min(nh, h)
    y, x = (h - nh) // 2, (w - nw) // 2
    out[y : y + nh, x : x + nw] = r[:nh, :nw]
    return out


class ReplaceEffect:
    """Replaces the background with an image or a looping video.

    Args:
        path: image or video file.
        fit: one of :data:`FITS`.

    ``render(frame, alpha)`` returns the next background frame fitted to the frame's size,
    ``(H, W, 3)`` uint8 BGR (``alpha`` is not used).

    Raises:
        InputError: no path, the file is missing or unreadable, or an unknown fit.
    """

    name = "replace"
    per_frame = True

    def __init__(self, path: str | Path | None, fit: str = "cover"):
        from livestyle.io.sources import is_image_path, open_source
        from livestyle.stages.stylize import read_image

        if not path:
            raise InputError("effect 'replace' needs a background: pass --background IMAGE_OR_VIDEO")
        self.path = Path(path)
        self.fit = check_fit(fit)
        self._image: np.ndarray | None = None
        self._video = None
        self._frames = None
        self._cache: np.ndarray | None = None
        if is_image_path(self.path):
            self._image = read_image(self.path, "background image")
        else:
            self._video = open_source(self.path)
        self.loops = 0

    def next_image(self) -> np.ndarray:
        """The next background frame as decoded (a video loops), ``(h, w, 3)`` uint8 BGR."""
        if self._image is not None:
            return self._image
        if self._frames is None:
            self._frames = iter(self._video)
        frame = next(self._frames, None)
        if frame is None:  # the end: loop
            self.loops += 1
            self._frames = iter(self._video)
            frame = next(self._frames)
        return frame.image

    def render(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        size = (frame.shape[1], frame.shape[0])
        if self._image is not None and self._cache is not None and self._cache.shape[:2] == frame.shape[:2]:
            return self._cache
        out = fit_image(self.next_image(), size, self.fit)
        if self._image is not None:
            self._cache = out
        return out

    def close(self) -> None:
        if self._video is not None:
            self._video.close()
        self._frames = None


def make(config) -> ReplaceEffect:
    return ReplaceEffect(config.effect.background, config.effect.fit)

"""The panel's preview: a pipeline sink that keeps the newest output frame, and its JPEG.

The frame loop only hands over a reference (:meth:`PreviewFeed.write`, no copy, no
encoding); the server thread encodes the newest frame when a client asks for one
(:meth:`PreviewFeed.jpeg`): downscaled to at most :attr:`PreviewFeed.max_width_px` wide with
``INTER_AREA``, optionally as the mask (the alpha matte the frame loop put in
``frame.meta["alpha"]``) and mirrored, JPEG quality :attr:`PreviewFeed.quality`. One encoding
per frame serves every client.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from livestyle.protocols import Frame


def mask_image(frame: Frame) -> np.ndarray:
    """The alpha matte of ``frame`` as ``(H, W, 3)`` uint8 BGR grey (person white), or the
    frame itself when it carries none."""
    alpha = frame.meta.get("alpha")
    if alpha is None:
        return frame.image
    a = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
    h, w = frame.image.shape[:2]
    if a.shape[:2] != (h, w):
        a = cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)


class PreviewFeed:
    """Sink holding the newest output frame (see the module docstring).

    Args:
        max_width_px: widest JPEG sent, pixels.
        quality: JPEG quality (0-100).

    Attributes:
        mask_view: encode the matte instead of the picture.
        mirror: flip left-right (as the virtual camera and the window show it).
    """

    def __init__(self, max_width_px: int = 640, quality: int = 72):
        self.max_width_px = max_width_px
        self.quality = quality
        self.mask_view = False
        self.mirror = False
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._seq = 0
        self._cache: tuple | None = None  # (key, jpeg bytes)
        self.closed = False
        self.encoded = 0

    # -- pipeline writer thread ---------------------------------------------------------------
    def write(self, frame: Frame) -> None:
        """Keep ``frame`` as the newest (returns at once)."""
        with self._lock:
            self._frame = frame
            self._seq += 1

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    # -- server thread ----------------------------------------------------------------------
    def latest(self) -> tuple[int, Frame | None]:
        """``(sequence number, newest frame)``; the number grows by one per frame written."""
        with self._lock:
            return self._seq, self._frame

    def picture(self, frame: Frame) -> np.ndarray:
        """What the preview shows for ``frame`` at full size: picture or mask, mirrored."""
        image = mask_image(frame) if self.mask_view else frame.image
        return cv2.flip(image, 1) if self.mirror else image

    def jpeg(self) -> tuple[int, bytes | None]:
        """``(sequence number, JPEG bytes)`` of the newest frame, encoded once per frame and
        view; ``(0, None)`` before the first frame."""
        seq, frame = self.latest()
        if frame is None:
            return 0, None
        key = (seq, self.mask_view, self.mirror)
        cache = self._cache
        if cache is not None and cache[0] == key:
            return seq, cache[1]
        image = self.picture(frame)
        h, w = image.shape[:2]
        if w > self.max_width_px:
            size = (self.max_width_px, max(2, round(h * self.max_width_px / w)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return seq, None
        out = data.tobytes()
        self._cache = (key, out)
        self.encoded += 1
        return seq, out

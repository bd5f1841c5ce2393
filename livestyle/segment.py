"""Segment stage: person segmentation mask -> refined alpha matte.

* :class:`SelfieSegmenter` runs MediaPipe selfie segmentation (model card:
  https://storage.googleapis.com/mediapipe-assets/Model%20Card%20MediaPipe%20Selfie%20Segmentation.pdf)
  with ai-edge-litert, without a MediaPipe graph. ``general`` takes 256x256 RGB, ``landscape``
  144x256; both return a soft confidence mask (1 = person).
* :class:`MaskRefiner` turns that mask into an alpha matte at frame size: upscale, temporal
  exponential moving average, a smooth ramp between ``low`` and ``high`` confidence, edge
  refinement guided by the frame (guided filter, He et al. ECCV 2010, or a joint bilateral
  filter), and a small Gaussian feather.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np
import cv2

from livestyle.config import MaskOptions, SegmenterOptions
from livestyle.errors import ModelError
from livestyle.protocols import Closing, RunningMode

SELFIE_MODELS = {"general": "selfie_general", "landscape": "selfie_landscape"}


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence the runtime's native "INFO: Created TensorFlow Lite XNNPACK delegate" line,
    which has no switch (tensorflow#58050), by pointing fd 2 at /dev/null for the call."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_litert(path, threads: int):
    """Open a TFLite model with ai-edge-litert and allocate its tensors.

    Raises:
        ModelError: the runtime cannot load the file.
    """
    from ai_edge_litert.interpreter import Interpreter

    try:
        with _quiet_native_stderr():
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise ModelError(f"{path}: ai-edge-litert cannot load this model ({err})") from None
    return interpreter


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

    Raises:
        ModelError: the model file is missing, corrupt or cannot be loaded.
    """

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

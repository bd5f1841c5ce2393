"""DeepLabV3 segmentation of PASCAL VOC classes, and the seed tutorial's hard (binarized) mask.

* :class:`DeepLabSegmenter` runs the official DeepLabV3 (MobileNetV2) TFLite model (Chen et al.,
  "Rethinking atrous convolution for semantic image segmentation", arXiv:1706.05587; TF Hub
  ``tensorflow/lite-model/deeplabv3/1/metadata/2``) on ai-edge-litert. Input ``[1, 257, 257, 3]``
  float32 RGB normalised as the model's metadata says (mean 127.5, std 127.5, so [-1, 1]);
  output ``[1, 257, 257, 21]`` logits over the 21 PASCAL VOC classes. The confidence it returns
  is the softmax probability summed over the chosen classes, so ``classes=("person", "car")``
  keeps people *and* cars out of the effect, as in the seed tutorial's car example. DeepLab's
  probabilities are far less saturated inside objects than the selfie model's (0.6-0.9 over a
  monitor), so that the matte's ramp (tuned on the selfie model) keeps whole objects, the
  chosen-vs-rest odds are sharpened: ``p^s / (p^s + (1 - p)^s)`` with ``sharpness`` s = 2 (a
  temperature of 1/2 on the log-odds; the 0.5 decision boundary does not move).
* :class:`HardMaskRefiner` gives the seed's binarized mask: the confidence resized to the frame,
  Gaussian-blurred, then thresholded with Otsu's method (``--mask hard``).
"""

from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from livestyle import registry
from livestyle.config import MaskOptions
from livestyle.errors import InputError
from livestyle.protocols import Closing, RunningMode
from livestyle.models.runtime import load_litert
from livestyle.stages.matte import MaskRefiner

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tv",
)
"""The 21 PASCAL VOC class names, in the model's output order (index 15 = person)."""

_ALIASES = {
    "airplane": "aeroplane", "plane": "aeroplane", "motorcycle": "motorbike", "tvmonitor": "tv",
    "monitor": "tv", "table": "diningtable", "plant": "pottedplant", "people": "person",
}

DEEPLAB_MODEL = "deeplabv3"
INPUT_MEAN = 127.5
INPUT_STD = 127.5


def class_index(name: str) -> int:
    """Index of a PASCAL VOC class name (case, spaces, ``_`` and ``-`` ignored; a few aliases).

    Raises:
        InputError: unknown name; the message lists the valid ones.
    """
    key = "".join(ch for ch in str(name).lower() if ch not in " _-")
    key = _ALIASES.get(key, key)
    try:
        return VOC_CLASSES.index(key)
    except ValueError:
        raise InputError(f"unknown DeepLab class {name!r}; choose from: {', '.join(VOC_CLASSES)}") from None


def parse_classes(classes: str | Iterable[str]) -> tuple[str, ...]:
    """``"person,car"`` or ``["person", "car"]`` -> canonical names, in order, without repeats.

    Raises:
        InputError: empty, or a name is not a PASCAL VOC class (the message lists them).
    """
    items = classes.split(",") if isinstance(classes, str) else list(classes)
    names: list[str] = []
    for item in items:
        if not str(item).strip():
            continue
        name = VOC_CLASSES[class_index(item)]
        if name not in names:
            names.append(name)
    if not names:
        raise InputError(f"no DeepLab class given; choose from: {', '.join(VOC_CLASSES)}")
    return tuple(names)


registry.register("segment_classes", parse_classes)


class DeepLabSegmenter(Closing):
    """DeepLabV3 on ai-edge-litert, as a :class:`~livestyle.protocols.Segmenter`.

    Args:
        classes: PASCAL VOC class names kept out of the effect (default: person).
        threads: interpreter threads.
        sharpness: exponent on the chosen-vs-rest odds (1 = the plain softmax probability).

    ``segment(image)`` takes ``(H, W, 3)`` uint8 BGR and returns ``(257, 257)`` float32 in
    [0, 1]: the softmax probability of the chosen classes (1 = keep). The frame is resized to
    257x257 without keeping its aspect (the refiner resizes the mask back the same way).

    Raises:
        InputError: a class name is not a PASCAL VOC class.
        ModelError: the model file is missing, corrupt or cannot be loaded.
    """

    def __init__(self, classes: Iterable[str] | str = ("person",), threads: int = 1, sharpness: float = 2.0):
        from livestyle.models import model_path

        self.classes = parse_classes(classes)
        self.sharpness = float(sharpness)
        self.class_indices = [VOC_CLASSES.index(c) for c in self.classes]
        self._interpreter = load_litert(model_path(DEEPLAB_MODEL), threads)
        inp = self._interpreter.get_input_details()[0]
        out = self._interpreter.get_output_details()[0]
        self._in_index, self._out_index = inp["index"], out["index"]
        self.input_size_px = (int(inp["shape"][1]), int(inp["shape"][2]))  # (height, width)
        self.num_classes = int(out["shape"][-1])
        h, w = self.input_size_px
        self._x = np.empty((1, h, w, 3), np.float32)

    def logits(self, image: np.ndarray) -> np.ndarray:
        """The model's raw ``(257, 257, 21)`` float32 class logits for a BGR image."""
        h, w = self.input_size_px
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        np.subtract(rgb, INPUT_MEAN, out=self._x[0], dtype=np.float32)
        self._x *= 1.0 / INPUT_STD
        self._interpreter.set_tensor(self._in_index, self._x)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._out_index)[0]

    def _chosen_rest(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = self.logits(image)
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        chosen = e[..., self.class_indices].sum(axis=-1)
        return chosen, np.maximum(e.sum(axis=-1) - chosen, 0.0)

    def segment(self, image: np.ndarray) -> np.ndarray:
        chosen, rest = self._chosen_rest(image)
        if self.sharpness != 1.0:
            chosen, rest = chosen**self.sharpness, rest**self.sharpness
        return np.clip(chosen / np.maximum(chosen + rest, 1e-30), 0.0, 1.0).astype(np.float32)

    def labels(self, image: np.ndarray) -> np.ndarray:
        """``(257, 257)`` uint8 arg-max class index per pixel."""
        return self.logits(image).argmax(axis=-1).astype(np.uint8)

    def close(self) -> None:
        self._interpreter = None


def hard_mask(confidence: np.ndarray, size_px: tuple[int, int], blur_px: int = 5) -> np.ndarray:
    """The seed's binarized mask: resize to ``size_px`` ``(width, height)``, Gaussian blur,
    Otsu threshold. ``confidence`` is ``(h, w)`` float32 in [0, 1]; returns ``(H, W)`` float32
    of 0 and 1. Otsu's threshold is kept within [0.125, 0.875] so an empty or full mask stays
    empty or full instead of splitting its noise."""
    up = cv2.resize(confidence, size_px, interpolation=cv2.INTER_LINEAR)
    u8 = np.clip(up * 255.0 + 0.5, 0, 255).astype(np.uint8)
    k = max(1, int(blur_px)) | 1
    u8 = cv2.GaussianBlur(u8, (k, k), 0)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    t = min(max(t, 32.0), 223.0)
    _, binary = cv2.threshold(u8, t, 1.0, cv2.THRESH_BINARY)
    return binary.astype(np.float32)


class HardMaskRefiner(MaskRefiner):
    """``--mask hard``: the seed's binarized mask instead of a soft matte.

    Same interface as :class:`~livestyle.stages.matte.MaskRefiner` (``refine(mask, frame)`` ->
    ``(H, W)`` float32 alpha, here only 0 and 1; ``last_confidence`` for the clean plate). The
    temporal moving average of the options still applies before thresholding in video and live
    mode, so the mask does not flicker more than the model does.
    """

    def __init__(self, options: MaskOptions | None = None, mode: RunningMode = RunningMode.VIDEO, blur_px: int = 5):
        super().__init__(options, mode)
        self.blur_px = blur_px

    def refine(self, mask: np.ndarray, frame: np.ndarray, reduced: np.ndarray | None = None) -> np.ndarray:
        conf = self.confidence(mask, frame.shape)  # no guide: ``reduced`` is not needed
        return hard_mask(conf, (frame.shape[1], frame.shape[0]), self.blur_px)

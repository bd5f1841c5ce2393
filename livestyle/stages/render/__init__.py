"""The slow, best-looking background renderers behind ``--method gatys|photo``.

* ``gatys``: neural style by optimization (Gatys, Ecker, Bethge 2015) of the plate, started
  from Magenta's result (:mod:`.gatys`, VGG19 from :mod:`.vgg`, losses in :mod:`.losses`);
* ``photo``: Magenta's result made photorealistic: colour statistics matched to the style
  region to region (DeepLab classes), then smoothed to be locally affine in the plate's colours
  with the Matting Laplacian (:mod:`.photo`, after Li et al. 2018 / Luan et al. 2017).

Both need the ``render`` extra (JAX for autodiff, SciPy for L-BFGS and sparse solves) and a
style *image*; both take ``cancel`` and ``progress`` callables (:mod:`.base`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livestyle.config import RenderOptions
from livestyle.errors import InputError, ModelError
from livestyle.stages.render.base import (
    Cancel, Progress, RenderCancelled, never, require_render_extra,
)  # fmt: skip

METHODS: tuple[str, ...] = ("magenta", "gatys", "photo")
SLOW_METHODS: tuple[str, ...] = ("gatys", "photo")

__all__ = [
    "METHODS", "SLOW_METHODS", "Cancel", "Progress", "RenderCancelled",
    "fit_style", "render", "require_render_extra", "semantic_labels", "style_image",
]


def style_image(style: str, method: str) -> np.ndarray:
    """The style image for a slow method: ``[h, w, 3]`` BGR uint8, read from the path ``style``.

    Raises:
        InputError: ``style`` is not an image file (built-in styles are only Magenta vectors).
    """
    from livestyle.stages.stylize import read_image

    if not Path(style).is_file():
        raise InputError(
            f"--method {method} needs a style image file, not {style!r} (built-in styles ship only as Magenta vectors)"
        )
    return read_image(style, "style image")


def fit_style(style_bgr: np.ndarray, plate_shape: tuple[int, ...]) -> np.ndarray:
    """Resize the style image so its short side is the plate's (strokes at a comparable scale)."""
    short = min(plate_shape[:2])
    h, w = style_bgr.shape[:2]
    scale = short / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(style_bgr, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def semantic_labels(*images: np.ndarray) -> list[np.ndarray] | None:
    """DeepLabV3 arg-max class maps (257x257 uint8) of BGR images, or None if the DeepLab model
    is not available locally (it is never downloaded for this)."""
    from livestyle.models import model_path
    from livestyle.stages.deeplab import DEEPLAB_MODEL, DeepLabSegmenter

    try:
        model_path(DEEPLAB_MODEL, download=False)
    except ModelError:
        return None
    segmenter = DeepLabSegmenter()
    try:
        return [segmenter.labels(image) for image in images]
    finally:
        segmenter.close()


def render(
    method: str,
    plate_bgr: np.ndarray,
    style_bgr: np.ndarray,
    magenta_bgr: np.ndarray,
    options: RenderOptions | None = None,
    *,
    cancel: Cancel = never,
    progress: Progress | None = None,
) -> np.ndarray:
    """Render the background plate with a slow method.

    Args:
        method: ``gatys`` or ``photo`` (``magenta`` returns ``magenta_bgr``).
        plate_bgr: ``[H, W, 3]`` BGR uint8 clean plate (the content).
        style_bgr: ``[h, w, 3]`` BGR uint8 style image (resized here with :func:`fit_style`).
        magenta_bgr: ``[H, W, 3]`` BGR uint8 Magenta result for the plate (the starting point).
        options: iterations, CG steps, smoothness.
        cancel, progress: see :mod:`livestyle.stages.render.base`.

    Returns:
        ``[H, W, 3]`` BGR uint8.

    Raises:
        BackendNotInstalled: the ``render`` extra is missing.
        ModelError: the VGG19 weights are missing (gatys).
        RenderCancelled: cancelled.
    """
    options = options or RenderOptions()
    if method == "magenta":
        return magenta_bgr
    if method not in SLOW_METHODS:
        raise InputError(f"--method {method!r}: choose from {', '.join(METHODS)}")
    style = fit_style(style_bgr, plate_bgr.shape)
    if method == "gatys":
        from livestyle.stages.render.gatys import render_gatys

        return render_gatys(
            plate_bgr, style, start_bgr=magenta_bgr, iterations=options.iterations, cancel=cancel, progress=progress
        ).image
    from livestyle.stages.render.photo import render_photo

    labels = semantic_labels(plate_bgr, style) or [None, None]
    return render_photo(
        plate_bgr, magenta_bgr, style, content_labels=labels[0], style_labels=labels[1],
        lam=options.smoothness, max_steps=options.cg_steps, cancel=cancel, progress=progress,
    )  # fmt: skip

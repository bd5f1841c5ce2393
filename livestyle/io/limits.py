"""Size limits for input pictures, checked from the file's header before anything is decoded.

A 1.2 MB PNG can hold 20000x20000 pixels; decoded and pushed through the pipeline it takes
gigabytes. :func:`check_pixels` refuses pictures over :data:`MAX_INPUT_MEGAPIXELS` with the
limit in the message, and :func:`image_size` reads an image's size from its header (Pillow).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from livestyle.errors import InputError

MAX_INPUT_MEGAPIXELS = 50.0
"""Largest input picture (image or video frame), in megapixels (8K video is 33)."""


def check_pixels(path: Path, width_px: int, height_px: int, what: str) -> None:
    """Raises:
    InputError: ``width_px * height_px`` is over :data:`MAX_INPUT_MEGAPIXELS` ("too large").
    """
    if width_px * height_px > MAX_INPUT_MEGAPIXELS * 1e6:
        raise InputError(
            f"{path}: {what} is too large: {width_px}x{height_px} ({width_px * height_px / 1e6:.0f} megapixels), "
            f"over the {MAX_INPUT_MEGAPIXELS:.0f} megapixel limit; scale it down first"
        )


def image_size(path: Path, what: str = "input image") -> tuple[int, int] | None:
    """``(width_px, height_px)`` from the image file's header, without decoding the pixels;
    None if Pillow does not know the format (the caller's decoder may still).

    Raises:
        InputError: the header says it is over twice Pillow's own bomb limit (about 179
            megapixels; Pillow then gives no size): "too large", with the limit.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check the size ourselves
            with Image.open(path) as im:
                return im.size
    except Image.DecompressionBombError:
        raise InputError(
            f"{path}: {what} is too large: over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, "
            f"the limit is {MAX_INPUT_MEGAPIXELS:.0f}; scale it down first"
        ) from None
    except (OSError, ValueError, SyntaxError):  # unidentified or damaged header
        return None

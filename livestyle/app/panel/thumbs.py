"""Style thumbnails for the panel's gallery, rendered from the style vectors.

The paintings behind the built-in styles are not shipped (only their ``(100,)`` style vectors
in ``livestyle/styles/*.npy``), and a user style keeps only its vector too. So a thumbnail
shows what the style *does*: a fixed little landscape (:func:`scene`: sky, sun, two ranges of
hills, a row of houses) restyled with the style's vector by the Magenta transformer
(:class:`~livestyle.stages.stylize.OnnxMagenta`, one thread, about 35 ms per thumbnail on the
development machine), rendered with a reflected border that is cropped off (the transformer
smears the edges), and stored as a JPEG in the user cache under the vector's sha256, so each
style is rendered once per machine.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from livestyle.errors import InputError

THUMB_PX = 128
"""Thumbnail side, pixels."""
_PAD_PX = 16
_VERSION = b"scene-v1"


def scene(size_px: int = THUMB_PX) -> np.ndarray:
    """The content image every thumbnail restyles: ``(size_px, size_px, 3)`` uint8 BGR."""
    n = size_px
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / (n - 1)
    img = np.stack([0.95 - 0.35 * y, 0.75 - 0.3 * y, 0.45 + 0.2 * y], -1)  # blue sky to warm haze
    cv2.circle(img, (int(0.7 * n), int(0.3 * n)), int(0.12 * n), (0.55, 0.85, 1.0), -1)
    img[y > 0.62 + 0.08 * np.sin(x * 7.0) + 0.05 * np.sin(x * 17.0 + 1.0)] = (0.35, 0.55, 0.3)
    img[y > 0.78 + 0.05 * np.sin(x * 11.0 + 2.0)] = (0.2, 0.35, 0.2)
    for i in range(5):
        x0 = int((0.1 + 0.2 * i) * n)
        cv2.rectangle(img, (x0, int(0.8 * n)), (x0 + n // 16, int(0.9 * n)), (0.25, 0.3, 0.6), -1)
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def style_vector_files() -> dict[str, Path]:
    """Style name -> ``.npy`` style vector: built-in styles, then the user's gallery."""
    from livestyle.stages.styles import builtin_styles, user_styles

    files = dict(builtin_styles())
    for name, path in user_styles().items():
        files.setdefault(name, path)
    return files


def render(vector: np.ndarray, backend) -> np.ndarray:
    """:func:`scene` restyled with ``vector`` (``(100,)`` float32): ``(THUMB_PX, THUMB_PX, 3)``
    uint8 BGR."""
    from livestyle.stages.stylize import from_model_rgb, to_model_rgb

    content = cv2.copyMakeBorder(scene(), _PAD_PX, _PAD_PX, _PAD_PX, _PAD_PX, cv2.BORDER_REFLECT)
    out = from_model_rgb(backend.transfer(to_model_rgb(content), vector.reshape(1, 1, 1, -1)))
    return out[_PAD_PX:-_PAD_PX, _PAD_PX:-_PAD_PX]


class Thumbnails:
    """JPEG thumbnails by style name, rendered on first use and cached (memory and disk).

    Args:
        cache_dir: folder of cached JPEGs (default: ``<user cache>/thumbnails``).
        backend: makes the Magenta backend on the first miss (default: an
            :class:`~livestyle.stages.stylize.OnnxMagenta` with one thread).

    Thread-safe; one thumbnail renders at a time.
    """

    def __init__(self, cache_dir: Path | None = None, backend: Callable[[], object] | None = None):
        self._dir = cache_dir
        self._make_backend = backend
        self._backend = None
        self._lock = threading.Lock()
        self._memory: dict[str, bytes] = {}
        self.rendered = 0

    def _cache_dir(self) -> Path:
        if self._dir is None:
            from livestyle.models import cache_dir

            self._dir = cache_dir() / "thumbnails"
        self._dir.mkdir(parents=True, exist_ok=True)
        return self._dir

    def get(self, name: str) -> bytes:
        """The JPEG thumbnail of style ``name``.

        Raises:
            InputError: no built-in or user style of that name.
            ModelError: the Magenta transformer is missing.
        """
        path = style_vector_files().get(name)
        if path is None:
            raise InputError(f"no style {name!r}; see GET /api/styles")
        vector = np.load(path).astype(np.float32).reshape(-1)
        key = hashlib.sha256(_VERSION + vector.tobytes()).hexdigest()[:24]
        with self._lock:
            if key in self._memory:
                return self._memory[key]
            cached = self._cache_dir() / f"{key}.jpg"
            if cached.is_file():
                data = cached.read_bytes()
            else:
                if self._backend is None:
                    from livestyle.stages.stylize import make_backend

                    self._backend = self._make_backend() if self._make_backend else make_backend("onnx", 1)
                ok, enc = cv2.imencode(".jpg", render(vector, self._backend), [cv2.IMWRITE_JPEG_QUALITY, 88])
                data = enc.tobytes()
                tmp = cached.with_name(f".{key}.tmp")
                tmp.write_bytes(data)
                tmp.replace(cached)
                self.rendered += 1
            self._memory[key] = data
            return data

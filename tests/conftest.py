"""Shared test set-up: real models and media from ``../shared`` beside the checkout.

Every test runs with ``LIVESTYLE_MODEL_DIR`` pointing at ``../shared/models``, a private
``LIVESTYLE_CACHE_DIR`` for the session, and ``LIVESTYLE_OFFLINE=1`` so nothing is fetched.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIVESTYLE_SHARED", REPO.parent / "shared"))
SHARED_MODELS = SHARED / "models"
MEDIA = SHARED / "media"
STYLES = SHARED / "styles"
CLIP = MEDIA / "person_desk_960x540.mp4"
PORTRAITS = [MEDIA / "woman-5883428_1280.jpg", MEDIA / "girl-919048_1280.jpg"]
STARRY = STYLES / "starry_night.jpg"

if not CLIP.is_file():  # fail loudly: a green run without the real data would prove nothing
    raise pytest.UsageError(f"shared test data not found at {SHARED}; it must sit beside the checkout")


@pytest.fixture(scope="session", autouse=True)
def _session_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("livestyle-cache")
    old = {k: os.environ.get(k) for k in ("LIVESTYLE_MODEL_DIR", "LIVESTYLE_CACHE_DIR", "LIVESTYLE_OFFLINE")}
    os.environ["LIVESTYLE_MODEL_DIR"] = str(SHARED_MODELS)
    os.environ["LIVESTYLE_CACHE_DIR"] = str(cache)
    os.environ["LIVESTYLE_OFFLINE"] = "1"
    yield cache
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


# ----------------------------------------------------------------------------- stage fixtures
# Per portrait: an upper-body point (x, y as fractions of the image) and the top corners that
# are background.
PORTRAIT_FACTS = {
    PORTRAITS[0].name: {"body": (0.40, 0.75), "background_corners": ("top-right",)},
    PORTRAITS[1].name: {"body": (0.50, 0.85), "background_corners": ("top-left", "top-right")},
}


def at(mask: np.ndarray, xy: tuple[float, float]) -> float:
    h, w = mask.shape[:2]
    return float(mask[int(xy[1] * h), int(xy[0] * w)])


SELFIE_MODELS = ("general", "landscape")


@pytest.fixture(scope="module")
def segmenters():
    segs = {name: _selfie(name) for name in SELFIE_MODELS}
    yield segs
    for seg in segs.values():
        seg.close()


@pytest.fixture(scope="module")
def portraits():
    images = {}
    for path in PORTRAITS:
        image = cv2.imread(str(path))
        assert image is not None, path
        images[path.name] = image
    return images


def _selfie(name: str):
    from livestyle.stages.segment import SelfieSegmenter

    return SelfieSegmenter(name)

"""Stylize stage: Magenta arbitrary style transfer on the shared portraits and style images.

Preprocessing (transfer size, centre crop), built-in style vectors against the predictor,
style resolution and its disk cache, style-image errors, the stylizer's shapes and strength,
and the two backends (float ONNX on onnxruntime vs the official fp16 TFLite transfer).
Backends run with one thread: the test machine is shared.
"""

from __future__ import annotations

import numpy as np
import cv2
import pytest
from PIL import Image

from conftest import PORTRAITS, STYLES
from livestyle.stages import stylize
from livestyle.config import StyleOptions
from livestyle.errors import InputError
from livestyle.stages.stylize import (
    LitertMagenta,
    MagentaStylizer,
    OnnxMagenta,
    builtin_styles,
    center_crop_square,
    from_model_rgb,
    make_backend,
    predict_style_vector,
    resolve_style,
    to_model_rgb,
    transfer_size,
)

GIRL = PORTRAITS[1]
SHARED_STYLE_NAMES = {
    "art_nouveau", "blue_dots", "blue_strokes", "delaunay", "drip_painting",
    "great_wave", "kandinsky_composition", "klee", "red_brushwork", "starry_night",
}


@pytest.fixture(scope="module")
def onnx():
    return OnnxMagenta(threads=1)


@pytest.fixture(scope="module")
def litert():
    return LitertMagenta(threads=1)


@pytest.fixture(scope="module")
def portrait():
    image = cv2.imread(str(GIRL))
    assert image is not None
    return image


@pytest.fixture()
def stylizer(onnx):
    return MagentaStylizer(StyleOptions(style="starry_night", threads=1), backend=onnx)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.absdiff(a, b).mean())


# ----------------------------------------------------------------------------- preprocessing

def test_transfer_size_16_9():
    assert transfer_size(540, 960, 288) == (288, 512)


@pytest.mark.parametrize("hw", [(301, 405), (333, 777), (1079, 1919), (721, 1281), (405, 301)])
def test_transfer_size_odd_inputs(hw):
    h, w = hw
    th, tw = transfer_size(h, w, 288)
    assert th % 4 == 0 and tw % 4 == 0
    assert abs(min(th, tw) - 288) <= 4
    assert abs((tw / th) / (w / h) - 1.0) < 0.02, "aspect ratio not kept"


def test_center_crop_square_keeps_the_centre():
    # Left third red, middle third green, right third blue (BGR): the square crop of a 3:1
    # image is the middle third.
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, :100] = (0, 0, 255)
    image[:, 100:200] = (0, 255, 0)
    image[:, 200:] = (255, 0, 0)
    out = center_crop_square(image, 256)
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    assert np.array_equal(out[:, 2:-2], np.broadcast_to(np.uint8((0, 255, 0)), (256, 252, 3)))


def test_center_crop_square_on_portrait(portrait):
    out = center_crop_square(portrait, 256)
    assert out.shape == (256, 256, 3)
    h, w = portrait.shape[:2]
    x0 = (w - h) // 2
    centre = cv2.resize(portrait[:, x0 : x0 + h], (256, 256), interpolation=cv2.INTER_AREA)
    assert mad(out, centre) < 2.0


# ----------------------------------------------------------------------------- style vectors

def test_builtin_styles_are_the_shared_ones():
    styles = builtin_styles()
    assert set(styles) == SHARED_STYLE_NAMES
    assert {p.stem for p in STYLES.glob("*.jpg")} == SHARED_STYLE_NAMES


def test_builtin_vectors_match_the_predictor(onnx):
    for name, path in builtin_styles().items():
        vec = np.load(path)
        assert vec.shape == (100,) and vec.dtype == np.float32, name
        image = cv2.imread(str(STYLES / f"{name}.jpg"))
        predicted = predict_style_vector(image, onnx)
        assert predicted.shape == (100,) and predicted.dtype == np.float32
        diff = float(np.abs(vec - predicted).mean())
        assert diff < 0.05, f"{name}: built-in vector differs from the prediction by {diff:.3f}"
        np.testing.assert_array_equal(resolve_style(name, onnx), vec)


def test_builtin_vectors_differ_between_styles():
    vectors = {name: np.load(path) for name, path in builtin_styles().items()}
    a, b = vectors["starry_night"], vectors["great_wave"]
    assert float(np.abs(a - b).mean()) > 0.1


def test_resolve_style_image_is_cached(onnx, tmp_path, monkeypatch):
    monkeypatch.setenv("LIVESTYLE_CACHE_DIR", str(tmp_path / "cache"))
    style_path = STYLES / "great_wave.jpg"
    calls = []
    real = stylize.predict_style_vector

    def counting(image, backend):
        calls.append(image.shape)
        return real(image, backend)

    monkeypatch.setattr(stylize, "predict_style_vector", counting)

    first = resolve_style(str(style_path), onnx)
    assert len(calls) == 1
    cached = list((tmp_path / "cache" / "styles").glob("*.npy"))
    assert len(cached) == 1 and cached[0].name.endswith("-onnx.npy")
    np.testing.assert_array_equal(np.load(cached[0]), first)
    np.testing.assert_allclose(first, real(cv2.imread(str(style_path)), onnx), atol=1e-6)

    second = resolve_style(str(style_path), onnx)
    assert len(calls) == 1, "the cached vector was predicted again"
    assert second.dtype == np.float32
    np.testing.assert_array_equal(second, first)


def test_unknown_style_name_lists_builtins(onnx):
    with pytest.raises(InputError) as info:
        resolve_style("van_gogh_please", onnx)
    msg = str(info.value)
    assert "van_gogh_please" in msg
    for name in SHARED_STYLE_NAMES:
        assert name in msg


def test_unreadable_style_image(onnx, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a picture\nsecond line\n")
    with pytest.raises(InputError) as info:
        resolve_style(str(bad), onnx)
    msg = str(info.value)
    assert "\n" not in msg
    assert "notes.jpg" in msg


def test_missing_style_image(onnx, tmp_path):
    with pytest.raises(InputError, match="no such"):
        resolve_style(str(tmp_path / "gone.png"), onnx)


def test_huge_style_image_is_rejected(onnx, tmp_path):
    big = tmp_path / "big.png"
    Image.new("L", (7200, 7000)).save(big)  # 50.4 megapixels, 50 MB in memory, small on disk
    with pytest.raises(InputError, match="megapixel") as info:
        resolve_style(str(big), onnx)
    assert "\n" not in str(info.value)
    assert "7200x7000" in str(info.value)


# ----------------------------------------------------------------------------- the stylizer

@pytest.mark.parametrize("hw", [(540, 960), (301, 405)])
def test_stylize_keeps_shape_and_changes_the_image(stylizer, portrait, hw):
    h, w = hw
    content = cv2.resize(portrait, (w, h), interpolation=cv2.INTER_AREA)
    out = stylizer.stylize(content)
    assert out.shape == content.shape and out.dtype == np.uint8
    assert mad(out, content) > 25


def test_bottleneck_strength_blends_style_and_content(stylizer, onnx, portrait):
    content = cv2.resize(portrait, (405, 301), interpolation=cv2.INTER_AREA)
    stylizer.strength = 1.0
    np.testing.assert_array_equal(stylizer.bottleneck_for(content), stylizer.style_vector)
    stylizer.strength = 0.5
    own = predict_style_vector(content, onnx)
    assert float(np.abs(own - stylizer.style_vector).mean()) > 0.1  # the blend is not trivial
    np.testing.assert_allclose(
        stylizer.bottleneck_for(content), 0.5 * stylizer.style_vector + 0.5 * own, atol=1e-6
    )


def test_strength_zero_stays_closer_to_the_content(stylizer, portrait):
    content = cv2.resize(portrait, (512, 288), interpolation=cv2.INTER_AREA)
    stylizer.strength = 1.0
    full = mad(stylizer.stylize(content), content)
    stylizer.strength = 0.0
    none = mad(stylizer.stylize(content), content)
    assert none < 0.6 * full, f"strength 0 diff {none:.1f}, strength 1 diff {full:.1f}"


# ----------------------------------------------------------------------------- backends

def test_onnx_and_litert_transfer_agree(onnx, litert, portrait):
    assert litert.fixed_size == (384, 384)
    content = to_model_rgb(center_crop_square(portrait, 384))
    vec = np.load(builtin_styles()["starry_night"])
    a = onnx.transfer(content, vec)
    b = litert.transfer(content, vec)
    assert a.shape == b.shape == (1, 384, 384, 3)
    err = float(np.abs(a - b).mean())
    assert err <= 0.01, f"mean abs error {err:.4f}"
    # ...and both really restyled it.
    assert float(np.abs(a - content).mean()) > 0.1


def test_litert_rejects_other_sizes(litert):
    with pytest.raises(ValueError, match="384"):
        litert.transfer(np.zeros((1, 256, 256, 3), np.float32), np.zeros(100, np.float32))


def test_litert_stylizer_keeps_shape(litert, portrait):
    st = MagentaStylizer(StyleOptions(style="great_wave", backend="litert", threads=1), backend=litert)
    content = cv2.resize(portrait, (405, 301), interpolation=cv2.INTER_AREA)
    out = st.stylize(content)
    assert out.shape == content.shape and out.dtype == np.uint8
    assert mad(out, content) > 25


def test_model_rgb_round_trip(portrait):
    small = cv2.resize(portrait, (64, 48), interpolation=cv2.INTER_AREA)
    x = to_model_rgb(small)
    assert x.shape == (1, 48, 64, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, ..., 0], small[..., 2] / 255.0, atol=1e-6)  # RGB order
    assert np.array_equal(from_model_rgb(x), small)


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(InputError) as info:
        make_backend("nope")
    msg = str(info.value)
    assert "nope" in msg and "onnx" in msg and "litert" in msg


def test_onnx_transfer_can_be_cancelled_from_another_thread():
    import threading

    from livestyle.stages.stylize import OnnxMagenta, resolve_style

    backend = OnnxMagenta(threads=1)
    vec = resolve_style("starry_night", backend)
    content = np.random.default_rng(0).random((1, 1536, 2048, 3), dtype=np.float32)  # seconds of work
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("out", backend.transfer(content, vec)))
    worker.start()
    while worker.is_alive():  # cancel until the run in flight notices
        backend.cancel()
        worker.join(0.02)
    assert backend.cancelled == 1
    assert result["out"].shape == content.shape and not result["out"].any()
    # the backend still works afterwards
    small = np.random.default_rng(1).random((1, 64, 96, 3), dtype=np.float32)
    assert backend.transfer(small, vec).any()

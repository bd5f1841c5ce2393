"""``--method gatys|photo`` in the engine: an image of the shared clip rendered with the person
kept, the live background renderer (shown when done, cancelled by a style change), and the CLI's
one-line errors."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import CLIP, SHARED_MODELS, STARRY, STYLES
from livestyle.cli import main
from livestyle.presets import load_config
from livestyle.engine import render as engine_render
from livestyle.models import MODELS
from livestyle.stages.render.base import RenderCancelled, check
from livestyle.stages.render.vgg import VGG_MODEL

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
from test_render import _weights_file  # noqa: E402


@pytest.fixture
def model_dir(tmp_path, monkeypatch) -> Path:
    """``LIVESTYLE_MODEL_DIR`` with the shared models and the VGG19 weights."""
    folder = tmp_path / "models"
    folder.mkdir()
    for path in SHARED_MODELS.iterdir():
        (folder / path.name).symlink_to(path)
    (folder / MODELS[VGG_MODEL].filename).symlink_to(_weights_file())
    monkeypatch.setenv("LIVESTYLE_MODEL_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def clip_frame(tmp_path_factory) -> Path:
    """Frame 450 of the shared clip (camera still) as a PNG."""
    import av

    with av.open(str(CLIP)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == 450:
                path = tmp_path_factory.mktemp("frame") / "frame.png"
                cv2.imwrite(str(path), frame.to_ndarray(format="bgr24"))
                return path
    raise AssertionError("clip too short")


def _person(image: np.ndarray) -> np.ndarray:
    from livestyle.stages.segment import SelfieSegmenter

    conf = SelfieSegmenter("general").segment(image)
    conf = cv2.resize(conf, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return cv2.erode((conf > 0.95).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)


@pytest.mark.parametrize("method", ["gatys", "photo"])
def test_image_background_rendered_person_kept(method, model_dir, clip_frame, tmp_path, capsys) -> None:
    out = tmp_path / f"{method}.png"
    code = main(["run", "-i", str(clip_frame), "-o", str(out), "--style", str(STARRY), "--method", method,
                 "--iterations", "2", "--style-size", "64", "--no-progress"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    src, dst = cv2.imread(str(clip_frame)), cv2.imread(str(out))
    person = _person(src)
    assert person.mean() > 0.05
    diff = np.abs(dst.astype(np.int16) - src.astype(np.int16)).mean(axis=2)
    assert diff[person].mean() <= 3.0
    assert diff[~person].mean() > 10.0  # the background changed


def test_cli_errors_are_one_line(clip_frame, tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "x.png"
    assert main(["run", "-i", str(clip_frame), "-o", str(out), "--method", "gatys"]) == 2  # a built-in style name
    assert "needs a style image file" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "jax", None)
    assert main(["run", "-i", str(clip_frame), "-o", str(out), "--style", str(STARRY), "--method", "gatys"]) == 2
    err = capsys.readouterr().err
    assert "livestyle[render]" in err and err.count("\n") == 1
    assert not out.exists()


def _frames(n: int):
    from livestyle.io.sources import SyntheticSource

    ns = time.perf_counter_ns()
    for i, frame in enumerate(SyntheticSource(frame_count=n)):
        frame.capture_ns = ns + i * 33_000_000
        yield frame


def test_live_render_fades_in_and_a_style_change_cancels_it(monkeypatch) -> None:
    """The slow render (a stand-in that waits for a go signal, checking cancel) replaces Magenta
    when done; a style change cancels the one in flight at its next check."""
    from livestyle.app.live import build_processor, live_config
    from livestyle.engine.live import _Command

    go, started, seen_cancel = threading.Event(), threading.Event(), []

    def slow_render(method, plate, style, magenta, options, *, cancel, progress):
        started.set()
        while not go.is_set():
            if cancel():
                seen_cancel.append(True)
            check(cancel)
            time.sleep(0.005)
        return np.full_like(magenta, 7)

    monkeypatch.setattr(engine_render, "render", slow_render)
    config = live_config(load_config(None, {
        "style.style": str(STARRY), "render.method": "photo", "segmenter.model": "landscape",
        "style.short_side_px": 64, "plate.crossfade_frames": 0,
    }))  # fmt: skip
    proc = build_processor(config)
    proc.start(threading.Event(), lambda stage, err: None)
    frames = _frames(100000)
    try:
        for _ in range(2000):  # Magenta at once, then the render starts
            proc.process(next(frames))
            if started.is_set():
                break
            time.sleep(0.002)
        assert started.is_set() and proc.render.shown == 0
        proc.request(_Command(1, style=str(STYLES / "great_wave.jpg")))
        proc.process(next(frames))
        for _ in range(2000):
            if seen_cancel:
                break
            time.sleep(0.002)
        assert seen_cancel and proc.renderer.cancelled <= 1
        started.clear()
        for _ in range(2000):  # the new style's Magenta restyle starts a new render
            proc.process(next(frames))
            if started.is_set():
                break
            time.sleep(0.002)
        assert started.is_set()
        go.set()
        for _ in range(2000):
            out = proc.process(next(frames))
            if proc.render.shown:
                break
            time.sleep(0.002)
        assert proc.render.shown == 1 and proc.renderer.cancelled == 1
        out = proc.process(next(frames))
        alpha = out.meta["alpha"]
        background = alpha < 0.01
        assert background.any() and np.abs(out.image[background].astype(int) - 7).mean() < 0.5  # the render is shown
    finally:
        proc.close()


def test_plate_renderer_renders_again_only_after_a_big_change() -> None:
    """Video files: the same plate (or one changed by a few levels) reuses the render."""
    from livestyle.config import RenderOptions
    from livestyle.engine.render import PlateRenderer

    calls = []

    class Magenta:
        def stylize(self, image):
            calls.append(1)
            return 255 - image

    plate = cv2.resize(cv2.imread(str(STARRY)), (112, 64), interpolation=cv2.INTER_AREA)
    style = cv2.imread(str(STYLES / "great_wave.jpg"))
    renderer = PlateRenderer(Magenta(), "photo", style, RenderOptions(cg_steps=20))
    first = renderer.stylize(plate)
    assert renderer.stylize(cv2.add(plate, 3)) is first and renderer.renders == 1 and len(calls) == 1
    moved = np.roll(plate, 30, axis=1)  # a camera move
    assert renderer.stylize(moved) is not first and renderer.renders == 2
    renderer.cancel()
    with pytest.raises(RenderCancelled):
        renderer.stylize(plate)

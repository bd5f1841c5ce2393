"""The panel's hold on a running :class:`~livestyle.app.live.LiveSession`: :class:`SessionControl`.

It implements :class:`~livestyle.app.panel.control.PanelControl` for the HTTP routes, on the
server's worker threads. Nothing here runs on the frame loop, and nothing waits for it:

* changes go through the session's :class:`~livestyle.engine.live.LiveController` (``set_style``,
  ``set_strength``, ``set_effect``: the same command queue the preview window's keys use),
  applied by the processor thread at its next frame;
* a new effect (blur with another strength, a replace background, a classic look, the style
  effect itself) is *built here* and handed over ready, so the frame loop never loads a model
  or decodes an image; the style effect is built once and reused;
* a new user style's vector is predicted here (Magenta predictor, one thread) and stored in the
  gallery as ``livestyle styles add`` stores it;
* figures: the controller's output rate and latency p95, restyles per second, and the
  process's CPU use (:class:`CpuMeter`).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from livestyle.app.panel.control import PANEL_EFFECTS, style_entries
from livestyle.app.panel.preview import PreviewFeed, mask_image
from livestyle.app.panel.thumbs import Thumbnails
from livestyle.errors import InputError


class CpuMeter:
    """Process CPU use in percent of one core, over the last ``window_s`` seconds or more
    (process CPU time / wall time between samples)."""

    def __init__(self, window_s: float = 1.0):
        self.window_s = window_s
        self._lock = threading.Lock()
        self._last = (time.perf_counter(), time.process_time())
        self.percent = 0.0

    def sample(self) -> float:
        with self._lock:
            wall, cpu = time.perf_counter(), time.process_time()
            dt = wall - self._last[0]
            if dt >= self.window_s:
                self.percent = 100.0 * (cpu - self._last[1]) / dt
                self._last = (wall, cpu)
            return self.percent


class SessionControl:
    """:class:`~livestyle.app.panel.control.PanelControl` over a live session.

    Args:
        session: the :class:`~livestyle.app.live.LiveSession` (its sinks include ``feed``).
        feed: the preview sink.
        thumbnails: thumbnail renderer (default: :class:`Thumbnails`).
    """

    def __init__(self, session, feed: PreviewFeed, thumbnails: Thumbnails | None = None):
        self.session = session
        self.controller = session.controller
        self.processor = session.processor
        self.config = session.config
        self.feed = feed
        self._magenta_lock = threading.Lock()
        self._predictor = None
        self.thumbs = thumbnails or Thumbnails(backend=self._magenta)
        self.cpu = CpuMeter()
        self._lock = threading.Lock()  # one change at a time
        self._tmp = Path(tempfile.mkdtemp(prefix="livestyle-panel-"))
        self._background: Path | None = None
        self._backgrounds = 0
        self._style_effect = self.processor.style_stylizer
        self.blur_strength = self.config.effect.blur_strength
        self.effect = self.config.effect.name if self.processor.effect_on else "none"
        self.mirror = self.config.live.mirror
        feed.mirror = self.mirror
        self.styles_version = 0
        info = session.source.info
        self.size_px = (info.width_px, info.height_px)

    # -- reading ---------------------------------------------------------------------------
    def status(self) -> dict:
        c = self.controller.status()
        return {
            "style": self.controller.style or c["style"], "strength": round(float(self.controller.strength), 3),
            "effect": self.effect, "blur_strength": self.blur_strength, "mirror": self.mirror,
            "has_background": self._background is not None or bool(self.config.effect.background),
            "fps": round(c["out_fps"], 2), "frames_out": c["frames_out"], "latency_p95_ms": round(c["latency_p95_ms"], 1),
            "cpu_percent": round(self.cpu.sample(), 1), "restyles_per_s": round(c["style_hz"], 2),
            "change_ms": round(c["change_ms"], 1), "styles_version": self.styles_version,
            "width": self.size_px[0], "height": self.size_px[1],
        }  # fmt: skip

    def styles(self) -> list[dict]:
        from livestyle.stages.styles import builtin_styles, user_styles

        return style_entries(list(builtin_styles()), list(user_styles()))

    def thumbnail(self, name: str) -> bytes:
        return self.thumbs.get(name)

    def _magenta(self):
        """The panel's own Magenta backend (one thread; not the live one, whose transfers the
        frame loop cancels), made on first use, for style vectors and thumbnails."""
        with self._magenta_lock:
            if self._predictor is None:
                from livestyle.stages.stylize import make_backend

                self._predictor = make_backend("onnx", 1)
            return self._predictor

    # -- changes -----------------------------------------------------------------------------
    def _style(self):
        """The session's style effect, built once (here, not on the frame loop)."""
        if self._style_effect is None:
            from livestyle.effects import make_effect

            style = self.controller.style or self.config.style.style
            cfg = self.config.model_copy(update={"style": self.config.style.model_copy(update={"style": style})})
            self._style_effect = make_effect("style", cfg)
        return self._style_effect

    def set_style(self, name: str) -> None:
        from livestyle.stages.styles import all_style_names

        if name not in all_style_names():
            raise InputError(f"no style {name!r}; see GET /api/styles")
        with self._lock:
            self.controller.set_style(name, effect=None if self.effect == "style" else self._style())
            self.effect = "style"

    def set_strength(self, value: float) -> None:
        self.controller.set_strength(float(np.clip(value, 0.0, 1.0)))

    def set_effect(self, name: str, blur_strength: float | None = None) -> None:
        if name not in PANEL_EFFECTS:
            raise InputError(f"unknown effect {name!r}; choose one of: {', '.join(PANEL_EFFECTS)}")
        with self._lock:
            if blur_strength is not None:
                self.blur_strength = float(blur_strength)
            if name == "none":
                self.controller.set_effect(None)
            elif name == "style":
                self.controller.set_effect(self._style())
            else:
                self.controller.set_effect(self._build(name))
            self.effect = name

    def _build(self, name: str):
        from livestyle.effects import make_effect

        background = str(self._background) if self._background else self.config.effect.background
        if name == "replace" and not background:
            raise InputError("effect 'replace' needs a background image: upload one first (POST /api/background)")
        effect = self.config.effect.model_copy(update={"blur_strength": self.blur_strength, "background": background})
        style = self.config.style.model_copy(update={"style": self.controller.style or self.config.style.style})
        return make_effect(name, self.config.model_copy(update={"effect": effect, "style": style}))

    def set_background(self, image: np.ndarray) -> None:
        with self._lock:
            self._backgrounds += 1
            path = self._tmp / f"background-{self._backgrounds}.png"  # our own name, never the client's
            if not cv2.imwrite(str(path), image):
                raise InputError("the background image could not be stored")
            old, self._background = self._background, path
        self.set_effect("replace")
        if old is not None:
            old.unlink(missing_ok=True)

    def add_style(self, name: str, image: np.ndarray) -> None:
        from livestyle.app.gallery import add_style_vector
        from livestyle.stages.styles import all_style_names, check_name
        from livestyle.stages.stylize import predict_style_vector

        check_name(name)
        with self._lock:
            vector = predict_style_vector(image, self._magenta())
            add_style_vector(vector, name)
            self.controller.refresh_styles(all_style_names())
            self.styles_version += 1

    def remove_style(self, name: str) -> None:
        from livestyle.app.gallery import remove_style
        from livestyle.stages.styles import all_style_names

        with self._lock:
            remove_style(name)
            names = all_style_names()
            if self.controller.style == name:  # the style in use is gone: go to the first one
                self.controller.set_style(names[0])
            self.controller.refresh_styles(names)
            self.styles_version += 1

    def set_mirror(self, on: bool) -> None:
        self.mirror = bool(on)
        self.feed.mirror = self.mirror
        self.session.set_mirror(self.mirror)

    def snapshot(self, mask: bool = False) -> str:
        from livestyle.io.window import save_snapshot

        _, frame = self.feed.latest()
        if frame is None:
            raise InputError("no output frame yet")
        image = mask_image(frame) if mask else frame.image
        return str(save_snapshot(cv2.flip(image, 1) if self.mirror else image, self.config.preview.snapshot_dir))

    def close(self) -> None:
        """Delete the uploaded backgrounds."""
        shutil.rmtree(self._tmp, ignore_errors=True)

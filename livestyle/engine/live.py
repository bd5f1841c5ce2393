"""The live frame loop's parts: the processor that applies style changes, and the controller.

:class:`LiveFrameProcessor` is the :class:`~livestyle.engine.processor.FrameProcessor` of live
mode: style, strength and effect changes requested from other threads are applied on the
processor thread at its next frame (the restyle in flight is cancelled, a small restyle is
shown at once, then the full one). :class:`LiveController` takes those requests (from the hot
keys, or any other control surface) and, as the first sink, measures the output: rates,
capture-to-output latency and style-change latency.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, replace

import numpy as np

from livestyle.config import Config
from livestyle.engine.processor import FrameProcessor
from livestyle.engine.render import LiveRenderSchedule
from livestyle.errors import LivestyleError
from livestyle.engine.stats import Stats
from livestyle.engine.worker import LIVE_NICE, StyleWorker
from livestyle.io.window import draw_camera_lost
from livestyle.protocols import Frame, RunningMode, Segmenter, Stylizer
from livestyle.stages.stylize import MagentaStylizer
from livestyle.timing import RateMeter, recent

log = logging.getLogger("livestyle.app.live")


@dataclass
class _Command:
    generation: int
    style: str | None = None
    strength: float | None = None
    effect: bool | None = None
    use: object | None = None  # a ready-built effect to switch to


class LiveFrameProcessor(FrameProcessor):
    """:class:`~livestyle.engine.processor.FrameProcessor` for live mode, with style changes.

    The base class's live schedule restyles the newest clean plate when it changed enough to
    be seen and the stylizer is idle, at most ``plate.style_rate_hz`` times a second. This
    class adds, all on the processor thread:

    * :meth:`request` queues a change (style name, strength, effect on/off, or a ready-built
      effect to switch to) from any thread; it is applied at the start of the next frame, and
      each change has a *generation*;
    * after a change the restyle in flight is cancelled (onnx backend's ``cancel()``), a quick restyle at a
      third of the transformer size is shown at once (a cut), and a full-size restyle is
      queued ahead of the rate cap and shown as a cut too; results of restyles submitted
      before the change are dropped;
    * each output frame's ``meta`` gets ``alpha`` (the ``(H, W)`` float32 matte),
      ``style_gen`` (the generation shown), ``style``, ``strength`` and ``effect``;
    * while the camera is lost (``meta["camera_lost"]``) the last output is repeated with a
      "camera lost" band instead of processing the same frame again.

    Args:
        segmenter, stylizer, config, stats: as for :class:`~livestyle.engine.processor.FrameProcessor`
            (further keyword arguments go to it too).
        quick_restyle: show a small restyle right after a change.
        renderer: a :class:`~livestyle.engine.render.BackgroundRenderer` (``--method gatys|photo``):
            the shown Magenta restyle is rendered again with the slow method on a low-priority
            thread and cross-faded in when done; from then on Magenta restyles are not shown
            until the plate changes by more than ``render.rerender_change`` levels. A style change
            or such a plate change cancels the render in flight. Styles without an image
            (built-in names) stay Magenta.
    """

    def __init__(self, segmenter: Segmenter, stylizer: Stylizer | None, config: Config, stats: Stats | None = None,
                 *, quick_restyle: bool = True, renderer=None, **kw):
        super().__init__(segmenter, stylizer, config, RunningMode.LIVE, stats, **kw)
        self.renderer = renderer
        self.render = LiveRenderSchedule(renderer, config.render.rerender_change) if renderer is not None else None
        self._quick_restyle = quick_restyle
        self._bind_main(stylizer)
        self._stop: threading.Event | None = None
        self._on_error = None
        self._commands: collections.deque[_Command] = collections.deque()
        self.generation = 0
        self.shown_generation = 0
        self._effect = self.stylizer  # as built by the base class (maybe wrapped for target person)
        self._change_pending = False
        self._fresh_from = 0  # restyles submitted from this tag on have the current style
        self._awaiting_full = False
        self._last_out: np.ndarray | None = None
        self.quick_restyles = 0
        self.stale_dropped = 0

    def _bind_main(self, stylizer) -> None:
        """Make ``stylizer`` the one style and strength changes go to (with its quick restyler
        and cancel hook when it is a Magenta stylizer)."""
        self._main = stylizer
        magenta = isinstance(stylizer, MagentaStylizer)
        self._cancel = getattr(stylizer.backend, "cancel", None) if magenta else None
        self._quick: MagentaStylizer | None = None
        if self._quick_restyle and magenta and stylizer.backend.fixed_size is None:
            small = max(64, self.config.style.short_side_px // 3)
            opts = stylizer.options.model_copy(update={"short_side_px": small})
            self._quick = MagentaStylizer(opts, backend=stylizer.backend)

    def start(self, stop: threading.Event, on_error) -> None:
        self._stop, self._on_error = stop, on_error
        super().start(stop, on_error)

    @property
    def effect_on(self) -> bool:
        return self.stylizer is not None

    @property
    def effect_name(self) -> str:
        """The effect shown (``none`` when off)."""
        return getattr(self.stylizer, "name", "none") if self.stylizer is not None else "none"

    @property
    def style_stylizer(self) -> MagentaStylizer | None:
        """The Magenta stylizer that style changes go to, if there is one."""
        return self._main if isinstance(self._main, MagentaStylizer) else None

    def _use(self, effect) -> None:
        """Switch to a ready-built effect (processor thread). A per-frame effect replaced here
        is closed; plate effects are left to whoever built them (the stylizer thread may still
        be finishing a restyle with one)."""
        per_frame = getattr(effect, "per_frame", False)
        if self.target_person and not per_frame:
            from livestyle.effects.layer import FrameStylizer

            effect, per_frame = FrameStylizer(effect, RunningMode.LIVE), True
        old, self._effect, self.stylizer = self._effect, effect, effect
        if self.render is not None:  # a render of the old effect's restyle is stale
            self.render.reset()
        if isinstance(effect, MagentaStylizer) and effect is not self._main:
            self._bind_main(effect)
        if old is not effect and getattr(old, "per_frame", False):
            old.close()
        if not per_frame:
            if self.worker is None and self._stop is not None:
                self.worker = StyleWorker(effect, self.stats, self._stop, self._on_error, LIVE_NICE)
                self.worker.start()
            elif self.worker is not None:
                self.worker.stylizer = effect

    def close(self) -> None:
        self.stylizer = self._effect  # so that the base class closes it even when it is off
        if self.renderer is not None:
            self.renderer.close()
        super().close()

    @property
    def style_name(self) -> str:
        return getattr(self._main, "style_name", "")

    @property
    def strength(self) -> float:
        return float(getattr(self._main, "strength", 1.0))

    def request(self, command: _Command) -> None:
        """Queue a change (thread-safe); applied at the next frame."""
        self._commands.append(command)

    def _apply_commands(self) -> None:
        while self._commands:
            cmd = self._commands.popleft()
            if cmd.use is not None:
                self._use(cmd.use)
            elif self._main is None:
                continue
            try:
                if cmd.style is not None and hasattr(self._main, "set_style"):
                    self._main.set_style(cmd.style)
                    if self.render is not None:
                        self.render.reset(cmd.style)
                if cmd.strength is not None and hasattr(self._main, "strength"):
                    self._main.strength = float(cmd.strength)
            except LivestyleError as err:
                log.warning("style change failed: %s", err)
                continue
            if cmd.effect is not None:
                self.stylizer = self._effect if cmd.effect else None
            self.generation = cmd.generation
            if self.effect_on and not getattr(self.stylizer, "per_frame", False):
                self._change_pending = True  # a plate effect shows the change once restyled
            else:
                self.shown_generation = cmd.generation  # shown with the next frame

    def _show_live(self, tag: int, restyled: np.ndarray, plate_image: np.ndarray, cut: bool = False) -> None:
        """Drop restyles begun before the last change; show the first one after it as a cut.
        With a renderer: keep a finished render while the plate stays, else show Magenta and
        (re)start the render from it."""
        if tag < self._fresh_from:
            self.stale_dropped += 1
            return
        if self._awaiting_full:
            self._awaiting_full, cut = False, True
            self.shown_generation = self.generation
        renderable = isinstance(self.stylizer, MagentaStylizer)
        if self.render is not None and self.render.keep_render(self.generation, plate_image, restyled, renderable):
            return
        super()._show_live(tag, restyled, plate_image, cut)

    def _poll_render(self) -> None:
        """Cross-fade a finished render in (it replaces the whole Magenta restyle)."""
        done = self.render.poll(self.generation)
        if done is not None:
            plate_image, rendered = done
            self.local.reset()
            self.fader.set(self.local.apply(rendered, plate_image), self.config.plate.crossfade_frames)

    def _schedule_live(self) -> None:
        if self._change_pending:
            self._change_pending = False
            st = self.state
            if self._cancel is not None:
                self._cancel()  # the restyle in flight has the old style: free its core
            plate = self.plate.image()
            if self._quick is not None and self.stylizer is self._main:
                self._quick.style_vector = self._main.style_vector
                self._quick.strength = self._main.strength
                t0 = time.perf_counter()
                self.fader.set(self._quick.stylize(plate), 0)
                self.stats.add("quick_stylize", (time.perf_counter() - t0) * 1000.0)
                self.shown_generation = self.generation
                self.quick_restyles += 1
            self._fresh_from = st.refreshes_submitted
            self._awaiting_full = True
            self._last_thumb = self.plate.thumbnail()  # later checks compare with this plate
            if self.worker.submit(st.refreshes_submitted, plate, block=False):
                st.refreshes_submitted += 1
                st.last_submit_s = time.perf_counter()
            else:
                st.last_submit_s = 0.0  # as soon as the worker is idle
                self._last_thumb = None  # and whatever the plate looks like then
        super()._schedule_live()
        if self.render is not None:
            self._poll_render()

    def process(self, frame: Frame) -> Frame:
        """Output frame for ``frame`` (same size, uint8 BGR), with the ``meta`` listed above."""
        self._apply_commands()
        if frame.meta.get("camera_lost") and self._last_out is not None:
            out_image = draw_camera_lost(self._last_out)
            alpha = self.last_alpha
        else:
            out = super().process(frame)
            out_image, alpha = out.image, self.last_alpha
            self._last_out = out_image
            if frame.meta.get("camera_lost"):
                out_image = draw_camera_lost(out_image)
        frame.meta.update(
            alpha=alpha, style_gen=self.shown_generation, style=self.style_name,
            strength=self.strength, effect=self.effect_on,
        )  # fmt: skip
        return replace(frame, image=out_image)


class LiveController:
    """Takes the hot keys' requests to the processor, and measures the output.

    It is also a sink (put it first in the pipeline's sinks): ``write`` records the output
    rate, capture-to-output latency, and when the first frame of a requested style change
    comes out (:attr:`change_latencies_ms`, logged).

    Args:
        processor: the :class:`LiveFrameProcessor`.
        styles: names cycled by ``n``/``p`` (built-in then user styles).
        on_quit: called by :meth:`quit` (stops the pipeline).
        strength_step: ``+``/``-`` step.
    """

    def __init__(self, processor: LiveFrameProcessor, styles: list[str], on_quit=None, strength_step: float = 0.1):
        self.processor = processor
        self.stats = processor.stats
        current = processor.style_name
        self.styles = list(styles) if current in styles else [current, *styles]
        self._index = self.styles.index(current) if self.styles else 0
        self.strength = processor.strength
        self.effect_on = processor.effect_on
        self.strength_step = strength_step
        self.on_quit = on_quit
        self._lock = threading.Lock()
        self._gen = 0
        self._pending: dict[int, int] = {}
        self._out = RateMeter(90)
        self._latency_ms = 0.0
        self._latencies_ms: collections.deque[float] = collections.deque(maxlen=90)
        self.change_latencies_ms: list[float] = []
        self.frames_out = 0

    # -- requests (any thread) ------------------------------------------------------------
    def _send(self, **kw) -> int:
        with self._lock:
            self._gen += 1
            gen = self._gen
            self._pending[gen] = time.perf_counter_ns()
        self.processor.request(_Command(gen, **kw))
        return gen

    @property
    def style(self) -> str:
        return self.styles[self._index] if self.styles else ""

    def next_style(self, step: int = 1) -> int:
        """Next (``step=1``) or previous (``-1``) style in :attr:`styles`; turns the effect on."""
        if not self.styles:
            return self._gen
        self._index = (self._index + step) % len(self.styles)
        effect = None if self.effect_on else True
        self.effect_on = True
        log.info("style: %s", self.style)
        return self._send(style=self.style, effect=effect)

    def toggle_effect(self) -> int:
        self.effect_on = not self.effect_on
        log.info("effect %s", "on" if self.effect_on else "off")
        return self._send(effect=self.effect_on)

    def change_strength(self, direction: float) -> int:
        """Strength up (``direction > 0``) or down by ``strength_step``, within [0, 1]."""
        step = self.strength_step if direction > 0 else -self.strength_step
        self.strength = float(np.clip(round(self.strength + step, 3), 0.0, 1.0))
        log.info("strength: %.0f%%", 100 * self.strength)
        return self._send(strength=self.strength)

    def set_style(self, name: str, effect=None) -> int:
        """Switch to style ``name`` (a built-in or user style); with ``effect`` (a ready-built
        style effect) switch to that effect first. Turns the effect on."""
        if name not in self.styles:
            self.styles.append(name)
        self._index = self.styles.index(name)
        turn_on = None if self.effect_on or effect is not None else True
        self.effect_on = True
        log.info("style: %s", name)
        return self._send(style=name, effect=turn_on, use=effect)

    def set_strength(self, value: float) -> int:
        """Style strength, clipped to [0, 1]."""
        self.strength = float(np.clip(value, 0.0, 1.0))
        return self._send(strength=self.strength)

    def set_effect(self, effect) -> int:
        """Switch to a ready-built effect (see :mod:`livestyle.effects`), or off with None."""
        self.effect_on = effect is not None
        log.info("effect: %s", getattr(effect, "name", "none"))
        return self._send(use=effect) if effect is not None else self._send(effect=False)

    def refresh_styles(self, names: list[str]) -> None:
        """New names for ``n``/``p`` to cycle (after the gallery changed); the current style
        stays current."""
        current = self.style
        self.styles = list(names) if current in names or not current else [current, *names]
        self._index = self.styles.index(current) if current in self.styles else 0

    def quit(self) -> None:
        if self.on_quit is not None:
            self.on_quit()

    # -- sink (writer thread) ---------------------------------------------------------------
    def write(self, frame: Frame) -> None:
        now = time.perf_counter_ns()
        self._out.tick(now)
        self.frames_out += 1
        if frame.capture_ns:
            ms = (now - frame.capture_ns) / 1e6
            self._latencies_ms.append(ms)
            self._latency_ms = ms if self.frames_out == 1 else 0.9 * self._latency_ms + 0.1 * ms
        gen = frame.meta.get("style_gen", 0)
        if self._pending:
            with self._lock:
                done = [g for g in self._pending if g <= gen]
                t_key = self._pending[max(done)] if done else None
                for g in done:
                    del self._pending[g]
            if t_key is not None:
                ms = (now - t_key) / 1e6
                self.change_latencies_ms.append(ms)
                log.info("change visible after %.0f ms (key press to first output frame)", ms)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    # -- status (any thread) -----------------------------------------------------------------
    def style_hz(self, window_s: float = 5.0) -> float:
        return self.stats.style_rate_hz(window_s, last=60)

    def status(self) -> dict:
        """``out_fps``, ``frames_out`` (since the start), ``style_hz``, ``latency_ms`` (smoothed),
        ``latency_p95_ms`` (of the last 90 frames), ``style``, ``strength``, ``effect``, ``change_ms`` (the last style-change
        latency, or 0), ``stages_ms`` (stage -> median ms of its last 60 runs)."""
        latencies = list(self._latencies_ms)
        return {
            "out_fps": self._out.hz(window_s=3.0),
            "frames_out": self.frames_out,
            "style_hz": self.style_hz(),
            "latency_ms": self._latency_ms,
            "latency_p95_ms": float(np.percentile(latencies, 95)) if latencies else 0.0,
            "style": self.processor.style_name,
            "strength": self.processor.strength,
            "effect": self.processor.effect_on,
            "change_ms": self.change_latencies_ms[-1] if self.change_latencies_ms else 0.0,
            "stages_ms": {k: float(np.median(recent(v, 60))) for k, v in list(self.stats.stage_ms.items()) if v},
        }

"""Live mode: camera in, preview window and virtual camera out, hot keys.

``livestyle run`` without ``--output`` comes here (:func:`run_live`)::

    livestyle run --vcam                      # first camera -> virtual camera + preview
    livestyle run --input 1 --no-preview --vcam
    livestyle run --input clip.mp4 --live     # a file played as a camera, at its frame rate

Threads (see :mod:`livestyle.pipeline`): the camera's grabber keeps only the newest frame; the
pipeline's reader hands it on through a one-slot queue (stale frames are dropped); the
processor segments and composites every frame; the stylizer restyles the clean plate on its own
thread as often as the CPU allows, capped by ``plate.style_rate_hz``, and the output never
waits for it; the writer hands frames to the :class:`LiveController` (rates, latencies), the
virtual camera (whose sender re-sends at a steady rate) and the preview window, which the
**main thread** shows and whose keys it handles.

A style or strength change (keys ``n``/``p``/``+``/``-``/``0``) is applied on the processor
thread at its next frame: the restyle in flight is cancelled, a small restyle (a third of the
transformer size) is shown at once (a cut, no cross-fade), then the full-size one, also as a cut,
as soon as the stylizer has it. Results of restyles started before the change are
thrown away. The time from key press to the first output frame with the new style is logged
and shown in the overlay.

Ctrl-C (SIGINT), SIGTERM, ``q`` or Esc stop every thread, release the camera and the virtual
camera, and :func:`run_live` returns 0.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Iterator

import cv2
import numpy as np

from livestyle.config import Config
from livestyle.errors import DeviceError, InputError, LivestyleError
from livestyle.pipeline import FrameProcessor, Pipeline, RateMeter, RunSummary, Stats, recent
from livestyle.protocols import Frame, RunningMode, Segmenter, StreamInfo, Stylizer
from livestyle.stylize import MagentaStylizer
from livestyle.window import draw_camera_lost

log = logging.getLogger(__name__)


def live_threads(cpu_count: int | None = None) -> int:
    """Transformer threads for live mode: all cores but one (at least 1), so the frame loop
    keeps a core."""
    n = cpu_count if cpu_count is not None else (os.cpu_count() or 2)
    return max(1, n - 1)


def live_config(config: Config) -> Config:
    """``config`` with live-mode thread counts: ``style.threads`` = :func:`live_threads` unless
    it was set explicitly (preset file or flag)."""
    if "threads" in config.style.model_fields_set:
        return config
    style = config.style.model_copy(update={"threads": live_threads()})
    return config.model_copy(update={"style": style})


@dataclass
class _Command:
    generation: int
    style: str | None = None
    strength: float | None = None
    effect: bool | None = None


class LiveFrameProcessor(FrameProcessor):
    """:class:`~livestyle.pipeline.FrameProcessor` for live mode, with style changes.

    The base class's live schedule restyles the newest clean plate whenever the stylizer is
    idle, at most ``plate.style_rate_hz`` times a second. This class adds, all on the
    processor thread:

    * :meth:`request` queues a change (style name, strength, effect on/off) from any thread;
      it is applied at the start of the next frame, and each change has a *generation*;
    * after a change the restyle in flight is cancelled (onnx backend's ``cancel()``), a quick restyle at a
      third of the transformer size is shown at once (a cut), and a full-size restyle is
      queued ahead of the rate cap and shown as a cut too; results of restyles submitted
      before the change are dropped;
    * each output frame's ``meta`` gets ``alpha`` (the ``(H, W)`` float32 matte),
      ``style_gen`` (the generation shown), ``style``, ``strength`` and ``effect``;
    * while the camera is lost (``meta["camera_lost"]``) the last output is repeated with a
      "camera lost" band instead of processing the same frame again.

    Args:
        segmenter, stylizer, config, stats: as for :class:`~livestyle.pipeline.FrameProcessor`
            (further keyword arguments go to it too).
        quick_restyle: show a small restyle right after a change.
    """

    def __init__(self, segmenter: Segmenter, stylizer: Stylizer | None, config: Config, stats: Stats | None = None,
                 *, quick_restyle: bool = True, **kw):
        super().__init__(segmenter, stylizer, config, RunningMode.LIVE, stats, **kw)
        self._main = stylizer
        magenta = isinstance(stylizer, MagentaStylizer)
        self._cancel = getattr(stylizer.backend, "cancel", None) if magenta else None
        self._quick: MagentaStylizer | None = None
        if quick_restyle and magenta and stylizer.backend.fixed_size is None:
            small = max(64, config.style.short_side_px // 3)
            opts = stylizer.options.model_copy(update={"short_side_px": small})
            self._quick = MagentaStylizer(opts, backend=stylizer.backend)
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

    @property
    def effect_on(self) -> bool:
        return self.stylizer is not None

    def close(self) -> None:
        self.stylizer = self._effect  # so that the base class closes it even when it is off
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
            if self._main is None:
                continue
            try:
                if cmd.style is not None and hasattr(self._main, "set_style"):
                    self._main.set_style(cmd.style)
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
        """Drop restyles begun before the last change; show the first one after it as a cut."""
        if tag < self._fresh_from:
            self.stale_dropped += 1
            return
        if self._awaiting_full:
            self._awaiting_full, cut = False, True
            self.shown_generation = self.generation
        super()._show_live(tag, restyled, plate_image, cut)

    def _schedule_live(self) -> None:
        if self._change_pending:
            self._change_pending = False
            st = self.state
            if self._cancel is not None:
                self._cancel()  # the restyle in flight has the old style: free its core
            plate = self.plate.image()
            if self._quick is not None:
                self._quick.style_vector = self._main.style_vector
                self._quick.strength = self._main.strength
                t0 = time.perf_counter()
                self.fader.set(self._quick.stylize(plate), 0)
                self.stats.add("quick_stylize", (time.perf_counter() - t0) * 1000.0)
                self.shown_generation = self.generation
                self.quick_restyles += 1
            self._fresh_from = st.refreshes_submitted
            self._awaiting_full = True
            if self.worker.submit(st.refreshes_submitted, plate, block=False):
                st.refreshes_submitted += 1
                st.last_submit_s = time.perf_counter()
            else:
                st.last_submit_s = 0.0  # as soon as the worker is idle
        super()._schedule_live()

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
        """``out_fps``, ``style_hz``, ``latency_ms``, ``style``, ``strength``, ``effect``,
        ``change_ms`` (the last style-change latency, or 0), ``stages_ms`` (stage -> median ms
        of its last 60 runs)."""
        return {
            "out_fps": self._out.hz(window_s=3.0),
            "style_hz": self.style_hz(),
            "latency_ms": self._latency_ms,
            "style": self.processor.style_name,
            "strength": self.processor.strength,
            "effect": self.processor.effect_on,
            "change_ms": self.change_latencies_ms[-1] if self.change_latencies_ms else 0.0,
            "stages_ms": {k: float(np.median(recent(v, 60))) for k, v in list(self.stats.stage_ms.items()) if v},
        }


class _LimitedSource:
    """At most ``n`` frames of a live source."""

    def __init__(self, source, n: int):
        self.source, self.n = source, n
        self.mode = source.mode

    @property
    def info(self) -> StreamInfo:
        return self.source.info

    def __iter__(self) -> Iterator[Frame]:
        yield from islice(self.source, self.n)

    def close(self) -> None:
        self.source.close()


@dataclass
class LiveResult:
    """What a live run did: ``summary`` (frames in/out, dropped, wall time), ``out_fps``
    (output frames per second), ``style_hz`` (full restyles per second), ``change_ms``
    (key-to-output latency of each style change), ``vcam_sent`` (frames sent to the virtual
    camera), ``snapshots``."""

    summary: RunSummary
    out_fps: float = 0.0
    style_hz: float = 0.0
    style_refreshes: int = 0
    change_ms: list[float] = field(default_factory=list)
    vcam_sent: int = 0
    vcam_fps: float = 0.0
    frames_shown: int = 0
    camera_losses: int = 0
    camera_reconnects: int = 0
    snapshots: list = field(default_factory=list)

    def line(self) -> str:
        s = self.summary
        parts = [
            f"live: {s.frames_out} frames out in {s.wall_s:.1f} s ({self.out_fps:.1f} fps)",
            f"stylizer {self.style_hz:.1f} Hz ({self.style_refreshes} restyles)",
            f"{s.dropped} stale frames dropped",
        ]
        if self.vcam_sent:
            parts.append(f"virtual camera {self.vcam_sent} frames ({self.vcam_fps:.1f} fps)")
        if self.change_ms:
            parts.append(
                f"style change visible after {np.median(self.change_ms):.0f} ms median, {max(self.change_ms):.0f} ms max"
            )
        if self.camera_losses:
            parts.append(f"camera lost {self.camera_losses}x, reopened {self.camera_reconnects}x")
        return ", ".join(parts)


class LiveSession:
    """A live run: source -> :class:`LiveFrameProcessor` -> controller, virtual camera, window.

    Args:
        source: a live :class:`~livestyle.protocols.Source` (e.g.
            :class:`~livestyle.camera.CameraSource`); closed by :meth:`run`.
        config: options (use :func:`live_config` for live thread counts).
        processor: a ready processor (default: built from ``config``).
        preview: show the preview window (the display must have been checked).
        vcam: send to a virtual camera (``config.vcam`` gives device, backend and fps).
        max_frames: stop after this many camera frames; duration_s: after this many seconds.

    Raises (from the constructor):
        DeviceError: no virtual camera device; BackendNotInstalled: no pyvirtualcam.
        InputError, ModelError: bad style or missing model.
    """

    def __init__(self, source, config: Config, *, processor: LiveFrameProcessor | None = None,
                 preview: bool = True, vcam: bool = False, max_frames: int | None = None,
                 duration_s: float | None = None):
        from livestyle.gallery import all_style_names

        self.source = source
        self.config = config
        self.duration_s = duration_s
        self.processor = processor or build_processor(config)
        self.controller = LiveController(
            self.processor, all_style_names(), on_quit=self.stop, strength_step=config.live.strength_step
        )
        self.sinks: list = [self.controller]
        self.vcam = None
        self.window = None
        info = source.info
        try:
            if vcam:
                from livestyle.vcam import VirtualCameraSink

                o = config.vcam
                self.vcam = VirtualCameraSink(
                    info.width_px, info.height_px, o.fps or info.rate_hz or 30.0,
                    device=o.device or None, backend=o.backend or None, mirror=config.live.mirror,
                )  # fmt: skip
                self.sinks.append(self.vcam)
            if preview:
                from livestyle.window import PreviewWindow

                self.window = PreviewWindow(
                    self.controller, overlay=config.preview.overlay, mirror=config.live.mirror,
                    snapshot_dir=config.preview.snapshot_dir, check=False,
                )  # fmt: skip
                self.sinks.append(self.window)
        except BaseException:
            if self.vcam is not None:
                self.vcam.close()
            self.processor.close()
            raise
        src = _LimitedSource(source, max_frames) if max_frames else source
        self.pipeline = Pipeline(src, self.processor, self.sinks)
        self._error: BaseException | None = None
        self._summary: RunSummary | None = None

    def stop(self) -> None:
        """Ask every thread to stop (thread-safe, also from a signal handler)."""
        self.pipeline.stop()

    def _run_pipeline(self) -> None:
        try:
            self._summary = self.pipeline.run()
        except BaseException as err:  # noqa: BLE001 - re-raised on the calling thread
            self._error = err
        finally:
            if self.window is not None:
                self.window.close()

    def run(self, *, handle_signals: bool = True) -> LiveResult:
        """Run until the source ends, a stop (``q``, Ctrl-C, SIGTERM, ``duration_s``) or a
        failure. The calling thread owns the preview window.

        Raises:
            PipelineError: a stage failed (camera, processing, a sink).
        """
        thread = threading.Thread(target=self._run_pipeline, name="livestyle-pipeline", daemon=True)
        old_handlers = {}
        if handle_signals and threading.current_thread() is threading.main_thread():
            def on_signal(signum, _frame):
                if self.pipeline.stopped:  # a second Ctrl-C: give up waiting
                    raise KeyboardInterrupt
                log.info("stopping (signal %d)", signum)
                self.stop()

            for sig in (signal.SIGINT, signal.SIGTERM):
                old_handlers[sig] = signal.signal(sig, on_signal)
        timer = threading.Timer(self.duration_s, self.stop) if self.duration_s else None
        t0 = time.perf_counter()
        cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # OpenCV's own pool would compete with the stylizer's core
        try:
            thread.start()
            if timer is not None:
                timer.daemon = True
                timer.start()
            while thread.is_alive():
                if self.window is not None:
                    if not self.window.pump(0.02) and thread.is_alive():
                        self.stop()
                        thread.join(0.05)
                else:
                    thread.join(0.1)
        finally:
            self.stop()
            thread.join(timeout=15)
            if timer is not None:
                timer.cancel()
            if self.window is not None:
                self.window.destroy()
            if self.vcam is not None:
                self.vcam.close()
            self.source.close()
            cv2.setNumThreads(cv_threads)
            for sig, h in old_handlers.items():
                signal.signal(sig, h)
        if self._error is not None:
            raise self._error
        summary = self._summary or RunSummary(stats=self.processor.stats)
        wall = max(summary.wall_s or (time.perf_counter() - t0), 1e-9)
        st = self.processor.stats
        return LiveResult(
            summary=summary,
            out_fps=summary.frames_out / wall,
            style_hz=st.style_rate_hz(),
            style_refreshes=st.style_refreshes,
            change_ms=list(self.controller.change_latencies_ms),
            vcam_sent=self.vcam.frames_sent if self.vcam else 0,
            vcam_fps=(self.vcam.frames_sent / wall) if self.vcam else 0.0,
            frames_shown=self.window.frames_shown if self.window else 0,
            camera_losses=getattr(self.source, "losses", 0),
            camera_reconnects=getattr(self.source, "reconnects", 0),
            snapshots=list(self.window.snapshots) if self.window else [],
        )


def build_processor(config: Config, stats: Stats | None = None) -> LiveFrameProcessor:
    """Segmenter (``auto`` = landscape), effect (the Magenta stylizer by default) and person
    layer for live mode, built like a file run's (:mod:`livestyle.runner`).

    Raises:
        InputError: unknown effect or style. ModelError: a model is missing or corrupt.
    """
    from livestyle import runner

    segmenter = runner.make_segmenter(config, RunningMode.LIVE)
    stylizer = runner.make_stylizer(config)
    person = runner.make_person_layer(config, RunningMode.LIVE, stylizer)
    return LiveFrameProcessor(
        segmenter, stylizer, config, stats, quick_restyle=config.live.quick_restyle, person_layer=person
    )


def _setup_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="livestyle: %(message)s", stream=sys.stderr)


def run_live(args, config: Config) -> int:
    """``livestyle run`` without ``--output``: a camera (or ``--input FILE --live``) to the
    preview window and/or the virtual camera. Returns 0 after a clean stop.

    Raises:
        DeviceError: no camera (one line that shows how to restyle a file instead), no display
            for the preview without ``--vcam``, or no virtual camera device.
        InputError: a file input without ``--output`` or ``--live``; bad options.
        PipelineError: a stage failed while running.
    """
    from livestyle.camera import NO_CAMERA_MESSAGE, cameras_present, looks_like_camera, open_camera
    from livestyle.window import display_error, display_problem

    spec = args.input
    file_live = bool(getattr(args, "live", False))
    if spec is not None and not looks_like_camera(spec) and not file_live:
        raise InputError(
            f"{spec}: a file input needs --output OUT.mp4, or --live to play it as a live camera"
        )
    if spec is None and not file_live and cameras_present() is False:
        raise DeviceError(NO_CAMERA_MESSAGE)
    vcam = config.vcam.enabled
    preview = config.preview.enabled
    if not preview and not vcam:
        raise InputError("--no-preview without --vcam leaves nothing to show; add --vcam or drop --no-preview")
    if preview:
        problem = display_problem()
        if problem and not vcam:
            raise display_error(problem)
        if problem:
            print(f"livestyle: {problem}: no preview window, virtual camera only", file=sys.stderr)
            preview = False
    frames = getattr(args, "frames", None)
    if frames is not None and frames < 1:
        raise InputError(f"--frames {frames}: must be at least 1")
    config = live_config(config)
    _setup_logging()
    source = open_camera(spec, config.camera, file_as_camera=file_live)
    try:
        session = LiveSession(
            source, config, preview=preview, vcam=vcam, max_frames=frames,
            duration_s=getattr(args, "duration", None),
        )  # fmt: skip
    except BaseException:
        source.close()
        raise
    info = source.info
    outs = [n for n, on in (("preview window", preview), (f"virtual camera {session.vcam.device}" if vcam else "", vcam)) if on]
    print(
        f"livestyle: live: {getattr(source.backend, 'name', 'camera')} {info.width_px}x{info.height_px} "
        f"at {info.rate_hz:.2f} fps -> {' + '.join(outs)}; style {config.style.style}; "
        f"{'press h for keys, q to quit' if preview else 'Ctrl-C to stop'}",
        file=sys.stderr, flush=True,
    )  # fmt: skip
    result = session.run()
    print(f"livestyle: {result.line()}", file=sys.stderr, flush=True)
    return 0


__all__ = [
    "LiveController", "LiveFrameProcessor", "LiveResult", "LiveSession", "build_processor",
    "draw_camera_lost", "live_config", "live_threads", "run_live",
]  # fmt: skip

"""Live mode: camera in, preview window and virtual camera out, hot keys.

``livestyle run`` without ``--output`` comes here (:func:`run_live`)::

    livestyle run --vcam                      # first camera -> virtual camera + preview
    livestyle run --input 1 --no-preview --vcam
    livestyle run --input clip.mp4 --live     # a file played as a camera, at its frame rate

Threads (see :mod:`livestyle.engine.pipeline`): the camera's grabber keeps only the newest frame; the
pipeline's reader hands it on through a one-slot queue (stale frames are dropped); the
processor segments and composites every frame (carrying the matte over while the frame
barely changes); the stylizer restyles the clean plate on its own thread when it changed enough
to be seen, at most ``plate.style_rate_hz`` times a second, and the output never waits for it; the writer hands frames to the :class:`LiveController` (rates, latencies), the
virtual camera (whose sender re-sends at a steady rate) and the preview window, which the
**main thread** shows and whose keys it handles.

A style or strength change (keys ``n``/``p``/``+``/``-``/``0``) is applied on the processor
thread at its next frame: the restyle in flight is cancelled, a small restyle (a third of the
transformer size) is shown at once (a cut, no cross-fade), then the full-size one, also as a cut,
as soon as the stylizer has it. Results of restyles started before the change are
thrown away. The time from key press to the first output frame with the new style is logged
and shown in the overlay.

Ctrl-C (SIGINT), SIGTERM, SIGHUP, ``q`` or Esc stop every thread, release the camera and the
virtual camera, and :func:`run_live` prints its summary line and returns 0 (128 + the signal
number after SIGTERM or SIGHUP, with ``stopped by SIGTERM`` in the line).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from itertools import islice
from typing import Iterator

import cv2
import numpy as np

from livestyle import signals
from livestyle.config import Config
from livestyle.errors import DeviceError, InputError
from livestyle.engine.live import LiveController, LiveFrameProcessor
from livestyle.engine.pipeline import Pipeline
from livestyle.engine.stats import RunSummary, Stats
from livestyle.protocols import Frame, RunningMode, StreamInfo
from livestyle.io.window import draw_camera_lost

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
    stopped_by: int | None = None  # the stop signal that ended the session, if any

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
            :class:`~livestyle.io.camera.CameraSource`); closed by :meth:`run`.
        config: options (use :func:`live_config` for live thread counts).
        processor: a ready processor (default: built from ``config``).
        preview: show the preview window (the display must have been checked).
        vcam: send to a virtual camera (``config.vcam`` gives device, backend and fps).
        max_frames: stop after this many camera frames; duration_s: after this many seconds.
        extra_sinks: more sinks after the controller (e.g. the control panel's preview feed).

    Raises (from the constructor):
        DeviceError: no virtual camera device; BackendNotInstalled: no pyvirtualcam.
        InputError, ModelError: bad style or missing model.
    """

    def __init__(self, source, config: Config, *, processor: LiveFrameProcessor | None = None,
                 preview: bool = True, vcam: bool = False, max_frames: int | None = None,
                 duration_s: float | None = None, extra_sinks: tuple = ()):
        from livestyle.stages.styles import all_style_names

        self.source = source
        self.config = config
        self.duration_s = duration_s
        self.processor = processor or build_processor(config)
        self.controller = LiveController(
            self.processor, all_style_names(), on_quit=self.stop, strength_step=config.live.strength_step
        )
        self.sinks: list = [self.controller, *extra_sinks]
        self.vcam = None
        self.window = None
        info = source.info
        try:
            if vcam:
                from livestyle.io.vcam import VirtualCameraSink

                o = config.vcam
                self.vcam = VirtualCameraSink(
                    info.width_px, info.height_px, o.fps or info.rate_hz or 30.0,
                    device=o.device or None, backend=o.backend or None, mirror=config.live.mirror,
                )  # fmt: skip
                self.sinks.append(self.vcam)
            if preview:
                from livestyle.io.window import PreviewWindow

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

    def set_mirror(self, on: bool) -> None:
        """Mirror the virtual camera and the preview window left-right (any thread)."""
        for sink in (self.vcam, self.window):
            if sink is not None:
                sink.mirror = bool(on)

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
        # Ctrl-C, SIGTERM, SIGHUP: stop the threads and report (later signals are ignored).
        stop_signals = signals.graceful(self.stop) if handle_signals else contextlib.nullcontext()
        stopped_by = None
        timer = threading.Timer(self.duration_s, self.stop) if self.duration_s else None
        t0 = time.perf_counter()
        cv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # OpenCV's own pool would compete with the stylizer's core
        with stop_signals:
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
                if handle_signals:
                    stopped_by = signals.received()
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
            stopped_by=stopped_by,
        )


def build_processor(config: Config, stats: Stats | None = None) -> LiveFrameProcessor:
    """Segmenter (``auto`` = landscape), effect (the Magenta stylizer by default) and person
    layer for live mode, built like a file run's (:mod:`livestyle.app.run`).

    Raises:
        InputError: unknown effect or style. ModelError: a model is missing or corrupt.
    """
    from livestyle.app import run as runner

    segmenter = runner.make_segmenter(config, RunningMode.LIVE)
    stylizer = runner.make_stylizer(config, render=False)
    person = runner.make_person_layer(config, RunningMode.LIVE, stylizer)
    renderer = None
    if config.render.method != "magenta" and stylizer is not None:
        from livestyle.engine.render import BackgroundRenderer
        from livestyle.stages.render import style_image

        method = config.render.method
        renderer = BackgroundRenderer(method, style_image(config.style.style, method), config.render)
    return LiveFrameProcessor(
        segmenter, stylizer, config, stats, quick_restyle=config.live.quick_restyle, person_layer=person,
        renderer=renderer,
    )


def _setup_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="livestyle: %(message)s", stream=sys.stderr)


def run_live(args, config: Config) -> int:
    """``livestyle run`` without ``--output``: a camera (or ``--input FILE --live``) to the
    preview window and/or the virtual camera. Returns 0 after a clean stop (``q``, Ctrl-C, the
    end), 143 or 129 after SIGTERM or SIGHUP.

    Raises:
        DeviceError: no camera (one line that shows how to restyle a file instead), no display
            for the preview without ``--vcam``, or no virtual camera device.
        InputError: a file input without ``--output`` or ``--live``; bad options.
        PipelineError: a stage failed while running.
    """
    from livestyle.io.camera import NO_CAMERA_MESSAGE, cameras_present, looks_like_camera, open_camera
    from livestyle.io.window import display_error, display_problem

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
    panel_on = config.panel.enabled
    if not preview and not vcam and not panel_on:
        raise InputError("--no-preview without --vcam leaves nothing to show; add --vcam or --panel, or drop --no-preview")
    if preview:
        problem = display_problem()
        if problem and not vcam and not panel_on:
            raise display_error(problem)
        if problem:
            print(f"livestyle: {problem}: no preview window", file=sys.stderr)
            preview = False
    frames = getattr(args, "frames", None)
    if frames is not None and frames < 1:
        raise InputError(f"--frames {frames}: must be at least 1")
    config = live_config(config)
    _setup_logging()
    panel = None
    if panel_on:  # the extra and the port are checked before the camera opens
        from livestyle.app.panel.server import Panel

        panel = Panel(config.panel)
    try:
        source = open_camera(spec, config.camera, file_as_camera=file_live)
        try:
            session = LiveSession(
                source, config, preview=preview, vcam=vcam, max_frames=frames,
                duration_s=getattr(args, "duration", None), extra_sinks=(panel.feed,) if panel else (),
            )  # fmt: skip
        except BaseException:
            source.close()
            raise
        if panel is not None:
            panel.attach(session)
        return _run_session(session, source, config, preview, vcam, panel_on)
    finally:
        if panel is not None:
            panel.close()


def _run_session(session: LiveSession, source, config: Config, preview: bool, vcam: bool, panel: bool) -> int:
    """Print what runs where, run ``session`` until it stops, print its figures; returns 0."""
    info = source.info
    outs = [n for n, on in (("preview window", preview), (f"virtual camera {session.vcam.device}" if vcam else "", vcam),
                            ("control panel", panel)) if on]
    print(
        f"livestyle: live: {getattr(source.backend, 'name', 'camera')} {info.width_px}x{info.height_px} "
        f"at {info.rate_hz:.2f} fps -> {' + '.join(outs)}; style {config.style.style}; "
        f"{'press h for keys, q to quit' if preview else 'Ctrl-C to stop'}",
        file=sys.stderr, flush=True,
    )  # fmt: skip
    result = session.run()
    by = result.stopped_by
    if by is None or by == signal.SIGINT:  # Ctrl-C is the usual way to end a live session
        print(f"livestyle: {result.line()}", file=sys.stderr, flush=True)
        return 0
    try:  # SIGTERM, SIGHUP: say so, and exit 128 + the signal number
        print(f"livestyle: stopped by {signals.signal_name(by)}; {result.line()}", file=sys.stderr, flush=True)
    except OSError:  # the terminal is gone
        pass
    return 128 + by


__all__ = [
    "LiveController", "LiveFrameProcessor", "LiveResult", "LiveSession", "build_processor",
    "draw_camera_lost", "live_config", "live_threads", "run_live",
]  # fmt: skip

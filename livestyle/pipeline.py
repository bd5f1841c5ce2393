"""The pipeline: capture -> segment -> stylize -> composite -> sink, on threads.

Threads (each joined in ``finally``; bounded queues; a sentinel ends the stream):

* **reader**: pulls frames from the :class:`~livestyle.protocols.Source`. In ``LIVE`` mode its
  queue holds one frame and a newer frame replaces a stale one (counted as dropped), so
  latency never builds up.
* **segmenter** (recorded video only): runs the segmentation model one frame ahead, so the
  second core works while the processor refines and composites the previous frame.
* **processor**: segments (live), refines the alpha matte, updates the clean plate, schedules
  restyling and composites (:class:`FrameProcessor`).
* **stylizer**: restyles clean-plate snapshots (:class:`StyleWorker`). In ``VIDEO`` mode the
  plate is restyled every ``refresh_frames`` frames and each result is shown from a fixed
  later frame on, so the output is deterministic. In ``LIVE`` mode it restyles the newest plate
  as often as the CPU allows, capped by ``style_rate_hz``, and the output never waits for it;
  :class:`AdaptiveRate` lengthens its period when the frame loop falls behind and shortens
  it again when there is spare CPU.
* **writer**: hands output frames to the sinks.

An exception in any thread stops all of them and is raised from :meth:`Pipeline.run` as a
:class:`~livestyle.errors.PipelineError` naming the stage; the sinks are aborted so no
half-written file is left.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict, deque
from itertools import islice
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

import cv2
import numpy as np

from livestyle.composite import AlphaCompositor
from livestyle.config import Config
from livestyle.errors import PipelineError
from livestyle.plate import CleanPlate, CrossFader, LocalRefresh, PlateSnapshot
from livestyle.protocols import Compositor, Frame, RunningMode, Segmenter, Sink, Source, Stylizer
from livestyle.segment import MaskRefiner
from livestyle.stylize import transfer_size

STAGES = ("capture", "segment", "refine", "stylize", "composite", "sink")
_END = object()
_POLL_S = 0.05


class Stats:
    """Per-stage durations in milliseconds, latencies and counters, for the benchmark.

    Each series keeps its newest ``keep`` values (bounded deques: a live session of hours
    neither grows nor slows down). Each stage is recorded by one thread only; readers take
    snapshots.
    """

    def __init__(self, keep: int = 20_000):
        self.keep = keep
        self.stage_ms: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=keep))
        self.latency_ms: deque[float] = deque(maxlen=keep)
        self.style_done_ns: deque[int] = deque(maxlen=keep)
        self.style_refreshes = 0  # all restyles, not only the kept ones

    def add(self, stage: str, ms: float) -> None:
        self.stage_ms[stage].append(ms)

    def style_done(self) -> None:
        """Record that a restyle finished now."""
        self.style_done_ns.append(time.perf_counter_ns())
        self.style_refreshes += 1

    @staticmethod
    def percentiles(values: Iterable[float]) -> dict[str, float]:
        """``{"p50": ..., "p95": ...}`` of ``values`` (0 for none)."""
        arr = np.asarray(list(values), dtype=np.float64)
        if arr.size == 0:
            return {"p50": 0.0, "p95": 0.0}
        return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95))}

    def style_rate_hz(self, window_s: float | None = None, last: int | None = None) -> float:
        """Restyles per second over all kept ones, the ``last`` few, and/or the last
        ``window_s`` seconds."""
        done = recent(self.style_done_ns, last) if last else list(self.style_done_ns)
        if window_s is not None:
            cut = time.perf_counter_ns() - int(window_s * 1e9)
            done = [t for t in done if t >= cut]
        if len(done) < 2:
            return 0.0
        return (len(done) - 1) / ((done[-1] - done[0]) / 1e9)


class RateMeter:
    """Events per second over the last ``keep`` events (``tick()`` at each one)."""

    def __init__(self, keep: int = 60):
        self._t: deque[int] = deque(maxlen=keep)

    def tick(self, t_ns: int | None = None) -> None:
        self._t.append(time.perf_counter_ns() if t_ns is None else t_ns)

    def hz(self, window_s: float | None = None) -> float:
        ts = list(self._t)
        if window_s is not None:
            cut = time.perf_counter_ns() - window_s * 1e9
            ts = [t for t in ts if t >= cut]
        if len(ts) < 2 or ts[-1] <= ts[0]:
            return 0.0
        return (len(ts) - 1) / ((ts[-1] - ts[0]) / 1e9)


def recent(values, n: int) -> list:
    """The last ``n`` items of a list or deque, oldest first."""
    return list(islice(reversed(values), n))[::-1]


class _Timer:
    __slots__ = ("stats", "stage", "t0")

    def __init__(self, stats: Stats, stage: str):
        self.stats, self.stage = stats, stage

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.stats.add(self.stage, (time.perf_counter() - self.t0) * 1000.0)


class StyleWorker:
    """Restyles plate snapshots on its own thread.

    ``submit(tag, content, block)`` queues a ``(h, w, 3)`` uint8 BGR image or a
    :class:`~livestyle.plate.PlateSnapshot` (filled on this thread); ``poll()`` returns the
    newest finished ``(tag, restyled, content_image)``; ``wait(tag)`` blocks for one.
    """

    def __init__(self, stylizer: Stylizer, stats: Stats, stop: threading.Event, on_error: Callable):
        self.stylizer = stylizer
        self.stats = stats
        self._stop = stop
        self._on_error = on_error
        self._in: queue.Queue = queue.Queue(maxsize=2)
        self._out: queue.Queue = queue.Queue()
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livestyle-stylizer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def idle(self) -> bool:
        return self._in.empty() and not self._busy.is_set()

    def submit(self, tag, image: np.ndarray, block: bool = True) -> bool:
        while not self._stop.is_set():
            try:
                self._in.put((tag, image), timeout=_POLL_S if block else 0)
                return True
            except queue.Full:
                if not block:
                    return False
        return False

    def poll(self):
        """The newest finished result, or None."""
        item = None
        while True:
            try:
                item = self._out.get_nowait()
            except queue.Empty:
                return item

    def wait(self, tag) -> tuple[np.ndarray, np.ndarray]:
        """Block until ``tag`` is done; returns ``(restyled, content)``."""
        while True:
            try:
                t, out, content = self._out.get(timeout=_POLL_S)
            except queue.Empty:
                if self._stop.is_set():
                    raise _Stopped
                continue
            if t == tag:
                return out, content

    def _run(self) -> None:
        try:
            while True:
                try:
                    item = self._in.get(timeout=_POLL_S)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    continue
                if item is _END:
                    return
                self._busy.set()
                tag, content = item
                with _Timer(self.stats, "stylize"):
                    image = content.image() if isinstance(content, PlateSnapshot) else content
                    out = self.stylizer.stylize(image)
                self.stats.style_done()
                self._out.put((tag, out, image))
                self._busy.clear()
        except BaseException as err:  # noqa: BLE001 - reported to the pipeline
            self._on_error("stylize", err)

    def close(self) -> None:
        try:
            self._in.put_nowait(_END)
        except queue.Full:
            pass
        if self._thread.is_alive():
            self._thread.join(timeout=10)


class _Stopped(Exception):
    pass


class AdaptiveRate:
    """The live stylizer's refresh period, adapted to the frame loop's load.

    ``observe(busy_s, interval_s)`` takes how long the frame loop worked on one frame and the
    time between camera frames. The load (their ratio, smoothed) says whether the output keeps
    up: above ``high`` the period grows by ``backoff`` at once (the stylizer yields its core
    before a frame has to be dropped); below ``low`` it shrinks by ``recover`` per frame, down
    to ``1 / max_hz`` (spare CPU restyles more often). ``period_s`` is the current period.
    """

    def __init__(self, max_hz: float, min_hz: float = 0.5, low: float = 0.55, high: float = 0.8,
                 backoff: float = 1.5, recover: float = 0.97, smoothing: float = 0.2):
        self.min_period_s = 1.0 / max_hz
        self.max_period_s = max(1.0 / min_hz, self.min_period_s)
        self.low, self.high = low, high
        self.backoff, self.recover, self.smoothing = backoff, recover, smoothing
        self.period_s = self.min_period_s
        self.load = 0.0
        self._cooldown = 0

    def observe(self, busy_s: float, interval_s: float) -> None:
        if interval_s <= 0:
            return
        self.load += self.smoothing * (busy_s / interval_s - self.load)
        if self._cooldown:
            self._cooldown -= 1
        elif self.load > self.high:
            self.period_s = min(self.period_s * self.backoff, self.max_period_s)
            self._cooldown = 5  # let the change show in the load before acting again
        elif self.load < self.low:
            self.period_s = max(self.period_s * self.recover, self.min_period_s)

    @property
    def rate_hz(self) -> float:
        return 1.0 / self.period_s


@dataclass
class ScheduleState:
    refreshes_submitted: int = 0
    refreshes_shown: int = 0
    last_submit_s: float = 0.0


class FrameProcessor:
    """Per-frame work of the processor thread: segment, refine, update the plate, schedule
    restyling, composite.

    Args:
        segmenter: a :class:`~livestyle.protocols.Segmenter`.
        stylizer: a :class:`~livestyle.protocols.Stylizer` for the clean plate, or None (the
            effect is off: the frame passes through).
        config: :class:`~livestyle.config.Config`.
        mode: the running mode.
        stats: where stage times go.
        compositor: default: :class:`AlphaCompositor`, with light wrap if
            ``config.effect.light_wrap`` > 0.
        person_layer: a per-frame effect whose ``render(frame, alpha)`` replaces the kept
            frame (``--person-style``), or None.

    The stylizer is a plate effect (``stylize(plate)``, run on the clean plate at its refresh)
    or a per-frame effect (``per_frame = True``: ``render(frame, keep)`` every frame; see
    :mod:`livestyle.effects`). With ``config.effect.target == "person"`` the matte is inverted
    (the background is kept) and a plate effect restyles the frame instead of the plate.
    """

    def __init__(
        self,
        segmenter: Segmenter,
        stylizer: Stylizer | None,
        config: Config,
        mode: RunningMode,
        stats: Stats | None = None,
        compositor: Compositor | None = None,
        person_layer=None,
    ):
        effect = config.effect
        self.target_person = effect.target == "person"
        if self.target_person and stylizer is not None and not getattr(stylizer, "per_frame", False):
            from livestyle.effects.layer import FrameStylizer

            stylizer = FrameStylizer(stylizer, mode)
        if compositor is None and effect.light_wrap > 0.0:
            from livestyle.effects.lightwrap import LightWrapCompositor

            compositor = LightWrapCompositor(effect.light_wrap)
        self.segmenter = segmenter
        self.stylizer = stylizer
        self.person_layer = person_layer
        self.config = config
        self.mode = mode
        self.stats = stats or Stats()
        self.compositor = compositor or AlphaCompositor()
        if config.mask.mode == "hard":
            from livestyle.deeplab import HardMaskRefiner

            self.refiner = HardMaskRefiner(config.mask, mode)
        else:
            self.refiner = MaskRefiner(config.mask, mode)
        self.fader = CrossFader()
        self.plate: CleanPlate | None = None
        self.state = ScheduleState()
        self.worker: StyleWorker | None = None
        self.last_alpha: np.ndarray | None = None
        self._pending: deque = deque()  # (show at frame, refresh tag, plate image)
        po = config.plate
        self.local = LocalRefresh(po.change_low, po.change_high, po.local_refresh)
        self._last_thumb: np.ndarray | None = None
        self.rate = AdaptiveRate(config.plate.style_rate_hz)
        self._original: tuple = (None, None)  # (small plate, the same at frame size)
        self._last_capture_ns = 0

    # -- wiring -------------------------------------------------------------------------
    def start(self, stop: threading.Event, on_error: Callable) -> None:
        if self.stylizer is not None and self.mode is not RunningMode.IMAGE:
            self.worker = StyleWorker(self.stylizer, self.stats, stop, on_error)
            self.worker.start()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        for layer in (self.person_layer, self.stylizer):
            if getattr(layer, "per_frame", False):
                layer.close()

    def _plate_for(self, image: np.ndarray) -> CleanPlate:
        h, w = image.shape[:2]
        short = getattr(self.stylizer, "short_side_px", None) or self.config.style.short_side_px
        th, tw = transfer_size(h, w, short)
        if self.plate is None or self.plate.size_px != (tw, th):
            self.plate = CleanPlate((tw, th), self.config.plate)
        return self.plate

    # -- scheduling ---------------------------------------------------------------------
    def _plate_changed(self) -> bool:
        """Whether the plate differs from the last restyled one by more than ``min_change``
        levels (mean absolute difference of 64x36 thumbnails)."""
        thumb = self.plate.thumbnail()
        last, self._last_thumb = self._last_thumb, thumb
        if last is None:
            return True
        if float(cv2.absdiff(thumb, last).mean()) > self.config.plate.min_change:
            return True
        self._last_thumb = last  # compare later checks with what was actually restyled
        return False

    def _schedule_video(self, index: int) -> None:
        """Every ``refresh_frames`` frames the plate is restyled if it changed; a refresh taken
        at frame i fades in from frame i + N on (the first one is shown at once).
        Deterministic: it depends on the frames only, never on thread timing."""
        n = self.config.plate.refresh_frames
        if index % n == 0 and self._plate_changed():
            self.worker.submit(index, self.plate.snapshot())
            self._pending.append((index + n if index else 0, index))
            self.state.refreshes_submitted += 1
        if self._pending and self._pending[0][0] == index:
            _, tag = self._pending.popleft()
            fade = min(self.config.plate.crossfade_frames, n) if tag else 0
            restyled, plate_image = self.worker.wait(tag)
            self.fader.set(self.local.apply(restyled, plate_image), fade)
            self.state.refreshes_shown += 1

    def _schedule_live(self) -> None:
        """Restyle the newest plate whenever the worker is idle, at most ``style_rate_hz``."""
        now = time.perf_counter()
        if self.worker.idle and now - self.state.last_submit_s >= self.rate.period_s:
            if self.worker.submit(self.state.refreshes_submitted, self.plate.snapshot(), block=False):
                self.state.refreshes_submitted += 1
                self.state.last_submit_s = now
        result = self.worker.poll()
        if result is not None:
            self._show_live(*result)

    def _show_live(self, tag: int, restyled: np.ndarray, plate_image: np.ndarray, cut: bool = False) -> None:
        """Show a finished live restyle: blended in where its plate changed, faded in (or a
        ``cut``). Subclasses may drop stale results or force a cut."""
        shown = self.local.apply(restyled, plate_image)
        fade = 0 if cut or not self.fader.ready else self.config.plate.crossfade_frames
        self.fader.set(shown, fade)
        self.state.refreshes_shown += 1

    # -- per frame ------------------------------------------------------------------------
    def process(self, frame: Frame) -> Frame:
        """Return the output frame for ``frame`` (same size, uint8 BGR)."""
        if self.mode is not RunningMode.LIVE:
            return self._process(frame)
        t0 = time.perf_counter()
        out = self._process(frame)
        if self._last_capture_ns and frame.capture_ns > self._last_capture_ns:
            self.rate.observe(time.perf_counter() - t0, (frame.capture_ns - self._last_capture_ns) / 1e9)
        self._last_capture_ns = frame.capture_ns
        return out

    def _process(self, frame: Frame) -> Frame:
        image = frame.image
        st = self.stats
        mask = frame.meta.pop("mask", None)  # precomputed by the pipeline's segment thread
        if mask is None:
            with _Timer(st, "segment"):
                mask = self.segmenter.segment(image)
        per_frame = getattr(self.stylizer, "per_frame", False)
        with _Timer(st, "refine"):
            alpha = self.refiner.refine(mask, image)
            if not per_frame:  # per-frame effects need no clean plate
                plate = self._plate_for(image)
                plate.update(image, self.refiner.last_confidence)
        self.last_alpha = alpha
        if self.stylizer is None:
            return replace(frame, image=image)
        keep = 1.0 - alpha if self.target_person else alpha
        if self.person_layer is not None:
            with _Timer(st, "person"):
                image = self.person_layer.render(image, alpha)
        if per_frame:
            with _Timer(st, "stylize"):
                background = self.stylizer.render(frame.image, keep)
            with _Timer(st, "composite"):
                out = self.compositor.composite(image, background, keep)
            return replace(frame, image=out)
        if self.mode is RunningMode.IMAGE:
            with _Timer(st, "stylize"):
                plate_image = plate.image()
                self.fader.set(self.local.apply(self.stylizer.stylize(plate_image), plate_image), 0)
        elif self.mode is RunningMode.VIDEO:
            self._schedule_video(frame.index)
        else:
            self._schedule_live()
        if not self.fader.ready:  # live mode before the first restyled plate
            return replace(frame, image=image)
        with _Timer(st, "composite"):
            size = (image.shape[1], image.shape[0])
            background = self.fader.frame(size)
            out = self.compositor.composite(image, background, keep, self._original_background(size))
        return replace(frame, image=out)

    def _original_background(self, size_px: tuple[int, int]) -> np.ndarray | None:
        """The unstyled plate behind the shown restyling, at frame size (cached per refresh),
        for edge decontamination; None when it does not apply (off, target person, a person
        style, or nothing restyled yet)."""
        plate = self.local.plate
        if plate is None or not self.config.mask.decontaminate or self.target_person or self.person_layer is not None:
            return None
        if self._original[0] is not plate:
            self._original = (plate, cv2.resize(plate, size_px, interpolation=cv2.INTER_LINEAR))
        return self._original[1]


@dataclass
class RunSummary:
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    wall_s: float = 0.0
    stats: Stats = field(default_factory=Stats)


class Pipeline:
    """Wires a source, a :class:`FrameProcessor` and sinks on threads.

    ``run()`` blocks until the source ends, ``stop()`` is called, or a thread fails.

    Raises (from ``run``):
        PipelineError: a stage failed; the message names it. The sinks are aborted.
        KeyboardInterrupt: after stopping every thread and aborting the sinks.
    """

    def __init__(self, source: Source, processor: FrameProcessor, sinks: list[Sink], *, queue_size: int = 8):
        self.source = source
        self.processor = processor
        self.sinks = sinks
        self.stats = processor.stats
        self.live = source.mode is RunningMode.LIVE
        self._q_in: queue.Queue = queue.Queue(maxsize=1 if self.live else queue_size)
        self._q_out: queue.Queue = queue.Queue(maxsize=queue_size)
        # Recorded video: a segment thread ahead of the processor uses the second core.
        # Live: one processor thread, so the stylizer keeps a core and latency stays low.
        self._q_seg: queue.Queue | None = None if self.live else queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._error: tuple[str, BaseException] | None = None
        self._lock = threading.Lock()
        self.summary = RunSummary(stats=self.stats)

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _fail(self, stage: str, err: BaseException) -> None:
        with self._lock:
            if self._error is None:
                self._error = (stage, err)
        self._stop.set()

    def _put(self, q: queue.Queue, item) -> bool:
        while not self._stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue):
        while True:
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                if self._stop.is_set():
                    return _END

    # -- threads ------------------------------------------------------------------------
    def _read(self) -> None:
        try:
            it = iter(self.source)
            while not self._stop.is_set():
                t0 = time.perf_counter()
                try:
                    frame = next(it)
                except StopIteration:
                    break
                if not frame.capture_ns:
                    frame.capture_ns = time.perf_counter_ns()
                if self.live:  # waiting for the camera is no cost: time from grab to hand-off
                    self.stats.add("capture", (time.perf_counter_ns() - frame.capture_ns) / 1e6)
                else:  # decoding
                    self.stats.add("capture", (time.perf_counter() - t0) * 1000.0)
                self.summary.frames_in += 1
                if self.live:
                    try:
                        self._q_in.put_nowait(frame)
                    except queue.Full:
                        try:
                            self._q_in.get_nowait()
                            self.summary.dropped += 1
                        except queue.Empty:
                            pass
                        self._q_in.put_nowait(frame)
                elif not self._put(self._q_in, frame):
                    break
        except BaseException as err:  # noqa: BLE001
            self._fail("capture", err)
        finally:
            self._put_end(self._q_in)

    def _put_end(self, q: queue.Queue) -> None:
        while True:
            try:
                q.put(_END, timeout=_POLL_S)
                return
            except queue.Full:
                if self._stop.is_set():
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        pass

    def _stage(self, name: str, q_in: queue.Queue, q_out: queue.Queue, work: Callable) -> None:
        """A middle thread: ``work`` each item from ``q_in`` into ``q_out`` until the sentinel."""
        try:
            while True:
                item = self._get(q_in)
                if item is _END:
                    break
                if not self._put(q_out, work(item)):
                    break
        except _Stopped:
            pass
        except BaseException as err:  # noqa: BLE001
            self._fail(name, err)
        finally:
            self._put_end(q_out)

    def _segment(self, frame: Frame) -> Frame:
        """Recorded video: segmentation runs one frame ahead on its own thread."""
        with _Timer(self.stats, "segment"):
            frame.meta["mask"] = self.processor.segmenter.segment(frame.image)
        return frame

    def _write(self) -> None:
        try:
            while True:
                frame = self._get(self._q_out)
                if frame is _END:
                    break
                with _Timer(self.stats, "sink"):
                    for sink in self.sinks:
                        sink.write(frame)
                if frame.capture_ns:
                    self.stats.latency_ms.append((time.perf_counter_ns() - frame.capture_ns) / 1e6)
                self.summary.frames_out += 1
        except BaseException as err:  # noqa: BLE001
            self._fail("sink", err)

    # -- run ----------------------------------------------------------------------------
    def run(self) -> RunSummary:
        t0 = time.perf_counter()
        def stage(name, q_in, q_out, work):
            return threading.Thread(target=self._stage, args=(name, q_in, q_out, work), name=f"livestyle-{name}", daemon=True)

        threads = [threading.Thread(target=self._read, name="livestyle-reader", daemon=True)]
        if self._q_seg is not None:
            threads.append(stage("segment", self._q_in, self._q_seg, self._segment))
        threads += [
            stage("process", self._q_seg if self._q_seg is not None else self._q_in, self._q_out, self.processor.process),
            threading.Thread(target=self._write, name="livestyle-writer", daemon=True),
        ]
        interrupted = False
        try:
            self.processor.start(self._stop, self._fail)
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                threads[-1].join(timeout=0.1)
                if self._error is not None:
                    self._stop.set()
        except KeyboardInterrupt:
            interrupted = True
            self._stop.set()
        finally:
            if interrupted or self._error is not None:
                self._stop.set()
            for t in threads:
                t.join(timeout=10)
            self.processor.close()
            self.summary.wall_s = time.perf_counter() - t0
            if self._error is not None or interrupted:
                for sink in self.sinks:
                    sink.abort()
        if interrupted:
            raise KeyboardInterrupt
        if self._error is not None:
            stage, err = self._error
            raise PipelineError(stage, err) from err
        for sink in self.sinks:
            sink.close()
        return self.summary

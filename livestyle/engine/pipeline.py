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
  when it changed enough to be seen (not at all while the background is still), at most
  ``style_rate_hz`` times a second, and the output never waits for it;
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
from typing import Callable

from livestyle import signals
from livestyle.engine.processor import FrameProcessor
from livestyle.engine.stats import STAGES, RunSummary, Stats, Timer
from livestyle.engine.worker import END, POLL_S, Stopped
from livestyle.errors import PipelineError
from livestyle.protocols import Frame, RunningMode, Sink, Source

__all__ = ["STAGES", "Pipeline", "RunSummary", "Stats"]


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
                q.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue):
        while True:
            try:
                return q.get(timeout=POLL_S)
            except queue.Empty:
                if self._stop.is_set():
                    return END

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
                q.put(END, timeout=POLL_S)
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
                if item is END:
                    break
                if not self._put(q_out, work(item)):
                    break
        except Stopped:
            pass
        except BaseException as err:  # noqa: BLE001
            self._fail(name, err)
        finally:
            self._put_end(q_out)

    def _segment(self, frame: Frame) -> Frame:
        """Recorded video: segmentation runs one frame ahead on its own thread."""
        with Timer(self.stats, "segment"):
            frame.meta["mask"] = self.processor.segmenter.segment(frame.image)
        return frame

    def _write(self) -> None:
        try:
            while True:
                frame = self._get(self._q_out)
                if frame is END or self._stop.is_set():  # stopped: what is queued is not written
                    break
                with Timer(self.stats, "sink"):
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
        interrupted: KeyboardInterrupt | None = None
        try:
            self.processor.start(self._stop, self._fail)
            for t in threads:
                t.start()
            # Sleep, never join, here: a stop signal raised inside Thread.join() marks the
            # joined thread as finished while it runs on (CPython 3.11), and the clean-up would
            # then close the file under the writer (SIGSEGV).
            while any(t.is_alive() for t in threads):
                time.sleep(0.02)
                if self._error is not None:
                    self._stop.set()
        except KeyboardInterrupt as stop:  # also signals.Stopped (SIGTERM, SIGHUP)
            interrupted = stop
            self._stop.set()
        finally:
            # A stop signal during the clean-up waits for its end (threads joined, sinks aborted).
            with signals.deferred():
                if interrupted or self._error is not None:
                    self._stop.set()
                # Each thread ends after its current item; the sinks are aborted only after the
                # writer is done (closing a file under an encode in progress would crash).
                deadline = time.monotonic() + 60.0
                for t in threads:
                    t.join(timeout=max(0.1, deadline - time.monotonic()))
                self.processor.close()
                self.summary.wall_s = time.perf_counter() - t0
                if self._error is not None or interrupted:
                    for sink in self.sinks:
                        sink.abort()
        if interrupted:
            raise interrupted
        if self._error is not None:
            stage, err = self._error
            raise PipelineError(stage, err) from err
        for sink in self.sinks:
            sink.close()
        return self.summary

"""The style worker: restyles clean-plate snapshots on its own thread.

The frame loop submits plates and polls (live) or waits for (recorded video) the results; the
output never waits in live mode.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Callable

import numpy as np

from livestyle.engine.stats import Stats, Timer
from livestyle.protocols import Stylizer
from livestyle.stages.plate import PlateSnapshot

END = object()
"""Sentinel that ends a thread's input queue."""
POLL_S = 0.05
"""How often blocked threads look at the stop event, in seconds."""


LIVE_NICE = 10
"""Live mode: the stylizer thread's nice value, so that the frame loop (and the camera's
decoder) get the cores first when a restyle and a frame are due at once; the output never
waits for a restyle anyway."""


def set_thread_nice(increment: int) -> None:
    """Lower the calling thread's CPU priority (and that of threads it starts later) by
    ``increment`` nice steps, at most to 19 (Linux: per-thread nice; elsewhere nothing)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
    except (AttributeError, OSError):
        pass


class StyleWorker:
    """Restyles plate snapshots on its own thread (with ``nice`` > 0 at a lower CPU priority).

    ``submit(tag, content, block)`` queues a ``(h, w, 3)`` uint8 BGR image or a
    :class:`~livestyle.stages.plate.PlateSnapshot` (filled on this thread); ``poll()`` returns the
    newest finished ``(tag, restyled, content_image)``; ``wait(tag)`` blocks for one.
    """

    def __init__(self, stylizer: Stylizer, stats: Stats, stop: threading.Event, on_error: Callable, nice: int = 0):
        self.stylizer = stylizer
        self.nice = nice
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
                self._in.put((tag, image), timeout=POLL_S if block else 0)
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
                t, out, content = self._out.get(timeout=POLL_S)
            except queue.Empty:
                if self._stop.is_set():
                    raise Stopped
                continue
            if t == tag:
                return out, content

    def _run(self) -> None:
        if self.nice:
            set_thread_nice(self.nice)
        try:
            while True:
                try:
                    item = self._in.get(timeout=POLL_S)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    continue
                if item is END or self._stop.is_set():  # stopping: queued plates are dropped
                    return
                self._busy.set()
                tag, content = item
                with Timer(self.stats, "stylize"):
                    image = content.image() if isinstance(content, PlateSnapshot) else content
                    out = self.stylizer.stylize(image)
                self.stats.style_done()
                self._out.put((tag, out, image))
                self._busy.clear()
        except BaseException as err:  # noqa: BLE001 - reported to the pipeline
            self._on_error("stylize", err)

    def close(self) -> None:
        cancel = getattr(self.stylizer, "cancel", None)  # a slow render in flight (engine.render)
        if callable(cancel) and self._thread.is_alive():
            cancel()
        try:
            self._in.put_nowait(END)
        except queue.Full:
            pass
        # It ends after the restyle under way. Polled, not joined: a stop signal inside
        # Thread.join() would mark it finished while it runs on (CPython 3.11).
        deadline = time.monotonic() + 30.0
        while self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)


class Stopped(Exception):
    """Raised by :meth:`StyleWorker.wait` when the pipeline stops."""

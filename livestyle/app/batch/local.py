"""The local batch engine: worker processes on this machine.

Each of the N worker slots is a one-process :class:`~concurrent.futures.ProcessPoolExecutor`
(``spawn`` start method), so when a worker dies (killed, out of memory, a crash in native code)
the file it was running is known exactly: that slot is replaced by a fresh process and the
file is run once more; a second death records it as failed. Workers exit when the batch
process dies (a kill of the batch never leaves workers running on; their half-written
temporary files are removed when the file is run again).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Callable, Iterable, Iterator

from livestyle.app.batch.task import Task, TaskResult, limit_threads, set_frame_counter

RETRIES = 1
"""How many times a file whose worker died is run again."""
TICK_S = 0.5
"""How often :meth:`LocalEngine.run` yields None while waiting (to refresh a progress bar)."""


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers() -> int:
    """One worker per two cores, at least one."""
    return max(1, available_cores() // 2)


def _exit_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the batch process dies: at once on Linux (the kernel's
    parent-death signal), else within half a second (a watchdog thread)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


class SharedCounter:
    """A frame counter in shared memory, written by one worker, read by the batch process
    (no lock: one writer, and a kill cannot leave it locked)."""

    def __init__(self, ctx):
        self.value = ctx.RawValue("q", 0)

    def add(self, frames: int) -> None:
        self.value.value += frames

    def get(self) -> int:
        return self.value.value


def _init_worker(parent_pid: int, threads: int, counter: SharedCounter) -> None:
    _exit_with_parent(parent_pid)
    limit_threads(threads)
    set_frame_counter(counter)


class LocalEngine:
    """Runs tasks in ``workers`` processes with ``threads`` numeric threads each (default:
    the cores shared out between the workers)."""

    name = "local"

    def __init__(self, workers: int | None = None, threads: int | None = None):
        self.workers = workers or default_workers()
        self.threads = threads or max(1, available_cores() // self.workers)
        self._counters: list[SharedCounter] = []

    def frames_written(self) -> int:
        """Frames written so far by all workers of the current run."""
        return sum(c.get() for c in self._counters)

    def _slot(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        counter = SharedCounter(ctx)
        self._counters.append(counter)
        return ProcessPoolExecutor(1, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(), self.threads, counter))

    def run(self, fn: Callable[[Task], TaskResult], tasks: Iterable[Task], count_frames: bool = True) -> Iterator[TaskResult | None]:
        """Run ``fn`` (a picklable top-level callable) on each task in the workers; yield the
        results as they finish (in finishing order), and None every TICK_S seconds between
        them. A task whose worker died is run once more, then yields a failed result.
        (``count_frames`` is ignored: the shared counters cost nothing.)"""
        self._counters = []
        pending = deque(tasks)
        slots: list[ProcessPoolExecutor | None] = [None] * min(self.workers, max(1, len(pending)))
        running: dict[Future, tuple[int, Task]] = {}
        try:
            while pending or running:
                busy = {i for i, _ in running.values()}
                for i in range(len(slots)):
                    if i not in busy and pending:
                        if slots[i] is None:
                            slots[i] = self._slot()
                        task = pending.popleft()
                        running[slots[i].submit(fn, task)] = (i, task)
                done, _ = wait(running, timeout=TICK_S, return_when=FIRST_COMPLETED)
                if not done:
                    yield None
                for future in done:
                    i, task = running.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        slots[i].shutdown(wait=True, cancel_futures=True)
                        slots[i] = None
                        if task.attempt < RETRIES:
                            pending.appendleft(replace(task, attempt=task.attempt + 1))
                        else:
                            tries = task.attempt + 1
                            yield TaskResult(task, False, 0.0, error=f"its worker process died {tries} times (killed, out of memory or crashed)")
                    except Exception as err:  # e.g. a result that cannot be sent back
                        yield TaskResult(task, False, 0.0, error=f"{type(err).__name__}: {err}")
        finally:
            for slot in slots:
                if slot is not None:
                    slot.shutdown(wait=True, cancel_futures=True)

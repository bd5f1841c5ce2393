"""What a batch worker runs for one file, in any engine: ``livestyle run`` on it, timed, with
every error turned into a failed :class:`TaskResult`.

This module is imported in fresh worker processes: it imports nothing heavy at the top, so
:func:`limit_threads` can set the thread counts before numpy, OpenCV or ONNX Runtime load.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Protocol

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
REPORT_INTERVAL_S = 0.5
_threads_set: int | None = None
_frame_counter: "FrameCounter | None" = None


class FrameCounter(Protocol):
    """Where a worker adds the frames it writes, for the batch's progress bar."""

    def add(self, frames: int) -> None: ...


@dataclass(frozen=True)
class Task:
    """One file to restyle.

    ``input``/``output`` are absolute paths; ``sha256`` is the input's content hash;
    ``settings`` the settings hash; ``attempt`` counts restarts after a worker died (0 first).
    """

    index: int
    input: str
    output: str
    sha256: str
    settings: str
    max_frames: int | None = None
    strict: bool = False
    attempt: int = 0


@dataclass(frozen=True)
class TaskResult:
    """The outcome of one :class:`Task`: ``ok``, wall ``seconds``, ``frames`` written, a
    one-line ``error`` when not ok, and ``livestyle run``'s warnings (concealed damage)."""

    task: Task
    ok: bool
    seconds: float
    frames: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()


def limit_threads(threads: int) -> None:
    """Cap the worker process's numeric thread pools at ``threads`` (BLAS/OpenMP through the
    environment, OpenCV's pool directly), so N workers do not oversubscribe the cores. The
    ONNX Runtime and LiteRT thread counts come from the config (``style.threads``,
    ``segmenter.threads``) and are left as ``livestyle run`` sets them, so outputs match."""
    global _threads_set
    if _threads_set == threads:
        return
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    import cv2

    cv2.setNumThreads(threads)
    _threads_set = threads


def set_frame_counter(counter: FrameCounter | None) -> None:
    """Report this process's written frames to ``counter`` (None: nowhere)."""
    global _frame_counter
    _frame_counter = counter


class _FrameReporter:
    """Counts frames as they are written; adds them to the counter at most every
    REPORT_INTERVAL_S seconds, and the rest in :meth:`flush`."""

    def __init__(self, counter: FrameCounter):
        self.counter = counter
        self.pending = 0
        self.sent_at = time.monotonic()

    def __call__(self) -> None:
        self.pending += 1
        if time.monotonic() - self.sent_at >= REPORT_INTERVAL_S:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.counter.add(self.pending)
            self.pending = 0
        self.sent_at = time.monotonic()


def _one_line(err: BaseException) -> str:
    from livestyle.errors import LivestyleError

    text = str(err) if isinstance(err, LivestyleError) else f"{type(err).__name__}: {err}"
    return " ".join(text.split()) or type(err).__name__


def run_task(task: Task, config, threads: int = 1) -> TaskResult:
    """Restyle ``task.input`` into ``task.output`` as ``livestyle run`` does (atomic output:
    a temporary file beside it, renamed when complete; a stale one left by a killed worker is
    removed by the sink, which clears temporaries whose process is gone).

    Never raises for a bad file: any error (unreadable input, a stage failure, ...) becomes a
    failed result. ``KeyboardInterrupt`` propagates (the output is not written).
    """
    limit_threads(threads)
    from livestyle.app.run import run_file

    reporter = _FrameReporter(_frame_counter) if _frame_counter is not None else None
    t0 = time.perf_counter()
    try:
        result = run_file(task.input, task.output, config, max_frames=task.max_frames,
                          progress=False, strict=task.strict, on_frame=reporter)  # fmt: skip
    except Exception as err:  # one bad file must not stop the batch
        return TaskResult(task, False, time.perf_counter() - t0, error=_one_line(err))
    finally:
        if reporter is not None:
            reporter.flush()
    return TaskResult(task, True, time.perf_counter() - t0, frames=result.summary.frames_out, warnings=tuple(result.warnings))

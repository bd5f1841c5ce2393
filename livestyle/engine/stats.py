"""Benchmark statistics: per-stage durations (ms), latencies, restyle times, run summaries.

:class:`Stats` is written by the pipeline's threads (each stage by one thread only) and read
as snapshots by the benchmark and the preview overlay; :class:`Timer` records one stage.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from livestyle.timing import recent

STAGES = ("capture", "segment", "refine", "stylize", "composite", "sink")
"""The stages whose durations :class:`Stats` records, in data-path order."""


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


class Timer:
    """Context manager adding the elapsed milliseconds of its block to ``stats`` under ``stage``."""

    __slots__ = ("stats", "stage", "t0")

    def __init__(self, stats: Stats, stage: str):
        self.stats, self.stage = stats, stage

    def __enter__(self):
        self.t0 = time.perf_counter()

    def __exit__(self, *exc):
        self.stats.add(self.stage, (time.perf_counter() - self.t0) * 1000.0)


@dataclass
class RunSummary:
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    wall_s: float = 0.0
    stats: Stats = field(default_factory=Stats)

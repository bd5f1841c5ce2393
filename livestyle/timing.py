"""Rates and recent values: small timing helpers shared by every layer (core).

:class:`RateMeter` counts events per second; :func:`recent` takes the newest items of a
bounded series; :class:`ThreadCpu` measures CPU time per thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from itertools import islice


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


class ThreadCpu:
    """CPU seconds used by each thread of this process, by thread name (Linux ``/proc``).

    ``sample()`` (call it every 0.1-0.25 s, e.g. from a monitor thread) reads each thread's user +
    system time from ``/proc/self/task/<tid>/stat`` and names Python threads by their
    ``threading`` name; threads started by native code (video decoder, inference runtimes)
    are summed as ``"native"``. ``seconds()`` gives, per name, the CPU time from the first sample (or the
    thread's start) to the thread's last sample (its last sampling period before it ends is not seen).
    Elsewhere than Linux, ``seconds()`` is empty.
    """

    NATIVE = "native"

    def __init__(self):
        self._tick_s = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._names: dict[int, str] = {}
        self._sampled = False

    def sample(self) -> None:
        for t in threading.enumerate():
            if t.native_id is not None:
                self._names[t.native_id] = t.name
        try:
            tids = os.listdir("/proc/self/task")
        except OSError:
            return
        for tid in tids:
            try:
                with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue  # the thread ended meanwhile
            cpu_s = (int(fields[11]) + int(fields[12])) * self._tick_s  # utime, stime
            # a thread already running at the first sample counts from then, a later one from 0
            self._first.setdefault(int(tid), 0.0 if self._sampled else cpu_s)
            self._last[int(tid)] = cpu_s
        self._sampled = True

    def seconds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for tid, last in self._last.items():
            name = self._names.get(tid, self.NATIVE)
            out[name] = out.get(name, 0.0) + last - self._first[tid]
        return out

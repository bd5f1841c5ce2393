"""Rates and recent values: small timing helpers shared by every layer (core).

:class:`RateMeter` counts events per second; :func:`recent` takes the newest items of a
bounded series.
"""

from __future__ import annotations

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

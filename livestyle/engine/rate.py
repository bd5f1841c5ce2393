"""Rate control for the live stylizer: the restyle period adapts to the frame loop's load (AIMD)."""

from __future__ import annotations


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

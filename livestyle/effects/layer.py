"""Running a plate effect on the live frame, for ``target = "person"`` and ``--person-style``.

A plate effect restyles the clean background plate at the plate's refresh. The person moves, so
restyling them needs the *current* frame: :class:`FrameStylizer` makes a plate effect a
per-frame effect that restyles the frame (at the plate's working size, then upscaled).

* ``IMAGE`` and ``VIDEO`` mode: every frame is restyled before it is output (deterministic;
  as slow as the effect).
* ``LIVE`` mode: a thread restyles the newest frame whenever it is free, and ``render`` returns
  the latest result at once (the frame itself until the first one is ready), so the frame loop
  never waits for the stylizer.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from livestyle.protocols import RunningMode
from livestyle.stages.stylize import transfer_size


class FrameStylizer:
    """A plate effect applied to whole frames, as a per-frame effect.

    Args:
        effect: a plate effect (``stylize(image)``).
        mode: the running mode (see the module docstring).
        short_side_px: the working size's short side (default: the effect's ``short_side_px``,
            else 288).
    """

    per_frame = True

    def __init__(self, effect, mode: RunningMode, short_side_px: int | None = None):
        self.effect = effect
        self.name = getattr(effect, "name", "effect")
        self.mode = mode
        self.short_side_px = short_side_px or getattr(effect, "short_side_px", None) or 288
        self._latest: np.ndarray | None = None
        self._pending: np.ndarray | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if mode is RunningMode.LIVE:
            self._thread = threading.Thread(target=self._run, name=f"livestyle-{self.name}-layer", daemon=True)
            self._thread.start()

    def _small(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        th, tw = transfer_size(h, w, self.short_side_px)
        return frame if (th, tw) == (h, w) else cv2.resize(frame, (tw, th), interpolation=cv2.INTER_AREA)

    def _stylize(self, frame: np.ndarray) -> np.ndarray:
        return self.effect.stylize(self._small(frame))

    def render(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        size = (frame.shape[1], frame.shape[0])
        if self._thread is None:
            out = self._stylize(frame)
        else:
            with self._cond:
                if self._error is not None:
                    raise self._error
                self._pending = frame
                self._cond.notify()
                out = self._latest
            if out is None:
                return frame
        return out if out.shape[1::-1] == size else cv2.resize(out, size, interpolation=cv2.INTER_LINEAR)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait(0.1)
                if self._closed:
                    return
                frame, self._pending = self._pending, None
            try:
                out = self._stylize(frame)
            except BaseException as err:  # noqa: BLE001 - raised from render()
                with self._cond:
                    self._error = err
                return
            with self._cond:
                self._latest = out

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.effect.close()

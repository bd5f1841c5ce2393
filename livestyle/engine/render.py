"""Slow background renders (``--method gatys|photo``) in the engine: a plate stylizer for images
and video files, and a low-priority background renderer for live mode.

* :class:`PlateRenderer` wraps the Magenta stylizer: ``stylize(plate)`` runs Magenta, then the
  slow method from that start; the result is reused while the plate stays within
  ``render.rerender_change`` levels of the last rendered plate (video files: rendered again only
  after a big change, e.g. a camera move). In recorded video the frame loop waits for the
  restyle it scheduled, so nothing is written before the first render; a tqdm bar shows its
  progress. ``cancel()`` (called when the pipeline stops, e.g. on Ctrl-C) stops a render in
  flight within one loss evaluation or CG step.
* :class:`BackgroundRenderer` renders on its own thread at the lowest CPU priority (``nice``
  19 for that thread and the JAX/XLA threads it starts), one job at a time; a newer job or
  :meth:`BackgroundRenderer.cancel` cancels the job in flight.
"""

from __future__ import annotations

import logging
import threading

import cv2
import numpy as np

from livestyle.config import RenderOptions
from livestyle.engine.worker import set_thread_nice
from livestyle.stages.render import RenderCancelled, render

log = logging.getLogger("livestyle.engine.render")

THUMB_PX = (64, 36)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """``(36, 64, 3)`` float32 thumbnail for change checks."""
    return cv2.resize(image, THUMB_PX, interpolation=cv2.INTER_AREA).astype(np.float32)


def changed_levels(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Mean absolute difference of two thumbnails in levels (infinite if one is missing)."""
    if a is None or b is None:
        return float("inf")
    return float(cv2.absdiff(a, b).mean())


class PlateRenderer:
    """A plate effect rendering the background with a slow method (see the module docstring).

    Args:
        inner: the Magenta stylizer (a plate effect; its result is the render's start).
        method: ``gatys`` or ``photo``.
        style_bgr: ``[h, w, 3]`` BGR uint8 style image.
        options: :class:`~livestyle.config.RenderOptions`.
        progress: show a tqdm bar per render.
    """

    per_frame = False

    def __init__(self, inner, method: str, style_bgr: np.ndarray, options: RenderOptions, *, progress: bool = False):
        self.inner = inner
        self.method = method
        self.name = f"{getattr(inner, 'name', 'style')}+{method}"
        self.style_bgr = style_bgr
        self.options = options
        self.progress = progress
        self.renders = 0
        self._cancelled = threading.Event()
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # (plate thumbnail, render)

    @property
    def short_side_px(self) -> int | None:
        return getattr(self.inner, "short_side_px", None)

    def stylize(self, image: np.ndarray) -> np.ndarray:
        """``(H, W, 3)`` uint8 BGR plate -> rendered plate, same size.

        Raises:
            RenderCancelled: :meth:`cancel` was called.
        """
        thumb = thumbnail(image)
        if self._last is not None and changed_levels(thumb, self._last[0]) <= self.options.rerender_change:
            return self._last[1]
        magenta = self.inner.stylize(image)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=1, desc=f"render {self.method}", unit="step", leave=False)

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.total = total
                bar.n = done
                bar.refresh()

        try:
            out = render(self.method, image, self.style_bgr, magenta, self.options,
                         cancel=self._cancelled.is_set, progress=progress)  # fmt: skip
        finally:
            if bar is not None:
                bar.close()
        self._last = (thumb, out)
        self.renders += 1
        return out

    def cancel(self) -> None:
        """Stop a render in flight (it raises :class:`RenderCancelled`) and every later one."""
        self._cancelled.set()

    def close(self) -> None:
        self.cancel()
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()


class BackgroundRenderer:
    """Runs one slow render at a time on a low-priority daemon thread (live mode).

    ``submit(key, plate, magenta)`` starts rendering (cancelling the job in flight);
    ``poll()`` returns ``(key, plate, rendered)`` once when a job is done; ``cancel()`` stops the
    job in flight within one loss evaluation or CG step (``busy`` turns False). Errors are
    logged and the job is dropped (live mode then keeps showing Magenta).

    Args:
        method: ``gatys`` or ``photo``.
        style_bgr: ``[h, w, 3]`` BGR uint8 style image.
        options: :class:`~livestyle.config.RenderOptions`.
    """

    def __init__(self, method: str, style_bgr: np.ndarray, options: RenderOptions):
        self.method = method
        self.style_bgr = style_bgr
        self.options = options
        self.progress = (0, 0)
        self.cancelled = 0
        self.done = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._job: tuple | None = None
        self._job_id = 0
        self._running_id = 0
        self._result: tuple | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="livestyle-render", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._job is not None or self._running_id != 0

    def submit(self, key, plate: np.ndarray, magenta: np.ndarray) -> None:
        with self._lock:
            self._job_id += 1
            self._job = (self._job_id, key, plate, magenta)
            self._result = None
            self._wake.notify()

    def cancel(self) -> None:
        with self._lock:
            self._job_id += 1  # the running job's id is now stale: it stops at its next check
            self._job = None
            self._result = None

    def poll(self):
        with self._lock:
            result, self._result = self._result, None
            return result

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._job_id += 1
            self._wake.notify()
        self._thread.join(timeout=5)

    def _stale(self, job_id: int) -> bool:
        return self._closed or job_id != self._job_id

    def _run(self) -> None:
        set_thread_nice(19)  # the lowest CPU priority
        while True:
            with self._lock:
                while self._job is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job_id, key, plate, magenta = self._job
                self._job = None
                self._running_id = job_id
            try:
                out = render(self.method, plate, self.style_bgr, magenta, self.options,
                             cancel=lambda: self._stale(job_id),
                             progress=lambda d, n: setattr(self, "progress", (d, n)))  # fmt: skip
            except RenderCancelled:
                self.cancelled += 1
                out = None
            except Exception as err:  # noqa: BLE001 - live mode keeps Magenta
                log.warning("%s render failed: %s", self.method, err)
                out = None
            with self._lock:
                self._running_id = 0
                if out is not None and not self._stale(job_id):
                    self._result = (key, plate, out)
                    self.done += 1


class LiveRenderSchedule:
    """Live mode's use of a :class:`BackgroundRenderer` (the processor thread's side).

    While a finished render is shown, Magenta restyles of a plate within ``rerender_change``
    levels of the rendered one are not shown (:meth:`keep_render` is True); otherwise the
    restyle is shown and a render of it starts (cancelling one of an older style or plate).
    :meth:`poll` returns ``(plate, render)`` once when a render of the current style is done.
    """

    def __init__(self, renderer: BackgroundRenderer, rerender_change: float):
        self.renderer = renderer
        self.limit = rerender_change
        self.shown = 0
        self._job: tuple[int, np.ndarray] | None = None  # (generation, plate thumbnail) in flight
        self._shown_thumb: np.ndarray | None = None  # plate thumbnail of the render shown

    def reset(self, style: str | None = None) -> None:
        """Cancel the render in flight and forget the shown one (a style or effect change);
        with ``style``, render that style from now on if it is an image file, else not."""
        self.renderer.cancel()
        self._job = self._shown_thumb = None
        if style is not None:
            from pathlib import Path

            from livestyle.stages.render import style_image

            self.renderer.style_bgr = style_image(style, self.renderer.method) if Path(style).is_file() else None

    def keep_render(self, generation: int, plate_image: np.ndarray, restyled: np.ndarray, renderable: bool) -> bool:
        """True if the shown render still fits ``plate_image`` (do not show ``restyled``).
        Otherwise start rendering ``restyled`` (if ``renderable`` and the style has an image)
        unless a render of this style and plate is already running."""
        thumb = thumbnail(plate_image)
        if changed_levels(thumb, self._shown_thumb) <= self.limit:
            return True
        self._shown_thumb = None
        if self.renderer.style_bgr is None or not renderable:
            return False
        job = self._job
        if job is None or job[0] != generation or changed_levels(thumb, job[1]) > self.limit:
            self.renderer.submit(generation, plate_image, restyled)  # cancels the one in flight
            self._job = (generation, thumb)
        return False

    def poll(self, generation: int) -> tuple[np.ndarray, np.ndarray] | None:
        """``(plate, render)`` of a finished render of ``generation``'s style, once; else None."""
        done = self.renderer.poll()
        if done is None:
            return None
        job_generation, plate_image, rendered = done
        self._job = None
        if job_generation != generation:
            return None
        self._shown_thumb = thumbnail(plate_image)
        self.shown += 1
        return plate_image, rendered

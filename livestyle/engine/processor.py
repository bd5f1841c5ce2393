"""The frame processor: the per-frame work of the processor thread.

Segment (live), refine the alpha matte, update the clean plate (in live mode all three are
skipped while the frame barely changes, and the segmentation and the plate while it changes a
little: :mod:`livestyle.engine.gate`), schedule restyling on the style worker, composite.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable

import cv2
import numpy as np

from livestyle.config import Config
from livestyle.engine.gate import Gate, MatteGate
from livestyle.engine.rate import AdaptiveRate
from livestyle.engine.stats import Stats, Timer
from livestyle.engine.worker import LIVE_NICE, StyleWorker
from livestyle.protocols import Compositor, Frame, RunningMode, Segmenter, Stylizer
from livestyle.stages.composite import AlphaCompositor
from livestyle.stages.matte import MaskRefiner
from livestyle.stages.plate import CleanPlate, CrossFader, LocalRefresh
from livestyle.stages.stylize import transfer_size


LIVE_CHECK_S = 0.1
"""Live mode: how often (seconds) an idle stylizer's plate is checked for a change."""


@dataclass
class ScheduleState:
    refreshes_submitted: int = 0
    refreshes_shown: int = 0
    last_submit_s: float = 0.0


class FrameProcessor:
    """Per-frame work of the processor thread: segment, refine, update the plate, schedule
    restyling, composite.

    Args:
        segmenter: a :class:`~livestyle.protocols.Segmenter`.
        stylizer: a :class:`~livestyle.protocols.Stylizer` for the clean plate, or None (the
            effect is off: the frame passes through).
        config: :class:`~livestyle.config.Config`.
        mode: the running mode.
        stats: where stage times go.
        compositor: default: :class:`AlphaCompositor`, with light wrap if
            ``config.effect.light_wrap`` > 0.
        person_layer: a per-frame effect whose ``render(frame, alpha)`` replaces the kept
            frame (``--person-style``), or None.

    The stylizer is a plate effect (``stylize(plate)``, run on the clean plate at its refresh)
    or a per-frame effect (``per_frame = True``: ``render(frame, keep)`` every frame; see
    :mod:`livestyle.effects`). With ``config.effect.target == "person"`` the matte is inverted
    (the background is kept) and a plate effect restyles the frame instead of the plate.
    """

    def __init__(
        self,
        segmenter: Segmenter,
        stylizer: Stylizer | None,
        config: Config,
        mode: RunningMode,
        stats: Stats | None = None,
        compositor: Compositor | None = None,
        person_layer=None,
    ):
        effect = config.effect
        self.target_person = effect.target == "person"
        if self.target_person and stylizer is not None and not getattr(stylizer, "per_frame", False):
            from livestyle.effects.layer import FrameStylizer

            stylizer = FrameStylizer(stylizer, mode)
        if compositor is None and effect.light_wrap > 0.0:
            from livestyle.effects.lightwrap import LightWrapCompositor

            compositor = LightWrapCompositor(effect.light_wrap)
        self.segmenter = segmenter
        self.stylizer = stylizer
        self.person_layer = person_layer
        self.config = config
        self.mode = mode
        self.stats = stats or Stats()
        self.compositor = compositor or AlphaCompositor()
        if config.mask.mode == "hard":
            from livestyle.stages.deeplab import HardMaskRefiner

            self.refiner = HardMaskRefiner(config.mask, mode)
        else:
            self.refiner = MaskRefiner(config.mask, mode)
        self.fader = CrossFader()
        self.plate: CleanPlate | None = None
        self.state = ScheduleState()
        self.worker: StyleWorker | None = None
        self.last_alpha: np.ndarray | None = None
        self._pending: deque = deque()  # (show at frame, refresh tag, plate image)
        po = config.plate
        self.local = LocalRefresh(po.change_low, po.change_high, po.local_refresh)
        self._last_thumb: np.ndarray | None = None
        self._next_check_s = 0.0
        self.rate = AdaptiveRate(config.plate.style_rate_hz)
        self._original: tuple = (None, None)  # (small plate, the same at frame size)
        lo = config.live
        self.gate = MatteGate(lo.matte_skip_psnr_db, max_skip=lo.matte_skip_max, reuse_psnr_db=lo.mask_reuse_psnr_db,
                              reuse_max=lo.mask_reuse_max) if (
            mode is RunningMode.LIVE and (lo.matte_skip_psnr_db > 0 or lo.mask_reuse_psnr_db > 0)) else None
        self._last_mask: np.ndarray | None = None
        self._small: np.ndarray | None = None  # the reduced frame's buffer
        self._last_small_shape: tuple = ()
        self._last_capture_ns = 0

    # -- wiring -------------------------------------------------------------------------
    def start(self, stop: threading.Event, on_error: Callable) -> None:
        if self.stylizer is not None and self.mode is not RunningMode.IMAGE:
            nice = LIVE_NICE if self.mode is RunningMode.LIVE else 0
            self.worker = StyleWorker(self.stylizer, self.stats, stop, on_error, nice)
            self.worker.start()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None
        for layer in (self.person_layer, self.stylizer):
            if getattr(layer, "per_frame", False):
                layer.close()

    def _plate_for(self, image: np.ndarray) -> CleanPlate:
        h, w = image.shape[:2]
        short = getattr(self.stylizer, "short_side_px", None) or self.config.style.short_side_px
        th, tw = transfer_size(h, w, short)
        if self.plate is None or self.plate.size_px != (tw, th):
            self.plate = CleanPlate((tw, th), self.config.plate)
        return self.plate

    # -- scheduling ---------------------------------------------------------------------
    def _plate_changed(self, wait_s: float | None = None) -> bool:
        """Whether the plate differs from the last restyled one by more than ``min_change``
        levels (mean absolute difference of 64x36 thumbnails) and, given ``wait_s`` (the time
        since the last restyle, live mode), whether a local change has waited long enough:
        change times wait reaches ``change_wait_level_s``, unless the change covers
        ``change_area_now`` of the plate (a camera move goes at once)."""
        thumb = self.plate.thumbnail()
        last, self._last_thumb = self._last_thumb, thumb
        if last is None:
            return True
        po = self.config.plate
        diff = cv2.absdiff(thumb, last)
        change = float(diff.mean())
        if change > po.min_change:
            if wait_s is None or change * wait_s >= po.change_wait_level_s:
                return True
            if float((diff.max(axis=2) > po.change_low).mean()) >= po.change_area_now:
                return True
        self._last_thumb = last  # compare later checks with what was actually restyled
        return False

    def _schedule_video(self, index: int) -> None:
        """Every ``refresh_frames`` frames the plate is restyled if it changed; a refresh taken
        at frame i fades in from frame i + N on (the first one is shown at once).
        Deterministic: it depends on the frames only, never on thread timing."""
        n = self.config.plate.refresh_frames
        if index % n == 0 and self._plate_changed():
            self.worker.submit(index, self.plate.snapshot())
            self._pending.append((index + n if index else 0, index))
            self.state.refreshes_submitted += 1
        if self._pending and self._pending[0][0] == index:
            _, tag = self._pending.popleft()
            fade = min(self.config.plate.crossfade_frames, n) if tag else 0
            restyled, plate_image = self.worker.wait(tag)
            self.fader.set(self.local.apply(restyled, plate_image), fade)
            self.state.refreshes_shown += 1

    def _schedule_live(self) -> None:
        """Restyle the newest plate when it changed enough to be seen (:meth:`_plate_changed`,
        as in video files; a small change waits up to ``change_wait_level_s`` / change
        seconds) and the worker is idle, at most ``style_rate_hz`` times a second; a still
        background is not restyled at all. The check itself runs at most every
        ``LIVE_CHECK_S`` seconds."""
        now = time.perf_counter()
        if (self.worker.idle and now - self.state.last_submit_s >= self.rate.period_s
                and now >= self._next_check_s):
            self._next_check_s = now + LIVE_CHECK_S
            if self._plate_changed(now - self.state.last_submit_s):
                if self.worker.submit(self.state.refreshes_submitted, self.plate.snapshot(), block=False):
                    self.state.refreshes_submitted += 1
                    self.state.last_submit_s = now
                else:
                    self._last_thumb = None  # not submitted: check again next time
        result = self.worker.poll()
        if result is not None:
            self._show_live(*result)

    def _show_live(self, tag: int, restyled: np.ndarray, plate_image: np.ndarray, cut: bool = False) -> None:
        """Show a finished live restyle: blended in where its plate changed, faded in (or a
        ``cut``). Subclasses may drop stale results or force a cut."""
        shown = self.local.apply(restyled, plate_image)
        fade = 0 if cut or not self.fader.ready else self.config.plate.crossfade_frames
        self.fader.set(shown, fade)
        self.state.refreshes_shown += 1

    # -- per frame ------------------------------------------------------------------------
    def process(self, frame: Frame) -> Frame:
        """Return the output frame for ``frame`` (same size, uint8 BGR)."""
        if self.mode is not RunningMode.LIVE:
            return self._process(frame)
        t0 = time.perf_counter()
        out = self._process(frame)
        if self._last_capture_ns and frame.capture_ns > self._last_capture_ns:
            self.rate.observe(time.perf_counter() - t0, (frame.capture_ns - self._last_capture_ns) / 1e9)
        self._last_capture_ns = frame.capture_ns
        return out

    def _process(self, frame: Frame) -> Frame:
        image = frame.image
        st = self.stats
        per_frame = getattr(self.stylizer, "per_frame", False)
        mask = frame.meta.pop("mask", None)  # precomputed by the pipeline's segment thread
        small = self._reduce(image)  # made once: the gate's, the segmenter's and the guide's input
        gate = self._gate(small, mask)
        if gate is Gate.CARRY:
            alpha, plate = self.last_alpha, self.plate  # the frame barely changed: so did both
        else:
            if gate is Gate.REFINE:
                mask = self._last_mask  # the frame changed a little: new edges, same mask
            elif mask is None:
                with Timer(st, "segment"):
                    mask = self.segmenter.segment(small if self._segment_reduced(small) else image)
            self._last_mask = mask
            with Timer(st, "refine"):
                alpha = self.refiner.refine(mask, image, reduced=small)
                plate = self.plate
                # per-frame effects need no clean plate; a mask reused for a frame that barely
                # changed (REFINE) saw no more of the background than the frame it came from
                if not per_frame and (gate is not Gate.REFINE or plate is None):
                    plate = self._plate_for(image)
                    w, h = plate.size_px  # from the reduced frame when it is no smaller (720p and up)
                    source = small if small.shape[0] >= h and small.shape[1] >= w else image
                    plate.update(source, self.refiner.last_confidence)
        self.last_alpha = alpha
        if self.stylizer is None:
            return replace(frame, image=image)
        keep = 1.0 - alpha if self.target_person else alpha
        if self.person_layer is not None:
            with Timer(st, "person"):
                image = self.person_layer.render(image, alpha)
        if per_frame:
            with Timer(st, "stylize"):
                background = self.stylizer.render(frame.image, keep)
            with Timer(st, "composite"):
                out = self.compositor.composite(image, background, keep)
            return replace(frame, image=out)
        if self.mode is RunningMode.IMAGE:
            with Timer(st, "stylize"):
                plate_image = plate.image()
                self.fader.set(self.local.apply(self.stylizer.stylize(plate_image), plate_image), 0)
        elif self.mode is RunningMode.VIDEO:
            self._schedule_video(frame.index)
        else:
            self._schedule_live()
        if not self.fader.ready:  # live mode before the first restyled plate
            return replace(frame, image=image)
        with Timer(st, "composite"):
            size = (image.shape[1], image.shape[0])
            background = self.fader.frame(size)
            out = self.compositor.composite(image, background, keep, self._original_background(size))
        return replace(frame, image=out)

    def _reduce(self, image: np.ndarray) -> np.ndarray:
        """The frame at the matte's working size (``MaskRefiner.reduce``), in a buffer reused
        from frame to frame; the frame itself for refiners without one."""
        reduce = getattr(self.refiner, "reduce", None)
        if reduce is None:
            return image
        small = reduce(image, self._small)
        if small is not image:
            self._small = small
        return small

    def _segment_reduced(self, small: np.ndarray) -> bool:
        """Whether the segmenter gives the frame's mask from ``small`` (it says so, and
        ``small`` is at least its input size)."""
        if not getattr(self.segmenter, "reduced_input_ok", False):
            return False
        h, w = self.segmenter.input_size_px
        return small.shape[0] >= h and small.shape[1] >= w

    def _gate(self, small: np.ndarray, mask: np.ndarray | None) -> Gate:
        """Live mode: how much of the matte this frame needs, judged on the reduced frame
        (:class:`~livestyle.engine.gate.MatteGate`); elsewhere, or with a precomputed mask,
        ``SEGMENT``."""
        if self.gate is None or mask is not None:
            return Gate.SEGMENT
        if self.last_alpha is None or self._last_small_shape != small.shape:
            self.gate.reset()
            self._last_small_shape = small.shape
        with Timer(self.stats, "gate"):
            decision = self.gate.decide(small)
        if decision is not Gate.SEGMENT and (self.last_alpha is None or self._last_mask is None):
            return Gate.SEGMENT  # nothing to reuse yet
        return decision

    def _original_background(self, size_px: tuple[int, int]) -> np.ndarray | None:
        """The unstyled plate behind the shown restyling, at frame size (cached per refresh),
        for edge decontamination; None when it does not apply (off, target person, a person
        style, or nothing restyled yet)."""
        plate = self.local.plate
        if plate is None or not self.config.mask.decontaminate or self.target_person or self.person_layer is not None:
            return None
        if self._original[0] is not plate:
            self._original = (plate, cv2.resize(plate, size_px, interpolation=cv2.INTER_LINEAR))
        return self._original[1]

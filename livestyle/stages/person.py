"""Person matte that keeps the whole person: the selfie model on a crop framed around the
person, fused with a MODNet prior that runs at a low rate.

The MediaPipe selfie models are trained on selfie framing: on a 960x540 frame with a person at
60-100 % of the height, arms raised or turned away, their confidence drops to 0-0.6 and the
person vanishes into the effect. :class:`PersonSegmenter` (a
:class:`~livestyle.protocols.Segmenter`) fixes that in three steps per frame:

1. *Where is the person?* The box around the large components of the newest MODNet prior
   (:class:`~livestyle.stages.modnet.ModnetMatter`), else of the previous output, else the
   whole frame.
2. *Selfie framing*: the selfie ``general`` model runs on that box plus a margin (squashed to
   its 256x256 input, as it squashes whole frames), and its mask is pasted back.
3. *Fusion*: 2/3 prior + 1/3 that mask; where that mask is confident (>= 0.9) within a few
   pixels of the prior's person, at least that mask (MODNet leaves out a desk edge under the
   arms and the lenses of glasses that the selfie model keeps); then only connected
   components at least ``keep_fraction`` of the largest one's area are kept (drops the
   prior's background blobs).

The prior runs on every frame for images, every ``prior_every_frames`` frames for recorded
video (synchronously: deterministic), and on its own thread at most ``prior_rate_hz`` for live
cameras (the newest finished prior is used; the frame loop waits only on the first frame,
for that frame's prior). In video, a new prior is averaged with the previous one moved to its
frame, and a prior is moved with the person only when they moved more than a few pixels: both
against flicker.
Figures: ``livestyle bench --matte`` and the README section "Person matte".
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from livestyle.protocols import Closing, RunningMode


def person_box(mask: np.ndarray, threshold: float = 0.5, keep_fraction: float = 0.3):
    """Box ``(x0, y0, x1, y1)`` (exclusive ends, mask pixels) around the connected components
    of ``mask >= threshold`` whose area is at least ``keep_fraction`` of the largest one's;
    None if there is none. ``mask``: ``(h, w)`` float32."""
    n, _, st, _ = _components((mask >= threshold).view(np.uint8))
    if n <= 1:
        return None
    areas = st[1:, cv2.CC_STAT_AREA]
    big = np.nonzero(areas >= keep_fraction * areas.max())[0] + 1
    x0, y0 = st[big, 0].min(), st[big, 1].min()
    x1, y1 = (st[big, 0] + st[big, 2]).max(), (st[big, 1] + st[big, 3]).max()
    return int(x0), int(y0), int(x1), int(y1)


def keep_large_components(mask: np.ndarray, threshold: float = 0.3, keep_fraction: float = 0.3) -> np.ndarray:
    """``mask`` with the connected components of ``mask >= threshold`` smaller than
    ``keep_fraction`` of the largest one set to 0 (in place; also returned)."""
    n, labels, st, _ = _components((mask >= threshold).view(np.uint8))
    if n > 2:
        areas = st[1:, cv2.CC_STAT_AREA]
        for i in np.nonzero(areas < keep_fraction * areas.max())[0] + 1:  # small: only their boxes
            x, y, w, h = st[i, :4]
            mask[y : y + h, x : x + w][labels[y : y + h, x : x + w] == i] = 0.0
    return mask


def _components(binary: np.ndarray):
    """8-connected components with stats of a 0/1 uint8 image (Grana's labelling: half the
    time of OpenCV's default here)."""
    return cv2.connectedComponentsWithStatsWithAlgorithm(binary, 8, cv2.CV_32S, cv2.CCL_GRANA)


def crop_rect(box, frame_wh: tuple[int, int], margin: float) -> tuple[int, int, int, int]:
    """``box`` grown by ``margin`` of its size on each side, clipped to the frame
    ``(width, height)``; integer ``(x0, y0, x1, y1)``."""
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    W, H = frame_wh
    return (max(0, int(x0 - mx)), max(0, int(y0 - my)), min(W, int(np.ceil(x1 + mx))), min(H, int(np.ceil(y1 + my))))


class FocusedPrior(Closing):
    """A whole-frame matte run twice: on the frame, then on the person's box (plus
    ``margin``) at about the same pixel budget, so a small person gets more pixels.

    ``segment(image)`` takes ``(H, W, 3)`` uint8 BGR and returns the second pass (the first
    where no person was found), ``(H // 2, W // 2)`` float32 in [0, 1]. ``matter`` needs a settable ``size_px`` (width,
    height; multiples of 32), as :class:`~livestyle.stages.modnet.ModnetMatter`.
    """

    def __init__(self, matter, margin: float = 0.15, keep_fraction: float = 0.3):
        self.matter = matter
        self.margin = margin
        self.keep_fraction = keep_fraction
        self._budget_px = matter.size_px[0] * matter.size_px[1]
        self._frame_size_px = tuple(matter.size_px)

    def segment(self, image: np.ndarray) -> np.ndarray:
        H, W = image.shape[:2]
        out_wh = (max(1, W // 2), max(1, H // 2))
        self.matter.size_px = self._frame_size_px
        full = self.matter.segment(image)
        out = cv2.resize(full, out_wh, interpolation=cv2.INTER_LINEAR)
        box = person_box(full, keep_fraction=self.keep_fraction)
        if box is None:
            return out
        s = W / full.shape[1], H / full.shape[0]
        x0, y0, x1, y1 = crop_rect((box[0] * s[0], box[1] * s[1], box[2] * s[0], box[3] * s[1]), (W, H), self.margin)
        k = np.sqrt(self._budget_px / max(1, (x1 - x0) * (y1 - y0)))
        self.matter.size_px = (max(32, round((x1 - x0) * k / 32) * 32), max(32, round((y1 - y0) * k / 32) * 32))
        focused = self.matter.segment(image[y0:y1, x0:x1])
        self.matter.size_px = self._frame_size_px
        ox0, oy0 = x0 * out_wh[0] // W, y0 * out_wh[1] // H
        ox1, oy1 = max(ox0 + 1, x1 * out_wh[0] // W), max(oy0 + 1, y1 * out_wh[1] // H)
        out[:] = 0.0
        out[oy0:oy1, ox0:ox1] = cv2.resize(focused, (ox1 - ox0, oy1 - oy0), interpolation=cv2.INTER_LINEAR)
        return out

    def close(self) -> None:
        self.matter.close()


class _PriorThread:
    """Runs ``prior.segment`` on the newest offered frame, at most ``rate_hz``, on a daemon
    thread. Results carry the number of the frame they were made from; :meth:`reset` drops
    results and work of frames offered before it."""

    def __init__(self, prior, rate_hz: float):
        self._prior = prior
        self._period_s = 1.0 / rate_hz if rate_hz > 0 else 0.0
        self._cond = threading.Condition()
        self._pending: tuple[np.ndarray, int, int] | None = None  # image, count, generation
        self._busy = self._urgent = self._closed = False
        self._generation = 0
        self._result: np.ndarray | None = None
        self._result_count = -1
        self._thread = threading.Thread(target=self._run, name="person-prior", daemon=True)
        self._thread.start()

    def offer(self, image: np.ndarray, count: int) -> None:
        """Hand over frame number ``count`` if the thread is ready for one (else nothing)."""
        with self._cond:
            if not self._busy and self._pending is None:
                self._pending = (image.copy(), count, self._generation)
                self._cond.notify_all()

    def latest(self) -> tuple[np.ndarray | None, int]:
        """The newest finished prior and the number of the frame it was made from."""
        with self._cond:
            return self._result, self._result_count

    def now(self, image: np.ndarray, count: int, timeout_s: float) -> tuple[np.ndarray | None, int]:
        """Run on frame ``count`` next, ahead of the rate limit, and wait up to ``timeout_s`` for
        it; then as :meth:`latest`."""
        with self._cond:
            self._pending = (image.copy(), count, self._generation)
            self._urgent = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._result_count == count or self._closed, timeout_s)
            return self._result, self._result_count

    def reset(self) -> None:
        with self._cond:
            self._generation += 1
            self._pending, self._result, self._result_count = None, None, -1

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._closed:
                    return
                (image, count, generation), self._pending = self._pending, None
                self._busy, self._urgent = True, False
            t0 = time.perf_counter()
            result = self._prior.segment(image)
            with self._cond:
                if generation == self._generation:
                    self._result, self._result_count = result, count
                    self._cond.notify_all()
                rest = self._period_s - (time.perf_counter() - t0)
                if rest > 0:  # the rate limit; a frame needed now ends it
                    self._cond.wait_for(lambda: self._urgent or self._closed, rest)
                self._busy = False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=5.0)


class PersonSegmenter(Closing):
    """Selfie model on a person-framed crop, fused with a low-rate MODNet prior.

    Args:
        selfie: a selfie segmenter (``segment(image) -> (h, w)`` confidence), the ``general``
            model (square input) works best on crops.
        prior: a whole-frame person matte (``segment(image) -> (h, w)`` alpha), e.g.
            :class:`~livestyle.stages.modnet.ModnetMatter`; None: crops follow the previous
            output only.
        mode: IMAGE runs the prior on every call, VIDEO every ``prior_every_frames`` calls,
            LIVE on its own thread at most ``prior_rate_hz``.
        out_scale: the output mask's size as a fraction of the frame's.
        margin: the crop's margin around the person box, as a fraction of the box's size.
        keep_fraction: connected components smaller than this fraction of the largest are
            dropped.
        prior_weight: the prior's share in the fused mask (the crop's is the rest).
        follow: move an older prior with the person (see :meth:`_follow`).
        follow_deadband: ``(px, scale)``: the prior stays put while the person moved less
            than ``px`` output pixels (of a 960x540 frame; scaled with the frame) on both
            axes and scaled by less than ``scale`` (the selfie mask's centroid jitters, e.g.
            with typing hands: moving the prior with it flickered the edges).
        selfie_gate: where the crop's selfie mask is at least this confident and within
            ``selfie_reach_px`` output pixels of the prior's person, the fused mask is at
            least the selfie mask (keeps what MODNet drops next to the person: a desk edge
            under the arms, the lenses of glasses); above 1: off.
        prior_ema: the weight of a new prior against the previous one moved to its frame
            (VIDEO and LIVE; MODNet's frame-to-frame noise flickered); 1: off.
        first_prior_wait_s: LIVE: the first frame (and the first after :meth:`reset`) waits
            up to this long for its own prior, so the person is kept from the first frame.

    ``segment(image)`` takes ``(H, W, 3)`` uint8 BGR and returns ``(round(H * out_scale),
    round(W * out_scale))`` float32 in [0, 1] (1 = person). ``reset()`` forgets the tracked
    person (a new source or a cut).
    """

    def __init__(self, selfie, prior=None, mode: RunningMode = RunningMode.VIDEO, *, prior_every_frames: int = 5,
                 prior_rate_hz: float = 3.0, out_scale: float = 0.5, margin: float = 0.2, keep_fraction: float = 0.3,
                 prior_weight: float = 0.67, follow: bool = True, follow_deadband: tuple[float, float] = (3.0, 0.06),
                 selfie_gate: float = 0.9, selfie_reach_px: int = 8, prior_ema: float = 0.5,
                 first_prior_wait_s: float = 2.0):  # fmt: skip
        self.selfie = selfie
        self.prior = prior
        self.mode = mode
        self.prior_every_frames = max(1, int(prior_every_frames))
        self.out_scale = out_scale
        self.margin = margin
        self.keep_fraction = keep_fraction
        self.prior_weight = prior_weight
        self.follow = follow
        self.follow_deadband = follow_deadband
        self.selfie_gate = selfie_gate
        self.selfie_reach_px = selfie_reach_px
        self.prior_ema = prior_ema
        self.first_prior_wait_s = first_prior_wait_s
        self._thread = _PriorThread(prior, prior_rate_hz) if prior is not None and mode is RunningMode.LIVE else None
        self.reset()

    def reset(self) -> None:
        self._count = 0
        self._waited = False
        if self._thread is not None:
            self._thread.reset()
        self._prior_mask: np.ndarray | None = None
        self._prior_count = -1
        self._last: np.ndarray | None = None
        self._moments: dict[int, tuple[float, float, float]] = {}

    def _new_prior(self, image: np.ndarray, out_wh: tuple[int, int]):
        """A prior newer than ``_prior_mask`` (at ``out_wh``) and the number of the frame it
        was made from, or None."""
        if self.prior is None:
            return None
        if self._thread is not None and self._prior_mask is None and not self._waited:
            self._waited = True  # start-up: the selfie model alone may lose the person
            raw, count = self._thread.now(image, self._count, self.first_prior_wait_s)
        elif self._thread is not None:
            self._thread.offer(image, self._count)
            raw, count = self._thread.latest()
        elif self.mode is RunningMode.IMAGE or self._count % self.prior_every_frames == 0:
            raw, count = self.prior.segment(image), self._count
        else:
            return None
        if raw is None or count == self._prior_count:
            return None
        return cv2.resize(raw, out_wh, interpolation=cv2.INTER_LINEAR), count

    def _set_prior(self, new: np.ndarray, count: int) -> None:
        """Take ``new`` (made from frame ``count``) as the prior; with ``prior_ema`` < 1 it is
        blended with the previous prior moved to that frame (MODNet's frame-to-frame noise,
        e.g. a desk edge in one prior and not the next, would otherwise flicker)."""
        old = self._prior_mask
        if old is not None and self.prior_ema < 1.0 and self.mode is not RunningMode.IMAGE and old.shape == new.shape:
            old = self._follow(old, self._prior_count, count)
            cv2.addWeighted(new, self.prior_ema, old, 1.0 - self.prior_ema, 0.0, dst=new)
        self._prior_mask, self._prior_count = new, count

    def segment(self, image: np.ndarray) -> np.ndarray:
        H, W = image.shape[:2]
        out_wh = (max(1, round(W * self.out_scale)), max(1, round(H * self.out_scale)))
        got = self._new_prior(image, out_wh)
        count = self._count
        self._count += 1
        if self._prior_mask is not None and self._prior_mask.shape != (out_wh[1], out_wh[0]):
            self._prior_mask = None
        newest = got[0] if got is not None else self._prior_mask
        fresh = got is not None and got[1] == count
        if fresh or self._last is None:
            box = person_box(newest, keep_fraction=self.keep_fraction) if newest is not None else None
        else:  # the previous output has only large components left: their bounds
            x, y, w, h = cv2.boundingRect((self._last >= 0.5).view(np.uint8))
            box = (x, y, x + w, y + h) if w > 0 else None
        if box is None:
            mask = cv2.resize(self.selfie.segment(image), out_wh, interpolation=cv2.INTER_LINEAR)
        else:
            mask = self._crop_segment(image, box, out_wh)
        if self.follow and self.mode is not RunningMode.IMAGE:
            self._remember(mask, count)
        if got is not None:
            self._set_prior(*got)
        prior = self._prior_mask
        if prior is not None:
            mask = self._fuse(mask, self._follow(prior, self._prior_count, count))
        mask = keep_large_components(mask, keep_fraction=self.keep_fraction)
        self._last = mask
        return mask.copy()

    def _fuse(self, selfie: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """``prior_weight`` of the prior + the rest of the selfie mask; where the selfie mask is
        confident (``selfie_gate``) near the prior's person (``selfie_reach_px``), at least it."""
        w = self.prior_weight
        fused = cv2.addWeighted(selfie, 1.0 - w, prior, w, 0.0)
        if self.selfie_gate <= 1.0:
            sure = selfie >= self.selfie_gate
            if self.selfie_reach_px > 0:
                d = 2 * self.selfie_reach_px + 1  # a square: 8x cheaper than a disc
                near = cv2.dilate((prior >= 0.5).view(np.uint8), np.ones((d, d), np.uint8))
                sure &= near.view(bool)
            np.maximum(fused, selfie, out=fused, where=sure)
        return fused

    def _remember(self, selfie_mask: np.ndarray, count: int) -> None:
        """Keep the selfie mask's centroid and area for frame ``count`` (the last 64 frames)."""
        m = cv2.moments(selfie_mask)
        if m["m00"] > 1.0:
            self._moments[count] = (m["m10"] / m["m00"], m["m01"] / m["m00"], m["m00"])
        self._moments.pop(count - 64, None)

    def _follow(self, prior: np.ndarray, prior_count: int, count: int) -> np.ndarray:
        """The prior made from frame ``prior_count`` moved with the person to frame ``count``:
        shifted by the motion of the selfie mask's centroid and scaled by the square root of
        its area ratio (0.85-1.15)."""
        then, now = self._moments.get(prior_count), self._moments.get(count)
        if not self.follow or then is None or now is None or prior_count == count:
            return prior
        db_px, db_scale = self.follow_deadband
        db_px *= prior.shape[1] / 480.0  # given for 960x540 frames
        scale = float(np.clip(np.sqrt(now[2] / then[2]), 0.85, 1.15))
        dx, dy = now[0] - then[0], now[1] - then[1]
        if abs(dx) < db_px and abs(dy) < db_px and abs(scale - 1.0) < db_scale:
            return prior
        affine = np.float32([[scale, 0, now[0] - scale * then[0]], [0, scale, now[1] - scale * then[1]]])
        return cv2.warpAffine(prior, affine, (prior.shape[1], prior.shape[0]), flags=cv2.INTER_LINEAR)

    def _crop_segment(self, image: np.ndarray, box, out_wh: tuple[int, int]) -> np.ndarray:
        """The selfie model on the frame region of ``box`` (output pixels) plus the margin,
        pasted into an otherwise empty ``out_wh`` mask."""
        s = 1.0 / self.out_scale
        H, W = image.shape[:2]
        fx0, fy0, fx1, fy1 = crop_rect([v * s for v in box], (W, H), self.margin)
        out = np.zeros((out_wh[1], out_wh[0]), np.float32)
        ox0, oy0 = round(fx0 / s), round(fy0 / s)
        ox1, oy1 = max(ox0 + 1, min(out_wh[0], round(fx1 / s))), max(oy0 + 1, min(out_wh[1], round(fy1 / s)))
        crop = self.selfie.segment(image[fy0:fy1, fx0:fx1])
        out[oy0:oy1, ox0:ox1] = cv2.resize(crop, (ox1 - ox0, oy1 - oy0), interpolation=cv2.INTER_LINEAR)
        return out

    def close(self) -> None:
        if self._thread is not None:
            self._thread.close()
            self._thread = None
        for part in (self.selfie, self.prior):
            if part is not None:
                part.close()


def build_person_segmenter(options, mode: RunningMode) -> PersonSegmenter:
    """:class:`PersonSegmenter` from :class:`~livestyle.config.SegmenterOptions`: the selfie
    model ``options.model`` (``auto`` = general, whose square input suits crops) and a MODNet
    prior (focused for files and images when ``options.prior_focus``).

    Raises:
        ModelError, BackendNotInstalled: a model file or onnxruntime is missing.
    """
    from livestyle.stages.modnet import ModnetMatter
    from livestyle.stages.segment import SelfieSegmenter

    selfie = SelfieSegmenter("general" if options.model == "auto" else options.model, options.threads)
    focus = options.prior_focus and mode is not RunningMode.LIVE
    try:  # files: 1.5x the pixels of the live prior (the weakest stills 0.84 -> 0.89+)
        prior = ModnetMatter((544, 320) if focus else (448, 256), threads=options.threads)
    except BaseException:
        selfie.close()
        raise
    if focus:
        prior = FocusedPrior(prior)
    return PersonSegmenter(selfie, prior, mode, prior_every_frames=options.prior_every_frames,
                           prior_rate_hz=options.prior_rate_hz)  # fmt: skip

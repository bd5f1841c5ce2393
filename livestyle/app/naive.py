"""The seed tutorial's naive pipeline, and the speed ratio of livestyle's pipeline over it.

One measurement of each is at the mercy of whatever else the machine does at that moment (one
run gave 13.8x, others 17.8-19.1x on the same machine), so :func:`alternate_rounds` runs the
two in alternating rounds (pipeline, naive, pipeline, naive, ...; at least
:data:`MIN_ROUNDS` each) and :class:`SpeedRatio` reports the median of the per-round ratios
with their spread (min-max).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

NAIVE_MAX_FRAMES = 60
"""The naive pipeline runs at most this many frames per round (it is slow)."""
MIN_ROUNDS = 3


class NaivePipeline:
    """The seed tutorial's pipeline, for comparison: per frame, on one thread, segment
    (selfie general), stylize the whole frame squashed to 384x384 with the official TFLite fp16
    transfer model (style bottleneck from the official int8 predictor), stretch back to the frame
    size, alpha-composite with the mask.

    ``threads`` is the interpreters' thread count; None (default) is what the tutorial's
    ``Interpreter(model_path=...)`` gets, the runtime's default (one thread on this runtime).

    Raises:
        ModelError: the TFLite files are missing (they are downloaded when allowed).
    """

    def __init__(self, style: str, threads: int | None = None):
        from livestyle.stages.segment import SelfieSegmenter
        from livestyle.stages.stylize import LitertMagenta, resolve_style

        self.segmenter = SelfieSegmenter("general", threads=threads)
        self.backend = LitertMagenta(threads=threads)
        self.bottleneck = resolve_style(style, self.backend)

    def process(self, image: np.ndarray) -> np.ndarray:
        """One ``(H, W, 3)`` uint8 BGR frame in, the restyled frame out (same shape)."""
        from livestyle.stages.stylize import from_model_rgb, to_model_rgb

        h, w = image.shape[:2]
        mask = cv2.resize(self.segmenter.segment(image), (w, h))[..., None]
        content = cv2.resize(image, self.backend.fixed_size[::-1])
        styled = from_model_rgb(self.backend.transfer(to_model_rgb(content), self.bottleneck))
        styled = cv2.resize(styled, (w, h))
        return (image * mask + styled * (1.0 - mask)).astype(np.uint8)


class NaiveRounds:
    """The naive pipeline on the first ``frames`` frames of ``path`` (decoded once, kept in
    memory: at most :data:`NAIVE_MAX_FRAMES`); each call of :meth:`fps` is one timed round.

    Raises:
        InputError: the file cannot be read. ModelError: see :class:`NaivePipeline`.
    """

    def __init__(self, path: str, style: str, frames: int, threads: int | None = None):
        from livestyle.io.sources import VideoFileSource

        self.pipeline = NaivePipeline(style, threads)
        with VideoFileSource(path, max_frames=min(frames, NAIVE_MAX_FRAMES)) as source:
            self.images = [f.image for f in source]
        self.pipeline.process(self.images[0])  # warm-up, not timed

    def fps(self) -> float:
        """Frames per second of one pass over the frames."""
        t0 = time.perf_counter()
        for image in self.images:
            self.pipeline.process(image)
        return len(self.images) / max(time.perf_counter() - t0, 1e-9)


@dataclass(frozen=True)
class SpeedRatio:
    """Per-round frame rates of the two pipelines (round ``i`` of each ran back to back)."""

    pipeline_fps: tuple[float, ...]
    naive_fps: tuple[float, ...]

    @property
    def ratios(self) -> tuple[float, ...]:
        """``pipeline_fps[i] / naive_fps[i]`` for each round."""
        return tuple(p / n for p, n in zip(self.pipeline_fps, self.naive_fps))

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def spread(self) -> tuple[float, float]:
        """(min, max) of the per-round ratios."""
        return min(self.ratios), max(self.ratios)

    def report(self) -> dict:
        """The JSON fields: ``naive_fps`` (median), ``speedup`` (median ratio), ``speedup_min``,
        ``speedup_max``, ``speedup_rounds`` (every round's ratio), ``naive_rounds`` (how many),
        ``pipeline_fps_rounds`` and ``naive_fps_rounds``."""
        low, high = self.spread
        return {
            "naive_fps": round(statistics.median(self.naive_fps), 2),
            "speedup": round(self.median, 2),
            "speedup_min": round(low, 2),
            "speedup_max": round(high, 2),
            "speedup_rounds": [round(r, 2) for r in self.ratios],
            "naive_rounds": len(self.ratios),
            "pipeline_fps_rounds": [round(f, 2) for f in self.pipeline_fps],
            "naive_fps_rounds": [round(f, 2) for f in self.naive_fps],
        }


def alternate_rounds(pipeline_round: Callable[[int], float], naive_round: Callable[[], float], rounds: int) -> SpeedRatio:
    """Run ``pipeline_round(i)`` and ``naive_round()`` (each returns frames per second)
    alternately, ``rounds`` times each, pipeline first (``i`` counts from 0).

    Raises:
        ValueError: ``rounds`` is less than :data:`MIN_ROUNDS`.
    """
    if rounds < MIN_ROUNDS:
        raise ValueError(f"rounds must be at least {MIN_ROUNDS}, got {rounds}")
    pipeline, naive = [], []
    for i in range(rounds):
        pipeline.append(pipeline_round(i))
        naive.append(naive_round())
    return SpeedRatio(tuple(pipeline), tuple(naive))

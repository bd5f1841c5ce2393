"""The small protocols between pipeline stages, and the :class:`Frame` they pass.

Images are ``numpy.ndarray`` of shape ``(H, W, 3)``, dtype ``uint8``, **BGR** colour order
(OpenCV's), unless a docstring says otherwise. Masks and alpha mattes are ``(H, W)`` float32
in [0, 1] where 1 means person (foreground).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterator, Protocol, Self, runtime_checkable

import numpy as np


class RunningMode(str, Enum):
    """How frames arrive, as in MediaPipe Tasks.

    * ``IMAGE``: one independent still; no temporal smoothing.
    * ``VIDEO``: every frame of a recording, in order, deterministic output.
    * ``LIVE``: a camera; stale frames are dropped and the stylizer runs asynchronously.
    """

    IMAGE = "image"
    VIDEO = "video"
    LIVE = "live"


@dataclass
class Frame:
    """One video frame.

    Attributes:
        image: ``(H, W, 3)`` uint8 BGR.
        index: 0-based position in the source.
        timestamp_ms: presentation time in milliseconds from the start of the source.
        capture_ns: ``time.perf_counter_ns()`` when the frame was captured (for latency).
        pts: the container's presentation timestamp, in the source stream's time base, if any.
    """

    image: np.ndarray
    index: int
    timestamp_ms: float
    capture_ns: int = 0
    pts: int | None = None
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StreamInfo:
    """What a source delivers.

    Attributes:
        width_px, height_px: frame size.
        rate_hz: nominal frame rate (frames per second); 0 for a still image.
        frame_count: number of frames if known, else None (camera).
        path: the file it comes from, if any.
        time_base: the video stream's time base as ``(numerator, denominator)``, if any.
        rate_fraction: exact frame rate as ``(numerator, denominator)``, if known.
    """

    width_px: int
    height_px: int
    rate_hz: float
    frame_count: int | None = None
    path: str | None = None
    time_base: tuple[int, int] | None = None
    rate_fraction: tuple[int, int] | None = None
    has_audio: bool = False


@runtime_checkable
class Source(Protocol):
    """Delivers frames. Iterating yields :class:`Frame` until the source ends.

    ``close()`` is idempotent; sources are context managers.
    """

    mode: RunningMode

    @property
    def info(self) -> StreamInfo: ...

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


@runtime_checkable
class Segmenter(Protocol):
    """Predicts a person segmentation mask.

    ``segment(image)`` takes an ``(H, W, 3)`` uint8 BGR image and returns the model's soft
    confidence mask, ``(h, w)`` float32 in [0, 1] at the *model's* resolution (1 = person).
    """

    def segment(self, image: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


@runtime_checkable
class Stylizer(Protocol):
    """Restyles a content image with a held style.

    ``stylize(image)`` takes ``(H, W, 3)`` uint8 BGR and returns ``(H, W, 3)`` uint8 BGR of the
    same size.
    """

    def stylize(self, image: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


@runtime_checkable
class Compositor(Protocol):
    """Puts the live frame over a restyled background.

    ``composite(frame, background, alpha, original=None)``: ``frame`` and ``background`` are
    ``(H, W, 3)`` uint8 BGR of the same size, ``alpha`` is ``(H, W)`` float32 in [0, 1] (1 =
    keep frame); ``original`` is the frame's own background without the person (the clean
    plate, same size) when known, for edge decontamination. Returns ``(H, W, 3)`` uint8 BGR.
    """

    def composite(
        self, frame: np.ndarray, background: np.ndarray, alpha: np.ndarray, original: np.ndarray | None = None
    ) -> np.ndarray: ...


@runtime_checkable
class Sink(Protocol):
    """Receives output frames. ``write(frame)`` takes a :class:`Frame` whose image is the
    output; ``close()`` finishes the output (idempotent); ``abort()`` discards it (a file sink
    leaves nothing half-written at the target path). Sinks are context managers."""

    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class Closing:
    """Mixin: a context manager that calls ``close()`` on exit."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Finishing:
    """Mixin for sinks: on exit ``close()`` (finish the output) after success, ``abort()``
    (discard it) after an exception."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

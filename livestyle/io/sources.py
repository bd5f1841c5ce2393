"""Frame sources: video files (PyAV), still images (OpenCV) and a synthetic test source.

Every source yields :class:`~livestyle.protocols.Frame` objects whose ``image`` is an
``(H, W, 3)`` uint8 array in **BGR** colour order, and describes itself with a
:class:`~livestyle.protocols.StreamInfo`. Sources are context managers and ``close()`` is
idempotent.

Use :func:`open_source` to pick the right source for a path. Bad input fails *at open time*
with a one-line :class:`~livestyle.errors.InputError`, so a caller can stop before it writes
anything. Pictures over :data:`MAX_INPUT_MEGAPIXELS` are refused from their header, before
they are decoded. A video damaged partway is decoded around the damage
(:mod:`livestyle.io.decode`); ``VideoFileSource.report`` says what was concealed.

Live cameras (:attr:`RunningMode.LIVE`) are not here yet; see the note in :func:`open_source`.
"""

from __future__ import annotations

import os
import time
from itertools import islice
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from livestyle.errors import CannotHandle, InputError
from livestyle.io.decode import DecodeReport, decode_resilient, picture_to_bgr, set_decoder_threads
from livestyle.io.decode import av_reason as _av_reason
from livestyle.io.limits import check_pixels, image_size
from livestyle.protocols import Closing, Frame, RunningMode, StreamInfo

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
"""File extensions (lower case, with the dot) that :func:`open_source` reads as a still image."""


class UnreadableInput(InputError, CannotHandle):
    """The file exists but this backend cannot read it (not a video or image it knows).

    It is an :class:`InputError` (the CLI prints it as one line) and a :class:`CannotHandle`
    (a registry of backends may try the next one).
    """


def _check_exists(path: Path) -> None:
    """Raises:
    InputError: ``path`` does not exist or is a folder.
    """
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a video or image file")


def _fraction(value: Fraction | None) -> tuple[int, int] | None:
    if value is None or value == 0:
        return None
    return (value.numerator, value.denominator)


class VideoFileSource(Closing):
    """Decodes a video file with PyAV, frame by frame, in presentation order.

    The first frame is decoded when the source is created, so a file that is not a video or
    has no video frames fails here rather than halfway through a run.

    Iterating yields :class:`Frame` with ``image`` ``(height_px, width_px, 3)`` uint8 BGR,
    ``index`` from 0, ``timestamp_ms`` (milliseconds since the first frame, from the frame's
    ``pts * time_base``), ``capture_ns`` (``time.perf_counter_ns()`` when decoded) and ``pts``
    (in ``info.time_base`` units). Iterating again starts again from the first frame.

    A damaged file is decoded around the damage: packets the decoder refuses are skipped
    and the last good frame stands in for each missing one, at the missing frame's ``pts``
    (such frames have ``meta["concealed"] = True``), so frame count, duration and audio sync
    hold; ``report`` (a :class:`~livestyle.io.decode.DecodeReport` of the latest pass) counts
    them and says whether the file ended before the frames its container announces.

    Args:
        path: the video file.
        max_frames: stop after this many frames (``None``: all). ``info.frame_count`` is
            capped to it.
        strict: fail at the first damaged packet or missing frame instead.
        frame_threads: FFmpeg's ``AUTO`` threading, for reading as fast as possible (a file
            played as a camera uses one thread: 0.7 % of a core less at 960x540, 30 fps).
        start_s: start every pass this many seconds in: a seek to the key frame before it,
            the frames up to it decoded and dropped. ``timestamp_ms`` counts from the first
            frame given; ``info`` still describes the whole file.

    Raises:
        InputError: the file is missing, is not a video PyAV can read (an
            :class:`UnreadableInput`), has no video frames, or its frames are over
            :data:`MAX_INPUT_MEGAPIXELS`.
        ValueError: ``max_frames`` is less than 1.
    """

    mode = RunningMode.VIDEO

    def __init__(self, path: str | os.PathLike[str], *, max_frames: int | None = None, strict: bool = False,
                 frame_threads: bool = True, start_s: float = 0.0):
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        self.start_s = max(0.0, start_s)
        self.path = Path(path)
        self.max_frames = max_frames
        self.strict = strict
        self.frame_threads = frame_threads
        self.report = DecodeReport(self.path)
        self._container: av.container.InputContainer | None = None
        self._frames: Iterator[tuple[av.VideoFrame, int | None]] | None = None
        self._first: tuple[av.VideoFrame, int | None] | None = None
        self._closed = False
        _check_exists(self.path)
        stream = self._open()
        self._info = self._describe(stream)

    # -- opening -----------------------------------------------------------------------------

    def _open(self) -> av.video.stream.VideoStream:
        """Open the container and decode the first frame (kept in ``self._first``)."""
        try:
            container = av.open(str(self.path))
        except av.FFmpegError as err:
            raise UnreadableInput(
                f"{self.path}: not a readable video ({_av_reason(err)}); give a video or image file"
            ) from None
        self._container = container
        if not container.streams.video:
            self._release()
            raise InputError(f"{self.path}: has no video frames (no video stream); give a video file")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        try:
            check_pixels(self.path, ctx.width, ctx.height, "the video's frame size")
        except InputError:
            self._release()
            raise
        set_decoder_threads(stream, self.frame_threads)
        self.report = DecodeReport(self.path, announced=None if self.start_s else stream.frames or None)
        from_pts = self._seek(container, stream) if self.start_s else None
        self._frames = decode_resilient(container, stream, self.report, strict=self.strict)
        if from_pts is not None:
            self._frames = (item for item in self._frames if item[1] is None or item[1] >= from_pts)
        try:
            self._first = next(self._frames, None)
        except InputError:  # strict: damaged at the start
            self._release()
            raise
        if self._first is None:
            bad = self.report.bad_packets
            self._release()
            if self.start_s and not bad:
                raise InputError(f"{self.path}: has no frames from {self.start_s:g} s on; give a start inside the video")
            if bad:
                raise UnreadableInput(
                    f"{self.path}: cannot decode the video ({bad} damaged packets, no good frame); "
                    "re-encode it or give another file"
                )
            raise InputError(f"{self.path}: has no video frames; give a video with at least one frame")
        return stream

    def _seek(self, container, stream) -> int:
        """Seek to the key frame before ``start_s``; returns the first pts to give (half a
        frame's tolerance)."""
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        target = (stream.start_time or 0) + int(self.start_s / stream.time_base)
        container.seek(target, backward=True, any_frame=False, stream=stream)
        return target - int(0.5 / rate / stream.time_base)

    def _describe(self, stream: av.video.stream.VideoStream) -> StreamInfo:
        count = stream.frames or self._count_packets(self.max_frames)
        if self.max_frames is not None and count:
            count = min(count, self.max_frames)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        assert self._container is not None
        return StreamInfo(
            width_px=stream.codec_context.width,
            height_px=stream.codec_context.height,
            rate_hz=float(rate) if rate else 0.0,
            frame_count=count or None,
            path=str(self.path),
            time_base=_fraction(stream.time_base),
            rate_fraction=_fraction(rate),
            has_audio=bool(self._container.streams.audio),
        )

    def _count_packets(self, limit: int | None = None) -> int:
        """Count the video packets (at most ``limit``) by demuxing a second handle (no decoding)."""
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                return sum(1 for _ in islice((p for p in container.demux(stream) if p.size), limit))
        except av.FFmpegError:
            return 0

    # -- Source protocol ---------------------------------------------------------------------

    @property
    def info(self) -> StreamInfo:
        """Size, exact rate, time base, frame count (capped by ``max_frames``), audio presence."""
        return self._info

    def __iter__(self) -> Iterator[Frame]:
        """Yield frames from the first one.

        Raises:
            InputError: ``strict`` and the file turns out to be damaged partway through.
        """
        if self._closed:
            raise ValueError(f"{self.path}: source is closed")
        if self._first is None:  # consumed by a previous iteration: start again
            self._release()
            self._open()
        first, frames = self._first, self._frames
        self._first = None
        assert first is not None and frames is not None
        time_base = Fraction(*self._info.time_base) if self._info.time_base else None
        rate = self._info.rate_hz
        origin = first[1] if first[1] is not None else 0
        index, item = 0, first
        while item is not None:
            if self.max_frames is not None and index >= self.max_frames:
                break
            picture, pts = item
            if pts is not None and time_base is not None:
                timestamp_ms = float((pts - origin) * time_base * 1000)
            else:
                timestamp_ms = index * 1000.0 / rate if rate else 0.0
            concealed = pts != picture.pts  # a stand-in: an earlier picture at this slot's pts
            yield Frame(
                image=picture_to_bgr(picture),
                index=index,
                timestamp_ms=timestamp_ms,
                capture_ns=time.perf_counter_ns(),
                pts=pts,
                meta={"concealed": True} if concealed else {},
            )
            index += 1
            item = next(frames, None)

    def _release(self) -> None:
        self._frames = None
        self._first = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def close(self) -> None:
        """Close the file. Idempotent."""
        self._release()
        self._closed = True


class ImageSource(Closing):
    """One still image, read with OpenCV (works with non-ASCII paths too).

    Yields a single :class:`Frame` with ``image`` ``(H, W, 3)`` uint8 BGR (grey images are
    expanded to 3 channels, alpha is dropped, 16-bit is scaled to 8-bit), ``index`` 0 and
    ``timestamp_ms`` 0.

    Raises:
        InputError: the file is missing, is not an image OpenCV can decode (an
            :class:`UnreadableInput`), or is over :data:`MAX_INPUT_MEGAPIXELS` (checked from
            the header, before decoding).
    """

    mode = RunningMode.IMAGE

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        _check_exists(self.path)
        size = image_size(self.path)
        if size is not None:
            check_pixels(self.path, *size, "input image")
        # np.fromfile + imdecode instead of cv2.imread: imread cannot open non-ASCII paths on
        # Windows.
        try:
            data = np.fromfile(self.path, dtype=np.uint8)
        except OSError as err:
            raise InputError(f"{self.path}: cannot read ({err.strerror}); check its permissions") from None
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None:
            raise UnreadableInput(
                f"{self.path}: not a readable image; give a JPEG, PNG, BMP, WebP or TIFF file"
            )
        h, w = image.shape[:2]
        check_pixels(self.path, w, h, "input image")  # a format Pillow could not size
        self._image: np.ndarray | None = image
        self._info = StreamInfo(width_px=w, height_px=h, rate_hz=0.0, frame_count=1, path=str(self.path))

    @property
    def info(self) -> StreamInfo:
        """Size of the image; ``rate_hz`` 0, ``frame_count`` 1."""
        return self._info

    def __iter__(self) -> Iterator[Frame]:
        if self._image is None:
            raise ValueError(f"{self.path}: source is closed")
        yield Frame(image=self._image, index=0, timestamp_ms=0.0, capture_ns=time.perf_counter_ns())

    def close(self) -> None:
        """Release the image. Idempotent."""
        self._image = None


class SyntheticSource(Closing):
    """Deterministic frames for tests: a textured background and a moving ellipse "person".

    The same arguments always give the same frames. :meth:`person_mask` gives the ground
    truth. ``pts`` counts frames (``info.time_base`` is ``1 / rate``).

    Args:
        width_px, height_px: frame size.
        frame_count: number of frames.
        rate_hz: frame rate (frames per second).
        seed: seed of the background texture.

    Raises:
        ValueError: a size, count or rate is not positive.
    """

    mode = RunningMode.VIDEO

    def __init__(
        self,
        width_px: int = 640,
        height_px: int = 360,
        frame_count: int = 30,
        rate_hz: float = 30.0,
        seed: int = 0,
    ):
        if width_px < 8 or height_px < 8 or frame_count < 1 or rate_hz <= 0:
            raise ValueError(
                f"need width_px, height_px >= 8, frame_count >= 1, rate_hz > 0; "
                f"got {width_px}x{height_px}, {frame_count} frames, {rate_hz} Hz"
            )
        rate = Fraction(rate_hz).limit_denominator(1001)
        self._info = StreamInfo(
            width_px=width_px,
            height_px=height_px,
            rate_hz=float(rate_hz),
            frame_count=frame_count,
            time_base=(rate.denominator, rate.numerator),
            rate_fraction=(rate.numerator, rate.denominator),
        )
        self._background = self._texture(width_px, height_px, seed)

    @staticmethod
    def _texture(w: int, h: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        noise = rng.integers(0, 256, size=(max(h // 16, 2), max(w // 16, 2), 3), dtype=np.uint8)
        image = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
        yy, xx = np.mgrid[0:h, 0:w]
        stripes = ((np.sin(xx / 7.0) + np.cos(yy / 11.0)) * 20).astype(np.int16)
        return np.clip(image.astype(np.int16) // 2 + 64 + stripes[..., None], 0, 255).astype(np.uint8)

    def _ellipse(self, index: int) -> tuple[tuple[int, int], tuple[int, int]]:
        w, h = self._info.width_px, self._info.height_px
        t = index / max(self._info.frame_count or 1, 1)
        centre = (int(w * (0.3 + 0.4 * t)), int(h * 0.6))
        axes = (max(w // 8, 2), max(h // 3, 2))
        return centre, axes

    def person_mask(self, index: int) -> np.ndarray:
        """The ellipse of frame ``index`` as ``(H, W)`` float32, 1 inside (person), 0 outside."""
        mask = np.zeros((self._info.height_px, self._info.width_px), np.uint8)
        centre, axes = self._ellipse(index)
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, thickness=-1)
        return mask.astype(np.float32)

    def image(self, index: int) -> np.ndarray:
        """Frame ``index`` as ``(H, W, 3)`` uint8 BGR."""
        image = self._background.copy()
        centre, axes = self._ellipse(index)
        cv2.ellipse(image, centre, axes, 0, 0, 360, (60, 90, 200), thickness=-1)
        cv2.circle(image, (centre[0], centre[1] - axes[1] // 2), max(axes[0] // 3, 1), (40, 60, 150), -1)
        return image

    @property
    def info(self) -> StreamInfo:
        return self._info

    def __iter__(self) -> Iterator[Frame]:
        rate = self._info.rate_hz
        for index in range(self._info.frame_count or 0):
            yield Frame(
                image=self.image(index),
                index=index,
                timestamp_ms=index * 1000.0 / rate,
                capture_ns=time.perf_counter_ns(),
                pts=index,
            )

    def close(self) -> None:
        """Nothing to release. Idempotent."""


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True if ``path``'s extension is one of :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def open_source(
    path: str | os.PathLike[str], *, max_frames: int | None = None, strict: bool = False
) -> VideoFileSource | ImageSource:
    """Open ``path`` as a still image (by extension, see :data:`IMAGE_EXTENSIONS`) or a video.

    ``max_frames`` and ``strict`` (see :class:`VideoFileSource`) apply to videos only.

    Raises:
        InputError: the file is missing, unreadable, or a video without video frames. The
            message is one line naming the file and what to do.
    """
    # Live cameras (RunningMode.LIVE, e.g. "cam:0" or a device path) will be recognised here,
    # before the file checks, and opened by a camera source module.
    if is_image_path(path):
        return ImageSource(path)
    return VideoFileSource(path, max_frames=max_frames, strict=strict)

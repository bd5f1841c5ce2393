"""Frame sinks: H.264 video files (PyAV + libx264) and still images (OpenCV).

A sink takes :class:`~livestyle.protocols.Frame` objects whose ``image`` is the output,
``(H, W, 3)`` uint8 **BGR**. File sinks write to an exclusive temporary file beside the target
(:mod:`livestyle.atomic`: unique, unpredictable, never through a symlink, stale ones of dead
runs removed) and move it onto the target with :func:`os.replace` in ``close()``, so the target
is either the complete new file or untouched; ``abort()`` deletes the temporary file.
``close()`` and ``abort()`` are idempotent, and sinks are context managers (an exception in
the ``with`` block aborts). A full disk, a read-only folder or a missing permission is an
:class:`~livestyle.errors.OutputError` naming the target.

Call :func:`check_output_path` before any processing to fail early on a bad output path.

Virtual cameras and preview windows (live mode) will be further sinks; :func:`open_sink` is
where they will be chosen.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Literal

import av
import cv2
import numpy as np

from livestyle import signals
from livestyle.atomic import check_target, describe_os_error, open_temp, write_atomic
from livestyle.config import OutputOptions
from livestyle.errors import InputError, OutputError
from livestyle.protocols import Finishing, Frame, StreamInfo
from livestyle.io.sources import IMAGE_EXTENSIONS, _av_reason, is_image_path
from livestyle.io.x264 import x264_options

log = logging.getLogger(__name__)

VIDEO_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
"""Video output extensions and their muxer (all hold H.264 and the usual audio codecs).
AVI is left out: it cannot store H.264's reordered (B-frame) timestamps properly."""

X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip

Kind = Literal["video", "image"]


def _extensions(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


def check_output_path(
    output: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]] = (),
    *,
    kind: Kind | None = None,
) -> Path:
    """Check that ``output`` can be written, before any processing starts.

    Args:
        output: the output file.
        inputs: files the run reads (input video or image, style image, ...); the output must
            not be any of them (stale temporaries beside the output are removed, never these).
        kind: ``"video"`` or ``"image"`` to require that kind of extension; ``None`` accepts
            either.

    Returns:
        ``output`` as a :class:`Path`.

    Raises:
        InputError: the folder does not exist, the output is a folder, it is the same file as
            an input, or its extension is not supported for ``kind``. One line.
        OutputError: the folder is read-only or not writable (a temporary file is tried).
    """
    path = check_target(output, inputs, probe=False)
    ext = path.suffix.lower()
    allowed = {
        "video": set(VIDEO_FORMATS),
        "image": set(IMAGE_EXTENSIONS),
        None: set(VIDEO_FORMATS) | set(IMAGE_EXTENSIONS),
    }[kind]
    if ext not in allowed:
        what = f"a {kind} output" if kind else "the output"
        raise InputError(
            f"{path}: unsupported extension {ext or '(none)'!r} for {what}; use one of {_extensions(allowed)}"
        )
    return check_target(path, inputs)


def _check_image(image: np.ndarray, shape: tuple[int, ...] | None) -> None:
    """Raises:
    ValueError: ``image`` is not uint8 of ``shape`` (or of some ``(H, W, 3)`` if None).
    """
    ok_shape = image.shape == shape if shape else (image.ndim == 3 and image.shape[2] == 3)
    if not ok_shape or image.dtype != np.uint8:
        expected = f"{shape}" if shape else "(H, W, 3)"
        raise ValueError(f"frame image: expected {expected} uint8 BGR, got {image.shape} {image.dtype}")


class VideoFileSink(Finishing):
    """Writes frames to an H.264 video file (libx264), keeping the input's timing.

    The output has the input's exact frame rate (``info.rate_fraction``) and each frame keeps
    its ``pts`` in ``info.time_base``, so the output has the same frame count, rate and
    timestamps as the frames written. Pixel format is yuv420p, or yuv444p when the width or
    height is odd (yuv420p needs even sizes; the output size always equals ``info``'s). Colours
    are tagged BT.601 limited range, which is what the BGR->YUV conversion uses.

    With ``audio_from``, the first audio stream of that file is copied unchanged (no
    re-encode) into the output, interleaved with the video while writing and completed in
    ``close()``; the whole stream is copied, so its duration equals the input's. A file without
    audio is fine (no audio); an audio codec the container cannot hold is skipped with a
    warning (``.mkv`` holds all).

    Args:
        path: the target file (.mp4, .mov or .mkv).
        info: the source's stream info (size, rate, time base, frame count).
        options: crf and x264 preset; defaults to :class:`OutputOptions`.
        audio_from: a file whose audio stream to copy, or None.
        progress: show a tqdm progress bar (total ``info.frame_count``).
        audio_to_video_end: copy audio only up to the end of the last video frame (for runs
            limited to the first N frames); by default the whole audio stream is copied.
        inputs: files the run reads (never overwritten, never removed as stale temporaries).

    Raises:
        InputError: bad target path or extension, unknown preset, unreadable ``audio_from``.
        OutputError: the target cannot be written (also from ``write`` and ``close``: full
            disk); nothing is left behind.
        ValueError: ``info`` has no frame rate.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        info: StreamInfo,
        options: OutputOptions | None = None,
        *,
        audio_from: str | os.PathLike[str] | None = None,
        progress: bool = False,
        audio_to_video_end: bool = False,
        inputs: Iterable[str | os.PathLike[str]] = (),
    ):
        options = options or OutputOptions()
        self._audio_to_video_end = audio_to_video_end
        inputs = [*inputs, *([audio_from] if audio_from is not None else [])]
        self.path = check_output_path(path, inputs, kind="video")
        if options.preset not in X264_PRESETS:
            raise InputError(
                f"output.preset {options.preset!r} is not an x264 preset; use one of {', '.join(X264_PRESETS)}"
            )
        if info.rate_fraction:
            rate = Fraction(*info.rate_fraction)
        elif info.rate_hz > 0:
            rate = Fraction(info.rate_hz).limit_denominator(1001)
        else:
            raise ValueError(f"{self.path}: a video needs a frame rate; got {info.rate_hz} Hz")
        self.info = info
        self._shape = (info.height_px, info.width_px, 3)
        self._rate = rate
        self._time_base = Fraction(*info.time_base) if info.time_base else 1 / rate
        self._keep_pts = info.time_base is not None  # frames' own pts are in this time base
        self._ticks_per_frame = 1 / (rate * self._time_base)
        self._tmp: Path | None = None
        self._file = None
        self._out = None
        self._closed = False
        self._last_pts: int | None = None
        self._audio_in: av.container.InputContainer | None = None
        self._audio_packets: Iterator[av.Packet] | None = None
        self._audio_pending: av.Packet | None = None
        self._bar = None

        try:
            with signals.deferred():  # a stop signal cannot come between creating and remembering
                self._file, self._tmp = open_temp(self.path)
            self._out = av.open(self._file, "w", format=VIDEO_FORMATS[self.path.suffix.lower()])
            odd = info.width_px % 2 or info.height_px % 2
            stream = self._out.add_stream("libx264", rate=rate, options=x264_options(options.crf, options.preset))
            stream.width, stream.height = info.width_px, info.height_px
            stream.pix_fmt = "yuv444p" if odd else "yuv420p"
            stream.time_base = self._time_base
            stream.codec_context.time_base = self._time_base
            stream.codec_context.colorspace = 6  # AVCOL_SPC_SMPTE170M (BT.601), swscale's default
            stream.codec_context.color_range = 1  # AVCOL_RANGE_MPEG (limited)
            self._video = stream
            self._out_audio = self._open_audio(audio_from) if audio_from is not None else None
        except OSError as err:
            self.abort()
            raise OutputError(describe_os_error(err, self.path)) from None
        except BaseException:
            self.abort()
            raise
        if progress:
            from tqdm import tqdm

            self._bar = tqdm(total=info.frame_count, unit="frame", desc=self.path.name)

    def _open_audio(self, audio_from: str | os.PathLike[str]) -> av.audio.stream.AudioStream | None:
        src = Path(audio_from)
        if not src.is_file():
            raise InputError(f"{src}: no such file to copy audio from; check the path")
        try:
            self._audio_in = av.open(str(src))
        except av.FFmpegError as err:
            raise InputError(f"{src}: cannot read audio ({_av_reason(err)})") from None
        if not self._audio_in.streams.audio:
            return None
        in_audio = self._audio_in.streams.audio[0]
        codec = in_audio.codec_context.name
        if codec not in self._out.supported_codecs:
            log.warning("%s: audio codec %s cannot go into %s; writing video without audio (.mkv keeps it)",
                        src, codec, self.path.suffix)
            return None
        out_audio = self._out.add_stream_from_template(in_audio)
        self._audio_packets = self._audio_in.demux(in_audio)
        return out_audio

    def _mux_audio(self, until_s: Fraction | None) -> None:
        """Copy audio packets that start at or before ``until_s`` seconds (None: all left)."""
        if self._out_audio is None or self._audio_packets is None:
            return
        while True:
            packet = self._audio_pending or next(self._audio_packets, None)
            self._audio_pending = None
            if packet is None:
                self._audio_packets = None
                return
            if packet.dts is None or packet.size == 0:  # demuxer's flush packet
                continue
            if until_s is not None and packet.pts is not None and packet.time_base is not None:
                if packet.pts * packet.time_base > until_s:
                    self._audio_pending = packet
                    return
            packet.stream = self._out_audio
            self._out.mux(packet)

    def write(self, frame: Frame) -> None:
        """Encode ``frame.image`` (``(info.height_px, info.width_px, 3)`` uint8 BGR).

        The frame's ``pts`` (in ``info.time_base``) is kept; without one, the pts comes from
        ``frame.index`` and the rate.

        Raises:
            ValueError: wrong image shape or dtype (the message gives expected and actual),
                a pts not after the previous one, or the sink is closed.
        """
        if self._closed:
            raise ValueError(f"{self.path}: sink is closed")
        _check_image(frame.image, self._shape)
        if frame.pts is not None and self._keep_pts:
            pts = frame.pts
        else:
            pts = round(frame.index * self._ticks_per_frame)
        if self._last_pts is not None and pts <= self._last_pts:
            raise ValueError(f"{self.path}: frame pts {pts} is not after the previous pts {self._last_pts}")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.image), format="bgr24")
        video_frame.pts = pts
        video_frame.time_base = self._time_base
        try:
            self._out.mux(self._video.encode(video_frame))
            if self._out_audio is not None:
                self._mux_audio(pts * self._time_base)
        except OSError as err:
            raise OutputError(describe_os_error(err, self.path)) from None
        self._last_pts = pts
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        """Flush the encoder, copy the rest of the audio, and move the file onto the target.

        Idempotent; does nothing after :meth:`abort`.

        Raises:
            ValueError: no frame was written (nothing is saved).
        """
        if self._closed:
            return
        if self._last_pts is None:  # no frame was written
            self.abort()
            raise ValueError(f"{self.path}: no frames were written; nothing was saved")
        try:
            self._out.mux(self._video.encode(None))
            end = None
            if self._audio_to_video_end:
                end = self._last_pts * self._time_base + 1 / self._rate
            self._mux_audio(end)
            self._out.close()
            self._file.close()
            self._release()
            os.replace(self._tmp, self.path)
        except OSError as err:
            self._discard()
            raise OutputError(describe_os_error(err, self.path)) from None
        except BaseException:
            self._discard()
            raise

    def abort(self) -> None:
        """Discard the output: close everything and delete the temporary file. Idempotent."""
        if not self._closed:
            self._discard()

    def _discard(self) -> None:
        with signals.deferred():  # a stop signal cannot cut the clean-up short
            for done in (self._out, self._file):
                try:
                    if done is not None:
                        done.close()
                except (av.FFmpegError, OSError, ValueError):
                    pass
            self._release()
            if self._tmp is not None:
                self._tmp.unlink(missing_ok=True)

    def _release(self) -> None:
        self._closed = True
        if self._audio_in is not None:
            self._audio_in.close()
            self._audio_in = None
        self._audio_packets = self._audio_pending = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class ImageSink(Finishing):
    """Writes one still image (format from the extension), atomically in ``close()``.

    Args:
        path: the target file (.jpg, .png, .bmp, .webp, .tif, ...).
        info: if given, the image must be ``(info.height_px, info.width_px, 3)``.
        inputs: files the run reads (never overwritten, never removed as stale temporaries).

    Raises:
        InputError: bad target path or extension.
        OutputError: the target cannot be written (also from ``close``: full disk).
    """

    def __init__(self, path: str | os.PathLike[str], info: StreamInfo | None = None,
                 inputs: Iterable[str | os.PathLike[str]] = ()):
        self._inputs = list(inputs)
        self.path = check_output_path(path, self._inputs, kind="image")
        self._shape = (info.height_px, info.width_px, 3) if info else None
        self._data: np.ndarray | None = None
        self._closed = False

    def write(self, frame: Frame) -> None:
        """Encode ``frame.image`` (``(H, W, 3)`` uint8 BGR); it is saved by :meth:`close`.

        Raises:
            ValueError: wrong shape or dtype (expected vs actual), a second frame, the sink is
                closed, or OpenCV cannot encode the image.
        """
        if self._closed:
            raise ValueError(f"{self.path}: sink is closed")
        if self._data is not None:
            raise ValueError(f"{self.path}: an image sink takes one frame; use a video output for more")
        _check_image(frame.image, self._shape)
        ok, data = cv2.imencode(self.path.suffix.lower(), frame.image)
        if not ok:
            raise ValueError(f"{self.path}: OpenCV could not encode the image")
        self._data = data

    def close(self) -> None:
        """Write the image to a temporary file and move it onto the target. Idempotent.

        Raises:
            ValueError: no frame was written (nothing is saved).
            OutputError: the file cannot be written (the temporary file is removed).
        """
        if self._closed:
            return
        self._closed = True
        data, self._data = self._data, None
        if data is None:
            raise ValueError(f"{self.path}: no image was written; nothing was saved")
        write_atomic(self.path, data.tobytes(), self._inputs)

    def abort(self) -> None:
        """Discard the image; nothing is written. Idempotent."""
        self._closed = True
        self._data = None


def open_sink(
    path: str | os.PathLike[str],
    info: StreamInfo,
    options: OutputOptions | None = None,
    **video,
) -> VideoFileSink | ImageSink:
    """Open an image sink for an image extension (see :data:`IMAGE_EXTENSIONS`), else a video
    sink. ``options`` and the keyword arguments (``audio_from``, ``progress``,
    ``audio_to_video_end``: see :class:`VideoFileSink`) apply to video only.

    Raises:
        InputError: bad target path or extension (see :func:`check_output_path`).
    """
    # Live-mode sinks (virtual camera, preview window) live in livestyle.io.vcam and livestyle.io.window.
    if is_image_path(path):
        return ImageSink(path, info, video.get("inputs", ()))
    return VideoFileSink(path, info, options, **video)

"""Live camera source: the newest frame of a camera, surviving unplug and replug.

:class:`CameraSource` is a :class:`~livestyle.protocols.Source` in
:attr:`~livestyle.protocols.RunningMode.LIVE` mode. A *grabber* thread reads the device as
fast as it delivers and keeps only the newest frame, so a slow consumer never sees stale
frames and latency cannot build up. Iterating yields each new frame once.

When the camera disappears (read fails, device unplugged) the source keeps yielding the last
good frame at the nominal rate, marked ``frame.meta["camera_lost"] = True`` so sinks can show
a notice, while the grabber reopens the device with exponential back-off. Frames from the
reopened device carry ``camera_lost = False`` again.

The device itself sits behind the small :class:`~livestyle.io.capture.CaptureBackend` protocol
(:mod:`livestyle.io.capture`: OpenCV cameras, and video files played as cameras).

Images are ``(H, W, 3)`` uint8 BGR.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Iterator

import numpy as np

from livestyle.errors import DeviceError, InputError
from livestyle.protocols import Closing, Frame, RunningMode, StreamInfo

log = logging.getLogger(__name__)
from livestyle.io.capture import (
    DEFAULT_RATE_HZ,
    FIRST_FRAME_TIMEOUT_S,
    NO_CAMERA_MESSAGE,
    CameraEnded,
    CaptureBackend,
    FileCamera,
    OpenCVCamera,
    cameras_present,
    looks_like_camera,
    parse_device,
)

__all__ = [
    "NO_CAMERA_MESSAGE", "CameraEnded", "CameraSource", "CaptureBackend", "FileCamera", "OpenCVCamera",
    "cameras_present", "looks_like_camera", "open_camera", "parse_device",
]


class CameraSource(Closing):
    """Live source on a :class:`CaptureBackend` (an OpenCV camera by default).

    Iterating yields :class:`~livestyle.protocols.Frame` objects: ``image`` ``(H, W, 3)``
    uint8 BGR, ``index`` counting yielded frames, ``timestamp_ms`` since the source started,
    ``capture_ns`` (``time.perf_counter_ns()`` when grabbed; for a repeated frame while the
    camera is lost, when it was repeated), and ``meta`` with ``camera_lost`` (bool) and
    ``camera`` (the device name). Only the newest frame is kept; frames the consumer was too
    slow for are skipped (counted in :attr:`skipped`).

    Args:
        device: camera index or device path (ignored when ``backend`` is given).
        size_px: requested ``(width, height)``; rate_hz: requested frames per second;
            mjpg: request MJPG (see :class:`OpenCVCamera`).
        backend: a :class:`CaptureBackend` to use instead of OpenCV.
        reconnect_min_s, reconnect_max_s: back-off between reopen attempts, doubling.
        first_frame_timeout_s: how long to wait for the first frame.

    Raises:
        DeviceError: no camera on this machine, the device cannot be opened, or it gives no
            frame within ``first_frame_timeout_s`` (one line).
    """

    mode = RunningMode.LIVE

    def __init__(
        self,
        device: int | str = 0,
        *,
        size_px: tuple[int, int] | None = None,
        rate_hz: float | None = None,
        mjpg: bool = False,
        backend: CaptureBackend | None = None,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 8.0,
        first_frame_timeout_s: float = FIRST_FRAME_TIMEOUT_S,
    ):
        if backend is None:
            if cameras_present() is False and not (isinstance(parse_device(device), str)):
                raise DeviceError(NO_CAMERA_MESSAGE)
            backend = OpenCVCamera(device, size_px=size_px, rate_hz=rate_hz, mjpg=mjpg)
        self.backend = backend
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = max(reconnect_max_s, reconnect_min_s)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._latest: np.ndarray | None = None
        self._latest_ns = 0
        self._seq = 0
        self._lost = False
        self._ended = False
        self._closed = False
        self.reconnects = 0
        self.losses = 0
        self.skipped = 0
        try:
            self.backend.open()  # DeviceError on failure
        except BaseException:
            closer = getattr(self.backend, "close", None)
            if callable(closer):
                closer()
            raise
        w, h = self.backend.size_px
        self._rate = float(self.backend.rate_hz or rate_hz or DEFAULT_RATE_HZ)
        self._thread = threading.Thread(target=self._grab, name="livestyle-camera", daemon=True)
        self._thread.start()
        with self._cond:
            self._cond.wait_for(lambda: self._seq > 0 or self._ended or self._lost, timeout=first_frame_timeout_s)
            got = self._latest
        if got is None:
            self.close()
            raise DeviceError(f"{self.backend.name}: opened but delivers no frames; check that no other program uses it")
        h, w = got.shape[:2]
        self._info = StreamInfo(width_px=w, height_px=h, rate_hz=self._rate, frame_count=None)

    # -- grabber thread -------------------------------------------------------------------
    def _grab(self) -> None:
        opened = True
        delay = self.reconnect_min_s
        try:
            while not self._stop.is_set():
                if not opened:
                    if self._stop.wait(delay):
                        break
                    try:
                        self.backend.open()
                    except Exception as err:  # noqa: BLE001 - any failure means: try again later
                        log.debug("%s: reopen failed (%s); next try in %.1f s", self.backend.name, err, delay)
                        delay = min(delay * 2.0, self.reconnect_max_s)
                        continue
                    opened = True
                    delay = self.reconnect_min_s
                    self.reconnects += 1
                    log.warning("%s: reopened", self.backend.name)
                try:
                    image = self.backend.read()
                except CameraEnded:
                    break
                except Exception as err:  # noqa: BLE001 - a failing read is a lost camera
                    log.debug("%s: read failed: %s", self.backend.name, err)
                    image = None
                now = time.perf_counter_ns()
                if image is None:
                    if self._stop.is_set():
                        break
                    self.backend.release()
                    opened = False
                    delay = self.reconnect_min_s
                    with self._cond:
                        if not self._lost:
                            self.losses += 1
                            log.warning("%s: camera lost; reopening with back-off", self.backend.name)
                        self._lost = True
                        self._cond.notify_all()
                    continue
                with self._cond:
                    self._latest = image
                    self._latest_ns = now
                    self._seq += 1
                    self._lost = False
                    self._cond.notify_all()
        finally:
            self.backend.release()
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    # -- Source protocol ------------------------------------------------------------------
    @property
    def info(self) -> StreamInfo:
        """Size of the first frame, nominal rate; ``frame_count`` None."""
        return self._info

    def __iter__(self) -> Iterator[Frame]:
        period = 1.0 / self._rate
        seen = 0
        index = 0
        t0 = time.perf_counter_ns()
        last: np.ndarray | None = None
        while not self._closed:
            with self._cond:
                self._cond.wait_for(lambda: self._seq != seen or self._ended or self._closed, timeout=period)
                if self._closed:
                    return
                if self._seq != seen:
                    if seen and self._seq - seen > 1:
                        self.skipped += self._seq - seen - 1
                    seen = self._seq
                    last, ns, lost = self._latest, self._latest_ns, False
                elif self._ended:
                    return
                elif self._lost and last is not None:
                    ns, lost = time.perf_counter_ns(), True
                else:
                    continue  # the camera is only slow: wait on
            yield Frame(
                image=last,
                index=index,
                timestamp_ms=(ns - t0) / 1e6,
                capture_ns=ns,
                meta={"camera_lost": lost, "camera": self.backend.name},
            )
            index += 1

    def close(self) -> None:
        """Stop the grabber and release the device. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self.backend.release()
        closer = getattr(self.backend, "close", None)
        if callable(closer) and not self._thread.is_alive():
            closer()


def open_camera(spec: str | int | None, options, *, file_as_camera: bool = False) -> CameraSource:
    """Open the live source for ``--input``: a camera index or path, or (with
    ``file_as_camera``) a video file played as a camera.

    Args:
        spec: ``--input`` (None: ``options.device``).
        options: :class:`~livestyle.config.CameraOptions`.
        file_as_camera: ``spec`` is a video file to play as a paced, looped camera.

    Raises:
        DeviceError: no camera, or it cannot be opened.
        InputError: a file that is not a readable video.
    """
    kw = dict(reconnect_min_s=options.reconnect_min_s, reconnect_max_s=options.reconnect_max_s)
    if file_as_camera:
        if spec is None:
            raise InputError("--live needs --input FILE (a video file to play as a camera)")
        return CameraSource(backend=FileCamera(spec, rate_hz=options.rate_hz or None), **kw)
    device = parse_device(options.device if spec is None else spec)
    size = (options.width_px, options.height_px) if options.width_px and options.height_px else None
    return CameraSource(device, size_px=size, rate_hz=options.rate_hz or None, mjpg=options.mjpg, **kw)

"""Live camera source: the newest frame of a camera, surviving unplug and replug.

:class:`CameraSource` is a :class:`~livestyle.protocols.Source` in
:attr:`~livestyle.protocols.RunningMode.LIVE` mode. A *grabber* thread reads the device as
fast as it delivers and keeps only the newest frame, so a slow consumer never sees stale
frames and latency cannot build up. Iterating yields each new frame once.

When the camera disappears (read fails, device unplugged) the source keeps yielding the last
good frame at the nominal rate, marked ``frame.meta["camera_lost"] = True`` so sinks can show
a notice, while the grabber reopens the device with exponential back-off. Frames from the
reopened device carry ``camera_lost = False`` again.

The device itself sits behind the small :class:`CaptureBackend` protocol:

* :class:`OpenCVCamera`: ``cv2.VideoCapture`` on a camera index or device path, with the
  requested size, rate and optionally MJPG;
* :class:`FileCamera`: a video file played as a camera, paced at the file's frame rate and
  looped; it can be told to :meth:`~FileCamera.vanish` and :meth:`~FileCamera.come_back`
  (tests, demos, and ``livestyle run --input FILE --live``).

Images are ``(H, W, 3)`` uint8 BGR.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Protocol, runtime_checkable

import cv2
import numpy as np

from livestyle.errors import DeviceError, InputError
from livestyle.protocols import Closing, Frame, RunningMode, StreamInfo

log = logging.getLogger(__name__)

DEFAULT_RATE_HZ = 30.0
FIRST_FRAME_TIMEOUT_S = 10.0

NO_CAMERA_MESSAGE = (
    "no camera found on this machine; to restyle a file run "
    "'livestyle run --input FILE.mp4 --output OUT.mp4' (or 'make demo INPUT=FILE.mp4 OUTPUT=OUT.mp4')"
)


class CameraEnded(Exception):
    """Raised by :meth:`CaptureBackend.read` when the device will never deliver again (the end
    of a file that is not looped). The source then ends its iteration."""


@runtime_checkable
class CaptureBackend(Protocol):
    """One capture device, used by :class:`CameraSource` from its grabber thread only.

    * ``name``: what to call the device in messages.
    * ``open()``: open (or reopen) the device. Raises :class:`~livestyle.errors.DeviceError`
      when it is not available.
    * ``read()``: block until the next frame and return it as ``(H, W, 3)`` uint8 BGR, or
      ``None`` when the device is lost (the source releases and reopens it). May raise
      :class:`CameraEnded`.
    * ``release()``: close the device; idempotent.
    * ``size_px``: ``(width, height)`` of the frames, valid after ``open()``.
    * ``rate_hz``: nominal frames per second, valid after ``open()``.
    """

    name: str

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None: ...

    def release(self) -> None: ...

    @property
    def size_px(self) -> tuple[int, int]: ...

    @property
    def rate_hz(self) -> float: ...


def looks_like_camera(spec: str | int) -> bool:
    """True if ``spec`` names a camera rather than a file: an index (``0``, ``"1"``),
    ``"cam:N"``, or a ``/dev/video*`` path."""
    if isinstance(spec, int):
        return True
    s = str(spec).strip()
    return bool(re.fullmatch(r"(cam:)?\d+", s)) or s.startswith("/dev/video")


def parse_device(spec: str | int) -> int | str:
    """``0``, ``"0"`` or ``"cam:0"`` -> ``0``; a device path stays a string."""
    if isinstance(spec, int):
        return spec
    s = str(spec).strip()
    m = re.fullmatch(r"(?:cam:)?(\d+)", s)
    return int(m.group(1)) if m else s


def cameras_present() -> bool | None:
    """Whether the system shows any camera device: True/False on Linux (``/dev/video*``),
    None elsewhere (unknown without opening one)."""
    if sys.platform.startswith("linux"):
        return bool(glob.glob("/dev/video*"))
    return None


class OpenCVCamera:
    """A camera through ``cv2.VideoCapture``.

    Args:
        device: index (``0``) or device path (``/dev/video2``).
        size_px: requested ``(width, height)``, or None for the camera's default.
        rate_hz: requested frames per second, or None.
        mjpg: request the MJPG pixel format (HD at full rate on most USB cameras).

    Raises (from ``open``):
        DeviceError: the device cannot be opened or gives no frame.
    """

    def __init__(self, device: int | str = 0, *, size_px: tuple[int, int] | None = None,
                 rate_hz: float | None = None, mjpg: bool = False):
        self.device = parse_device(device)
        self.name = f"camera {self.device}"
        self.requested_size = size_px
        self.requested_rate = rate_hz
        self.mjpg = mjpg
        self._cap: cv2.VideoCapture | None = None
        self._size = (0, 0)
        self._rate = 0.0

    def open(self) -> None:
        self.release()
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        if isinstance(self.device, str) and not os.path.exists(self.device):
            raise DeviceError(f"{self.name}: no such device")
        cap = cv2.VideoCapture(self.device, api)
        if not cap.isOpened():
            cap.release()
            raise DeviceError(f"{self.name}: cannot open it (not a camera, or in use by another program)")
        if self.mjpg:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        if self.requested_size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.requested_size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.requested_size[1])
        if self.requested_rate:
            cap.set(cv2.CAP_PROP_FPS, self.requested_rate)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        rate = cap.get(cv2.CAP_PROP_FPS)
        self._rate = float(rate) if rate and 0 < rate < 1000 else float(self.requested_rate or DEFAULT_RATE_HZ)
        self._cap = cap

    def read(self) -> np.ndarray | None:
        cap = self._cap
        if cap is None:
            return None
        ok, image = cap.read()
        if not ok or image is None:
            return None
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        self._size = (image.shape[1], image.shape[0])
        return image

    def release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    @property
    def size_px(self) -> tuple[int, int]:
        return self._size

    @property
    def rate_hz(self) -> float:
        return self._rate


class FileCamera:
    """A video file played as a camera: frames come at the file's frame rate (or
    ``rate_hz``), in real time, looping at the end unless ``loop=False``.

    :meth:`vanish` makes it behave like an unplugged camera (``read`` returns None, ``open``
    fails) until :meth:`come_back`.

    Args:
        path: the video file.
        rate_hz: delivery rate in frames per second (default: the file's rate).
        loop: start again at the end (else :class:`CameraEnded` is raised).

    Raises:
        InputError: the file is missing or not a readable video (at construction).
        DeviceError: from ``open`` while vanished.
    """

    def __init__(self, path: str | os.PathLike[str], *, rate_hz: float | None = None, loop: bool = True):
        from livestyle.sources import VideoFileSource

        self.path = Path(path)
        self.name = f"file camera {self.path.name}"
        self._source = VideoFileSource(self.path)  # fails early on a bad file
        info = self._source.info
        self._size = (info.width_px, info.height_px)
        self._rate = float(rate_hz or info.rate_hz or DEFAULT_RATE_HZ)
        self.loop = loop
        self._frames: Iterator[Frame] | None = None
        self._gone = threading.Event()
        self._next_due = 0.0
        self.frames_read = 0

    def vanish(self) -> None:
        """Unplug: reads fail and reopening fails until :meth:`come_back`."""
        self._gone.set()

    def come_back(self) -> None:
        """Plug back in: the next reopen succeeds."""
        self._gone.clear()

    @property
    def gone(self) -> bool:
        return self._gone.is_set()

    def open(self) -> None:
        if self._gone.is_set():
            raise DeviceError(f"{self.name}: device not present")
        if self._source is None:
            raise DeviceError(f"{self.name}: closed")
        if self._frames is None:
            self._frames = iter(self._source)
        self._next_due = time.perf_counter()

    def read(self) -> np.ndarray | None:
        if self._gone.is_set() or self._frames is None:
            return None
        delay = self._next_due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        self._next_due = max(self._next_due + 1.0 / self._rate, time.perf_counter() - 1.0 / self._rate)
        if self._gone.is_set():
            return None
        try:
            frame = next(self._frames)
        except StopIteration:
            if not self.loop:
                raise CameraEnded(f"{self.name}: end of file") from None
            self._frames = iter(self._source)
            frame = next(self._frames)
        self.frames_read += 1
        return frame.image

    def release(self) -> None:
        """Close the device side (the file stays open for a reopen)."""

    def close(self) -> None:
        """Close the file for good."""
        if self._source is not None:
            self._source.close()
            self._source = None
        self._frames = None

    @property
    def size_px(self) -> tuple[int, int]:
        return self._size

    @property
    def rate_hz(self) -> float:
        return self._rate


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

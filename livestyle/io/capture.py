"""Capture devices behind the :class:`CaptureBackend` protocol, used by the live camera source.

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

from livestyle.errors import DeviceError

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
        start_s: play from this many seconds into the file (also after each loop; the
            seek is :class:`~livestyle.io.sources.VideoFileSource`'s ``start_s``).

    Raises:
        InputError: the file is missing or not a readable video (at construction).
        DeviceError: from ``open`` while vanished.
    """

    def __init__(self, path: str | os.PathLike[str], *, rate_hz: float | None = None, loop: bool = True,
                 start_s: float = 0.0):
        from livestyle.io.sources import VideoFileSource

        self.path = Path(path)
        self.name = f"file camera {self.path.name}"
        # fails early on a bad file; one decoding thread: frames are wanted at the camera's
        # rate, not as fast as possible, and frame threads cost more CPU in all
        self._source = VideoFileSource(self.path, frame_threads=False, start_s=start_s)
        info = self._source.info
        self._size = (info.width_px, info.height_px)
        self._rate = float(rate_hz or info.rate_hz or DEFAULT_RATE_HZ)
        self.loop = loop
        self._frames: Iterator[np.ndarray] | None = None
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
            self._frames = self._from_start()
        self._next_due = time.perf_counter()

    def _from_start(self) -> Iterator[np.ndarray]:
        """The file's images from ``start_s`` on (the first one decoded here, not on a read)."""
        return (frame.image for frame in self._source)

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
            self._frames = self._from_start()
            frame = next(self._frames)
            # the seek back decoded a group of pictures at once: start the clock again rather
            # than catch up with a burst of frames (a camera does not skip back in time)
            self._next_due = time.perf_counter() + 1.0 / self._rate
        self.frames_read += 1
        return frame

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

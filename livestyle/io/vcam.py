"""Virtual camera sink: the output as a camera that Meet, Teams or Zoom can pick.

Built on pyvirtualcam (imported only when a virtual camera is opened): v4l2loopback on Linux,
the OBS virtual camera on Windows and macOS, Unity Capture on Windows.

* Frames are sent as RGB, ``(height, width, 3)`` uint8, at a **steady** rate: a sender thread
  re-sends the newest output frame every ``1 / fps`` seconds
  (``pyvirtualcam.Camera.sleep_until_next_frame``), so a call app sees a constant frame rate
  even while the pipeline hiccups.
* The device size must be even (YUV 4:2:0 on the device side): an odd width or height is
  cropped by one pixel on the right or bottom.
* ``mirror=True`` flips the picture left-right.

Without a virtual camera backend the sink raises a one-line
:class:`~livestyle.errors.DeviceError` that says how to get one.
"""

from __future__ import annotations

import logging
import platform
import threading
import time

import cv2
import numpy as np

from livestyle.errors import BackendNotInstalled, DeviceError
from livestyle.protocols import Closing, Frame

log = logging.getLogger(__name__)

MODPROBE_LINE = "modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=livestyle"
"""The Linux command that creates a virtual camera named "livestyle"."""


def how_to_get_a_virtual_camera(system: str | None = None) -> str:
    """One sentence on how to get a virtual camera device on ``system`` (``platform.system()``)."""
    system = system or platform.system()
    if system == "Linux":
        return (
            f"create one with 'sudo {MODPROBE_LINE}' (package v4l2loopback-dkms on Debian and Ubuntu), "
            "then pick 'livestyle' as the camera in your call app"
        )
    if system in ("Windows", "Darwin"):
        return (
            "install OBS Studio (28 or newer) and start its virtual camera once (Start Virtual Camera, then stop it), "
            "then pick 'OBS Virtual Camera' in your call app"
        )
    return f"pyvirtualcam has no virtual camera backend for {system}"


def even_size(width_px: int, height_px: int) -> tuple[int, int]:
    """The even ``(width, height)`` sent to the device: odd sizes lose their last column/row."""
    return width_px - width_px % 2, height_px - height_px % 2


def to_device_rgb(image: np.ndarray, size_px: tuple[int, int], mirror: bool = False) -> np.ndarray:
    """``(H, W, 3)`` uint8 BGR -> ``(h, w, 3)`` uint8 RGB C-contiguous, cropped to
    ``size_px = (w, h)`` (top-left kept) and flipped left-right if ``mirror``."""
    w, h = size_px
    if image.shape[0] != h or image.shape[1] != w:
        if image.shape[0] >= h and image.shape[1] >= w:
            image = image[:h, :w]
        else:
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # a new contiguous array
    if mirror:
        cv2.flip(rgb, 1, dst=rgb)
    return rgb


class VirtualCameraSink(Closing):
    """Sends output frames to a virtual camera at a steady rate.

    Args:
        width_px, height_px: the output frame size (odd sizes are cropped to even).
        fps: frames per second sent to the device.
        device: device name or path (None: the first available).
        backend: pyvirtualcam backend name (None: try each registered one).
        mirror: flip left-right.

    ``write(frame)`` takes a :class:`~livestyle.protocols.Frame` with ``(H, W, 3)`` uint8 BGR
    and returns at once; the sender thread does the sending. ``close()`` stops the sender and
    releases the device (idempotent); ``abort()`` does the same.

    Raises:
        BackendNotInstalled: pyvirtualcam is not installed.
        DeviceError: no virtual camera device (the message says how to get one), the named
            device or backend does not exist, or sending failed (raised from ``write``).
        ValueError: a size or rate is not positive.
    """

    def __init__(
        self,
        width_px: int,
        height_px: int,
        fps: float,
        *,
        device: str | None = None,
        backend: str | None = None,
        mirror: bool = False,
    ):
        if width_px < 2 or height_px < 2 or not fps or fps <= 0:
            raise ValueError(f"virtual camera: need a size of at least 2x2 and fps > 0, got {width_px}x{height_px} at {fps}")
        try:
            import pyvirtualcam
        except ImportError:
            raise BackendNotInstalled(
                "the virtual camera needs pyvirtualcam: pip install 'livestyle[vcam]' (or pip install pyvirtualcam)"
            ) from None
        self.size_px = even_size(width_px, height_px)
        self.fps = float(fps)
        self.mirror = mirror
        if backend and backend not in pyvirtualcam.camera.BACKENDS:
            known = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none"
            raise DeviceError(f"unknown virtual camera backend {backend!r}; available here: {known}")
        if not pyvirtualcam.camera.BACKENDS:
            raise DeviceError(f"no virtual camera backend on this system; {how_to_get_a_virtual_camera()}")
        try:
            self._cam = pyvirtualcam.Camera(
                self.size_px[0], self.size_px[1], self.fps,
                fmt=pyvirtualcam.PixelFormat.RGB, device=device or None, backend=backend or None,
            )  # fmt: skip
        except Exception as err:  # noqa: BLE001 - pyvirtualcam raises RuntimeError with each backend's reason
            reason = " ".join(str(err).split())
            where = f"virtual camera {device!r}" if device else "no virtual camera device available"
            raise DeviceError(f"{where} ({reason}); {how_to_get_a_virtual_camera()}") from None
        self.device = self._cam.device
        self.backend = self._cam.backend
        self._lock = threading.Lock()
        self._have_frame = threading.Event()
        self._stop = threading.Event()
        self._last: np.ndarray | None = None
        self._error: BaseException | None = None
        self._closed = False
        self.frames_sent = 0
        self._thread = threading.Thread(target=self._send_loop, name="livestyle-vcam", daemon=True)
        self._thread.start()
        log.info("virtual camera: %s (%s), %dx%d at %.2f fps", self.device, self.backend, *self.size_px, self.fps)

    def _send_loop(self) -> None:
        try:
            while not self._have_frame.wait(0.05):
                if self._stop.is_set():
                    return
            while not self._stop.is_set():
                with self._lock:
                    image = self._last
                self._cam.send(image)
                self.frames_sent += 1
                self._cam.sleep_until_next_frame()
        except BaseException as err:  # noqa: BLE001 - reported from write()
            self._error = err

    def write(self, frame: Frame) -> None:
        """Hand over the newest output frame (``(H, W, 3)`` uint8 BGR).

        Raises:
            DeviceError: the sender failed (the device went away).
        """
        if self._error is not None:
            raise DeviceError(f"virtual camera {self.device}: sending failed ({self._error})")
        rgb = to_device_rgb(frame.image, self.size_px, self.mirror)
        with self._lock:
            self._last = rgb
        self._have_frame.set()

    def close(self) -> None:
        """Stop sending and release the device. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self._cam.close()

    def abort(self) -> None:
        self.close()


class RecordingBackend:
    """A pyvirtualcam backend that records instead of sending (tests and dry runs).

    Register it with :func:`register_recording_backend` and select it with
    ``VirtualCameraSink(..., backend="recording")`` (or ``[vcam] backend = "recording"``).
    Every ``send`` checks the frame (1-D C-contiguous uint8 of ``width * height * 3`` bytes,
    RGB) and records its time (``time.perf_counter()``); the last frame is kept as
    ``(height, width, 3)`` uint8 RGB. Instances are listed in :attr:`instances`. If
    ``$LIVESTYLE_VCAM_RECORD`` names a file, ``close`` writes a JSON report there (size, fps,
    send times, number of bad frames).
    """

    instances: list["RecordingBackend"] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None = None, **kw):
        from pyvirtualcam import PixelFormat
        from pyvirtualcam.util import encode_fourcc

        if fourcc != encode_fourcc(PixelFormat.RGB.value):
            raise RuntimeError("recording backend: only RGB frames")
        if width % 2 or height % 2:
            raise RuntimeError(f"recording backend: odd size {width}x{height}")
        self.width, self.height, self.fps = width, height, fps
        self._device = device or "recording0"
        self.send_times: list[float] = []
        self.bad_frames = 0
        self.last: np.ndarray | None = None
        self.closed = False
        RecordingBackend.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        ok = (
            frame.dtype == np.uint8 and frame.ndim == 1 and frame.flags.c_contiguous
            and frame.size == self.width * self.height * 3
        )  # fmt: skip
        if not ok:
            self.bad_frames += 1
            raise ValueError(f"recording backend: bad frame {frame.shape} {frame.dtype}")
        self.send_times.append(time.perf_counter())
        self.last = frame.reshape(self.height, self.width, 3).copy()

    def close(self) -> None:
        self.closed = True
        import json
        import os

        path = os.environ.get("LIVESTYLE_VCAM_RECORD")
        if path:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(
                    {"width": self.width, "height": self.height, "fps": self.fps, "device": self._device,
                     "send_times": self.send_times, "bad_frames": self.bad_frames},
                    f,
                )  # fmt: skip

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int | None:
        return None


def register_recording_backend(name: str = "recording") -> type[RecordingBackend]:
    """Register :class:`RecordingBackend` with pyvirtualcam under ``name``."""
    import pyvirtualcam

    pyvirtualcam.register_backend(name, RecordingBackend)
    return RecordingBackend

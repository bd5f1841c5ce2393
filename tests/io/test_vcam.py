"""Virtual camera sink against a recording pyvirtualcam backend (no v4l2loopback here), and a
live run of the shared clip, paced at its frame rate, into it."""

from __future__ import annotations

import platform
import threading
import time

import numpy as np
import pytest

from conftest import CLIP
from livestyle.io.camera import CameraSource, FileCamera
from livestyle.presets import load_config
from livestyle.errors import DeviceError
from livestyle.app.live import LiveSession, live_config
from livestyle.protocols import Frame
from livestyle.io.vcam import (
    MODPROBE_LINE,
    RecordingBackend,
    VirtualCameraSink,
    even_size,
    how_to_get_a_virtual_camera,
    register_recording_backend,
)

pyvirtualcam = pytest.importorskip("pyvirtualcam")


@pytest.fixture(autouse=True)
def recording():
    register_recording_backend("recording")
    RecordingBackend.instances.clear()
    yield RecordingBackend
    RecordingBackend.instances.clear()


def _frame(image: np.ndarray) -> Frame:
    return Frame(image, 0, 0.0, time.perf_counter_ns())


def test_even_size_rgb_order_mirror_and_steady_resend():
    bgr = np.zeros((541, 961, 3), np.uint8)
    bgr[..., 0] = 255  # blue in BGR
    bgr[:, :10] = (0, 0, 255)  # a red stripe on the left
    with VirtualCameraSink(961, 541, 30.0, backend="recording") as sink:
        assert sink.size_px == (960, 540) == even_size(961, 541)
        sink.write(_frame(bgr))
        t0 = time.perf_counter()
        time.sleep(1.0)  # no new frames: the sender keeps re-sending the last one
        rec = RecordingBackend.instances[-1]
        sent = list(rec.send_times)
    assert rec.closed and rec.bad_frames == 0
    assert (rec.width, rec.height) == (960, 540)
    rate = (len(sent) - 1) / (sent[-1] - sent[0])
    print(f"re-sent {len(sent)} frames in {time.perf_counter() - t0:.2f} s: {rate:.1f} fps (target 30)")
    assert 15 <= rate <= 45
    assert rec.last.shape == (540, 960, 3)
    assert tuple(rec.last[100, 500]) == (0, 0, 255)  # RGB on the device side
    assert tuple(rec.last[100, 2]) == (255, 0, 0)

    with VirtualCameraSink(960, 540, 30.0, backend="recording", mirror=True) as sink:
        sink.write(_frame(bgr[:540, :960]))
        time.sleep(0.2)
    last = RecordingBackend.instances[-1].last
    assert tuple(last[100, 957]) == (255, 0, 0) and tuple(last[100, 2]) == (0, 0, 255)


def test_no_backend_says_how_to_get_one(monkeypatch):
    class Failing:
        def __init__(self, **kw):
            raise RuntimeError("No v4l2 loopback device found at /dev/video[0-99].")

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"v4l2loopback": Failing})
    with pytest.raises(DeviceError) as err:
        VirtualCameraSink(640, 480, 30.0)
    msg = str(err.value)
    assert "\n" not in msg
    if platform.system() == "Linux":
        assert MODPROBE_LINE in msg
    assert "OBS" in how_to_get_a_virtual_camera("Windows") and "OBS" in how_to_get_a_virtual_camera("Darwin")
    assert "modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=livestyle" in how_to_get_a_virtual_camera("Linux")


def test_real_backend_without_device_and_unknown_backend():
    with pytest.raises(DeviceError, match="unknown virtual camera backend 'nope'"):
        VirtualCameraSink(640, 480, 30.0, backend="nope")
    if platform.system() == "Linux" and "v4l2loopback" in pyvirtualcam.camera.BACKENDS:
        import glob

        if not glob.glob("/dev/video*"):
            with pytest.raises(DeviceError, match="modprobe v4l2loopback"):
                VirtualCameraSink(640, 480, 30.0, backend="v4l2loopback")


@pytest.mark.slow
def test_live_clip_to_virtual_camera_survives_camera_loss():
    """The shared clip as a camera, paced at 29.97 fps, into the recording virtual camera; the
    camera vanishes for ~1.5 s in the middle and comes back."""
    config = live_config(load_config(None, {"vcam.backend": "recording"}))
    cam = FileCamera(CLIP)
    source = CameraSource(backend=cam, reconnect_min_s=0.2, reconnect_max_s=0.5)
    session = LiveSession(source, config, preview=False, vcam=True, duration_s=7.0)
    outages = []

    def unplug():
        time.sleep(2.5)
        cam.vanish()
        outages.append(time.perf_counter())
        time.sleep(1.5)
        cam.come_back()
        outages.append(time.perf_counter())

    threading.Thread(target=unplug, daemon=True).start()
    result = session.run(handle_signals=False)
    rec = RecordingBackend.instances[-1]
    sent = np.asarray(rec.send_times)
    gaps = np.diff(sent)
    print(
        f"\n{result.line()}\nvirtual camera: {len(sent)} frames, {(len(sent) - 1) / (sent[-1] - sent[0]):.1f} fps, "
        f"gap p50 {1e3 * np.median(gaps):.0f} ms, max {1e3 * gaps.max():.0f} ms"
    )
    assert rec.closed and rec.bad_frames == 0 and (rec.width, rec.height) == (960, 540)
    assert rec.fps == pytest.approx(29.97, abs=0.01)
    # steady: frames throughout the run, the camera outage included
    assert len(sent) > 0.5 * 29.97 * 6
    assert gaps.max() < 0.5
    during = ((sent > outages[0] + 0.3) & (sent < outages[1])).sum()
    assert during > 10, "the virtual camera kept receiving frames while the camera was gone"
    assert result.camera_losses == 1 and result.camera_reconnects >= 1
    assert result.style_refreshes >= 1
    assert result.summary.frames_out > 30
    # the background (left third of this static shot) was restyled, not passed through
    from livestyle.io.sources import VideoFileSource

    with VideoFileSource(CLIP, max_frames=1) as clip:
        original = next(iter(clip)).image[:, :, ::-1]  # RGB, like the device
    diff = np.abs(rec.last[:400, :300].astype(int) - original[:400, :300].astype(int)).mean()
    print(f"background difference to the camera frame: {diff:.1f} (of 255)")
    assert diff > 20

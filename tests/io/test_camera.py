"""Camera source on a file-backed fake camera: pacing, newest-frame semantics, loss and
recovery, and the one-line errors when there is no camera."""

from __future__ import annotations

import time

import numpy as np
import pytest

from conftest import CLIP
from livestyle.io.camera import (
    NO_CAMERA_MESSAGE,
    CameraSource,
    FileCamera,
    OpenCVCamera,
    cameras_present,
    looks_like_camera,
    open_camera,
    parse_device,
)
from livestyle.config import CameraOptions
from livestyle.errors import DeviceError, InputError
from livestyle.protocols import RunningMode, Source


def test_device_names():
    assert looks_like_camera(0) and looks_like_camera("1") and looks_like_camera("cam:2")
    assert looks_like_camera("/dev/video4")
    assert not looks_like_camera(str(CLIP)) and not looks_like_camera("clip.mp4")
    assert parse_device("cam:3") == 3 and parse_device("0") == 0 and parse_device("/dev/video1") == "/dev/video1"


def test_file_camera_is_a_paced_live_source():
    with CameraSource(backend=FileCamera(CLIP)) as src:
        assert isinstance(src, Source) and src.mode is RunningMode.LIVE
        info = src.info
        assert (info.width_px, info.height_px) == (960, 540)
        assert info.rate_hz == pytest.approx(29.97, abs=0.01)
        t0 = time.perf_counter()
        frames = []
        for frame in src:
            frames.append(frame)
            if len(frames) == 45:
                break
        dt = time.perf_counter() - t0
    rate = (len(frames) - 1) / dt
    print(f"file camera delivered {rate:.1f} fps (file rate 29.97)")
    assert 10.0 < rate < 45.0  # paced: not as fast as decoding allows
    assert [f.index for f in frames] == list(range(45))
    assert all(f.image.shape == (540, 960, 3) and f.image.dtype == np.uint8 for f in frames)
    assert not any(f.meta["camera_lost"] for f in frames)
    ts = [f.capture_ns for f in frames]
    assert ts == sorted(ts)
    # real, changing footage: the typing woman moves between frames
    assert np.abs(frames[0].image.astype(int) - frames[-1].image.astype(int)).mean() > 0.5


def test_slow_consumer_gets_the_newest_frame_only():
    with CameraSource(backend=FileCamera(CLIP)) as src:
        it = iter(src)
        next(it)
        ages_ms = []
        for _ in range(4):
            time.sleep(0.25)  # a consumer far slower than 30 fps
            frame = next(it)
            ages_ms.append((time.perf_counter_ns() - frame.capture_ns) / 1e6)
        skipped = src.skipped
    print(f"skipped {skipped} stale frames; ages of delivered frames {[round(a) for a in ages_ms]} ms")
    assert skipped >= 4  # ~7 frames arrive per 250 ms; all but the newest are skipped
    assert min(ages_ms) < 200  # the frame handed over is recent, not the one after the last read


def test_camera_loss_keeps_the_run_going_and_recovers():
    cam = FileCamera(CLIP)
    src = CameraSource(backend=cam, reconnect_min_s=0.1, reconnect_max_s=0.4)
    seen = []
    t0 = time.perf_counter()
    try:
        for frame in src:
            t = time.perf_counter() - t0
            seen.append((t, frame.meta["camera_lost"], frame.image))
            if len(seen) == 15:
                cam.vanish()
            if cam.gone and t > 1.8:
                cam.come_back()
            if t > 3.5:
                break
    finally:
        src.close()
    lost = [i for i, (_, lost, _) in enumerate(seen) if lost]
    print(f"{len(seen)} frames, {len(lost)} marked camera_lost, losses={src.losses} reconnects={src.reconnects}")
    assert lost, "frames kept coming, marked camera_lost, while the camera was gone"
    assert src.losses == 1 and src.reconnects >= 1
    after = seen[lost[-1] + 1 :]
    assert after and not any(lost for _, lost, _ in after), "fresh frames again after the camera came back"
    # while lost, the last good frame is repeated
    first_lost = lost[0]
    assert np.array_equal(seen[first_lost][2], seen[first_lost - 1][2])
    # no long silence: the consumer got frames throughout the outage
    times = [t for t, _, _ in seen]
    assert max(np.diff(times)) < 0.5


def test_file_camera_without_loop_ends(tmp_path):
    cam = FileCamera(CLIP, rate_hz=400.0, loop=False)
    with CameraSource(backend=cam) as src:
        n = 0
        for _ in src:
            n += 1
            if n > 2000:
                break
    assert 0 < n <= 2000 and cam.frames_read >= 700  # the clip has ~750 frames


def test_file_camera_starts_at_start_s_and_loops_back_to_it():
    from livestyle.io.sources import open_source

    wanted = {f.index: f.image for f in open_source(CLIP, max_frames=701) if f.index in (690, 700)}
    cam = FileCamera(CLIP, rate_hz=1000.0, start_s=700 / 29.97)  # frame 700 of ~760
    cam.open()
    first = cam.read()
    assert np.array_equal(first, wanted[700])
    n = 1
    while not np.array_equal(cam.read(), wanted[700]):  # to the end, then back to frame 700
        n += 1
        assert n < 200
    assert 50 <= n <= 70
    cam.close()


def test_vanished_camera_at_start_is_one_clear_error():
    cam = FileCamera(CLIP)
    cam.vanish()
    with pytest.raises(DeviceError, match="not present"):
        CameraSource(backend=cam)


def test_camera_that_gives_no_frames():
    class Silent:
        name = "camera silent"
        size_px = (64, 48)
        rate_hz = 30.0

        def open(self):
            pass

        def read(self):
            time.sleep(0.05)
            return None

        def release(self):
            pass

    with pytest.raises(DeviceError, match="delivers no frames"):
        CameraSource(backend=Silent(), first_frame_timeout_s=0.5)


def test_no_camera_errors():
    with pytest.raises(DeviceError, match="no such device"):
        OpenCVCamera("/dev/video-livestyle-missing").open()
    if cameras_present() is False:
        with pytest.raises(DeviceError) as err:
            CameraSource(0)
        assert str(err.value) == NO_CAMERA_MESSAGE
    with pytest.raises(InputError, match="no such file"):
        open_camera(str(CLIP) + ".missing.mp4", CameraOptions(), file_as_camera=True)

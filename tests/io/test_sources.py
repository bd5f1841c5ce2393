"""Sources on real media: the shared clip and photos, plus bad inputs made in tmp_path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from livestyle.errors import CannotHandle, InputError
from livestyle.protocols import RunningMode, Source
from livestyle.io.sinks import VideoFileSink
from livestyle.io.sources import ImageSource, SyntheticSource, VideoFileSource, open_source

MEDIA = Path(os.environ.get("LIVESTYLE_MEDIA", "/work/shared/media"))
CLIP = MEDIA / "person_desk_960x540.mp4"
PHOTO = MEDIA / "woman-5883428_1280.jpg"


def _write_audio(out: av.container.OutputContainer, seconds: float = 1.0) -> None:
    """Mux ``seconds`` of silent mono AAC into ``out``."""
    audio = out.add_stream("aac", rate=48000)
    audio.layout = "mono"
    for start in range(0, int(48000 * seconds), 1024):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, start
        out.mux(audio.encode(frame))
    out.mux(audio.encode(None))


def _assert_one_line_input_error(path: Path, match: str) -> InputError:
    with pytest.raises(InputError, match=match) as info:
        open_source(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return info.value


def test_video_source_info_on_clip():
    with open_source(str(CLIP)) as source:
        assert isinstance(source, VideoFileSource)
        assert isinstance(source, Source)
        assert source.mode is RunningMode.VIDEO
        info = source.info
    assert (info.width_px, info.height_px) == (960, 540)
    assert info.frame_count == 760
    assert info.rate_hz == pytest.approx(29.97, abs=0.01)
    assert info.rate_fraction == (30000, 1001)
    assert info.time_base is not None
    assert info.path == str(CLIP)
    assert info.has_audio is False


def test_video_source_frames_are_ffmpegs_bgr_conversion():
    """One swscale thread (not one per core, started per frame) gives the very same pixels."""
    with av.open(str(CLIP)) as container:
        expected = [f.to_ndarray(format="bgr24") for _, f in zip(range(8), container.decode(video=0))]
    with VideoFileSource(CLIP, max_frames=8) as source:
        got = [f.image for f in source]
    assert len(got) == 8 and all(np.array_equal(a, b) for a, b in zip(got, expected))
    assert got[0].dtype == np.uint8 and got[0].shape == (540, 960, 3)
    with VideoFileSource(CLIP, max_frames=8, frame_threads=False) as source:  # as a file camera reads
        one_thread = [f.image for f in source]
    assert all(np.array_equal(a, b) for a, b in zip(one_thread, expected)) and len(one_thread) == 8


def test_video_source_start_s_seeks_to_the_same_frames():
    """``start_s`` seeks (to the key frame at 12 s here) and gives the very frames a full
    decode gives from 13 s on, again on the next pass; a start after the end is one line."""
    with VideoFileSource(CLIP) as source:
        expected = [f.image for f in source if f.timestamp_ms >= 13000.0 - 16.7][:4]
    with VideoFileSource(CLIP, start_s=13.0, max_frames=4) as source:
        for _ in range(2):
            frames = list(source)
            assert [f.index for f in frames] == [0, 1, 2, 3] and frames[0].timestamp_ms == 0.0
            assert all(np.array_equal(f.image, e) for f, e in zip(frames, expected))
    with pytest.raises(InputError, match="no frames from 99 s on") as info:
        VideoFileSource(CLIP, start_s=99.0)
    assert "\n" not in str(info.value)


def test_video_source_frames_and_max_frames():
    with VideoFileSource(CLIP, max_frames=6) as source:
        assert source.info.frame_count == 6
        frames = list(source)
    assert [f.index for f in frames] == list(range(6))
    for f in frames:
        assert f.image.shape == (540, 960, 3)
        assert f.image.dtype == np.uint8
        assert f.capture_ns > 0
    pts = [f.pts for f in frames]
    assert pts == sorted(pts) and len(set(pts)) == 6
    # 30000/1001 fps: one frame every 33.3667 ms
    assert [f.timestamp_ms for f in frames] == pytest.approx([i * 1001 / 30 for i in range(6)], abs=0.01)
    # bgr24 from PyAV agrees with OpenCV's own decoder on the first frame (same colours, order)
    cap = cv2.VideoCapture(str(CLIP))
    ok, first = cap.read()
    cap.release()
    assert ok
    assert np.abs(first.astype(np.int16) - frames[0].image).mean() < 3


def test_video_source_iterates_again_from_start_and_close_is_idempotent():
    source = VideoFileSource(CLIP, max_frames=3)
    first = [f.image for f in source]
    second = [f.image for f in source]
    assert len(first) == len(second) == 3
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    source.close()
    source.close()
    with pytest.raises(ValueError, match="closed"):
        next(iter(source))


def test_frame_count_is_counted_when_the_container_has_none(tmp_path):
    # Matroska stores no frame count, so the source counts packets.
    synthetic = SyntheticSource(64, 48, frame_count=10)
    target = tmp_path / "ten.mkv"
    with VideoFileSink(target, synthetic.info) as sink:
        for frame in synthetic:
            sink.write(frame)
    with av.open(str(target)) as container:
        assert container.streams.video[0].frames == 0
    with open_source(str(target)) as source:
        assert source.info.frame_count == 10
        assert len(list(source)) == 10
        assert source.info.rate_fraction == (30, 1)


def test_image_source(tmp_path):
    with open_source(str(PHOTO)) as source:
        assert isinstance(source, ImageSource)
        assert source.mode is RunningMode.IMAGE
        frames = list(source)
    expected = cv2.imread(str(PHOTO))
    assert len(frames) == 1
    assert frames[0].image.dtype == np.uint8
    assert np.array_equal(frames[0].image, expected)
    assert (source.info.width_px, source.info.height_px) == (expected.shape[1], expected.shape[0])
    assert source.info.frame_count == 1


def test_image_source_non_ascii_path_and_upper_case_extension(tmp_path):
    odd = tmp_path / "фото été.JPG"
    shutil.copy(PHOTO, odd)
    with open_source(str(odd)) as source:
        assert isinstance(source, ImageSource)
        image = next(iter(source)).image
    assert np.array_equal(image, cv2.imread(str(PHOTO)))


def test_synthetic_source_is_deterministic_and_moves():
    a, b = SyntheticSource(96, 64, frame_count=5, seed=3), SyntheticSource(96, 64, frame_count=5, seed=3)
    frames_a, frames_b = list(a), list(b)
    assert len(frames_a) == 5
    assert all(np.array_equal(x.image, y.image) for x, y in zip(frames_a, frames_b))
    assert frames_a[0].image.shape == (64, 96, 3) and frames_a[0].image.dtype == np.uint8
    assert not np.array_equal(frames_a[0].image, frames_a[4].image)  # the person moves
    assert not np.array_equal(a.person_mask(0), a.person_mask(4))
    assert not np.array_equal(next(iter(SyntheticSource(96, 64, seed=4))).image, frames_a[0].image)
    mask = a.person_mask(0)
    assert mask.dtype == np.float32 and 0 < mask.mean() < 1
    assert a.mode is RunningMode.VIDEO and a.info.frame_count == 5


@pytest.mark.parametrize("name", ["missing.mp4", "missing.jpg"])
def test_missing_file(tmp_path, name):
    _assert_one_line_input_error(tmp_path / name, "no such file")


def test_folder_as_input(tmp_path):
    _assert_one_line_input_error(tmp_path, "folder")


@pytest.mark.parametrize("name", ["notes.mp4", "notes.jpg"])
def test_text_file_renamed(tmp_path, name):
    path = tmp_path / name
    path.write_text("this is not a video or an image\n" * 20)
    err = _assert_one_line_input_error(path, "not a readable")
    assert isinstance(err, CannotHandle)


def test_audio_only_file(tmp_path):
    path = tmp_path / "audio_only.mp4"
    with av.open(str(path), "w") as out:
        _write_audio(out)
    _assert_one_line_input_error(path, "has no video frames")


def test_video_stream_without_frames(tmp_path):
    # An mp4 muxer drops an empty video track, Matroska keeps it: a video stream, zero frames.
    path = tmp_path / "empty_video.mkv"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        _write_audio(out)
    with av.open(str(path)) as check:
        assert len(check.streams.video) == 1
    _assert_one_line_input_error(path, "has no video frames")


def test_max_frames_must_be_positive():
    with pytest.raises(ValueError, match="max_frames"):
        VideoFileSource(CLIP, max_frames=0)

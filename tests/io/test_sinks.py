"""Sinks on real footage: H.264 round trip, atomic writes, audio copy, strict checks."""

from __future__ import annotations

import dataclasses
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from livestyle.config import OutputOptions
from livestyle.errors import InputError
from livestyle.protocols import Frame, Sink
from livestyle.io.sinks import ImageSink, VideoFileSink, check_output_path, open_sink
from livestyle.io.sources import SyntheticSource, VideoFileSource, open_source

MEDIA = Path(os.environ.get("LIVESTYLE_MEDIA", "/work/shared/media"))
CLIP = MEDIA / "person_desk_960x540.mp4"
PHOTO = MEDIA / "girl-919048_1280.jpg"
N = 20


@pytest.fixture(scope="module")
def clip20():
    """The first N frames of the shared clip, and the source's info (frame_count N)."""
    with VideoFileSource(CLIP, max_frames=N) as source:
        return source.info, list(source)


@pytest.fixture(scope="module")
def clip_with_tone(tmp_path_factory) -> Path:
    """The first 3 s of the clip (video stream-copied) with a 440 Hz sine tone as AAC."""
    path = tmp_path_factory.mktemp("av") / "tone.mp4"
    rate, seconds = 48000, 3.0
    with av.open(str(CLIP)) as inp, av.open(str(path), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        audio = out.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for packet in inp.demux(vin):
            if packet.dts is None:
                continue
            if packet.pts * packet.time_base >= seconds:
                break
            packet.stream = vout
            out.mux(packet)
        t = np.arange(int(rate * seconds)) / rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    return path


def _audio(path: Path) -> tuple[str, Fraction, int, list[bytes]]:
    """(codec, duration in seconds from the packets, samples per packet, payloads) of the
    audio stream."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        packets = [p for p in container.demux(stream) if p.dts is not None]
        first, last = packets[0], packets[-1]
        duration = (last.pts + last.duration - first.pts) * stream.time_base
        payloads = [bytes(p) for p in packets]
        return stream.codec_context.name, duration, stream.codec_context.frame_size or 1024, payloads


def _decode(path: Path) -> tuple[av.video.stream.VideoStream, list[av.VideoFrame]]:
    container = av.open(str(path))
    stream = container.streams.video[0]
    return stream, list(container.decode(stream))


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if "livestyle-tmp" in p.name]


def test_video_round_trip_keeps_size_rate_timing_and_pixels(tmp_path, clip20):
    info, frames = clip20
    target = tmp_path / "out.mp4"
    with VideoFileSink(target, info, OutputOptions(crf=18)) as sink:
        assert isinstance(sink, Sink)
        for frame in frames:
            sink.write(frame)
    with open_source(str(target)) as out:
        assert (out.info.width_px, out.info.height_px) == (960, 540)
        assert out.info.rate_fraction == info.rate_fraction == (30000, 1001)
        assert out.info.frame_count == N
        decoded = list(out)
    assert len(decoded) == N
    assert [f.pts * Fraction(*out.info.time_base) for f in decoded] == [
        f.pts * Fraction(*info.time_base) for f in frames
    ]
    diff = np.mean([np.abs(a.image.astype(np.int16) - b.image).mean() for a, b in zip(frames, decoded)])
    assert diff < 3, diff
    assert not _leftovers(tmp_path)


def test_odd_size_frames_without_pts_keep_their_size(tmp_path):
    source = SyntheticSource(65, 37, frame_count=8)
    target = tmp_path / "odd.mkv"
    with VideoFileSink(target, source.info) as sink:
        for frame in source:
            sink.write(dataclasses.replace(frame, pts=None))  # pts from index and rate
    stream, decoded = _decode(target)
    assert (stream.codec_context.width, stream.codec_context.height) == (65, 37)
    assert len(decoded) == 8
    assert decoded[0].format.name == "yuv444p"
    assert [float(f.time) for f in decoded] == pytest.approx([i / 30 for i in range(8)], abs=0.002)
    image = decoded[3].to_ndarray(format="bgr24")
    assert np.abs(image.astype(np.int16) - source.image(3)).mean() < 4


def test_target_appears_only_at_close(tmp_path, clip20):
    info, frames = clip20
    target = tmp_path / "out.mov"
    sink = VideoFileSink(target, info)
    for frame in frames:
        sink.write(frame)
        assert not target.exists()
    sink.close()
    assert target.is_file() and target.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mov"]
    sink.close()  # idempotent
    sink.abort()  # no effect after close
    assert target.is_file()


def test_abort_leaves_nothing_and_keeps_an_existing_target(tmp_path, clip20):
    info, frames = clip20
    target = tmp_path / "out.mp4"
    target.write_bytes(b"previous output")
    sink = VideoFileSink(target, info)
    for frame in frames:  # enough frames for x264 to emit packets, so the temp file exists
        sink.write(frame)
    assert len(_leftovers(tmp_path)) == 1  # the temporary file, beside the target
    sink.abort()
    sink.abort()
    sink.close()
    assert target.read_bytes() == b"previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_exception_in_with_block_aborts(tmp_path, clip20):
    info, frames = clip20
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoFileSink(target, info) as sink:
            for frame in frames:
                sink.write(frame)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_close_without_frames_saves_nothing(tmp_path, clip20):
    target = tmp_path / "out.mp4"
    sink = VideoFileSink(target, clip20[0])
    with pytest.raises(ValueError, match="no frames"):
        sink.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_audio_is_copied_unchanged(tmp_path, clip_with_tone, ext):
    target = tmp_path / f"with_audio{ext}"
    with open_source(str(clip_with_tone)) as source:
        assert source.info.has_audio
        with VideoFileSink(target, source.info, audio_from=str(clip_with_tone)) as sink:
            for frame in source:
                sink.write(frame)
        count = source.info.frame_count
    codec_in, duration_in, frame_size, payloads_in = _audio(clip_with_tone)
    codec_out, duration_out, _, payloads_out = _audio(target)
    assert codec_out == codec_in == "aac"
    assert abs(duration_out - duration_in) < Fraction(frame_size, 48000)
    assert payloads_out == payloads_in  # stream copy: every packet, byte for byte
    assert duration_in > Fraction(29, 10)
    with av.open(str(target)) as out:
        assert len(out.streams.audio) == 1
        assert out.streams.audio[0].sample_rate == 48000
    with open_source(str(target)) as out:
        assert out.info.frame_count == count
        assert out.info.has_audio


def test_audio_from_a_file_without_audio_gives_no_audio(tmp_path, clip20):
    info, frames = clip20
    target = tmp_path / "out.mp4"
    with VideoFileSink(target, info, audio_from=str(CLIP)) as sink:
        for frame in frames[:3]:
            sink.write(frame)
    with av.open(str(target)) as out:
        assert not out.streams.audio
        assert out.streams.video[0].frames == 3


def test_audio_from_missing_file(tmp_path, clip20):
    with pytest.raises(InputError, match="no such file"):
        VideoFileSink(tmp_path / "out.mp4", clip20[0], audio_from=str(tmp_path / "nope.mp4"))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "image",
    [np.zeros((540, 959, 3), np.uint8), np.zeros((540, 960), np.uint8), np.zeros((540, 960, 3), np.float32)],
    ids=["width", "channels", "dtype"],
)
def test_write_rejects_wrong_shape_or_dtype(tmp_path, clip20, image):
    with VideoFileSink(tmp_path / "out.mp4", clip20[0]) as sink:
        with pytest.raises(ValueError) as info:
            sink.write(Frame(image=image, index=0, timestamp_ms=0.0, pts=0))
        message = str(info.value)
        assert "expected (540, 960, 3) uint8" in message
        assert f"got {image.shape} {image.dtype}" in message
        sink.abort()


def test_write_rejects_pts_going_back(tmp_path, clip20):
    info, frames = clip20
    with VideoFileSink(tmp_path / "out.mp4", info) as sink:
        sink.write(frames[1])
        with pytest.raises(ValueError, match="not after"):
            sink.write(frames[0])
        sink.abort()


def test_unknown_preset(tmp_path, clip20):
    with pytest.raises(InputError, match="preset"):
        VideoFileSink(tmp_path / "out.mp4", clip20[0], OutputOptions(preset="warp9"))


def test_progress_bar(tmp_path, clip20, capsys):
    info, frames = clip20
    with VideoFileSink(tmp_path / "out.mp4", info, progress=True) as sink:
        for frame in frames[:4]:
            sink.write(frame)
    assert f"4/{N}" in capsys.readouterr().err


def test_image_sink_round_trip(tmp_path):
    image = cv2.imread(str(PHOTO))
    target = tmp_path / "still.png"
    sink = open_sink(str(target), open_source(str(PHOTO)).info)
    assert isinstance(sink, ImageSink)
    sink.write(Frame(image=image, index=0, timestamp_ms=0.0))
    with pytest.raises(ValueError, match="one frame"):
        sink.write(Frame(image=image, index=1, timestamp_ms=0.0))
    assert not target.exists()
    sink.close()
    sink.close()
    assert np.array_equal(cv2.imread(str(target)), image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["still.png"]


def test_image_sink_abort_and_shape_check(tmp_path):
    image = cv2.imread(str(PHOTO))
    info = open_source(str(PHOTO)).info
    with pytest.raises(ValueError, match=r"expected \(853, 1280, 3\) uint8 BGR, got \(852, 1280, 3\) uint8"):
        with ImageSink(tmp_path / "a.jpg", info) as sink:
            sink.write(Frame(image=image[:-1], index=0, timestamp_ms=0.0))
    sink = ImageSink(tmp_path / "b.jpg")
    sink.write(Frame(image=image, index=0, timestamp_ms=0.0))
    sink.abort()
    sink.abort()
    assert list(tmp_path.iterdir()) == []


def test_open_sink_picks_by_extension(tmp_path, clip20):
    sink = open_sink(str(tmp_path / "x.MKV"), clip20[0])
    assert isinstance(sink, VideoFileSink)
    sink.abort()
    assert isinstance(open_sink(str(tmp_path / "x.webp"), clip20[0]), ImageSink)


# -- check_output_path ---------------------------------------------------------------------


def _one_line(err: pytest.ExceptionInfo, path: Path) -> None:
    assert "\n" not in str(err.value)
    assert str(path) in str(err.value)


def test_check_output_path_accepts_good_paths(tmp_path):
    assert check_output_path(tmp_path / "out.mp4", [CLIP], kind="video") == tmp_path / "out.mp4"
    assert check_output_path(tmp_path / "out.png", [PHOTO], kind="image") == tmp_path / "out.png"
    assert check_output_path(tmp_path / "out.mkv") == tmp_path / "out.mkv"


def test_check_output_path_missing_folder(tmp_path):
    path = tmp_path / "no" / "such" / "out.mp4"
    with pytest.raises(InputError, match="does not exist; create it first") as err:
        check_output_path(path)
    _one_line(err, path)
    assert str(tmp_path / "no" / "such") in str(err.value)


def test_check_output_path_same_as_input(tmp_path):
    video = tmp_path / "in.mp4"
    video.write_bytes(b"x")
    spelled_differently = tmp_path / "sub" / ".." / "in.mp4"
    (tmp_path / "sub").mkdir()
    for output in (video, spelled_differently):
        with pytest.raises(InputError, match="would overwrite the input") as err:
            check_output_path(output, [CLIP, video])
        _one_line(err, output)
    link = tmp_path / "link.mp4"
    os.link(video, link)  # a hard link is the same file under another name
    with pytest.raises(InputError, match="would overwrite the input"):
        check_output_path(link, [video])


@pytest.mark.parametrize(
    ("name", "kind"),
    [("out.avi", "video"), ("out.txt", None), ("out", None), ("out.mp4", "image"), ("out.jpg", "video")],
)
def test_check_output_path_bad_extension(tmp_path, name, kind):
    path = tmp_path / name
    with pytest.raises(InputError, match="unsupported extension") as err:
        check_output_path(path, kind=kind)
    _one_line(err, path)


def test_check_output_path_is_a_folder(tmp_path):
    folder = tmp_path / "videos.mp4"
    folder.mkdir()
    with pytest.raises(InputError, match="is a folder"):
        check_output_path(folder)

"""The core pipeline on the shared 25 s clip: timing kept, person kept, background restyled,
no flicker added; determinism; errors in any thread end the run cleanly."""

from __future__ import annotations

import threading
import time
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from conftest import CLIP
from metrics import measure
from livestyle.config import Config
from livestyle.errors import PipelineError
from livestyle.engine.pipeline import Pipeline
from livestyle.engine.processor import FrameProcessor
from livestyle.protocols import Frame, RunningMode
from livestyle.app.run import run_file
from livestyle.stages.segment import SelfieSegmenter
from livestyle.io.sources import SyntheticSource, open_source


def decode(path, limit=None):
    return [f.image for f in open_source(path, max_frames=limit)]


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory):
    """The whole clip through `run_file` with default settings (the product's main job)."""
    out = tmp_path_factory.mktemp("clip") / "out.mp4"
    result = run_file(str(CLIP), str(out), Config(), progress=False)
    return result, out


def test_output_keeps_frame_count_size_and_rate(clip_run):
    result, out = clip_run
    with av.open(str(CLIP)) as a, av.open(str(out)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert (vb.codec_context.width, vb.codec_context.height) == (va.codec_context.width, va.codec_context.height)
        assert vb.average_rate == va.average_rate == Fraction(30000, 1001)
        assert vb.codec_context.name == "h264"
        n_in = sum(1 for _ in a.decode(video=0))
        n_out = sum(1 for _ in b.decode(video=0))
    assert n_in == n_out == result.summary.frames_out == 760


@pytest.fixture(scope="module")
def clip_metrics(clip_run):
    _, out = clip_run
    seg = SelfieSegmenter("general")
    ins = decode(CLIP)
    outs = decode(out)
    masks = [cv2.resize(seg.segment(f), (f.shape[1], f.shape[0])) for f in ins]
    return measure(ins, outs, masks)


def test_person_is_kept(clip_metrics):
    # mean |out - in| over confident (> 0.8), eroded person pixels, per frame and overall
    assert np.mean(clip_metrics.person_diff) <= 6.0
    assert max(clip_metrics.person_diff) <= 8.0


def test_background_is_restyled(clip_metrics):
    assert np.mean(clip_metrics.background_diff) >= 25.0
    assert min(clip_metrics.background_diff) >= 25.0


def test_no_flicker_added(clip_metrics):
    # frame-to-frame change of the output over pixels that are background in both frames,
    # against the input's; stylizing every frame naively gives about 7x
    assert clip_metrics.flicker_ratio <= 1.5


def test_same_input_and_settings_give_the_same_output(tmp_path):
    cfg = Config.model_validate({"plate": {"refresh_frames": 5}})
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    run_file(str(CLIP), str(a), cfg, max_frames=24, progress=False)
    run_file(str(CLIP), str(b), cfg, max_frames=24, progress=False)
    fa, fb = decode(a), decode(b)
    assert len(fa) == len(fb) == 24
    for x, y in zip(fa, fb):
        assert np.array_equal(x, y)


def test_quality_setting_restyles_every_frame(tmp_path):
    cfg = Config.model_validate({"plate": {"refresh_frames": 1, "min_change": 0}})
    seg = SelfieSegmenter("general")
    proc = FrameProcessor(seg, _CountingStylizer(), cfg, RunningMode.VIDEO)
    proc.start(threading.Event(), _raise)
    try:
        for frame in SyntheticSource(frame_count=12):
            proc.process(frame)
    finally:
        proc.close()
    assert proc.state.refreshes_submitted == 12
    assert proc.state.refreshes_shown == 11  # refresh i is shown from frame i + 1 (0 at once)


def _raise(stage, err):
    raise err


class _CountingStylizer:
    """Inverts colours; counts calls."""

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.fail_after = fail_after

    def stylize(self, image):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("stylizer exploded")
        return 255 - image

    def close(self):
        pass


class _ListSink:
    def __init__(self, fail_at: int | None = None):
        self.frames: list[Frame] = []
        self.closed = self.aborted = False
        self.fail_at = fail_at

    def write(self, frame):
        if self.fail_at is not None and len(self.frames) == self.fail_at:
            raise OSError("disk full")
        self.frames.append(frame)

    def close(self):
        self.closed = True

    def abort(self):
        self.aborted = True


class _FailingSource(SyntheticSource):
    def __iter__(self):
        for frame in super().__iter__():
            if frame.index == 5:
                raise OSError("camera unplugged")
            yield frame


def _pipeline(source, stylizer, sink, refresh=3):
    cfg = Config.model_validate({"plate": {"refresh_frames": refresh, "min_change": 0}})
    proc = FrameProcessor(SelfieSegmenter("general"), stylizer, cfg, RunningMode.VIDEO)
    return Pipeline(source, proc, [sink], queue_size=2)


def test_pipeline_delivers_every_frame_in_order():
    sink = _ListSink()
    summary = _pipeline(SyntheticSource(frame_count=20), _CountingStylizer(), sink).run()
    assert [f.index for f in sink.frames] == list(range(20))
    assert summary.frames_in == summary.frames_out == 20 and summary.dropped == 0
    assert sink.closed and not sink.aborted


@pytest.mark.parametrize(
    "source, stylizer, sink, stage, message",
    [
        (SyntheticSource(frame_count=40), _CountingStylizer(fail_after=2), _ListSink(), "stylize", "stylizer exploded"),
        (SyntheticSource(frame_count=40), _CountingStylizer(), _ListSink(fail_at=3), "sink", "disk full"),
        (_FailingSource(frame_count=40), _CountingStylizer(), _ListSink(), "capture", "camera unplugged"),
    ],
    ids=["stylizer", "sink", "source"],
)
def test_a_failing_thread_ends_the_run_with_a_clear_error(source, stylizer, sink, stage, message):
    pipe = _pipeline(source, stylizer, sink)
    done = {}

    def target():
        try:
            pipe.run()
        except BaseException as err:  # noqa: BLE001
            done["err"] = err

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "the pipeline hung after a thread failed"
    err = done.get("err")
    assert isinstance(err, PipelineError)
    assert err.stage == stage and message in str(err)
    assert sink.aborted and not sink.closed
    assert not [th for th in threading.enumerate() if th.name.startswith("livestyle-")]


# ----------------------------------------------------------------------------- adaptive rate

def test_adaptive_rate_backs_off_when_the_frame_loop_falls_behind():
    from livestyle.engine.rate import AdaptiveRate

    rate = AdaptiveRate(max_hz=8.0)
    assert rate.rate_hz == pytest.approx(8.0)
    for _ in range(30):  # 30 ms of work per 33 ms frame: behind
        rate.observe(0.030, 0.0333)
    slowed = rate.rate_hz
    assert slowed < 4.0
    for _ in range(300):  # 10 ms per frame: spare CPU
        rate.observe(0.010, 0.0333)
    assert rate.rate_hz == pytest.approx(8.0)  # back to the cap, never above
    assert rate.rate_hz > slowed


def test_adaptive_rate_holds_between_the_thresholds_and_has_a_floor():
    from livestyle.engine.rate import AdaptiveRate

    rate = AdaptiveRate(max_hz=8.0, min_hz=0.5)
    for _ in range(100):
        rate.observe(0.022, 0.0333)  # load 0.66: neither behind nor idle
    assert rate.rate_hz == pytest.approx(8.0)
    for _ in range(1000):
        rate.observe(0.1, 0.0333)  # hopelessly behind
    assert rate.rate_hz == pytest.approx(0.5)


class _SlowSegmenter:
    """Wraps a segmenter and burns `cost_s` of CPU per frame (a slow machine)."""

    def __init__(self, inner, cost_s):
        self.inner, self.cost_s = inner, cost_s

    def segment(self, image):
        t = time.perf_counter() + self.cost_s
        while time.perf_counter() < t:
            pass
        return self.inner.segment(image)

    def close(self):
        pass


def test_live_stylizer_slows_down_when_frames_come_faster_than_they_are_processed():
    cfg = Config.model_validate({"plate": {"style_rate_hz": 8.0}, "live": {"matte_skip_psnr_db": 0, "mask_reuse_psnr_db": 0}})
    proc = FrameProcessor(_SlowSegmenter(SelfieSegmenter("landscape"), 0.03), _CountingStylizer(), cfg, RunningMode.LIVE)
    proc.start(threading.Event(), _raise)
    try:
        ns = time.perf_counter_ns()
        for frame in SyntheticSource(frame_count=40):
            ns += 33_366_700  # frames 1/29.97 s apart, 30 ms of work each
            frame.capture_ns = ns
            proc.process(frame)
    finally:
        proc.close()
    assert proc.rate.rate_hz < 8.0 / 1.5


def test_stats_stay_bounded_in_a_long_session():
    from livestyle.engine.stats import Stats
    from livestyle.timing import recent

    st = Stats(keep=100)
    for i in range(1000):
        st.add("segment", float(i))
        st.latency_ms.append(float(i))
        st.style_done()
    assert len(st.stage_ms["segment"]) == len(st.latency_ms) == len(st.style_done_ns) == 100
    assert st.style_refreshes == 1000
    assert recent(st.stage_ms["segment"], 3) == [997.0, 998.0, 999.0]
    assert st.percentiles(st.stage_ms["segment"])["p50"] == pytest.approx(949.5)

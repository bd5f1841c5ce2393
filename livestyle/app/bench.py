"""``livestyle bench``: run the real pipeline on a file and report what people judge a webcam
effect by: frame rate, lag, CPU and memory, per stage.

* ``--pace realtime`` plays the file as a live camera at its own frame rate (newest frame
  wins, stale frames are dropped) through the live pipeline, with the preview window when a
  display exists.
* ``--pace max`` feeds the file (looped as needed) as fast as the pipeline takes it, through
  the recorded-video pipeline (no frame is dropped).
* ``--naive`` also runs, in the same process on the same frames, the seed tutorial's pipeline
  (:mod:`livestyle.app.naive`): one thread; per frame segment, stylize the whole frame squashed
  to 384x384 with the official TFLite fp16 transfer model, stretch it back, composite. The two
  run in alternating rounds (:data:`NAIVE_ROUNDS` each) and the speedup is the median of the
  per-round ratios, with their spread.

The report (``--json FILE``) has the keys of :data:`REPORT_KEYS`; without a display the
figures are printed as a table at the end.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from dataclasses import replace
from itertools import chain, islice, repeat
from pathlib import Path
from typing import Iterator

from livestyle import signals
from livestyle.app.naive import MIN_ROUNDS, NaiveRounds, alternate_rounds
from livestyle.atomic import check_target, write_atomic
from livestyle.config import Config
from livestyle.errors import InputError
from livestyle.engine.pipeline import Pipeline
from livestyle.engine.stats import STAGES, Stats
from livestyle.protocols import Frame, RunningMode, StreamInfo
from livestyle.timing import ThreadCpu

REPORT_KEYS = (
    "input", "pace", "frames_in", "frames_out", "dropped", "wall_s", "output_fps", "stylize_hz",
    "latency_ms", "stages_ms", "cpu_percent", "rss_mb", "naive_fps", "speedup",
)  # fmt: skip
NAIVE_ROUNDS = MIN_ROUNDS
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux ``/proc``; else peak RSS)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE_MB
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class ResourceMonitor:
    """Samples resident memory every ``period_s`` on a thread; records CPU time used.

    Each sample reads every thread's ``/proc`` entry (~0.2 ms of a core), so the default
    period, 0.25 s, keeps the monitor itself under 0.2 % of a core in the figures it reports.

    ``marks`` maps a frame count to the RSS when the output first reached it (for the
    memory-growth check at 1,000 and 10,000 frames).
    """

    def __init__(self, frames_out, period_s: float = 0.25, marks=(1000, 10000)):
        self._frames_out = frames_out
        self.period_s = period_s
        self.marks = {m: None for m in marks}
        self.start_mb = self.peak_mb = self.end_mb = rss_mb()
        self.threads = ThreadCpu()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livestyle-monitor", daemon=True)

    def __enter__(self):
        self.threads.sample()
        self._cpu0, self._t0 = cpu_seconds(), time.perf_counter()
        self._thread.start()
        return self

    def _sample(self) -> None:
        self.threads.sample()
        now = rss_mb()
        self.peak_mb = max(self.peak_mb, now)
        n = self._frames_out()
        for m, v in self.marks.items():
            if v is None and n >= m:
                self.marks[m] = now

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        self.end_mb = rss_mb()
        self.wall_s = time.perf_counter() - self._t0
        cpu_s = cpu_seconds() - self._cpu0
        self.cpu_percent = 100.0 * cpu_s / max(self.wall_s, 1e-9)
        per = self.threads.seconds()
        per["other"] = max(0.0, cpu_s - sum(per.values()))  # threads that ended between samples
        self.thread_percent = {
            name: round(100.0 * sec / max(self.wall_s, 1e-9), 1)
            for name, sec in sorted(per.items(), key=lambda kv: -kv[1])
        }


class LoopedFile:
    """A video file as a ``VIDEO`` source of exactly ``frame_count`` frames from ``start_s``
    seconds on, looping back to ``start_s`` at the end; indices and timestamps continue across
    loops."""

    mode = RunningMode.VIDEO

    def __init__(self, path: str, frame_count: int, start_s: float = 0.0):
        from livestyle.io.sources import VideoFileSource

        self._source = VideoFileSource(path, start_s=start_s)  # each pass seeks back to start_s
        self._info = replace(self._source.info, frame_count=frame_count)

    @property
    def info(self) -> StreamInfo:
        return self._info

    def __iter__(self) -> Iterator[Frame]:
        period_ms = 1000.0 / (self._info.rate_hz or 30.0)
        frames = chain.from_iterable(repeat(self._source))  # every pass re-reads the file from start_s
        for i, frame in enumerate(islice(frames, self._info.frame_count)):
            yield replace(frame, index=i, timestamp_ms=i * period_ms, pts=None)

    def close(self) -> None:
        self._source.close()


class NullSink:
    """Discards frames (the benchmark measures the pipeline, not an encoder)."""

    def write(self, frame: Frame) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _speed_ratio(path: str, frames: int, pace: str, config: Config, threads: int | None, first_fps: float) -> dict:
    """The naive pipeline and ours in alternating rounds; ours' first round is the run already
    measured (``first_fps``), the others run without preview, style switching or monitor."""
    naive = NaiveRounds(path, config.style.style, frames, threads)

    def pipeline_round(i: int) -> float:
        if i == 0:
            return first_fps
        if pace == "max":
            _, frames_out, _, summary = _run_max(path, frames, config, Stats())
        else:
            _, frames_out, _, summary, _ = _run_realtime(path, frames, config, Stats(), False, None)
        return frames_out / max(summary.wall_s, 1e-9)

    return alternate_rounds(pipeline_round, naive.fps, NAIVE_ROUNDS).report()


def _percentiles(values) -> dict[str, float]:
    return {k: round(v, 3) for k, v in Stats.percentiles(values).items()}


def _marks(frames: int) -> list[int]:
    """Frame counts at which resident memory is recorded: every 1,000 (at least 1,000)."""
    return list(range(1000, max(frames, 1000) + 1, 1000))


def _run_max(path: str, frames: int, config: Config, stats: Stats, from_s: float = 0.0):
    from livestyle.app.run import make_processor

    source = LoopedFile(path, frames, from_s)
    processor = make_processor(config, RunningMode.VIDEO, stats)
    pipeline = Pipeline(source, processor, [NullSink()])
    with ResourceMonitor(lambda: pipeline.summary.frames_out, marks=_marks(frames)) as mon:
        try:
            summary = pipeline.run()
        finally:
            source.close()
    return summary.frames_in, summary.frames_out, mon, summary


def _switch_styles(session, every_s: float, stop: threading.Event) -> None:
    """Press ``n`` every ``every_s`` seconds (from the second one on), as a user would."""
    while not stop.wait(every_s):
        session.controller.next_style()


def _run_realtime(path: str, frames: int, config: Config, stats: Stats, preview: bool, switch_s: float | None,
                  from_s: float = 0.0):
    from livestyle.io.camera import CameraSource, FileCamera
    from livestyle.app.live import LiveSession, build_processor, live_config

    config = live_config(config)
    camera = CameraSource(backend=FileCamera(path, start_s=from_s))
    processor = build_processor(config, stats)
    session = LiveSession(camera, config, processor=processor, preview=preview, vcam=False, max_frames=frames)
    stop = threading.Event()
    switcher = None
    if switch_s:
        switcher = threading.Thread(target=_switch_styles, args=(session, switch_s, stop), daemon=True)
        switcher.start()
    try:
        with ResourceMonitor(lambda: session.pipeline.summary.frames_out, marks=_marks(frames)) as mon:
            result = session.run()
    finally:
        stop.set()
        if switcher is not None:
            switcher.join()
    if result.stopped_by is not None:  # not a finished benchmark: no report
        raise signals.Stopped(result.stopped_by)
    summary = result.summary
    frames_in = summary.frames_in + camera.skipped  # every frame the camera delivered in time
    return frames_in, summary.frames_out, mon, summary, result.change_ms


def run_bench(
    path: str,
    *,
    frames: int = 300,
    pace: str = "realtime",
    naive: bool = False,
    naive_threads: int | None = None,
    config: Config | None = None,
    preview: bool = False,
    switch_styles_s: float | None = None,
    from_s: float = 0.0,
) -> dict:
    """Run the benchmark and return the report (see :data:`REPORT_KEYS`).

    Raises:
        InputError: bad input, frame count or pace. ModelError: a model is missing.
    """
    from livestyle.io.sources import VideoFileSource

    if pace not in ("realtime", "max"):
        raise InputError(f"--pace {pace!r}: use realtime or max")
    if frames < 1:
        raise InputError(f"--frames {frames}: must be at least 1")
    config = config or Config()
    probe = VideoFileSource(path)  # one-line InputError for a bad file
    file_info = probe.info
    probe.close()
    duration_s = (file_info.frame_count or 0) / (file_info.rate_hz or 30.0)
    if from_s < 0 or (duration_s and from_s >= duration_s):
        raise InputError(f"--from-s {from_s:g}: must be at least 0 and less than the file's {duration_s:.1f} s")
    stats = Stats()
    change_ms: list[float] = []
    if pace == "max":
        frames_in, frames_out, mon, summary = _run_max(path, frames, config, stats, from_s)
    else:
        frames_in, frames_out, mon, summary, change_ms = _run_realtime(
            path, frames, config, stats, preview, switch_styles_s, from_s
        )
    wall = max(summary.wall_s, 1e-9)
    output_fps = frames_out / wall
    ratio = {"naive_fps": None, "speedup": None}
    if naive:
        ratio = _speed_ratio(path, frames, pace, config, naive_threads, output_fps)
    report = {
        "input": {"path": str(path), "width": file_info.width_px, "height": file_info.height_px,
                  "fps": round(file_info.rate_hz, 3)},
        "pace": pace,
        "from_s": from_s,
        "frames_in": int(frames_in),
        "frames_out": int(frames_out),
        "dropped": int(frames_in - frames_out),
        "wall_s": round(wall, 3),
        "output_fps": round(output_fps, 2),
        "stylize_hz": round(stats.style_rate_hz(), 2),
        "latency_ms": _percentiles(stats.latency_ms),
        "stages_ms": {s: _percentiles(stats.stage_ms.get(s, ())) for s in STAGES},
        "cpu_percent": round(mon.cpu_percent, 1),
        "cpu_percent_threads": mon.thread_percent,
        "rss_mb": {"start": round(mon.start_mb, 1), "peak": round(mon.peak_mb, 1), "end": round(mon.end_mb, 1)},
        **ratio,  # naive_fps, speedup (median of the rounds) and, with --naive, its spread
        # more than the required keys:
        "rss_mb_at_frames": {str(k): (None if v is None else round(v, 1)) for k, v in mon.marks.items()},
        "stylize_refreshes": stats.style_refreshes,
        "naive_threads": naive_threads if naive else None,
        "style_change_ms": {**_percentiles(change_ms), "max": round(max(change_ms), 1) if change_ms else 0.0,
                            "count": len(change_ms)},
        "effect": config.effect.name,
        "style": config.style.style,
        "cpu_count": os.cpu_count(),
    }
    return report


def format_table(report: dict) -> str:
    """The report as a plain-text table."""
    inp = report["input"]
    lines = [
        f"livestyle bench: {Path(inp['path']).name} {inp['width']}x{inp['height']} @ {inp['fps']} fps, "
        f"pace {report['pace']}, from {report['from_s']:g} s, {report['cpu_count']} cores",
        f"{'stage':<12}{'p50 ms':>10}{'p95 ms':>10}",
    ]
    for stage, p in report["stages_ms"].items():
        lines.append(f"{stage:<12}{p['p50']:>10.1f}{p['p95']:>10.1f}")
    lat = report["latency_ms"]
    lines += [
        f"{'latency':<12}{lat['p50']:>10.1f}{lat['p95']:>10.1f}   capture -> sink",
        f"output       {report['output_fps']:.2f} fps  ({report['frames_out']} of {report['frames_in']} frames, "
        f"{report['dropped']} dropped, {report['wall_s']:.1f} s)",
        f"stylizer     {report['stylize_hz']:.2f} Hz  ({report['stylize_refreshes']} restyles)",
        f"cpu          {report['cpu_percent']:.0f} %  (100 % = one core)",
        "cpu by thread " + ", ".join(
            f"{name.removeprefix('livestyle-')} {pct:.1f} %" for name, pct in report["cpu_percent_threads"].items() if pct >= 0.05
        ),
        f"memory       {report['rss_mb']['start']:.0f} -> peak {report['rss_mb']['peak']:.0f} -> "
        f"{report['rss_mb']['end']:.0f} MiB",
    ]
    marks = {k: v for k, v in report["rss_mb_at_frames"].items() if v is not None}
    if marks:
        lines.append("memory at    " + ", ".join(f"{k} frames {v:.0f} MiB" for k, v in marks.items()))
    ch = report["style_change_ms"]
    if ch["count"]:
        lines.append(f"style change {ch['p50']:.0f} ms p50, {ch['max']:.0f} ms max  ({ch['count']} changes, key -> output)")
    if report["naive_fps"] is not None:
        threads = report["naive_threads"] or "default"
        lines.append(
            f"naive        {report['naive_fps']:.2f} fps ({threads} interpreter threads)  -> speedup "
            f"{report['speedup']:.1f}x (median of {report['naive_rounds']} alternating rounds, "
            f"{report['speedup_min']:.1f}-{report['speedup_max']:.1f}x)"
        )
    return "\n".join(lines)


def write_json(report: dict, path: str, inputs=()) -> None:
    """Write the report atomically (:func:`livestyle.atomic.write_atomic`; never onto one of
    ``inputs``).

    Raises:
        InputError, OutputError: the file cannot be written (one line naming it).
    """
    write_atomic(path, (json.dumps(report, indent=2) + "\n").encode("utf-8"), inputs)


def bench_main(args, config: Config) -> int:
    """``livestyle bench``: see the module docstring."""
    from livestyle.io.window import display_problem

    preview = args.pace == "realtime" and not args.no_preview and display_problem() is None
    inputs = [p for p in (args.input, args.config, config.style.style) if p and Path(p).is_file()]
    if args.json:  # before the work: a bad report path must not cost a whole benchmark
        check_target(args.json, inputs)
    report = run_bench(
        args.input, frames=args.frames, pace=args.pace, naive=args.naive, naive_threads=args.naive_threads,
        config=config, preview=preview, switch_styles_s=args.switch_styles, from_s=args.from_s,
    )
    print(format_table(report))
    if args.json:
        write_json(report, args.json, inputs)
    return 0

"""Builds the stages from options and runs them: the glue between the CLI and the pipeline.

``run_file`` restyles a recorded video or a still image; live mode (camera, preview window,
virtual camera) lives in :mod:`livestyle.live`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from livestyle.config import Config
from livestyle.errors import InputError
from livestyle.pipeline import FrameProcessor, Pipeline, RunSummary, Stats
from livestyle.protocols import RunningMode, Stylizer
from livestyle.segment import SelfieSegmenter, resolve_selfie_model
from livestyle.sinks import check_output_path, open_sink
from livestyle.sources import is_image_path, open_source
from livestyle.stylize import MagentaStylizer


def make_stylizer(config: Config) -> Stylizer | None:
    """The background effect for ``config`` (the Magenta stylizer), or None when it is off.

    Raises:
        InputError: unknown or unreadable style.
        ModelError: a model is missing or corrupt.
    """
    return MagentaStylizer(config.style)


def make_processor(config: Config, mode: RunningMode, stats: Stats | None = None) -> FrameProcessor:
    """Segmenter + stylizer + compositor for ``mode``, as :class:`FrameProcessor`.

    Raises:
        InputError, ModelError: see :func:`make_stylizer` and
        :class:`~livestyle.segment.SelfieSegmenter`.
    """
    segmenter = SelfieSegmenter(resolve_selfie_model(config.segmenter, mode), config.segmenter.threads)
    return FrameProcessor(segmenter, make_stylizer(config), config, mode, stats)


def style_inputs(config: Config) -> list[str]:
    """Files the run reads besides the input (an output must not overwrite them)."""
    p = Path(config.style.style)
    return [str(p)] if p.is_file() else []


@dataclass
class FileRunResult:
    output: Path
    summary: RunSummary


def run_file(
    input_path: str,
    output_path: str,
    config: Config,
    *,
    max_frames: int | None = None,
    progress: bool = True,
) -> FileRunResult:
    """Restyle a video file or an image file into ``output_path``.

    Every check (input readable and non-empty, output folder, no overwrite, style readable,
    models present) runs before anything is written. Video output keeps the input's frame
    count, rate and size, and its audio stream, and appears at ``output_path`` only when
    complete.

    Raises:
        InputError: bad input, style or output path (one line).
        ModelError: a model is missing or corrupt.
        PipelineError: a stage failed while running.
        KeyboardInterrupt: interrupted; the output is not written.
    """
    if max_frames is not None and max_frames < 1:
        raise InputError(f"--frames {max_frames}: must be at least 1")
    image_in = is_image_path(input_path)
    source = open_source(input_path, max_frames=max_frames)
    try:
        out = check_output_path(output_path, [input_path, *style_inputs(config)], kind="image" if image_in else "video")
        if image_in:
            return FileRunResult(out, _run_image(source, out, config))
        mode = RunningMode.VIDEO
        processor = make_processor(config, mode)
        info = source.info  # frame_count is already capped at max_frames
        sink = open_sink(
            out,
            info,
            config.output,
            audio_from=input_path if info.has_audio else None,
            progress=progress,
            audio_to_video_end=max_frames is not None,
        )
        summary = Pipeline(source, processor, [sink]).run()
        return FileRunResult(out, summary)
    finally:
        source.close()


def _run_image(source, out: Path, config: Config) -> RunSummary:
    processor = make_processor(config, RunningMode.IMAGE)
    sink = open_sink(out, source.info)
    summary = RunSummary(stats=processor.stats)
    try:
        for frame in source:
            summary.frames_in += 1
            sink.write(processor.process(frame))
            summary.frames_out += 1
    except BaseException:
        sink.abort()
        raise
    finally:
        processor.close()
    sink.close()
    return summary

"""Builds the stages from options and runs them: the glue between the CLI and the pipeline.

``run_file`` restyles a recorded video or a still image; live mode (camera, preview window,
virtual camera) lives in :mod:`livestyle.app.live`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from livestyle.config import Config
from livestyle.errors import InputError
from livestyle.engine.pipeline import Pipeline
from livestyle.engine.processor import FrameProcessor
from livestyle.engine.stats import RunSummary, Stats
from livestyle.protocols import RunningMode, Stylizer
from livestyle.stages.segment import SelfieSegmenter, resolve_selfie_model
from livestyle.io.sinks import check_output_path, open_sink
from livestyle.io.sources import is_image_path, open_source
from livestyle.stages.stylize import MagentaStylizer


def make_stylizer(config: Config, *, progress: bool = False, render: bool = True) -> Stylizer | None:
    """The effect ``config.effect.name`` (:mod:`livestyle.effects`; ``style`` is the Magenta
    stylizer), or None for ``none`` without a person style (frames pass through unchanged).
    With ``render.method`` gatys or photo, the Magenta stylizer wrapped in a
    :class:`~livestyle.engine.render.PlateRenderer` (``progress``: its tqdm bar) unless
    ``render`` is False (live mode renders on a background thread instead).

    Raises:
        InputError: unknown effect (the valid ones are listed), or an unknown or unreadable
            style or background.
        ModelError: a model is missing or corrupt.
    """
    from livestyle.effects import make_effect

    if config.effect.name == "none" and not config.effect.person_style:
        return None
    check_render_method(config)
    effect = make_effect(config.effect.name, config)
    if config.render.method == "magenta" or not render:
        return effect
    from livestyle.engine.render import PlateRenderer
    from livestyle.stages.render import style_image

    image = style_image(config.style.style, config.render.method)
    return PlateRenderer(effect, config.render.method, image, config.render, progress=progress)


def check_render_method(config: Config) -> None:
    """Fail early (before anything is written) if ``render.method`` cannot run.

    Raises:
        InputError: a slow method with another effect than ``style``, a person target, or a
            built-in style name instead of a style image.
        BackendNotInstalled: the ``render`` extra is missing (one line naming it).
        ModelError: gatys without the VGG19 weights.
    """
    method = config.render.method
    if method == "magenta":
        return
    if config.effect.name != "style" or config.effect.target != "background":
        raise InputError(f"--method {method} renders the background with --effect style only")
    from livestyle.stages.render import style_image
    from livestyle.stages.render.base import require_render_extra

    require_render_extra(method)
    style_image(config.style.style, method)
    if method == "gatys":
        from livestyle.models import model_path
        from livestyle.stages.render.vgg import VGG_MODEL

        model_path(VGG_MODEL, download=False)


def make_segmenter(config: Config, mode: RunningMode):
    """``segmenter.kind``: MediaPipe selfie segmentation, DeepLabV3 with
    ``segmenter.classes`` (:class:`~livestyle.stages.deeplab.DeepLabSegmenter`), or the
    person matte (:class:`~livestyle.stages.person.PersonSegmenter`)."""
    if config.segmenter.kind == "deeplab":
        from livestyle.stages.deeplab import DeepLabSegmenter

        return DeepLabSegmenter(config.segmenter.classes, config.segmenter.threads)
    if config.segmenter.kind == "person":
        from livestyle.stages.person import build_person_segmenter

        return build_person_segmenter(config.segmenter, mode)
    return SelfieSegmenter(resolve_selfie_model(config.segmenter, mode), config.segmenter.threads)


def make_person_layer(config: Config, mode: RunningMode, stylizer=None):
    """With ``effect.person_style`` and target ``background``, the person is styled too: a
    Magenta stylizer with that style run on the live frame (sharing ``stylizer``'s backend when
    it is a Magenta stylizer). Otherwise None."""
    if config.effect.target != "background" or not config.effect.person_style:
        return None
    from livestyle.effects.layer import FrameStylizer
    from livestyle.effects.style import StyleEffect

    options = config.style.model_copy(update={"style": config.effect.person_style})
    backend = stylizer.backend if isinstance(stylizer, MagentaStylizer) else None
    return FrameStylizer(StyleEffect(options, backend=backend), mode)


def make_processor(config: Config, mode: RunningMode, stats: Stats | None = None, *, progress: bool = False) -> FrameProcessor:
    """Segmenter + effect + compositor for ``mode``, as :class:`FrameProcessor`.

    Raises:
        InputError, ModelError: see :func:`make_stylizer`, :func:`make_segmenter`.
    """
    segmenter = make_segmenter(config, mode)
    stylizer = make_stylizer(config, progress=progress)
    person = make_person_layer(config, mode, stylizer)
    return FrameProcessor(segmenter, stylizer, config, mode, stats, person_layer=person)


def style_inputs(config: Config) -> list[str]:
    """Files the run reads besides the input (an output must not overwrite them)."""
    paths = [config.style.style, config.effect.person_style, config.effect.background]
    return [str(Path(p)) for p in paths if p and Path(p).is_file()]


@dataclass
class FileRunResult:
    """What :func:`run_file` wrote; ``warnings``: one line each (damage concealed, input
    ended early), for the caller to show."""

    output: Path
    summary: RunSummary
    warnings: list[str] = field(default_factory=list)


def run_file(
    input_path: str,
    output_path: str,
    config: Config,
    *,
    max_frames: int | None = None,
    progress: bool = True,
    strict: bool = False,
    on_frame: Callable[[], None] | None = None,
) -> FileRunResult:
    """Restyle a video file or an image file into ``output_path``.

    Every check (input readable and non-empty, output folder, no overwrite, style readable,
    models present) runs before anything is written. Video output keeps the input's frame
    count, rate and size, and its audio stream, and appears at ``output_path`` only when
    complete. A damaged video is decoded around the damage (the result's ``warnings`` say how
    many frames were concealed, or that the file ended early); with ``strict`` damage is an
    error instead. ``on_frame`` is called after each output frame is handed to the sink (from
    the writer thread; for an image, once it is saved), e.g. to count progress.

    Raises:
        InputError: bad input, style or output path (one line); with ``strict``, a damaged video.
        ModelError: a model is missing or corrupt.
        PipelineError: a stage failed while running.
        KeyboardInterrupt: interrupted; the output is not written.
    """
    if max_frames is not None and max_frames < 1:
        raise InputError(f"--frames {max_frames}: must be at least 1")
    image_in = is_image_path(input_path)
    source = open_source(input_path, max_frames=max_frames, strict=strict)
    try:
        inputs = [input_path, *style_inputs(config)]
        out = check_output_path(output_path, inputs, kind="image" if image_in else "video")
        if image_in:
            return FileRunResult(out, _run_image(source, out, config, inputs, on_frame, progress))
        mode = RunningMode.VIDEO
        processor = make_processor(config, mode, progress=progress)
        info = source.info  # frame_count is already capped at max_frames
        sink = open_sink(
            out,
            info,
            config.output,
            audio_from=input_path if info.has_audio else None,
            progress=progress,
            audio_to_video_end=max_frames is not None,
            inputs=inputs,
        )
        sinks = [sink] if on_frame is None else [sink, _FrameCallback(on_frame)]
        try:
            summary = Pipeline(source, processor, sinks).run()
        except BaseException:
            sink.abort()  # also when stopped before the pipeline took charge of the sink
            raise
        return FileRunResult(out, summary, source.report.warnings())
    finally:
        source.close()


class _FrameCallback:
    """A sink that only calls ``on_frame()`` for each frame."""

    def __init__(self, on_frame: Callable[[], None]):
        self.on_frame = on_frame

    def write(self, frame) -> None:
        self.on_frame()

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _run_image(source, out: Path, config: Config, inputs: list[str],
               on_frame: Callable[[], None] | None = None, progress: bool = False) -> RunSummary:
    processor = make_processor(config, RunningMode.IMAGE, progress=progress)
    summary = RunSummary(stats=processor.stats)
    try:
        with open_sink(out, source.info, inputs=inputs) as sink:  # aborted (nothing written) on an exception
            for frame in source:
                summary.frames_in += 1
                sink.write(processor.process(frame))
                summary.frames_out += 1
    finally:
        processor.close()
    if on_frame is not None:
        on_frame()
    return summary

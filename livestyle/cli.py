"""Command line: ``livestyle run|batch|models|styles|bench``.

Errors a user can fix (bad input, missing model, no camera, a bad flag value, an output that
cannot be written) print one line, ``livestyle: error: ...``, and exit with code 2; no
traceback. Every numeric flag is checked (whole or finite, in range) before any work starts.
Ctrl-C, SIGTERM and SIGHUP stop any command (:mod:`livestyle.signals`): nothing is left
behind, one line, exit code 130, 143 or 129.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import signal
import sys
import threading
import time

from livestyle import __version__, signals
from livestyle.errors import InputError, LivestyleError


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line, like every other error (exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"livestyle: error: {message} (see '{self.prog} --help')\n")


def _whole(low: int, high: int | None = None):
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} must be {low} or more" + (f" and at most {high}" if high else ""))
        return value

    return parse


def _number(above: float | None = None, at_least: float | None = None):
    """An argparse type: a finite number, more than ``above`` / at least ``at_least`` if given.
    (Flags that set a config option get the option's range from the config check.)"""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r}: give a finite number")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"{text} must be more than {above:g}")
        if at_least is not None and value < at_least:
            raise argparse.ArgumentTypeError(f"{text} must be at least {at_least:g}")
        return value

    return parse


FINITE = _number()
MIN_SWITCH_S = 0.1
"""Shortest ``bench --switch-styles`` interval in seconds (no one presses a key faster)."""


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="restyle a video file, an image, or a camera",
        description="Restyle the background of a video file, an image, or a live camera.",
    )
    p.add_argument("--input", "-i", help="video file, image file, or camera (index or device path; default: first camera)")
    p.add_argument("--output", "-o", help="output file (.mp4, .mkv, .mov, or an image extension for an image input)")
    _add_render_options(p)
    live = p.add_argument_group("live mode (no --output: camera -> preview window and/or virtual camera)")
    live.add_argument("--live", action="store_true", help="play --input FILE as a live camera: paced at its frame rate, looped")
    live.add_argument("--vcam", action="store_true", default=None, help="send the output to a virtual camera (pyvirtualcam)")
    live.add_argument("--vcam-device", metavar="DEV", help="virtual camera device (e.g. /dev/video10; default: the first free one)")
    live.add_argument("--vcam-fps", type=FINITE, metavar="HZ", help="frames per second sent to the virtual camera (default: the camera's)")
    live.add_argument("--mirror", action="store_true", default=None, help="flip the output left-right")
    live.add_argument("--no-preview", action="store_false", dest="preview", default=None, help="no preview window")
    live.add_argument("--camera-size", metavar="WxH", help="requested camera size, e.g. 1280x720")
    live.add_argument("--camera-fps", type=FINITE, metavar="HZ", help="requested camera frame rate")
    live.add_argument("--mjpg", action="store_true", default=None, help="ask the camera for MJPG (HD at full rate on most USB cameras)")
    live.add_argument("--style-rate", type=FINITE, metavar="HZ", help="live: most restyles of the background per second")
    live.add_argument("--duration", type=_number(above=0), metavar="S", help="live: stop after S seconds")
    live.add_argument("--panel", action="store_true", default=None, help="live: serve a control page and HTTP API on 127.0.0.1 (livestyle[panel])")
    live.add_argument("--panel-port", type=int, metavar="N", help="live: the control panel's port (default 8765)")
    live.add_argument("--panel-host", metavar="HOST", help="live: listen on HOST instead of 127.0.0.1 (reachable from other machines; warns)")
    live.add_argument("--open", action="store_true", default=None, dest="open_panel", help="live: open the control panel in the default browser")


def _add_render_options(p) -> None:
    """The options of ``run`` that decide how a file is restyled (shared with ``batch``)."""
    p.add_argument("--style", "-s", help="style image path or built-in style name (livestyle styles list)")
    p.add_argument("--strength", type=FINITE, help="style strength in [0, 1] (1 = full style)")
    p.add_argument("--backend", choices=["onnx", "litert"], help="style transfer runtime (default onnx)")
    p.add_argument("--style-size", type=int, dest="short_side_px", metavar="PX", help="short side of the stylizer's input in pixels (default 288)")
    p.add_argument("--segmenter-model", choices=["auto", "general", "landscape"], help="selfie segmentation model")
    p.add_argument("--refresh-frames", type=int, metavar="N", help="video files: restyle the clean plate every N frames")
    p.add_argument("--frames", type=_whole(1), metavar="N", help="process only the first N frames")
    p.add_argument("--strict", action="store_true", help="stop at damaged input instead of concealing the damaged frames")
    p.add_argument("--method", choices=["magenta", "gatys", "photo"], dest="render_method",
                   help="how the background is rendered: magenta (fast, default), gatys (optimization, minutes) "
                   "or photo (photorealistic); gatys and photo need livestyle[render] and a style image path")
    p.add_argument("--iterations", type=_whole(1), metavar="N", dest="render_iterations", help="gatys: L-BFGS iterations (default 20)")
    p.add_argument("--config", "-c", metavar="FILE", help="TOML preset (see configs/); flags override it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_effects(p)


def _add_effects(p) -> None:
    from livestyle.effects import EFFECTS

    g = p.add_argument_group("effects and segmentation")
    g.add_argument("--effect", "-e", metavar="NAME", help=f"the effect: {', '.join(EFFECTS)} (default style)")
    g.add_argument("--target", choices=["background", "person"], help="what the effect changes (default background)")
    g.add_argument("--person-style", metavar="STYLE", help="style the person too (or, with --target person, instead of --style)")
    g.add_argument("--blur-strength", type=FINITE, metavar="S", help="blur: strength in (0, 1] (default 0.5)")
    g.add_argument("--background", "-b", metavar="FILE", help="replace: background image or video (loops)")
    g.add_argument("--fit", metavar="FIT", help="replace: cover (default), contain or stretch")
    g.add_argument("--light-wrap", type=FINITE, nargs="?", const=0.5, metavar="S", help="let the background's light wrap the person's edge (S in [0, 1], default 0.5)")
    g.add_argument("--color-method", choices=["linear", "histogram", "reinhard"], help="color: linear colour map (default), histogram matching, or Reinhard in Lab")
    g.add_argument("--segmenter", choices=["selfie", "deeplab", "person"], dest="segmenter_kind",
                   help="selfie (default), deeplab (PASCAL VOC classes) or person (selfie on a crop + MODNet prior)")
    g.add_argument("--classes", metavar="LIST", help="deeplab: classes kept out of the effect, e.g. person,car (default person)")
    g.add_argument("--mask", choices=["soft", "hard"], dest="mask_mode", help="soft matte (default) or the seed's binarized mask")


def _add_batch(sub) -> None:
    p = sub.add_parser(
        "batch",
        help="restyle many files, with local worker processes or on a Ray cluster",
        description="Restyle many video and image files into one folder, each as 'livestyle run' would. "
        "Resumable: a manifest in the output folder lists finished files, and a rerun skips them.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video or image files, or folders of them")
    p.add_argument("--output-dir", "-d", required=True, metavar="DIR", help="output folder (created if missing); outputs keep the inputs' names")
    p.add_argument("--pattern", metavar="GLOB", help="in folders, the files matching GLOB (e.g. '**/*.mp4'; default: the videos and images in the folder itself)")
    p.add_argument("--force", action="store_true", help="restyle files the manifest lists as done too")
    p.add_argument("--workers", type=_whole(1), metavar="N", help="local engine: worker processes (default: one per two cores)")
    p.add_argument("--cpus-per-task", type=_whole(1), metavar="N", help="cores each file may use (threads; with --ray the CPUs it asks Ray for; default: local the cores per worker, Ray 2)")
    p.add_argument("--ray", action="store_true", help="run one Ray task per file (needs livestyle[ray]); without --ray-address on a new local Ray instance")
    p.add_argument("--ray-address", metavar="ADDR", help="the Ray cluster to use: 'auto' (the one 'ray start' runs here), host:port or ray://host:10001; implies --ray")
    _add_render_options(p)


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list, verify or download the model files")
    p.add_argument("action", choices=["list", "verify", "download"])
    p.add_argument("names", nargs="*", help="model names (default: all)")


def _add_styles(sub) -> None:
    p = sub.add_parser(
        "styles",
        help="list, add or remove styles",
        description="livestyle styles list | add IMAGE --name NAME | remove NAME",
    )
    p.add_argument("action", choices=["list", "add", "remove"], nargs="?", default="list")
    p.add_argument("target", nargs="?", metavar="IMAGE|NAME", help="add: the style image; remove: the style name")
    p.add_argument("--name", help="add: the new style's name (letters, digits, '_' and '-')")


def _add_bench(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="measure frame rate, latency, CPU and memory of the pipeline on a video file",
        description="Run the real pipeline on a video file and report per-stage p50/p95 ms, output fps, "
        "dropped frames, stylizer rate, capture-to-sink latency, CPU use and memory.",
    )
    p.add_argument("--input", "-i", help="video file (required unless --matte)")
    p.add_argument("--matte", nargs="?", const="../shared/matting", metavar="DIR",
                   help="score the person matte against ground truth in DIR (person-*.png + bg-*.jpg, "
                   "or frames/ + masks/; default ../shared/matting)")
    p.add_argument("--matte-frames", type=_whole(2), default=90, metavar="N", help="--matte: frames per moving sequence")
    p.add_argument("--live", action="store_true", help="--matte: run the sequences as a live camera")
    p.add_argument("--segmenter", choices=["selfie", "deeplab", "person"], dest="segmenter_kind",
                   help="--matte: the segmenter to score")
    p.add_argument("--segmenter-model", choices=["auto", "general", "landscape"], help="--matte: selfie model")
    p.add_argument("--frames", type=_whole(1), default=300, metavar="N", help="frames to run (the file loops; default 300)")
    p.add_argument("--pace", choices=["realtime", "max"], default="realtime",
                   help="realtime: play the file as a camera at its frame rate; max: as fast as it goes")
    p.add_argument("--naive", action="store_true", help="also run the seed tutorial's naive pipeline and give the ratio")
    p.add_argument("--naive-threads", type=_whole(1, 64), metavar="N",
                   help="interpreter threads of the naive pipeline (default: the runtime's default, as the tutorial)")
    p.add_argument("--from-s", type=_number(at_least=0.0), default=0.0, metavar="S",
                   help="start the file at S seconds (and loop back to it); e.g. a clip's static part")
    p.add_argument("--switch-styles", type=_number(at_least=MIN_SWITCH_S), metavar="S",
                   help=f"realtime: switch to the next style every S seconds (at least {MIN_SWITCH_S}) and report how soon it shows")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--style", "-s", help="style image path or built-in style name")
    p.add_argument("--config", "-c", metavar="FILE", help="TOML preset (e.g. configs/quality.toml)")
    p.add_argument("--no-preview", action="store_true", help="no preview window even with a display")


def cmd_bench(args: argparse.Namespace) -> int:
    from livestyle.presets import load_config

    if args.matte is not None:
        from livestyle.app.matte_bench import matte_bench_main

        overrides = {"segmenter.kind": args.segmenter_kind, "segmenter.model": args.segmenter_model}
        return matte_bench_main(args, load_config(args.config, overrides, FLAGS))
    if not args.input:
        raise InputError("bench needs --input VIDEO (or --matte [DIR]); give a video file")
    from livestyle.app.bench import bench_main

    return bench_main(args, load_config(args.config, {"style.style": args.style}, FLAGS))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="livestyle",
        description="Restyle the background of live or recorded video, keeping the person untouched.",
    )
    parser.add_argument("--version", action="version", version=f"livestyle {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_batch(sub)
    _add_models(sub)
    _add_styles(sub)
    _add_bench(sub)
    return parser


# Flags that override a preset: config key -> (argparse dest, flag). A bad value is reported
# as a bad value of the flag (``load_config(..., flags=FLAGS)``), never as the preset's.
_OVERRIDES = {
    "style.style": ("style", "--style"),
    "style.strength": ("strength", "--strength"),
    "style.backend": ("backend", "--backend"),
    "style.short_side_px": ("short_side_px", "--style-size"),
    "segmenter.model": ("segmenter_model", "--segmenter-model"),
    "plate.refresh_frames": ("refresh_frames", "--refresh-frames"),
    "effect.name": ("effect", "--effect"),
    "effect.target": ("target", "--target"),
    "effect.person_style": ("person_style", "--person-style"),
    "effect.blur_strength": ("blur_strength", "--blur-strength"),
    "effect.background": ("background", "--background"),
    "effect.fit": ("fit", "--fit"),
    "effect.light_wrap": ("light_wrap", "--light-wrap"),
    "effect.color_method": ("color_method", "--color-method"),
    "segmenter.kind": ("segmenter_kind", "--segmenter"),
    "segmenter.classes": ("classes", "--classes"),
    "mask.mode": ("mask_mode", "--mask"),
    "render.method": ("render_method", "--method"),
    "render.iterations": ("render_iterations", "--iterations"),
    "vcam.enabled": ("vcam", "--vcam"),
    "vcam.device": ("vcam_device", "--vcam-device"),
    "vcam.fps": ("vcam_fps", "--vcam-fps"),
    "live.mirror": ("mirror", "--mirror"),
    "preview.enabled": ("preview", "--no-preview"),
    "camera.rate_hz": ("camera_fps", "--camera-fps"),
    "camera.mjpg": ("mjpg", "--mjpg"),
    "plate.style_rate_hz": ("style_rate", "--style-rate"),
    "panel.enabled": ("panel", "--panel"),
    "panel.port": ("panel_port", "--panel-port"),
    "panel.host": ("panel_host", "--panel-host"),
    "panel.open_browser": ("open_panel", "--open"),
}
FLAGS = {key: flag for key, (_, flag) in _OVERRIDES.items()} | {
    "camera.width_px": "--camera-size", "camera.height_px": "--camera-size",
}


def _overrides(args: argparse.Namespace) -> dict:
    values = {key: getattr(args, dest, None) for key, (dest, _) in _OVERRIDES.items()}
    values["camera.width_px"], values["camera.height_px"] = _camera_size(getattr(args, "camera_size", None))
    return values


def _camera_size(text: str | None) -> tuple[int | None, int | None]:
    if text is None:
        return None, None
    import re

    from livestyle.errors import InputError

    m = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", text)
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise InputError(f"--camera-size {text!r}: expected WIDTHxHEIGHT, both at least 1, e.g. 1280x720")
    return int(m.group(1)), int(m.group(2))


def cmd_run(args: argparse.Namespace) -> int:
    from livestyle.presets import load_config
    from livestyle.app.run import run_file

    if args.output is not None and args.input is None:
        from livestyle.errors import InputError

        raise InputError(
            f"--output {args.output} given without --input: a camera run has no output file; "
            "give --input FILE to restyle a file, or drop --output to run live"
        )
    config = load_config(args.config, _overrides(args), FLAGS)
    if args.input is None or args.output is None:
        from livestyle.app.live import run_live

        return run_live(args, config)
    t0 = time.perf_counter()
    result = run_file(
        args.input, args.output, config, max_frames=args.frames, progress=not args.no_progress, strict=args.strict
    )
    for line in result.warnings:
        print(f"livestyle: warning: {line}", file=sys.stderr)
    s = result.summary
    dt = time.perf_counter() - t0
    print(f"wrote {result.output} ({s.frames_out} frames in {dt:.1f} s, {s.frames_out / max(dt, 1e-9):.1f} fps)", file=sys.stderr)
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from livestyle.app.batch.command import batch_main
    from livestyle.presets import load_config

    return batch_main(args, load_config(args.config, _overrides(args), FLAGS))


def cmd_models(args: argparse.Namespace) -> int:
    from livestyle.app.models import models_main

    return models_main(args.action, args.names or None)


def cmd_styles(args: argparse.Namespace) -> int:
    from livestyle.app.gallery import styles_main

    if args.action == "add":
        return styles_main("add", image=args.target, name=args.name)
    if args.action == "remove":
        return styles_main("remove", name=args.target or args.name)
    return styles_main("list")


COMMANDS = {"run": cmd_run, "batch": cmd_batch, "models": cmd_models, "styles": cmd_styles, "bench": cmd_bench}


def _wait_for_threads(timeout_s: float) -> None:
    """Let threads still finishing their last item (an inference, an encode) end before the
    interpreter exits: exiting under native code still running crashes (SIGSEGV, abort)."""
    deadline = time.monotonic() + timeout_s
    for t in threading.enumerate():
        if t is not threading.current_thread() and t.daemon and t.name.startswith("livestyle"):
            t.join(max(0.0, deadline - time.monotonic()))


def _stopped() -> int:
    """One line for a stop signal; the exit code is 128 + its number."""
    signum = signals.received() or signal.SIGINT
    signals.ignore_from_now()
    what = "interrupted" if signum == signal.SIGINT else f"stopped by {signals.signal_name(signum)}"
    try:
        print(f"livestyle: {what}; no output written", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # the terminal is gone (SIGHUP)
        pass
    _wait_for_threads(30.0)
    try:  # output still buffered must not block the exit (a full pipe, a pager that is gone)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass
    return 128 + signum


def main(argv: list[str] | None = None) -> int:
    if threading.current_thread() is threading.main_thread():
        signals.install()  # first: a signal at any later moment is handled
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, where a stop signal while blocked is still handled
        return code
    except KeyboardInterrupt:  # also signals.Stopped: SIGTERM, SIGHUP
        return _stopped()
    except LivestyleError as err:
        if signals.received() is not None:
            return _stopped()
        print(f"livestyle: error: {err}", file=sys.stderr)
        return err.exit_code
    except Exception:
        # A stop signal raised inside a native module's import or callback may come back as
        # another exception (onnxruntime: "ImportError: initialization failed").
        if signals.received() is not None:
            return _stopped()
        raise


if __name__ == "__main__":
    sys.exit(main())

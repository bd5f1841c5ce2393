"""Command line: ``livestyle run|models|styles``.

Errors a user can fix (bad input, missing model, no camera) print one line,
``livestyle: error: ...``, and exit with code 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
import time

from livestyle import __version__
from livestyle.errors import LivestyleError


def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="restyle a video file, an image, or a camera",
        description="Restyle the background of a video file, an image, or a live camera.",
    )
    p.add_argument("--input", "-i", help="video file, image file, or camera (index or device path; default: first camera)")
    p.add_argument("--output", "-o", help="output file (.mp4, .mkv, .mov, or an image extension for an image input)")
    p.add_argument("--style", "-s", help="style image path or built-in style name (livestyle styles list)")
    p.add_argument("--strength", type=float, help="style strength in [0, 1] (1 = full style)")
    p.add_argument("--backend", choices=["onnx", "litert"], help="style transfer runtime (default onnx)")
    p.add_argument("--style-size", type=int, dest="short_side_px", metavar="PX", help="short side of the stylizer's input in pixels (default 288)")
    p.add_argument("--segmenter-model", choices=["auto", "general", "landscape"], help="selfie segmentation model")
    p.add_argument("--refresh-frames", type=int, metavar="N", help="video files: restyle the clean plate every N frames")
    p.add_argument("--frames", type=int, metavar="N", help="process only the first N frames")
    p.add_argument("--config", "-c", metavar="FILE", help="TOML preset (see configs/); flags override it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list, verify or download the model files")
    p.add_argument("action", choices=["list", "verify", "download"])
    p.add_argument("names", nargs="*", help="model names (default: all)")


def _add_styles(sub) -> None:
    p = sub.add_parser("styles", help="list the built-in and user styles")
    p.add_argument("action", choices=["list"], nargs="?", default="list")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livestyle",
        description="Restyle the background of live or recorded video, keeping the person untouched.",
    )
    parser.add_argument("--version", action="version", version=f"livestyle {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_models(sub)
    _add_styles(sub)
    return parser


def _overrides(args: argparse.Namespace) -> dict:
    return {
        "style.style": args.style,
        "style.strength": args.strength,
        "style.backend": args.backend,
        "style.short_side_px": args.short_side_px,
        "segmenter.model": args.segmenter_model,
        "plate.refresh_frames": args.refresh_frames,
    }


def cmd_run(args: argparse.Namespace) -> int:
    from livestyle.config import load_config
    from livestyle.runner import run_file

    config = load_config(args.config, _overrides(args))
    if args.input is None or args.output is None:
        from livestyle.live import run_live

        return run_live(args, config)
    t0 = time.perf_counter()
    result = run_file(args.input, args.output, config, max_frames=args.frames, progress=not args.no_progress)
    s = result.summary
    dt = time.perf_counter() - t0
    print(f"wrote {result.output} ({s.frames_out} frames in {dt:.1f} s, {s.frames_out / max(dt, 1e-9):.1f} fps)", file=sys.stderr)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from livestyle.models import models_main

    return models_main(args.action, args.names or None)


def cmd_styles(args: argparse.Namespace) -> int:
    from livestyle.stylize import builtin_styles

    for name in builtin_styles():
        print(f"{name:24s} built-in")
    return 0


COMMANDS = {"run": cmd_run, "models": cmd_models, "styles": cmd_styles}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LivestyleError as err:
        print(f"livestyle: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("livestyle: interrupted; no output written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

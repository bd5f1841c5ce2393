"""Live mode: camera in, preview window and virtual camera out (see issue: live mode)."""

from __future__ import annotations

import glob
import sys

from livestyle.errors import DeviceError


def run_live(args, config) -> int:
    """Run on a camera. Without a camera, one clear error that shows how to pass a file."""
    if args.input is None and sys.platform.startswith("linux") and not glob.glob("/dev/video*"):
        raise DeviceError(
            "no camera found on this machine; to restyle a file run "
            "'livestyle run --input FILE.mp4 --output OUT.mp4' (or 'make demo INPUT=FILE.mp4 OUTPUT=OUT.mp4')"
        )
    if args.output is None and args.input is not None:
        raise DeviceError("--output is needed for a file input (live preview of files is not available yet)")
    raise DeviceError("live camera mode is not available yet; pass --input FILE --output OUT")

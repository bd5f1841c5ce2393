"""Errors raised by livestyle.

Three families, kept apart as imageio v3 does, so callers can tell them apart:

* :class:`LivestyleError` and its subclasses are *user-facing*: bad input, a missing model, a
  device that is not there. The CLI prints their message as one line and exits with code 2.
* :class:`BackendNotInstalled` says an optional backend (PyAV, pyvirtualcam, ...) is not
  importable; the message says what to install.
* :class:`CannotHandle` says a backend was asked for something it does not support (for
  example a container it cannot open); a registry may try the next backend.

Anything else is a real failure (a bug or an OS error) and keeps its traceback.
"""

from __future__ import annotations


class LivestyleError(Exception):
    """A user-facing error: the message is one line naming the input and what to do."""

    exit_code = 2


class InputError(LivestyleError):
    """An input file, style image, option value or output path is unusable."""


class ModelError(LivestyleError):
    """A model file is missing, corrupt (wrong sha256) or cannot be loaded."""


class DeviceError(LivestyleError):
    """A camera, display or virtual camera is not available."""


class BackendNotInstalled(LivestyleError):
    """An optional dependency is not installed; the message says how to install it."""


class CannotHandle(LivestyleError):
    """A backend cannot handle this input (as opposed to failing on it)."""


class PipelineError(LivestyleError):
    """A pipeline thread failed; the message names the stage and the cause."""

    def __init__(self, stage: str, cause: BaseException):
        self.stage = stage
        self.cause = cause
        msg = str(cause) if isinstance(cause, LivestyleError) else f"{type(cause).__name__}: {cause}"
        # An output error names its file and says what to do: the stage adds nothing.
        super().__init__(msg if isinstance(cause, OutputError) else f"{stage}: {msg}")
        if isinstance(cause, LivestyleError):
            self.exit_code = cause.exit_code


class OutputError(LivestyleError):
    """An output file cannot be written (full disk, read-only file system, permission denied);
    the message names the target and what to do, and says that nothing was written."""

"""Model runtimes: open TFLite models with ai-edge-litert (quietly), for every stage that runs one."""

from __future__ import annotations

import contextlib
import os
import sys

from livestyle.errors import ModelError


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence the runtime's native "INFO: Created TensorFlow Lite XNNPACK delegate" line,
    which has no switch (tensorflow#58050), by pointing fd 2 at /dev/null for the call."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_litert(path, threads: int):
    """Open a TFLite model with ai-edge-litert and allocate its tensors.

    Raises:
        ModelError: the runtime cannot load the file.
    """
    from ai_edge_litert.interpreter import Interpreter

    try:
        with _quiet_native_stderr():
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise ModelError(f"{path}: ai-edge-litert cannot load this model ({err})") from None
    return interpreter

"""What the slow renderers share: the optional-extra check, cancellation, progress, the weights.

A render runs for seconds to minutes, so every renderer takes ``cancel`` (a callable returning
True when the result is no longer wanted: a style change, a big plate change, Ctrl-C) and checks
it between optimizer iterations, CG steps, and while waiting for a JAX computation (JAX dispatch
is asynchronous, so a running evaluation is abandoned rather than awaited); and ``progress``
(called with ``(done, total)`` steps).
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any, Callable

from livestyle.errors import BackendNotInstalled

Cancel = Callable[[], bool]
"""Returns True when the render should stop (raises :class:`RenderCancelled`)."""
Progress = Callable[[int, int], None]
"""Called with (steps done, steps in all)."""

EXTRA_HINT = "pip install 'livestyle[render]'"


class RenderCancelled(Exception):
    """The render was cancelled; nothing of it is kept."""


def never() -> bool:
    """A ``cancel`` that never cancels."""
    return False


def require_render_extra(method: str) -> None:
    """Check that the ``render`` extra (JAX, SciPy) is importable.

    Raises:
        BackendNotInstalled: one line naming the method and the extra.
    """
    try:
        import jax  # noqa: F401
        import scipy.optimize  # noqa: F401
        import scipy.sparse.linalg  # noqa: F401
    except ImportError:
        raise BackendNotInstalled(
            f"--method {method} needs JAX and SciPy, which are not installed: {EXTRA_HINT}"
        ) from None


def check(cancel: Cancel) -> None:
    """Raise :class:`RenderCancelled` if ``cancel()`` says so."""
    if cancel():
        raise RenderCancelled


def wait_ready(arrays, cancel: Cancel, poll_s: float = 0.02) -> None:
    """Wait for JAX arrays to be computed, checking ``cancel`` every ``poll_s`` seconds.

    Raises:
        RenderCancelled: cancelled while waiting (the computation finishes unobserved).
    """
    for array in arrays:
        while not array.is_ready():
            check(cancel)
            time.sleep(poll_s)


def call_cancellable(fn: Callable[[], Any], cancel: Cancel, poll_s: float = 0.02) -> Any:
    """Run ``fn()`` (e.g. a 10-30 s XLA compile, which cannot be interrupted) on a helper thread,
    checking ``cancel`` every ``poll_s`` seconds; a cancelled call finishes unobserved. The
    thread is not a daemon: the interpreter waits for it at exit, since killing XLA mid-compile
    aborts the process.

    Raises:
        RenderCancelled: cancelled first. Whatever ``fn`` raised.
    """
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - re-raised on the caller's thread
            box["error"] = err

    thread = threading.Thread(target=work, name="livestyle-render-setup", daemon=False)
    thread.start()
    while thread.is_alive():
        check(cancel)
        thread.join(poll_s)
    if "error" in box:
        raise box["error"]
    return box["value"]


@functools.lru_cache(maxsize=2)
def vgg_params(path: str | None = None) -> dict:
    """The VGG19 weights as JAX arrays, loaded once per process (``path`` overrides the registry).

    Raises:
        ModelError: the weights file is missing or corrupt (one line saying how to get it).
    """
    import jax
    import jax.numpy as jnp

    from livestyle.models import cache_dir, model_path
    from livestyle.stages.render.vgg import VGG_MODEL, load_vgg19_weights

    layers = load_vgg19_weights(path or model_path(VGG_MODEL))
    # XLA takes 10-30 s to compile the loss gradient per image size: keep it between runs.
    jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax"))
    return {name: (jnp.asarray(k), jnp.asarray(b)) for name, (k, b) in layers.items()}

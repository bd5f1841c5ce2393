"""Stop signals: Ctrl-C (SIGINT), SIGTERM (``systemctl stop``, ``docker stop``) and SIGHUP (a
closing terminal) stop every command the same way.

The first stop signal is recorded and, by default, raises :class:`Stopped` (a
:class:`KeyboardInterrupt`) in the main thread, so whatever the main thread was doing unwinds
through its ``finally`` blocks: pipeline threads are told to stop and joined, sinks delete
their temporary files. Every later signal is ignored, so a second Ctrl-C 10 ms after the
first cannot cut the clean-up short (which left half-written files, and let the interpreter
exit under native threads still running: aborts and segfaults). The CLI then prints one line
and exits with ``128 + signal number`` (130, 143, 129).

Two ways to change what the first signal does, both for the main thread only:

* :func:`graceful`: call a stop function instead of raising (a live session winds its threads
  down and reports what it did; :func:`received` says which signal ended it).
* :func:`deferred`: a short critical section (creating a temporary file and remembering its
  name, cleaning up) during which the signal is only recorded; :class:`Stopped` is raised when
  the section ends.

Worker threads never see signals (Python runs handlers in the main thread); they poll the
stop events they are given.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)

_installed = False
_received: int | None = None
_pending = False
_defer_depth = 0
_stop_callbacks: list[Callable[[], None]] = []


class Stopped(KeyboardInterrupt):
    """A stop signal arrived. ``signum``: which; ``exit_code``: ``128 + signum``."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum

    @property
    def name(self) -> str:
        return signal_name(self.signum)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _handler(signum: int, _frame) -> None:
    global _received, _pending
    if _received is not None:  # a second signal: the clean-up is already under way
        return
    _received = signum
    if _stop_callbacks:
        for callback in list(_stop_callbacks):
            callback()
        return
    if _defer_depth:
        _pending = True
        return
    raise Stopped(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install() -> None:
    """Handle SIGINT, SIGTERM and SIGHUP for the rest of the process (the CLI calls this
    first), except those the process was started with ignored (``nohup`` ignores SIGHUP).
    Must be called from the main thread."""
    global _installed, _received, _pending
    _received, _pending = None, False  # a new command starts
    for sig in STOP_SIGNALS:
        if signal.getsignal(sig) is not signal.SIG_IGN:  # ignored on purpose (nohup): keep it so
            signal.signal(sig, _handler)
    _installed = True


def ignore_from_now() -> None:
    """Ignore stop signals at the OS level for the rest of the process (the CLI, once it has
    cleaned up after a stop: the interpreter restores the default handlers late in its exit,
    where a second Ctrl-C would otherwise kill it with the wrong exit code)."""
    if _main_thread():
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)


def received() -> int | None:
    """The first stop signal's number, or None."""
    return _received


@contextmanager
def graceful(stop: Callable[[], None]) -> Iterator[None]:
    """While inside, the first stop signal calls ``stop()`` (from the signal handler: it must
    only set flags) instead of raising. Without :func:`install`, the handlers are installed
    for the duration only and the record of the signal is cleared afterwards. Does nothing
    outside the main thread.
    """
    global _received
    if not _main_thread():
        yield
        return
    temporary = not _installed
    old = {}
    for sig in STOP_SIGNALS if temporary else ():
        if signal.getsignal(sig) is not signal.SIG_IGN:
            old[sig] = signal.signal(sig, _handler)
    _stop_callbacks.append(stop)
    try:
        if _received is not None:  # stopped before we got here
            stop()
        yield
    finally:
        _stop_callbacks.remove(stop)
        for sig, h in old.items():
            signal.signal(sig, h)
        if temporary:
            _received = None


@contextmanager
def deferred() -> Iterator[None]:
    """A critical section: a stop signal arriving inside is recorded, and :class:`Stopped` is
    raised when the section ends (unless it ends with another exception). Nests; does
    nothing outside the main thread."""
    global _defer_depth, _pending
    if not _main_thread():
        yield
        return
    _defer_depth += 1
    ok = False
    try:
        yield
        ok = True
    finally:
        _defer_depth -= 1
        if _defer_depth == 0 and _pending:
            _pending = False
            if ok and _received is not None and not _stop_callbacks:
                raise Stopped(_received)


def _reset_for_tests() -> None:
    """Forget signals and installation (the caller restores the handlers it replaced)."""
    global _received, _pending, _installed
    _received, _pending, _installed = None, False, False

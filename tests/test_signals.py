"""Stop signals in one process (livestyle.signals): deferred during clean-up, later ones
ignored, and an inherited SIG_IGN (nohup) kept. The CLI-level behaviour is in
test_cli_signals.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from livestyle import signals


def test_a_signal_in_a_deferred_section_is_raised_at_its_end():
    old = {s: signal.getsignal(s) for s in signals.STOP_SIGNALS}
    try:
        signals.install()
        done = []
        with pytest.raises(signals.Stopped) as info:
            with signals.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                os.kill(os.getpid(), signal.SIGINT)  # a second signal: ignored
                done.append("clean-up finished")
        assert done == ["clean-up finished"]
        assert info.value.signum == signal.SIGTERM and info.value.exit_code == 143
        assert signals.received() == signal.SIGTERM
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        signals._reset_for_tests()


def test_nohup_keeps_sighup_ignored():
    code = ("import signal; signal.signal(signal.SIGHUP, signal.SIG_IGN); from livestyle import signals; "
            "signals.install(); print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, "
            "signal.getsignal(signal.SIGTERM) is signals._handler)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]

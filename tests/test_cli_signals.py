"""Stop signals sent to the real `livestyle` command: Ctrl-C (SIGINT), SIGTERM (systemctl stop,
docker stop) and SIGHUP (a closing terminal) each stop any command with one line, exit code
128 + the signal number, and nothing left behind; a second signal during the clean-up changes
nothing. Real signals to real subprocesses on the shared clip (Linux: the tests look at
``/proc`` to know when the process has reached the point they want to interrupt).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import CLIP

REPO = Path(__file__).resolve().parents[1]
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
F_SETPIPE_SZ = 1031

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")


DRIVER = """
import sys
from livestyle.io.vcam import register_recording_backend
register_recording_backend("recording")
from livestyle.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start(*args, stdout=subprocess.DEVNULL, env=None, driver=False, **kw) -> subprocess.Popen:
    """``livestyle ARGS`` (with ``driver``: with a recording virtual camera registered)."""
    head = ["-c", DRIVER] if driver else ["-m", "livestyle"]
    return subprocess.Popen(
        [sys.executable, *head, *map(str, args)],
        stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, **(env or {})}, **kw,
    )  # fmt: skip


def wait_for(cond, proc: subprocess.Popen, what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if proc.poll() is not None:
            pytest.fail(f"the process ended (exit {proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def catches(pid: int, sig: int) -> bool:
    """The process has a handler installed for ``sig`` (``SigCgt`` in /proc)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = int(text.split("SigCgt:")[1].split()[0], 16)
    return bool(mask >> (sig - 1) & 1)


def temporaries(folder: Path) -> list[Path]:
    """Temporary files with data in them (the output being written; an empty one may be the
    check that the folder is writable)."""
    found = []
    for p in folder.iterdir():
        try:
            if p.name.startswith(".") and p.stat().st_size > 0:
                found.append(p)
        except FileNotFoundError:
            pass
    return found


def finish(proc: subprocess.Popen, timeout_s: float = 60.0) -> str:
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"did not stop within {timeout_s} s: {err}")
    return err


def assert_one_line(err: str, *words: str) -> None:
    assert "Traceback" not in err and "Fatal Python error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_a_stop_signal_during_a_video_run_leaves_nothing(tmp_path, sig):
    out = tmp_path / "out.mp4"
    proc = start("run", "-i", CLIP, "-o", out, "--no-progress")
    wait_for(lambda: temporaries(tmp_path), proc, "the output was being written")
    time.sleep(0.3)
    proc.send_signal(sig)
    err = finish(proc)
    assert proc.returncode == EXIT[sig], err
    assert_one_line(err, sig.name if sig != signal.SIGINT else "interrupted", "no output written")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("gap_s", [0.01, 0.04, 0.1, 0.3])
def test_two_quick_interrupts_still_clean_up(tmp_path, gap_s):
    out = tmp_path / "out.mp4"
    proc = start("run", "-i", CLIP, "-o", out, "--no-progress")
    wait_for(lambda: temporaries(tmp_path), proc, "the output was being written")
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    time.sleep(gap_s)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    err = finish(proc)
    assert proc.returncode == 130, err
    assert_one_line(err, "interrupted")
    assert list(tmp_path.iterdir()) == []


def _full_pipe() -> tuple[int, int]:
    """A pipe whose buffer is full: a process writing to it blocks until it is read."""
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 4096)
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"x" * 512)
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    return r, w


def _blocked_writing(pid: int) -> bool:
    try:
        return "pipe_write" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("args", [("models", "list"), ("styles", "list")], ids=lambda a: "-".join(a))
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_every_command_stops_on_a_signal(args, sig):
    """Blocked writing its listing to a full pipe (as under a pager whose terminal closed)."""
    r, w = _full_pipe()
    try:
        proc = start(*args, stdout=w)
        os.close(w)
        wait_for(lambda: _blocked_writing(proc.pid), proc, "the command was writing its output")
        proc.send_signal(sig)
        err = finish(proc)
    finally:
        os.close(r)
    assert proc.returncode == EXIT[sig], err
    assert_one_line(err, sig.name)


@pytest.mark.parametrize("command", ["run", "bench"])
def test_a_signal_while_reading_the_config_stops_the_command(tmp_path, command):
    fifo = tmp_path / "preset.toml"
    os.mkfifo(fifo)
    args = ["-i", CLIP, "-o", tmp_path / "out.mp4"] if command == "run" else ["-i", CLIP, "--no-preview"]
    proc = start(command, *args, "--config", fifo)
    fd = os.open(fifo, os.O_WRONLY)  # returns once the command opened the preset to read it
    try:
        time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        err = finish(proc)
    finally:
        os.close(fd)
    assert proc.returncode == 143, err
    assert_one_line(err, "SIGTERM")


def test_a_stopped_bench_says_so_and_prints_no_report(tmp_path):
    report = tmp_path / "report.json"
    proc = start("bench", "-i", CLIP, "--frames", "100000", "--pace", "realtime", "--no-preview",
                 "--json", report, stdout=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    while not catches(proc.pid, signal.SIGTERM) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(3.0)  # well into the run (the outcome must be the same at any moment)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert_one_line(err, "SIGTERM", "stopped")
    assert "fps" not in out  # no report as if the benchmark had finished
    assert list(tmp_path.iterdir()) == []


def test_a_live_session_stopped_by_sigterm_says_so(tmp_path):
    cfg = tmp_path / "rec.toml"
    cfg.write_text('[vcam]\nbackend = "recording"\n')
    record = tmp_path / "vcam.json"
    proc = start("run", "-i", CLIP, "--live", "--vcam", "--no-preview", "--config", cfg,
                 env={"LIVESTYLE_VCAM_RECORD": str(record), "DISPLAY": ""}, driver=True)  # fmt: skip
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "live:" in line and "->" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    err = finish(proc)
    assert proc.returncode == 143, "".join(lines) + err
    assert_one_line(err, "SIGTERM", "frames out")
    assert record.is_file()  # the virtual camera was released

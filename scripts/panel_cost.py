"""What the control panel costs a live run: output fps and process CPU with and without it.

Runs ``livestyle run --input CLIP --live --no-preview --vcam`` (a recording virtual camera, so
no device is needed) alternately without and with ``--panel``; with the panel, Debian's
chromium (Playwright) keeps the page open, so the preview streams and the figures are polled
as a user would see them. CPU is the livestyle process's own (``/proc/PID/stat`` user +
system time over the steady window, 100 % = one core); fps is the run's own summary line
(whole run) and, with the panel, also the output frames counted over the steady window
(``frames_out`` of ``/api/status``), which leaves out chromium's start-up.

On a busy machine those whole-process figures mostly measure the scheduler; ``--threads``
instead runs the session in this process with the page open and reports the CPU time of each
thread (``/proc/self/task/TID/stat``), so the panel's own threads (uvicorn's loop and the
worker threads that encode the preview) are measured apart from the frame loop's.

    python scripts/panel_cost.py ../shared/media/person_desk_960x540.mp4 --seconds 40 --rounds 2
    python scripts/panel_cost.py ../shared/media/person_desk_960x540.mp4 --threads --seconds 30
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DRIVER = """
import sys
from livestyle.io.vcam import register_recording_backend
register_recording_backend("recording")
from livestyle.cli import main
sys.exit(main(sys.argv[1:]))
"""
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def one_run(clip: str, seconds: float, warmup_s: float, panel: bool, workdir: str) -> dict:
    preset = Path(workdir) / "recording.toml"
    preset.write_text('[vcam]\nbackend = "recording"\n')
    cmd = [sys.executable, "-c", DRIVER, "run", "--input", clip, "--live", "--no-preview", "--vcam",
           "--config", str(preset), "--duration", str(seconds + warmup_s + 2)]
    if panel:
        cmd += ["--panel", "--panel-port", "0"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=workdir)
    browser = None
    url = None
    lines = []
    pw = None
    try:
        t0 = time.monotonic()
        while url is None and panel:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("panel: "):
                url = line.split(" ", 1)[1].strip()
        if panel:
            from playwright.sync_api import sync_playwright

            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)
        time.sleep(max(0.0, warmup_s - (time.monotonic() - t0)))
        fetch = "async () => (await fetch('/api/status')).json()"
        n0 = page.evaluate(fetch)["frames_out"] if panel else 0
        c0, w0 = cpu_s(proc.pid), time.monotonic()
        status = None
        time.sleep(seconds)
        c1, w1 = cpu_s(proc.pid), time.monotonic()
        if panel:
            status = page.evaluate(fetch)
            status["window_fps"] = (status["frames_out"] - n0) / (w1 - w0)
            frames = page.evaluate("document.getElementById('preview').naturalWidth")
            assert frames > 0, "the preview is not streaming"
    finally:
        if browser is not None:
            browser.close()
        if pw is not None:
            pw.stop()
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        proc.wait(60)
    text = "".join(lines) + rest
    m = re.search(r"live: (\d+) frames out in ([\d.]+) s \(([\d.]+) fps\)", text)
    return {"panel": panel, "cpu_percent": 100.0 * (c1 - c0) / (w1 - w0), "fps": float(m.group(3)) if m else 0.0,
            "status": status}


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds of each live thread of this process, by thread name."""
    import threading

    out: dict[str, float] = {}
    for t in threading.enumerate():
        try:
            fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            continue
        out[t.name] = out.get(t.name, 0.0) + (int(fields[11]) + int(fields[12])) / TICKS
    return out


def threads_run(clip: str, seconds: float, warmup_s: float) -> None:
    """The session in this process, the page open in chromium; CPU % per thread group."""
    import threading

    from playwright.sync_api import sync_playwright

    from livestyle.app.live import LiveSession, live_config
    from livestyle.app.panel.server import Panel
    from livestyle.presets import load_config
    from livestyle.io.camera import CameraSource, FileCamera

    config = live_config(load_config(None, {"panel.port": 0}))
    panel = Panel(config.panel)
    session = LiveSession(CameraSource(backend=FileCamera(clip)), config, preview=False, vcam=False,
                          duration_s=seconds + warmup_s + 30, extra_sinks=(panel.feed,))
    panel.attach(session)
    runner = threading.Thread(target=session.run, kwargs={"handle_signals": False}, name="session", daemon=True)
    runner.start()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(panel.server.url)
        time.sleep(warmup_s)
        c0, w0, encoded0 = thread_cpu_s(), time.monotonic(), panel.feed.encoded
        time.sleep(seconds)
        c1, w1, encoded1 = thread_cpu_s(), time.monotonic(), panel.feed.encoded
        status = page.evaluate("async () => (await fetch('/api/status')).json()")
        browser.close()
    session.stop()
    runner.join(30)
    panel.close()
    wall = w1 - w0
    groups: dict[str, float] = {}
    for name, cpu in c1.items():
        group = "panel" if name == "livestyle-panel" or name.startswith("AnyIO worker") else name
        groups[group] = groups.get(group, 0.0) + 100.0 * (cpu - c0.get(name, 0.0)) / wall
    print(f"load {os.getloadavg()[0]:.1f}; preview frames encoded: {(encoded1 - encoded0) / wall:.1f} per second; "
          f"page shows {status['fps']} fps, p95 {status['latency_p95_ms']} ms, CPU {status['cpu_percent']} %, "
          f"{status['restyles_per_s']} restyles/s")
    for group, pct in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {group:28s} {pct:5.1f} % of a core")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", action="store_true", help="CPU per thread, the panel's apart (see above)")
    args = ap.parse_args()
    args.clip = str(Path(args.clip).resolve())  # the runs start in a temporary folder
    if not Path(args.clip).is_file():
        ap.error(f"{args.clip}: no such file")
    if args.threads:
        threads_run(args.clip, args.seconds, args.warmup)
        return 0
    results = []
    with tempfile.TemporaryDirectory() as work:
        for r in range(args.rounds):
            for panel in (False, True):
                load = os.getloadavg()[0]
                res = one_run(args.clip, args.seconds, args.warmup, panel, work)
                res["load"] = load
                results.append(res)
                st = res["status"] or {}
                print(f"round {r + 1} {'panel   ' if panel else 'no panel'}: {res['fps']:5.2f} fps, "
                      f"CPU {res['cpu_percent']:5.1f} %, load {load:.1f}"
                      + (f"; steady window {st['window_fps']:.2f} fps; page shows {st.get('fps')} fps, p95 {st.get('latency_p95_ms')} ms, "
                         f"CPU {st.get('cpu_percent')} %, {st.get('restyles_per_s')} restyles/s" if st else ""),
                      flush=True)
    for panel in (False, True):
        rs = [r for r in results if r["panel"] is panel]
        window = f", steady window {sum(r['status']['window_fps'] for r in rs) / len(rs):5.2f} fps" if panel else ""
        print(f"mean {'panel   ' if panel else 'no panel'}: {sum(r['fps'] for r in rs) / len(rs):5.2f} fps, "
              f"CPU {sum(r['cpu_percent'] for r in rs) / len(rs):5.1f} %{window}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

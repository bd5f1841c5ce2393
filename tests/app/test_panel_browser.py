"""The control panel in a real browser: Debian's chromium driven by Playwright against
``livestyle run --input CLIP --live --no-preview --panel`` (a subprocess).

Opens the page, clicks a style thumbnail and sees ``/api/status`` and the preview change,
drags the strength slider, drops a painting from the shared styles on the page, names it and
adds it, and sees it selected; then saves a screenshot (``$LIVESTYLE_SCREENSHOT_DIR`` or the
test's temporary folder). Skipped only when chromium or Playwright is missing.
"""

from __future__ import annotations

import base64
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import playwright.sync_api as playwright_api  # the test extra
import pytest

from conftest import CLIP, REPO, STYLES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]

TIMEOUT_MS = 120_000


@pytest.fixture
def live_panel(tmp_path):
    """A live run of the clip with the panel on a free port; yields ``(url, token, process)``."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "LIVESTYLE_DATA_DIR": str(tmp_path / "data")}
    cmd = [sys.executable, "-m", "livestyle", "run", "--input", str(CLIP), "--live", "--no-preview",
           "--panel", "--panel-port", "0", "--duration", "300"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines: queue.Queue = queue.Queue()
    log: list[str] = []

    def pump():
        for line in proc.stderr:
            log.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    url = None
    deadline = time.monotonic() + 90
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line.startswith("panel: http://127.0.0.1:"):
            url = line.split(" ", 1)[1].strip()
    assert url, "no panel URL printed:\n" + "".join(log)
    try:
        yield url, url.split("token=", 1)[1], proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        print("".join(log))


def frame_of(page) -> np.ndarray:
    """The newest preview frame, fetched by the page itself (its cookie)."""
    b64 = page.evaluate("""async () => {
        const r = await fetch('/api/frame.jpg');
        const b = new Uint8Array(await r.arrayBuffer());
        let s = ''; for (const x of b) s += String.fromCharCode(x);
        return btoa(s);
    }""")
    return cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)


def status_of(page) -> dict:
    return page.evaluate("async () => (await fetch('/api/status')).json()")


def test_panel_in_chromium(live_panel, tmp_path):
    url, token, proc = live_panel
    shots = Path(os.environ.get("LIVESTYLE_SCREENSHOT_DIR", tmp_path))
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            # Playwright evaluates its wait predicates as strings; the page's CSP forbids eval
            context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            assert "token=" not in page.url  # the token went into a cookie
            page.wait_for_function("document.querySelectorAll('.thumb img').length >= 10 && "
                                   "[...document.querySelectorAll('.thumb img')].every(i => i.complete && i.naturalWidth > 0)")
            page.wait_for_function("document.getElementById('preview-wrap').classList.contains('has-frame')")
            page.wait_for_function("document.getElementById('fig-fps').textContent !== '–'")
            assert status_of(page)["style"] == "starry_night"

            # a thumbnail switches the style: status and preview change
            time.sleep(1.0)  # let the first full restyle land
            before = frame_of(page)
            page.click('.thumb[data-name="great_wave"]')
            page.wait_for_function("async () => (await (await fetch('/api/status')).json()).style === 'great_wave'")
            page.wait_for_selector('.thumb[data-name="great_wave"][aria-selected="true"]')
            changed, deadline = 0.0, time.monotonic() + TIMEOUT_MS / 1000
            while time.monotonic() < deadline:
                time.sleep(0.5)
                after = frame_of(page)
                changed = float(np.abs(after[:, :200].astype(int) - before[:, :200].astype(int)).mean())
                if changed > 12:
                    break
            assert changed > 12, f"the preview's background did not change ({changed:.1f} levels)"
            assert page.evaluate("document.getElementById('preview').naturalWidth") == 640

            # the strength slider, dragged with the mouse
            box = page.locator("#strength").bounding_box()
            y = box["y"] + box["height"] / 2
            page.mouse.move(box["x"] + box["width"] - 4, y)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=8)
            page.mouse.move(box["x"] + box["width"] * 0.3, y, steps=8)
            page.mouse.up()
            page.wait_for_function("async () => { const s = await (await fetch('/api/status')).json();"
                                   " return Math.abs(s.strength - 0.3) < 0.06; }")

            # drop a painting on the page, name it, add it: it appears and is selected
            painting = STYLES / "kandinsky_composition.jpg"
            data = base64.b64encode(painting.read_bytes()).decode()
            page.evaluate("""([data, name]) => {
                const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
                const dt = new DataTransfer();
                dt.items.add(new File([bytes], name, {type: 'image/jpeg'}));
                const zone = document.getElementById('style-drop');
                zone.dispatchEvent(new DragEvent('dragenter', {dataTransfer: dt, bubbles: true}));
                zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
            }""", [data, painting.name])
            assert page.input_value("#style-name") == "kandinsky_composition"  # suggested from the file name
            page.fill("#style-name", "my_kandinsky")
            page.click("#add-btn")
            page.wait_for_selector('.thumb[data-name="my_kandinsky"][aria-selected="true"]')
            page.wait_for_function("async () => (await (await fetch('/api/status')).json()).style === 'my_kandinsky'")
            assert (tmp_path / "data" / "styles" / "my_kandinsky.npy").is_file()
            page.wait_for_function("[...document.querySelectorAll('.thumb img')].every(i => i.complete && i.naturalWidth > 0)")
            time.sleep(2.0)  # the full-size restyle and a few figures
            page.screenshot(path=str(shots / "panel.png"))
            assert status_of(page)["fps"] > 0

            # the effect picker: blur shows its setting, and the mask view
            page.click('.chip[data-name="blur"]')
            page.wait_for_function("async () => (await (await fetch('/api/status')).json()).effect === 'blur'")
            page.wait_for_selector('.chip[data-name="blur"][aria-checked="true"]')
            page.wait_for_selector("#setting-blur", state="visible")
            assert not page.is_visible("#setting-replace")
            page.focus("#blur")
            page.keyboard.press("End")  # the blur slider to 100 %
            page.wait_for_function("async () => (await (await fetch('/api/status')).json()).blur_strength === 1")
            page.click("#btn-mask")
            page.wait_for_selector('#btn-mask[aria-pressed="true"]')
            time.sleep(1.0)
            mask = frame_of(page)
            assert np.abs(mask[..., 0].astype(int) - mask[..., 2].astype(int)).mean() < 3  # grey
            page.screenshot(path=str(shots / "panel-blur-mask.png"))

            # remove the user style (hover shows its remove button; the page asks first)
            page.once("dialog", lambda dialog: dialog.accept())
            page.hover('.thumb[data-name="my_kandinsky"]')
            page.click('.thumb[data-name="my_kandinsky"] .remove')
            page.wait_for_selector('.thumb[data-name="my_kandinsky"]', state="detached")
            assert not (tmp_path / "data" / "styles" / "my_kandinsky.npy").exists()
        finally:
            browser.close()
    assert proc.poll() is None, "the live run ended during the test"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0

"""The control panel on a real live session (the shared clip played as a camera), over real
HTTP: uvicorn on its own thread, the bridge's changes reaching the frame loop, uploads into the
gallery, thumbnails rendered from style vectors; and the CLI's one-line errors."""

from __future__ import annotations

import socket
import sys
import threading
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx2")

from conftest import CLIP, STYLES  # noqa: E402
from livestyle.app.live import LiveSession, live_config  # noqa: E402
from livestyle.app.panel.server import Panel, PanelServer, require_panel  # noqa: E402
from livestyle.app.panel.thumbs import THUMB_PX, Thumbnails, scene  # noqa: E402
from livestyle.cli import main  # noqa: E402
from livestyle.presets import load_config  # noqa: E402
from livestyle.errors import BackendNotInstalled, DeviceError  # noqa: E402
from livestyle.io.camera import CameraSource, FileCamera  # noqa: E402
from livestyle.stages.styles import ENV_DATA_DIR  # noqa: E402


def wait_for(check, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.fixture
def live(tmp_path, monkeypatch):
    """A live session of the clip with the panel on a free port; yields (panel, session, client)."""
    monkeypatch.setenv(ENV_DATA_DIR, str(tmp_path / "data"))
    config = live_config(load_config(None, {"panel.port": 0, "segmenter.model": "landscape",
                                            "preview.snapshot_dir": str(tmp_path / "shots")}))
    panel = Panel(config.panel)
    source = CameraSource(backend=FileCamera(CLIP))
    session = LiveSession(source, config, preview=False, vcam=False, duration_s=120, extra_sinks=(panel.feed,))
    panel.attach(session, out=sys.stderr)
    runner = threading.Thread(target=session.run, kwargs={"handle_signals": False}, daemon=True)
    runner.start()
    base = f"http://127.0.0.1:{panel.server.port}"
    headers = {"Authorization": f"Bearer {panel.server.token}"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            wait_for(lambda: client.get("/api/frame.jpg").status_code == 200)
            yield panel, session, client
    finally:
        session.stop()
        runner.join(30)
        panel.close()
    assert not runner.is_alive()
    assert not panel.server._thread.is_alive()


@pytest.mark.slow
def test_panel_steers_a_live_session(live, tmp_path):
    panel, session, client = live
    proc = session.processor
    s = client.get("/api/status").json()
    assert s["style"] == "starry_night" and s["effect"] == "style" and s["width"] == 960
    assert client.get("/api/status", headers={"Authorization": "Bearer wrong"}).status_code == 401

    assert client.post("/api/style", json={"name": "klee"}).json()["style"] == "klee"
    wait_for(lambda: proc.style_name == "klee")
    assert client.post("/api/strength", json={"value": 0.4}).status_code == 200
    wait_for(lambda: abs(proc.strength - 0.4) < 1e-6)

    assert client.post("/api/effect", json={"name": "blur", "blur_strength": 0.7}).json()["effect"] == "blur"
    wait_for(lambda: proc.effect_name == "blur" and proc.stylizer.strength == 0.7)
    r = client.post("/api/effect", json={"name": "replace"})
    assert r.status_code == 400 and "background" in r.json()["error"]
    bg = (STYLES / "great_wave.jpg").read_bytes()
    assert client.post("/api/background", files={"image": ("x.jpg", bg, "image/jpeg")}).json()["effect"] == "replace"
    wait_for(lambda: proc.effect_name == "replace")
    assert proc.stylizer.path.parent != tmp_path and proc.stylizer.path.name == "background-1.png"
    assert client.post("/api/effect", json={"name": "none"}).status_code == 200
    wait_for(lambda: proc.effect_name == "none")

    # a new user style: predicted, stored as `livestyle styles add` stores it, selectable
    painting = (STYLES / "kandinsky_composition.jpg").read_bytes()
    r = client.post("/api/styles", data={"name": "mine"}, files={"image": ("p.jpg", painting, "image/jpeg")})
    assert r.status_code == 201, r.text
    stored = np.load(tmp_path / "data" / "styles" / "mine.npy")
    assert stored.shape == (100,) and stored.dtype == np.float32
    assert "mine" in session.controller.styles
    assert client.post("/api/style", json={"name": "mine"}).json()["effect"] == "style"
    wait_for(lambda: proc.style_name == "mine" and proc.effect_name == "style")
    thumb = client.get("/api/thumbnail/mine")
    assert thumb.status_code == 200
    assert cv2.imdecode(np.frombuffer(thumb.content, np.uint8), cv2.IMREAD_COLOR).shape == (THUMB_PX, THUMB_PX, 3)
    assert client.delete("/api/styles/mine").status_code == 200
    assert not (tmp_path / "data" / "styles" / "mine.npy").exists() and "mine" not in session.controller.styles
    wait_for(lambda: proc.style_name == session.controller.styles[0] != "mine")  # away from the removed style

    assert client.post("/api/mirror", json={"value": True}).json()["mirror"] is True
    path = client.post("/api/snapshot").json()["path"]
    assert path.startswith(str(tmp_path / "shots")) and cv2.imread(path).shape == (540, 960, 3)
    s = client.get("/api/status").json()
    assert s["fps"] > 0 and s["frames_out"] > 0 and s["latency_p95_ms"] > 0 and s["cpu_percent"] >= 0 and s["restyles_per_s"] >= 0


def test_thumbnails_are_rendered_once_and_cached(tmp_path):
    thumbs = Thumbnails(cache_dir=tmp_path)
    a = thumbs.get("klee")
    b = Thumbnails(cache_dir=tmp_path).get("klee")  # from the disk cache
    assert a == b and thumbs.rendered == 1 and len(list(tmp_path.glob("*.jpg"))) == 1
    image = cv2.imdecode(np.frombuffer(a, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (THUMB_PX, THUMB_PX, 3)
    assert np.abs(image.astype(int) - scene().astype(int)).mean() > 20  # restyled, not the scene itself
    other = cv2.imdecode(np.frombuffer(thumbs.get("great_wave"), np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(image.astype(int) - other.astype(int)).mean() > 10
    with pytest.raises(Exception, match="no style"):
        thumbs.get("../klee")


def test_a_busy_port_is_a_one_line_error():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        with pytest.raises(DeviceError, match="in use; choose another with --panel-port"):
            PanelServer(port=holder.getsockname()[1])
    finally:
        holder.close()


def test_a_wider_host_warns(capsys):
    server = PanelServer(host="0.0.0.0", port=0)
    try:
        server.announce(out=sys.stderr)
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert "warning: the panel listens on 0.0.0.0" in err
    assert f"panel: http://127.0.0.1:{server.port}/?token={server.token}" in err
    assert len(server.token) >= 40


def test_without_the_extra_panel_is_one_line_naming_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ImportError
    with pytest.raises(BackendNotInstalled, match=r"pip install 'livestyle\[panel\]'"):
        require_panel()
    code = main(["run", "--input", str(CLIP), "--live", "--no-preview", "--panel", "--frames", "5"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "livestyle[panel]" in err and "Traceback" not in err


def test_no_preview_with_panel_is_allowed_and_bad_ports_are_refused(capsys):
    code = main(["run", "--input", str(CLIP), "--live", "--no-preview", "--panel", "--panel-port", "70000"])
    err = capsys.readouterr().err
    assert code == 2 and "70000" in err and err.count("\n") == 1

"""The control panel's HTTP API and its door (token, Host, Origin, uploads), against a fake
live session whose gallery is the real one (a temporary ``LIVESTYLE_DATA_DIR``) and whose
preview is a real frame of the shared clip."""

from __future__ import annotations

import io
import json
import socket
import threading

import cv2
import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx2")
from PIL import Image  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from livestyle.app import gallery as app_gallery  # noqa: E402
from livestyle.stages import styles as gallery  # noqa: E402
from livestyle.app.panel.api import create_app, with_headers  # noqa: E402
from livestyle.app.panel.control import PANEL_EFFECTS, style_entries  # noqa: E402
from livestyle.app.panel.preview import PreviewFeed  # noqa: E402
from livestyle.app.panel.security import MAX_UPLOAD_BYTES, Guard, allowed_hosts  # noqa: E402
from livestyle.errors import InputError  # noqa: E402
from livestyle.protocols import Frame  # noqa: E402
from livestyle.stages.stylize import builtin_styles  # noqa: E402
from conftest import CLIP, STARRY  # noqa: E402

PORT = 8765
TOKEN = "test-token-0123456789"
BASE = f"http://127.0.0.1:{PORT}"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def clip_frame() -> np.ndarray:
    cap = cv2.VideoCapture(str(CLIP))
    ok, image = cap.read()
    cap.release()
    assert ok
    return image


class FakeSession:
    """A :class:`PanelControl` that records what it was asked; styles live in the real gallery."""

    def __init__(self):
        self.feed = PreviewFeed()
        self.calls: list[tuple] = []
        self.state = {"style": "starry_night", "strength": 1.0, "effect": "style", "blur_strength": 0.5,
                      "mirror": False, "has_background": False}
        self.version = 0
        self.background = None
        image = clip_frame()
        alpha = np.zeros(image.shape[:2], np.float32)
        alpha[100:400, 300:600] = 1.0
        self.feed.write(Frame(image, 0, 0.0, meta={"alpha": alpha}))

    def status(self):
        return {**self.state, "fps": 30.0, "latency_p95_ms": 21.0, "cpu_percent": 120.0, "restyles_per_s": 7.5,
                "styles_version": self.version, "width": 960, "height": 540}

    def styles(self):
        return style_entries(list(builtin_styles()), list(gallery.user_styles()))

    def set_style(self, name):
        if name not in gallery.all_style_names():
            raise InputError(f"unknown style {name!r}")
        self.calls.append(("style", name))
        self.state.update(style=name, effect="style")

    def set_strength(self, value):
        self.calls.append(("strength", value))
        self.state["strength"] = value

    def set_effect(self, name, blur_strength=None):
        if name == "replace" and self.background is None:
            raise InputError("effect 'replace' needs a background image: upload one first")
        self.calls.append(("effect", name, blur_strength))
        self.state["effect"] = name
        if blur_strength is not None:
            self.state["blur_strength"] = blur_strength

    def set_background(self, image):
        self.calls.append(("background", image.shape))
        self.background = image
        self.state.update(effect="replace", has_background=True)

    def add_style(self, name, image):
        gallery.check_name(name)
        self.calls.append(("add", name, image.shape))
        d = gallery.styles_dir()
        d.mkdir(parents=True, exist_ok=True)
        np.save(d / f"{name}.npy", np.zeros(100, np.float32))
        self.version += 1

    def remove_style(self, name):
        app_gallery.remove_style(name)
        self.calls.append(("remove", name))
        self.version += 1

    def thumbnail(self, name):
        if name not in gallery.all_style_names():
            raise InputError(f"unknown style {name!r}")
        ok, data = cv2.imencode(".jpg", np.full((96, 96, 3), 128, np.uint8))
        return data.tobytes()

    def set_mirror(self, on):
        self.calls.append(("mirror", on))
        self.state["mirror"] = self.feed.mirror = on

    def snapshot(self, mask=False):
        self.calls.append(("snapshot", mask))
        return "/tmp/livestyle-snapshot.png"


@pytest.fixture
def session(tmp_path, monkeypatch):
    monkeypatch.setenv(gallery.ENV_DATA_DIR, str(tmp_path / "data"))
    return FakeSession()


@pytest.fixture
def stopping():
    ev = threading.Event()
    yield ev
    ev.set()


@pytest.fixture
def client(session, stopping):
    app = with_headers(Guard(create_app(session, stopping=stopping), TOKEN, PORT))
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as c:
        yield c


def jpeg_bytes(path=STARRY) -> bytes:
    return path.read_bytes()


# ------------------------------------------------------------------------------ the door
def test_no_token_is_401_json_everywhere(client):
    for method, path in [("GET", "/"), ("GET", "/api/status"), ("GET", "/api/preview"), ("POST", "/api/style"),
                         ("DELETE", "/api/styles/x"), ("GET", "/static/app.js"), ("GET", "/api/thumbnail/klee")]:
        r = client.request(method, path)
        assert r.status_code == 401, path
        assert "token" in r.json()["error"]


def test_wrong_bearer_or_cookie_is_401(client):
    assert client.get("/api/status", headers={"Authorization": "Bearer nope"}).status_code == 401
    client.cookies.set(f"livestyle_panel_{PORT}", "nope")
    assert client.get("/api/status").status_code == 401


def test_token_in_url_sets_a_strict_cookie_and_leaves_the_url(client):
    r = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert f"livestyle_panel_{PORT}={TOKEN}" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = client.get("/")  # the cookie is kept by the client
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "livestyle" in page.text and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/api/status").status_code == 200
    assert client.get("/?token=wrong", follow_redirects=False).status_code == 401


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1:9999", f"192.168.1.5:{PORT}",
                                  f"localhost.evil.example:{PORT}"])
def test_foreign_host_is_refused(client, host):
    r = client.get("/api/status", headers={**AUTH, "Host": host})
    assert r.status_code == 421
    assert "Host" in r.json()["error"]


def test_loopback_hosts_pass(client):
    for host in (f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"LOCALHOST:{PORT}"):
        assert client.get("/api/status", headers={**AUTH, "Host": host}).status_code == 200


def test_missing_host_is_400(session):
    app = Guard(create_app(session), TOKEN, PORT)
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    import asyncio

    scope = {"type": "http", "method": "GET", "path": "/api/status", "headers": [(b"authorization", AUTH["Authorization"].encode())],
             "query_string": b""}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["error"] == "missing Host header"


def test_foreign_origin_cannot_change_state(client, session):
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{PORT + 1}", f"https://127.0.0.1:{PORT}"):
        r = client.post("/api/style", json={"name": "klee"}, headers={**AUTH, "Origin": origin})
        assert r.status_code == 403, origin
        assert "origin" in r.json()["error"]
        r = client.delete("/api/styles/x", headers={**AUTH, "Origin": origin})
        assert r.status_code == 403
    assert session.calls == [] and session.state["style"] == "starry_night"
    r = client.post("/api/style", json={"name": "klee"}, headers={**AUTH, "Origin": f"http://localhost:{PORT}"})
    assert r.status_code == 200 and r.json()["style"] == "klee"
    assert client.get("/api/status", headers={**AUTH, "Origin": "http://evil.example"}).status_code == 200


def test_wider_bind_adds_its_own_host_only():
    hosts = allowed_hosts(PORT, "192.168.1.5")
    assert f"192.168.1.5:{PORT}" in hosts and f"127.0.0.1:{PORT}" in hosts
    wild = allowed_hosts(PORT, "0.0.0.0")
    assert allowed_hosts(PORT) <= wild and f"{socket.gethostname().lower()}:{PORT}" in wild
    assert not any("evil" in h for h in wild)


# ------------------------------------------------------------------------------ endpoints
def test_status_has_the_figures(client):
    s = client.get("/api/status", headers=AUTH).json()
    for key in ("style", "strength", "effect", "fps", "latency_p95_ms", "cpu_percent", "restyles_per_s", "mirror",
                "mask_view", "blur_strength"):
        assert key in s
    assert client.get("/api/status", headers=AUTH).headers["cache-control"] == "no-store"


def test_styles_lists_builtins_then_user_styles(client):
    styles = client.get("/api/styles", headers=AUTH).json()["styles"]
    assert [s["name"] for s in styles] == list(builtin_styles())
    assert {s["kind"] for s in styles} == {"builtin"}


def test_style_strength_effect(client, session):
    assert client.post("/api/style", json={"name": "klee"}, headers=AUTH).json()["style"] == "klee"
    r = client.post("/api/style", json={"name": "no_such_style"}, headers=AUTH)
    assert r.status_code == 400 and "no_such_style" in r.json()["error"]
    assert client.post("/api/strength", json={"value": 0.7}, headers=AUTH).json()["strength"] == 0.7
    for bad in (1.5, -0.1, "0.5", True, None, float("nan")):
        body = json.dumps({"value": bad}).replace("NaN", "NaN")
        r = client.post("/api/strength", content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 400, bad
    r = client.post("/api/effect", json={"name": "blur", "blur_strength": 0.8}, headers=AUTH).json()
    assert r["effect"] == "blur" and r["blur_strength"] == 0.8
    assert client.post("/api/effect", json={"name": "blur", "blur_strength": 0}, headers=AUTH).status_code == 400
    r = client.post("/api/effect", json={"name": "sepia"}, headers=AUTH)
    assert r.status_code == 400 and "choose one of" in r.json()["error"]
    r = client.post("/api/effect", json={"name": "replace"}, headers=AUTH)
    assert r.status_code == 400 and "background" in r.json()["error"]
    for name in PANEL_EFFECTS:
        if name != "replace":
            assert client.post("/api/effect", json={"name": name}, headers=AUTH).json()["effect"] == name
    assert ("strength", 0.7) in session.calls and ("effect", "blur", 0.8) in session.calls


def test_bad_json_gets_json_errors(client):
    h = {**AUTH, "Content-Type": "application/json"}
    for body in (b"{", b"[1, 2]", b"\xff\xfe", b"42"):
        r = client.post("/api/strength", content=body, headers=h)
        assert r.status_code == 400 and "error" in r.json()
    r = client.post("/api/strength", content=b"{" + b" " * 20000 + b"}", headers=h)
    assert r.status_code == 413
    r = client.get("/api/nothing", headers=AUTH)
    assert r.status_code == 404 and "error" in r.json()
    r = client.put("/api/status", headers=AUTH)
    assert r.status_code == 405 and "error" in r.json()


def test_upload_add_select_and_remove_a_style(client, session):
    r = client.post("/api/styles", data={"name": "mine"}, files={"image": ("p.jpg", jpeg_bytes(), "image/jpeg")},
                    headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["styles"][-1] == {"name": "mine", "kind": "user"}
    added = [c for c in session.calls if c[0] == "add"]
    assert added == [("add", "mine", cv2.imread(str(STARRY)).shape)]
    assert client.post("/api/style", json={"name": "mine"}, headers=AUTH).json()["style"] == "mine"
    r = client.post("/api/styles", data={"name": "mine"}, files={"image": ("p.jpg", jpeg_bytes(), "image/jpeg")},
                    headers=AUTH)
    assert r.status_code == 409 and "already exists" in r.json()["error"]
    r = client.delete("/api/styles/mine", headers=AUTH)
    assert r.status_code == 200 and all(s["name"] != "mine" for s in r.json()["styles"])
    assert client.delete("/api/styles/mine", headers=AUTH).status_code == 400
    r = client.delete("/api/styles/klee", headers=AUTH)
    assert r.status_code == 400 and "built-in" in r.json()["error"]


@pytest.mark.parametrize("name", ["../evil", "a/b", ".hidden", "", "x" * 41, "two words", "klee", "..", "a\\b"])
def test_style_names_are_checked_like_the_cli(client, session, name, tmp_path):
    r = client.post("/api/styles", data={"name": name}, files={"image": ("p.jpg", jpeg_bytes(), "image/jpeg")},
                    headers=AUTH)
    assert r.status_code == 400, name
    assert "error" in r.json()
    assert not [c for c in session.calls if c[0] == "add"]
    assert not any((tmp_path / "data").rglob("*.npy"))


def test_path_like_names_never_reach_the_disk(client, session, tmp_path):
    victim = tmp_path / "victim.npy"
    np.save(victim, np.zeros(100, np.float32))
    for path in ("/api/styles/..%2Fvictim", "/api/styles/%2E%2E", "/api/thumbnail/..%2F..%2Fetc%2Fpasswd"):
        r = client.request("DELETE" if "styles" in path else "GET", path, headers=AUTH)
        assert r.status_code in (400, 404), path
        assert "error" in r.json()
    assert victim.is_file()


def test_uploads_must_be_images_within_the_limits(client, session):
    def post(data: bytes, name="ok_name", **headers):
        return client.post("/api/styles", data={"name": name}, files={"image": ("x.png", data, "image/png")},
                           headers={**AUTH, **headers})

    r = post(b"this is not an image")
    assert r.status_code == 400 and "not an image" in r.json()["error"]
    assert post(b"").status_code == 400
    big = io.BytesIO()
    Image.new("1", (8000, 7000)).save(big, "PNG")  # 56 megapixels in a few kB
    r = post(big.getvalue())
    assert r.status_code == 413 and "megapixel" in r.json()["error"]
    bomb = io.BytesIO()
    Image.new("1", (15000, 14000)).save(bomb, "PNG")  # 210 megapixels: Pillow refuses to size it
    r = post(bomb.getvalue())
    assert r.status_code == 413 and "megapixel" in r.json()["error"]
    r = post(b"\xff\xd8" + b"\0" * (MAX_UPLOAD_BYTES + 1))
    assert r.status_code == 413 and "too large" in r.json()["error"]
    r = client.post("/api/styles", content=b"x" * 100, headers={**AUTH, "Content-Type": "multipart/form-data; boundary=zz",
                                                               "Content-Length": str(30 * 1024 * 1024)})
    assert r.status_code == 413
    r = client.post("/api/styles", json={"name": "x"}, headers=AUTH)
    assert r.status_code == 400 and "multipart" in r.json()["error"]
    r = client.post("/api/styles", data={"name": "x"}, headers=AUTH)
    assert r.status_code == 400
    assert not [c for c in session.calls if c[0] == "add"]


def test_streamed_body_over_the_limit_is_cut_off(client, session):
    def chunks():
        for _ in range(22):
            yield b"\0" * (1024 * 1024)

    r = client.post("/api/background", content=chunks(), headers={**AUTH, "Content-Type": "multipart/form-data; boundary=zz"})
    assert r.status_code in (400, 413)
    assert "error" in r.json()
    assert session.background is None


def test_background_upload_switches_to_replace(client, session):
    r = client.post("/api/background", files={"image": ("b.jpg", jpeg_bytes(), "image/jpeg")}, headers=AUTH)
    assert r.status_code == 200 and r.json()["effect"] == "replace"
    assert session.background.shape == cv2.imread(str(STARRY)).shape
    assert client.post("/api/effect", json={"name": "replace"}, headers=AUTH).status_code == 200


def test_mirror_mask_snapshot(client, session):
    a = client.get("/api/frame.jpg", headers=AUTH)
    assert a.status_code == 200 and a.headers["content-type"] == "image/jpeg"
    picture = cv2.imdecode(np.frombuffer(a.content, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (360, 640, 3)
    assert client.post("/api/mirror", json={"value": True}, headers=AUTH).json()["mirror"] is True
    mirrored = cv2.imdecode(np.frombuffer(client.get("/api/frame.jpg", headers=AUTH).content, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(mirrored.astype(int) - picture[:, ::-1].astype(int)).mean() < 3
    assert client.post("/api/mask", json={"value": True}, headers=AUTH).json()["mask_view"] is True
    mask = cv2.imdecode(np.frombuffer(client.get("/api/frame.jpg", headers=AUTH).content, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert mask[130, 640 - 300] > 200 and mask[20, 20] < 30  # the fake matte's box, mirrored
    assert client.post("/api/mask", json={"value": "yes"}, headers=AUTH).status_code == 400
    r = client.post("/api/snapshot", headers=AUTH)
    assert r.status_code == 200 and r.json()["path"].endswith(".png")
    assert ("snapshot", True) in session.calls and ("mirror", True) in session.calls


def test_thumbnails(client):
    r = client.get("/api/thumbnail/klee", headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).shape == (96, 96, 3)
    r = client.get("/api/thumbnail/nope", headers=AUTH)
    assert r.status_code == 400 and "error" in r.json()


def test_preview_streams_jpeg_parts(client, session, stopping):
    with client.stream("GET", "/api/preview", headers=AUTH) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("multipart/x-mixed-replace")
        buf = b""
        for chunk in r.iter_bytes():
            buf += chunk
            if buf.count(b"--livestyleframe") >= 1 and b"\xff\xd9" in buf:
                break
        stopping.set()
    head, _, rest = buf.partition(b"\r\n\r\n")
    assert b"Content-Type: image/jpeg" in head
    n = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    image = cv2.imdecode(np.frombuffer(rest[:n], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (360, 640, 3)


def test_a_failing_session_gives_json_500(client, session):
    def boom(*a):
        raise RuntimeError("kaputt")

    session.set_strength = boom
    r = client.post("/api/strength", json={"value": 0.5}, headers=AUTH)
    assert r.status_code == 500 and "live output keeps running" in r.json()["error"]
    assert client.get("/api/status", headers=AUTH).status_code == 200

"""The control panel's door: token, Host and Origin checks, and upload limits.

A local HTTP server can be reached by any web page the user visits (cross-site requests, DNS
rebinding) and by any local process, so every request passes :class:`Guard`, a pure ASGI
middleware, before it reaches a route:

1. **Host** must be ``127.0.0.1:PORT`` or ``localhost:PORT`` (plus the ``--panel-host``
   address when the server was opened wider): a DNS-rebinding page sends its own host name.
   No ``Host`` -> 400, another one -> 421 (Misdirected Request).
2. **Token**: a fresh random token per session (:func:`new_token`, 32 bytes of
   :mod:`secrets`), sent as ``Authorization: Bearer TOKEN`` or as the ``livestyle_panel_PORT``
   cookie (cookies do not tell ports apart; one name per port keeps two sessions apart). A ``GET`` with ``?token=TOKEN`` sets that cookie (HttpOnly, SameSite=Strict) and is
   redirected to the same path without the token, so it leaves the address bar. Else 401.
3. **Origin**: a state-changing request (``POST``, ``PUT``, ``PATCH``, ``DELETE``) whose
   ``Origin`` is not this server's own -> 403 (a request without ``Origin``, e.g. curl, passes).

Every refusal is a JSON body ``{"error": "..."}``. Uploads (:func:`read_capped`,
:func:`decode_image`): at most :data:`MAX_UPLOAD_BYTES` bytes and
:data:`~livestyle.stages.stylize.MAX_STYLE_MEGAPIXELS` megapixels, decoded as an image or refused.
"""

from __future__ import annotations

import hmac
import json
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

import numpy as np

COOKIE = "livestyle_panel"
"""Cookie name prefix; the server's port is appended."""
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
"""Largest accepted image upload, bytes (20 MiB)."""
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 256 * 1024
"""Largest request body: one upload plus its multipart framing and a name field."""
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class HTTPError(Exception):
    """A refusal with a status code and a one-line message (sent as ``{"error": message}``)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def new_token() -> str:
    """A fresh session token: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def allowed_hosts(port: int, bind_host: str = "127.0.0.1") -> frozenset[str]:
    """``Host`` header values accepted for a server on ``port``: the loopback names; with a
    wider ``bind_host`` also that address, or for a wildcard (``0.0.0.0``, ``::``) this
    machine's name and addresses. Never a name the request chooses."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if bind_host in ("", "0.0.0.0", "::"):
        import socket

        try:
            host, aliases, addresses = socket.gethostbyname_ex(socket.gethostname())
            names.update([host.lower(), *(a.lower() for a in aliases), *addresses])
        except OSError:
            pass
    elif bind_host not in ("127.0.0.1", "localhost"):
        names.add(f"[{bind_host}]" if ":" in bind_host else bind_host.lower())
    return frozenset(f"{n}:{port}" for n in names)


async def send_json(send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a complete JSON response on a raw ASGI ``send``."""
    data = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
            (b"cache-control", b"no-store"), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data})


class Guard:
    """ASGI middleware applying the Host, token and Origin rules of the module docstring.

    Args:
        app: the ASGI app behind the door.
        token: the session token.
        port: the server's port (names the cookie).
        hosts: accepted ``Host`` values (default: :func:`allowed_hosts` of ``port``).
    """

    def __init__(self, app, token: str, port: int, hosts: frozenset[str] | None = None):
        self.app = app
        self.token = token
        self.cookie = f"{COOKIE}_{port}"
        self.hosts = hosts or allowed_hosts(port)
        self.origins = frozenset(f"http://{h}" for h in self.hosts)

    def _token_ok(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(value.encode(), self.token.encode())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host")
        if not host:
            await send_json(send, 400, {"error": "missing Host header"})
            return
        if host.lower() not in self.hosts:
            await send_json(send, 421, {"error": f"wrong Host {host[:80]!r}: open the panel as http://127.0.0.1:PORT/"})
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if scope["method"] == "GET" and "token" in query:
            if not self._token_ok(query["token"]):
                await send_json(send, 401, {"error": "wrong token: use the panel URL printed by livestyle run"})
                return
            rest = urlencode({k: v for k, v in query.items() if k != "token"})
            location = scope["path"] + (f"?{rest}" if rest else "")
            cookie = f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            await send_json(send, 303, {"redirect": location},
                            [(b"location", location.encode()), (b"set-cookie", cookie.encode())])
            return
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        jar = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
            jar = SimpleCookie()
        cookie = jar[self.cookie].value if self.cookie in jar else None
        if not (self._token_ok(bearer) or self._token_ok(cookie)):
            await send_json(send, 401, {"error": "token required: open the panel URL printed by livestyle run, "
                                                 "or send Authorization: Bearer TOKEN"})
            return
        origin = headers.get("origin")
        if scope["method"] in UNSAFE_METHODS and origin is not None and origin.lower() not in self.origins:
            await send_json(send, 403, {"error": f"requests from origin {origin[:80]!r} are not allowed"})
            return
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


def capped_receive(receive, limit_bytes: int = MAX_BODY_BYTES):
    """Wrap an ASGI ``receive`` so that a body over ``limit_bytes`` raises
    :class:`HTTPError` (413) while it streams in (a missing or false ``Content-Length`` does
    not get past it)."""
    total = 0

    async def wrapped():
        nonlocal total
        message = await receive()
        if message.get("type") == "http.request":
            total += len(message.get("body", b""))
            if total > limit_bytes:
                raise HTTPError(413, f"upload too large: at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        return message

    return wrapped


def check_content_length(headers) -> None:
    """Raises:
    HTTPError: 413 when ``Content-Length`` announces more than :data:`MAX_BODY_BYTES`;
        400 when it is not a number.
    """
    value = headers.get("content-length")
    if value is None:
        return
    try:
        n = int(value)
    except ValueError:
        raise HTTPError(400, "bad Content-Length") from None
    if n > MAX_BODY_BYTES:
        raise HTTPError(413, f"upload too large: at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")


def decode_image(data: bytes, what: str = "image") -> np.ndarray:
    """Decode uploaded bytes as an image, checking the size before decoding the pixels.

    Returns:
        ``(H, W, 3)`` uint8 BGR.

    Raises:
        HTTPError: 413 over :data:`MAX_UPLOAD_BYTES` bytes or over the megapixel limit of
            style images (:data:`livestyle.stages.stylize.MAX_STYLE_MEGAPIXELS`); 400 empty or not
            an image Pillow and OpenCV can read.
    """
    import io

    import cv2
    from PIL import Image, UnidentifiedImageError

    from livestyle.stages.stylize import MAX_STYLE_MEGAPIXELS

    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPError(413, f"{what} too large: at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    if not data:
        raise HTTPError(400, f"{what}: empty file")
    try:
        with Image.open(io.BytesIO(data)) as probe:  # reads the header only
            w, h = probe.size
    except Image.DecompressionBombError:  # over twice Pillow's own limit: it gives no size
        raise HTTPError(413, f"{what} is too large: over the {MAX_STYLE_MEGAPIXELS:.0f} megapixel limit; "
                             "scale it down first") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise HTTPError(400, f"{what}: not an image (use JPEG, PNG, WebP or BMP)") from None
    if w * h > MAX_STYLE_MEGAPIXELS * 1e6:
        raise HTTPError(413, f"{what} is {w}x{h} ({w * h / 1e6:.0f} megapixels), over the "
                             f"{MAX_STYLE_MEGAPIXELS:.0f} megapixel limit; scale it down first")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise HTTPError(400, f"{what}: the image could not be decoded")
    return image

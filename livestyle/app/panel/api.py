"""The control panel's HTTP API and page (Starlette), over a :class:`PanelControl`.

Routes (JSON unless said; every state change answers with the new status):

==========================  ===========================================================
``GET /``                   the page (``static/index.html``; ``/static/app.js``, ``/static/style.css``)
``GET /api/status``         style, strength, effect, blur_strength, mirror, mask_view, fps,
                            latency_p95_ms, cpu_percent, restyles_per_s, styles_version
``GET /api/styles``         ``{"styles": [{"name", "kind"}], "version"}``
``POST /api/style``         ``{"name": "klee"}``
``POST /api/strength``      ``{"value": 0.7}`` (0..1)
``POST /api/effect``        ``{"name": "blur", "blur_strength": 0.6}`` (any of :data:`PANEL_EFFECTS`)
``POST /api/background``    multipart ``image``: background for ``replace`` (switches to it)
``POST /api/styles``        multipart ``name`` + ``image``: a new user style
``DELETE /api/styles/NAME`` remove a user style
``POST /api/mirror``        ``{"value": true}``
``POST /api/mask``          ``{"value": true}``: the preview shows the matte
``POST /api/snapshot``      save the newest output as PNG: ``{"path": ...}``
``GET /api/preview``        MJPEG stream (``multipart/x-mixed-replace``), about 12 fps
``GET /api/frame.jpg``      the newest preview frame as one JPEG
``GET /api/thumbnail/NAME`` a style's thumbnail (JPEG)
==========================  ===========================================================

Errors are ``{"error": "one line"}`` with 400 (bad value, name or image), 404, 405, 413 (too
large) or 500; the live session is not touched by a refused request. Sync handlers run in
the server's worker threads, so a slow change (building an effect, predicting a style vector)
never blocks the preview stream, and nothing here runs on the frame loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from livestyle.app.panel.control import PANEL_EFFECTS, PanelControl
from livestyle.app.panel.security import HTTPError, capped_receive, check_content_length, decode_image
from livestyle.errors import LivestyleError

log = logging.getLogger(__name__)

PREVIEW_HZ = 12.0
"""Most preview frames per second sent to each client."""
MAX_JSON_BYTES = 16 * 1024
MAX_NAME_CHARS = 64
BOUNDARY = "livestyleframe"
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
     b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
STATIC = {  # URL path -> (package file, media type); no request data ever names a file
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={"cache-control": "no-store"})


async def _json_body(request: Request) -> dict:
    check_content_length(request.headers)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise HTTPError(413, f"JSON body too large: at most {MAX_JSON_BYTES} bytes")
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise HTTPError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HTTPError(400, 'expected a JSON object, e.g. {"value": 0.7}')
    return data


def _number(data: dict, key: str, low: float, high: float, *, low_open: bool = False) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise HTTPError(400, f"{key!r} must be a number in {'(' if low_open else '['}{low}, {high}]")
    if value > high or value < low or (low_open and value == low):
        raise HTTPError(400, f"{key!r} = {value} is out of range {'(' if low_open else '['}{low}, {high}]")
    return float(value)


def _flag(data: dict, key: str = "value") -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise HTTPError(400, f"{key!r} must be true or false")
    return value


def _name(value, what: str = "name") -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_CHARS:
        raise HTTPError(400, f"{what!r} must be a non-empty string of at most {MAX_NAME_CHARS} characters")
    return value


async def _upload(request: Request, *fields: str) -> tuple[dict, bytes]:
    """Parse a multipart upload with one file field ``image`` and text ``fields``, the body
    capped while it streams in. Returns ``(fields, image bytes)``."""
    check_content_length(request.headers)
    capped = Request(request.scope, capped_receive(request.receive))
    if not capped.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPError(400, "send multipart/form-data with an 'image' file field")
    try:
        form = await capped.form(max_files=1, max_fields=len(fields) + 1)
    except HTTPError:
        raise
    except Exception as err:  # noqa: BLE001 - python-multipart's parse errors
        raise HTTPError(400, f"bad multipart body ({str(err)[:120]})") from None
    try:
        image = form.get("image")
        if image is None or isinstance(image, str):
            raise HTTPError(400, "missing 'image' file field")
        data = await image.read()
        values = {}
        for f in fields:
            v = form.get(f)
            values[f] = v if isinstance(v, str) else None
        return values, data
    finally:
        await form.close()


def create_app(control: PanelControl, *, stopping: threading.Event | None = None) -> Starlette:
    """The Starlette app for ``control`` (wrap it in :class:`~livestyle.app.panel.security.Guard`
    before serving). ``stopping`` ends the preview streams when set."""
    stopping = stopping or threading.Event()
    files = resources.files("livestyle.app.panel") / "static"
    pages = {path: (files.joinpath(name).read_bytes(), media) for path, (name, media) in STATIC.items()}

    def status() -> dict:
        s = dict(control.status())
        s["mask_view"] = control.feed.mask_view
        return s

    async def page(request: Request) -> Response:
        body, media = pages[request.url.path]
        return Response(body, media_type=media, headers={"cache-control": "no-cache"})

    async def get_status(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(status))

    async def get_styles(request: Request) -> Response:
        def work():
            return {"styles": control.styles(), "version": control.status().get("styles_version", 0)}

        return JSONResponse(await run_in_threadpool(work))

    async def post_style(request: Request) -> Response:
        name = _name((await _json_body(request)).get("name"))
        await run_in_threadpool(control.set_style, name)
        return JSONResponse(await run_in_threadpool(status))

    async def post_strength(request: Request) -> Response:
        value = _number(await _json_body(request), "value", 0.0, 1.0)
        await run_in_threadpool(control.set_strength, value)
        return JSONResponse(await run_in_threadpool(status))

    async def post_effect(request: Request) -> Response:
        data = await _json_body(request)
        name = _name(data.get("name"))
        if name not in PANEL_EFFECTS:
            raise HTTPError(400, f"unknown effect {name[:40]!r}; choose one of: {', '.join(PANEL_EFFECTS)}")
        blur = _number(data, "blur_strength", 0.0, 1.0, low_open=True) if "blur_strength" in data else None
        await run_in_threadpool(control.set_effect, name, blur)
        return JSONResponse(await run_in_threadpool(status))

    async def post_background(request: Request) -> Response:
        _, data = await _upload(request)
        image = await run_in_threadpool(decode_image, data, "background image")
        await run_in_threadpool(control.set_background, image)
        return JSONResponse(await run_in_threadpool(status))

    async def post_styles(request: Request) -> Response:
        values, data = await _upload(request, "name")
        name = _name(values.get("name"))
        from livestyle.stages.styles import check_name

        await run_in_threadpool(check_name, name)  # before the (costly) decoding
        image = await run_in_threadpool(decode_image, data, "style image")
        await run_in_threadpool(control.add_style, name, image)
        return JSONResponse({"added": name, "styles": await run_in_threadpool(control.styles)}, status_code=201)

    async def delete_style(request: Request) -> Response:
        name = _name(request.path_params["name"])
        await run_in_threadpool(control.remove_style, name)
        return JSONResponse({"removed": name, "styles": await run_in_threadpool(control.styles)})

    async def post_mirror(request: Request) -> Response:
        value = _flag(await _json_body(request))
        await run_in_threadpool(control.set_mirror, value)
        return JSONResponse(await run_in_threadpool(status))

    async def post_mask(request: Request) -> Response:
        control.feed.mask_view = _flag(await _json_body(request))
        return JSONResponse(await run_in_threadpool(status))

    async def post_snapshot(request: Request) -> Response:
        path = await run_in_threadpool(control.snapshot, control.feed.mask_view)
        return JSONResponse({"path": str(path)})

    async def get_thumbnail(request: Request) -> Response:
        name = _name(request.path_params["name"])
        data = await run_in_threadpool(control.thumbnail, name)
        return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})

    async def get_frame(request: Request) -> Response:
        _, data = await run_in_threadpool(control.feed.jpeg)
        if data is None:
            raise HTTPError(404, "no frame yet")
        return Response(data, media_type="image/jpeg", headers={"cache-control": "no-store"})

    async def get_preview(request: Request) -> Response:
        feed = control.feed

        async def frames():
            last = -1
            period = 1.0 / PREVIEW_HZ
            loop = asyncio.get_running_loop()
            while not stopping.is_set() and not feed.closed:
                t0 = loop.time()
                seq, data = await run_in_threadpool(feed.jpeg)
                key = (seq, feed.mask_view, feed.mirror)
                if data is not None and key != last:
                    last = key
                    yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n\r\n"
                           ).encode() + data + b"\r\n"
                await asyncio.sleep(max(0.005, period - (loop.time() - t0)))

        return StreamingResponse(frames(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                 headers={"cache-control": "no-store"})

    async def on_http_error(request: Request, err: HTTPError) -> Response:
        return _error(err.status, err.message)

    async def on_livestyle_error(request: Request, err: LivestyleError) -> Response:
        msg = str(err)
        return _error(409 if "already exists" in msg else 400, msg)

    async def on_starlette(request: Request, err: HTTPException) -> Response:
        return _error(err.status_code, err.detail if isinstance(err.detail, str) else "error")

    async def on_crash(request: Request, err: Exception) -> Response:
        log.exception("panel: %s %s failed", request.method, request.url.path)
        return _error(500, f"internal error ({type(err).__name__}); the live output keeps running")

    routes = [Route(p, page, methods=["GET"]) for p in STATIC] + [
        Route("/api/status", get_status, methods=["GET"]),
        Route("/api/styles", get_styles, methods=["GET"]),
        Route("/api/styles", post_styles, methods=["POST"]),
        Route("/api/styles/{name}", delete_style, methods=["DELETE"]),
        Route("/api/style", post_style, methods=["POST"]),
        Route("/api/strength", post_strength, methods=["POST"]),
        Route("/api/effect", post_effect, methods=["POST"]),
        Route("/api/background", post_background, methods=["POST"]),
        Route("/api/mirror", post_mirror, methods=["POST"]),
        Route("/api/mask", post_mask, methods=["POST"]),
        Route("/api/snapshot", post_snapshot, methods=["POST"]),
        Route("/api/thumbnail/{name}", get_thumbnail, methods=["GET"]),
        Route("/api/frame.jpg", get_frame, methods=["GET"]),
        Route("/api/preview", get_preview, methods=["GET"]),
    ]
    handlers = {HTTPError: on_http_error, LivestyleError: on_livestyle_error, HTTPException: on_starlette,
                Exception: on_crash}
    return Starlette(routes=routes, exception_handlers=handlers)


def with_headers(app):
    """Wrap an ASGI app so every HTTP response carries :data:`SECURITY_HEADERS`."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with(message):
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *SECURITY_HEADERS]
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with)

    return wrapped

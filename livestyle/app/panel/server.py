"""Serves the control panel with uvicorn on its own thread, beside the frame loop.

:class:`PanelServer` binds the socket itself (so a busy port is a one-line error before the
live session starts), wraps the API (:func:`livestyle.app.panel.api.create_app`) in the
:class:`~livestyle.app.panel.security.Guard`, and runs uvicorn's event loop on a daemon
thread named ``livestyle-panel``. The frame loop never calls into the server: it only hands
its newest frame to the :class:`~livestyle.app.panel.preview.PreviewFeed` sink, and the
server's requests reach the session through its command queue.

Needs the ``panel`` extra (Starlette, uvicorn, python-multipart):
``pip install 'livestyle[panel]'``; without it :func:`require_panel` raises a one-line
:class:`~livestyle.errors.BackendNotInstalled`.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import webbrowser

from livestyle.errors import BackendNotInstalled, DeviceError, InputError

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
LOOPBACK = "127.0.0.1"


def require_panel() -> None:
    """Raises:
    BackendNotInstalled: Starlette, uvicorn or python-multipart is missing (names the
        ``panel`` extra).
    """
    missing = []
    for module in ("starlette", "uvicorn", "python_multipart"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise BackendNotInstalled(
            f"--panel needs the panel extra ({', '.join(missing)} missing): pip install 'livestyle[panel]'"
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: any free port).

    Raises:
        InputError: ``port`` out of range or ``host`` not an address of this machine.
        DeviceError: the port is taken.
    """
    if not 0 <= port <= 65535:
        raise InputError(f"--panel-port {port}: must be in 1..65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise InputError(f"--panel-host {host!r}: not a usable address ({err.strerror})") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as err:
        sock.close()
        if err.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise DeviceError(f"panel: port {port} on {host} is in use; choose another with --panel-port N") from None
        raise InputError(f"--panel-host {host!r}: cannot listen there ({err.strerror})") from None
    sock.listen(64)
    sock.setblocking(False)
    return sock


class PanelServer:
    """The panel's HTTP server for one live session: the constructor binds the socket,
    :meth:`start` serves a :class:`~livestyle.app.panel.control.PanelControl`.

    Args:
        host: address to listen on (``127.0.0.1``; anything else prints a warning).
        port: TCP port (0: any free one).
        token: the session token (default: a fresh one).

    Raises (constructor):
        BackendNotInstalled: no ``panel`` extra. InputError, DeviceError: see :func:`bind_socket`.
    """

    def __init__(self, *, host: str = LOOPBACK, port: int = DEFAULT_PORT, token: str | None = None):
        require_panel()
        from livestyle.app.panel.security import new_token

        self.host = host
        self.token = token or new_token()
        self.socket = bind_socket(host, port)
        self.port = self.socket.getsockname()[1]
        self.stopping = threading.Event()
        self.app = None
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The panel's address with the token, to open in a browser."""
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def start(self, control) -> None:
        """Serve ``control`` on the ``livestyle-panel`` thread; returns once it accepts
        connections (or after 10 s)."""
        import uvicorn

        from livestyle.app.panel.api import create_app, with_headers
        from livestyle.app.panel.security import Guard, allowed_hosts

        app = create_app(control, stopping=self.stopping)
        self.app = with_headers(Guard(app, self.token, self.port, allowed_hosts(self.port, self.host)))
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2, server_header=False, date_header=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="livestyle-panel", daemon=True)
        self._thread.start()
        for _ in range(200):
            if self._server.started or not self._thread.is_alive():
                break
            self._thread.join(0.05)

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self.socket])
        except BaseException:  # noqa: BLE001 - the live session keeps running without its panel
            log.exception("panel: the server stopped")

    def announce(self, *, open_browser: bool = False, out=None) -> None:
        """Print ``panel: URL`` (and a warning when listening beyond loopback); open it in the
        default browser with ``open_browser``."""
        out = out or sys.stderr
        if self.host not in (LOOPBACK, "localhost", "::1"):
            print(f"livestyle: warning: the panel listens on {self.host}:{self.port}, reachable from other "
                  "machines; anyone with the token can steer this session", file=out, flush=True)
        print(f"panel: {self.url}", file=out, flush=True)
        if open_browser:
            try:
                webbrowser.open(self.url)
            except webbrowser.Error as err:
                log.warning("panel: could not open a browser (%s)", err)

    def stop(self) -> None:
        """Stop serving (ends preview streams) and join the thread. Idempotent."""
        self.stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout=2)
        try:
            self.socket.close()
        except OSError:
            pass


class Panel:
    """The control panel of one live run: server, preview sink and session control.

    ``Panel(options)`` checks the extra and binds the port (one-line errors before the camera
    opens); give :attr:`feed` to the session as a sink, then :meth:`attach` the session
    (serves and prints the URL); :meth:`close` at the end.

    Args:
        options: :class:`~livestyle.config.PanelOptions` (port, host, open_browser).
    """

    def __init__(self, options):
        from livestyle.app.panel.preview import PreviewFeed

        self.options = options
        self.server = PanelServer(host=options.host, port=options.port)
        self.feed = PreviewFeed()
        self.control = None

    def attach(self, session, out=None) -> None:
        """Serve ``session`` (a :class:`~livestyle.app.live.LiveSession` whose sinks include
        :attr:`feed`) and print the panel's URL."""
        from livestyle.app.panel.bridge import SessionControl

        self.control = SessionControl(session, self.feed)
        self.server.start(self.control)
        self.server.announce(open_browser=self.options.open_browser, out=out)

    def close(self) -> None:
        self.server.stop()
        if self.control is not None:
            self.control.close()

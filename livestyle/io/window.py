"""Preview window (OpenCV highgui): the live output, an overlay, hot keys, snapshots.

highgui is not thread-safe and on macOS must run on the main thread, so the window is split:

* :meth:`PreviewWindow.write` (the pipeline's writer thread) only stores the newest output
  frame;
* :meth:`PreviewWindow.pump` (the thread that owns the window, the main thread in
  :func:`livestyle.app.live.run_live`) shows it, draws the overlay and handles keys.

Keys: ``n``/``p`` next/previous style, ``0`` effect on/off, ``+``/``-`` strength, ``m`` mask
view (the alpha matte), ``f`` overlay on/off, ``s`` snapshot to a PNG file (the path is
printed), ``h`` help, ``q`` or Esc quit. Style keys go to a controller
(:class:`livestyle.engine.live.LiveController`).

Opening a highgui window without a display aborts the whole process (Qt's xcb plugin calls
``abort()``); :func:`check_display` finds that out first, in a subprocess, and raises a
one-line :class:`~livestyle.errors.DeviceError` instead.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from livestyle.atomic import describe_os_error, write_atomic
from livestyle.errors import DeviceError, LivestyleError
from livestyle.timing import RateMeter
from livestyle.protocols import Frame

log = logging.getLogger(__name__)

HELP_LINES = (
    "n / p   next / previous style",
    "0       effect on / off",
    "+ / -   style strength",
    "m       mask view",
    "f       overlay on / off",
    "s       snapshot to a PNG file",
    "h       this help",
    "q, Esc  quit",
)

_PROBE = (
    "import cv2, numpy as np\n"
    "cv2.namedWindow('livestyle-probe', cv2.WINDOW_AUTOSIZE)\n"
    "cv2.imshow('livestyle-probe', np.zeros((8, 8, 3), np.uint8))\n"
    "cv2.waitKey(1)\n"
    "cv2.destroyAllWindows()\n"
)


class Controller(Protocol):
    """What the window asks of the live run (see :class:`livestyle.engine.live.LiveController`)."""

    def next_style(self, step: int = 1) -> None: ...

    def toggle_effect(self) -> None: ...

    def change_strength(self, delta: float) -> None: ...

    def quit(self) -> None: ...

    def status(self) -> dict: ...


def display_problem() -> str | None:
    """Why a highgui window cannot open here, or None if it can.

    On Linux (and other X11 systems) a display must be named by ``DISPLAY`` or
    ``WAYLAND_DISPLAY`` and a test window must open in a subprocess (so a failure cannot abort
    this process). Windows and macOS always have a display.
    """
    if sys.platform in ("win32", "darwin"):
        return None
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        return "no display (DISPLAY is not set)"
    try:
        r = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return f"the display {os.environ.get('DISPLAY', '')} does not answer"
    if r.returncode != 0:
        lines = [ln.strip() for ln in (r.stderr or "").splitlines() if ln.strip()]
        why = next((ln for ln in lines if "could not connect" in ln.lower() or "cannot open" in ln.lower()), None)
        why = why or (lines[0] if lines else f"exit code {r.returncode}")
        return f"cannot open a window on display {os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')} ({why[:160]})"
    return None


def display_error(problem: str) -> DeviceError:
    """The one-line error for a preview window without a display (``problem`` from
    :func:`display_problem`), saying what to do instead."""
    return DeviceError(
        f"{problem}: the preview window needs a desktop session; add --vcam --no-preview to send the "
        "output to a virtual camera only, or restyle a file with --output OUT.mp4"
    )


def check_display() -> None:
    """Raises:
    DeviceError: no display for the preview window; says what to do instead.
    """
    problem = display_problem()
    if problem:
        raise display_error(problem)


def _text(img: np.ndarray, s: str, org: tuple[int, int], scale: float, colour=(255, 255, 255), thick: int = 1) -> None:
    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, s, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def _shade(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, amount: float = 0.55) -> None:
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(img.shape[1], x1), min(img.shape[0], y1)
    if x1 > x0 and y1 > y0:
        roi = img[y0:y1, x0:x1]
        cv2.convertScaleAbs(roi, dst=roi, alpha=1.0 - amount)


CAMERA_LOST_TEXT = "camera lost - reconnecting..."


def draw_camera_lost(image: np.ndarray) -> np.ndarray:
    """A copy of ``image`` (``(H, W, 3)`` uint8 BGR) with a "camera lost" band at the bottom."""
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.5, min(1.2, w / 1200.0))
    band = int(44 * scale)
    _shade(out, 0, h - band, w, h, 0.55)
    cv2.rectangle(out, (0, h - band), (w - 1, h - 1), (0, 0, 200), 3)
    _text(out, CAMERA_LOST_TEXT, (12, h - band // 2 + int(10 * scale)), scale, (90, 90, 255), 2)
    return out


def draw_overlay(image: np.ndarray, status: dict, *, camera_lost: bool = False, help_on: bool = False,
                 mask_view: bool = False, overlay_on: bool = True, copy: bool = True) -> np.ndarray:
    """Draw the status overlay on a copy of ``image`` (``(H, W, 3)`` uint8 BGR).

    ``status`` keys (all optional): ``out_fps`` (frames per second), ``style_hz`` (restyles
    per second), ``latency_ms`` (capture to output, milliseconds), ``style`` (name),
    ``strength`` (0..1), ``effect`` (bool), ``change_ms`` (last style-change latency),
    ``stages_ms`` (stage name -> recent median milliseconds, drawn as a third line).
    The "camera lost" notice and the help are drawn even when ``overlay_on`` is False.
    ``copy=False`` draws on ``image`` itself (for a caller that owns it).
    """
    out = image.copy() if copy else image
    h, w = out.shape[:2]
    scale = max(0.4, min(1.0, w / 1600.0))
    line = int(30 * scale) + 6
    if overlay_on:
        l1 = (
            f"out {status.get('out_fps', 0.0):4.1f} fps | style {status.get('style_hz', 0.0):4.1f} Hz | "
            f"latency {status.get('latency_ms', 0.0):4.0f} ms"
        )
        style = status.get("style", "")
        if not status.get("effect", True):
            l2 = "effect off  [0] on  [h] help"
        else:
            l2 = f"{style}  strength {100 * status.get('strength', 1.0):.0f}%"
            if status.get("change_ms"):
                l2 += f"  (change {status['change_ms']:.0f} ms)"
            l2 += "  [h] help"
        if mask_view:
            l2 += "  MASK VIEW"
        lines = [l1, l2]
        stages = status.get("stages_ms")
        if stages:
            lines.append(" | ".join(f"{k} {v:.1f}" for k, v in stages.items() if k != "sink") + " ms")
        width = int(max(map(len, lines)) * 19 * scale) + 20
        _shade(out, 0, 0, width, len(lines) * line + 10)
        for i, text in enumerate(lines):
            _text(out, text, (10, (i + 1) * line), scale * 0.8)
    if camera_lost:
        y0 = h - 2 * line
        _shade(out, 0, y0, w, h, 0.4)
        cv2.rectangle(out, (0, y0), (w - 1, h - 1), (0, 0, 200), 3)
        _text(out, "camera lost - reconnecting...", (12, h - line // 2 - 4), scale * 1.1, (80, 80, 255), 2)
    if help_on:
        top = 3 * line
        _shade(out, 0, top - line, w, top + line * len(HELP_LINES) + 10, 0.65)
        for i, s in enumerate(HELP_LINES):
            _text(out, s, (20, top + i * line), scale * 0.9)
    return out


def save_snapshot(image: np.ndarray, folder: str | os.PathLike[str]) -> Path | None:
    """Save ``image`` (``(H, W, 3)`` BGR or ``(H, W)`` grey, uint8) as
    ``livestyle-YYYYmmdd-HHMMSS-mmm.png`` in ``folder`` (made if missing), never over an
    existing file, written atomically; print and return its path. A failure (PNG encoding, a
    full disk, no permission) is logged as one line and gives None: the session goes on."""
    folder = Path(folder)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
    path = folder / f"livestyle-{stamp}.png"
    for n in range(2, 100):  # never over an existing file (an input, an earlier snapshot)
        if not os.path.lexists(path):
            break
        path = folder / f"livestyle-{stamp}-{n}.png"
    ok, data = cv2.imencode(".png", image)
    if not ok:
        log.error("snapshot: PNG encoding failed")
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data.tobytes())
    except OSError as err:
        log.error("snapshot: %s", describe_os_error(err, path))
        return None
    except LivestyleError as err:
        log.error("snapshot: %s", err)
        return None
    print(f"snapshot: {path}", file=sys.stderr, flush=True)
    return path


class PreviewWindow:
    """The preview window sink. See the module docstring for the thread split and the keys.

    Args:
        controller: receives style, strength, effect and quit keys (None: only ``q`` works,
            through ``on_quit``).
        title: window title.
        overlay: draw the status overlay.
        mirror: flip the picture left-right.
        snapshot_dir: folder for ``s`` snapshots.
        on_quit: called when ``q``/Esc is pressed or the window is closed (if no controller).
        check: call :func:`check_display` first.

    Raises:
        DeviceError: no display (from :func:`check_display`).
    """

    def __init__(
        self,
        controller: Controller | None = None,
        *,
        title: str = "livestyle",
        overlay: bool = True,
        mirror: bool = False,
        snapshot_dir: str | os.PathLike[str] = ".",
        on_quit=None,
        check: bool = True,
    ):
        if check:
            check_display()
        self.controller = controller
        self.title = title
        self.overlay_on = overlay
        self.mirror = mirror
        self.snapshot_dir = Path(snapshot_dir)
        self.on_quit = on_quit
        self.help_on = False
        self.mask_view = False
        self._lock = threading.Lock()
        self._new = threading.Condition(self._lock)
        self._frame: Frame | None = None
        self._seq = 0
        self._shown_seq = 0
        self._shown: Frame | None = None
        self._window_open = False
        self._closed = False
        self.frames_shown = 0
        self.snapshots: list[Path] = []
        self._rate = RateMeter()

    # -- writer thread ---------------------------------------------------------------------
    def write(self, frame: Frame) -> None:
        """Store the newest output frame; returns at once."""
        with self._lock:
            self._frame = frame
            self._seq += 1
            self._new.notify_all()

    def close(self) -> None:
        """Mark the stream as finished (the owner thread destroys the window in
        :meth:`destroy`). Idempotent."""
        with self._lock:
            self._closed = True
            self._new.notify_all()

    def abort(self) -> None:
        self.close()

    # -- owner thread ------------------------------------------------------------------------
    def _open(self, frame: Frame) -> None:
        flags = cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL
        cv2.namedWindow(self.title, flags)
        h, w = frame.image.shape[:2]
        cv2.resizeWindow(self.title, w, h)
        self._window_open = True

    def render(self, frame: Frame) -> np.ndarray:
        """The picture shown for ``frame``: output or mask view, mirrored, with the overlay."""
        image, owned = frame.image, False
        if self.mask_view:
            alpha = frame.meta.get("alpha")
            if alpha is not None:
                a = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
                if a.shape[:2] != image.shape[:2]:
                    a = cv2.resize(a, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
                image, owned = cv2.cvtColor(a, cv2.COLOR_GRAY2BGR), True
        if self.mirror:
            image, owned = cv2.flip(image, 1), True
        status = self.controller.status() if self.controller is not None else {}
        if "out_fps" not in status:
            status["out_fps"] = self._rate.hz()
        return draw_overlay(
            image, status, camera_lost=self.mask_view and bool(frame.meta.get("camera_lost")), help_on=self.help_on,
            mask_view=self.mask_view, overlay_on=self.overlay_on, copy=not owned,
        )  # fmt: skip

    def pump(self, timeout_s: float = 0.02) -> bool:
        """Show the newest frame if there is one (waiting up to ``timeout_s``), then handle
        keys. Returns False once the stream is closed or the user quit."""
        with self._lock:
            if self._seq == self._shown_seq and not self._closed:
                self._new.wait(timeout_s)
            frame, seq, closed = self._frame, self._seq, self._closed
        if frame is not None and seq != self._shown_seq:
            if not self._window_open:
                self._open(frame)
            self._shown_seq = seq
            self._shown = frame
            self._rate.tick()
            cv2.imshow(self.title, self.render(frame))
            self.frames_shown += 1
        if self._window_open:
            key = cv2.waitKey(1)
            if key != -1:
                if not self.handle_key(key):
                    return False
            elif cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                self._quit()
                return False
        return not closed

    def _refresh(self) -> None:
        if self._shown is not None and self._window_open:
            cv2.imshow(self.title, self.render(self._shown))

    def _quit(self) -> None:
        if self.controller is not None:
            self.controller.quit()
        if self.on_quit is not None:
            self.on_quit()

    def handle_key(self, key: int) -> bool:
        """Act on a key code from ``cv2.waitKey``. Returns False for quit."""
        code = key & 0xFF
        ch = chr(code) if 32 <= code < 127 else ""
        c = self.controller
        if code == 27 or ch in ("q", "Q"):
            log.info("preview: quit key")
            self._quit()
            return False
        if ch in ("n", "N", "p", "P") and c is not None:
            c.next_style(1 if ch in "nN" else -1)
        elif ch == "0" and c is not None:
            c.toggle_effect()
        elif ch in ("+", "=") and c is not None:
            c.change_strength(+1)
        elif ch in ("-", "_") and c is not None:
            c.change_strength(-1)
        elif ch in ("m", "M"):
            self.mask_view = not self.mask_view
            self._refresh()
        elif ch in ("f", "F"):
            self.overlay_on = not self.overlay_on
            self._refresh()
        elif ch in ("h", "H", "?"):
            self.help_on = not self.help_on
            self._refresh()
        elif ch in ("s", "S"):
            self.snapshot()
        return True

    def snapshot(self) -> Path | None:
        """Save the picture shown now, without the overlay (the mask in mask view), as a PNG
        in ``snapshot_dir``; print and return its path (None if nothing is shown yet)."""
        frame = self._shown
        if frame is None:
            return None
        image = frame.image
        if self.mask_view and frame.meta.get("alpha") is not None:
            image = np.clip(frame.meta["alpha"] * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if self.mirror:
            image = cv2.flip(image, 1)
        path = save_snapshot(image, self.snapshot_dir)
        if path is not None:
            self.snapshots.append(path)
        return path

    def destroy(self) -> None:
        """Close the window (owner thread only). Idempotent."""
        if self._window_open:
            self._window_open = False
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)
            except cv2.error:
                pass

"""What the control panel asks of a live session: the :class:`PanelControl` protocol.

The HTTP routes (:mod:`livestyle.app.panel.api`) call only these methods, from the server's
worker threads, never from the frame loop; an implementation forwards changes to the live
session's command queue (:class:`livestyle.app.panel.bridge.SessionControl`) so the frame loop
applies them at its next frame and never waits for the server. Tests use a fake.

Every method may raise :class:`~livestyle.errors.LivestyleError` (an
:class:`~livestyle.errors.InputError` for a bad name or value); the routes turn it into a
400 JSON error and the session keeps running.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from livestyle.app.panel.preview import PreviewFeed

PANEL_EFFECTS = ("style", "blur", "replace", "cartoon", "pencil", "oil", "watercolor", "color", "none")
"""Effects the panel offers, in its order (names of :data:`livestyle.effects.EFFECTS`)."""


class PanelControl(Protocol):
    """A live session as the panel sees it.

    ``feed`` is the preview sink the session writes its output frames to.
    """

    feed: PreviewFeed

    def status(self) -> dict:
        """At least ``style`` (name), ``strength`` (0..1), ``effect`` (name), ``blur_strength``,
        ``mirror``, ``fps`` (output frames per second), ``frames_out`` (output frames since
        the start), ``latency_p95_ms`` (capture to output),
        ``cpu_percent`` (process CPU, 100 = one core), ``restyles_per_s``, ``styles_version``
        (changes when the gallery changes)."""
        ...

    def styles(self) -> list[dict]:
        """``[{"name": str, "kind": "builtin" | "user"}]``: built-in styles, then user styles."""
        ...

    def set_style(self, name: str) -> None:
        """Switch to style ``name`` (turns the ``style`` effect on). Raises InputError: unknown."""
        ...

    def set_strength(self, value: float) -> None:
        """Style strength in [0, 1]."""
        ...

    def set_effect(self, name: str, blur_strength: float | None = None) -> None:
        """Switch the effect (one of :data:`PANEL_EFFECTS`); ``blur_strength`` in (0, 1] for
        ``blur``. Raises InputError: unknown effect, or ``replace`` with no background."""
        ...

    def set_background(self, image: np.ndarray) -> None:
        """The ``replace`` effect's background, ``(H, W, 3)`` uint8 BGR (switches to it)."""
        ...

    def add_style(self, name: str, image: np.ndarray) -> None:
        """Add user style ``name`` from a painting ``(H, W, 3)`` uint8 BGR. Raises InputError:
        a name ``livestyle styles add`` refuses."""
        ...

    def remove_style(self, name: str) -> None:
        """Remove user style ``name``. Raises InputError: built-in or unknown."""
        ...

    def thumbnail(self, name: str) -> bytes:
        """A small JPEG showing style ``name``. Raises InputError: unknown style."""
        ...

    def set_mirror(self, on: bool) -> None:
        """Mirror the output left-right (virtual camera, window and preview)."""
        ...

    def snapshot(self, mask: bool = False) -> str:
        """Save the newest output (or its mask) as a PNG; returns its path. Raises
        InputError: no frame yet."""
        ...


def style_entries(builtin: list[str], user: list[str]) -> list[dict]:
    """The :meth:`PanelControl.styles` list for these names."""
    return [{"name": n, "kind": "builtin"} for n in builtin] + [
        {"name": n, "kind": "user"} for n in user if n not in builtin
    ]

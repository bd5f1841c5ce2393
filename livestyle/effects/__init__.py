"""Effects: what replaces the background (or the person), as plug-ins chosen by name.

Every effect is one module of this package with a ``make(config) -> effect`` factory, and one
line in :data:`EFFECTS`. There are two kinds, told apart by the ``per_frame`` attribute:

* **plate effects** (``per_frame = False``: ``style``, ``cartoon``, ``pencil``, ``oil``,
  ``watercolor``) implement the :class:`~livestyle.protocols.Stylizer` protocol:
  ``stylize(image)`` takes the clean background plate, ``(h, w, 3)`` uint8 BGR, and returns the
  restyled plate of the same size. They are slow, so the pipeline runs them on its style worker
  thread at the plate's refresh, never per frame.
* **per-frame effects** (``per_frame = True``: ``blur``, ``replace``, ``color``, ``none``)
  implement ``render(frame, alpha)``: ``frame`` ``(H, W, 3)`` uint8 BGR and ``alpha`` ``(H, W)``
  float32 in [0, 1] where 1 marks the pixels that are *kept* (the person, or the background
  with ``target = "person"``); they return the new layer ``(H, W, 3)`` uint8 BGR that the
  compositor puts under the kept pixels. They must be cheap (a few milliseconds at 720p).
  The layer is read-only once returned: return a new array, or the very same array again only
  when its pixels did not change (the compositor reuses work for a layer it has seen).

Both have ``name`` and ``close()``. :func:`make_effect` builds one by name.

Adding an effect: write ``livestyle/effects/NAME.py`` with a class and ``make(config)``, and add
``"NAME": _factory("NAME")`` to :data:`EFFECTS`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable, Protocol, runtime_checkable

import numpy as np

from livestyle import registry
from livestyle.errors import InputError

if TYPE_CHECKING:
    from livestyle.config import Config


@runtime_checkable
class Effect(Protocol):
    """What every effect has. Plate effects add ``stylize(image)``, per-frame effects
    ``render(frame, alpha)`` (see the module docstring)."""

    name: str
    per_frame: bool

    def close(self) -> None: ...


@runtime_checkable
class PlateEffect(Effect, Protocol):
    """``stylize(plate)``: ``(h, w, 3)`` uint8 BGR -> ``(h, w, 3)`` uint8 BGR, run at the plate's
    refresh on the style worker thread."""

    def stylize(self, image: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class FrameEffect(Effect, Protocol):
    """``render(frame, alpha)``: ``(H, W, 3)`` uint8 BGR and ``(H, W)`` float32 keep-matte ->
    ``(H, W, 3)`` uint8 BGR layer under the kept pixels, every frame."""

    def render(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray: ...


def _factory(module: str) -> Callable[["Config"], Effect]:
    """A factory that imports ``livestyle.effects.<module>`` only when used (so ``blur`` never
    loads onnxruntime) and calls its ``make(config)``."""

    def make(config: "Config") -> Effect:
        return importlib.import_module(f"{__name__}.{module}").make(config)

    make.__name__ = f"make_{module}"
    return make


EFFECTS: dict[str, Callable[["Config"], Effect]] = {
    "style": _factory("style"),
    "blur": _factory("blur"),
    "replace": _factory("replace"),
    "cartoon": _factory("cartoon"),
    "pencil": _factory("pencil"),
    "oil": _factory("oil"),
    "watercolor": _factory("watercolor"),
    "color": _factory("color"),
    "none": _factory("none"),
}
"""Effect name -> factory ``(config) -> effect``."""


def check_effect_name(name: str) -> str:
    """Return ``name`` if it is a known effect.

    Raises:
        InputError: unknown name; the message lists the valid ones.
    """
    if name not in EFFECTS:
        raise InputError(f"unknown effect {name!r}; choose one of: {', '.join(EFFECTS)}")
    return name


registry.register("effect", check_effect_name)


def make_effect(name: str, config: "Config") -> Effect:
    """Build the effect called ``name`` from ``config``.

    Raises:
        InputError: unknown name (the message lists the valid ones), or a bad effect input
            (style, background file).
        ModelError: a model the effect needs is missing or corrupt.
    """
    return EFFECTS[check_effect_name(name)](config)


class PlateFilter:
    """Base of the OpenCV plate effects (cartoon, pencil, oil, watercolor): a plate effect on a
    plate of short side :attr:`short_side_px`, with nothing to close."""

    per_frame = False
    short_side_px = 432

    def close(self) -> None:
        pass

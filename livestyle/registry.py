"""Names that options refer to, checked by the layer that owns them (plug-in registries).

:mod:`livestyle.config` validates names such as effect names and DeepLab class names without
importing the stages: each owner registers a check here (``livestyle.effects`` its effect
names, ``livestyle.stages.deeplab`` its class parser). When a check is asked for before its
owner was imported, the owner is loaded then (plug-in discovery), so a name is never accepted
unchecked.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

OWNERS: dict[str, str] = {
    "effect": "livestyle.effects",
    "segment_classes": "livestyle.stages.deeplab",
}
"""Kind of name -> the module that registers its check."""

_checks: dict[str, Callable[[Any], Any]] = {}


def register(kind: str, check: Callable[[Any], Any]) -> None:
    """Register ``check(value) -> normalized value`` for ``kind``; it raises
    :class:`ValueError` or :class:`~livestyle.errors.LivestyleError` with a one-line message
    listing the valid names."""
    _checks[kind] = check


def check(kind: str, value: Any) -> Any:
    """Normalize and check ``value`` with the check registered for ``kind``.

    Raises:
        KeyError: ``kind`` is not in :data:`OWNERS`.
        ValueError, LivestyleError: from the owner's check.
    """
    if kind not in _checks:
        importlib.import_module(OWNERS[kind])
    return _checks[kind](value)

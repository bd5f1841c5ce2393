"""The style-vector store: built-in styles shipped in the package and the user's gallery.

A user style is stored as its Magenta **style vector** (the ``(100,)`` float32 bottleneck of
the style-prediction network), ``NAME.npy`` in ``<user data folder>/styles``:
``platformdirs.user_data_dir("livestyle")`` (``~/.local/share/livestyle`` on Linux), or
``$LIVESTYLE_DATA_DIR`` when set. The image is not kept. A user style name works everywhere a
built-in name does (``--style NAME``, the ``n``/``p`` keys), via
:func:`livestyle.stages.stylize.resolve_style`.

Names: 1 to 40 characters from ``A-Z a-z 0-9 _ -``, starting with a letter or digit (so no
path separators, no dot files), and not a built-in style name.

CLI: ``livestyle styles list``, ``livestyle styles add IMAGE --name NAME``,
``livestyle styles remove NAME``.

Built-in styles are ``livestyle/styles/NAME.npy`` (package data).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from livestyle.errors import InputError

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "styles"
"""The built-in style vectors, ``NAME.npy`` of ``(100,)`` float32."""

ENV_DATA_DIR = "LIVESTYLE_DATA_DIR"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")


def data_dir() -> Path:
    """The user data folder: ``$LIVESTYLE_DATA_DIR`` or ``platformdirs.user_data_dir("livestyle")``."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("livestyle", appauthor=False))


def styles_dir() -> Path:
    """Where user style vectors live (may not exist yet)."""
    return data_dir() / "styles"


def user_styles() -> dict[str, Path]:
    """User styles: name -> ``.npy`` file of a ``(100,)`` float32 style vector, sorted by name.

    Files whose name is not a valid style name are ignored.
    """
    d = styles_dir()
    if not d.is_dir():
        return {}
    return {p.stem: p for p in sorted(d.glob("*.npy")) if NAME_RE.fullmatch(p.stem) and p.is_file()}


def check_name(name: str, *, new: bool = True) -> str:
    """Check a user style name.

    Raises:
        InputError: not 1-40 of ``A-Z a-z 0-9 _ -`` starting with a letter or digit, a
            built-in style name, or (``new``) already a user style.
    """
    if not NAME_RE.fullmatch(name or ""):
        raise InputError(
            f"style name {name!r} is not allowed: use 1 to 40 letters, digits, '_' or '-', "
            "starting with a letter or digit (no path separators, spaces or dots)"
        )
    if name in builtin_styles():
        raise InputError(f"style name {name!r} is a built-in style; choose another name")
    if new and name in user_styles():
        raise InputError(f"style {name!r} already exists; remove it first with 'livestyle styles remove {name}'")
    return name


def builtin_styles() -> dict[str, Path]:
    """Built-in styles: name -> ``.npy`` file holding a ``(100,)`` float32 style bottleneck."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.npy"))}


def all_style_names() -> list[str]:
    """Built-in style names, then user style names (the order the ``n``/``p`` keys use)."""
    builtin = list(builtin_styles())
    return builtin + [n for n in user_styles() if n not in builtin]

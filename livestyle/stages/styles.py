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

Every vector is checked when loaded (:func:`load_style_vector`): a ``.npy`` of 100 finite
numbers. A damaged user or built-in file is a one-line :class:`~livestyle.errors.InputError`
naming the file and how to re-create it; a damaged cached vector is recomputed by the caller
(:func:`read_style_vector` says what is wrong).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from livestyle.errors import InputError

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "styles"
"""The built-in style vectors, ``NAME.npy`` of ``(100,)`` float32."""

VECTOR_SIZE = 100
"""Length of a Magenta style vector (the style network's bottleneck)."""

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


class StyleFileError(ValueError):
    """A style-vector file is unreadable or holds no usable vector; the message says why."""


def read_style_vector(path: Path) -> np.ndarray:
    """Load a style vector: ``(100,)`` float32 from a ``.npy`` of 100 finite numbers (any
    shape of that size, any float dtype).

    Raises:
        StyleFileError: unreadable, not a ``.npy`` array, wrong size or type, or non-finite
            values (the message says which).
    """
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        raise StyleFileError("it is not a readable .npy array") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise StyleFileError(f"it holds {getattr(arr, 'dtype', type(arr).__name__)} data, not numbers")
    if arr.size != VECTOR_SIZE:
        raise StyleFileError(f"it holds shape {arr.shape}, not {VECTOR_SIZE} numbers")
    vec = arr.astype(np.float32).reshape(VECTOR_SIZE)
    if not np.all(np.isfinite(vec)):
        raise StyleFileError(f"it holds {int(np.count_nonzero(~np.isfinite(vec)))} non-finite values (NaN or infinity)")
    return vec


def load_style_vector(name: str) -> np.ndarray | None:
    """The style vector of built-in or user style ``name`` (built-ins first), or None if
    there is no style of that name.

    Raises:
        InputError: the style's file is damaged: one line naming the file, what is wrong and
            how to re-create it (``livestyle styles remove NAME`` then ``livestyle styles add
            IMAGE --name NAME`` for a user style; reinstalling livestyle for a built-in one).
    """
    builtin = builtin_styles().get(name)
    path = builtin or user_styles().get(name)
    if path is None:
        return None
    try:
        return read_style_vector(path)
    except StyleFileError as err:
        if builtin is not None:
            fix = "reinstall livestyle (pip install --force-reinstall livestyle) to restore it"
            raise InputError(f"{path}: built-in style {name!r} is damaged: {err}; {fix}") from None
        fix = f"re-create it: livestyle styles remove {name}, then livestyle styles add IMAGE --name {name}"
        raise InputError(f"{path}: user style {name!r} is damaged: {err}; {fix}") from None

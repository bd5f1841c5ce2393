"""The user's style gallery: named styles made from the user's own images.

A user style is stored as its Magenta **style vector** (the ``(100,)`` float32 bottleneck of
the style-prediction network), ``NAME.npy`` in ``<user data folder>/styles``:
``platformdirs.user_data_dir("livestyle")`` (``~/.local/share/livestyle`` on Linux), or
``$LIVESTYLE_DATA_DIR`` when set. The image is not kept. A user style name works everywhere a
built-in name does (``--style NAME``, the ``n``/``p`` keys), via
:func:`livestyle.stylize.resolve_style`.

Names: 1 to 40 characters from ``A-Z a-z 0-9 _ -``, starting with a letter or digit (so no
path separators, no dot files), and not a built-in style name.

CLI: ``livestyle styles list``, ``livestyle styles add IMAGE --name NAME``,
``livestyle styles remove NAME``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from livestyle.errors import InputError

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
    from livestyle.stylize import builtin_styles

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


def add_style(image: str | os.PathLike[str], name: str, *, backend: str = "onnx", threads: int = 1) -> Path:
    """Compute the style vector of ``image`` and store it as user style ``name``.

    Args:
        image: a style image (JPEG, PNG, ...).
        name: the new style's name (see :func:`check_name`).
        backend: the Magenta runtime that predicts the vector (``onnx`` or ``litert``).
        threads: its threads.

    Returns:
        The ``.npy`` file written.

    Raises:
        InputError: bad name, or the image is missing or unreadable.
        ModelError: the style-prediction model is missing or corrupt.
    """
    from livestyle.stylize import make_backend, predict_style_vector, read_image

    check_name(name)
    img = read_image(image, "style image")
    vec = predict_style_vector(img, make_backend(backend, threads)).astype(np.float32).reshape(-1)
    if vec.shape != (100,) or not np.all(np.isfinite(vec)):
        raise InputError(f"{image}: the style network gave no usable vector for this image")
    d = styles_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.npy"
    tmp = d / f".{name}.tmp.npy"
    np.save(tmp, vec)
    os.replace(tmp, path)
    return path


def remove_style(name: str) -> Path:
    """Delete user style ``name``.

    Returns:
        The file removed.

    Raises:
        InputError: a built-in name, an invalid name, or no such user style.
    """
    from livestyle.stylize import builtin_styles

    if name in builtin_styles():
        raise InputError(f"{name!r} is a built-in style and cannot be removed")
    check_name(name, new=False)
    path = user_styles().get(name)
    if path is None:
        known = ", ".join(user_styles()) or "none"
        raise InputError(f"no user style {name!r}; user styles: {known}")
    path.unlink()
    return path


def all_style_names() -> list[str]:
    """Built-in style names, then user style names (the order the ``n``/``p`` keys use)."""
    from livestyle.stylize import builtin_styles

    builtin = list(builtin_styles())
    return builtin + [n for n in user_styles() if n not in builtin]


def styles_main(action: str, image: str | None = None, name: str | None = None, out=None) -> int:
    """``livestyle styles list|add|remove``. Returns the exit code.

    Raises:
        InputError: see :func:`add_style` and :func:`remove_style`.
    """
    import sys

    from livestyle.stylize import builtin_styles

    out = out or sys.stdout
    if action == "list":
        for n in builtin_styles():
            print(f"{n:24s} built-in", file=out)
        for n, p in user_styles().items():
            print(f"{n:24s} user      {p}", file=out)
        return 0
    if action == "add":
        if not image or not name:
            raise InputError("styles add needs an image and --name NAME")
        path = add_style(image, name)
        print(f"added style {name!r} ({path})", file=out)
        return 0
    if action == "remove":
        if not name:
            raise InputError("styles remove needs a NAME")
        path = remove_style(name)
        print(f"removed style {name!r} ({path})", file=out)
        return 0
    raise InputError(f"unknown styles action {action!r}; use list, add or remove")

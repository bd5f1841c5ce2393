"""The ``livestyle styles list|add|remove`` command: the user's style gallery.

A user style is stored as its Magenta style vector by :mod:`livestyle.stages.styles`; adding
one runs the style-prediction network on the user's image.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from livestyle.atomic import describe_os_error, write_atomic
from livestyle.errors import InputError, OutputError
from livestyle.stages.styles import all_style_names, builtin_styles, check_name, styles_dir, user_styles

__all__ = ["add_style", "add_style_vector", "all_style_names", "remove_style", "styles_main", "user_styles"]


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
        OutputError: the styles folder cannot be written (full, read-only, no permission).
        ModelError: the style-prediction model is missing or corrupt.
    """
    from livestyle.stages.stylize import make_backend, predict_style_vector, read_image

    check_name(name)
    img = read_image(image, "style image")
    return add_style_vector(predict_style_vector(img, make_backend(backend, threads)), name, source=str(image))


def add_style_vector(vector: np.ndarray, name: str, *, source: str = "the style image") -> Path:
    """Store a style vector (``(100,)`` float32, from
    :func:`~livestyle.stages.stylize.predict_style_vector`) as user style ``name``, written to a
    temporary file and renamed.

    Returns:
        The ``.npy`` file written.

    Raises:
        InputError: bad name (see :func:`check_name`), or the vector is not 100 finite numbers
            (the message names ``source``).
    """
    check_name(name)
    vec = np.asarray(vector, np.float32).reshape(-1)
    if vec.shape != (100,) or not np.all(np.isfinite(vec)):
        raise InputError(f"{source}: the style network gave no usable vector for this image")
    d = styles_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(describe_os_error(err, d / f"{name}.npy")) from None
    data = io.BytesIO()
    np.save(data, vec)
    return write_atomic(d / f"{name}.npy", data.getvalue(), inputs=[source])


def remove_style(name: str) -> Path:
    """Delete user style ``name``.

    Returns:
        The file removed.

    Raises:
        InputError: a built-in name, an invalid name, or no such user style.
    """
    if name in builtin_styles():
        raise InputError(f"{name!r} is a built-in style and cannot be removed")
    check_name(name, new=False)
    path = user_styles().get(name)
    if path is None:
        known = ", ".join(user_styles()) or "none"
        raise InputError(f"no user style {name!r}; user styles: {known}")
    path.unlink()
    return path


def styles_main(action: str, image: str | None = None, name: str | None = None, out=None) -> int:
    """``livestyle styles list|add|remove``. Returns the exit code.

    Raises:
        InputError: see :func:`add_style` and :func:`remove_style`.
    """
    import sys

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

"""Presets: build and load :class:`~livestyle.config.Config` from dicts and TOML files.

Types are strict (no coercion), and an invalid value raises
:class:`~livestyle.errors.InputError` naming the file, the key (or the flag that set it), the
value and what is allowed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from livestyle.config import _TABLE, Config
from livestyle.errors import InputError


def _describe(err: ValidationError, source: str) -> str:
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"])
    if e["type"] == "value_error" and isinstance(e.get("input"), dict):  # a check across keys
        return f"{source}: {e['msg'].removeprefix('Value error, ').replace(_TABLE, key)}"
    value = e.get("input")
    return f"{source}: invalid value {value!r} for '{key}': {e['msg']}"


def _validate(data: dict[str, Any]) -> Config:
    """Strict: no coercion (``true`` is not a number, ``"288"`` not an integer)."""
    return Config.model_validate(data, strict=True)


def build_config(data: dict[str, Any] | None = None, source: str = "config") -> Config:
    """Validate a nested dict of options.

    Raises:
        InputError: a key is unknown or a value is not allowed; the message names both.
    """
    try:
        return _validate(data or {})
    except ValidationError as err:
        raise InputError(_describe(err, source)) from None


def load_config(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    flags: dict[str, str] | None = None,
) -> Config:
    """Load a TOML preset (or the defaults) and apply ``overrides`` (``{"style.strength": 0.5}``).

    ``flags`` maps an override's key to the command-line flag that set it
    (``{"style.strength": "--strength"}``): a bad override is then reported as a bad value of
    that flag, never as an error in the preset.

    Raises:
        InputError: the file is missing or not TOML, or a value is invalid.
    """
    data: dict[str, Any] = {}
    source = "options"
    if path is not None:
        p = Path(path)
        source = str(p)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{p}: config file not found; see configs/ for presets") from None
        except IsADirectoryError:
            raise InputError(f"{p}: is a folder, not a config file; give a .toml preset (see configs/)") from None
        except OSError as err:
            raise InputError(f"{p}: cannot read the config file ({err.strerror or err})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"{p}: not a valid TOML file ({err})") from None
        build_config(data, source)  # the preset's own errors are the preset's
    given = {dotted: value for dotted, value in (overrides or {}).items() if value is not None}
    for dotted, value in given.items():
        table, _, key = dotted.partition(".")
        section = data.setdefault(table, {})
        if not isinstance(section, dict):
            raise InputError(f"{source}: '{table}' must be a table ([{table}])")
        section[key] = value
    try:
        return _validate(data)
    except ValidationError as err:
        key = ".".join(str(p) for p in err.errors()[0]["loc"])
        flag = (flags or {}).get(key)
        if key in given and flag:
            msg = err.errors()[0]["msg"]
            raise InputError(f"{flag} {given[key]!r}: {msg} ('{key}')") from None
        raise InputError(_describe(err, "options" if key in given else source)) from None

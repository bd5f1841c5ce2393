"""The ``livestyle models list|verify|download`` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

from livestyle.errors import InputError
from livestyle.errors import ModelError
from livestyle.models.cachefile import check_verified
from livestyle.models.convert import converted_names, converted_path
from livestyle.models.fetch import candidates, corrupt_message, download_model, how_to_get, resolve, spec_named
from livestyle.models.registry import MODELS, ModelSpec



def _size(path: Path) -> str:
    size = float(path.stat().st_size)
    for unit in ("B", "KB", "MB"):
        if size < 1000 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _select(names: list[str] | None) -> list[ModelSpec]:
    return [spec_named(name) for name in names] if names else list(MODELS.values())


def models_main(action: str, names: list[str] | None = None, out: IO[str] = sys.stdout) -> int:
    """The ``livestyle models list|verify|download [NAME...]`` command.

    * ``list``: a table of name, where the file is (``env dir``, ``package``, ``cache``,
      ``missing (downloadable)`` or ``missing``), size and description. Exit code 0.
    * ``verify``: checks the sha256 of every found file, and of the float conversions in the
      cache against the sha256 recorded when they were written; prints ``OK``, ``FAILED``,
      ``MISSING`` or ``ABSENT`` (missing, but only an optional feature needs it) per file.
      Exit code 1 if any file is corrupt or missing (not absent), else 0.
    * ``download``: fetches each missing (or corrupt cached) model that has an official url,
      even when ``LIVESTYLE_OFFLINE=1``; for the others says how to get them. Exit code 0 if
      every selected model is present and verified at the end (optional ones may be absent),
      else 1.

    ``names`` selects models (default: all).

    Raises:
        InputError: unknown action or model name (one line listing the valid ones).
    """
    actions = ("list", "verify", "download")
    if action not in actions:
        raise InputError(f"unknown models action {action!r}; valid actions: {', '.join(actions)}")
    specs = _select(names)
    if action == "list":
        return _list(specs, out)
    if action == "verify":
        return _verify(specs, out, strict=bool(names))
    return _download_all(specs, out, strict=bool(names))


def _list(specs: list[ModelSpec], out: IO[str]) -> int:
    rows = [("NAME", "LOCATION", "SIZE", "DESCRIPTION")]
    for spec in specs:
        found = candidates(spec)
        if found:
            where, path = found[0]
            rows.append((spec.name, where, _size(path), spec.description))
        else:
            rows.append((spec.name, "missing (downloadable)" if spec.url else "missing", "-", spec.description))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3], file=out)
    return 0


def _verify(specs: list[ModelSpec], out: IO[str], strict: bool = True) -> int:
    """``strict``: a missing optional model fails too (it was named)."""
    code = 0
    width = max(len(spec.name) for spec in specs)
    for spec in specs:
        found = resolve(spec)
        label = spec.name.ljust(width)
        if found.status == "ok":
            print(f"OK       {label}  {found.path}", file=out)
        elif found.status == "corrupt":
            code = 1
            print(f"FAILED   {label}  {found.path}: sha256 {found.actual}, expected {spec.sha256}", file=out)
        elif spec.optional and not strict:
            print(f"ABSENT   {label}  optional; {how_to_get(spec)}", file=out)
        else:
            code = 1
            print(f"MISSING  {label}  {how_to_get(spec)}", file=out)
        if spec.name in converted_names() and _verify_converted(spec.name, label, out) != 0:
            code = 1
    return code


def _verify_converted(name: str, label: str, out: IO[str]) -> int:
    """Check the cached float conversion of ``name`` against its recorded sha256 (nothing to
    say if it was not converted yet: that happens on first use). Returns 1 if it is damaged."""
    path = converted_path(name)
    status, actual, recorded = check_verified(path)
    if status == "ok":
        print(f"OK       {label}  {path} (converted)", file=out)
    elif status == "corrupt":
        what = f"sha256 {actual}, recorded {recorded}" if recorded else "no recorded sha256"
        print(f"FAILED   {label}  {path}: {what}; it is converted again on next use", file=out)
        return 1
    return 0


def _download_all(specs: list[ModelSpec], out: IO[str], strict: bool = True) -> int:
    code = 0
    for spec in specs:
        found = resolve(spec)
        if found.status == "ok":
            print(f"{spec.name}: present ({found.where}: {found.path})", file=out)
            continue
        if found.status == "corrupt" and found.where != "cache":
            assert found.path is not None and found.where is not None and found.actual is not None
            print(corrupt_message(spec, found.where, found.path, found.actual), file=out)
            code = 1
            continue
        if not spec.url:
            print(f"{spec.name}: no download address; {how_to_get(spec)}", file=out)
            code = 1 if strict or not spec.optional else code
            continue
        try:
            path = download_model(spec)
        except ModelError as err:
            print(str(err), file=out)
            code = 1
            continue
        print(f"{spec.name}: downloaded to {path}", file=out)
    return code

"""What a batch will do: the input files (folders expanded), each one's output path under the
output folder, and the hash of the settings the files are restyled with."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from livestyle import __version__
from livestyle.config import Config
from livestyle.errors import InputError
from livestyle.io.sinks import VIDEO_FORMATS
from livestyle.io.sources import IMAGE_EXTENSIONS

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".m4v", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".wmv", ".flv"})
"""Extensions a folder expands to (without ``--pattern``)."""


def _is_media(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def _output_name(relative: Path) -> Path:
    ext = relative.suffix.lower()
    if ext in IMAGE_EXTENSIONS or ext in VIDEO_FORMATS:
        return relative
    return relative.with_suffix(".mp4")


def expand_inputs(inputs: list[str], output_dir: str | os.PathLike[str], pattern: str | None = None) -> list[tuple[Path, Path]]:
    """``(input, output)`` pairs, absolute, in a stable order.

    A file stands for itself (output ``DIR/<its name>``). A folder stands for its videos and
    images (by extension, hidden files and the output folder left out), or for the files that
    match ``pattern`` (a glob relative to the folder, e.g. ``**/*.mp4``); their outputs keep
    the path relative to the folder. Videos in a container the writer cannot produce get
    ``.mp4``.

    Raises:
        InputError: an input does not exist, a folder holds no matching file, two inputs would
            write the same output, or an output would overwrite its input.
    """
    out_dir = Path(output_dir).resolve()
    pairs: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            root = path.resolve()
            found = root.glob(pattern) if pattern else root.iterdir()
            files = sorted(
                p for p in found
                if p.is_file() and (pattern or _is_media(p))
                and not any(part.startswith(".") for part in p.relative_to(root).parts)
                and (out_dir == root or out_dir not in p.parents)
            )  # fmt: skip
            if not files:
                what = f"files matching {pattern!r}" if pattern else "videos or images"
                raise InputError(f"{path}: no {what} in this folder; check the path or --pattern")
            pairs += [(p, out_dir / _output_name(p.relative_to(root))) for p in files]
        elif path.is_file():
            pairs.append((path.resolve(), out_dir / _output_name(Path(path.name))))
        else:
            raise InputError(f"{path}: no such file or folder; check the path")
    seen: dict[Path, Path] = {}
    unique = []
    for src, dst in pairs:
        if dst in seen:
            if seen[dst] == src:
                continue  # the same file given twice
            raise InputError(f"{src} and {seen[dst]} would both write {dst}; give them separately or rename one")
        if dst == src:
            raise InputError(f"{src}: its output {dst} would overwrite it; choose another --output-dir")
        seen[dst] = src
        unique.append((src, dst))
    return unique


def settings_hash(config: Config, max_frames: int | None, extra_files: list[str], strict: bool = False) -> str:
    """16 hex digits identifying what a file's output depends on besides the input: the whole
    config, ``max_frames``, ``strict``, the content of the style/background files it reads
    (``extra_files``) and the livestyle version.

    Raises:
        OSError: an extra file cannot be read.
    """
    from livestyle.models import sha256_file

    data = {
        "config": config.model_dump(mode="json"),
        "max_frames": max_frames,
        "strict": strict,
        "files": {str(Path(p).resolve()): sha256_file(p) for p in extra_files},
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

"""The batch manifest: one JSON line per finished file, in the output folder.

A rerun reads it to skip files already done with the same input content and settings. Each
record is appended, flushed and fsynced as its file finishes, so a batch killed at any moment
loses at most the line it was writing; a torn last line is ignored when reading and the next
record starts on a fresh line. The latest record for an input wins.

Record fields: ``input`` (absolute path), ``sha256`` (of the input file), ``settings`` (hash of
the run settings, :func:`livestyle.app.batch.plan.settings_hash`), ``output``, ``status``
(``done`` or ``failed``), ``seconds`` (wall time of the file), ``frames`` (frames written),
``error`` (one line, or null), ``finished_at`` (UTC, ISO 8601).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

MANIFEST_NAME = "livestyle-batch.jsonl"
DONE = "done"
FAILED = "failed"


@dataclass(frozen=True)
class Record:
    """One finished file (see the module docstring for the fields)."""

    input: str
    sha256: str
    settings: str
    output: str
    status: str
    seconds: float
    frames: int
    error: str | None = None
    finished_at: str = ""


def _records(data: bytes) -> Iterator[Record]:
    for line in data.splitlines():
        try:
            item = json.loads(line)
            yield Record(**{k: item[k] for k in Record.__dataclass_fields__ if k in item})
        except (ValueError, TypeError):  # a torn line from a killed run, or not a record
            continue


class Manifest:
    """The manifest file ``folder / MANIFEST_NAME`` (only one writer at a time: the batch's
    main process).

    Raises (from the constructor):
        OSError: the file exists but cannot be read.
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.path = Path(folder) / MANIFEST_NAME
        self.latest: dict[str, Record] = {}
        if self.path.is_file():
            for record in _records(self.path.read_bytes()):
                self.latest[record.input] = record

    def is_done(self, input_path: str, sha256: str, settings: str) -> bool:
        """True if the latest record for ``input_path`` is ``done`` with this content and
        these settings, and its output file still exists."""
        r = self.latest.get(input_path)
        return (
            r is not None
            and r.status == DONE
            and r.sha256 == sha256
            and r.settings == settings
            and Path(r.output).is_file()
        )

    def append(self, record: Record) -> Record:
        """Write ``record`` as one line (stamped with the time if it has none), durably.

        Raises:
            OSError: the manifest cannot be written.
        """
        if not record.finished_at:
            stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
            record = Record(**{**asdict(record), "finished_at": stamp})
        line = json.dumps(asdict(record), ensure_ascii=False).encode() + b"\n"
        with open(self.path, "a+b") as f:
            if f.tell() > 0:  # a line torn by a killed run: start on a fresh line
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = b"\n" + line
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.latest[record.input] = record
        return record

"""``livestyle batch``: restyle many files with one engine (local processes or Ray), resumably.

The main process plans (inputs, outputs, hashes), skips files the manifest says are done with
the same content and settings, hands the rest to the engine, and records each result in the
manifest as it arrives; a progress bar counts files and frames per second across workers, and
a table sums up at the end.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol, TextIO

from livestyle.app.batch.manifest import DONE, FAILED, MANIFEST_NAME, Manifest, Record
from livestyle.app.batch.plan import expand_inputs, settings_hash
from livestyle.app.batch.task import Task, TaskResult, run_task
from livestyle.config import Config
from livestyle.errors import InputError

SKIPPED = "skipped"


class Engine(Protocol):
    """Runs tasks somewhere and yields their results as they finish."""

    name: str
    threads: int

    def run(self, fn, tasks: list[Task], count_frames: bool = True) -> Iterator[TaskResult | None]:
        """Yield each task's result as it finishes, and None now and then while waiting;
        with ``count_frames``, :meth:`frames_written` follows the workers."""

    def frames_written(self) -> int:
        """Frames written so far by all workers."""


@dataclass
class Row:
    """One input's line in the summary."""

    input: str
    output: str
    status: str  # done, skipped or failed
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass
class BatchReport:
    """What a batch did: a row per input (in input order), and its wall time."""

    rows: list[Row] = field(default_factory=list)
    wall_s: float = 0.0

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def ok(self) -> bool:
        return self.count(FAILED) == 0


def _lock(folder: Path):
    """Hold an exclusive lock on ``folder`` for this batch (POSIX; a no-op elsewhere).

    Raises:
        InputError: another batch holds it.
    """
    try:
        import fcntl
    except ImportError:
        return None
    handle = open(folder / ".livestyle-batch.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise InputError(f"{folder}: another livestyle batch is writing here; wait for it or use another --output-dir") from None
    return handle


def _record(manifest: Manifest, result: TaskResult) -> Record:
    t = result.task
    return manifest.append(Record(
        input=t.input, sha256=t.sha256, settings=t.settings, output=t.output,
        status=DONE if result.ok else FAILED, seconds=round(result.seconds, 3),
        frames=result.frames, error=result.error,
    ))  # fmt: skip


def run_batch(
    inputs: list[str],
    output_dir: str | os.PathLike[str],
    config: Config,
    engine: Engine,
    *,
    max_frames: int | None = None,
    pattern: str | None = None,
    force: bool = False,
    strict: bool = False,
    progress: bool = True,
) -> BatchReport:
    """Restyle every input (files, or folders of videos and images) into ``output_dir``,
    each exactly as ``livestyle run`` would (same frames, atomic outputs; ``strict`` as its
    ``--strict``).

    Files the manifest lists as done with the same input sha256 and settings hash are skipped
    (``force`` runs them again). A file that fails is recorded and the others go on.

    Raises:
        InputError: no inputs, a missing input, clashing outputs, an unusable output folder,
            an unreadable style file, or another batch running in the same folder. (Errors
            that concern every file, such as an unknown style name, fail each file.)
        BackendNotInstalled: the engine's library is missing.
    """
    from livestyle.app.run import style_inputs
    from livestyle.models import sha256_file

    t0 = time.perf_counter()
    out_dir = Path(output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: is not a folder; give a folder for --output-dir")
    pairs = expand_inputs(inputs, out_dir, pattern)
    try:
        settings = settings_hash(config, max_frames, style_inputs(config), strict)
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{err.filename}: {err.strerror}") from None
    lock = _lock(out_dir)
    try:
        manifest = Manifest(out_dir)
        report = BatchReport()
        tasks: list[Task] = []
        for index, (src, dst) in enumerate(pairs):
            row = Row(str(src), str(dst), SKIPPED)
            report.rows.append(row)
            try:
                digest = sha256_file(src)
            except OSError as err:
                row.status, row.error = FAILED, f"{src}: cannot read ({err.strerror}); check its permissions"
                manifest.append(Record(str(src), "", settings, str(dst), FAILED, 0.0, 0, row.error))
                continue
            if not force and manifest.is_done(str(src), digest, settings):
                done = manifest.latest[str(src)]
                row.frames, row.seconds = done.frames, done.seconds
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            tasks.append(Task(index, str(src), str(dst), digest, settings, max_frames, strict))
        _run_tasks(engine, config, tasks, manifest, report, progress)
    finally:
        if lock is not None:
            lock.close()
    report.wall_s = time.perf_counter() - t0
    return report


def _run_tasks(engine: Engine, config: Config, tasks: list[Task], manifest: Manifest, report: BatchReport, progress: bool) -> None:
    if not tasks:
        return
    from tqdm import tqdm

    fn = functools.partial(run_task, config=config, threads=engine.threads)
    t0 = time.perf_counter()
    with tqdm(total=len(tasks), unit="file", desc=f"batch ({engine.name})", disable=not progress) as bar:
        for result in engine.run(fn, tasks, count_frames=progress):
            if result is not None:
                record = _record(manifest, result)
                row = report.rows[result.task.index]
                row.status, row.frames, row.seconds, row.error = record.status, record.frames, record.seconds, record.error
                row.warnings = result.warnings
                bar.update(1)
            if progress:
                frames = engine.frames_written()
                bar.set_postfix_str(f"{frames} frames, {frames / max(time.perf_counter() - t0, 1e-9):.1f} frames/s", refresh=True)


def _short(path: str) -> str:
    """``path`` relative to the current folder if it is inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path
    return path if relative.startswith("..") else relative


def print_summary(report: BatchReport, manifest_path: Path, out: TextIO = sys.stdout) -> None:
    """A table: status, frames, seconds, input, error; then the totals."""
    print(f"{'status':<8} {'frames':>6} {'seconds':>8}  input", file=out)
    for r in report.rows:
        line = f"{r.status:<8} {r.frames:>6} {r.seconds:>8.1f}  {_short(r.input)}"
        notes = ([r.error] if r.error else []) + [f"warning: {w}" for w in r.warnings]
        print(line + (f"  ({'; '.join(notes)})" if notes else ""), file=out)
    ran = [r for r in report.rows if r.status != SKIPPED]
    frames = sum(r.frames for r in ran)
    print(
        f"{report.count(DONE)} done, {report.count(SKIPPED)} skipped, {report.count(FAILED)} failed; "
        f"{frames} frames in {report.wall_s:.1f} s ({frames / max(report.wall_s, 1e-9):.1f} frames/s); "
        f"manifest {_short(str(manifest_path))}",
        file=out,
    )


def make_engine(args) -> Engine:
    """The engine the CLI flags ask for: Ray with ``--ray`` or ``--ray-address``, else local.

    Raises:
        InputError: ``--workers`` or ``--cpus-per-task`` below 1.
        BackendNotInstalled: ``--ray`` without Ray installed.
    """
    for flag, value in (("--workers", args.workers), ("--cpus-per-task", args.cpus_per_task)):
        if value is not None and value < 1:
            raise InputError(f"{flag} {value}: must be at least 1")
    if args.ray or args.ray_address:
        if args.workers is not None:
            raise InputError("--workers is for the local engine; with --ray, Ray runs as many files at once as "
                             "its CPUs allow (--cpus-per-task each)")
        from livestyle.app.batch.ray_engine import RayEngine

        return RayEngine(args.ray_address, args.cpus_per_task or 2)
    from livestyle.app.batch.local import LocalEngine

    return LocalEngine(args.workers, args.cpus_per_task)


def batch_main(args, config: Config) -> int:
    """``livestyle batch``: 0 when every file is done (or skipped), 1 when some failed.

    Raises:
        InputError, BackendNotInstalled: see :func:`run_batch` and :func:`make_engine`.
    """
    engine = make_engine(args)
    try:
        report = run_batch(
            args.inputs, args.output_dir, config, engine,
            max_frames=args.frames, pattern=args.pattern, force=args.force, strict=args.strict,
            progress=not args.no_progress,
        )  # fmt: skip
    except KeyboardInterrupt:
        print(f"livestyle: interrupted; finished files are kept and listed in {Path(args.output_dir) / MANIFEST_NAME}; "
              "run the same command again to resume", file=sys.stderr)
        return 130
    print_summary(report, Path(args.output_dir) / MANIFEST_NAME)
    return 0 if report.ok else 1

"""The Ray batch engine: one Ray task per file, on a local Ray instance or a cluster.

Each task asks Ray for ``cpus_per_task`` CPUs and caps its numeric threads to match. A task
whose worker process or node dies is retried by Ray (``max_retries``); errors inside the file
come back as failed results and are not retried. Ray is the optional extra ``livestyle[ray]``.
See https://docs.ray.io/en/latest/ray-core/tasks.html.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from livestyle.app.batch.task import Task, TaskResult, set_frame_counter
from livestyle.errors import BackendNotInstalled, InputError

MAX_RETRIES = 3
"""Ray's own default for tasks whose worker dies."""


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BackendNotInstalled("--ray needs Ray: pip install 'livestyle[ray]'") from None
    return ray


TICK_S = 0.5
"""How often :meth:`RayEngine.run` yields None while waiting (to refresh a progress bar)."""


class _Counter:
    """An actor adding up the frames all tasks write (for the progress bar)."""

    def __init__(self):
        self.frames = 0

    def add(self, frames: int) -> None:
        self.frames += frames

    def get(self) -> int:
        return self.frames


class _ActorCounter:
    """A :class:`~livestyle.app.batch.task.FrameCounter` that sends to a ``_Counter`` actor
    without waiting."""

    def __init__(self, actor):
        self.actor = actor

    def add(self, frames: int) -> None:
        self.actor.add.remote(frames)


def _run_in_ray(fn: Callable[[Task], TaskResult], task: Task, counter) -> TaskResult:
    set_frame_counter(_ActorCounter(counter) if counter is not None else None)
    return fn(task)


class RayEngine:
    """Runs tasks as Ray tasks.

    Args:
        address: a running cluster's address (``auto``: the one ``ray start`` left on this
            machine, ``host:port``, or ``ray://host:10001``); None starts a new local Ray
            instance for the batch (unless the process already called ``ray.init``).
        cpus_per_task: CPUs each file asks for (its threads are capped to this).

    Raises (from :meth:`run`):
        BackendNotInstalled: Ray is not installed.
        InputError: no Ray cluster at ``address``.
    """

    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_task: int = 2):
        self.address = address
        self.cpus_per_task = cpus_per_task
        self.threads = cpus_per_task
        self.ray = _import_ray()
        self._counter = None
        self._frames = 0

    def frames_written(self) -> int:
        """Frames written so far by all tasks of the current run (as last reported)."""
        if self._counter is not None:
            try:
                self._frames = self.ray.get(self._counter.get.remote(), timeout=TICK_S)
            except self.ray.exceptions.GetTimeoutError:
                pass
        return self._frames

    def _connect(self) -> bool:
        """Connect (or start a local instance); True if this engine must shut it down."""
        ray = self.ray
        if ray.is_initialized():
            return False
        import logging

        try:
            # "local": a new instance, even when a cluster runs on this machine
            ray.init(address=self.address or "local", logging_level=logging.WARNING, log_to_driver=False)
        except ConnectionError as err:
            raise InputError(f"--ray-address {self.address}: no Ray cluster there ({err}); start one with 'ray start --head'") from None
        return True

    def run(self, fn: Callable[[Task], TaskResult], tasks: Iterable[Task], count_frames: bool = True) -> Iterator[TaskResult | None]:
        """Submit every task, then yield results as they finish, and None every TICK_S seconds
        between them. A task Ray gave up on (its worker died more than ``MAX_RETRIES`` times)
        yields a failed result. ``count_frames``: keep :meth:`frames_written` up to date (an
        extra actor process)."""
        ray = self.ray
        owned = self._connect()
        waiting: list = []
        try:
            remote = ray.remote(_run_in_ray).options(num_cpus=self.cpus_per_task, max_retries=MAX_RETRIES)
            self._frames = 0
            self._counter = ray.remote(num_cpus=0)(_Counter).remote() if count_frames else None
            fn_ref = ray.put(fn)
            refs = {remote.remote(fn_ref, task, self._counter): task for task in tasks}
            waiting = list(refs)
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1, timeout=TICK_S)
                if not done:
                    yield None
                    continue
                task = refs[done[0]]
                try:
                    yield ray.get(done[0])
                except ray.exceptions.RayError as err:
                    reason = " ".join(str(err).split())[:300]
                    yield TaskResult(task, False, 0.0, error=f"Ray task failed after {MAX_RETRIES} retries: {reason}")
        finally:
            for ref in waiting:  # interrupted: stop the rest (a cancelled file writes nothing)
                ray.cancel(ref)
            if self._counter is not None:
                self.frames_written()
                ray.kill(self._counter)
                self._counter = None
            if owned:
                ray.shutdown()

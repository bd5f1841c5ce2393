"""Task functions for the local engine's tests, in a module of their own so the spawned worker
processes import only this (fast) and not the whole test module."""

from __future__ import annotations

import os
import signal

from livestyle.app.batch.task import Task, TaskResult


def dies_first_time(task: Task) -> TaskResult:
    """Kills its worker on task 0's first attempt; ``frames`` tells the attempt that succeeded."""
    if task.index == 0 and task.attempt == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return TaskResult(task, True, 0.0, frames=task.attempt)


def always_dies(task: Task) -> TaskResult:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def dies_unless_marked(task: Task) -> TaskResult:
    """Kills its worker the first time (when the file ``task.input`` does not exist yet)."""
    if not os.path.exists(task.input):
        open(task.input, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return TaskResult(task, True, 0.0, frames=1)

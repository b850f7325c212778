"""What approval sets in motion, per right, and how one system's task is (re)started.

- A *starter* (`@starter(Right.X)`) runs inside the approving transaction: it writes the
  SystemTask rows and defers their jobs through the outbox, so approval and the work it starts
  commit together. A right without a starter is handled by staff by hand (the case stays in
  progress until they complete it).
- A *task runner* (`@task_runner(TaskAction.X, "job_name")`) names the job that works one
  SystemTask of that action; `retry_task` uses it to start a failed system again from where it
  stopped ("retry this system" on the case page).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

from sqlalchemy import orm

from dsr.jobs import defer
from dsr.models import Right, SubjectRequest, SystemTask, TaskAction, TaskState

# Modules that register starters and task runners when imported (each area adds its own).
STARTER_MODULES: tuple[str, ...] = ("dsr.export.tasks",)

Starter = Callable[[orm.Session, SubjectRequest], None]
_STARTERS: dict[Right, Starter] = {}
_TASK_JOBS: dict[TaskAction, str] = {}
_loaded = False


class TaskNotRetryable(ValueError):
    """The task is not in a state from which it can be started again (the message says why)."""


def starter(*rights: Right) -> Callable[[Starter], Starter]:
    def register(function: Starter) -> Starter:
        for right in rights:
            _STARTERS[right] = function
        return function

    return register


def task_runner(action: TaskAction, job_name: str) -> None:
    """Declare that `job_name(task_id)` works SystemTasks of `action`."""
    _TASK_JOBS[action] = job_name


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in STARTER_MODULES:
            importlib.import_module(module)
        _loaded = True


def start_fulfilment(session: orm.Session, request: SubjectRequest) -> bool:
    """Start the automated part of answering `request`; False when staff handle it by hand."""
    _load()
    start = _STARTERS.get(request.right)
    if start is None:
        return False
    start(session, request)
    return True


def retry_task(session: orm.Session, task: SystemTask) -> None:
    """Put a failed task back to pending and defer its job again (in the caller's transaction)."""
    _load()
    if task.state is not TaskState.FAILED:
        raise TaskNotRetryable(f"only a failed system can be retried; this one is {task.state.value}")
    job_name = _TASK_JOBS.get(task.action)
    if job_name is None:
        raise TaskNotRetryable(f"no job carries out {task.action.value} tasks")
    task.state = TaskState.PENDING
    task.last_error = None
    defer(session, job_name, task.id, request_id=task.request_id)

"""What approval sets in motion, per right, and which job works each kind of task.

- A *starter* (`@starter(Right.X)`) runs inside the approving transaction (or the verifying one, for
  the rights that take effect at once): it writes the SystemTask rows and defers their jobs through
  the outbox, so the decision and the work it starts commit together.
- A *task kind* (`register_kind(TaskAction.X, job)`) names the job that works one SystemTask of that
  action; `retry_task` uses it to start a failed system again from where it stopped ("retry this
  system" on the case page), after the kind's `before_retry` had its say.

The export and the actions register themselves when imported (the app factory imports them).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import orm

from dsr.models import Right, SubjectRequest, SystemTask, TaskAction
from dsr.queue import defer
from dsr.tasks.states import TASK_STATES, TaskEvent

Starter = Callable[[orm.Session, SubjectRequest], None]
#: (session, case, task, staff id) -> a sentence for staff about what the retry changed, or ""
BeforeRetry = Callable[[orm.Session, SubjectRequest, SystemTask, int], str]


@dataclass(frozen=True)
class TaskKind:
    action: TaskAction
    job: Callable  # a @job taking the task id
    before_retry: BeforeRetry | None = None


_STARTERS: dict[Right, Starter] = {}
_ON_OPENING: dict[Right, list[Starter]] = {}
_KINDS: dict[TaskAction, TaskKind] = {}


class TaskNotRetryable(ValueError):
    """The task is not in a state from which it can be started again (the message says why)."""


def starter(*rights: Right) -> Callable[[Starter], Starter]:
    def register(function: Starter) -> Starter:
        for right in rights:
            _STARTERS[right] = function
        return function

    return register


def on_opening(*rights: Right) -> Callable[[Starter], Starter]:
    """Work that starts when a case of these rights opens (identity proven), before any decision."""
    def register(function: Starter) -> Starter:
        for right in rights:
            _ON_OPENING.setdefault(right, []).append(function)
        return function

    return register


def start_opening_work(session: orm.Session, request: SubjectRequest) -> None:
    for start in _ON_OPENING.get(request.right, []):
        start(session, request)


def register_kind(action: TaskAction, job: Callable, *, before_retry: BeforeRetry | None = None) -> None:
    _KINDS[action] = TaskKind(action, job, before_retry)


def kind_of(action: TaskAction) -> TaskKind | None:
    return _KINDS.get(action)


def start_work(session: orm.Session, request: SubjectRequest) -> bool:
    """Start the automated part of answering `request`; False when staff handle it by hand."""
    start = _STARTERS.get(request.right)
    if start is None:
        return False
    start(session, request)
    return True


def retry_task(session: orm.Session, request: SubjectRequest, task: SystemTask, staff_id: int) -> str:
    """Put a failed task back to pending and defer its job again (in the caller's transaction).
    Returns what the kind's `before_retry` said it changed ("" when nothing)."""
    kind = _KINDS.get(task.action)
    if kind is None:
        raise TaskNotRetryable(f"no job carries out {task.action.value} tasks")
    if TaskEvent.RESTART not in TASK_STATES.allowed(task.state):
        raise TaskNotRetryable(f"only a failed system can be retried; this one is {task.state.value}")
    said = kind.before_retry(session, request, task, staff_id) if kind.before_retry else ""
    task.state = TASK_STATES.target(task.state, TaskEvent.RESTART)
    task.last_error = None
    defer(session, kind.job, task.id, request_id=task.request_id)
    return said

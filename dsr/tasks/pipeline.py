"""Running one SystemTask: the skeleton every kind shares (export, erase, rectify, ...).

`run_task` loads the task, refuses what is gone or no longer wanted, claims it with a lease, hands
a manual system to a person, runs the kind's work under the lease, and ends the attempt: done (by
compare-and-set on our attempt number), retried (RetryLater: the failure is kept and the outbox
schedules the next attempt) or failed on the last attempt. The kind's work only does its own part.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.connectors.base import ConnectorError, SubjectRef
from dsr.connectors.registry import System, get_systems, subject_identity
from dsr.db import utcnow
from dsr.models import RequestStatus, SubjectRequest, SystemTask, TaskAction, TaskState
from dsr.queue import Lease, LeaseLost, RetryLater
from dsr.queue.lease import take
from dsr.tasks.states import FINISHED, TASK_STATES, TaskEvent

log = logging.getLogger(__name__)

#: days a person has for a task a system cannot do by itself (a manual system declares its own)
BY_HAND_DAYS = 5


class TaskRun(StrEnum):
    """What one run of a task's job did (returned by the job: logs and tests)."""

    DONE = "done"
    PLANNED = "planned"  # an action's plan waits for an officer
    FAILED = "failed"
    SKIPPED = "skipped"  # the case closed before the task ran
    GONE = "gone"  # no such task (of this kind)
    NOT_CLAIMED = "not-claimed"  # another job has it, or it is not pending
    SUPERSEDED = "superseded"  # our lease lapsed and another worker took over
    WAITING_FOR_STAFF = "waiting-for-staff"


@dataclass
class Outcome:
    """What the kind's work produced: the task's end state and what it stores on the task."""

    result: dict[str, Any]
    records: int = 0
    event: TaskEvent = TaskEvent.FINISH
    audit: dict[str, Any] = field(default_factory=dict)  # counts and hashes only, never values
    columns: dict[str, Any] = field(default_factory=dict)  # more of the task's columns to set with its end


class TaskWork(Protocol):
    """The kind's part of one attempt. `run` may renew the lease (progress); `abort` removes anything
    half-written after a failure; `after_finish` runs in the same transaction as the task's end."""

    def run(self) -> Outcome: ...

    def abort(self) -> None: ...

    def after_finish(self, session: orm.Session) -> None: ...


@dataclass
class Attempt:
    """One claimed attempt of a task: what a kind's work is given."""

    session: orm.Session
    task: SystemTask
    system: System
    request: SubjectRequest
    number: int
    lease: Lease
    #: what a failed attempt leaves on the task for the next one (e.g. the located subject's ref)
    keep: dict[str, Any] = field(default_factory=dict)

    def progress(self, records: int, **values: Any) -> None:
        """Records so far on the case page; renews the lease (raises LeaseLost if it was taken over)."""
        self.lease.renew_due(records=records, **values)


def lease_seconds() -> float:
    return float(current_app.config["EXPORT_LEASE_SECONDS"])


def _as_set(action: TaskAction | frozenset[TaskAction]) -> frozenset[TaskAction]:
    return action if isinstance(action, frozenset) else frozenset({action})


def claim(session: orm.Session, task_id: int, action: TaskAction | frozenset[TaskAction]) -> int | None:
    """Take the task (pending, or running under a lapsed lease); our attempt number, or None. Commits."""
    now = utcnow()
    return take(session, SystemTask, task_id, lease_seconds(), returning=SystemTask.attempts, when=(
        SystemTask.action.in_(list(_as_set(action))), SystemTask.state.in_(TASK_STATES.sources(TaskEvent.CLAIM)),
        sa.or_(SystemTask.state == TaskState.PENDING, SystemTask.lease_until < now)),
        values={"state": TaskState.RUNNING, "attempts": SystemTask.attempts + 1,
                "started_at": sa.func.coalesce(SystemTask.started_at, now), "last_error": None})


def task_lease(session: orm.Session, task_id: int, attempt: int) -> Lease:
    return Lease(session, SystemTask, task_id, lease_seconds(),
                 guard=(SystemTask.attempts == attempt, SystemTask.state == TaskState.RUNNING))


def subject_ref(task: SystemTask, system: System, request: SubjectRequest) -> SubjectRef:
    """The ref an earlier attempt (or the intake lookup) stored; otherwise locate now.

    Only the verified e-mail is used, and the phone only when staff vouched for the subject
    (`SubjectRequest.lookup_phone`): a phone typed on the web form is never a key to anyone's data. An
    identifier the form asked for because a system needs it (a Google Analytics client id) goes to
    that system only.
    """
    stored = (task.result or {}).get("ref")
    if stored:
        return SubjectRef.from_json(stored)
    identity = subject_identity(request.email, request.details, phone=request.lookup_phone)
    return system.connector.locate(identity)


def staff_message(exc: Exception, system_key: str, doing: str) -> str:
    """What staff read about a failed attempt: our own words or the connector's (no personal data)."""
    if isinstance(exc, ConnectorError):
        return str(exc)[:500]
    if "Timeout" in type(exc).__name__:
        return f"system {system_key} took longer than the job timeout"
    return f"internal error while {doing} system {system_key} ({type(exc).__name__})"


def lock_request(session: orm.Session, request_id: int) -> None:
    """Serialise the tasks of one case finishing at once, so exactly one of them sees all done."""
    session.execute(sa.select(SubjectRequest.id).where(SubjectRequest.id == request_id).with_for_update())


def tasks_of(session: orm.Session, request_id: int, action: TaskAction) -> list[SystemTask]:
    """The case's tasks of one action, in systems.toml order, fresh from the database."""
    order = {key: index for index, key in enumerate(get_systems(current_app))}
    # populate_existing: tasks this session already holds are refreshed (their end was an UPDATE statement).
    tasks = session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request_id,
                                                        SystemTask.action == action)
                            .execution_options(populate_existing=True)).all()
    return sorted(tasks, key=lambda t: (order.get(t.system_key, len(order)), t.system_key))


def all_finished(session: orm.Session, request_id: int, action: TaskAction) -> bool:
    states = session.scalars(sa.select(SystemTask.state).where(SystemTask.request_id == request_id,
                                                               SystemTask.action == action)).all()
    return bool(states) and all(state in FINISHED for state in states)


def manual_due_on(system: System, request: SubjectRequest):
    """A manual system's own due date: its due_days from today, never after the case's legal deadline."""
    timezone = ZoneInfo(current_app.extensions["dsr.controller"].timezone)
    # A manual system declares its days; a system that cannot do this action by itself gets the default.
    due = utcnow().astimezone(timezone).date() + timedelta(days=getattr(system.connector, "due_days", BY_HAND_DAYS))
    return min(due, request.deadline_on) if request.deadline_on is not None else due


def _in_progress(request: SubjectRequest, task: SystemTask) -> bool:
    return request.status is RequestStatus.IN_PROGRESS


def _manual_system(attempt: Attempt) -> bool:
    return bool(getattr(attempt.system.connector, "needs_person", False))


def run_task(session: orm.Session, task_id: int, *, action: TaskAction | frozenset[TaskAction], audit_prefix: str,
             doing: str, work: Callable[[Attempt], TaskWork], final_attempt: bool,
             wanted: Callable[[SubjectRequest, SystemTask], bool] = _in_progress,
             to_staff: Callable[[Attempt], dict[str, Any]] | None = None,
             by_hand: Callable[[Attempt], bool] = _manual_system) -> TaskRun:
    """The body of a task's job (see the module docstring). `wanted` says whether the case still wants
    the work; `by_hand` whether a person does it here (a manual system, by default), and `to_staff`
    what the task then stores for them (default: nothing)."""
    task = session.get(SystemTask, task_id)
    if task is None or task.action not in _as_set(action):
        return TaskRun.GONE
    system = get_systems(current_app).get(task.system_key)
    if system is None:
        TASK_STATES.move(session, task_id, TaskEvent.FAIL, where=(SystemTask.state == TaskState.PENDING,),
                         last_error="this system is no longer declared")
        return TaskRun.FAILED
    request = session.get(SubjectRequest, task.request_id)
    if not wanted(request, task):
        # Withdrawn (or otherwise closed) while queued: nothing more is done about the subject.
        skipped = TASK_STATES.move(session, task_id, TaskEvent.SKIP, where=(SystemTask.state == TaskState.PENDING,),
                                   last_error="the case is no longer in progress")
        return TaskRun.SKIPPED if skipped else TaskRun.NOT_CLAIMED
    number = claim(session, task_id, task.action)
    if number is None:
        return TaskRun.NOT_CLAIMED
    session.refresh(task)
    attempt = Attempt(session, task, system, request, number, task_lease(session, task_id, number))
    if by_hand(attempt):
        return _hand_to_staff(attempt, audit_prefix, to_staff(attempt) if to_staff else {})
    doer = work(attempt)
    try:
        outcome = doer.run()
    except LeaseLost:
        doer.abort()
        session.rollback()
        return TaskRun.SUPERSEDED
    except Exception as exc:  # noqa: BLE001 (any failure must release the task and be recorded)
        doer.abort()
        session.rollback()
        return _failed(attempt, exc, audit_prefix, doing, final_attempt)
    finally:
        system.connector.close()

    lock_request(session, request.id)
    values: dict[str, Any] = {"records": outcome.records, "lease_until": None, "last_error": None,
                              "result": {**outcome.result, "attempt": number}, **outcome.columns}
    if outcome.event is TaskEvent.FINISH:
        values["finished_at"] = utcnow()
    if not TASK_STATES.move(session, task_id, outcome.event, where=(SystemTask.attempts == number,), **values):
        session.rollback()
        doer.abort()
        return TaskRun.SUPERSEDED
    session.refresh(task)
    record(session, f"{audit_prefix}.system_{'done' if outcome.event is TaskEvent.FINISH else outcome.event.value}",
           actor_type="system", request_id=request.id, system=task.system_key, **outcome.audit)
    doer.after_finish(session)
    return TaskRun.DONE if outcome.event is TaskEvent.FINISH else TaskRun.PLANNED


def _failed(attempt: Attempt, exc: Exception, audit_prefix: str, doing: str, final_attempt: bool) -> TaskRun:
    """Record a failed attempt: pending for the retry (raises RetryLater), or failed on the last one.
    A located subject is kept on the task, so the next attempt skips the lookup."""
    session, task = attempt.session, attempt.task
    final = final_attempt or (isinstance(exc, ConnectorError) and not exc.retryable)
    message = staff_message(exc, task.system_key, doing)
    kept = {"result": {**(task.result or {}), **attempt.keep}} if attempt.keep else {}
    TASK_STATES.move(session, task.id, TaskEvent.FAIL if final else TaskEvent.RETRY,
                     where=(SystemTask.attempts == attempt.number,), last_error=message, lease_until=None, **kept)
    record(session, f"{audit_prefix}.system_failed" if final else f"{audit_prefix}.system_retrying",
           actor_type="system", request_id=task.request_id, system=task.system_key, attempt=attempt.number)
    log.warning("%s task %s attempt %s: %s", audit_prefix, task.id, attempt.number, type(exc).__name__)
    if final:
        return TaskRun.FAILED
    raise RetryLater(message) from None


def _hand_to_staff(attempt: Attempt, audit_prefix: str, stored: dict[str, Any]) -> TaskRun:
    task = attempt.task
    due_on = manual_due_on(attempt.system, attempt.request)
    TASK_STATES.move(attempt.session, task.id, TaskEvent.HAND_TO_STAFF, where=(SystemTask.attempts == attempt.number,),
                     lease_until=None, due_on=due_on, result={**(task.result or {}), **stored})
    attempt.session.refresh(task)
    record(attempt.session, f"{audit_prefix}.waiting_for_staff", actor_type="system", request_id=task.request_id,
           system=task.system_key, due_on=due_on.isoformat())
    return TaskRun.WAITING_FOR_STAFF

"""What starts the actions: approval of an erasure, rectification or restriction; verification of an
objection to direct marketing or a withdrawn consent (they take effect at once); the opening of a
rectification or another objection, which restricts processing meanwhile; an upheld objection.

One task per system that may hold the subject: the intake lookup's finds (their refs go on the tasks,
frozen), systems whose lookup failed (the task locates), and manual systems (a person searches).
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.actions.completion import complete_if_done
from dsr.actions.kinds import STOP_BASIS, restricts_by_itself, wanted_processing
from dsr.audit.service import record
from dsr.cases.opening import DIRECT_MARKETING
from dsr.connectors.registry import System, get_systems
from dsr.models import Right, SubjectLocation, SubjectRequest, SystemTask, TaskAction, TaskState
from dsr.queue import defer
from dsr.tasks.registry import kind_of, on_opening, starter


def write_tasks(session: orm.Session, request: SubjectRequest, action: TaskAction,
                only: set[str] | None = None) -> list[SystemTask]:
    """One task of `action` per system that may hold the subject (or per system in `only`), in the
    caller's transaction, each with its job deferred. Systems that already have one keep it."""
    from_lookup = {row.system_key: row for row in session.scalars(
        sa.select(SubjectLocation).where(SubjectLocation.request_id == request.id))}
    existing = set(session.scalars(sa.select(SystemTask.system_key).where(
        SystemTask.request_id == request.id, SystemTask.action == action)))
    written = []
    for key, system in get_systems(current_app).items():
        if key in existing or (only is not None and key not in only) or \
                (only is None and not _may_hold(system, from_lookup.get(key), request)):
            continue
        if action in STOP_BASIS and not wanted_processing(system, action, request):
            continue
        location = from_lookup.get(key)
        ref = location.ref if location is not None and location.found and location.ref else None
        task = SystemTask(request_id=request.id, system_key=key, action=action, state=TaskState.PENDING,
                          result={"ref": ref} if ref else {})
        session.add(task)
        session.flush()
        defer(session, kind_of(action).job, task.id, request_id=request.id)
        written.append(task)
    record(session, "actions.started", actor_type="system", request_id=request.id, kind=action.value,
           systems=len(written))
    return written


def _may_hold(system: System, location: SubjectLocation | None, request: SubjectRequest) -> bool:
    if getattr(system.connector, "needs_person", False):
        return True  # only a person can tell
    if request.lookup_done_at is None or location is None:
        return True  # never asked (a request registered by staff): the task locates
    return location.found or location.error is not None


@starter(Right.ERASURE)
def start_erasure(session: orm.Session, request: SubjectRequest) -> None:
    write_tasks(session, request, TaskAction.ERASE)
    _nothing_to_do(session, request)


@starter(Right.RECTIFICATION)
def start_rectification(session: orm.Session, request: SubjectRequest) -> None:
    write_tasks(session, request, TaskAction.RECTIFY)
    _nothing_to_do(session, request)


@starter(Right.RESTRICTION)
def start_restriction(session: orm.Session, request: SubjectRequest) -> None:
    write_tasks(session, request, TaskAction.RESTRICT)
    _nothing_to_do(session, request)


@starter(Right.WITHDRAW_CONSENT)
def start_withdrawal(session: orm.Session, request: SubjectRequest) -> None:
    write_tasks(session, request, TaskAction.WITHDRAW_CONSENT)
    _nothing_to_do(session, request)


@starter(Right.OBJECTION)
def start_objection(session: orm.Session, request: SubjectRequest) -> None:
    """Direct marketing stops at once; another objection waits for the officer's balancing (the
    restriction meanwhile started when the case opened)."""
    if (request.details or {}).get("processing") == DIRECT_MARKETING:
        write_tasks(session, request, TaskAction.OBJECT)
        _nothing_to_do(session, request)


@on_opening(Right.RECTIFICATION, Right.OBJECTION)
def restrict_meanwhile(session: orm.Session, request: SubjectRequest) -> None:
    if restricts_by_itself(request):
        write_tasks(session, request, TaskAction.RESTRICT)


def _nothing_to_do(session: orm.Session, request: SubjectRequest) -> None:
    """No system may hold the subject: the case is answered now, with a letter saying so."""
    complete_if_done(session, request)

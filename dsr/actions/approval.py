"""Staff decisions on the action tasks: approve the stored plans (with the corrected values of a
rectification, and a paragraph for the outcome letter), confirm what a person did by hand.

Approving an erasure's plan needs a login proven in the last minutes (the view checks it) and, with
DSR_ERASURE_FOUR_EYES, a second officer: the first approval is recorded as a proposal. Services flush;
the view commits."""
from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.actions.completion import after_task
from dsr.actions.kinds import ACTIONS
from dsr.audit.service import record
from dsr.cases.labels import label
from dsr.connectors.registry import get_systems
from dsr.db import utcnow
from dsr.models import Right, StaffUser, SubjectRequest, SystemTask, TaskAction, TaskState
from dsr.queue import defer
from dsr.tasks.registry import kind_of
from dsr.tasks.states import TASK_STATES, TaskEvent

MAX_NOTE = 2000


class ApprovalError(ValueError):
    """The plans cannot be approved as asked (the message says why, for staff)."""


def plans_waiting(session: orm.Session, request: SubjectRequest) -> list[SystemTask]:
    return list(session.scalars(sa.select(SystemTask).where(
        SystemTask.request_id == request.id, SystemTask.state == TaskState.AWAITING_APPROVAL)
        .order_by(SystemTask.id)))


def approve_plans(session: orm.Session, request: SubjectRequest, *, actor: StaffUser,
                  values: Mapping[int, Mapping[str, Mapping[str, str]]], note: str, four_eyes: bool,
                  statement: str = "") -> str:
    """Approve every waiting plan of the case and queue its apply. `values`: per rectification task id,
    {collection: {field: new value}} (blank values are left out); `statement`: a rectification's
    supplementary statement (Art. 16, incomplete data). Returns "applied" or "proposed" (four-eyes
    erasure: a second officer must approve)."""
    tasks = plans_waiting(session, request)
    if not tasks:
        raise ApprovalError(_("no plan is waiting for approval on this case"))
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ApprovalError(_("the paragraph for the letter is too long (%(length)d characters; at most %(most)d)",
                              length=len(note), most=MAX_NOTE))
    statement = (statement or "").strip()
    if statement and request.right is not Right.RECTIFICATION:
        raise ApprovalError(_("a supplementary statement completes data in a rectification only"))
    if len(statement) > MAX_NOTE:
        raise ApprovalError(_("the supplementary statement is too long (%(length)d characters; at most %(most)d)",
                              length=len(statement), most=MAX_NOTE))
    for task in tasks:
        if task.action is TaskAction.RECTIFY:
            task.result = {**(task.result or {}), "values": _checked_values(task, values.get(task.id, {}))}
    erasing = [task for task in tasks if task.action is TaskAction.ERASE]
    if four_eyes and erasing:
        proposed = {task.plan_proposed_by_id for task in erasing}
        if proposed == {None}:
            for task in erasing:
                task.plan_proposed_by_id = actor.id
            record(session, "plan.proposed", actor_type="staff", actor_id=actor.id, request_id=request.id,
                   tasks=len(erasing))
            session.flush()
            return "proposed"
        if actor.id in proposed:
            record(session, "plan.approval_refused", actor_type="staff", actor_id=actor.id, request_id=request.id,
                   reason="four_eyes")
            session.flush()
            raise ApprovalError(_("an erasure needs a second officer: you proposed these plans, so someone else "
                                  "must approve them"))
    if note:
        request.outcome_note = note
    if statement:
        request.supplementary_statement = statement
        record(session, "rectification.statement_recorded", actor_type="staff", actor_id=actor.id,
               request_id=request.id, characters=len(statement))
    now = utcnow()
    for task in tasks:
        TASK_STATES.move(session, task.id, TaskEvent.APPROVE_PLAN, plan_approved_at=now, plan_approved_by_id=actor.id)
        defer(session, kind_of(task.action).job, task.id, request_id=request.id)
    record(session, "plan.approved", actor_type="staff", actor_id=actor.id, request_id=request.id,
           tasks=len(tasks))
    session.flush()
    return "applied"


def _checked_values(task: SystemTask, given: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    allowed = (task.result or {}).get("rectifiable") or {}
    checked: dict[str, dict[str, str]] = {}
    for collection, fields in given.items():
        for name, value in fields.items():
            value = (value or "").strip()
            if not value:
                continue
            if name not in allowed.get(collection, []):
                raise ApprovalError(_("%(field)s may not be corrected in system %(system)s", field=collection + "." + name,
                                      system=task.system_key))
            if len(value) > 500:
                raise ApprovalError(_("the new value of %(field)s is too long (at most 500 characters)",
                                      field=collection + "." + name))
            checked.setdefault(collection, {})[name] = value
    return checked


def confirm_by_hand(session: orm.Session, request: SubjectRequest, task: SystemTask, *, actor: StaffUser,
                    note: str) -> SystemTask:
    """A person did the task's checklist in a system that cannot do it by itself."""
    if task.action not in ACTIONS or task.request_id != request.id:
        raise ApprovalError(_("no such task on this case"))
    if task.state is not TaskState.WAITING_FOR_STAFF:
        raise ApprovalError(_("this task is %(state)s, not waiting for staff", state=label(task.state)))
    note = (note or "").strip()
    if not note:
        raise ApprovalError(_("say what you did (and what you kept, and why)"))
    if len(note) > MAX_NOTE:
        raise ApprovalError(_("the note is too long (%(length)d characters; at most %(most)d)", length=len(note),
                              most=MAX_NOTE))
    task.state = TASK_STATES.target(task.state, TaskEvent.STAFF_DONE)
    task.finished_at = utcnow()
    task.result = {**(task.result or {}), "done_by": actor.id, "note": note}
    record(session, "actions.done_by_hand", actor_type="staff", actor_id=actor.id, request_id=request.id,
           task_id=task.id, system=task.system_key)
    session.flush()
    after_task(session, task, request, get_systems(current_app).get(task.system_key))
    return task

"""What follows one action task, and the end of the case.

After a task: the recipients of the system's data are told (Art. 19), what a hold kept gets a follow-up
erasure on the day its hold ends (a due outbox row; the follow-up reschedules itself while anything is
still kept), and the case's restriction dates are kept. When every task of the case is done, the case
completes itself with the outcome letter built from the tasks: per system what was done, what was kept,
under which ground and until when, who was told, and where to complain.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from dsr.actions.kinds import ACTIONS, AFTERWARDS, TOLD_TO_RECIPIENTS
from dsr.actions.outcome import outcome_rows
from dsr.actions.recipients import pending_by_hand, tell_recipients
from dsr.audit.service import record
from dsr.cases import states
from dsr.cases.opening import DIRECT_MARKETING
from dsr.cases.states import Action
from dsr.connectors.base import Plan
from dsr.connectors.registry import System, get_systems
from dsr.db import utcnow
from dsr.models import RequestStatus, Right, SubjectRequest, SystemTask, TaskAction, TaskState
from dsr.notify.letters import send_subject_letter
from dsr.queue import defer
from dsr.tasks.registry import kind_of
from dsr.tasks.states import FINISHED, TASK_STATES, TaskEvent

OUTCOME_LETTER = "action_outcome"


def after_task(session: orm.Session, task: SystemTask, request: SubjectRequest, system: System | None) -> None:
    """In the transaction that ends `task` (by its job, or by the person who did it by hand)."""
    if system is not None and task.action in TOLD_TO_RECIPIENTS and _changed_something(task):
        tell_recipients(session, request, task, system)
    if task.action in (TaskAction.ERASE, TaskAction.FOLLOW_UP_ERASE):
        schedule_follow_up(session, request, task)
    if task.action is TaskAction.RESTRICT and _all_finished(session, request, TaskAction.RESTRICT):
        request.restricted_at = request.restricted_at or utcnow()
        record(session, "restriction.in_place", actor_type="system", request_id=request.id)
    if task.action is TaskAction.LIFT_RESTRICTION and _all_finished(session, request, TaskAction.LIFT_RESTRICTION):
        request.restriction_lifted_at = utcnow()
        record(session, "restriction.lifted", actor_type="system", request_id=request.id)
    complete_if_done(session, request)


def _changed_something(task: SystemTask) -> bool:
    result = task.result or {}
    return bool(result.get("changed")) or bool(result.get("done_by"))


def _all_finished(session: orm.Session, request: SubjectRequest, action: TaskAction) -> bool:
    found = session.scalars(sa.select(SystemTask.state).where(SystemTask.request_id == request.id,
                                                              SystemTask.action == action)).all()
    return bool(found) and all(state in FINISHED for state in found)


# --------------------------------------------------------------------------- follow-up erasures


def schedule_follow_up(session: orm.Session, request: SubjectRequest, task: SystemTask) -> None:
    """What a hold kept is erased the day after its hold ends: the system's follow-up task is (re)opened
    for the earliest such day, its job deferred to then. Nothing dated kept: nothing to schedule."""
    plan = Plan.from_json(task.result["plan"]) if (task.result or {}).get("plan") else None
    ends = sorted(date.fromisoformat(kept.until) for kept in (plan.kept if plan else []) if kept.until)
    if not ends:
        return
    day = ends[0] + timedelta(days=1)
    follow_up = session.scalar(sa.select(SystemTask).where(
        SystemTask.request_id == request.id, SystemTask.system_key == task.system_key,
        SystemTask.action == TaskAction.FOLLOW_UP_ERASE))
    result = {"ref": task.result.get("ref")}
    if follow_up is None:
        follow_up = SystemTask(request_id=request.id, system_key=task.system_key, action=TaskAction.FOLLOW_UP_ERASE,
                               state=TaskState.PENDING, result=result, due_on=day)
        session.add(follow_up)
        session.flush()
    elif not TASK_STATES.move(session, follow_up.id, TaskEvent.RESCHEDULE, result=result, due_on=day,
                              finished_at=None, plan_approved_at=None):
        return
    session.refresh(follow_up)
    defer(session, kind_of(TaskAction.FOLLOW_UP_ERASE).job, follow_up.id, request_id=request.id,
          run_at=_start_of(day))
    record(session, "erasure.follow_up_scheduled", actor_type="system", request_id=request.id,
           system=task.system_key, on=day.isoformat())


def _start_of(day: date) -> datetime:
    zone = ZoneInfo(current_app.extensions["dsr.controller"].timezone)
    return datetime.combine(day, time(0, 5), tzinfo=zone)


# --------------------------------------------------------------------------- the end of the case


def main_tasks(session: orm.Session, request: SubjectRequest) -> list[SystemTask]:
    """The tasks that answer the request (not the ones after it: follow-ups, lifting a restriction)."""
    wanted = ACTIONS - AFTERWARDS
    return [task for task in session.scalars(sa.select(SystemTask).where(SystemTask.request_id == request.id)
                                             .order_by(SystemTask.id).execution_options(populate_existing=True))
            if task.action in wanted]


def complete_if_done(session: orm.Session, request: SubjectRequest) -> bool:
    """Complete the case when every task that answers it is done; True when it completed now."""
    if request.status is not RequestStatus.IN_PROGRESS:
        return False
    tasks = main_tasks(session, request)
    if any(task.state not in FINISHED for task in tasks):
        return False
    objection_weighed = request.right is not Right.OBJECTION or request.objection_outcome is not None \
        or (request.details or {}).get("processing") == DIRECT_MARKETING
    if not objection_weighed or pending_by_hand(session, request):
        return False
    letter = send_outcome_letter(session, request, tasks)
    states.apply(request, Action.COMPLETE)
    request.closed_at = utcnow()
    if request.restricted_at and request.restriction_lifted_at is None and request.right is not Right.RESTRICTION:
        # The restriction served while accuracy or the objection was weighed; the letter tells the subject
        # that it ends (Art. 18(3)), and the lift waits until the letter is delivered.
        request.lift_notice_id = letter.id
    record(session, "case.completed", actor_type="system", request_id=request.id, message_id=letter.id,
           tasks=len(tasks))
    session.flush()
    return True


def send_outcome_letter(session: orm.Session, request: SubjectRequest, tasks: list[SystemTask]):
    systems = get_systems(current_app)
    searched = [systems[task.system_key] for task in tasks if task.system_key in systems]
    held_nothing = [_name(system, request.language) for key, system in systems.items()
                    if key not in {task.system_key for task in tasks}]
    return send_subject_letter(
        session, request, OUTCOME_LETTER, dedupe_key=f"outcome:{request.id}",
        systems=outcome_rows(session, request, tasks), held_nothing=held_nothing,
        recipients=sorted({r.name_in(request.language) for system in searched for r in system.recipients}),
        note=request.outcome_note or "", statement=request.supplementary_statement or "",
        objection_outcome=request.objection_outcome,
        objection_grounds=request.objection_grounds or "",
        lifts_restriction=bool(request.restricted_at) and request.right is not Right.RESTRICTION,
        restricted=request.right is Right.RESTRICTION)


def _name(system: System, language: str) -> str:
    return (system.connector.settings.get("name_nb") if language == "nb" else None) or system.name

"""Lifting a restriction (Art. 18(3)): the subject is told first. Staff ask for the lift; the notice goes
to the subject, and only once it was delivered does the sweep start the lift in every system (the lift
is then recorded on the case). A restriction the portal applied while accuracy was contested or an
objection weighed ends the same way, its notice being the outcome letter."""
from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy import orm

from dsr.actions.starting import write_tasks
from dsr.audit.service import record
from dsr.db import utcnow
from dsr.models import DeliveryStatus, Message, StaffUser, SubjectRequest, SystemTask, TaskAction, TaskState
from dsr.notify.letters import send_subject_letter

LIFT_LETTER = "restriction_lift_notice"


class LiftError(ValueError):
    """The restriction cannot be lifted as asked (the message says why)."""


def request_lift(session: orm.Session, request: SubjectRequest, *, actor: StaffUser, reason: str) -> Message:
    if request.restricted_at is None:
        raise LiftError(_("processing is not restricted for this case"))
    if request.restriction_lifted_at is not None or request.lift_notice_id is not None:
        raise LiftError(_("the restriction is already lifted, or its lift is on its way"))
    reason = (reason or "").strip()
    if not reason:
        raise LiftError(_("say why the restriction ends (the subject is told)"))
    if len(reason) > 2000:
        raise LiftError(_("the reason is too long (at most 2000 characters)"))
    letter = send_subject_letter(session, request, LIFT_LETTER, author_id=actor.id,
                                 dedupe_key=f"lift:{request.id}", reason=reason)
    request.lift_notice_id = letter.id
    record(session, "restriction.lift_requested", actor_type="staff", actor_id=actor.id, request_id=request.id,
           message_id=letter.id)
    session.flush()
    return letter


def start_lifts_when_told(session: orm.Session) -> int:
    """Cases whose lift notice was delivered and whose lift has not started: start it in every system."""
    started = 0
    for request in session.scalars(sa.select(SubjectRequest).join(
            Message, Message.id == SubjectRequest.lift_notice_id).where(
            SubjectRequest.restriction_lifted_at.is_(None), Message.status == DeliveryStatus.SENT)).all():
        lifting = session.scalar(sa.select(sa.func.count()).select_from(SystemTask).where(
            SystemTask.request_id == request.id, SystemTask.action == TaskAction.LIFT_RESTRICTION))
        if lifting:
            continue
        restricted = set(session.scalars(sa.select(SystemTask.system_key).where(
            SystemTask.request_id == request.id, SystemTask.action == TaskAction.RESTRICT,
            SystemTask.state == TaskState.DONE)))
        if not write_tasks(session, request, TaskAction.LIFT_RESTRICTION, only=restricted):
            request.restriction_lifted_at = utcnow()  # nothing was restricted by a system: nothing to undo
        record(session, "restriction.lift_started", actor_type="system", request_id=request.id)
        started += 1
    session.flush()
    return started

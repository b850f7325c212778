"""Messages on a case: staff write to the subject, keep internal notes, record an answer that came
by e-mail, post or phone, and send a failed letter again. `subject_answered` is the one function
the subject side calls when the subject replies through the portal."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases import states
from dsr.cases.decisions import DecisionError, checked_text, record_staff
from dsr.cases.states import Action
from dsr.controller import Controller
from dsr.db import utcnow
from dsr.deadlines.service import refresh_deadlines
from dsr.models import (
    DeliveryChannel,
    DeliveryStatus,
    Message,
    MessageDirection,
    PauseReason,
    RequestStatus,
    StaffRole,
    StaffUser,
    SubjectRequest,
)
from dsr.notify.letters import send_subject_letter
from dsr.notify.service import deliver_message, queue_email, why_not_resendable
from dsr.queue import defer

#: how an answer reached us, when staff record it by hand
REPLY_CHANNELS = {"email": _l("E-mail"), "post": _l("Post"), "phone": _l("Phone"), "in_person": _l("In person")}


def send_message(
    session: orm.Session, request: SubjectRequest, *, actor: StaffUser, text: str, controller: Controller
) -> Message:
    """A letter from staff to the subject, in the case's language, mailed after the commit."""
    message = send_subject_letter(session, request, "staff_message", author_id=actor.id,
                                  text=checked_text(text, "message"))
    record_staff(session, "case.message_sent", actor, request, message_id=message.id)
    return message


def add_note(session: orm.Session, request: SubjectRequest, *, actor: StaffUser, text: str) -> Message:
    """An internal note: never sent, shown to staff only."""
    note = Message(
        request_id=request.id,
        direction=MessageDirection.INTERNAL_NOTE,
        channel=DeliveryChannel.PORTAL,
        language="en",
        body_text=checked_text(text, "note"),
        status=DeliveryStatus.NOT_SENT,
        author_id=actor.id,
    )
    session.add(note)
    session.flush()
    record(
        session,
        "case.note_added",
        actor_type="staff",
        actor_id=actor.id,
        request_id=request.id,
        message_id=note.id,
    )
    return note


def record_reply(
    session: orm.Session,
    request: SubjectRequest,
    *,
    actor: StaffUser,
    text: str,
    channel: str,
    controller: Controller,
) -> Message:
    """The subject answered outside the portal (e-mail, post, phone): keep what they said, and let
    the case go on exactly as if they had answered on the portal."""
    if channel not in REPLY_CHANNELS:
        raise DecisionError(_("Choose how the answer reached us."))
    reply = Message(
        request_id=request.id,
        direction=MessageDirection.FROM_SUBJECT,
        channel=DeliveryChannel.PORTAL,
        template=f"recorded:{channel}",
        language=request.language,
        body_text=checked_text(text, "answer"),
        status=DeliveryStatus.NOT_SENT,
        author_id=actor.id,
    )
    session.add(reply)
    session.flush()
    record(
        session,
        "case.reply_recorded",
        actor_type="staff",
        actor_id=actor.id,
        request_id=request.id,
        message_id=reply.id,
        channel=channel,
    )
    subject_answered(session, request, reply, controller=controller, notify_staff=False)
    return reply


def subject_answered(
    session: orm.Session,
    request: SubjectRequest,
    message: Message,
    *,
    controller: Controller | None = None,
    notify_staff: bool = True,
) -> bool:
    """The subject answered (`message` is their FROM_SUBJECT Message, already added to the session).

    Ends any open identity pause at the time of the answer and recomputes the deadlines; a case
    waiting for the subject goes back to triage, or back to work when it was already approved.
    The assignee (or every officer) is told. Returns True when the case status changed.
    Safe to call twice: a second call finds no open pause and no waiting status.
    """
    controller = controller or current_app.extensions["dsr.controller"]
    answered_at = message.created_at or utcnow()
    ended = 0
    for pause in request.pauses:
        # A fee's pause ends when staff record the payment (dsr.fees), not when the subject writes.
        if pause.ended_at is None and pause.reason == PauseReason.IDENTITY:
            pause.ended_at = max(answered_at, pause.started_at)
            ended += 1
    changed = False
    if request.status is RequestStatus.AWAITING_SUBJECT:
        states.apply(request, Action.RESUME_WORK if request.decided_at else Action.SUBJECT_ANSWERED)
        changed = True
    if ended:
        refresh_deadlines(request, controller)
    if changed or ended:
        record(
            session,
            "case.subject_answered",
            actor_type="subject",
            request_id=request.id,
            message_id=message.id,
            pauses_ended=ended,
        )
        if notify_staff:
            _tell_staff(session, request, clock_resumed=bool(ended))
    session.flush()
    return changed


def tell_staff_of_message(session: orm.Session, request: SubjectRequest) -> None:
    """The subject wrote on an ongoing case without being asked: the responsible staff are told."""
    _tell_staff(session, request, clock_resumed=False, answered=False)


def _tell_staff(session: orm.Session, request: SubjectRequest, *, clock_resumed: bool,
                answered: bool = True) -> None:
    for staff in responsible_staff(session, request):
        queue_email(
            session,
            to=staff.email,
            template="staff_subject_answered",
            language="en",
            direction=MessageDirection.TO_STAFF,
            request_id=request.id,
            context={
                "reference": request.reference,
                "staff_name": staff.display_name,
                "clock_resumed": clock_resumed,
                "answered": answered,
                "deadline_on": request.deadline_on,
                "case_url": case_url(request),
            },
        )


def responsible_staff(session: orm.Session, request: SubjectRequest) -> list[StaffUser]:
    """The assignee if there is an active one, else every active officer and admin."""
    if request.assignee_id is not None:
        assignee = session.get(StaffUser, request.assignee_id)
        if assignee is not None and assignee.active:
            return [assignee]
    return list(
        session.scalars(
            sa.select(StaffUser)
            .where(StaffUser.active.is_(True), StaffUser.role.in_([StaffRole.ADMIN, StaffRole.OFFICER]))
            .order_by(StaffUser.id)
        )
    )


def case_url(request: SubjectRequest) -> str:
    """The case page's address for mails (built by hand: jobs have no request to build URLs from)."""
    return f"{current_app.config['BASE_URL'].rstrip('/')}/staff/cases/{request.id}"


def resend(session: orm.Session, request: SubjectRequest, message: Message, *, actor: StaffUser) -> None:
    """A letter whose delivery failed for good is tried again: the same text, with fresh links (the send
    job makes them). A one-time code or password was dropped when delivery failed: such a letter cannot
    be sent again, and the refusal says so."""
    if message.request_id != request.id or message.direction is not MessageDirection.TO_SUBJECT:
        raise DecisionError(_("That message does not belong to this case."))
    if message.status is not DeliveryStatus.FAILED:
        raise DecisionError(_("Only a failed message can be sent again; this one is %(status)s.",
                              status=message.status.value.replace("_", " ")))
    reason = why_not_resendable(message)
    if reason is not None:
        raise DecisionError(reason)
    message.status, message.last_error, message.attempts = DeliveryStatus.PENDING, None, 0
    defer(session, deliver_message, message.id, request_id=request.id)
    record_staff(session, "message.resent", actor, request, message_id=message.id)

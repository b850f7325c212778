"""Staff decisions on a case. Each one goes through the transition table (`states.apply`), writes
its audit event, and sends its letter to the subject in the same transaction (the letter is a
Message row plus an outbox row: it goes out after the commit, or not at all).

Services flush, never commit; they raise IllegalTransition (the status does not allow it) or
DecisionError (the input or the timing does not), both with a message for staff.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from dsr.audit.service import record
from dsr.cases import states
from dsr.cases.states import Action
from dsr.controller import Controller
from dsr.db import utcnow
from dsr.deadlines.rules import MAX_EXTENSION_MONTHS, can_extend, local_date
from dsr.deadlines.service import refresh_deadlines
from dsr.models import (
    ClockPause,
    Message,
    PauseReason,
    Right,
    StaffRole,
    StaffUser,
    SubjectRequest,
    SystemTask,
)
from dsr.notify.letters import send_subject_letter
from dsr.tasks.registry import TaskNotRetryable, retry_task, start_work

MAX_TEXT = 4000


class DecisionError(ValueError):
    """The decision cannot be taken as asked; the message says why."""


class FourEyesRequired(DecisionError):
    """The same officer who proposed an erasure approval tried to approve it too."""


def record_staff(session: orm.Session, action: str, actor: StaffUser, request: SubjectRequest, **details) -> None:
    """The audit event of a staff action on this case, flushed with the change it records."""
    record(session, action, actor_type="staff", actor_id=actor.id, request_id=request.id, **details)
    session.flush()


class RejectionReason(StrEnum):
    IDENTITY_NOT_CONFIRMED = "identity_not_confirmed"
    MANIFESTLY_UNFOUNDED = "manifestly_unfounded"  # Art. 12(5)
    EXCESSIVE = "excessive"  # Art. 12(5), e.g. repetitive
    #: only in cases refused before "we hold no data" became an answer (dsr.export.no_data): still read
    NO_DATA_HELD = "no_data_held"
    EXEMPTION = "exemption"  # under a named law, e.g. personopplysningsloven § 16
    OTHER = "other"


#: the reasons a new refusal may give, with staff's labels
REJECTION_LABELS = {
    RejectionReason.IDENTITY_NOT_CONFIRMED: _l("Identity not confirmed"),
    RejectionReason.MANIFESTLY_UNFOUNDED: _l("Manifestly unfounded (Art. 12(5))"),
    RejectionReason.EXCESSIVE: _l("Excessive, e.g. repetitive (Art. 12(5))"),
    RejectionReason.EXEMPTION: _l("Exemption under a named law"),
    RejectionReason.OTHER: _l("Other"),
}
NO_DATA_IS_AN_ANSWER = _l("\"We hold no data about you\" is an answer, not a refusal: for access or portability, "
                          "answer it from the case page once every system has been searched.")


def end_pauses(request: SubjectRequest, at: datetime) -> int:
    """End the clock's open pauses (the case closes); returns how many there were."""
    ended = 0
    for pause in request.pauses:
        if pause.ended_at is None:
            pause.ended_at = max(at, pause.started_at)
            ended += 1
    return ended


def checked_text(value: str | None, what: str, required: bool = True) -> str:
    """Text staff typed for a letter or note, stripped; refused when empty (if required) or too long."""
    text = (value or "").strip()
    if required and not text:
        raise DecisionError(f"Write the {what}.")
    if len(text) > MAX_TEXT:
        raise DecisionError(f"The {what} is too long ({len(text)} characters; at most {MAX_TEXT}).")
    return text


def approve(
    session: orm.Session, request: SubjectRequest, *, actor: StaffUser, four_eyes: bool = False
) -> str:
    """Approve and start the automated work in this transaction.

    Returns "started" (systems are being worked), "manual" (no automation for this right: staff
    complete it by hand) or "proposed" (four-eyes erasure: a second officer must approve).
    """
    states.next_status(request.status, Action.APPROVE)  # refuse early, before anything is written
    if request.authorisation_pending:
        raise DecisionError(_("Accept the representative's authorisation first: until then no system is "
                              "searched for the subject's data."))
    if four_eyes and request.right is Right.ERASURE:
        if request.approval_proposed_by_id is None:
            request.approval_proposed_by_id, request.approval_proposed_at = actor.id, utcnow()
            record_staff(session, "case.approval_proposed", actor, request)
            return "proposed"
        if request.approval_proposed_by_id == actor.id:
            record_staff(session, "case.approval_refused", actor, request, reason="four_eyes")
            raise FourEyesRequired(
                _("Erasure needs a second officer: you proposed this approval, so someone else must approve it.")
            )
    states.apply(request, Action.APPROVE)
    request.decided_at, request.decided_by_id = utcnow(), actor.id
    started = start_work(session, request)
    record_staff(session, "case.approved", actor, request, automated=started)
    return "started" if started else "manual"


def reject(
    session: orm.Session,
    request: SubjectRequest,
    *,
    actor: StaffUser,
    code: str,
    text: str,
    law: str | None,
    controller: Controller,
) -> Message:
    """Refuse with a reason code and an explanation; the letter states the right to complain to the
    supervisory authority and to a court (Art. 12(4))."""
    try:
        reason = RejectionReason(code)
    except ValueError:
        raise DecisionError(_("Choose the reason for refusing.")) from None
    if reason not in REJECTION_LABELS:
        raise DecisionError(str(NO_DATA_IS_AN_ANSWER))
    text = checked_text(text, "explanation to the subject")
    law = (law or "").strip()
    if reason is RejectionReason.EXEMPTION and not law:
        raise DecisionError(_("Name the law and provision of the exemption, e.g. personopplysningsloven § 16."))
    if len(law) > 200:
        raise DecisionError(_("Name the law in at most 200 characters."))
    states.apply(request, Action.REJECT)
    now = utcnow()
    request.rejection_code, request.rejection_text = reason.value, text
    request.rejection_law = law or None
    request.decided_at, request.decided_by_id, request.closed_at = now, actor.id, now
    end_pauses(request, now)  # e.g. a fee never paid: the clock has nothing left to wait for
    message = send_subject_letter(session, request, "case_rejected", author_id=actor.id,
                                  dedupe_key=f"rejected:{request.id}", code=reason.value, text=text, law=law)
    record_staff(session, "case.rejected", actor, request, code=reason.value, message_id=message.id)
    return message


def ask_subject(
    session: orm.Session,
    request: SubjectRequest,
    *,
    actor: StaffUser,
    text: str,
    about_identity: bool,
    controller: Controller,
) -> Message:
    """Ask the subject for information. Only a question about identity stops the clock (a ClockPause
    that ends when the subject answers, see conversation.subject_answered)."""
    text = checked_text(text, "question to the subject")
    states.apply(request, Action.ASK_SUBJECT)
    message = send_subject_letter(session, request, "information_request", author_id=actor.id, text=text,
                                  about_identity=about_identity)
    if about_identity:
        request.pauses.append(ClockPause(started_at=utcnow(), reason=PauseReason.IDENTITY, message_id=message.id,
                                         started_by_id=actor.id))
        refresh_deadlines(request, controller)
    record_staff(session, "case.information_requested", actor, request, about_identity=about_identity,
                 message_id=message.id)
    return message


def extend(
    session: orm.Session, request: SubjectRequest, *, actor: StaffUser, reason: str, controller: Controller,
    months: int = MAX_EXTENSION_MONTHS,
) -> Message:
    """Extend by one or two further months (Art. 12(3): receipt + 2 or 3 months), only within the
    first month, once; the notice with the reasons and the new date goes to the subject as part of it."""
    reason = checked_text(reason, "reason for the extension")
    if months not in range(1, MAX_EXTENSION_MONTHS + 1):
        raise DecisionError(_("An extension is one or two further months (Art. 12(3)), not %(months)s.", months=months))
    states.next_status(request.status, Action.EXTEND)
    if request.extended_at is not None:
        raise DecisionError(
            _("This case has already been extended; the law allows one extension of up to two months.")
        )
    deadlines = refresh_deadlines(request, controller)
    today = local_date(utcnow(), controller.timezone)
    if not can_extend(deadlines, today):
        raise DecisionError(
            _("Too late to extend: the first month ended on %(date)s, and the notice must reach the subject "
              "within it.", date=deadlines.extension_notice_due_on.isoformat())
        )
    states.apply(request, Action.EXTEND)
    request.extended_at, request.extension_reason, request.extension_months = utcnow(), reason, months
    deadlines = refresh_deadlines(request, controller)
    message = send_subject_letter(session, request, "extension_notice", author_id=actor.id,
                                  dedupe_key=f"extension:{request.id}", reason=reason,
                                  new_due_on=deadlines.extended_due_on)
    record_staff(session, "case.extended", actor, request, extended_due_on=deadlines.extended_due_on.isoformat(),
                 months=months, message_id=message.id)
    return message


def assign(
    session: orm.Session, request: SubjectRequest, *, actor: StaffUser, assignee_id: int | None
) -> None:
    states.next_status(request.status, Action.ASSIGN)
    if assignee_id is not None:
        assignee = session.get(StaffUser, assignee_id)
        if assignee is None or not assignee.active or assignee.role is StaffRole.VIEWER:
            raise DecisionError(_("Choose an active officer or admin."))
    states.apply(request, Action.ASSIGN)
    request.assignee_id = assignee_id
    record_staff(session, "case.assigned", actor, request, assignee_id=assignee_id)


def complete(
    session: orm.Session, request: SubjectRequest, *, actor: StaffUser, outcome: str, controller: Controller
) -> Message:
    """Staff finished the work by hand: the outcome letter goes to the subject and the case closes."""
    outcome = checked_text(outcome, "outcome letter to the subject")
    states.apply(request, Action.COMPLETE)
    request.closed_at = utcnow()
    message = send_subject_letter(session, request, "case_completed", author_id=actor.id,
                                  dedupe_key=f"completed:{request.id}", text=outcome)
    record_staff(session, "case.completed", actor, request, message_id=message.id)
    return message


def close_withdrawn(
    session: orm.Session, request: SubjectRequest, *, actor: StaffUser, controller: Controller
) -> Message:
    """The subject withdrew the request by e-mail, post or phone: close it and confirm to them."""
    states.apply(request, Action.WITHDRAW)
    now = utcnow()
    request.withdrawn_at = request.closed_at = now
    end_pauses(request, now)
    message = send_subject_letter(session, request, "case_withdrawn", author_id=actor.id,
                                  dedupe_key=f"withdrawn:{request.id}")
    record_staff(session, "case.withdrawn", actor, request, message_id=message.id)
    return message


def retry_system(session: orm.Session, request: SubjectRequest, task: SystemTask, *, actor: StaffUser) -> str:
    """Start a failed system task again (its kind may make room first: an export's partial bundle
    under review gives way to the full one). Returns what that changed, for staff ("" when nothing)."""
    try:
        said = retry_task(session, request, task, actor.id)
    except TaskNotRetryable as exc:
        raise DecisionError(str(exc)) from None
    record_staff(session, "task.retried", actor, request, task_id=task.id, system=task.system_key)
    return said
